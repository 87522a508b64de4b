"""Citations are data: a retrieved chunk plus a character span that code has checked.

A citation is only ever built from a retrieved ``Hit`` and a span inside its text, so its
quote is by construction the source's extracted text at ``[start:end]`` (chunks satisfy
``document.text[hit.start:hit.end] == hit.text``). Model-written text never becomes one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .types import Citation, Hit

if TYPE_CHECKING:
    from .settings import Settings


def cite(hit: Hit, a: int, b: int) -> Citation:
    """Citation of ``hit.text[a:b]``, with offsets moved into the source file's text."""
    if not 0 <= a < b <= len(hit.text):
        raise ValueError(f"span {a}:{b} is outside the {len(hit.text)}-character passage {hit.id}")
    return Citation(
        source=hit.source, start=hit.start + a, end=hit.start + b, quote=hit.text[a:b], chunk_id=hit.id, page=hit.page
    )


def verify(citation: Citation, corpus: Path, settings: Settings | None = None) -> bool:
    """True when the cited file, read now, holds ``quote`` at ``[start:end]``.

    Read as ingest reads it: inside ``corpus`` only (a citation naming ``../x`` or a link
    out of the folder is not verified) and within the settings' limits (default settings).
    """
    from .load import SkipFile, read_source
    from .settings import Settings

    try:
        doc = read_source(Path(corpus), citation.source, settings or Settings())
    except SkipFile:
        return False
    return doc.text[citation.start : citation.end] == citation.quote
