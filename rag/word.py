"""Word .docx: paragraphs and table rows in body order, one per line (python-docx)."""

from __future__ import annotations

import io

from .formats import Extracted, SkipFile, short


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
        raise SkipFile(f"not a readable Word .docx file ({short(e)})") from None
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
