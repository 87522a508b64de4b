"""Hybrid retrieval latency at scale: the real question encoder, a dense search, the SQLite keyword index, fusion.

    python eval/bench_hybrid.py                  # 100,000 chunks, ~4 min on 2 busy cores
    python eval/bench_hybrid.py --chunks 10000

``HybridRetriever.retrieve`` (rag/retrieve.py) as the app calls it, over the chunks of
eval/bench_keyword.py and its 200 real questions, with the packaged MiniLM encoding each
question. The dense side is a stand-in: random unit vectors searched exactly with numpy
(one matrix product and a partial sort over every vector), so its hits mean nothing but cost
about what Chroma's HNSW search costs (a few ms at this size; not measured here: building a
100k HNSW graph takes many minutes). Reports p50/p95 of the whole call and of its parts:
question embedding, dense search, keyword query (``KeywordIndex.top``), reading the
keyword-only candidates' vectors. Target: p95 at most 40 ms at 100,000 chunks.
Writes ``hybrid-bench.json`` and ``.md`` under eval/results/ (or --out).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval.bench_keyword import chunks, questions  # noqa: E402
from eval.report import table, write  # noqa: E402
from eval.sets import RESULTS  # noqa: E402
from rag.store import Record, hit  # noqa: E402


class NumpyStore:
    """The two reads the hybrid makes (``search``, ``get`` with vectors) over a float32 matrix; exact search."""

    def __init__(self, cs: list, dim: int = 384) -> None:
        import numpy as np

        self.chunks = cs
        self.row = {c.id: i for i, c in enumerate(cs)}
        m = np.random.default_rng(0).normal(size=(len(cs), dim)).astype(np.float32)
        self.matrix = m / np.linalg.norm(m, axis=1, keepdims=True)

    def search(self, vector, n: int) -> list:  # type: ignore[no-untyped-def]
        import numpy as np

        cos = self.matrix @ np.asarray(vector, dtype=np.float32)
        best = np.argpartition(-cos, n)[:n]
        best = best[np.argsort(-cos[best], kind="stable")]
        return [hit(self.chunks[j], float(cos[j])) for j in best]

    def get(self, ids, vectors: bool = False) -> list:  # type: ignore[no-untyped-def]
        return [(self.chunks[self.row[i]], self.matrix[self.row[i]].tolist() if vectors else None)
                for i in ids if i in self.row]

    def records(self, text: bool = False):  # type: ignore[no-untyped-def]
        return (Record(c, "", 1) for c in self.chunks)


def timer(obj, name: str, spent: dict) -> None:  # type: ignore[no-untyped-def]
    """Record the wall and CPU seconds each call of ``obj.name`` takes, in ``spent[name]``, ``spent[name, "cpu"]``."""
    fn = getattr(obj, name)

    def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - t0
            spent[name, "cpu"] += time.process_time() - c0

    setattr(obj, name, timed)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    from rag.embed import get_embedder
    from rag.keyword import WRITE_EVERY, KeywordFile
    from rag.retrieve import HybridRetriever
    from rag.settings import Settings

    s = Settings()
    cs = chunks(args.chunks)
    store = NumpyStore(cs)
    with tempfile.TemporaryDirectory() as tmp:
        keywords = KeywordFile(Path(tmp), "bench")
        ix = keywords.open()
        for c in cs:
            ix.add(c)
            if len(ix.pending) >= WRITE_EVERY:
                ix.write()
        ix.commit()
        embedder = get_embedder(s)
        retriever = HybridRetriever(store, embedder, keywords, s.hybrid_weight, s.candidates)  # type: ignore[arg-type]
        spent: dict = defaultdict(float)
        timer(embedder, "embed_query", spent)
        timer(store, "search", spent)
        timer(store, "get", spent)
        timer(keywords.get(store), "top", spent)
        qs = questions()
        for q in qs[:10]:  # warm-up: the model's first calls
            retriever.retrieve(q, s.top_k)
        parts: dict = defaultdict(list)
        for q in qs:
            spent.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            retriever.retrieve(q, s.top_k)
            parts["whole retrieve()"].append(time.perf_counter() - t0)
            parts["whole retrieve()", "cpu"].append(time.process_time() - c0)
            for name, label in (("embed_query", "embed the question (MiniLM)"), ("search", "dense search (numpy, exact)"),
                                ("top", "keyword query (SQLite index)"), ("get", "vectors of keyword-only candidates")):
                parts[label].append(spent[name])
                parts[label, "cpu"].append(spent[name, "cpu"])
        keywords.close()
    def ms(v: list[float]) -> dict[str, float]:
        return {"p50_ms": round(1000 * statistics.median(v), 2), "p95_ms": round(1000 * sorted(v)[int(0.95 * len(v)) - 1], 2)}

    stats = {k: {**ms(v), "cpu": ms(parts[k, "cpu"])} for k, v in parts.items() if isinstance(k, str)}
    result = {"chunks": len(cs), "questions": len(qs), "candidates": s.candidates, "top_k": s.top_k, "timings": stats}
    md = "\n".join([
        "# Hybrid retrieval latency", "",
        f"`python eval/bench_hybrid.py --chunks {len(cs)}`: `HybridRetriever.retrieve` over {len(cs):,} chunks, "
        f"{len(qs)} real questions, {s.candidates} candidates a side. Dense side: exact numpy search over random "
        "vectors (a stand-in for Chroma's HNSW search, see the script's docstring).", "",
        "CPU time counts every thread of the process (torch uses several); wall time depends on the machine's load.", "",
        *table(["", "p50 (ms)", "p95 (ms)", "p50 CPU (ms)", "p95 CPU (ms)"],
               [[k, v["p50_ms"], v["p95_ms"], v["cpu"]["p50_ms"], v["cpu"]["p95_ms"]] for k, v in stats.items()]), ""])
    return write(args.out, "hybrid-bench", result, md)


if __name__ == "__main__":
    sys.exit(main())
