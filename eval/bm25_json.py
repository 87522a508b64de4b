"""The keyword index as it was before issue 13: pure-Python BM25 in dicts, persisted as one JSON file.

Kept here (not in rag/) as the reference the SQLite index (rag/keyword.py) is measured and
checked against: eval/bench_keyword.py times both, and tests/test_keyword.py checks that
the new index gives the same scores (to 1e-9) and ranking as ``JsonBM25.search``/``scores``.
Unchanged from rag/keyword.py at 45d819d except the names, imports and the file helpers at the end.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.text import terms
from rag.types import Chunk

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


class JsonBM25:
    """BM25 over a set of chunks, updatable in place.

    >>> ix = JsonBM25()
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
    def from_json(cls, data: dict[str, Any], collection: str) -> "JsonBM25":
        if data.get("format") != FORMAT or data.get("collection") != collection:
            raise ValueError(f"not a {FORMAT} index of {collection}")
        ix = cls()
        for cid, (source, start, end, page, tf) in data["chunks"].items():
            ix._put(cid, Entry(source, int(start), int(end), page, {str(t): int(n) for t, n in tf.items()}, sum(tf.values())))
        return ix



def save(ix: JsonBM25, path: Path, collection: str) -> None:
    """Write the index as the old ``KeywordFile.save`` did (temp file + fsync + rename)."""
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(ix.to_json(collection), f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: Path, collection: str) -> JsonBM25:
    """Read the index as the old ``KeywordFile._read`` did."""
    return JsonBM25.from_json(json.loads(path.read_text(encoding="utf-8")), collection)
