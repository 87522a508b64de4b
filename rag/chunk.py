"""Split documents into sentence-aligned chunks measured in the embedder's word-pieces.

Pure functions: given a document and a function that returns the character span of each
word-piece, they return chunks whose text is exactly ``document.text[start:end]``.

Why count word-pieces: all-MiniLM-L6-v2 silently truncates input past 256 word-pieces
([CLS] and [SEP] included), so a chunk sized in characters or tiktoken tokens can lose
its tail from the index without any error. Here every chunk holds at most
``max_tokens`` (<= 254) word-pieces by construction.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import NamedTuple

from .types import Chunk, Document

TokenOffsets = Callable[[str], Sequence[tuple[int, int]]]

# A sentence ends at . ! ? (plus closing quotes/brackets) before whitespace, or at a newline.
_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s)|\n")
_ABBREV = {"mr", "mrs", "ms", "dr", "st", "prof", "jr", "sr", "vs", "etc", "e.g", "i.e", "no", "gen", "gov", "sen", "rep", "lt", "col", "inc", "co", "corp"}
_OPENERS = "\"'\u201c\u2018([" 


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Character spans of the sentences in ``text[start:end]``, whitespace trimmed.

    >>> t = "Talks in Miami. U.S. officials met.\\nNext line"
    >>> [t[a:b] for a, b in sentence_spans(t)]
    ['Talks in Miami.', 'U.S. officials met.', 'Next line']
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    s = start
    for m in _END.finditer(text, start, end):
        cut = m.end()
        if m.group() != "\n" and not _is_boundary(text, m.start(), cut, end):
            continue
        spans.append(_trim(text, s, cut))
        s = cut
    spans.append(_trim(text, s, end))
    return [(a, b) for a, b in spans if b > a]


def _is_boundary(text: str, dot: int, cut: int, end: int) -> bool:
    """True when the punctuation at ``dot`` really ends a sentence."""
    nxt = cut
    while nxt < end and text[nxt].isspace():
        nxt += 1
    if nxt < end and not (text[nxt].isupper() or text[nxt].isdigit() or text[nxt] in _OPENERS):
        return False  # "U.S. officials": the next word is lower case
    if text[dot] == ".":
        w = dot
        while w > 0 and not text[w - 1].isspace():
            w -= 1
        word = text[w:dot].lower().strip(_OPENERS)
        # "Mr. Smith", "U.S. President": a known abbreviation or single letters with dots
        if word in _ABBREV or re.fullmatch(r"(?:[a-z]\.)*[a-z]", word):
            return False
    return True


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


class _Seg(NamedTuple):
    a: int  # first character
    b: int  # one past the last character
    i: int  # first word-piece
    j: int  # one past the last word-piece


def chunk_document(doc: Document, token_offsets: TokenOffsets, max_tokens: int, overlap: int) -> list[Chunk]:
    """Pack whole sentences into chunks of at most ``max_tokens`` word-pieces.

    Consecutive chunks share up to ``overlap`` word-pieces of whole sentences, so a fact
    that straddles a boundary is whole in one of them. A sentence longer than
    ``max_tokens`` is cut into windows at word starts. A PDF's chunks never cross a page
    and carry its number; a CSV's chunks are whole rows (rows, not sentences, are the
    units; a row longer than a chunk is cut like a long sentence), without overlap.

    Worked numbers: the seed article (3,448 characters, ~760 word-pieces) with
    ``max_tokens=160, overlap=32`` gives 6 chunks of 90-160 word-pieces.
    """
    text = doc.text
    toks = list(token_offsets(text))
    if not toks:
        return []
    starts = [s for s, _ in toks]
    if doc.rows:
        rows = [_trim(text, a, b) for a, b in _spans(doc.rows, len(text))]
        return _pack(doc, _segments(text, toks, starts, rows, max_tokens), max_tokens, 0, None)
    chunks: list[Chunk] = []
    for n, (a, b) in enumerate(_spans(doc.pages or (0,), len(text)), 1):
        segs = _segments(text, toks, starts, sentence_spans(text, a, b), max_tokens)
        chunks += _pack(doc, segs, max_tokens, overlap, n if doc.pages else None)
    return chunks


def _spans(starts: Sequence[int], end: int) -> list[tuple[int, int]]:
    """Start offsets -> (start, next start) spans; the last one runs to ``end``."""
    return list(zip(starts, [*starts[1:], end]))


def _segments(text: str, toks: Sequence[tuple[int, int]], starts: list[int], spans: list[tuple[int, int]],
              max_tokens: int) -> list[_Seg]:
    """Spans (sentences or rows) as segments with their word-pieces; over-long ones cut into windows."""
    segs: list[_Seg] = []
    for a, b in spans:
        i, j = bisect_left(starts, a), bisect_left(starts, b)
        if i == j:
            continue  # no word-pieces (e.g. only control characters)
        segs.extend(_windows(text, toks, i, j, max_tokens) if j - i > max_tokens else [_Seg(a, b, i, j)])
    return segs


def _pack(doc: Document, segs: list[_Seg], max_tokens: int, overlap: int, page: int | None) -> list[Chunk]:
    """Greedily pack consecutive segments into chunks, carrying up to ``overlap`` word-pieces over."""
    chunks: list[Chunk] = []
    cur: list[_Seg] = []
    for seg in segs:
        if cur and seg.j - cur[0].i > max_tokens:
            chunks.append(_make_chunk(doc, cur[0].a, cur[-1].b, page))
            tail: list[_Seg] = []
            for prev in reversed(cur):
                if seg.j - prev.i > max_tokens or cur[-1].j - prev.i > overlap:
                    break
                tail.insert(0, prev)
            cur = tail
        cur.append(seg)
    if cur:
        chunks.append(_make_chunk(doc, cur[0].a, cur[-1].b, page))
    return chunks


def _windows(text: str, toks: Sequence[tuple[int, int]], i: int, j: int, max_tokens: int) -> list[_Seg]:
    """Cut word-pieces ``i..j`` of an over-long sentence into windows, preferring word starts."""
    out: list[_Seg] = []
    k = i
    while k < j:
        cut = min(k + max_tokens, j)
        if cut < j:
            c = cut
            # back off to a word-piece that starts a word, so no word is split across chunks
            while c > k + max_tokens // 2 and not text[toks[c][0] - 1].isspace():
                c -= 1
            cut = c if c > k + max_tokens // 2 else cut
        out.append(_Seg(toks[k][0], toks[cut - 1][1], k, cut))
        k = cut
    return out


def _make_chunk(doc: Document, start: int, end: int, page: int | None) -> Chunk:
    body = doc.text[start:end]
    return Chunk(id=chunk_id(doc.source, start, end, body), source=doc.source, start=start, end=end, text=body,
                 page=page)


def chunk_id(source: str, start: int, end: int, text: str) -> str:
    """Content-derived id: the same passage at the same place always gets the same id."""
    return hashlib.sha256(f"{source}\0{start}\0{end}\0{text}".encode()).hexdigest()[:32]
