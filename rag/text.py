"""Text normalisation shared by keyword search, sentence scoring and follow-ups.

Two views of the words of a text, on purpose:

- ``terms`` (keyword search): Unicode NFKC, case folding, words of letters and digits,
  ``STOP`` words dropped, no stemming, order and repeats kept. Queries and chunks go
  through the same function, so BM25 compares like with like. A light plural stemmer
  measured worse on three of four sets (eval/results/tuning.md).
- ``content_words`` (does this sentence say what the question asks?): a set of lower-cased
  ASCII words, crudely stemmed so "talks" meets "talk", with the words of asking
  (``ASKING``: "according", "say", "tell" ...) dropped too, since they are about the
  question, not its content.

And the one pattern of citation markers, ``[1]`` or ``[1, 2]``, that answers carry.
"""

from __future__ import annotations

import re
import unicodedata

STOP = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been being do does did
    what which who whom whose when where why how that this these those it its he she they them his her
    their there here about into over under than then so not no can could would should will shall may
    might must has have had i you we our your me my any some much many more most other such only own
    same too very just also""".split()
)
ASKING = STOP | {"according", "article", "give", "said", "say", "says", "tell", "yes", "s", "t"}

MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_WORD = re.compile(r"\w+")
_ASCII_WORD = re.compile(r"[a-z0-9]+")


def normalize(text: str) -> str:
    """Unicode NFKC and case folding.

    >>> normalize("Ｃａｆé ＫＩＥＶ")
    'café kiev'
    """
    return unicodedata.normalize("NFKC", text).casefold()


def terms(text: str) -> list[str]:
    """The keyword-index terms of ``text``, in order, repeats kept.

    >>> terms("Who met Mr. Witkoff in Miami on 2 December 2025?")
    ['met', 'mr', 'witkoff', 'miami', '2', 'december', '2025']
    """
    out = []
    for w in _WORD.findall(normalize(text)):
        w = w.strip("_")
        if w and w not in STOP and (len(w) > 1 or w.isdigit()):
            out.append(w)
    return out


def content_words(text: str) -> set[str]:
    """Content words, lower-cased and crudely stemmed: 'Talks' and 'talk' match.

    >>> sorted(content_words("Where were the talks held, according to the article?"))
    ['held', 'talk']
    """
    out = set()
    for w in _ASCII_WORD.findall(text.lower()):
        if w in ASKING or len(w) < 2:
            continue
        for suf in ("ing", "ed", "es", "s"):
            if w.endswith(suf) and len(w) - len(suf) >= 3:
                w = w[: -len(suf)]
                break
        out.add(w)
    return out


def markers(text: str) -> list[int]:
    """The passage numbers cited in ``text``, in order.

    >>> markers("In Miami [1]. Jets in Poland [2, 3].")
    [1, 2, 3]
    """
    return [int(n) for group in MARKER.findall(text) for n in group.split(",")]


def strip_markers(text: str) -> str:
    """``text`` without its citation markers (and the spaces before them).

    >>> strip_markers("In Miami [1]. Jets [2, 3].")
    'In Miami. Jets.'
    """
    return re.sub(r"\s*" + MARKER.pattern, "", text)
