"""Tokens and lemmas for the embedding: a small WordNet-style morphology (no downloads)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each either else
etc even ever every few for from further get got had has have having he her here hers him
his how however i if in into is it its itself just least less let like made make many may
me might more most much must my neither no nor not now of off often on once one only or
other our ours out over own per rather same she should since so some such than that the
their theirs them then there these they this those though through thus to too under until
up upon us use used using very via was we were what when where whether which while who
whom whose why will with within without would yet you your yours e.g i.e something someone
somebody especially usually
""".split())  # noqa: SIM905 - a word list reads better as text

# WordNet's detachment rules (morphy), applied in order; the first lemma known wins.
SUFFIXES = (
    ("ies", "y"), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
    ("men", "man"), ("s", ""), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"),
    ("es", ""), ("es", "e"), ("er", ""), ("er", "e"), ("est", ""), ("est", "e"),
)


class Lemmatizer:
    def __init__(self, known: Iterable[str], exceptions: Mapping[str, str]) -> None:
        self.known = set(known)
        self.exceptions = dict(exceptions)

    def lemma(self, word: str) -> str:
        if word in self.exceptions:
            return self.exceptions[word]
        if word in self.known:
            return word
        for suffix, replacement in SUFFIXES:
            if word.endswith(suffix) and len(word) > len(suffix) + 1:
                candidate = word[: -len(suffix)] + replacement
                if candidate in self.known:
                    return candidate
                # Doubled consonant: "stopped" -> "stop".
                if (suffix in ("ing", "ed") and len(candidate) > 2 and candidate[-1] == candidate[-2]
                        and candidate[:-1] in self.known):
                    return candidate[:-1]
        return word
