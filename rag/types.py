"""The nouns every stage passes along: documents, chunks, hits, citations, answers.

All are frozen dataclasses. Offsets are character offsets into a document's extracted
text (for .txt/.md that is the decoded file; for PDF, Word, HTML and CSV the text
rag/extract.py extracts, the same on every read), so ``text[start:end]`` is always the
exact passage a chunk, hit or citation refers to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Document:
    """One file's extracted text. ``source`` is its path relative to the corpus root."""

    source: str
    text: str
    sha256: str  # of the file's bytes: unchanged hash means nothing to re-embed
    note: str = ""  # e.g. "decoded as cp1252" when the file was not UTF-8
    pages: tuple[int, ...] = ()  # PDF: start offset of each page in ``text``; chunks never cross one
    rows: tuple[int, ...] = ()  # CSV: start offset of each row in ``text``; chunks hold whole rows


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: ``document.text[start:end] == text``."""

    id: str
    source: str
    start: int
    end: int
    text: str
    page: int | None = None


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its retrieval score.

    ``score`` is on a fixed, query-independent scale, made in one place (rag/retrieve.py)
    and read by the refusal floors (``Settings.min_score``, ``Settings.llm_min_score``),
    which were calibrated on it: ``dense`` gives the cosine similarity (-1..1), ``bm25``
    the BM25 score over the best the question could reach (0..1), ``hybrid`` (default)
    ``w * cosine + (1 - w) * bm25``. Stages after retrieval (rag/search.py) may reorder,
    drop or narrow hits, never rewrite ``score``: a floor would silently change meaning.
    """

    id: str
    source: str
    start: int
    end: int
    text: str
    score: float
    page: int | None = None


@dataclass(frozen=True)
class Citation:
    """A checked pointer to the exact words an answer rests on.

    ``quote`` equals the source's extracted text at ``[start:end]``; ``chunk_id`` names
    the retrieved chunk it was taken from.
    """

    source: str
    start: int
    end: int
    quote: str
    chunk_id: str
    page: int | None = None


@dataclass(frozen=True)
class Answer:
    """What ``rag.ask`` returns. ``question`` is the user's; ``standalone`` the one searched for and
    answered (a follow-up rewritten with the conversation, else the question itself)."""

    question: str
    text: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    answerer: str = ""
    unsupported: list[str] = field(default_factory=list)  # answer sentences no passage backs
    standalone: str = ""  # the question searched for: a follow-up rewritten with its history
    short: str = ""  # the short answer, when the answerer gives one (a substring of the first citation's quote)
    confidence: float | None = None  # how likely the answer is supported (0..1), when the answerer estimates it


@dataclass(frozen=True)
class SyncProgress:
    """How far a sync is: sent to the ``progress`` callback before each file, while a slow reader
    works through it (OCR, page by page), after each batch of chunks written while more of the
    same write remain (a large file), and once at the end."""

    files_done: int
    files_total: int
    chunks_done: int  # chunks embedded and written by this sync so far
    source: str  # the file about to be read (and embedded if changed); "" at the end
    file_chunks_done: int = 0  # after a batch: chunks of ``source`` written so far ...
    file_chunks: int = 0  # ... of this many (0 before a file)
    note: str = ""  # while ``source`` is read, how far its reader is ("OCR page 2 of 9")


Progress = Callable[[SyncProgress], None]


@dataclass(frozen=True)
class IndexStatus:
    """What an index holds, for a status line."""

    corpus: str  # the folder last synced into it (the configured corpus if never synced)
    location: str  # the store folder, or the Chroma server's URL
    documents: int
    chunks: int
    last_sync: datetime | None  # end of the last completed sync, UTC


@dataclass(frozen=True)
class IngestReport:
    """What ``rag.ingest`` did: files by outcome and chunk counts."""

    corpus: str
    collection: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (source, note)
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_total: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def summary(self) -> str:
        """One human line, e.g. '3 added, 0 updated, 1 removed, 5 unchanged, 1 skipped; 42 chunks'."""
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped; "
            f"{self.chunks_total} chunks in the index (+{self.chunks_added} -{self.chunks_removed}) "
            f"in {self.seconds:.1f} s"
        )
