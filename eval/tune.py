"""How the retrieval defaults were chosen: the fusion rule and weight, stemming, the passage margin.

    python eval/tune.py              # all sets, ~3 min on 2 cores (plus mini_squad_v2's ingest)
    python eval/tune.py --quick      # 20 questions per set

For every question the hybrid's candidates (each side's 20 best chunks, with both the
cosine and the normalised BM25 of every candidate) are gathered once; every fusion rule
is then scored on the same candidates, so the grid costs no extra retrieval. The weight
chosen is the one with the best MRR@10 averaged over the sets (macro: each set counts
once). Reciprocal-rank fusion and a light plural stemmer are the alternatives measured
here (and not used by rag/). Writes results/tuning.json and .md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rag  # noqa: E402
from eval.metrics import is_gold, rank_metrics  # noqa: E402
from eval.report import table, write  # noqa: E402
from eval.score import first_gold  # noqa: E402
from eval.sets import BENCH_DIR, DEFAULT_SETS, RESULTS, load_set, workdir  # noqa: E402
from rag.api import Engine  # noqa: E402
from rag.keyword import KeywordIndex  # noqa: E402
from rag.retrieve import Candidate, HybridRetriever  # noqa: E402
from rag.store import VectorStore  # noqa: E402
from rag.text import terms  # noqa: E402

WEIGHTS = [round(0.1 * i, 1) for i in range(11)]
DEPTH = 10
RRF_K = 60  # the constant of Cormack et al. (2009)


def stem(word: str) -> str:
    """A light English plural stemmer (Harman's S-stemmer): 'talks' -> 'talk'.

    >>> [stem(w) for w in ["talks", "policies", "glasses", "witness", "is", "analysis"]]
    ['talk', 'policy', 'glass', 'witness', 'is', 'analysis']
    """
    if len(word) < 4 or not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    return word[:-1]


def rrf(cs: list[tuple[Candidate, bool]], w: float) -> list[tuple[Candidate, bool]]:
    """Candidates ordered by weighted reciprocal-rank fusion: ``w / (60 + dense rank) + (1 - w) / (60 + bm25 rank)``."""
    by_cos = {c.hit.id: r for r, (c, _) in enumerate(sorted(cs, key=lambda cg: -cg[0].cos), 1)}
    by_bm = {c.hit.id: r for r, (c, _) in enumerate(sorted(cs, key=lambda cg: -cg[0].bm25), 1)}
    return sorted(cs, key=lambda cg: -(w / (RRF_K + by_cos[cg[0].hit.id]) + (1 - w) / (RRF_K + by_bm[cg[0].hit.id])))


def bm25_ranks(store: VectorStore, analyzer: Callable[[str], list[str]], questions: list) -> list[int | None]:
    """BM25 alone over the store's chunks, with ``analyzer`` for chunks and questions."""
    ix = KeywordIndex(analyzer)
    texts = {}
    for r in store.records(text=True):
        ix.add(r.chunk)
        texts[r.chunk.id] = r.chunk.text
    ix.commit()
    return [first_gold([texts[c] for c, _ in ix.search(q.query, DEPTH)], q.contexts) for q in questions]


def fusion_grid(sets: list[str], settings: rag.Settings, bench_dir: Path, limit: int | None, cache: Path | None) -> dict:
    """MRR@10 and hit@1 per set for: dense, bm25 (with and without stemming), convex w grid, RRF."""
    out: dict[str, dict] = {}
    with workdir(cache) as tmp:
        for name in sets:
            bs = load_set(name, bench_dir, Path(tmp), limit)
            if isinstance(bs, str):
                continue
            s = replace(settings, store=Path(tmp) / f"store-{name}", corpus=bs.corpus).checked()
            rag.ingest(bs.corpus, settings=s)
            eng = Engine(s)
            hy = HybridRetriever(eng.store, eng.embedder, eng.keywords, s.hybrid_weight, s.candidates)
            qs = [q for q in bs.questions if q.contexts]
            gathered = [[(c, is_gold(c.hit.text, q.contexts)) for c in hy.gather(q.query, s.candidates)] for q in qs]

            def order_by(key: Callable[[Candidate], float]) -> list[int | None]:
                return [_rank([g for c, g in sorted(cs, key=lambda cg: (-key(cg[0]), cg[0].hit.id))]) for cs in gathered]

            rules: dict[str, list[int | None]] = {"dense": order_by(lambda c: c.cos), "bm25": order_by(lambda c: c.bm25)}
            for w in WEIGHTS:
                rules[f"convex w={w}"] = order_by(lambda c, w=w: w * c.cos + (1 - w) * c.bm25)
            for w in (0.3, 0.5, 0.7):
                rules[f"rrf w={w}"] = [_rank([g for _, g in rrf(cs, w)]) for cs in gathered]
            rules["bm25 stem"] = bm25_ranks(eng.store, lambda t: [stem(w) for w in terms(t)], qs)
            rules["bm25 no-stem"] = bm25_ranks(eng.store, terms, qs)
            out[name] = {rule: {k: round(v, 3) for k, v in rank_metrics(r).items()} for rule, r in rules.items()}
            out[name]["_cut"] = {str(w): cut_table(gathered, w, s.top_k) for w in WEIGHTS}
            print(f"tuned on {name}", file=sys.stderr)
    return out


def _rank(order: list[bool]) -> int | None:
    return next((i for i, g in enumerate(order[:DEPTH], 1) if g), None)


def cut_table(gathered: list, w: float, k: int) -> list[dict]:
    """Passages sent vs recall when the hybrid keeps only hits within ``margin`` of its best score."""
    rows = []
    for margin in (None, 0.2, 0.15, 0.1, 0.05):
        sent, found = 0, 0
        for cs in gathered:
            scored = sorted(((w * c.cos + (1 - w) * c.bm25, g) for c, g in cs), key=lambda x: -x[0])[:k]
            kept = scored if margin is None else [x for x in scored if x[0] >= scored[0][0] - margin]
            sent += len(kept)
            found += any(g for _, g in kept)
        rows.append({"margin": margin, "passages": round(sent / len(gathered), 2), "recall": round(found / len(gathered), 3)})
    return rows


def markdown(grid: dict, weight: float, chunking: str) -> str:
    sets = list(grid)
    rules = [r for r in next(iter(grid.values())) if not r.startswith("_")]
    lines = ["# Fusion and stemming grid (MRR@10 / hit@1 per set; macro mean)", "",
             f"Chunks {chunking} word-pieces; candidates: each side's 20 best. `convex w` ranks by "
             "`w * cosine + (1 - w) * bm25`; `rrf w` by `w / (60 + dense rank) + (1 - w) / (60 + bm25 rank)`.", ""]
    lines += table(["rule", *sets, "mean MRR@10"],
                   [[r, *(f"{grid[s][r]['mrr@10']:.3f} / {grid[s][r]['hit@1']:.3f}" for s in sets),
                     f"{sum(grid[s][r]['mrr@10'] for s in sets) / len(sets):.3f}"] for r in rules])
    lines += ["", f"## Passages sent vs recall (hybrid at w={weight}, keep hits within a margin of the best score)", ""]
    lines += table(["set", "margin", "passages", "recall@sent"],
                   [[s, row["margin"] if row["margin"] is not None else "none (top_k)", row["passages"], row["recall"]]
                    for s in sets for row in grid[s]["_cut"][str(weight)]])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", action="append", dest="sets", help=f"a set to run (repeatable; default: {', '.join(DEFAULT_SETS)})")
    p.add_argument("--bench-dir", type=Path, default=BENCH_DIR)
    p.add_argument("--limit", type=int, help="first N questions of each set")
    p.add_argument("--quick", action="store_true", help="same as --limit 20")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--cache", type=Path, help="keep corpora and indexes in this folder between runs")
    args = p.parse_args(argv)
    settings = rag.Settings.from_env()
    grid = fusion_grid(args.sets or list(DEFAULT_SETS), settings, args.bench_dir,
                       20 if args.quick and not args.limit else args.limit, args.cache)
    return write(args.out, "tuning", grid, markdown(grid, settings.hybrid_weight, f"{settings.chunk_tokens}/{settings.chunk_overlap}"))


if __name__ == "__main__":
    raise SystemExit(main())
