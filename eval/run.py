"""Score the assistant on a hand-written question set: one command, JSON + Markdown out.

    python eval/run.py                      # seeds/ + eval/questions.jsonl, ~30 s on 2 cores
    python eval/run.py --sweep              # also: refusal floor sweep (how min_score was chosen)
    python eval/run.py --conversations      # eval/conversations.jsonl turn by turn, with and without history

Ingests the corpus into a fresh temporary index (so the default vectorstore/ is not
touched), asks every question through ``rag.ask``, and reports retrieval hit@1/hit@5/MRR,
answer accuracy and token F1, citation correctness and refusal precision/recall.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "eval")]

import rag  # noqa: E402
from metrics import auc, contains_answer, first_rank, overlaps, refusal_scores, squash, token_f1  # noqa: E402
from rag.answer import ExtractiveAnswerer  # noqa: E402
from rag.cite import verify  # noqa: E402
from rag.load import load_document  # noqa: E402
from rag.retrieve import keep_close  # noqa: E402


def load_questions(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def support_span(corpus: Path, support: str) -> tuple[str, int, int] | None:
    """(source, start, end) of the verbatim supporting text in the corpus."""
    from rag.load import walk

    for path, source in walk(corpus):
        try:
            text = load_document(path, source, 1 << 40).text
        except Exception:
            continue
        i = text.find(support)
        if i >= 0:
            return source, i, i + len(support)
    return None


def evaluate(questions: list[dict], corpus: Path, settings: rag.Settings, answerer: str) -> dict:
    rows = []
    for q in questions:
        t0 = time.perf_counter()
        a = rag.ask(q["question"], answerer=answerer, settings=settings)
        rows.append(score(q, a, corpus, time.perf_counter() - t0))
    return {"metrics": summarize(rows), "rows": rows}


def score(q: dict, a: rag.Answer, corpus: Path, seconds: float) -> dict:
    """One question's row: the answer and, when answerable, its rank, correctness, F1 and citation check.

    ``q["support"]`` is the verbatim supporting text, or a list of them when several passages say it.
    """
    row = {"id": q["id"], "kind": q["kind"], "question": q["question"], "answerable": q["answerable"],
           "answer": a.text, "refused": a.refused, "seconds": round(seconds, 3),
           "citations": [f"{c.source}:{c.start}-{c.end}" for c in a.citations],
           "citations_verified": all(verify(c, corpus) for c in a.citations)}
    if q["answerable"]:
        supports = [q["support"]] if isinstance(q["support"], str) else q["support"]
        spans = [support_span(corpus, s) for s in supports]
        if None in spans:
            raise SystemExit(f"{q['id']}: supporting text not found verbatim in {corpus}: {supports!r}")
        ranks = [r for s in supports if (r := first_rank([h.text for h in a.hits], s))]
        row["rank"] = min(ranks) if ranks else None
        row["correct"] = not a.refused and contains_answer(a.text, q["answers"])
        row["f1"] = 0.0 if a.refused else token_f1(a.text, q["answers"])
        row["citation_ok"] = any(c.source == src and overlaps((c.start, c.end), (i, j))
                                 for c in a.citations for src, i, j in spans)
    return row


def evaluate_conversations(conversations: list[dict], corpus: Path, settings: rag.Settings, answerer: str) -> dict:
    """Each turn asked with the conversation so far (the system's own earlier answers, as the UI
    sends them), and again alone: the gap is what rewriting follow-ups buys."""
    eng = rag.engine(settings=settings)
    with_history, alone = [], []
    for conv in conversations:
        history: list[dict] = []
        for n, turn in enumerate(conv["turns"], 1):
            q = {**turn, "id": f"{conv['id']}.{n}", "kind": "first" if n == 1 else "followup"}
            t0 = time.perf_counter()
            searched = eng.standalone(turn["question"], history, answerer)
            rewrite_seconds = time.perf_counter() - t0
            a = eng.ask(turn["question"], history, answerer)  # reuses the rewrite just made
            row = score(q, a, corpus, time.perf_counter() - t0)
            with_history.append({**row, "standalone": searched, "rewrite_seconds": round(rewrite_seconds, 3)})
            if n == 1:  # no history either way: the same answer
                alone.append(row)
            else:
                t0 = time.perf_counter()
                alone.append(score(q, eng.ask(turn["question"], None, answerer), corpus, time.perf_counter() - t0))
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


def summarize(rows: list[dict]) -> dict:
    ans = [r for r in rows if r["answerable"]]
    answered = [r for r in ans if not r["refused"]]
    ranks = [r["rank"] for r in ans]
    m = {
        "questions": len(rows), "answerable": len(ans), "unanswerable": len(rows) - len(ans),
        "hit@1": sum(1 for k in ranks if k == 1) / len(ans),
        "hit@5": sum(1 for k in ranks if k and k <= 5) / len(ans),
        "mrr": sum(1 / k for k in ranks if k) / len(ans),
        "accuracy": sum(r["correct"] for r in ans) / len(ans),
        "f1": sum(r["f1"] for r in ans) / len(ans),
        "citation_correct": sum(r["citation_ok"] for r in answered) / len(answered) if answered else 0.0,
        "citations_verified": sum(r["citations_verified"] for r in rows) / len(rows),
        **refusal_scores([r["refused"] for r in rows], [not r["answerable"] for r in rows]),
        "mean_seconds": sum(r["seconds"] for r in rows) / len(rows),
    }
    for kind in sorted({r["kind"] for r in ans}):
        sub = [r for r in ans if r["kind"] == kind]
        m[f"accuracy_{kind}"] = sum(r["correct"] for r in sub) / len(sub)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in m.items()}


def sweep(questions: list[dict], settings: rag.Settings) -> tuple[list[dict], dict]:
    """Refusal precision/recall and answered accuracy at each candidate floor, and how well the
    gate's scores separate answerable from unanswerable questions (ROC AUC)."""
    eng = rag.engine(settings=settings)
    ranker = ExtractiveAnswerer(eng.embedder, 0.0)
    best, top_hit = [], []
    for q in questions:
        hits = keep_close(eng.retriever.retrieve(q["question"], settings.top_k), settings.passage_margin)  # as ask() does
        ranked = ranker.rank(q["question"], hits)
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
    m = result["metrics"]
    lines = [f"# {title}", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in m.items()]
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


