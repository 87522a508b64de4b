"""Embedders side by side: fp32 MiniLM (raw and the project's) against 'minilm-int8', speed and retrieval.

    python eval/bench_embed.py                       # 320 chunks x 3 repeats x (2, 1) threads, then every set: ~30 min on 2 busy cores
    python eval/bench_embed.py --quick               # 160 chunks x 1, retrieval on 20 questions of 'project' only
    python eval/bench_embed.py --no-retrieval        # speed only

Speed: the same real chunks (the benchmarks' .txt/.md sources, chunked by the pipeline's
chunker with the default settings, taken round-robin over the files) are encoded, in one
process, by (1) raw ``SentenceTransformer.encode`` fp32, (2) the project's fp32 embedder
``rag.embed.MiniLM`` and (3) ``rag.embed_int8.MiniLMInt8``, each with batch size 32, in
alternating runs; medians are reported, with the load average (other processes share
the cores). Also: the cosine of each int8 chunk vector to its fp32 vector, and the median
time of ``embed_query`` over the project's questions.

Retrieval: eval/bench.py's ``run`` (real ingest, hit@1, hit@5, MRR@10), dense and hybrid,
once per embedder, on every set of eval/sets.py.

Rule (issue 13): int8 becomes the default only at ≥ 2x the project fp32 embedder's
chunks/s AND ≥ 0.99 of fp32's hit@5 and MRR@10 on every set, for both retrievers.
Writes ``embed-bench.json`` and ``embed-bench.md`` under eval/results/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rag  # noqa: E402
from eval import bench  # noqa: E402
from eval.report import table, write  # noqa: E402
from eval.sets import BENCH_DIR, DEFAULT_SETS, QUESTIONS, RESULTS, load_jsonl  # noqa: E402
from rag.chunk import chunk_document  # noqa: E402
from rag.embed import MiniLM, model_path, token_offsets  # noqa: E402
from rag.embed_int8 import MiniLMInt8  # noqa: E402
from rag.load import parse_document  # noqa: E402

TEXT = (".txt", ".md")
EMBEDDERS = ("minilm", "minilm-int8")
RETRIEVERS = ("dense", "hybrid")
SPEEDUP, QUALITY = 2.0, 0.99  # the rule's thresholds


def real_chunks(n: int, bench_dir: Path, settings: rag.Settings) -> list[str]:
    """``n`` chunk texts of the benchmarks' text sources, as the pipeline cuts them, round-robin over the files."""
    per_file = []
    for path in sorted(p for p in bench_dir.glob("*/source_files/**/*") if p.is_file() and p.suffix.lower() in TEXT):
        doc = parse_document(path.name, path.suffix.lower(), path.read_bytes())
        per_file.append([c.text for c in chunk_document(doc, token_offsets, settings.chunk_tokens, settings.chunk_overlap)])
    if not per_file:
        raise SystemExit(f"no .txt/.md files under {bench_dir}/*/source_files")
    out: list[str] = []
    for i in range(max(map(len, per_file))):
        out += [chunks[i] for chunks in per_file if i < len(chunks)]
    return out[:n]


