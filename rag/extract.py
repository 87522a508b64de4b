"""Extract the text of each file format from the file's bytes, the same way on every read.

A citation's offsets point into this text and ``rag.cite.verify`` re-extracts the file to
check them, so every reader here is deterministic and keeps what it needs for chunking:
page starts (PDF) and row starts (CSV).

Why not llama-index's file readers: its text reader drops undecodable bytes silently
(``errors="ignore"``), its Markdown reader rewrites the text around headers, and its
PDF, Word and HTML readers are thin wrappers (over pypdf, docx2txt and BeautifulSoup)
that flatten a PDF's pages without their offsets; llama-index-readers-file 0.7.0 also
downgrades pandas and pulls a dozen packages. So: pypdf for PDF (pure Python, its text
layer page by page), python-docx for Word (paragraphs and tables in body order), the
standard library's ``html.parser`` for HTML (the tokenizer BeautifulSoup's default
backend uses; visible text needs no tree) and ``csv`` for CSV. Parsers are imported
inside the readers so that ``import rag`` stays cheap.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import re
from collections import Counter
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


def read_text(data: bytes) -> Extracted:
    """.txt / .md: the decoded file itself."""
    return Extracted(*decode_text(data))


def _joined(parts: list[str], sep: str) -> tuple[str, tuple[int, ...]]:
    """``sep.join(parts)`` and the start offset of each part in it.

    >>> _joined(["ab", "", "c"], "\\n\\n")
    ('ab\\n\\n\\n\\nc', (0, 4, 6))
    """
    starts, pos = [], 0
    for p in parts:
        starts.append(pos)
        pos += len(p) + len(sep)
    return sep.join(parts), tuple(starts)


# --- PDF ---------------------------------------------------------------------------

def read_pdf(data: bytes) -> Extracted:
    """The text layer, page by page: pages joined by a blank line, each page's start kept."""
    import pypdf

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns on every odd but readable file
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise SkipFile("encrypted PDF: it needs a password; save an unprotected copy to ingest it")
        raw, failed = [], 0
        for page in reader.pages:
            try:
                raw.append(page.extract_text() or "")
            except Exception:  # one damaged page: index the others, and say so
                raw.append("")
                failed += 1
    except SkipFile:
        raise
    except pypdf.errors.FileNotDecryptedError:
        raise SkipFile("encrypted PDF: it needs a password; save an unprotected copy to ingest it") from None
    except pypdf.errors.DependencyError:
        raise SkipFile("encrypted PDF (AES): save an unprotected copy to ingest it") from None
    except Exception as e:  # pypdf raises many types on broken files; any of them means "can't read"
        raise SkipFile(f"not a readable PDF ({_short(e)}); check the file opens in a PDF viewer") from None
    if not raw:
        raise SkipFile("PDF has no pages")
    if failed == len(raw):
        raise SkipFile("not a readable PDF (no page could be read); check the file opens in a PDF viewer")
    running = running_lines(raw)
    pages = [reflow(_drop_running(p, running)) for p in raw]
    if not any(pages):
        raise SkipFile(f"scanned PDF: no text layer on its {len(pages)} page(s) (run OCR first, e.g. ocrmypdf)")
    text, starts = _joined(pages, "\n\n")
    blank = sum(1 for p in pages if not p) - failed
    notes = [f"{failed} of {len(pages)} pages could not be read (damaged)"] if failed else []
    notes += [f"{blank} of {len(pages)} pages have no text layer (scanned?); run OCR to index them"] if blank else []
    return Extracted(text, "; ".join(notes), pages=starts)


def _key(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split()))  # page numbers differ from page to page


def _edges(lines: list[str]) -> list[int]:
    """Indexes of the first two and last two non-blank lines: where headers and footers sit."""
    full = [i for i, line in enumerate(lines) if line.strip()]
    return sorted(set(full[:2] + full[-2:]))


