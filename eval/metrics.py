"""Scoring functions for the eval: SQuAD-style normalisation, token F1, retrieval ranks.

Pure functions, unit-tested in tests/test_eval_metrics.py.
"""

from __future__ import annotations

import re
import string
from collections import Counter

_PUNCT = set(string.punctuation) | set("\u2018\u2019\u201c\u201d")


def normalize(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces.

    >>> normalize("The  five-hour, late-night meeting!")
    'fivehour latenight meeting'
    """
    text = "".join(c for c in text.lower() if c not in _PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def strip_markers(answer: str) -> str:
    """Answer text without its [n] citation markers."""
    return re.sub(r"\s*\[\d+\]", "", answer)


def contains_answer(answer: str, golds: list[str]) -> bool:
    """True when some normalised gold answer appears in the normalised answer."""
    a = f" {normalize(strip_markers(answer))} "
    return any(f" {normalize(g)} " in a for g in golds if normalize(g))


def token_f1(answer: str, golds: list[str]) -> float:
    """Best SQuAD token F1 of ``answer`` against any gold answer."""
    pred = normalize(strip_markers(answer)).split()
    best = 0.0
    for g in golds:
        gold = normalize(g).split()
        common = sum((Counter(pred) & Counter(gold)).values())
        if common:
            p, r = common / len(pred), common / len(gold)
            best = max(best, 2 * p * r / (p + r))
    return best


def squash(text: str) -> str:
    """Whitespace-normalised text, for matching passages across line breaks."""
    return " ".join(text.split())


def first_rank(passages: list[str], support: str) -> int | None:
    """1-based rank of the first passage that contains ``support`` (whitespace-normalised), else None."""
    s = squash(support)
    for i, p in enumerate(passages, 1):
        if s in squash(p):
            return i
    return None


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """True when two half-open character spans share at least one character."""
    return a[0] < b[1] and b[0] < a[1]


def refusal_scores(refused: list[bool], unanswerable: list[bool]) -> dict[str, float]:
    """Precision and recall of refusing, with 'unanswerable' as the positive class."""
    tp = sum(r and u for r, u in zip(refused, unanswerable))
    n_ref, n_un = sum(refused), sum(unanswerable)
    return {
        "refusal_precision": tp / n_ref if n_ref else 1.0,
        "refusal_recall": tp / n_un if n_un else 1.0,
    }
