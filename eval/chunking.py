"""How the chunk size and overlap were chosen: the retrieval benchmark once per chunking.

    python eval/chunking.py --chunks 96/16,128/32,160/32,254/32    # one full benchmark each, ~5 min per chunking

Each chunking builds its own index (the collection name hashes the chunk settings), so
the runs do not disturb each other. Reports hit@1 / hit@5 / MRR@10 per set and
retriever, the characters a question sends to the answerer, and the chunk count
(results/chunking.json and .md).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rag  # noqa: E402
from eval.bench import RETRIEVERS, run  # noqa: E402
from eval.report import table, write  # noqa: E402
from eval.sets import BENCH_DIR, DEFAULT_SETS, RESULTS  # noqa: E402


def markdown(grid: dict) -> str:
    lines = ["# Chunk size / overlap (word-pieces): hit@1 / hit@5 / MRR@10, characters sent per question", ""]
    lines += table(["chunking", "set", *RETRIEVERS, "chars sent (hybrid)", "chunks"],
                   [[cfg, s, *(f"{res[r]['hit@1']:.3f} / {res[r]['hit@5']:.3f} / {res[r]['mrr@10']:.3f}" for r in RETRIEVERS),
                     res["hybrid"]["chars"], res["_ingest"]["chunks"]] for cfg, results in grid.items() for s, res in results.items()])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chunks", default="96/16,128/32,160/32,254/32", help="size/overlap pairs, comma-separated")
    p.add_argument("--set", action="append", dest="sets", help=f"a set to run (repeatable; default: {', '.join(DEFAULT_SETS)})")
    p.add_argument("--bench-dir", type=Path, default=BENCH_DIR)
    p.add_argument("--limit", type=int, help="first N questions of each set")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--cache", type=Path, help="keep corpora and indexes in this folder between runs")
    args = p.parse_args(argv)
    settings = rag.Settings.from_env()
    grid = {}
    for item in args.chunks.split(","):
        size, overlap = (int(x) for x in item.split("/"))
        chunked = replace(settings, chunk_tokens=size, chunk_overlap=overlap).checked()
        grid[f"{size}/{overlap}"], _ = run(args.sets or list(DEFAULT_SETS), chunked, args.bench_dir, args.limit, cache=args.cache)
    return write(args.out, "chunking", grid, markdown(grid))


if __name__ == "__main__":
    raise SystemExit(main())
