"""The keyword index's storage: an inverted index in one SQLite file (standard library).

Tables of ``<collection>.bm25.sqlite3``:

- ``meta``: the format, the collection, and the statistics BM25 needs: ``n`` (chunks) and
  ``total`` (their summed lengths in terms), changed in the same transaction as the postings;
- ``chunks``: one row per chunk: its id, place (source, start, end, page), length in terms
  and the ids of its terms (so that removing it edits exactly its postings);
- ``terms``: each term's id and document frequency;
- ``postings``: for each (term, block of ``BLOCK`` chunk rows) one blob of records
  (offset of the chunk row in the block, tf, chunk length). A query reads the blobs of its
  own terms only (one row per block); an update rewrites only the (term, block) blobs it
  touches: new chunks get new rows, so mostly the last block of each of their terms.

Records are little-endian uint16 offset, uint16 tf (capped at 65,535: chunks hold at most
~510 word pieces, so the cap never bites here) and uint32 chunk length: 8 bytes a posting.

Writes come in batches (``apply``: a dict chunk id -> ``Entry``, or None to remove), inside
the caller's transaction; nothing here commits. The file is in WAL mode: readers (another
process's queries) never wait for a writer and see the last committed state; a process
killed mid-transaction leaves the previous state (SQLite rolls the rest back on next open).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

BLOCK = 1024  # chunk rows per postings blob
PAGE = 10_000  # values per ``IN (...)``: SQLite refuses more than 32,766 variables in one statement
REC = [("o", "<u2"), ("tf", "<u2"), ("n", "<u4")]
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks(id INTEGER PRIMARY KEY, cid TEXT NOT NULL UNIQUE, source TEXT NOT NULL,
    begins INTEGER NOT NULL, ends INTEGER NOT NULL, page INTEGER, length INTEGER NOT NULL, terms BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS terms(id INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE, df INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS postings(term INTEGER NOT NULL, block INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (term, block)) WITHOUT ROWID;
"""


class Entry(NamedTuple):
    """A chunk to index: where it is, and its term counts."""

    source: str
    start: int
    end: int
    page: int | None
    tf: dict[str, int]


def connect(path: Path | str, fmt: str, collection: str) -> sqlite3.Connection:
    """Open (or create) the index file; ``sqlite3.DatabaseError`` or ``ValueError`` when it is not one of ``collection``."""
    db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: never corrupt; a power cut may undo the last commit
        db.execute("PRAGMA cache_size=-32000")  # 32 MB: a large rebuild does not spill mid-transaction
        db.executescript(SCHEMA)
        got = dict(db.execute("SELECT key, value FROM meta"))
        if not got:
            db.executemany("INSERT INTO meta VALUES (?, ?)",
                           [("format", fmt), ("collection", collection), ("n", 0), ("total", 0)])
        elif (got.get("format"), got.get("collection")) != (fmt, collection):
            raise ValueError(f"{path} is not a {fmt} index of {collection}")
    except BaseException:
        db.close()
        raise
    return db