def running_lines(pages: list[str]) -> set[str]:
    """Header and footer lines (digits ignored) at a page edge on at least half of 3+ pages.

    >>> pages = [f"ACME report\\n{n}\\n{fruit} grow here.\\nMore on {fruit}." for n, fruit in enumerate(["Figs", "Kiwis", "Limes"])]
    >>> sorted(running_lines(pages))
    ['#', 'ACME report']
    """
    if len(pages) < 3:
        return set()
    seen: Counter[str] = Counter()
    for page in pages:
        lines = page.split("\n")
        seen.update({_key(lines[i]) for i in _edges(lines)})
    return {k for k, n in seen.items() if n * 2 >= len(pages) and k}


def _drop_running(page: str, running: set[str]) -> str:
    lines = page.split("\n")
    drop = {i for i in _edges(lines) if _key(lines[i]) in running}
    return "\n".join(line for i, line in enumerate(lines) if i not in drop)


def reflow(text: str) -> str:
    """Join a PDF page's wrapped lines: one line break is a space, two or more end a paragraph.

    pypdf returns every printed line on its own line, so without this each line fragment
    would be a "sentence" to the chunker and the answerer would quote half sentences.

    >>> reflow("A key diff-\\nerence is in how \\nfeatures are built. \\n \\nB. Next")
    'A key diff-erence is in how features are built.\\n\\nB. Next'
    """
    text = re.sub(r"(\w)-[ \t]*\n\s*(?=[a-z])", r"\1-", text)  # a word broken at a line end stays one word
    return re.sub(r"\s+", lambda m: "\n\n" if m.group().count("\n") > 1 else " ", text).strip()


def _short(e: Exception) -> str:
    msg = " ".join(str(e).split())[:120]
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


# --- Word --------------------------------------------------------------------------

def read_docx(data: bytes) -> Extracted:
    """Paragraphs and table rows in body order, one per line; a table row's cells joined by ' | '."""
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                lines.extend(_table_lines(block))
            else:
                lines.append(block.text.strip())
    except Exception as e:  # not a zip, no document part, broken XML
        raise SkipFile(f"not a readable Word .docx file ({_short(e)})") from None
    return Extracted("\n".join(line for line in lines if line))


def _table_lines(table) -> list[str]:  # noqa: ANN001 (a docx Table)
    out = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is listed once per grid column it spans
                continue
            seen.add(id(cell._tc))
            text = " ".join(_cell_text(cell).split())
            if text:
                cells.append(text)
        out.append(" | ".join(cells))
    return out


def _cell_text(cell) -> str:  # noqa: ANN001 (a docx _Cell)
    """A cell's paragraphs and nested tables, in order (``cell.text`` leaves nested tables out)."""
    from docx.table import Table

    parts = []
    for block in cell.iter_inner_content():
        parts.extend(_table_lines(block) if isinstance(block, Table) else [block.text])
    return " ".join(parts)


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


def read_html(data: bytes) -> Extracted:
    """Visible text: no scripts, styles or head (the title is kept as the first line)."""
    raw, note = _declared(data) or decode_text(data)
    parser = _Visible()
    parser.feed(raw)
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

def read_csv(data: bytes) -> Extracted:
    """One line per data row, each cell labelled with its column: 'city: Paris; population: 2.1M'.

    A chunk of rows then carries the header's meaning for the embedder, BM25 and the
    answerer, and a quote is readable on its own. The delimiter is detected (, ; tab |);
    quoted cells may hold newlines. The first row is the header.
    """
    text, note = decode_text(data)
    try:
        delimiter = _delimiter(text[:65536])
        records = [[" ".join(c.split()) for c in r] for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as e:
        raise SkipFile(f"not a readable CSV file ({e})") from None
    records = [r for r in records if any(r)]
    if len(records) < 2:
        raise SkipFile("CSV has no data rows (only a header, or nothing)")
    header = records[0]
    rows = []
    for r in records[1:]:
        names = header + [f"column {i + 1}" for i in range(len(header), len(r))]
        rows.append("; ".join(f"{names[i] or f'column {i + 1}'}: {v}" for i, v in enumerate(r) if v))
    body, starts = _joined(rows, "\n")
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


# File suffix -> reader from the file's bytes to its ``Extracted`` text.
READERS: dict[str, Callable[[bytes], Extracted]] = {
    ".txt": read_text, ".md": read_text, ".markdown": read_text, ".pdf": read_pdf, ".docx": read_docx,
    ".html": read_html, ".htm": read_html, ".csv": read_csv,
}
