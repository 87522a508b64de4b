"""Retrieval benchmark: every set x every retriever (bm25, dense, hybrid), side by side.

    python eval/bench.py                              # all sets, ~5 min on 2 cores (mini_squad_v2's ingest: ~4)
    python eval/bench.py --quick --set project        # 20 questions of one set, ~15 s

Sets: see eval/sets.py. Each corpus is ingested through the real pipeline
(``rag.ingest``) into a temporary store; sets whose files the pipeline cannot read are
skipped with a message.

Scoring (../shared/benchmarks/README.md): a retrieved chunk is gold when it overlaps a
reference context by at least half of the shorter text's characters; hit@1, hit@5 and
MRR@10 over the 10 best chunks; "passages" is the mean number of chunks a question
sends to the answerer (``top_k``, fewer when a retriever finds fewer); p50/p95 are the
latencies of one ``retrieve`` call in milliseconds. On the project set "gate AUC" is
how well the best hit's score separates its answerable from its unanswerable questions.

Writes ``bench.json``, ``bench.md`` and ``bench.png`` under eval/results/ (or --out).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rag  # noqa: E402
from eval.metrics import auc, percentile, rank_metrics  # noqa: E402
from eval.report import bar_chart, table, write  # noqa: E402
from eval.score import first_gold  # noqa: E402
from eval.sets import BENCH_DIR, DEFAULT_SETS, RESULTS, BenchSet, load_set, workdir  # noqa: E402
from rag.api import Engine  # noqa: E402
from rag.search import keep_close  # noqa: E402

RETRIEVERS = ("bm25", "dense", "hybrid")
DEPTH = 10  # ranks scored (MRR@10)


def score_set(bs: BenchSet, settings: rag.Settings, retrievers: tuple[str, ...] = RETRIEVERS) -> dict[str, dict] | str:
    """Ingest ``bs`` into ``settings.store`` and score each retriever on its questions; or why it can't be."""
    report = rag.ingest(bs.corpus, settings=settings)
    if not report.chunks_total:
        return "nothing could be ingested: " + "; ".join(f"{src}: {why}" for src, why in report.skipped)
    out: dict[str, dict] = {"_ingest": {"chunks": report.chunks_total, "seconds": round(report.seconds, 1)}}
    for name in retrievers:
        retriever = Engine(replace(settings, retriever=name)).retriever
        retriever.retrieve("warm up", 1)  # model, index and keyword file load outside the timings
        ranks, sent, chars, found, lat, top_ans, top_unans = [], [], [], [], [], [], []
        for q in bs.questions:
            t0 = time.perf_counter()
            hits = retriever.retrieve(q.query, max(DEPTH, settings.top_k))
            lat.append((time.perf_counter() - t0) * 1000)
            best = hits[0].score if hits else -1.0
            if q.contexts:
                ranks.append(first_gold([h.text for h in hits[:DEPTH]], q.contexts))
                passages = keep_close(hits[: settings.top_k], settings.passage_margin)  # what Engine.search returns
                sent.append(len(passages))
                chars.append(sum(len(h.text) for h in passages))
                found.append(ranks[-1] is not None and ranks[-1] <= len(passages))
                top_ans.append(best)
            else:
                top_unans.append(best)
        m = {k: round(v, 3) for k, v in rank_metrics(ranks).items()}
        m.update(passages=round(sum(sent) / max(1, len(sent)), 2), sent_recall=round(sum(found) / max(1, len(found)), 3),
                 chars=round(sum(chars) / max(1, len(chars))), p50_ms=round(percentile(lat, 50), 1),
                 p95_ms=round(percentile(lat, 95), 1), questions=len(ranks))
        if top_unans:
            m["gate_auc"] = round(auc(top_ans, top_unans), 3)
        out[name] = m
    return out


