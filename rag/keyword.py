"""The keyword index: BM25 over the same chunks as the vector store, in a SQLite file beside it.

Dense MiniLM vectors miss exact rare terms (a name, a number, a product code) and BM25
misses paraphrases; the hybrid retriever (rag/retrieve.py) needs both.

Queries and documents go through the same ``rag.text.terms()`` (no stemming: measured
worse, eval/results/tuning.md).

Scores are on a known scale: ``BM25(q, d) / BM25_max(q)`` in 0..1, where the bound is
what a document would get with every query term present infinitely often (each term
contributes at most ``idf * (k1 + 1)``). Query words the corpus never uses count in the
bound with the largest idf, so a question about things the documents never mention
scores low: the refusal gate wants exactly that. The arithmetic is the pure-Python
implementation's, operation for operation (kept as eval/bm25_json.py): the same scores to
the last bit and the same ranking (tests/test_keyword.py).

Storage (rag/postings.py): ``<collection>.bm25.sqlite3`` in the store folder, an inverted
index read per query term, never loaded whole: a query reads the collection statistics,
its terms' document frequencies and their postings, scores them with numpy, and looks up
the ids of only the chunks it returns. Changes are collected in memory (``add``,
``remove``) and written in one transaction by ``commit``: rag/index.py commits after each
batch of files it wrote to the vector store, so a crash loses at most the batch in flight,
which ``KeywordFile.repair`` restores from the store's texts. The file vouches for the
store state it matches (sync id and count), so opening it reads every stored id only when
that changed or a sync was killed part-way. A ``<collection>.bm25.json`` of the previous
format is converted on first open (term counts copied), then deleted.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import postings
from .store import VectorStore, chunk_ids
from .text import terms
from .types import Chunk

FORMAT = "rag-bm25-sqlite/1"
LEGACY = "rag-bm25/1"  # the JSON file of before (eval/bm25_json.py)
# Okapi parameters. Lucene's defaults (1.2, 0.75) against (0.9, 0.4) of Anserini made
# no difference past the third decimal on the benchmarks (eval/results/tuning.md).
K1, B = 1.2, 0.75
WRITE_EVERY = 5000  # a rebuild writes (in its one transaction) every this many chunks, to bound memory


class KeywordIndex:
    """BM25 over a set of chunks in a SQLite database (in memory unless given one).

    >>> ix = KeywordIndex()
    >>> ix.add(Chunk("a", "x.txt", 0, 25, "Talks were held in Miami."))
    >>> ix.add(Chunk("b", "x.txt", 26, 51, "The envoy flew to Moscow."))
    >>> ix.commit()
    >>> [(i, round(s, 3)) for i, s in ix.search("Where were the talks held?", 2)]
    [('a', 0.455)]
    """

    def __init__(self, analyzer: Callable[[str], list[str]] = terms, db: sqlite3.Connection | None = None) -> None:
        self.analyzer = analyzer  # text -> terms, the same for chunks and questions
        self.db = db if db is not None else postings.connect(":memory:", FORMAT, "")
        self.pending: dict[str, dict[str, int] | None] = {}  # not written yet: chunk id -> term counts, None to remove

    # --- what it holds (as committed, or written in the open transaction) ---
    def __len__(self) -> int:
        return postings.stats(self.db)[0]

    def ids(self) -> set[str]:
        return {cid for (cid,) in self.db.execute("SELECT cid FROM chunks")}

    def df(self, term: str) -> int:
        """How many chunks hold ``term`` (0 for a term the index never saw)."""
        return postings.lookup(self.db, [term]).get(term, (0, 0))[1]

    # --- changes ---
    def add(self, chunk: Chunk) -> None:
        """Index (or re-index) one chunk, at the next ``commit``."""
        self.pending[chunk.id] = dict(Counter(self.analyzer(chunk.text)))

    def remove(self, ids: Iterable[str]) -> None:
        """Drop chunks (unknown ids are ignored), at the next ``commit``."""
        self.pending.update((cid, None) for cid in ids)

    def write(self) -> None:
        """Write the pending changes into the open transaction (begun if none is), not committing it."""
        changes, self.pending = self.pending, {}
        postings.apply(self.db, changes)

    def commit(self) -> None:
        """Write the pending changes and commit them at once: all of them or (on any error) none."""
        try:
            self.write()
            if self.db.in_transaction:
                self.db.execute("COMMIT")
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Forget the pending changes and roll back what was written of them."""
        self.pending = {}
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    # --- scoring ---
    def _match(self, question: str, top: int | None, also: Iterable[str]) -> dict[str, float]:
        """Normalised BM25 of the ``top`` best chunks (all when None; ties at the cut kept) and of ``also``."""
        import numpy as np

        qterms = set(self.analyzer(question))
        if not qterms:
            return {}
        with postings.snapshot(self.db):
            n, total = postings.stats(self.db)
            if not n:
                return {}
            found = postings.lookup(self.db, list(qterms))
            avg = total / n or 1.0
            idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t in qterms for df in [found.get(t, (0, 0))[1]]}
            bound = sum(idf[t] for t in qterms) * (K1 + 1)
            held = [t for t in qterms if t in found]  # the order the old per-chunk sums used: the same additions
            rows, parts = [], []
            for t, (r, tf, lengths) in zip(held, postings.read(self.db, [found[t][0] for t in held])):
                tf = tf.astype(np.float64)
                norm = K1 * (1 - B + B * lengths.astype(np.float64) / avg)
                rows.append(r)
                parts.append(idf[t] * tf * (K1 + 1) / (tf + norm))
            if not rows:
                return {}
            sums = np.bincount(np.concatenate(rows), weights=np.concatenate(parts))
            hit = np.flatnonzero(sums)  # every posting adds a positive amount
            score = sums[hit] / bound
            keep = np.ones(len(hit), dtype=bool)
            if top is not None and len(hit) > top:
                cut = np.partition(score, len(score) - top)[len(score) - top] if top > 0 else np.inf
                keep = score >= cut
            want = postings.rows_of(self.db, list(also)) if also else {}
            if want:
                keep |= np.isin(hit, np.fromiter(want.values(), dtype=np.int64))
            hit, score = hit[keep].tolist(), score[keep].tolist()
            name = postings.names(self.db, hit)
        return {name[r]: s for r, s in zip(hit, score) if r in name}

    def scores(self, question: str, only: Iterable[str] | None = None) -> dict[str, float]:
        """Normalised BM25 (0..1) of every chunk sharing a term with ``question`` (or of ``only``)."""
        if only is None:
            return self._match(question, None, ())
        wanted = set(only)
        return {cid: s for cid, s in self._match(question, 0, wanted).items() if cid in wanted}

    def top(self, question: str, n: int, also: Iterable[str] = ()) -> dict[str, float]:
        """The scores of the ``n`` best chunks (with any tied at the cut) and of those of ``also`` that match."""
        return self._match(question, n, also)

    def search(self, question: str, n: int) -> list[tuple[str, float]]:
        """The ``n`` best (chunk id, score) pairs, best first; ties broken by id for determinism."""
        return sorted(self.top(question, n).items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    def close(self) -> None:
        self.discard()
        self.db.close()


def _stamp(store: VectorStore) -> str:
    """The store's state as the keyword file vouches for it: its last sync's id and chunk count ('': unknown)."""
    sync_id = str(store.metadata().get("sync_id", ""))
    return f"{sync_id}:{store.count()}" if sync_id else ""


class KeywordFile:
    """The keyword index of one vector store's collection, in a file in its ``local_dir``: opened once per
    process (again when the file was replaced: one ``os.stat`` per query); a file of another collection is
    replaced, and the index is checked to hold exactly the store's chunks (rebuilt from their texts if not)."""

    def __init__(self, folder: Path, collection: str) -> None:
        self.path = Path(folder) / f"{collection}.bm25.sqlite3"
        self.legacy = Path(folder) / f"{collection}.bm25.json"
        self.collection = collection
        self._index: KeywordIndex | None = None
        self._ident: tuple[int, int] | None = None
        self.lock = threading.RLock()
        self.rebuilds = 0  # how often it was repaired from the store (tests and logs read it)

    @property
    def dirty(self) -> bool:
        """Changed in memory since the last commit."""
        return self._index is not None and bool(self._index.pending)

    def _file_ident(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def get(self, store: VectorStore) -> KeywordIndex:
        """The index, opened (and repaired to ``store``) on first use or when its file was replaced."""
        with self.lock:
            if self._index is None or self._file_ident() != self._ident:
                self.open()
                self.check(store)
            assert self._index is not None
            return self._index

    def check(self, store: VectorStore) -> bool:
        """``repair`` unless vouched for at the store's state (reading 100k ids takes ~17 s); True if it changed."""
        with self.lock:
            ix = self._index if self._index is not None else self.open()
            stamp = _stamp(store)
            row = ix.db.execute("SELECT value FROM meta WHERE key = 'verified'").fetchone()
            return self.repair(store) if not stamp or not row or row[0] != stamp else False

    def vouch(self, store: VectorStore, exact: bool = True) -> None:
        """Record that the index matches ``store`` now, or (``exact=False``, before a sync writes) that it may not."""
        with self.lock:
            ix = self._index if self._index is not None else self.open()
            ix.db.execute("INSERT OR REPLACE INTO meta VALUES ('verified', ?)", (_stamp(store) if exact else "",))

    def open(self) -> KeywordIndex:
        """(Re)open the file without repairing it; one that is corrupt or of another collection is started afresh."""
        with self.lock:
            self.close()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                if not self.path.exists():
                    self._unlink()  # a journal left by a deleted file must not be applied to the new one
                db = postings.connect(self.path, FORMAT, self.collection)
            except (sqlite3.DatabaseError, ValueError):
                self._unlink()
                db = postings.connect(self.path, FORMAT, self.collection)
            self._index = KeywordIndex(db=db)
            self._ident = self._file_ident()
            if self.legacy.exists():
                self._migrate(self._index)
            return self._index

    def _unlink(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def _migrate(self, ix: KeywordIndex) -> None:
        """Copy the JSON index of before into the empty file, then delete the JSON (unreadable: just delete it)."""
        if not len(ix):
            try:
                data: dict[str, Any] = json.loads(self.legacy.read_text(encoding="utf-8"))
                if data.get("format") != LEGACY or data.get("collection") != self.collection:
                    raise ValueError(f"not a {LEGACY} index of {self.collection}")
                for cid, (_source, _start, _end, _page, tf) in data["chunks"].items():
                    ix.pending[str(cid)] = {str(t): int(c) for t, c in tf.items()}
                    if len(ix.pending) >= WRITE_EVERY:
                        ix.write()
                ix.commit()
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                ix.discard()  # repair() rebuilds it from the store
        self.legacy.unlink(missing_ok=True)

    def repair(self, store: VectorStore) -> bool:
        """Make the index hold exactly the store's chunks, in one transaction; True when it changed."""
        with self.lock:
            ix = self._index if self._index is not None else self.open()
            stored = chunk_ids(store)
            have = ix.ids()
            extra, missing = have - stored, stored - have
            if not extra and not missing:
                self.vouch(store)
                return False
            ix.remove(extra)
            ids = sorted(missing)
            for i in range(0, len(ids), 1000):
                for chunk, _ in store.get(ids[i : i + 1000]):
                    ix.add(chunk)
                if len(ix.pending) >= WRITE_EVERY:
                    ix.write()
            ix.commit()
            self.vouch(store)
            self.rebuilds += 1
            return True

    def save(self) -> None:
        """Commit the changes made since the last commit, in one transaction (all or none of them)."""
        with self.lock:
            if self._index is not None:
                self._index.commit()

    def discard(self) -> None:
        """Forget uncommitted changes (of a sync that failed)."""
        with self.lock:
            if self._index is not None:
                self._index.discard()

    def close(self) -> None:
        with self.lock:
            if self._index is not None:
                self._index.close()
            self._index, self._ident = None, None
