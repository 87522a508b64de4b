"""Faults from outside the program, turned into ``RagError``s that say what to do.

A full disk during an ingest, an index folder damaged under a running app, a Chroma
server stopped while the app serves: each used to reach the user as a traceback or as
"Something went wrong (ConnectError ...)". The stores run every method inside
``store_guard`` (``guarded``), which maps what Chroma, SQLite, the OS or the network raise
to a ``StoreError`` with one sentence: what happened, where, and what to do. Errors it
does not recognise pass through unchanged, so a bug is not disguised as a damaged index.
"""

from __future__ import annotations

import errno
import functools
import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import RagError, StoreError

# Below this much free space where the index lives, a store error is taken for a full disk.
LOW_DISK_MB = 64

# Words of SQLite and Chroma's Rust core for a store it cannot read (seen in its RuntimeErrors too).
_DAMAGE = re.compile(r"malformed|not a database|no such table|disk i/o error|database is locked|readonly database|"
                     r"error returned from database|hnsw|segment", re.IGNORECASE)


def first_line(e: BaseException) -> str:
    """An exception's first line, for a message (its type when it has no text)."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def disk_full(e: BaseException) -> bool:
    """True when ``e`` says the disk is full: ENOSPC, or SQLite's and Chroma's words for it.

    >>> disk_full(OSError(28, "No space left on device")), disk_full(ValueError("database or disk is full"))
    (True, True)
    """
    text = str(e).lower()
    return getattr(e, "errno", None) == errno.ENOSPC or "no space left" in text or "disk is full" in text


def full_disk(location: str, e: BaseException) -> str:
    """The message for a full disk while writing the index at ``location``."""
    return (f"The disk is full, the index at {location} could not be written ({first_line(e)}): free some space "
            "and run ingest (or Re-sync) again; what was written is kept and the next ingest continues from it.")


@contextmanager
def store_guard(location: str, fault: Callable[[Exception], str | None]) -> Iterator[None]:
    """A full disk, or what ``fault`` recognises (its message), raised as a ``StoreError``; the rest as is."""
    try:
        yield
    except RagError:
        raise
    except Exception as e:
        if disk_full(e):
            raise StoreError(full_disk(location, e)) from None
        message = fault(e)
        if message is None:
            raise
        raise StoreError(message) from None


def guarded(method: Any) -> Any:
    """Run a store method inside ``self.guard()``, so what Chroma, SQLite or the network raise
    reaches the user as a ``StoreError`` that says what to do (a generator: while it is read)."""
    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def gen(self: Any, *args: Any, **kwargs: Any) -> Any:
            with self.guard():
                yield from method(self, *args, **kwargs)
        return gen

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self.guard():
            return method(self, *args, **kwargs)
    return call



def damaged_index(path: Path, e: Exception) -> str | None:
    """Chroma's and SQLite's errors on an embedded index: the folder is damaged or unreadable; how to rebuild."""
    import sqlite3

    from chromadb.errors import ChromaError

    if not isinstance(e, (ChromaError, sqlite3.Error, PermissionError)) and not _DAMAGE.search(str(e)):
        return None
    free = _free_mb(path)
    if free is not None and free < LOW_DISK_MB:  # Chroma reports a full disk in other words, e.g. "compaction"
        return full_disk(str(path), RuntimeError(f"{first_line(e)}; {free:.1f} MB free"))
    return (f"The index at {path} cannot be read, it may be damaged ({first_line(e)}): stop the app and any "
            "ingest, move that folder away (or delete it) and run ingest again to rebuild it from the documents.")


def _free_mb(path: Path) -> float | None:
    import shutil

    try:
        return shutil.disk_usage(path if Path(path).exists() else Path(path).parent).free / 1e6
    except OSError:
        return None


def lost_server(url: str, e: Exception) -> str | None:
    """A Chroma server unreachable, gone or failing: its URL and what to do."""
    import httpx

    lost = isinstance(e, (httpx.TransportError, ConnectionError)) or "could not connect" in str(e).lower()
    if not lost and not isinstance(e, httpx.HTTPStatusError) and "chroma" not in type(e).__module__:
        return None
    what = "Lost the Chroma server" if lost else "The Chroma server failed"
    return (f"{what} at {url} ({first_line(e)}): check that it is running (`chroma run --path vectorstore "
            f"--port {urlsplit(url).port or 8000}`), then try again; an interrupted ingest is repaired by the next one.")
