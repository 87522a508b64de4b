"""Keyword index: the JSON BM25 of before against the SQLite index (rag/keyword.py), and bm25s if importable.

    python eval/bench_keyword.py             # 10k and 100k chunks, ~10 min on 2 cores (25 when busy)
    python eval/bench_keyword.py --quick     # 2k chunks: a smoke run (~20 s)
    python eval/bench_keyword.py --large     # 10k, 100k and 1M chunks (the JSON index needs ~4 GB there)
    python eval/bench_keyword.py --sizes 50000 --impls sqlite

Chunks: the .txt/.md files of ../shared/benchmarks/*/source_files, chunked as ingest chunks
them (default settings: 128 word pieces, 32 overlap), repeated until there are enough; copy k
of a chunk gets its own id and every 11th word (shifted by k) suffixed "x<k>", so the
vocabulary grows with the corpus as a real one does instead of repeating the same terms.
Questions: 200 of the benchmarks' real questions (every other one of their rag_dataset.json).

Each implementation and size runs in fresh processes (``--worker``): ``build`` indexes every
chunk and saves (timed), then adds 100 new chunks and saves, then removes them and saves (the
JSON index rewrites its whole file each time: that is what every sync did); ``serve`` opens
the saved index as a new process would, runs the questions and reports its memory. The query
timed is the one the hybrid retriever makes: the best ``candidates`` (20) chunks plus the
scores of 20 other chunks (the dense side's hits): ``JsonBM25.scores`` + sort before,
``KeywordIndex.top`` now; bm25s's ``retrieve`` of the best 20. RSS: the serving process's
resident memory after the queries less what it held before opening the index.

Checks: the JSON and SQLite indexes return the same 20 ids in the same order and the same
scores (to 1e-9) for every question. Writes ``keyword-bench.json`` and ``.md`` under
eval/results/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval.report import table, write  # noqa: E402
from eval.sets import BENCH_DIR, RESULTS  # noqa: E402

CANDIDATES = 20  # Settings.candidates: what the hybrid asks of each side
IMPLS = ("json", "sqlite", "bm25s")
HERE = Path(__file__).resolve()
CPU = [0.0]


def chunks(n: int):  # type: ignore[no-untyped-def]
    """``n`` chunks: the benchmarks' texts chunked as ingest does, copies varied (see the module docstring)."""
    from rag.chunk import chunk_document
    from rag.embed import token_offsets
    from rag.load import parse_document
    from rag.settings import Settings

    s = Settings()
    base = []
    for p in sorted(BENCH_DIR.glob("*/source_files/**/*")):
        if p.is_file() and p.suffix.lower() in (".txt", ".md"):
            doc = parse_document(str(p.relative_to(BENCH_DIR)), p.suffix, p.read_bytes())
            base += chunk_document(doc, token_offsets, s.chunk_tokens, s.chunk_overlap)
    out = []
    for i in range(n):
        c, k = base[i % len(base)], i // len(base)
        if k:
            words = c.text.split(" ")
            text = " ".join(w + f"x{k}" if (j + k) % 11 == 0 else w for j, w in enumerate(words))
            c = replace(c, id=f"{k}-{c.id}", source=f"copy{k}/{c.source}", text=text)
        out.append(c)
    return out


def questions() -> list[str]:
    qs = [e["query"] for p in sorted(BENCH_DIR.glob("*/rag_dataset.json")) for e in json.loads(p.read_text())["examples"]]
    return qs[::2][:200]


def rss_mb() -> float:
    return next(int(x.split()[1]) / 1024 for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS:"))


def size_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1)


