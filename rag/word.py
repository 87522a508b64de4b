"""Word .docx: paragraphs and table rows in body order, one per line (python-docx), after a bounded pre-scan.

A .docx is a zip archive: 164 KB can unpack to a million paragraphs, which python-docx
would hold as one XML tree (~4.4 GB measured) before a single check could run. So first,
without parsing: the archive's declared unpacked sizes (which ``zipfile`` never reads
past) must fit ``max_file_mb``; then the body XML is streamed through expat, counting
text characters and elements with constant memory and checking the budget as it goes.
Only a document that passes is handed to python-docx.
"""

from __future__ import annotations

import io
import zipfile

from .formats import Budget, Extracted, SkipFile, short

_MAIN = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def read_docx(data: bytes, budget: Budget | None = None) -> Extracted:
    """Paragraphs and table rows in body order, one per line; a table row's cells joined by ' | '."""
    import docx
    from docx.table import Table

    budget = budget or Budget()
    prescan(data, budget)
    try:
        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                lines.extend(_table_lines(block))
            else:
                lines.append(block.text.strip())
    except Exception as e:  # not a zip, no document part, broken XML
        raise SkipFile(f"not a readable Word .docx file ({short(e)})") from None
    return Extracted("\n".join(line for line in lines if line))


def prescan(data: bytes, budget: Budget) -> None:
    """``SkipFile`` when the archive unpacks past ``budget.max_bytes`` or its body breaks the budget.

    The body's text (plus one character per paragraph) counts against ``max_chars``, and so
    do its XML elements: a million empty paragraphs hold no text but cost python-docx a
    million objects.
    """
    from xml.parsers import expat

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise SkipFile(f"not a readable Word .docx file (not a zip archive: {short(e)})") from None
    unpacked = sum(m.file_size for m in members)
    if unpacked > budget.max_bytes:
        raise SkipFile(f"unpacks to {unpacked / 1e6:,.0f} MB (a .docx is a zip archive; the limit is "
                       f"{budget.max_bytes / 1e6:,.0f} MB, setting max_file_mb): a decompression bomb, or too large")
    if "word/document.xml" not in {m.filename for m in members}:
        return  # an unusual layout: python-docx finds the body or says it can't
    counts = {"chars": 0, "elements": 0, "text": 0}

    def start(name: str, attrs: object) -> None:
        counts["elements"] += 1
        if name == f"{_MAIN} t":
            counts["text"] += 1
        elif name == f"{_MAIN} p":
            counts["chars"] += 1

    def end(name: str) -> None:
        if name == f"{_MAIN} t":
            counts["text"] -= 1

    def data_(text: str) -> None:
        if counts["text"]:
            counts["chars"] += len(text)

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, data_
    try:
        with archive.open("word/document.xml") as body:
            while piece := body.read(1 << 16):
                parser.Parse(piece, False)
                budget.chars(counts["chars"])
                if counts["elements"] > budget.max_chars:
                    raise SkipFile(f"too complex: over {budget.max_chars:,} XML elements in its body (the limit "
                                   "follows max_file_chars); split the file or raise the limit")
            parser.Parse(b"", True)
    except SkipFile:
        raise
    except Exception as e:  # broken XML, a bad CRC, a truncated archive
        raise SkipFile(f"not a readable Word .docx file ({short(e)})") from None


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
