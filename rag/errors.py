"""Errors a user can cause. Each message says what happened and what to do.

Library code raises these; the CLI and the UI show ``str(error)``, never a traceback.
Faults that come from outside (a full disk, a damaged index, a server gone) are turned
into these where they happen (rag/chroma.py, rag/index.py) with the helpers below.
"""

import errno


class RagError(Exception):
    """Base class: anything the user can fix."""


class QuestionError(RagError):
    """The question is empty or too long."""


class CorpusError(RagError):
    """The corpus folder is missing, not a folder, or holds nothing readable."""


class EmptyIndexError(RagError):
    """The index holds no chunks yet: ingest a folder first."""


class ModelError(RagError):
    """A packaged model is missing or does not load."""


class SettingsError(RagError):
    """A setting has a value that cannot work (unknown answerer, bad number)."""


class StoreError(RagError):
    """The index cannot be opened, or the Chroma server cannot be reached."""


class IngestBusyError(RagError):
    """Another ingest is writing to the same index."""


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
    return (f"The disk is full: the index at {location} could not be written ({first_line(e)}). Free some space, "
            "then run ingest (or Re-sync) again: what was written is kept and the next ingest continues from it.")
