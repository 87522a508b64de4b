"""How the retrieval defaults were chosen: fusion grid, stemming, chunk sizes. Called by bench.py.

    python eval/bench.py --tune                          # fusion + stemming, ~3 min on 2 cores
    python eval/bench.py --tune --chunks 96/16,160/32,254/32   # + one full benchmark per chunking

Fusion: for every question the hybrid's candidates (each side's 20 best chunks, with
both the cosine and the normalised BM25 of every candidate) are gathered once; every
fusion rule is then scored on the same candidates, so the grid costs no extra retrieval.
The weight chosen is the one with the best MRR@10 averaged over the sets (macro: each
set counts once, however many questions it has). Writes tuning.json/.md and
chunking.json/.md under eval/results/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import rag
from bench import DEPTH, RETRIEVERS, load_set, run, workdir
from metrics import is_gold, rank_metrics

WEIGHTS = [round(0.1 * i, 1) for i in range(11)]


def _rank(order: list[bool]) -> int | None:
    return next((i for i, g in enumerate(order[:DEPTH], 1) if g), None)


def fusion_grid(sets: list[str], settings: rag.Settings, bench_dir: Path, limit: int | None, cache: Path | None) -> dict:
    """MRR@10 and hit@1 per set for: dense, bm25 (with and without stemming), convex w grid, RRF."""
    import rag.keyword as kw
    from rag.api import Engine
    from rag.keyword import KeywordIndex
    from rag.retrieve import Candidate, HybridRetriever

    out: dict[str, dict] = {}
    with workdir(cache) as tmp:
        for name in sets:
            bs = load_set(name, bench_dir, Path(tmp), limit)
            if isinstance(bs, str):
                continue
            s = rag.Settings.from_env(**{**settings.__dict__, "store": Path(tmp) / f"store-{name}", "corpus": bs.corpus})
            rag.ingest(bs.corpus, settings=s)
            eng = Engine(s)
            hy = HybridRetriever(eng.store, eng.embedder, eng.keywords, s.hybrid_weight, s.candidates)
            qs = [q for q in bs.questions if q.contexts]
            gathered: list[list[tuple[Candidate, bool]]] = []
            for q in qs:
                cands = hy.gather(q.query, s.candidates)
                gathered.append([(c, is_gold(c.hit.text, q.contexts)) for c in cands])
            rules: dict[str, list[int | None]] = {}

            def order_by(key) -> list[int | None]:  # noqa: ANN001
                return [_rank([g for c, g in sorted(cs, key=lambda cg: (-key(cg[0]), cg[0].hit.id))]) for cs in gathered]

            rules["dense"] = order_by(lambda c: c.cos)
            rules["bm25"] = order_by(lambda c: c.bm25)
            for w in WEIGHTS:
                rules[f"convex w={w}"] = order_by(lambda c, w=w: w * c.cos + (1 - w) * c.bm25)
            for w in (0.3, 0.5, 0.7):
                rules[f"rrf w={w}"] = [_rank([g for c, g in _rrf(cs, w)]) for cs in gathered]
            # stemming: BM25 alone over the same chunks, with the light stemmer and without it
            docs = eng.store.collection().get(include=["documents", "metadatas"])
            for label, flag in (("bm25 stem", True), ("bm25 no-stem", False)):
                real, kw.STEM = kw.STEM, flag
                try:
                    ix = KeywordIndex()
                    for cid, text, meta in zip(docs["ids"], docs["documents"], docs["metadatas"]):
                        ix.add(cid, text, meta)
                    texts = dict(zip(docs["ids"], docs["documents"]))
                    rules[label] = [first([texts[c] for c, _ in ix.search(q.query, DEPTH)], q.contexts) for q in qs]
                finally:
                    kw.STEM = real
            out[name] = {rule: {k: round(v, 3) for k, v in rank_metrics(r).items()} for rule, r in rules.items()}
            out[name]["_cut"] = {str(w): cut_table(gathered, w, s.top_k) for w in WEIGHTS}
            print(f"tuned on {name}", file=sys.stderr)
    return out


def first(passages: list[str], contexts: list[str]) -> int | None:
    return next((i for i, p in enumerate(passages, 1) if is_gold(p, contexts)), None)


def _rrf(cs: list, w: float) -> list:
    from rag.retrieve import RRF_K

    by_cos = {c.hit.id: r for r, (c, _) in enumerate(sorted(cs, key=lambda cg: -cg[0].cos), 1)}
    by_bm = {c.hit.id: r for r, (c, _) in enumerate(sorted(cs, key=lambda cg: -cg[0].bm25), 1)}
    return sorted(cs, key=lambda cg: -(w / (RRF_K + by_cos[cg[0].hit.id]) + (1 - w) / (RRF_K + by_bm[cg[0].hit.id])))


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


def tuning_markdown(grid: dict, weight: float, chunking: str) -> str:
    sets = list(grid)
    rules = [r for r in next(iter(grid.values())) if not r.startswith("_")]
    lines = ["# Fusion and stemming grid (MRR@10 / hit@1 per set; macro mean)", "",
             f"Chunks {chunking} word-pieces; candidates: each side's 20 best. `convex w` ranks by "
             "`w * cosine + (1 - w) * bm25`; `rrf w` by `w / (60 + dense rank) + (1 - w) / (60 + bm25 rank)`.", "",
             "| rule | " + " | ".join(sets) + " | mean MRR@10 |", "|---|" + "---|" * (len(sets) + 1)]
    for r in rules:
        cells = [f"{grid[s][r]['mrr@10']:.3f} / {grid[s][r]['hit@1']:.3f}" for s in sets]
        mean = sum(grid[s][r]["mrr@10"] for s in sets) / len(sets)
        lines.append(f"| {r} | " + " | ".join(cells) + f" | {mean:.3f} |")
    lines += ["", f"## Passages sent vs recall (hybrid at w={weight}, keep hits within a margin of the best score)", "",
              "| set | margin | passages | recall@sent |", "|---|---|---|---|"]
    for s in sets:
        for row in grid[s]["_cut"][str(weight)]:
            lines.append(f"| {s} | {row['margin'] if row['margin'] is not None else 'none (top_k)'} | {row['passages']} | {row['recall']} |")
    return "\n".join(lines) + "\n"


def chunk_grid(sets: list[str], settings: rag.Settings, bench_dir: Path, limit: int | None, spec: str,
               cache: Path | None) -> dict:
    out = {}
    for item in spec.split(","):
        size, overlap = (int(x) for x in item.split("/"))
        s = rag.Settings.from_env(**{**settings.__dict__, "chunk_tokens": size, "chunk_overlap": overlap})
        results, _ = run(sets, s, bench_dir, limit, cache=cache)
        out[f"{size}/{overlap}"] = results
    return out


def chunk_markdown(grid: dict) -> str:
    lines = ["# Chunk size / overlap (word-pieces): hit@1 / hit@5 / MRR@10, characters sent per question", "",
             "| chunking | set | " + " | ".join(RETRIEVERS) + " | chars sent (hybrid) | chunks |",
             "|---|---|" + "---|" * (len(RETRIEVERS) + 2)]
    for cfg, results in grid.items():
        for s, res in results.items():
            cells = [f"{res[r]['hit@1']:.3f} / {res[r]['hit@5']:.3f} / {res[r]['mrr@10']:.3f}" for r in RETRIEVERS]
            lines.append(f"| {cfg} | {s} | " + " | ".join(cells) + f" | {res['hybrid']['chars']} | {res['_ingest']['chunks']} |")
    return "\n".join(lines) + "\n"


def tune_main(sets: list[str], settings: rag.Settings, bench_dir: Path, limit: int | None, out: Path,
              fusion: bool, chunks: str | None, cache: Path | None = None) -> None:
    if fusion:
        grid = fusion_grid(sets, settings, bench_dir, limit, cache)
        (out / "tuning.json").write_text(json.dumps(grid, indent=2) + "\n")
        md = tuning_markdown(grid, settings.hybrid_weight, f"{settings.chunk_tokens}/{settings.chunk_overlap}")
        (out / "tuning.md").write_text(md)
        print(md)
    if chunks:
        grid = chunk_grid(sets, settings, bench_dir, limit, chunks, cache)
        (out / "chunking.json").write_text(json.dumps(grid, indent=2) + "\n")
        md = chunk_markdown(grid)
        (out / "chunking.md").write_text(md)
        print(md)
