"""Score follow-up questions: each conversation turn asked with its history, and again alone.

    python eval/conversations.py                         # local model: ~15 min on 2 busy cores
    python eval/conversations.py --answerer extractive   # ~3 min

Each turn of eval/conversations.jsonl is asked with the conversation so far (the system's
own earlier answers, as the UI sends them) and again without it: the gap is what
rewriting follow-ups buys (results/conversations-<answerer>.json and .md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rag  # noqa: E402
from eval.metrics import squash  # noqa: E402
from eval.report import write  # noqa: E402
from eval.score import score_answer, summarize  # noqa: E402
from eval.sets import CONVERSATIONS, RESULTS, SEEDS, indexed, load_jsonl  # noqa: E402


def evaluate_conversations(engine: rag.api.Engine, conversations: list[dict], answerer: str) -> dict:
    corpus = engine.settings.corpus
    with_history, alone = [], []
    for conv in conversations:
        history: list[dict] = []
        for n, turn in enumerate(conv["turns"], 1):
            q = {**turn, "id": f"{conv['id']}.{n}", "kind": "first" if n == 1 else "followup"}
            t0 = time.perf_counter()
            searched = engine.standalone(turn["question"], history, answerer)
            rewrite_seconds = time.perf_counter() - t0
            a = engine.ask(turn["question"], history, answerer)  # reuses the rewrite just made
            row = score_answer(q, a, corpus, time.perf_counter() - t0)
            with_history.append({**row, "standalone": searched, "rewrite_seconds": round(rewrite_seconds, 3)})
            if n == 1:  # no history either way: the same answer
                alone.append(row)
            else:
                t0 = time.perf_counter()
                alone.append(score_answer(q, engine.ask(turn["question"], None, answerer), corpus, time.perf_counter() - t0))
            history += [{"role": "user", "content": turn["question"]}, {"role": "assistant", "content": a.text}]
        print(f"{conv['id']}: {len(conv['turns'])} turns asked", file=sys.stderr)
    follow = [r for r in with_history if r["kind"] == "followup"]
    rewritten = [r for r in follow if r["standalone"] != r["question"]]
    return {
        "with_history": {"metrics": summarize(with_history), "rows": with_history},
        "without_history": {"metrics": summarize(alone), "rows": alone},
        "followups": {"with_history": summarize(follow), "without_history": summarize([r for r in alone if r["kind"] == "followup"]),
                      "rewritten": len(rewritten), "turns": len(follow),
                      "mean_rewrite_seconds": round(sum(r["rewrite_seconds"] for r in rewritten) / max(1, len(rewritten)), 3),
                      "max_rewrite_seconds": max((r["rewrite_seconds"] for r in rewritten), default=0.0)},
    }


def markdown(result: dict, title: str) -> str:
    """Metrics side by side (all turns and follow-ups only, with and without history), then the follow-up turns."""
    cols = [result["with_history"]["metrics"], result["without_history"]["metrics"],
            result["followups"]["with_history"], result["followups"]["without_history"]]
    lines = [f"# {title}", "", "| metric | all turns, with history | all turns, alone | follow-ups, with history | follow-ups, alone |",
             "|---|---|---|---|---|"]
    lines += [f"| {k} | " + " | ".join(str(c.get(k, "-")) for c in cols) + " |" for k in cols[0]]
    f = result["followups"]
    lines += ["", f"Follow-ups rewritten: {f['rewritten']} of {f['turns']}; rewrite time mean {f['mean_rewrite_seconds']} s, "
              f"max {f['max_rewrite_seconds']} s."]
    lines += ["", "## Follow-up turns", "", "| id | question | searched for | answer (with history) | ok | ok alone |", "|---|---|---|---|---|---|"]
    alone = {r["id"]: r for r in result["without_history"]["rows"]}

    def ok(x: dict) -> bool:
        return x["correct"] if x["answerable"] else x["refused"]

    for r in result["with_history"]["rows"]:
        if r["kind"] != "followup":
            continue
        ans = squash(r["answer"])[:120].replace("|", "\\|")
        lines.append(f"| {r['id']} | {r['question']} | {r['standalone']} | {ans} | {'yes' if ok(r) else 'no'} | "
                     f"{'yes' if ok(alone[r['id']]) else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conversations", type=Path, default=CONVERSATIONS)
    p.add_argument("--corpus", type=Path, default=SEEDS)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--answerer", default="auto")
    args = p.parse_args(argv)
    with indexed(args.corpus) as engine:
        result = evaluate_conversations(engine, load_jsonl(args.conversations), args.answerer)
        result["settings"] = {"top_k": engine.settings.top_k, "answerer": args.answerer, "retriever": engine.settings.retriever}
    return write(args.out, f"{args.conversations.stem}-{args.answerer}", result,
                 markdown(result, f"Eval: {args.conversations.name} ({args.answerer} answerer)"))


if __name__ == "__main__":
    raise SystemExit(main())
