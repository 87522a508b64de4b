"""Retrieval benchmark: every set x every retriever (bm25, dense, hybrid), side by side.

    python eval/bench.py                              # all sets, ~5 min on 2 cores (mini_squad_v2's ingest: ~4)
    python eval/bench.py --quick --set project        # 20 questions of one set, ~15 s
    python eval/bench.py --tune                       # instead: fusion grid -> eval/results/tuning.*
    python eval/bench.py --chunks 96/16,160/32,254/32 # instead: chunk size/overlap comparison

Sets: the folders of ../shared/benchmarks/ (LlamaIndex ``rag_dataset.json`` +
``source_files/``) and ``project`` (seeds/ with eval/questions.jsonl). Each corpus is
ingested through the real pipeline (``rag.ingest``) into a temporary store. For
``mini_squad_v2`` the corpus is its 172 gold paragraphs written as files plus the 10
articles as distractors (the paragraphs come from another Wikipedia revision, so the
articles hold near-copies of them). Sets whose files the pipeline cannot read are
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
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "eval")]

import rag  # noqa: E402
from metrics import auc, is_gold, percentile, rank_metrics  # noqa: E402

BENCH_DIR = ROOT.parent / "shared" / "benchmarks"
DEFAULT_SETS = ("mini_squad_v2", "paul_grahams_essay_dataset", "braintrust_coda_help_desk", "history_of_alexnet", "project")
RETRIEVERS = ("bm25", "dense", "hybrid")
DEPTH = 10  # ranks scored (MRR@10)


@dataclass
class Question:
    query: str
    contexts: list[str]  # gold passages; empty for a question the corpus cannot answer


@dataclass
class BenchSet:
    name: str
    corpus: Path
    questions: list[Question] = field(default_factory=list)


def load_set(name: str, bench_dir: Path, tmp: Path, limit: int | None) -> BenchSet | str:
    """The set called ``name``, its corpus ready to ingest; or the reason it is skipped."""
    if name == "project":
        rows = [json.loads(x) for x in (ROOT / "eval" / "questions.jsonl").read_text().splitlines() if x.strip()]
        qs = [Question(r["question"], [r["support"]] if r["answerable"] else []) for r in rows]
        return BenchSet(name, ROOT / "seeds", qs[:limit] if limit else qs)
    folder = bench_dir / name
    if not (folder / "rag_dataset.json").exists():
        return f"no {folder}/rag_dataset.json"
    files = sorted(p for p in (folder / "source_files").rglob("*") if p.is_file())
    readable = rag.Settings().extensions
    unread = sorted({p.suffix for p in files if p.suffix.lower() not in readable})
    if unread:
        return f"needs ingestion of {', '.join(unread)} files, which the pipeline cannot read yet (the ingestion issue)"
    examples = json.loads((folder / "rag_dataset.json").read_text())["examples"]
    qs = [Question(e["query"], list(e["reference_contexts"])) for e in examples]
    corpus = folder / "source_files"
    if name == "mini_squad_v2":
        corpus = tmp / name
        shutil.rmtree(corpus, ignore_errors=True)
        shutil.copytree(folder / "source_files", corpus / "articles")
        golds = sorted({c for q in qs for c in q.contexts})
        (corpus / "gold").mkdir()
        for i, text in enumerate(golds):
            (corpus / "gold" / f"p{i:03d}.txt").write_text(text + "\n", encoding="utf-8")
    return BenchSet(name, corpus, qs[:limit] if limit else qs)


def first_gold(passages: list[str], contexts: list[str]) -> int | None:
    """1-based rank of the first gold passage."""
    for i, p in enumerate(passages, 1):
        if is_gold(p, contexts):
            return i
    return None


def score_set(bs: BenchSet, settings: rag.Settings, retrievers: tuple[str, ...] = RETRIEVERS) -> dict[str, dict] | str:
    """Ingest ``bs`` into ``settings.store`` and score each retriever on its questions; or why it can't be."""
    from rag.api import Engine
    from rag.retrieve import keep_close

    report = rag.ingest(bs.corpus, settings=settings)
    if not report.chunks_total:
        return "nothing could be ingested: " + "; ".join(f"{src}: {why}" for src, why in report.skipped)
    out: dict[str, dict] = {"_ingest": {"chunks": report.chunks_total, "seconds": round(report.seconds, 1)}}
    for name in retrievers:
        eng = Engine(rag.Settings.from_env(**{**settings.__dict__, "retriever": name}))
        eng.retriever.retrieve("warm up", 1)  # model, index and keyword file load outside the timings
        ranks, sent, chars, found, lat, top_ans, top_unans = [], [], [], [], [], [], []
        for q in bs.questions:
            t0 = time.perf_counter()
            hits = eng.retriever.retrieve(q.query, max(DEPTH, settings.top_k))
            lat.append((time.perf_counter() - t0) * 1000)
            best = hits[0].score if hits else -1.0
            if q.contexts:
                ranks.append(first_gold([h.text for h in hits[:DEPTH]], q.contexts))
                passages = keep_close(hits[: settings.top_k], settings.passage_margin)  # what Engine.ask sends
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
             "questions with a gold passage among them.", "",
             "| set | retriever | hit@1 | hit@5 | MRR@10 | passages | sent recall | p50 ms | p95 ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    for set_name, res in results.items():
        for r in RETRIEVERS:
            if r in res:
                m = res[r]
                lines.append(f"| {set_name} ({m['questions']} q) | {r} | {m['hit@1']:.3f} | {m['hit@5']:.3f} | "
                             f"{m['mrr@10']:.3f} | {m['passages']} | {m['sent_recall']:.3f} | {m['p50_ms']} | {m['p95_ms']} |")
    gates = {(s, r): res[r]["gate_auc"] for s, res in results.items() for r in RETRIEVERS if "gate_auc" in res.get(r, {})}
    if gates:
        lines += ["", "Refusal gate (project set): ROC AUC of the best hit's score, answerable vs unanswerable: "
                  + ", ".join(f"{r} {v:.3f}" for (_, r), v in gates.items()) + "."]
    for s, why in skipped.items():
        lines += ["", f"Skipped {s}: {why}."]
    return "\n".join(lines) + "\n"


