"""Find the files of a corpus folder, read their bytes safely, and extract their text.

Reading and parsing are separate steps (``read_file``, then ``parse_document``) so a
caller can hash the bytes and parse only files that changed; ``load_document`` does
both. The format readers live in rag/extract.py; ``READERS`` maps a suffix to one.
Every file that cannot be ingested raises ``SkipFile`` with a one-line reason.

The corpus folder is a boundary: given ``root``, ``read_file`` reads nothing that
resolves outside it. A symbolic link to ``/etc/passwd`` dropped into the folder would
otherwise be indexed, quoted in answers and shown to anyone using the UI. The check is
made on the file actually opened (``/proc/self/fd``), so swapping a file for a link
between the check and the read does not get around it. ``Settings.follow_links`` turns
it off (docs/usage.md, Security). Hard links cannot be told from ordinary files.

Each file's work is bounded (``budget``): its text, and the seconds its reader may take,
are checked by the readers as they go, so a small file that expands to gigabytes stops
early and is skipped with the limit it broke, never half-indexed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .extract import READERS, Budget, SkipFile, decode_text
from .types import Document

if TYPE_CHECKING:
    from .settings import Settings

__all__ = ["READERS", "Budget", "SkipFile", "decode_text", "walk", "read_file", "parse_document", "load_document",
           "budget", "boundary"]

OUTSIDE = ("a link to a file outside the corpus folder (not read; copy the file in, or set follow_links to allow "
           "links: see Security in docs/usage.md)")


def budget(settings: Settings) -> Budget:
    """The limits of one file's parsing, from the settings; its clock starts now."""
    return Budget(max_chars=settings.max_file_chars, seconds=settings.parse_seconds,
                  max_bytes=int(settings.max_file_mb * 1_000_000))


def boundary(corpus: Path, settings: Settings) -> Path | None:
    """The folder nothing may be read outside of (``read_file``'s ``root``); None when links may be followed."""
    return None if settings.follow_links else Path(corpus).resolve()


def inside(path: str | Path, root: Path) -> bool:
    """True when ``path``, every link resolved, is ``root`` or under it.

    >>> inside("/srv/docs/a/../b.txt", Path("/srv/docs")), inside("/srv/docs/../etc/passwd", Path("/srv/docs"))
    (True, False)
    """
    return Path(os.path.realpath(path)).is_relative_to(root)


def _opened_inside(fd: int, path: Path, root: Path) -> bool:
    """Whether the file open as ``fd`` lies under ``root``: its real path from /proc where there is one."""
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        real = os.path.realpath(path)
    return Path(real).is_relative_to(root)


def walk(corpus: Path) -> Iterator[tuple[Path, str]]:
    """Yield (path, source) for every file under ``corpus``, hidden ones excluded.

    ``source`` is the POSIX path relative to ``corpus``. Symbolic links to folders are not
    followed, so a link loop cannot hang the walk; they are yielded like files, and
    ``read_file`` says why they are skipped.
    """
    for dirpath, dirnames, filenames in os.walk(corpus, followlinks=False):
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in links)
        for name in sorted(filenames + links):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            yield path, path.relative_to(corpus).as_posix()


def read_file(path: Path, max_bytes: int, root: Path | None = None) -> bytes:
    """The file's bytes; ``SkipFile`` for links to folders or outside ``root``, loops, oversized or vanished files.

    The size is checked before reading, and a file that grows in between is read only up
    to the limit, so a huge file never lands in memory. ``root`` (resolved): nothing
    outside it is read (None: no boundary, for callers that chose to follow links).
    """
    try:
        if root is not None and not inside(path, root):
            raise SkipFile(OUTSIDE)
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise SkipFile("a link to a folder (links to folders are not followed; copy or move the folder in)")
        if not stat.S_ISREG(st.st_mode):
            raise SkipFile("not a regular file (a device, pipe or socket)")
        if st.st_size > max_bytes:
            raise SkipFile(_too_large(st.st_size, max_bytes))
        with path.open("rb") as f:
            if root is not None and not _opened_inside(f.fileno(), path, root):
                raise SkipFile(OUTSIDE)  # swapped for a link after the check above
            data = f.read(st.st_size + 1)
            while st.st_size < len(data) <= max_bytes:  # it grew after stat(): read on, up to the limit
                more = f.read(1 << 20)
                if not more:
                    break
                data += more
    except FileNotFoundError:
        if path.is_symlink():
            raise SkipFile("a broken symbolic link (its target does not exist)") from None
        raise SkipFile("vanished while being read (deleted or moved during ingest)") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise SkipFile("a symbolic link loop (the link points back to itself)") from None
        raise SkipFile(f"cannot be read ({e.strerror or e})") from None
    if len(data) > max_bytes:
        raise SkipFile(_too_large(len(data), max_bytes))
    return data


def _too_large(size: int, max_bytes: int) -> str:
    return f"too large ({size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB, setting max_file_mb)"


def parse_document(source: str, suffix: str, data: bytes, budget: Budget | None = None) -> Document:
    """Extract a file's text from its bytes (``suffix`` picks the reader); ``SkipFile`` if it has none
    or if it breaks a limit of ``budget`` (default: none).

    >>> parse_document("towns.csv", ".csv", b"town,people\\nLyon,520000\\n").text
    'town: Lyon; people: 520000'
    """
    reader = READERS.get(suffix.lower())
    if reader is None:
        raise SkipFile(f"unsupported file type '{suffix or '(none)'}'")
    if not data:
        raise SkipFile("empty file (0 bytes)")
    got = reader(data, budget or Budget())
    if not got.text.strip():
        raise SkipFile("empty (no text)")
    return Document(source=source, text=got.text, sha256=hashlib.sha256(data).hexdigest(), note=got.note,
                    pages=got.pages, rows=got.rows)


def read_source(corpus: Path, source: str, settings: Settings) -> Document:
    """The document ``source`` of ``corpus``, read as ingest reads it: inside the folder only (unless
    ``follow_links``) and within the per-file limits; ``SkipFile`` if it cannot be."""
    return load_document(Path(corpus) / source, source, int(settings.max_file_mb * 1_000_000),
                         root=boundary(corpus, settings), budget=budget(settings))


def load_document(path: Path, source: str, max_bytes: int, *, root: Path | None = None,
                  budget: Budget | None = None) -> Document:
    """Read and parse one file into a ``Document``; raise ``SkipFile`` with the reason if it can't be."""
    if path.suffix.lower() not in READERS and not path.is_dir():  # a link to a folder: read_file says so
        raise SkipFile(f"unsupported file type '{path.suffix or '(none)'}'")
    return parse_document(source, path.suffix, read_file(path, max_bytes, root), budget)
