"""The vector store seam: where chunks and their vectors live, and what the index holds per file.

``VectorStore`` is the protocol; rag/backends.py names the implementations: Chroma
embedded in a folder or on a server (rag/chroma.py) and an in-memory numpy store
(rag/memory.py) that the fast tests run the same contract tests on. Every method speaks
the project's own types (``Chunk``, ``Hit``), so nothing above this seam knows Chroma.

Each stored chunk carries its file's content hash and chunk count (a ``Record``): that is
what sync compares to decide that a file is already indexed, and whole (``FileState``).
Reads of the whole index are paged (``records``): Chroma's SQLite refuses a read of more
than 32,766 ids at once, which broke ingest, status and start-up past that many chunks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .types import Chunk, Hit

if TYPE_CHECKING:
    from .settings import Settings


@dataclass(frozen=True)
class Record:
    """A stored chunk (its ``text`` is "" unless asked for) with its file's hash and chunk count."""

    chunk: Chunk
    sha256: str
    n_chunks: int


@dataclass(frozen=True)
class FileState:
    """What the index holds for one source file."""

    sha256: str  # the hash recorded with its chunks ("" when the chunks disagree)
    expected: int  # how many chunks the file had when it was indexed
    ids: frozenset[str]
    by_sha: Mapping[str, frozenset[str]] = field(default_factory=dict)  # the ids written with each file hash

    @property
    def complete(self) -> bool:
        return bool(self.sha256) and len(self.ids) == self.expected


class VectorStore(Protocol):
    """One index's chunks and vectors. Opening one creates nothing; the first ``upsert`` does."""

    name: str  # the collection: a hash of the settings that shape the vectors (Settings.collection)
    location: str  # where it lives, for messages: a folder or a URL
    local_dir: Path  # where this machine keeps the index's keyword file and ingest lock

    def count(self) -> int: ...

    def records(self, text: bool = False) -> Iterator[Record]:
        """Every stored chunk, read in pages; with its text only when ``text``."""

    def get(self, ids: Sequence[str], vectors: bool = False) -> list[tuple[Chunk, list[float] | None]]:
        """The chunks ``ids`` in the order given (unknown ids left out), with their vectors if asked."""

    def search(self, vector: Sequence[float], n: int) -> list[Hit]:
        """The ``n`` chunks nearest to ``vector``, best first, scored by cosine similarity."""

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]], sha256: Mapping[str, str],
               totals: Mapping[str, int] | None = None) -> None:
        """Write chunks; ``sha256`` maps each chunk's source to its file's hash, ``totals`` to its file's
        chunk count when a file is written in several calls (default: the chunks given here)."""

    def delete(self, ids: set[str] | frozenset[str]) -> None: ...

    def metadata(self) -> dict[str, Any]:
        """What ``mark_synced`` recorded (sync_id, last_sync, corpus); {} before the first sync."""

    def mark_synced(self, corpus: str, changed: bool) -> datetime:
        """Record a completed sync; a new ``sync_id`` when ``changed``. Returns its time (UTC)."""

    def refresh(self) -> bool:
        """Reopen when another process synced the index since this one looked; True when it did."""

    def guard(self) -> AbstractContextManager[None]:
        """Turns a server lost mid-way into a ``StoreError`` that says what to do."""


def open_store(settings: Settings) -> VectorStore:
    """The store ``settings.vector_store`` names, for ``settings.collection`` (nothing is created yet)."""
    from .backends import STORES, pick

    return pick("vector_store", STORES, settings.vector_store)(settings)


def file_states(store: VectorStore) -> dict[str, FileState]:
    """What the index holds, by source file (one paged pass over the chunks' metadata)."""
    ids: dict[str, set[str]] = defaultdict(set)
    shas: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    expected: dict[str, int] = {}
    for r in store.records():
        src = r.chunk.source
        ids[src].add(r.chunk.id)
        shas[src][r.sha256].add(r.chunk.id)
        expected[src] = r.n_chunks
    return {src: FileState(next(iter(shas[src])) if len(shas[src]) == 1 else "", expected[src], frozenset(ids[src]),
                           {sha: frozenset(i) for sha, i in shas[src].items()})
            for src in ids}


def chunk_ids(store: VectorStore) -> set[str]:
    """The ids of every stored chunk."""
    return {r.chunk.id for r in store.records()}


def hit(chunk: Chunk, score: float) -> Hit:
    """``chunk`` as a retrieved ``Hit`` with ``score`` (rounded to 4 places, as every score is)."""
    return Hit(id=chunk.id, source=chunk.source, start=chunk.start, end=chunk.end, text=chunk.text,
               score=round(score, 4), page=chunk.page)


def chunk_meta(chunk: Chunk, sha256: str, n_chunks: int) -> dict[str, Any]:
    """The metadata stored with a chunk: its place in the source, and its file's hash and chunk count."""
    meta: dict[str, Any] = {"source": chunk.source, "start": chunk.start, "end": chunk.end,
                            "doc_sha256": sha256, "n_chunks": n_chunks}
    if chunk.page is not None:
        meta["page"] = chunk.page
    return meta


def from_meta(chunk_id: str, text: str, meta: Mapping[str, Any]) -> Record:
    """The inverse of ``chunk_meta``."""
    page = meta.get("page")
    chunk = Chunk(id=chunk_id, source=str(meta["source"]), start=int(meta["start"]), end=int(meta["end"]), text=text,
                  page=int(page) if page not in (None, "") else None)
    return Record(chunk, str(meta.get("doc_sha256", "")), int(meta.get("n_chunks", -1)))