def conversations_markdown(result: dict, title: str) -> str:
    """Metrics side by side (all turns and follow-ups only, with and without history), then the misses."""
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
    for r in result["with_history"]["rows"]:
        if r["kind"] != "followup":
            continue
        ok = lambda x: (x["correct"] if x["answerable"] else x["refused"])  # noqa: E731
        ans = squash(r["answer"])[:120].replace("|", "\\|")
        lines.append(f"| {r['id']} | {r['question']} | {r['standalone']} | {ans} | {'yes' if ok(r) else 'no'} | "
                     f"{'yes' if ok(alone[r['id']]) else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--questions", type=Path, default=ROOT / "eval" / "questions.jsonl")
    p.add_argument("--corpus", type=Path, default=ROOT / "seeds")
    p.add_argument("--out", type=Path, default=ROOT / "eval" / "results")
    p.add_argument("--answerer", default="auto")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--min-score", type=float, default=None)
    p.add_argument("--retriever", default=None, help="hybrid | dense | bm25 (default: settings)")
    p.add_argument("--sweep", action="store_true", help="also sweep the refusal floor")
    p.add_argument("--conversations", type=Path, nargs="?", const=ROOT / "eval" / "conversations.jsonl", default=None,
                   help="score multi-turn conversations instead (default file: eval/conversations.jsonl)")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        settings = rag.Settings.from_env(store=Path(tmp), corpus=args.corpus, top_k=args.top_k, min_score=args.min_score,
                                         retriever=args.retriever)
        report = rag.ingest(args.corpus, settings=settings)
        print(f"ingested: {report.summary()}", file=sys.stderr)
        if args.conversations:
            result = evaluate_conversations(load_questions(args.conversations), args.corpus, settings, args.answerer)
            result["settings"] = {"top_k": settings.top_k, "answerer": args.answerer, "retriever": settings.retriever}
            return write(args.out, f"{args.conversations.stem}-{args.answerer}", result,
                         conversations_markdown(result, f"Eval: {args.conversations.name} ({args.answerer} answerer)"))
        questions = load_questions(args.questions)
        result = evaluate(questions, args.corpus, settings, args.answerer)
        result["settings"] = {"top_k": settings.top_k, "min_score": settings.min_score, "answerer": args.answerer,
                              "retriever": settings.retriever, "hybrid_weight": settings.hybrid_weight,
                              "chunk_tokens": settings.chunk_tokens, "chunk_overlap": settings.chunk_overlap}
        if args.sweep:
            result["sweep"], result["gate"] = sweep(questions, settings)
    return write(args.out, f"{args.questions.stem}-{args.answerer}", result,
                 markdown(result, f"Eval: {args.questions.name} ({args.answerer} answerer)"))


def write(out: Path, name: str, result: dict, md: str) -> int:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{name}.md").write_text(md)
    print(md)
    print(f"wrote {out / name}.json and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