def chart(results: dict, path: Path) -> None:
    """Grouped bars of hit@1 and MRR@10 per set and retriever, drawn with Pillow (no plotting dependency)."""
    from PIL import Image, ImageDraw, ImageFont

    colors = {"bm25": (230, 159, 0), "dense": (86, 180, 233), "hybrid": (0, 158, 115)}
    sets = list(results)
    metrics = ("hit@1", "mrr@10")
    group_w, bar_w, left, top, h = 3 * 26 + 20, 26, 60, 50, 300
    width = left + len(sets) * len(metrics) * group_w + 40
    img = Image.new("RGB", (width, top + h + 90), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    d.text((left, 12), "Retrieval quality per set: hit@1 and MRR@10 (bm25 / dense / hybrid)", fill="black", font=font)
    for i in range(6):
        y = top + h - int(h * i / 5)
        d.line([(left - 4, y), (width - 20, y)], fill=(220, 220, 220))
        d.text((left - 34, y - 6), f"{i / 5:.1f}", fill="black", font=font)
    x = left + 10
    for s in sets:
        for metric in metrics:
            for j, r in enumerate(RETRIEVERS):
                v = results[s].get(r, {}).get(metric, 0.0)
                x0 = x + j * bar_w
                d.rectangle([x0, top + h - int(h * v), x0 + bar_w - 4, top + h], fill=colors[r])
            d.text((x, top + h + 6), metric, fill="black", font=font)
            x += group_w
        d.text((x - 2 * group_w, top + h + 24), s[:28], fill="black", font=font)
    for j, r in enumerate(RETRIEVERS):
        d.rectangle([left + j * 110, top + h + 56, left + j * 110 + 14, top + h + 70], fill=colors[r])
        d.text((left + j * 110 + 20, top + h + 57), r, fill="black", font=font)
    img.save(path)


def workdir(cache: Path | None):
    """Where corpora and stores go: a temporary folder, or ``cache`` kept between runs (re-ingesting
    an unchanged corpus there is a no-op sync, which saves the ~2-5 min mini_squad_v2 ingest)."""
    import contextlib

    if cache is None:
        return tempfile.TemporaryDirectory(prefix="rag-bench-")
    Path(cache).mkdir(parents=True, exist_ok=True)
    return contextlib.nullcontext(str(cache))


def run(sets: list[str], settings: rag.Settings, bench_dir: Path, limit: int | None,
        retrievers: tuple[str, ...] = RETRIEVERS, cache: Path | None = None) -> tuple[dict, dict[str, str]]:
    """Score ``sets``; returns (results by set, skip reasons by set)."""
    results: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    with workdir(cache) as tmp:
        for name in sets:
            bs = load_set(name, bench_dir, Path(tmp), limit)
            if isinstance(bs, str):
                skipped[name] = bs
                print(f"skip {name}: {bs}", file=sys.stderr)
                continue
            s = rag.Settings.from_env(**{**settings.__dict__, "store": Path(tmp) / f"store-{name}", "corpus": bs.corpus})
            t0 = time.perf_counter()
            scored = score_set(bs, s, retrievers)
            if isinstance(scored, str):
                skipped[name] = scored
                print(f"skip {name}: {scored}", file=sys.stderr)
                continue
            results[name] = scored
            summary = ", ".join(f"{r} {results[name][r]['hit@1']:.3f}/{results[name][r]['mrr@10']:.3f}" for r in retrievers)
            print(f"{name}: {summary} (hit@1/MRR@10; {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return results, skipped


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", action="append", dest="sets", help=f"a set to run (repeatable; default: {', '.join(DEFAULT_SETS)})")
    p.add_argument("--bench-dir", type=Path, default=BENCH_DIR, help="folder of LlamaIndex rag datasets")
    p.add_argument("--limit", type=int, help="first N questions of each set (a quick run)")
    p.add_argument("--quick", action="store_true", help="same as --limit 20")
    p.add_argument("--out", type=Path, default=ROOT / "eval" / "results")
    p.add_argument("--cache", type=Path, help="keep corpora and indexes in this folder between runs (default: a temp folder)")
    p.add_argument("--tune", action="store_true", help="grid-search the fusion instead (eval/results/tuning.*)")
    p.add_argument("--chunks", help="compare chunkings instead, e.g. 96/16,160/32,254/32 (eval/results/chunking.*)")
    args = p.parse_args(argv)
    limit = 20 if args.quick and not args.limit else args.limit
    sets = args.sets or list(DEFAULT_SETS)
    settings = rag.Settings.from_env()

    args.out.mkdir(parents=True, exist_ok=True)
    if args.tune or args.chunks:
        from tune import tune_main

        tune_main(sets, settings, args.bench_dir, limit, args.out, args.tune, args.chunks, args.cache)
        return 0
    t0 = time.perf_counter()
    results, skipped = run(sets, settings, args.bench_dir, limit, cache=args.cache)
    meta = {"top_k": settings.top_k, "chunk_tokens": settings.chunk_tokens, "chunk_overlap": settings.chunk_overlap,
            "hybrid_weight": settings.hybrid_weight, "candidates": settings.candidates,
            "passage_margin": settings.passage_margin, "limit": limit,
            "seconds": time.perf_counter() - t0}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps({"meta": meta, "results": results, "skipped": skipped}, indent=2) + "\n")
    md = markdown(results, skipped, meta)
    (args.out / "bench.md").write_text(md)
    if results:
        chart(results, args.out / "bench.png")
    print(md)
    print(f"wrote {args.out}/bench.json, .md, .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
