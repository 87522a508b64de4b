"""Find the files of a corpus folder, read their bytes safely, and extract their text.

Reading and parsing are separate steps (``read_file``, then ``parse_document``) so a
caller can hash the bytes and parse only files that changed; ``load_document`` does
both. The format readers live in rag/extract.py; ``READERS`` maps a suffix to one.
Every file that cannot be ingested raises ``SkipFile`` with a one-line reason.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from .extract import READERS, SkipFile, decode_text
from .types import Document

__all__ = ["READERS", "SkipFile", "decode_text", "walk", "read_file", "parse_document", "load_document"]


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


def read_file(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; ``SkipFile`` for links to folders, loops, oversized or vanished files.

    The size is checked before reading, and a file that grows in between is read only up
    to the limit, so a huge file never lands in memory.
    """
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise SkipFile("a link to a folder (links to folders are not followed; copy or move the folder in)")
        if not stat.S_ISREG(st.st_mode):
            raise SkipFile("not a regular file (a device, pipe or socket)")
        if st.st_size > max_bytes:
            raise SkipFile(_too_large(st.st_size, max_bytes))
        with path.open("rb") as f:
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


def parse_document(source: str, suffix: str, data: bytes) -> Document:
    """Extract a file's text from its bytes (``suffix`` picks the reader); ``SkipFile`` if it has none.

    >>> parse_document("towns.csv", ".csv", b"town,people\\nLyon,520000\\n").text
    'town: Lyon; people: 520000'
    """
    reader = READERS.get(suffix.lower())
    if reader is None:
        raise SkipFile(f"unsupported file type '{suffix or '(none)'}'")
    if not data:
        raise SkipFile("empty file (0 bytes)")
    got = reader(data)
    if not got.text.strip():
        raise SkipFile("empty (no text)")
    return Document(source=source, text=got.text, sha256=hashlib.sha256(data).hexdigest(), note=got.note,
                    pages=got.pages, rows=got.rows)


def load_document(path: Path, source: str, max_bytes: int) -> Document:
    """Read and parse one file into a ``Document``; raise ``SkipFile`` with the reason if it can't be."""
    if path.suffix.lower() not in READERS and not path.is_dir():  # a link to a folder: read_file says so
        raise SkipFile(f"unsupported file type '{path.suffix or '(none)'}'")
    return parse_document(source, path.suffix, read_file(path, max_bytes))
