"""What every reader shares (``SkipFile``, ``Extracted``, ``Budget``, decoding), and the plain-text, HTML and CSV readers.

Standard library only: ``html.parser`` for HTML (the tokenizer BeautifulSoup's default
backend uses; visible text needs no tree) and ``csv`` for CSV.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
import time
from collections.abc import Callable
from html.parser import HTMLParser
from typing import NamedTuple

# Encodings tried after UTF-8, in order; cp1252 covers most "ANSI" files from Windows,
# latin-1 decodes any byte string, so the chain always ends with text.
_FALLBACK_ENCODINGS = ("cp1252", "latin-1")


class SkipFile(Exception):
    """A file that cannot be ingested; the message is the one-line reason for the report."""


class Extracted(NamedTuple):
    """What a reader gets out of a file: its text, a note, and page or row start offsets."""

    text: str
    note: str = ""
    pages: tuple[int, ...] = ()
    rows: tuple[int, ...] = ()


class Budget:
    """What reading one file may cost: characters of text, seconds, and bytes unpacked (a .docx is a zip).

    Readers check it as they go (``chars`` per page, paragraph, row or piece of HTML) and stop
    at the first limit broken with a ``SkipFile`` naming it and its setting: a file over a
    limit is skipped, never half-indexed. The clock starts when the budget is made. Time is
    checked between pieces: a single page that takes longer is not interrupted.

    >>> Budget(max_chars=10).chars(11)
    Traceback (most recent call last):
    rag.formats.SkipFile: too much text: over 10 characters (the limit is 10, setting max_file_chars); split the file or raise the limit
    """

    def __init__(self, max_chars: int = 0, seconds: float = 0.0, max_bytes: int = 0,
                 step: Callable[[str], None] | None = None) -> None:
        self.max_chars = max_chars or math.inf  # 0: no limit
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds if seconds else math.inf
        self.max_bytes = max_bytes or math.inf
        self.step = step or (lambda note: None)  # a slow reader says how far it is ("OCR page 2 of 9")

    def chars(self, n: int, exact: bool = False) -> None:
        """``n`` characters of text so far (``exact``: the whole text): over the limit or the time, ``SkipFile``."""
        if n > self.max_chars:
            size = f"{n:,} characters" if exact else f"over {self.max_chars:,} characters"
            raise SkipFile(f"too much text: {size} (the limit is {self.max_chars:,}, setting max_file_chars); "
                           "split the file or raise the limit")
        self.tick()

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise SkipFile(f"reading it took over {self.seconds:g} s (stopped; setting parse_seconds); "
                           "split the file or raise the limit")


def decode_text(data: bytes) -> tuple[str, str]:
    """Bytes of a text file -> (text, note). Binary data raises ``SkipFile``.

    >>> decode_text("café".encode("cp1252"))
    ('café', 'not UTF-8; decoded as cp1252')
    >>> decode_text("café".encode("utf-16"))  # what Excel's "Unicode text" writes
    ('café', '')
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # a UTF-16 byte order mark: NUL bytes are expected
        try:
            text = data.decode("utf-16")
            if _mostly_printable(text):
                return text, ""
        except UnicodeDecodeError:
            pass
    if b"\x00" in data[:8192]:
        raise SkipFile("looks like a binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig"), ""
    except UnicodeDecodeError:
        pass
    for enc in _FALLBACK_ENCODINGS:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if _mostly_printable(text):
            return text, f"not UTF-8; decoded as {enc}"
    raise SkipFile("not readable as text (not UTF-8, cp1252 or latin-1 text)")


def _mostly_printable(text: str) -> bool:
    sample = text[:8192]
    bad = sum(1 for c in sample if not (c.isprintable() or c in "\n\r\t\f"))
    return bad <= len(sample) * 0.02


