"""Score the assistant's answers on the project's hand-written questions: one command, JSON + Markdown out.

    python eval/run.py                           # seeds/ + eval/questions.jsonl, local model: ~4 min on 2 cores
    python eval/run.py --answerer extractive     # ~30 s
    python eval/run.py --sweep                   # also: the refusal floor sweep (how min_score was chosen)

Ingests the corpus into a fresh temporary index (vectorstore/ is not touched), asks every
question through the engine, and reports retrieval hit@1/hit@5/MRR, answer accuracy and
token F1, citation correctness and refusal precision/recall
(results/questions-<answerer>.json and .md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rag  # noqa: E402
from eval.metrics import auc, contains_answer, refusal_scores, squash  # noqa: E402
from eval.report import write  # noqa: E402
from eval.score import evaluate  # noqa: E402
from eval.sets import QUESTIONS, RESULTS, SEEDS, indexed, load_jsonl  # noqa: E402


def sweep(engine: rag.api.Engine, questions: list[dict]) -> tuple[list[dict], dict]:
    """Refusal precision/recall and answered accuracy at each candidate floor, and how well the
    gate's scores separate answerable from unanswerable questions (ROC AUC)."""
    scorer = engine.answerers.extractive.scorer
    best, top_hit = [], []
    for q in questions:
        hits = engine.search(q["question"])  # as ask() searches
        ranked = scorer.rank(q["question"], hits)
        top = ranked[0] if ranked else None
        ok = bool(top) and q["answerable"] and contains_answer(top.hit.text[top.a : top.b], q["answers"])
        best.append((top.score if top else 0.0, q["answerable"], ok))
        top_hit.append((hits[0].score if hits else -1.0, q["answerable"]))
    gate = {
        "auc_support_score": round(auc([s for s, a, _ in best if a], [s for s, a, _ in best if not a]), 3),
        "auc_top_hit_score": round(auc([s for s, a in top_hit if a], [s for s, a in top_hit if not a]), 3),
    }
    out = []
    for floor in [x / 100 for x in range(15, 56, 2)]:
        refused = [s < floor for s, _, _ in best]
        r = refusal_scores(refused, [not a for _, a, _ in best])
        acc = sum(ok and s >= floor for s, _, ok in best) / sum(a for _, a, _ in best)
        out.append({"floor": floor, **{k: round(v, 3) for k, v in r.items()}, "accuracy": round(acc, 3)})
    return out, gate


def markdown(result: dict, title: str) -> str:
    lines = [f"# {title}", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in result["metrics"].items()]
    misses = [r for r in result["rows"] if (r["answerable"] and not r["correct"]) or (not r["answerable"] and not r["refused"])]
    if misses:
        lines += ["", "## Misses", "", "| id | question | answer | retrieval rank |", "|---|---|---|---|"]
        for r in misses:
            ans = squash(r["answer"])[:140].replace("|", "\\|")
            lines.append(f"| {r['id']} | {r['question']} | {ans} | {r.get('rank', '-')} |")
    if result.get("gate"):
        g = result["gate"]
        lines += ["", f"Gate separation (ROC AUC, answerable vs unanswerable): best sentence's support score "
                  f"{g['auc_support_score']}, best hit's retrieval score {g['auc_top_hit_score']}."]
    if result.get("sweep"):
        lines += ["", "## Refusal floor sweep", "", "| floor | refusal precision | refusal recall | accuracy |", "|---|---|---|---|"]
        lines += [f"| {s['floor']} | {s['refusal_precision']} | {s['refusal_recall']} | {s['accuracy']} |" for s in result["sweep"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--questions", type=Path, default=QUESTIONS)
    p.add_argument("--corpus", type=Path, default=SEEDS)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--answerer", default="auto")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--min-score", type=float, default=None)
    p.add_argument("--retriever", default=None, help="hybrid | dense | bm25 (default: settings)")
    p.add_argument("--sweep", action="store_true", help="also sweep the refusal floor")
    args = p.parse_args(argv)

    settings = rag.Settings.from_env(top_k=args.top_k, min_score=args.min_score, retriever=args.retriever)
    questions = load_jsonl(args.questions)
    with indexed(args.corpus, settings) as engine:
        result = evaluate(engine, questions, args.answerer)
        s = engine.settings
        result["settings"] = {"top_k": s.top_k, "min_score": s.min_score, "answerer": args.answerer, "retriever": s.retriever,
                              "hybrid_weight": s.hybrid_weight, "chunk_tokens": s.chunk_tokens, "chunk_overlap": s.chunk_overlap}
        if args.sweep:
            result["sweep"], result["gate"] = sweep(engine, questions)
    return write(args.out, f"{args.questions.stem}-{args.answerer}", result,
                 markdown(result, f"Eval: {args.questions.name} ({args.answerer} answerer)"))


if __name__ == "__main__":
    raise SystemExit(main())
