"""The keyword index: BM25 over the same chunks as the vector store, persisted beside it.

Dense MiniLM vectors miss exact rare terms (a name, a number, a product code) and BM25
misses paraphrases; the hybrid retriever (rag/retrieve.py) needs both. This module is
pure Python on purpose: at this project's corpus sizes (a few thousand chunks) scoring
a query over postings takes ~1-3 ms, so a dependency (bm25s, numpy sparse matrices)
would buy nothing measurable.

Queries and documents go through the same ``rag.text.terms()`` (no stemming: measured
worse, eval/results/tuning.md).

Scores are on a known scale: ``BM25(q, d) / BM25_max(q)`` in 0..1, where the bound is
what a document would get with every query term present infinitely often (each term
contributes at most ``idf * (k1 + 1)``). Query words the corpus never uses count in the
bound with the largest idf, so a question about things the documents never mention
scores low: the refusal gate wants exactly that.

The file is ``<collection>.bm25.json`` in the store folder: one entry per chunk id with
its source, span and term counts (the text itself stays in the vector store).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .store import VectorStore, chunk_ids
from .text import terms
from .types import Chunk

FORMAT = "rag-bm25/1"
# Okapi parameters. Lucene's defaults (1.2, 0.75) against (0.9, 0.4) of Anserini made
# no difference past the third decimal on the benchmarks (eval/results/tuning.md).
K1, B = 1.2, 0.75


@dataclass(frozen=True)
class Entry:
    """One chunk in the keyword index: where it is, and its term counts."""

    source: str
    start: int
    end: int
    page: int | None
    tf: dict[str, int]
    length: int


class KeywordIndex:
    """BM25 over a set of chunks, updatable in place.

    >>> ix = KeywordIndex()
    >>> ix.add(Chunk("a", "x.txt", 0, 25, "Talks were held in Miami."))
    >>> ix.add(Chunk("b", "x.txt", 26, 51, "The envoy flew to Moscow."))
    >>> [(i, round(s, 3)) for i, s in ix.search("Where were the talks held?", 2)]
    [('a', 0.455)]
    """

    def __init__(self, analyzer: Callable[[str], list[str]] = terms) -> None:
        self.analyzer = analyzer  # text -> terms, the same for chunks and questions
        self.entries: dict[str, Entry] = {}
        self.postings: dict[str, dict[str, int]] = {}
        self.total_length = 0

    def __len__(self) -> int:
        return len(self.entries)

    def ids(self) -> set[str]:
        return set(self.entries)

    def add(self, chunk: Chunk) -> None:
        """Index (or re-index) one chunk."""
        tf = dict(Counter(self.analyzer(chunk.text)))
        self._put(chunk.id, Entry(chunk.source, chunk.start, chunk.end, chunk.page, tf, sum(tf.values())))

    def _put(self, chunk_id: str, entry: Entry) -> None:
        self.remove([chunk_id])
        self.entries[chunk_id] = entry
        self.total_length += entry.length
        for t, n in entry.tf.items():
            self.postings.setdefault(t, {})[chunk_id] = n

    def remove(self, ids: Iterable[str]) -> None:
        for chunk_id in ids:
            entry = self.entries.pop(chunk_id, None)
            if entry is None:
                continue
            self.total_length -= entry.length
            for t in entry.tf:
                post = self.postings[t]
                del post[chunk_id]
                if not post:
                    del self.postings[t]

    def idf(self, term: str) -> float:
        """Lucene's BM25 idf, always positive; a term no chunk holds gets the largest value."""
        n, df = len(self.entries), len(self.postings.get(term, ()))
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def scores(self, question: str, only: Iterable[str] | None = None) -> dict[str, float]:
        """Normalised BM25 (0..1) of every chunk sharing a term with ``question`` (or of ``only``)."""
        qterms = set(self.analyzer(question))
        if not qterms or not self.entries:
            return {}
        avg = self.total_length / len(self.entries) or 1.0
        bound = sum(self.idf(t) for t in qterms) * (K1 + 1)
        wanted = set(only) if only is not None else None
        out: dict[str, float] = {}
        for t in qterms:
            post = self.postings.get(t)
            if not post:
                continue
            idf = self.idf(t)
            items = post.items() if wanted is None else ((i, post[i]) for i in wanted if i in post)
            for cid, tf in items:
                norm = K1 * (1 - B + B * self.entries[cid].length / avg)
                out[cid] = out.get(cid, 0.0) + idf * tf * (K1 + 1) / (tf + norm)
        return {cid: s / bound for cid, s in out.items()}

    def search(self, question: str, n: int) -> list[tuple[str, float]]:
        """The ``n`` best (chunk id, score) pairs, best first; ties broken by id for determinism."""
        got = self.scores(question)
        return sorted(got.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    # --- persistence ---
    def to_json(self, collection: str) -> dict[str, Any]:
        return {"format": FORMAT, "collection": collection,
                "chunks": {cid: [e.source, e.start, e.end, e.page, e.tf] for cid, e in self.entries.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any], collection: str) -> "KeywordIndex":
        if data.get("format") != FORMAT or data.get("collection") != collection:
            raise ValueError(f"not a {FORMAT} index of {collection}")
        ix = cls()
        for cid, (source, start, end, page, tf) in data["chunks"].items():
            ix._put(cid, Entry(source, int(start), int(end), page, {str(t): int(n) for t, n in tf.items()}, sum(tf.values())))
        return ix


class KeywordFile:
    """The keyword index of one vector store's collection, kept in a file in its ``local_dir``.

    Loaded once per process and reloaded only when the file's mtime or size changed
    (another process ingested): one ``os.stat`` per query, a few microseconds. When the
    file is missing, unreadable or holds other ids than the store, it is rebuilt from the
    store's chunks, which hold every chunk's text and place.
    """

    def __init__(self, folder: Path, collection: str) -> None:
        self.path = Path(folder) / f"{collection}.bm25.json"
        self.collection = collection
        self._index: KeywordIndex | None = None
        self._stamp: tuple[int, int] | None = None
        self.lock = threading.RLock()
        self.rebuilds = 0  # how often it was repaired from the store (tests and logs read it)
        self.dirty = False  # changed in memory since the last save (set by rag.index.sync)

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

    def get(self, store: VectorStore) -> KeywordIndex:
        """The index, in step with ``store`` as of the last load."""
        with self.lock:
            stamp = self._file_stamp()
            if self._index is None or stamp != self._stamp:
                self._index = self._read()
                self._stamp = stamp
                self.repair(store)
            return self._index

    def _read(self) -> KeywordIndex:
        try:
            return KeywordIndex.from_json(json.loads(self.path.read_text(encoding="utf-8")), self.collection)
        except FileNotFoundError:
            return KeywordIndex()
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return KeywordIndex()  # corrupt or another format: repair() rebuilds it from the store

    def repair(self, store: VectorStore) -> bool:
        """Make the index hold exactly the store's chunks; save and return True when it changed."""
        with self.lock:
            ix = self._index if self._index is not None else self._read()
            self._index = ix
            stored = chunk_ids(store)
            extra, missing = ix.ids() - stored, stored - ix.ids()
            if not extra and not missing:
                return False
            ix.remove(extra)
            ids = sorted(missing)
            for i in range(0, len(ids), 1000):
                for chunk, _ in store.get(ids[i : i + 1000]):
                    ix.add(chunk)
            self.rebuilds += 1
            self.save()
            return True

    def save(self) -> None:
        """Write the index atomically (temp file + rename): a crash leaves the old file or the new."""
        with self.lock:
            if self._index is None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(self._index.to_json(self.collection), f, separators=(",", ":"))
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self._stamp = self._file_stamp()
            self.dirty = False