def read_text(data: bytes, budget: Budget | None = None) -> Extracted:
    """.txt / .md: the decoded file itself (too large is known before decoding: UTF-8 takes <= 4 bytes a character)."""
    budget = budget or Budget()
    budget.chars(len(data) // 4)
    text, note = decode_text(data)
    budget.chars(len(text), exact=True)
    return Extracted(text, note)


def joined(parts: list[str], sep: str) -> tuple[str, tuple[int, ...]]:
    """``sep.join(parts)`` and the start offset of each part in it.

    >>> joined(["ab", "", "c"], "\\n\\n")
    ('ab\\n\\n\\n\\nc', (0, 4, 6))
    """
    starts, pos = [], 0
    for p in parts:
        starts.append(pos)
        pos += len(p) + len(sep)
    return sep.join(parts), tuple(starts)


def short(e: Exception) -> str:
    msg = " ".join(str(e).split())[:120]
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


# --- HTML --------------------------------------------------------------------------

_HIDDEN = {"script", "style", "noscript", "template", "head", "svg", "iframe", "object"}
_BLOCK = set(
    """address article aside blockquote body br caption dd details dialog div dl dt fieldset figcaption figure
    footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tbody thead tfoot tr ul
    """.split()
)


class _Visible(HTMLParser):
    """Collects the title and the text a browser would show; block elements end lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities decoded in handle_data
        self.hidden: list[str] = []
        self.in_title = False
        self.title: list[str] = []
        self.out: list[str] = []
        self.cells = 0
        self.pre = 0
        self.size = 0  # characters of text so far, for the budget

    def handle_starttag(self, tag: str, attrs: list) -> None:  # noqa: ANN401
        if tag == "body":
            self.hidden = [t for t in self.hidden if t != "head"]  # "</head>" may be left out
        if tag in _HIDDEN:
            self.hidden.append(tag)
        elif tag == "title" and set(self.hidden) <= {"head"}:  # not an <svg>'s title
            self.in_title = True
        elif tag in ("td", "th") and not self.hidden:
            self.out.append(" | " if self.cells else "")
            self.cells += 1
        if tag in _BLOCK:
            self.out.append("\n")
            self.cells = 0
        self.pre += tag == "pre"

    def handle_endtag(self, tag: str) -> None:
        if tag in self.hidden:
            while self.hidden.pop() != tag:
                pass
        elif tag == "title":
            self.in_title = False
        self.pre = max(0, self.pre - (tag == "pre"))
        if tag in _BLOCK and tag != "br":  # <br/> ends one line, not two
            self.out.append("\n")
            self.cells = 0

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.hidden:
            # a line break in the source is a space on screen, except inside <pre>
            self.out.append(data if self.pre else re.sub(r"\s+", " ", data))
            self.size += len(self.out[-1])


def read_html(data: bytes, budget: Budget | None = None) -> Extracted:
    """Visible text: no scripts, styles or head (the title is kept as the first line)."""
    budget = budget or Budget()
    raw, note = _declared(data) or decode_text(data)
    parser = _Visible()
    for i in range(0, len(raw), 1 << 16):  # in pieces: the budget is checked as the text grows
        parser.feed(raw[i : i + (1 << 16)])
        budget.chars(parser.size)
    parser.close()
    title = " ".join("".join(parser.title).split())
    lines = [" ".join(line.split()) for line in "".join(parser.out).split("\n")]
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return Extracted("\n\n".join(p for p in (title, body) if p), note)


def _declared(data: bytes) -> tuple[str, str] | None:
    """The page decoded with the charset its ``<meta>`` declares, if it names one that fits."""
    m = re.search(rb"""<meta[^>]*charset\s*=\s*["']?([\w.:-]+)""", data[:4096], re.IGNORECASE)
    if not m or b"\x00" in data[:8192]:
        return None
    try:
        return data.decode(m.group(1).decode("ascii")).removeprefix("\ufeff"), ""
    except (LookupError, UnicodeDecodeError):
        return None  # unknown or wrong declaration: guess as for plain text


# --- CSV ---------------------------------------------------------------------------

def read_csv(data: bytes, budget: Budget | None = None) -> Extracted:
    """One line per data row, each cell labelled with its column: 'city: Paris; population: 2.1M'.

    A chunk of rows then carries the header's meaning for the embedder, BM25 and the
    answerer, and a quote is readable on its own. The delimiter is detected (, ; tab |);
    quoted cells may hold newlines. The first row is the header.
    """
    budget = budget or Budget()
    text, note = decode_text(data)
    header: list[str] | None = None
    rows: list[str] = []
    size = 0
    try:
        delimiter = _delimiter(text[:65536])
        for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            r = [" ".join(c.split()) for c in record]
            if not any(r):
                continue
            if header is None:
                header = r
                continue
            names = header + [f"column {i + 1}" for i in range(len(header), len(r))]
            rows.append("; ".join(f"{names[i] or f'column {i + 1}'}: {v}" for i, v in enumerate(r) if v))
            size += len(rows[-1]) + 1  # the labels repeat on every row: the text can outgrow the file
            budget.chars(size)
    except csv.Error as e:
        raise SkipFile(f"not a readable CSV file ({e})") from None
    if not rows:
        raise SkipFile("CSV has no data rows (only a header, or nothing)")
    body, starts = joined(rows, "\n")
    return Extracted(body, note, rows=starts)


def _delimiter(sample: str) -> str:
    """The delimiter that splits the first rows into the same number (> 1) of columns most often.

    ``csv.Sniffer`` guesses wrong on quoted cells that hold newlines, so this counts instead.

    >>> _delimiter('a;b;c\\n1;"x, y";3\\n')
    ';'
    """
    def score(d: str) -> tuple[int, int]:
        rows = list(itertools.islice(csv.reader(io.StringIO(sample, newline=""), delimiter=d), 20))
        width = len(rows[0]) if rows else 0
        return (sum(len(r) == width for r in rows) if width > 1 else 0), width

    return max(",;\t|", key=score)  # ties: the earlier one, so ',' wins
