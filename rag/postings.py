"""The keyword index's storage: an inverted index in one SQLite file (standard library).

Tables of ``<collection>.bm25.sqlite3``:

- ``meta``: the format, the collection, and the statistics BM25 needs: ``n`` (chunks) and
  ``total`` (their summed lengths in terms), changed in the same transaction as the postings;
- ``chunks``: one row per chunk: its id, its length in terms and the ids of its terms
  (``pack``: delta-coded, ~2.5 bytes a term; so that removing it edits exactly its postings);
- ``terms``: each term's id and document frequency;
- ``postings``: for each (term, block of ``BLOCK`` chunk rows) one blob of records: the
  chunk row's offset in the block and the term's count in it (little-endian uint16 each,
  the count capped at 65,535: chunks hold at most ~510 word pieces, so the cap never bites
  here): 4 bytes a posting;
- ``lengths``: for each block, its chunks' lengths (uint32 each).

A query reads the postings blobs of its own terms (one row per block they occur in) and
the lengths of those blocks. An update rewrites only the (term, block) blobs it touches:
new chunks get new rows, so mostly the last block of each of their terms.

Writes come in batches (``apply``: a dict chunk id -> term counts, or None to remove),
inside the caller's transaction; nothing here commits. The file is in WAL mode: readers
(another process's queries) never wait for a writer and see the last committed state; a
process killed mid-transaction leaves the previous state (SQLite discards the rest).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any

BLOCK = 1024  # chunk rows per postings blob
PAGE = 10_000  # values per ``IN (...)``: SQLite refuses more than 32,766 variables in one statement
REC = [("o", "<u2"), ("tf", "<u2")]
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks(id INTEGER PRIMARY KEY, cid TEXT NOT NULL UNIQUE, length INTEGER NOT NULL,
    terms BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS lengths(block INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS terms(id INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE, df INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS postings(term INTEGER NOT NULL, block INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (term, block)) WITHOUT ROWID;
"""


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


