"""An in-memory ``VectorStore``: numpy vectors and exact cosine search, nothing on disk.

For tests (the fast tier runs the store contract tests on it, the full tier on Chroma)
and for throwaway indexes, e.g. in a notebook: ``Settings(vector_store="memory")``. One
store per index name and folder in a process, so ``rag.ingest`` and ``rag.ask`` with the
same settings meet the same chunks; they are gone when the process ends (the keyword
file and the ingest lock still live in ``Settings.store``, and the keyword file is
repaired to the empty store by the next process). Exact search is a matrix-vector
product: ~1 ms per query at 10k chunks, fine for what it is for.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .store import Record, hit
from .types import Chunk, Hit

if TYPE_CHECKING:
    import numpy as np

    from .settings import Settings

_shared: dict[tuple[str, str], MemoryStore] = {}
_shared_lock = threading.Lock()


class MemoryStore:
    """Chunks, their records and vectors in dicts; a matrix of the vectors rebuilt after writes."""

    location = "memory"

    def __init__(self, name: str, local_dir: Path) -> None:
        self.name = name
        self.local_dir = Path(local_dir)
        self._rows: dict[str, tuple[Record, list[float]]] = {}
        self._meta: dict[str, Any] = {}
        self._matrix: tuple[list[str], np.ndarray] | None = None
        self._lock = threading.RLock()

    @classmethod
    def build(cls, settings: Settings) -> MemoryStore:
        """The process's store for this index (created empty on first use)."""
        key = (str(Path(settings.store).resolve()), settings.collection)
        with _shared_lock:
            if key not in _shared:
                _shared[key] = cls(settings.collection, settings.store)
            return _shared[key]

    def count(self) -> int:
        return len(self._rows)

    def records(self, text: bool = False) -> Iterator[Record]:
        with self._lock:
            rows = [r for r, _ in self._rows.values()]
        for r in rows:
            yield r if text else replace(r, chunk=replace(r.chunk, text=""))

    def get(self, ids: Sequence[str], vectors: bool = False) -> list[tuple[Chunk, list[float] | None]]:
        with self._lock:
            return [(self._rows[i][0].chunk, list(self._rows[i][1]) if vectors else None) for i in ids if i in self._rows]

    def search(self, vector: Sequence[float], n: int) -> list[Hit]:
        import numpy as np

        with self._lock:
            if not self._rows or n < 1:
                return []  # before the matrix: an empty one cannot be shaped (reshape(0, -1) raises)
            if self._matrix is None:
                ids = list(self._rows)
                self._matrix = (ids, np.array([self._rows[i][1] for i in ids], dtype=np.float32).reshape(len(ids), -1))
            ids, matrix = self._matrix
            cos = matrix @ np.asarray(vector, dtype=np.float32)
            best = np.argsort(-cos, kind="stable")[:n]
            return [hit(self._rows[ids[j]][0].chunk, float(cos[j])) for j in best]

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]], sha256: Mapping[str, str],
               totals: Mapping[str, int] | None = None) -> None:
        n_chunks = {**Counter(c.source for c in chunks), **(totals or {})}
        with self._lock:
            for c, v in zip(chunks, vectors, strict=True):
                self._rows[c.id] = (Record(c, sha256[c.source], n_chunks[c.source]), [float(x) for x in v])
            self._matrix = None

    def delete(self, ids: set[str] | frozenset[str]) -> None:
        with self._lock:
            for i in ids:
                self._rows.pop(i, None)
            self._matrix = None

    def metadata(self) -> dict[str, Any]:
        return dict(self._meta)

    def mark_synced(self, corpus: str, changed: bool) -> datetime:
        now = datetime.now(timezone.utc)
        self._meta.update(last_sync=now.isoformat(timespec="seconds"), corpus=corpus)
        if changed or "sync_id" not in self._meta:
            self._meta["sync_id"] = uuid.uuid4().hex
        return now

    def refresh(self) -> bool:
        return False  # no other process can write here

    def guard(self) -> Any:
        return nullcontext()
