"""Local-model latency through the project vs raw xllamacpp, and extractive vs LLM answer quality.

    python eval/bench_llm.py                 # ~6 min on 2 cores: 5 prompts x 2 paths, then the eval twice
    python eval/bench_llm.py --prompts 3 --no-eval      # latency only, ~1 min
    python eval/bench_llm.py --model qwen2.5-coder-0.5b

Latency: the same messages (the project's real prompt for a seed question) go once
straight to ``xllamacpp.Server.handle_chat_completions`` and once through the project's
path (``LocalModel.stream``: its thread and queue, as the generative answerer calls it),
on the same loaded model, alternating, with llama.cpp's prompt cache off so neither run
reuses the other's work. Reports time to first token, generation tokens/s and whole-answer time,
and the project/raw ratio (goal: overhead under 5%).

Quality: the seed question set scored (eval/score.py) with the extractive answerer and
with the local model. Writes eval/results/llm-bench.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval.report import write  # noqa: E402
from eval.score import evaluate  # noqa: E402
from eval.sets import QUESTIONS, RESULTS, SEEDS, indexed, load_jsonl  # noqa: E402
from rag.generate import build_passages, prompt  # noqa: E402
from rag.llm import local_model  # noqa: E402


def stats(pieces: list[str], first: float | None, total: float) -> dict:
    """Time to first token, generation rate after it, whole time (one streamed piece ~ one token)."""
    n, first = len(pieces), total if first is None else first
    rate = (n - 1) / (total - first) if n > 1 and total > first else 0.0
    return {"ttft": first, "tokens": n, "total": total, "tok_s": rate, "text": "".join(pieces)}


def timed(stream) -> dict:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    pieces: list[str] = []
    first = None
    for piece in stream:
        if piece:
            first = first if first is not None else time.perf_counter() - t0
            pieces.append(piece)
    return stats(pieces, first, time.perf_counter() - t0)


def raw_stream(server, messages, max_tokens):  # type: ignore[no-untyped-def]
    """Raw xllamacpp: its callback, collected into a list (no thread, no queue, no llama-index)."""
    pieces: list[str] = []

    def on_chunk(chunk):  # type: ignore[no-untyped-def]
        data = json.loads(chunk) if isinstance(chunk, str) else chunk
        for choice in data.get("choices", []):
            if (choice.get("delta") or {}).get("content"):
                pieces.append(choice["delta"]["content"])
                if len(pieces) == 1:
                    marks.append(time.perf_counter())

    marks: list[float] = []
    t0 = time.perf_counter()
    server.handle_chat_completions({"messages": messages, "max_tokens": max_tokens, "temperature": 0,
                                    "stream": True, "cache_prompt": False}, on_chunk)
    return stats(pieces, marks[0] - t0 if marks else None, time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="qwen2.5-coder-1.5b")
    p.add_argument("--prompts", type=int, default=5, help="seed questions to time")
    p.add_argument("--no-eval", action="store_true", help="skip the quality comparison")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    questions = load_jsonl(QUESTIONS)
    with indexed(SEEDS, llm_model=args.model) as engine:
        settings = engine.settings
        model = local_model(args.model, settings.model_dir)
        t0 = time.perf_counter()
        server = model.load()
        load_s = time.perf_counter() - t0
        model.options = {"cache_prompt": False}
        scorer = engine.answerers.extractive.scorer
        runs: dict[str, list[dict]] = {"raw xllamacpp": [], "project": []}
        answerable = [q for q in questions if q["answerable"]][: args.prompts]
        raw_stream(server, [{"role": "user", "content": "Hi"}], 4)  # warm-up
        for q in answerable:
            hits = engine.search(q["question"])
            messages = prompt(q["question"], build_passages(scorer.rank(q["question"], hits), settings.llm_passages))
            raw = raw_stream(server, messages, settings.llm_max_tokens)
            ours = timed(model.stream(messages, settings.llm_max_tokens))
            assert raw["text"] == ours["text"], "same prompt, greedy decoding: the same answer"
            runs["raw xllamacpp"].append(raw)
            runs["project"].append(ours)
            print(f"{q['id']}: raw ttft {raw['ttft']:.2f}s total {raw['total']:.2f}s | project ttft {ours['ttft']:.2f}s total {ours['total']:.2f}s", file=sys.stderr)
        model.options = {}
        latency = {name: {k: round(statistics.mean(r[k] for r in rs), 3) for k in ("ttft", "tokens", "tok_s", "total")}
                   for name, rs in runs.items()}
        ratio = {k: round(latency["project"][k] / latency["raw xllamacpp"][k], 3) for k in ("ttft", "total")}
        result: dict = {"model": args.model, "load_seconds": round(load_s, 2), "prompts": len(answerable),
                        "latency": latency, "ratio_project_over_raw": ratio}
        if not args.no_eval:
            result["quality"] = {}
            for answerer in ("extractive", "local"):
                m = evaluate(engine, questions, answerer)["metrics"]
                result["quality"][answerer] = m
                print(f"{answerer}: {m}", file=sys.stderr)

    md = [f"# Local model benchmark: {args.model}", "",
          f"Model load {result['load_seconds']} s; {len(answerable)} seed prompts, prompt cache off, 2 cores.", "",
          "| path | time to first token (s) | tokens | tokens/s | whole answer (s) |", "|---|---|---|---|---|"]
    md += [f"| {n} | {v['ttft']} | {v['tokens']} | {v['tok_s']:.1f} | {v['total']} |" for n, v in latency.items()]
    md += ["", f"Project / raw: time to first token {ratio['ttft']}, whole answer {ratio['total']}."]
    if "quality" in result:
        keys = ["accuracy", "f1", "citation_correct", "refusal_precision", "refusal_recall", "mean_seconds"]
        md += ["", "| answerer | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        md += [f"| {a} | " + " | ".join(str(m[k]) for k in keys) + " |" for a, m in result["quality"].items()]
    return write(args.out, "llm-bench", result, "\n".join(md) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