def speed(texts: list[str], repeats: int, threads: list[int]) -> dict:
    """Seconds and chunks/s of each encoder on ``texts`` with each thread count (medians of alternating runs);
    int8-to-fp32 cosines; one question's ``embed_query`` time."""
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    raw = SentenceTransformer(str(model_path()), device="cpu")
    fp32 = MiniLM()
    out: dict = {"chunks": len(texts), "repeats": repeats, "cpus": os.cpu_count(), "threads": {}}
    for t in threads:
        torch.set_num_threads(t)
        int8 = MiniLMInt8(t)
        encoders = {
            "raw SentenceTransformer.encode (fp32)": lambda ts: raw.encode(
                ts, batch_size=MiniLM.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False),
            "rag.embed.MiniLM (fp32, 'minilm')": fp32.embed,
            "rag.embed_int8.MiniLMInt8 ('minilm-int8')": int8.embed,
        }
        for enc in encoders.values():  # load and warm outside the timings
            enc(["warm up"] * 64)
        runs: dict[str, list[float]] = {k: [] for k in encoders}
        cpu: dict[str, list[float]] = {k: [] for k in encoders}  # CPU seconds of this process: less hurt by other load
        load = [os.getloadavg()[0]]
        vecs = {}
        for r in range(repeats):
            for name, enc in encoders.items():
                t0, c0 = time.perf_counter(), time.process_time()
                vecs[name] = enc(texts)
                runs[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
            print(f"{t} threads, run {r + 1}/{repeats}: " + ", ".join(f"{k.split(' ')[0]} {v[-1]:.1f} s"
                                                                   for k, v in runs.items()), file=sys.stderr)
            load.append(os.getloadavg()[0])
        res: dict = {"load_avg_1min": [round(x, 2) for x in load], "encoders": {}}
        for name, secs in runs.items():
            m = statistics.median(secs)
            res["encoders"][name] = {"seconds": round(m, 2), "chunks_s": round(len(texts) / m, 1),
                                     "runs": [round(x, 2) for x in secs], "cpu_seconds": round(statistics.median(cpu[name]), 2),
                                     "chunks_per_cpu_s": round(len(texts) / statistics.median(cpu[name]), 1)}
        rates = [v["chunks_s"] for v in res["encoders"].values()]
        per_cpu = [v["chunks_per_cpu_s"] for v in res["encoders"].values()]
        res.update(int8_over_fp32=round(rates[2] / rates[1], 3), int8_over_raw=round(rates[2] / rates[0], 3),
                   fp32_over_raw=round(rates[1] / rates[0], 3), int8_over_fp32_cpu=round(per_cpu[2] / per_cpu[1], 3))
        out["threads"][str(t)] = res
    a, b = (np.asarray(vecs[k]) for k in list(encoders)[1:])
    cos = (a * b).sum(axis=1)
    out["int8_vs_fp32_cosine"] = {"min": round(float(cos.min()), 4), "mean": round(float(cos.mean()), 4)}
    torch.set_num_threads(threads[0])
    questions = [r["question"] for r in load_jsonl(QUESTIONS)]
    out["embed_query_p50_ms"] = {}
    for label, e in (("minilm", fp32), ("minilm-int8", MiniLMInt8())):
        e.embed_query("warm up")
        lat = []
        for q in questions:
            t0 = time.perf_counter()
            e.embed_query(q)
            lat.append((time.perf_counter() - t0) * 1000)
        out["embed_query_p50_ms"][label] = round(statistics.median(lat), 2)
    out["int8_over_fp32"] = out["threads"][str(threads[0])]["int8_over_fp32"]  # the rule's figure: the default threads
    return out


def retrieval(sets: list[str], settings: rag.Settings, bench_dir: Path, limit: int | None) -> dict:
    """eval/bench.py's metrics for each embedder on each set (dense and hybrid)."""
    out: dict = {}
    for name in EMBEDDERS:
        results, skipped = bench.run(sets, replace(settings, embedder=name), bench_dir, limit, RETRIEVERS)
        out[name] = {"results": results, "skipped": skipped}
    return out


def verdict(sp: dict | None, ret: dict | None) -> dict:
    """Whether int8 meets the rule, and each reason it does not."""
    why = []
    if sp is not None and sp["int8_over_fp32"] < SPEEDUP:
        why.append(f"int8 is {sp['int8_over_fp32']}x the fp32 embedder's chunks/s (needs {SPEEDUP}x)")
    if ret is not None:
        fp, q8 = ret["minilm"]["results"], ret["minilm-int8"]["results"]
        for s in fp:
            for r in RETRIEVERS:
                for m in ("hit@5", "mrr@10"):
                    a, b = fp[s][r][m], q8.get(s, {}).get(r, {}).get(m, 0.0)
                    if b < QUALITY * a:
                        why.append(f"{s} {r} {m}: int8 {b:.3f} < {QUALITY} x fp32 {a:.3f}")
    complete = sp is not None and ret is not None
    return {"int8_default": complete and not why, "complete": complete, "reasons": why}


def markdown(res: dict) -> str:
    lines = ["# Embedders: fp32 MiniLM against int8 ONNX MiniLM", ""]
    sp = res.get("speed")
    if sp:
        lines += [f"{sp['chunks']} real chunks (the benchmarks' text sources, default chunking), batch 32, on {sp['cpus']} "
                  f"cores shared with other work; medians of {sp['repeats']} alternating runs per thread count (torch "
                  "threads for fp32, onnxruntime intra-op threads for int8). The first thread count is the embedders' default "
                  "and the rule's figure.", ""]
        rows = [[t, k, v["seconds"], v["chunks_s"], ", ".join(map(str, v["runs"])), v.get("chunks_per_cpu_s", "-"),
                 f"{min(r['load_avg_1min'])}–{max(r['load_avg_1min'])}"]
                for t, r in sp["threads"].items() for k, v in r["encoders"].items()]
        lines += table(["threads", "encoder", "seconds", "chunks/s", "runs (s)", "chunks per CPU-s", "load avg"], rows)
        c = sp["int8_vs_fp32_cosine"]
        lines += [""] + [f"{t} threads: int8 / project fp32 **{r['int8_over_fp32']}x** (per CPU-second: "
                         f"{r.get('int8_over_fp32_cpu', '-')}x); int8 / raw {r['int8_over_raw']}x; "
                         f"project fp32 / raw {r['fp32_over_raw']}x." for t, r in sp["threads"].items()]
        lines += ["", f"Cosine of int8 to fp32 vectors of the same chunks: min {c['min']}, mean {c['mean']}. "
                  "One question (`embed_query`, p50 over the project's questions): "
                  + ", ".join(f"{k} {v} ms" for k, v in sp["embed_query_p50_ms"].items()) + "."]
    for other in res.get("speed_other_runs", []):  # earlier runs joined with --speed-from, their ratios only
        lines += ["", f"Another run ({other['chunks']} chunks, {other['repeats']} repeats): int8 / project fp32 "
                  + ", ".join(f"{r['int8_over_fp32']}x at {t} threads" for t, r in other["threads"].items()) + "."]
    ret = res.get("retrieval")
    if ret:
        fp, q8 = ret["minilm"]["results"], ret["minilm-int8"]["results"]
        rows = []
        for s in fp:
            for r in RETRIEVERS:
                a, b = fp[s][r], q8.get(s, {}).get(r, {})
                rows.append([f"{s} ({a['questions']} q)", r, f"{a['hit@1']:.3f} / {b.get('hit@1', 0):.3f}",
                             f"{a['hit@5']:.3f} / {b.get('hit@5', 0):.3f}", f"{a['mrr@10']:.3f} / {b.get('mrr@10', 0):.3f}",
                             f"{fp[s]['_ingest']['seconds']} / {q8.get(s, {}).get('_ingest', {}).get('seconds', '-')}"])
        lines += ["", "Retrieval (eval/bench.py's scoring, real ingest; each cell fp32 / int8; 'ingest s' is the whole "
                  "rag.ingest of the set on the shared cores, the embedder's first load included):", ""]
        lines += table(["set", "retriever", "hit@1", "hit@5", "MRR@10", "ingest s"], rows)
        for name in EMBEDDERS:
            lines += [f"Skipped with {name}: {s}: {why}." for s, why in ret[name]["skipped"].items()]
    v = res["verdict"]
    lines += ["", "## Verdict", "",
              f"Rule: int8 becomes the default at ≥ {SPEEDUP}x the fp32 embedder's chunks/s and ≥ {QUALITY} of fp32's "
              "hit@5 and MRR@10 on every set (dense and hybrid)."]
    if not v["complete"]:
        lines += ["", "Not decided: this run measured only part of the rule."]
    lines += ["", ("**int8 becomes the default.**" if v["int8_default"] else "**fp32 stays the default**" +
                   (": " + "; ".join(v["reasons"]) + "." if v["reasons"] else "."))]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chunks", type=int, help="chunks encoded per run (default 320; --quick 160)")
    p.add_argument("--repeats", type=int, help="alternating runs, medians reported (default 3; --quick 1)")
    p.add_argument("--threads", default=f"{os.cpu_count()},1",
                   help="thread counts to time, the embedders' default first (default: all cores, then 1)")
    p.add_argument("--set", action="append", dest="sets", help=f"a set to score (repeatable; default: {', '.join(DEFAULT_SETS)})")
    p.add_argument("--limit", type=int, help="first N questions of each set")
    p.add_argument("--bench-dir", type=Path, default=BENCH_DIR)
    p.add_argument("--quick", action="store_true", help="--chunks 160 --repeats 1, retrieval on 20 questions of 'project'")
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--no-retrieval", action="store_true")
    p.add_argument("--speed-from", type=Path, help="take the speed part from this embed-bench.json instead of measuring")
    p.add_argument("--retrieval-from", type=Path, help="take the retrieval part from this embed-bench.json")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    chunks = args.chunks or (160 if args.quick else 320)
    repeats = args.repeats or (1 if args.quick else 3)
    sets = args.sets or (["project"] if args.quick else list(DEFAULT_SETS))
    limit = args.limit or (20 if args.quick else None)
    settings = rag.Settings.from_env()
    t0 = time.perf_counter()
    res: dict = {}
    for part, path in (("speed", args.speed_from), ("retrieval", args.retrieval_from)):
        if path:  # separate runs (e.g. speed and retrieval at different times), joined into one report
            res.update({k: v for k, v in json.loads(path.read_text()).items() if k.startswith(part)})
    if not args.no_speed and "speed" not in res:
        res["speed"] = speed(real_chunks(chunks, args.bench_dir, settings), repeats,
                             [int(t) for t in args.threads.split(",")])
    if not args.no_retrieval and "retrieval" not in res:
        res["retrieval"] = retrieval(sets, settings, args.bench_dir, limit)
        res["retrieval_meta"] = {"sets": sets, "limit": limit, "top_k": settings.top_k,
                                 "chunk_tokens": settings.chunk_tokens, "chunk_overlap": settings.chunk_overlap}
    res["verdict"] = verdict(res.get("speed"), res.get("retrieval"))
    res["seconds"] = round(time.perf_counter() - t0, 1)
    return write(args.out, "embed-bench", res, markdown(res))


if __name__ == "__main__":
    raise SystemExit(main())
