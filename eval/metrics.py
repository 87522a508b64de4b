"""Scoring functions for the eval: SQuAD-style normalisation, token F1, retrieval ranks.

Pure functions; their worked examples run as doctests.
"""

from __future__ import annotations

import re
import string
from collections import Counter

from rag.text import strip_markers

_PUNCT = set(string.punctuation) | set("\u2018\u2019\u201c\u201d")


def normalize(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces.

    >>> normalize("The  five-hour, late-night meeting!")
    'fivehour latenight meeting'
    """
    text = "".join(c for c in text.lower() if c not in _PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_JOINERS = re.compile("[-/\u2013\u2014]")


def contains_answer(answer: str, golds: list[str]) -> bool:
    """True when some normalised gold answer appears in the normalised answer, read either with its
    hyphens and slashes dropped (SQuAD's normalisation) or as spaces: "business partner" is in
    "Trump's former business partner-turned-roving global ambassador", which SQuAD's rule turns
    into "partnerturnedroving".

    >>> contains_answer("Trump's former business partner-turned-roving ambassador", ["business partner"])
    True
    >>> contains_answer("the five-hour meeting", ["five-hour"]), contains_answer("a partnership", ["partner"])
    (True, False)
    """
    text = strip_markers(answer)
    forms = {f" {normalize(t)} " for t in (text, _JOINERS.sub(" ", text))}
    return any(f" {normalize(g)} " in a for g in golds if normalize(g) for a in forms)


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


def exact_match(answer: str, golds: list[str]) -> bool:
    """SQuAD exact match against any gold answer.

    >>> exact_match("the North Sea.", ["North Sea", "the North Sea in the Netherlands"])
    True
    >>> exact_match("North Sea coast", ["North Sea"])
    False
    """
    a = normalize(answer)
    return any(a == normalize(g) for g in golds)


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


def text_overlap(a: str, b: str, n: int = 5) -> float:
    r"""Share of the shorter text's characters that the longer text also holds (whitespace-normalised).

    A word of the shorter text counts as shared when some run of ``n`` consecutive words
    around it appears in the longer text too: robust to the revision edits of
    mini_squad_v2's gold paragraphs and to chunk boundaries, and linear in the lengths.

    >>> text_overlap("the cat sat on\nthe mat.", "Yesterday the cat sat on the  mat. And more.")
    1.0
    >>> text_overlap("one two three four five six seven eight nine", "one two three four five X Y Z")  # 24 of 30
    0.8
    """
    a, b = squash(a), squash(b)
    if not a or not b:
        return 0.0
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if short in long_:
        return 1.0
    sw, lw = short.split(), long_.split()
    n = min(n, len(sw))
    grams = {tuple(lw[i : i + n]) for i in range(len(lw) - n + 1)}
    covered = [False] * len(sw)
    for i in range(len(sw) - n + 1):
        if tuple(sw[i : i + n]) in grams:
            covered[i : i + n] = [True] * n
    return sum(len(w) + 1 for w, c in zip(sw, covered) if c) / (len(short) + 1)


def is_gold(passage: str, contexts: list[str]) -> bool:
    """The benchmarks' rule: a passage is gold when it overlaps some reference context by
    at least half of the shorter text's characters."""
    return any(text_overlap(passage, c) >= 0.5 for c in contexts)


def rank_metrics(ranks: list[int | None]) -> dict[str, float]:
    """hit@1, hit@5 and MRR@10 from the 1-based rank of each question's first gold passage.

    >>> rank_metrics([1, 2, None, 11])
    {'hit@1': 0.25, 'hit@5': 0.5, 'mrr@10': 0.375}
    """
    n = len(ranks) or 1
    return {
        "hit@1": sum(r == 1 for r in ranks) / n,
        "hit@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "mrr@10": sum(1 / r for r in ranks if r is not None and r <= 10) / n,
    }


def percentile(xs: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100).

    >>> percentile([5, 1, 4, 2, 3], 50), percentile([5, 1, 4, 2, 3], 95)
    (3, 5)
    """
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, -(-len(s) * q // 100) - 1))]


def auc(positive: list[float], negative: list[float]) -> float:
    """ROC AUC: the chance a random positive scores above a random negative (ties count half).

    >>> auc([0.9, 0.8, 0.4], [0.5, 0.1])
    0.8333333333333334
    """
    if not positive or not negative:
        return float("nan")
    wins = sum((p > q) + 0.5 * (p == q) for p in positive for q in negative)
    return wins / (len(positive) * len(negative))


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
