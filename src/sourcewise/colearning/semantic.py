"""Semantic search with the word-embedding table shipped inside the package.

`embedding/wordvectors.npz` (1.6 MB) holds WordNet gloss vectors for about 21,000
everyday English words; `embedding/build.py` says how it was made. A text's
embedding is the normalised sum of its words' vectors (with the word itself as a
feature, so exact words still count), stored sparse as {feature: weight}.
Nothing is downloaded, ever.
"""

from __future__ import annotations

import math
import re
from functools import cache
from pathlib import Path

import numpy as np

from sourcewise.colearning.embedding.text import STOPWORDS, Lemmatizer

MODEL = Path(__file__).parent / "embedding" / "wordvectors.npz"
KEEP = 300  # features stored per text
WORD = re.compile(r"[a-z][a-z'-]*")


class _Model:
    def __init__(self, path: Path) -> None:
        data = np.load(path)
        self.words = {w: i for i, w in enumerate(str(data["words"]).split("\n"))}
        self.features = {f: i for i, f in enumerate(str(data["features"]).split("\n"))}
        exceptions = dict(line.split(" ", 1) for line in str(data["exceptions"]).split("\n") if " " in line)
        self.lemmatizer = Lemmatizer(self.words, exceptions)
        self.indptr, self.cols = data["indptr"], data["cols"]
        self.vals = data["vals"].astype(np.float32)

    def word_vector(self, word: str) -> dict[int, float]:
        vector: dict[int, float] = {}
        row = self.words.get(word)
        if row is not None:
            start, end = int(self.indptr[row]), int(self.indptr[row + 1])
            for col, val in zip(self.cols[start:end].tolist(), self.vals[start:end].tolist(), strict=True):
                vector[col] = val
        own = self.features.get(word)
        if own is not None:
            vector[own] = vector.get(own, 0.0) + 1.0
        return vector


@cache
def model() -> _Model:
    return _Model(MODEL)


def tokens(text: str) -> list[str]:
    """Lemmas of the content words, with known two-word lemmas joined ("pay_back")."""
    m = model()
    words = [m.lemmatizer.lemma(t.strip("'-")) for t in WORD.findall((text or "").lower())]
    out: list[str] = []
    i = 0
    while i < len(words):
        pair = f"{words[i]}_{words[i + 1]}" if i + 1 < len(words) else None
        if pair and pair in m.words:
            out.append(pair)
            i += 2
            continue
        if words[i] not in STOPWORDS and len(words[i]) > 2:
            out.append(words[i])
        i += 1
    return out


def embed(text: str) -> dict[str, float]:
    """The text's normalised sparse embedding, {feature index (as text): weight}."""
    m = model()
    total: dict[int, float] = {}
    for word in tokens(text):
        for col, val in m.word_vector(word).items():
            total[col] = total.get(col, 0.0) + val
    top = sorted(total.items(), key=lambda kv: -kv[1])[:KEEP]
    norm = math.sqrt(sum(v * v for _, v in top))
    if not norm:
        return {}
    return {str(col): round(val / norm, 5) for col, val in top}


def similarity(a: dict[str, float], b: dict[str, float]) -> float:
    """Cosine similarity of two embeddings (both already normalised)."""
    if len(a) > len(b):
        a, b = b, a
    return sum(val * b.get(col, 0.0) for col, val in a.items())