def read(db: sqlite3.Connection, term_ids: Sequence[int]) -> list[tuple[Any, Any, Any]]:
    """Each term's postings, as numpy arrays: (chunk rows, tf, chunk lengths)."""
    import numpy as np

    got = [db.execute("SELECT block, data FROM postings WHERE term = ?", (t,)).fetchall() for t in term_ids]
    blocks = sorted({b for rows in got for b, _ in rows})
    lengths = np.zeros((blocks[-1] + 1 if blocks else 0) * BLOCK, dtype=np.int64)
    for part, marks in pages(blocks):
        for b, d in db.execute(f"SELECT block, data FROM lengths WHERE block IN ({marks})", part):
            lengths[b * BLOCK : (b + 1) * BLOCK] = np.frombuffer(d, dtype="<u4")
    out = []
    for rows in got:
        recs = np.frombuffer(b"".join(d for _, d in rows), dtype=REC)
        starts = np.array([b * BLOCK for b, _ in rows], dtype=np.int64)
        at = np.repeat(starts, [len(d) // 4 for _, d in rows]) + recs["o"]
        out.append((at, recs["tf"], lengths[at]))
    return out


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


def apply(db: sqlite3.Connection, changes: dict[str, dict[str, int] | None]) -> None:
    """Write ``changes`` (chunk id -> term counts, None to remove) in the open transaction (begun if none is)."""
    import numpy as np

    if not changes:
        return
    if not db.in_transaction:
        db.execute("BEGIN IMMEDIATE")
    n, total = stats(db)
    first = (db.execute("SELECT max(id) FROM chunks").fetchone()[0] or 0) + 1  # rows from here on are new

    # 1. Every changed chunk the index holds goes (an add replaces it): its postings, df and length.
    gone, blobs = [], []
    for part, marks in pages(list(changes)):
        for row, length, blob in db.execute(f"SELECT id, length, terms FROM chunks WHERE cid IN ({marks})", part):
            gone.append((row,))
            blobs.append(blob)
            n, total = n - 1, total - length
    db.executemany("DELETE FROM chunks WHERE id = ?", gone)
    held = [unpack(b) for b in blobs]
    dt = np.concatenate([np.empty(0, dtype=np.int64), *held])
    dr = np.repeat(np.array([r for (r,) in gone], dtype=np.int64), [len(h) for h in held])

    # 2. The new chunks get new rows, their terms ids (new terms new ids).
    adds = [(cid, tf) for cid, tf in changes.items() if tf is not None]
    words = list(chain.from_iterable(tf for _, tf in adds))
    distinct = list(dict.fromkeys(words))
    vocab = {t: i for t, (i, _) in lookup(db, distinct).items()}
    fresh = [t for t in distinct if t not in vocab]
    next_term = (db.execute("SELECT max(id) FROM terms").fetchone()[0] or 0) + 1
    vocab.update(zip(fresh, range(next_term, next_term + len(fresh))))
    db.executemany("INSERT INTO terms VALUES (?, ?, 0)", zip(range(next_term, next_term + len(fresh)), fresh))
    at = np.fromiter(map(vocab.__getitem__, words), dtype=np.int64, count=len(words))
    tfs = np.fromiter(chain.from_iterable(tf.values() for _, tf in adds), dtype=np.int64, count=len(words))
    sizes = np.fromiter(map(len, (tf for _, tf in adds)), dtype=np.int64, count=len(adds))
    ends = np.cumsum(sizes)
    summed = np.r_[0, np.cumsum(tfs)]
    lengths = summed[ends] - summed[ends - sizes]
    ar = np.repeat(np.arange(first, first + len(adds), dtype=np.int64), sizes)
    db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?)", zip(
        range(first, first + len(adds)), (cid for cid, _ in adds), lengths.tolist(), pack(at, sizes)))
    n, total = n + len(adds), total + int(lengths.sum())
    _lengths(db, first, lengths)

    # 3. Postings. The blobs that may hold something already (those of removed chunks, and the
    #    first new row's block) are read; their records, less the removed chunks', and the new
    #    ones are regrouped by (term, block) and written back. Later blocks are all new.
    edit = set(zip(dt.tolist(), (dr // BLOCK).tolist()))
    edit.update((t, first // BLOCK) for t in np.unique(at[ar // BLOCK == first // BLOCK]).tolist())
    ot, orow, otf = _read_keys(db, edit)
    keep = ~np.isin(ot << 32 | orow, dt << 32 | dr)
    t = np.concatenate([ot[keep], at])
    r = np.concatenate([orow[keep], ar])
    recs = np.empty(len(t), dtype=REC)
    recs["o"], recs["tf"] = r % BLOCK, np.minimum(np.concatenate([otf[keep], tfs]), 65535)
    order = np.lexsort((r, r // BLOCK, t))
    t, b, data = t[order], r[order] // BLOCK, recs[order].tobytes()
    cut = np.flatnonzero((t[1:] != t[:-1]) | (b[1:] != b[:-1])) + 1
    starts, stops = (np.r_[0, cut] * 4).tolist(), (np.r_[cut, len(t)] * 4).tolist()
    keys = list(zip(t[np.r_[0, cut]].tolist(), b[np.r_[0, cut]].tolist())) if len(t) else []
    db.executemany("INSERT OR REPLACE INTO postings VALUES (?, ?, ?)",
                   ((k[0], k[1], data[s:e]) for k, s, e in zip(keys, starts, stops)))
    db.executemany("DELETE FROM postings WHERE term = ? AND block = ?", edit - set(keys))

    # 4. Document frequencies and the collection statistics.
    plus, minus = np.unique(at, return_counts=True), np.unique(dt, return_counts=True)
    db.executemany("UPDATE terms SET df = df + ? WHERE id = ?", zip(plus[1].tolist(), plus[0].tolist()))
    db.executemany("UPDATE terms SET df = df - ? WHERE id = ?", zip(minus[1].tolist(), minus[0].tolist()))
    db.executemany("DELETE FROM terms WHERE id = ? AND df <= 0", ((t,) for t in minus[0].tolist()))
    db.executemany("UPDATE meta SET value = ? WHERE key = ?", [(n, "n"), (total, "total")])


def pack(terms: Any, sizes: Any) -> list[bytes]:
    """Each chunk's term ids (``sizes[i]`` of them in turn in ``terms``) as bytes: sorted, the first as
    uint32, then the gaps between them in 2, 3 or 4 bytes each (the fewest that hold the chunk's largest
    gap; the first byte says which): ~2.5 bytes a term instead of 4.

    >>> import numpy as np
    >>> [unpack(b).tolist() for b in pack(np.array([7, 3, 70000, 5, 200000, 9]), np.array([3, 0, 2, 1]))]
    [[3, 7, 70000], [], [5, 200000], [9]]
    """
    import numpy as np

    starts = np.cumsum(sizes) - sizes
    order = np.lexsort((terms, np.repeat(np.arange(len(sizes)), sizes)))
    ids = terms[order]
    gaps = np.diff(ids, prepend=0)
    held = starts[sizes > 0]
    gaps[held] = 0  # the first id is stored whole
    width = np.full(len(sizes), 2)
    if len(held):
        top = np.maximum.reduceat(gaps, held)
        width[sizes > 0] = np.where(top <= 0xFFFF, 2, np.where(top <= 0xFFFFFF, 3, 4))
    raw = gaps.astype("<u4").view(np.uint8).reshape(-1, 4)
    enc = {w: raw[:, :w].tobytes() for w in (2, 3, 4)}
    firsts = ids.astype("<u4").tobytes()
    return [b"" if not n else bytes([w]) + firsts[4 * a : 4 * a + 4] + enc[w][w * (a + 1) : w * (a + n)]
            for a, n, w in zip(starts.tolist(), sizes.tolist(), width.tolist())]


def unpack(blob: bytes) -> Any:
    """The inverse of ``pack`` for one chunk: its term ids, sorted."""
    import numpy as np

    if not blob:
        return np.empty(0, dtype=np.int64)
    w = blob[0]
    raw = np.zeros(((len(blob) - 5) // w, 4), dtype=np.uint8)
    raw[:, :w] = np.frombuffer(blob, dtype=np.uint8, offset=5).reshape(-1, w)
    return np.cumsum(np.r_[int.from_bytes(blob[1:5], "little"), raw.view("<u4").ravel()], dtype=np.int64)


def _lengths(db: sqlite3.Connection, first: int, lengths: Any) -> None:
    """Record the lengths of the new chunk rows ``first``, ``first + 1``, ... in their blocks."""
    import numpy as np

    rows = np.arange(first, first + len(lengths))
    for b in np.unique(rows // BLOCK).tolist():
        got = db.execute("SELECT data FROM lengths WHERE block = ?", (b,)).fetchone()
        arr = np.frombuffer(got[0], dtype="<u4").copy() if got else np.zeros(BLOCK, dtype="<u4")
        sel = rows // BLOCK == b
        arr[rows[sel] % BLOCK] = lengths[sel]
        db.execute("INSERT OR REPLACE INTO lengths VALUES (?, ?)", (b, arr.tobytes()))


def _read_keys(db: sqlite3.Connection, keys: set[tuple[int, int]]) -> tuple[Any, Any, Any]:
    """The stored postings of ``keys`` (term, block), as arrays (terms, chunk rows, tf); a few statements a block."""
    import numpy as np

    by_block: dict[int, list[int]] = {}
    for t, b in keys:
        by_block.setdefault(b, []).append(t)
    ts, bs, sizes, blobs = [], [], [], []
    for b, terms in by_block.items():
        for part, marks in pages(terms):
            for t, d in db.execute(f"SELECT term, data FROM postings WHERE block = ? AND term IN ({marks})", (b, *part)):
                ts.append(t)
                bs.append(b)
                sizes.append(len(d) // 4)
                blobs.append(d)
    recs = np.frombuffer(b"".join(blobs), dtype=REC)
    rows = np.repeat(np.array(bs, dtype=np.int64) * BLOCK, sizes) + recs["o"]
    return np.repeat(np.array(ts, dtype=np.int64), sizes), rows, recs["tf"].astype(np.int64)
