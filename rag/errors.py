"""Errors a user can cause. Each message says what happened and what to do.

Library code raises these; the CLI and the UI show ``str(error)``, never a traceback.
Faults that come from outside (a full disk, a damaged index, a server gone) are turned
into these where they happen, by rag/faults.py.
"""


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

