"""Find the files of a corpus folder and extract their text.

Plain text and Markdown are decoded here rather than through llama-index's readers on
purpose: its default text reader drops undecodable bytes silently (``errors="ignore"``)
and its Markdown reader rewrites the text around headers, and either would break the
promise that a citation's offsets point at the file's own characters. Formats that need
a parser (PDF, Word) plug into ``READERS``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from .types import Document

# Encodings tried after UTF-8, in order; cp1252 covers most "ANSI" files from Windows,
# latin-1 decodes any byte string, so the chain always ends with text.
_FALLBACK_ENCODINGS = ("cp1252", "latin-1")


class SkipFile(Exception):
    """A file that cannot be ingested; the message is the one-line reason for the report."""


def decode_text(data: bytes) -> tuple[str, str]:
    """Bytes of a text file -> (text, note). Binary data raises ``SkipFile``.

    >>> decode_text("café".encode("cp1252"))
    ('café', 'not UTF-8; decoded as cp1252')
    """
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


# File suffix -> function from the file's bytes to (text, note).
READERS: dict[str, Callable[[bytes], tuple[str, str]]] = {".txt": decode_text, ".md": decode_text, ".markdown": decode_text}


def walk(corpus: Path) -> Iterator[tuple[Path, str]]:
    """Yield (path, source) for every regular file under ``corpus``, hidden ones excluded.

    ``source`` is the POSIX path relative to ``corpus``. Symbolic links to folders are not
    followed, so a link loop cannot hang the walk.
    """
    for dirpath, dirnames, filenames in os.walk(corpus, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            yield path, path.relative_to(corpus).as_posix()


def load_document(path: Path, source: str, max_bytes: int) -> Document:
    """Read one file into a ``Document``; raise ``SkipFile`` with the reason if it can't be."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise SkipFile(f"unsupported file type '{path.suffix or '(none)'}'")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SkipFile(f"too large ({size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB, setting max_file_mb)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise SkipFile("vanished while being read") from None
    except OSError as e:
        raise SkipFile(f"cannot be read ({e.strerror or e})") from None
    text, note = reader(data)
    if not text.strip():
        raise SkipFile("empty (no text)")
    return Document(source=source, text=text, sha256=hashlib.sha256(data).hexdigest(), note=note)