@contextmanager
def snapshot(db: sqlite3.Connection) -> Iterator[None]:
    """Several reads that see one committed state (or the caller's open transaction)."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.execute("COMMIT")


def stats(db: sqlite3.Connection) -> tuple[int, int]:
    """(chunks, summed chunk lengths)."""
    got = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('n', 'total')"))
    return int(got["n"]), int(got["total"])


def pages(values: Sequence[Any]) -> Iterator[tuple[Sequence[Any], str]]:
    """``values`` in slices a statement can take, each with its ``?, ?, ...``."""
    for i in range(0, len(values), PAGE):
        part = values[i : i + PAGE]
        yield part, ",".join("?" * len(part))


def lookup(db: sqlite3.Connection, words: Sequence[str]) -> dict[str, tuple[int, int]]:
    """term -> (term id, document frequency), for the ``words`` the index holds."""
    out = {}
    for part, marks in pages(words):
        out.update((t, (i, df)) for t, i, df in db.execute(f"SELECT term, id, df FROM terms WHERE term IN ({marks})", part))
    return out


def read(db: sqlite3.Connection, term_id: int) -> tuple[Any, Any]:
    """A term's postings: (chunk rows, records) as numpy arrays."""
    import numpy as np

    got = db.execute("SELECT block, data FROM postings WHERE term = ?", (term_id,)).fetchall()
    recs = np.frombuffer(b"".join(d for _, d in got), dtype=REC)
    starts = np.array([b * BLOCK for b, _ in got], dtype=np.int64)
    counts = np.array([len(d) // 8 for _, d in got], dtype=np.int64)
    return np.repeat(starts, counts) + recs["o"], recs


def names(db: sqlite3.Connection, rows: Sequence[int]) -> dict[int, str]:
    """chunk row -> chunk id."""
    out: dict[int, str] = {}
    for part, marks in pages(list(rows)):
        out.update(db.execute(f"SELECT id, cid FROM chunks WHERE id IN ({marks})", part))
    return out


def rows_of(db: sqlite3.Connection, ids: Sequence[str]) -> dict[str, int]:
    """chunk id -> chunk row, for the ``ids`` the index holds."""
    out: dict[str, int] = {}
    for part, marks in pages(list(ids)):
        out.update(db.execute(f"SELECT cid, id FROM chunks WHERE cid IN ({marks})", part))
    return out


def apply(db: sqlite3.Connection, changes: dict[str, Entry | None]) -> None:
    """Write ``changes`` (chunk id -> what to index, None to remove) in the open transaction (begun if none is)."""
    import numpy as np

    if not changes:
        return
    if not db.in_transaction:
        db.execute("BEGIN IMMEDIATE")
    rec = np.dtype(REC)
    n, total = stats(db)
    first = (db.execute("SELECT max(id) FROM chunks").fetchone()[0] or 0) + 1  # rows from here on are new

    # 1. Every changed chunk the index holds goes (an add replaces): its postings, df and length.
    drop_t, drop_r, gone = [], [], []
    ids = list(changes)
    for part, marks in pages(ids):
        for row, length, blob in db.execute(f"SELECT id, length, terms FROM chunks WHERE cid IN ({marks})", part):
            t = np.frombuffer(blob, dtype="<u4")
            drop_t.append(t)
            drop_r.append(np.full(len(t), row, dtype=np.int64))
            gone.append((row,))
            n, total = n - 1, total - length
    db.executemany("DELETE FROM chunks WHERE id = ?", gone)
    drops: dict[tuple[int, int], Any] = {}
    if gone:
        dt, dr = np.concatenate(drop_t).astype(np.int64), np.concatenate(drop_r)
        for (t, b), sel in _groups(dt, dr // BLOCK):
            drops[(t, b)] = dr[sel] % BLOCK

    # 2. The new chunks get new rows; their terms ids (new terms new ids).
    adds = [(cid, e) for cid, e in changes.items() if e is not None]
    words = list({t for _, e in adds for t in e.tf})
    vocab = {t: i for t, (i, _) in lookup(db, words).items()}
    fresh = [t for t in words if t not in vocab]
    next_term = (db.execute("SELECT max(id) FROM terms").fetchone()[0] or 0) + 1
    vocab.update((t, i) for i, t in enumerate(fresh, next_term))
    db.executemany("INSERT INTO terms VALUES (?, ?, 0)", [(vocab[t], t) for t in fresh])
    rows, add_t, add_r, add_tf, lengths = [], [], [], [], []
    for row, (cid, e) in enumerate(adds, first):
        tids = [vocab[t] for t in e.tf]
        length = sum(e.tf.values())
        rows.append((row, cid, e.source, e.start, e.end, e.page, length, np.array(tids, dtype="<u4").tobytes()))
        add_t += tids
        add_tf += e.tf.values()
        add_r += [row] * len(tids)
        lengths.append(length)
        n, total = n + 1, total + length
    db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    # 3. Postings: blocks past the first new row's are new (inserted as they are); the others are
    #    read, stripped of removed chunks, extended and written back.
    at, ar = np.array(add_t, dtype=np.int64), np.array(add_r, dtype=np.int64)
    recs = np.empty(len(at), dtype=rec)
    recs["o"], recs["tf"] = ar % BLOCK, np.minimum(np.array(add_tf, dtype=np.int64), 65535)
    recs["n"] = np.array(lengths, dtype=np.int64)[ar - first] if len(ar) else 0
    new: list[tuple[int, int, bytes]] = []
    edit: dict[tuple[int, int], bytes] = {key: b"" for key in drops}
    for (t, b), sel in _groups(at, ar // BLOCK):
        data = recs[sel].tobytes()
        if b > first // BLOCK:
            new.append((t, b, data))
        else:
            edit[(t, b)] = data
    gone_keys = []
    for (t, b), data in edit.items():
        got = db.execute("SELECT data FROM postings WHERE term = ? AND block = ?", (t, b)).fetchone()
        old = got[0] if got else b""
        if (t, b) in drops:
            arr = np.frombuffer(old, dtype=rec)
            old = arr[~np.isin(arr["o"], drops[(t, b)])].tobytes()
        if old + data:
            new.append((t, b, old + data))
        else:
            gone_keys.append((t, b))
    db.executemany("INSERT OR REPLACE INTO postings VALUES (?, ?, ?)", new)
    db.executemany("DELETE FROM postings WHERE term = ? AND block = ?", gone_keys)

    # 4. Document frequencies and the collection statistics.
    plus = np.unique(at, return_counts=True)
    minus = np.unique(dt, return_counts=True) if gone else (np.empty(0, np.int64), np.empty(0, np.int64))
    db.executemany("UPDATE terms SET df = df + ? WHERE id = ?", zip(plus[1].tolist(), plus[0].tolist()))
    db.executemany("UPDATE terms SET df = df - ? WHERE id = ?", zip(minus[1].tolist(), minus[0].tolist()))
    db.executemany("DELETE FROM terms WHERE id = ? AND df <= 0", ((t,) for t in minus[0].tolist()))
    db.executemany("UPDATE meta SET value = ? WHERE key = ?", [(n, "n"), (total, "total")])


def _groups(terms: Any, blocks: Any) -> Iterator[tuple[tuple[int, int], Any]]:
    """((term, block), indices into the arrays) for each distinct pair, the indices in their original order."""
    import numpy as np

    if not len(terms):
        return
    order = np.lexsort((blocks, terms))  # stable: rows stay in order within a pair
    t, b = terms[order], blocks[order]
    cut = np.flatnonzero((t[1:] != t[:-1]) | (b[1:] != b[:-1])) + 1
    starts, ends = np.r_[0, cut].tolist(), np.r_[cut, len(t)].tolist()
    for s, e, tt, bb in zip(starts, ends, t[starts].tolist(), b[starts].tolist()):
        yield (tt, bb), order[s:e]