def markdown(results: dict, skipped: dict[str, str], meta: dict) -> str:
    lines = ["# Retrieval benchmark", "",
             f"top_k {meta['top_k']}, chunks {meta['chunk_tokens']}/{meta['chunk_overlap']} word-pieces, "
             f"hybrid weight {meta['hybrid_weight']}, candidates {meta['candidates']}, passage margin {meta['passage_margin']}; "
             f"{meta['seconds']:.0f} s in all. 'passages': mean passages sent to the answerer, 'sent recall': share of "
             "questions with a gold passage among them.", ""]
    rows = [[f"{s} ({res[r]['questions']} q)", r, f"{res[r]['hit@1']:.3f}", f"{res[r]['hit@5']:.3f}", f"{res[r]['mrr@10']:.3f}",
             res[r]["passages"], f"{res[r]['sent_recall']:.3f}", res[r]["p50_ms"], res[r]["p95_ms"]]
            for s, res in results.items() for r in RETRIEVERS if r in res]
    lines += table(["set", "retriever", "hit@1", "hit@5", "MRR@10", "passages", "sent recall", "p50 ms", "p95 ms"], rows)
    gates = {(s, r): res[r]["gate_auc"] for s, res in results.items() for r in RETRIEVERS if "gate_auc" in res.get(r, {})}
    if gates:
        lines += ["", "Refusal gate (project set): ROC AUC of the best hit's score, answerable vs unanswerable: "
                  + ", ".join(f"{r} {v:.3f}" for (_, r), v in gates.items()) + "."]
    for s, why in skipped.items():
        lines += ["", f"Skipped {s}: {why}."]
    return "\n".join(lines) + "\n"


def chart(results: dict, path: Path) -> None:
    """hit@1 and MRR@10 per set, a bar per retriever."""
    groups = [f"{s[:18]}\n{metric}" for s in results for metric in ("hit@1", "MRR@10")]
    series = {r: [results[s].get(r, {}).get(metric, 0.0) for s in results for metric in ("hit@1", "mrr@10")]
              for r in RETRIEVERS}
    bar_chart(path, "Retrieval quality per set: hit@1 and MRR@10", groups, series)


def run(sets: list[str], settings: rag.Settings, bench_dir: Path, limit: int | None,
        retrievers: tuple[str, ...] = RETRIEVERS, cache: Path | None = None) -> tuple[dict, dict[str, str]]:
    """Score ``sets``; returns (results by set, skip reasons by set)."""
    results: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    with workdir(cache) as tmp:
        for name in sets:
            t0 = time.perf_counter()
            bs = load_set(name, bench_dir, Path(tmp), limit)
            s = None if isinstance(bs, str) else replace(settings, store=Path(tmp) / f"store-{name}", corpus=bs.corpus)
            scored = bs if isinstance(bs, str) else score_set(bs, s.checked(), retrievers)
            if isinstance(scored, str):
                skipped[name] = scored
                print(f"skip {name}: {scored}", file=sys.stderr)
                continue
            results[name] = scored
            summary = ", ".join(f"{r} {scored[r]['hit@1']:.3f}/{scored[r]['mrr@10']:.3f}" for r in retrievers)
            print(f"{name}: {summary} (hit@1/MRR@10; {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return results, skipped


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", action="append", dest="sets", help=f"a set to run (repeatable; default: {', '.join(DEFAULT_SETS)})")
    p.add_argument("--bench-dir", type=Path, default=BENCH_DIR, help="folder of LlamaIndex rag datasets")
    p.add_argument("--limit", type=int, help="first N questions of each set (a quick run)")
    p.add_argument("--quick", action="store_true", help="same as --limit 20")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--cache", type=Path, help="keep corpora and indexes in this folder between runs (default: a temp folder)")
    args = p.parse_args(argv)
    limit = 20 if args.quick and not args.limit else args.limit
    settings = rag.Settings.from_env()
    t0 = time.perf_counter()
    results, skipped = run(args.sets or list(DEFAULT_SETS), settings, args.bench_dir, limit, cache=args.cache)
    meta = {"top_k": settings.top_k, "chunk_tokens": settings.chunk_tokens, "chunk_overlap": settings.chunk_overlap,
            "hybrid_weight": settings.hybrid_weight, "candidates": settings.candidates,
            "passage_margin": settings.passage_margin, "limit": limit, "seconds": time.perf_counter() - t0}
    write(args.out, "bench", {"meta": meta, "results": results, "skipped": skipped}, markdown(results, skipped, meta))
    if results:
        chart(results, args.out / "bench.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