def timed(fn, *args):  # type: ignore[no-untyped-def]
    """(wall seconds, result); the call's CPU seconds in ``CPU[0]`` (other processes' load does not count)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    CPU[0] = time.process_time() - c0
    return time.perf_counter() - t0, out


# --- the three implementations: build, update, open, query ---
def build(impl: str, cs: list, folder: Path) -> dict:
    from rag.text import terms

    extra = [replace(c, id=f"new-{c.id}", source=f"new/{c.source}") for c in cs[:100]]
    if impl == "json":
        from eval.bm25_json import JsonBM25, save

        def make() -> JsonBM25:
            ix = JsonBM25()
            for c in cs:
                ix.add(c)
            save(ix, folder / "c.bm25.json", "c")
            return ix

        secs, ix = timed(make)
        cpu = CPU[0]
        add = timed(lambda: [ix.add(c) for c in extra] and save(ix, folder / "c.bm25.json", "c"))[0]
        remove = timed(lambda: ix.remove([c.id for c in extra]) or save(ix, folder / "c.bm25.json", "c"))[0]
    elif impl == "sqlite":
        from rag.keyword import WRITE_EVERY, KeywordFile

        kf = KeywordFile(folder, "c")
        ix = kf.open()

        def make() -> None:
            for c in cs:
                ix.add(c)
                if len(ix.pending) >= WRITE_EVERY:
                    ix.write()
            ix.commit()

        secs, cpu = timed(make)[0], CPU[0]
        add = timed(lambda: [ix.add(c) for c in extra] and ix.commit())[0]
        remove = timed(lambda: ix.remove([c.id for c in extra]) or ix.commit())[0]
        kf.close()
    else:
        import bm25s

        def make():  # type: ignore[no-untyped-def]
            r = bm25s.BM25(k1=1.2, b=0.75)
            r.index([terms(c.text) for c in cs], show_progress=False)
            r.save(str(folder / "bm25s"))
            (folder / "ids.json").write_text(json.dumps([c.id for c in cs]))
            return r

        secs, cpu = timed(make)[0], CPU[0]
        add = remove = None  # no incremental update: a change is a rebuild
    return {"build_s": round(secs, 2), "build_cpu_s": round(cpu, 2), "add100_s": add and round(add, 3), "remove100_s": remove and round(remove, 3),
            "file_mb": size_mb(folder)}


def serve(impl: str, folder: Path, qs: list[str], others: list[str]) -> dict:
    import numpy  # noqa: F401  (loaded in the app before any query: by Chroma and the embedder)

    base = rss_mb()
    if impl == "json":
        from eval.bm25_json import load

        open_s, ix = timed(load, folder / "c.bm25.json", "c")

        def query(q: str) -> list[tuple[str, float]]:
            got = ix.scores(q)
            top = sorted(got.items(), key=lambda kv: (-kv[1], kv[0]))[:CANDIDATES]
            _ = [got.get(i, 0.0) for i in others]
            return top
    elif impl == "sqlite":
        from rag.keyword import KeywordFile

        open_s, ix = timed(KeywordFile(folder, "c").open)

        def query(q: str) -> list[tuple[str, float]]:
            got = ix.top(q, CANDIDATES, also=others)
            return sorted(got.items(), key=lambda kv: (-kv[1], kv[0]))[:CANDIDATES]
    else:
        import bm25s
        from rag.text import terms

        open_s, ix = timed(bm25s.BM25.load, str(folder / "bm25s"), False, None, True)  # mmap
        ids = json.loads((folder / "ids.json").read_text())

        def query(q: str) -> list[tuple[str, float]]:
            docs, scores = ix.retrieve([terms(q) or ["\x00"]], k=CANDIDATES, show_progress=False)
            return [(ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0])]
    first, _ = timed(query, qs[0])
    times, cpus, tops = [], [], []
    for q in qs:
        secs, top = timed(query, q)
        times.append(secs * 1000)
        cpus.append(CPU[0] * 1000)
        tops.append(top)
    times.sort()
    cpus.sort()
    return {"open_s": round(open_s, 3), "first_query_ms": round(first * 1000, 1),
            "p50_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(0.95 * len(times)) - 1], 2),
            "p50_cpu_ms": round(statistics.median(cpus), 2), "p95_cpu_ms": round(cpus[int(0.95 * len(cpus)) - 1], 2),
            "rss_mb": round(rss_mb() - base, 1), "tops": tops}


def worker(args: argparse.Namespace) -> None:
    folder = Path(args.dir)
    if args.worker == "build":
        out = build(args.impl, chunks(args.n), folder)
    else:
        cs = chunks(min(args.n, 2000))  # ids that are in the index, without making all of them
        others = [c.id for c in cs[:: max(1, len(cs) // 20)]][:20]
        out = serve(args.impl, folder, questions(), others)
    print(json.dumps(out))


def run(step: str, impl: str, n: int, folder: Path) -> dict:
    proc = subprocess.run([sys.executable, str(HERE), "--worker", step, "--impl", impl, "--n", str(n), "--dir", str(folder)],
                          capture_output=True, text=True)
    if proc.returncode:
        return {"error": (proc.stderr.strip().splitlines() or ["exit %d" % proc.returncode])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def same(a: list, b: list) -> tuple[int, float]:
    """Questions whose top ids agree in order, and the largest score difference."""
    agree = sum([i for i, _ in x] == [i for i, _ in y] for x, y in zip(a, b))
    diff = max((abs(s - t) for x, y in zip(a, b) for (_, s), (_, t) in zip(x, y)), default=0.0)
    return agree, diff


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2,000 chunks only")
    ap.add_argument("--large", action="store_true", help="also 1,000,000 chunks")
    ap.add_argument("--sizes", help="comma-separated chunk counts (overrides --quick/--large)")
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument("--out", type=Path, default=RESULTS)
    for flag, kind in (("--worker", str), ("--impl", str), ("--n", int), ("--dir", str)):  # a worker process's
        ap.add_argument(flag, type=kind, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return 0
    sizes = [int(x) for x in args.sizes.split(",")] if args.sizes else \
        [2000] if args.quick else [10_000, 100_000] + ([1_000_000] if args.large else [])
    impls = [i for i in args.impls.split(",") if i in IMPLS]
    try:
        import bm25s  # noqa: F401
    except ImportError:
        impls = [i for i in impls if i != "bm25s"]
        print("bm25s is not importable: its column is left out", file=sys.stderr)
    result: dict = {"sizes": {}, "questions": len(questions()), "candidates": CANDIDATES, "impls": impls}
    tmp = Path(tempfile.mkdtemp(prefix="kwbench-"))
    try:
        for n in sizes:
            rows: dict[str, dict] = {}
            for impl in impls:
                folder = tmp / f"{impl}-{n}"
                folder.mkdir()
                print(f"{n:,} chunks, {impl}: build", file=sys.stderr)
                rows[impl] = run("build", impl, n, folder)
                if "error" not in rows[impl]:
                    rows[impl].update(run("serve", impl, n, folder))
                shutil.rmtree(folder, ignore_errors=True)
            if "tops" in rows.get("json", {}) and "tops" in rows.get("sqlite", {}):
                agree, diff = same(rows["json"]["tops"], rows["sqlite"]["tops"])
                rows["sqlite"]["same_top_as_json"] = f"{agree}/{len(rows['json']['tops'])}"
                rows["sqlite"]["max_score_diff"] = diff
            _ = [r.pop("tops", None) for r in rows.values()]
            result["sizes"][str(n)] = rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return write(args.out, "keyword-bench", result, markdown(result))


METRICS = [("build_s", "build (s)"), ("build_cpu_s", "build, CPU time (s)"), ("add100_s", "update: +100 chunks, saved (s)"),
           ("remove100_s", "update: -100 chunks, saved (s)"), ("file_mb", "file size (MB)"),
           ("open_s", "open / load (s)"), ("first_query_ms", "first query (ms)"),
           ("p50_ms", "query p50 (ms)"), ("p95_ms", "query p95 (ms)"),
           ("p50_cpu_ms", "query p50, CPU time (ms)"), ("p95_cpu_ms", "query p95, CPU time (ms)"), ("rss_mb", "RSS of the index (MB)"),
           ("same_top_as_json", "same top 20 as JSON"), ("max_score_diff", "largest score difference"),
           ("error", "error")]


def cell(row: dict, key: str) -> object:
    if key not in row:
        return ""
    return "n/a (rebuild)" if row[key] is None else f"{row[key]:.1e}" if key == "max_score_diff" else row[key]


def markdown(result: dict) -> str:
    names = {"json": "JSON BM25 (before)", "sqlite": "SQLite index (now)", "bm25s": "bm25s"}
    lines = ["# Keyword index benchmark", "",
             f"`python eval/bench_keyword.py`; {result['questions']} real questions; the query is the hybrid's "
             f"(best {result['candidates']} + 20 given chunks). Each cell from fresh processes (numpy loaded before "
             "the index is opened, as in the app). Wall times depend on the machine's load; CPU times much less. Score differences JSON vs SQLite are the order of float additions "
             "across processes (Python's string hashing orders the query's terms); in one process they are 0.", ""]
    for n, rows in result["sizes"].items():
        impls = list(rows)
        lines += [f"## {int(n):,} chunks", ""]
        body = [[label] + [cell(rows[i], key) for i in impls] for key, label in METRICS if any(key in rows[i] for i in impls)]
        lines += table(["", *[names[i] for i in impls]], body) + [""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
