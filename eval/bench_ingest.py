"""Ingestion throughput: the pipeline (``rag.ingest``) against raw ``SentenceTransformer.encode``.

    python eval/bench_ingest.py              # ~8 min on 2 busy cores: a 0.5 MB corpus x 3, 1,000 small files
    python eval/bench_ingest.py --mb 10      # a larger corpus
    python eval/bench_ingest.py --quick      # smoke run: 0.05 MB, 1 repeat, 50 small files, ~1 min
    python eval/bench_ingest.py --profile    # plus raw encode per file, cProfile of an ingest and a re-sync by stage
    python eval/bench_ingest.py --embed-batch 1,256   # pipelines with rag.index.EMBED_BATCH 1 (file by file) and 256

Corpus: the .txt/.md files of ../shared/benchmarks/*/source_files (1.2 MB), copied as
often as needed to reach ``--mb`` (each copy in its own folder: other sources, other
chunk ids, the same work). Every repeat ingests it into a fresh temporary store (real
Chroma, real MiniLM) and then, in the same process, a separately loaded
``SentenceTransformer`` from the same packaged model encodes the very chunk texts the
pipeline stored, with the pipeline's batch size, in one call ("raw") and in one call per
file ("raw, per file": what the pipeline's per-file embedding costs the encoder alone).
Both models are warmed first; runs alternate; medians are reported. Goal: pipeline
chunks/s at least 0.9 of raw.

Re-sync: ``rag.ingest`` again over an unchanged folder, of 1,000 generated small files
and of the corpus; seconds per 1,000 unchanged files (goal: under 1 s).

Writes ``ingest-bench.json`` and ``ingest-bench.md`` under eval/results/ (or --out).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rag  # noqa: E402
from eval.report import write  # noqa: E402
from eval.sets import BENCH_DIR, RESULTS  # noqa: E402
from rag.embed import MiniLM, get_embedder, model_path  # noqa: E402
from rag.store import open_store  # noqa: E402

TEXT = (".txt", ".md")
# Where a profiled ingest spends its time: (stage, qualified function names whose cumulative time it is).
STAGES = (
    ("embed (Embedder.embed: SentenceTransformer.encode)", ("embed.py:embed",)),
    ("chunking: word-piece offsets", ("embed.py:token_offsets",)),
    ("chunking: sentences and packing", ("chunk.py:chunk_document",)),
    ("read + sha256, parse when changed", ("load.py:read_file", "load.py:parse_document")),
    ("Chroma upsert", ("chroma.py:upsert",)),
    ("Chroma delete", ("chroma.py:delete",)),
    ("BM25: add chunks", ("keyword.py:add",)),
    ("BM25: commit (write the batch's postings)", ("keyword.py:save",)),
    ("index state (file_states, BM25 file open and repair)", ("store.py:file_states", "keyword.py:open", "keyword.py:repair")),
    ("walk the folder", ("load.py:walk",)),
)


def build_corpus(dest: Path, mb: float, bench_dir: Path) -> None:
    """Copy the benchmarks' text files into ``dest`` until it holds ``mb`` MB."""
    sources = sorted(p for p in bench_dir.glob("*/source_files/**/*") if p.is_file() and p.suffix.lower() in TEXT)
    if not sources:
        raise SystemExit(f"no .txt/.md files under {bench_dir}/*/source_files")
    files = size = 0
    while size < mb * 1e6:
        for src in sources:
            target = dest / f"copy{files // len(sources):02d}" / src.relative_to(bench_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
            files, size = files + 1, size + src.stat().st_size
            if size >= mb * 1e6:
                break


def small_files(dest: Path, n: int) -> None:
    """``n`` short notes (one chunk each), all different."""
    words = "river lamp garden copper violin harbour winter ledger orchard signal".split()
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a, b, c = words[i % 10], words[i // 10 % 10], words[i // 100 % 10]
        (dest / f"note{i:05d}.txt").write_text(
            f"Note {i}: the {a} by the {b} was checked on day {i % 365}.\nIt needs a new {c} before the {a} fair.\n")


def stored_texts(store: Path, settings: rag.Settings) -> dict[str, list[str]]:
    """The chunk texts the pipeline stored, by source file, in file order."""
    by_file: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for r in open_store(replace(settings, store=store)).records(text=True):
        by_file[r.chunk.source].append((r.chunk.start, r.chunk.text))
    return {src: [t for _, t in sorted(v)] for src, v in sorted(by_file.items())}


def timed(fn, *args, **kwargs) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def encode(model, texts: list[str]) -> None:  # type: ignore[no-untyped-def]
    """The raw library call, with the pipeline's batch size and output."""
    model.encode(texts, batch_size=MiniLM.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                 show_progress_bar=False)


def profile_stages(corpus: Path, settings: rag.Settings, store: Path) -> tuple[dict[str, float], str]:
    """cProfile one ``rag.ingest`` call: cumulative seconds per stage, and the top functions as text."""
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.runcall(rag.ingest, corpus, store=store, settings=settings)
    total = time.perf_counter() - t0
    st = pstats.Stats(prof)
    cum = defaultdict(float)
    for (file, _, name), (_, _, _, ct, _) in st.stats.items():  # type: ignore[attr-defined]
        cum[f"{Path(file).name}:{name}"] += ct
    stages = {stage: round(sum(cum.get(f, 0.0) for f in funcs), 3) for stage, funcs in STAGES}
    stages["whole rag.ingest call (under cProfile)"] = round(total, 3)
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
    return stages, buf.getvalue()


def measure(folder: Path, settings: rag.Settings, stores: Path, repeats: int, raw_model,  # type: ignore[no-untyped-def]
            per_file: bool, batches: list[int]) -> dict:
    """Ingest ``folder`` into fresh stores and encode the stored chunk texts raw, alternating; medians.

    ``batches``: pipeline variants with ``rag.index.EMBED_BATCH`` set to each (none: as it is).
    """
    import rag.index

    if batches and not hasattr(rag.index, "EMBED_BATCH"):
        raise SystemExit("--embed-batch: this rag.index embeds file by file (no EMBED_BATCH)")
    variants = {f"pipeline, EMBED_BATCH {b}": b for b in batches} or {"pipeline": None}
    runs: dict[str, list[float]] = {**{k: [] for k in variants}, "raw encode": []}
    if per_file:
        runs["raw encode, one call per file"] = []
    for r in range(repeats):
        for i, (label, batch) in enumerate(variants.items()):
            if batch is not None:
                rag.index.EMBED_BATCH = batch  # type: ignore[attr-defined]
            secs, report = timed(rag.ingest, folder, store=stores / f"{i}-{r}", settings=settings)
            runs[label].append(secs)
        by_file = stored_texts(stores / f"0-{r}", settings)
        texts = [t for ts in by_file.values() for t in ts]
        assert report.chunks_total == len(texts) and len(report.added) == len(by_file), "raw encodes what was ingested"
        runs["raw encode"].append(timed(encode, raw_model, texts)[0])
        if per_file:
            runs["raw encode, one call per file"].append(timed(lambda: [encode(raw_model, ts) for ts in by_file.values()])[0])
        print(f"{folder.name} {r + 1}/{repeats}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in runs.items()), file=sys.stderr)
    mb = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6
    out: dict = {"files": len(by_file), "mb": round(mb, 3), "chunks": len(texts)}
    raw = statistics.median(runs["raw encode"])
    for k, secs in runs.items():
        s = statistics.median(secs)
        out[k] = {"seconds": round(s, 2), "chunks_s": round(len(texts) / s, 1), "mb_s": round(mb / s, 4),
                  "over_raw": round(raw / s, 3), "runs": [round(x, 2) for x in secs]}
    return out


def resync(folder: Path, store: Path, settings: rag.Settings, repeats: int) -> dict:
    """Seconds of ``rag.ingest`` over an unchanged, already indexed folder (median), and per 1,000 files."""
    secs = []
    for _ in range(repeats):
        s, rep = timed(rag.ingest, folder, store=store, settings=settings)
        assert not rep.changed, f"re-sync of an unchanged folder changed something: {rep.summary()}"
        secs.append(s)
    med = statistics.median(secs)
    return {"files": len(rep.unchanged), "seconds": round(med, 3),
            "s_per_1000_files": round(med / len(rep.unchanged) * 1000, 3), "runs": [round(x, 3) for x in secs]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mb", type=float, help="corpus size in MB (default 0.5)")
    p.add_argument("--repeats", type=int, help="ingest/encode repeats on the corpus, medians reported (default 3)")
    p.add_argument("--files", type=int, help="small files: ingested once, then re-synced (default 1000)")
    p.add_argument("--bench-dir", type=Path, default=BENCH_DIR, help="folder of the benchmark sets (text sources)")
    p.add_argument("--quick", action="store_true", help="smoke run: defaults --mb 0.05 --repeats 1 --files 50")
    p.add_argument("--profile", action="store_true",
                   help="also encode raw one call per file, and cProfile one ingest by stage")
    p.add_argument("--embed-batch", help="compare pipelines with rag.index.EMBED_BATCH set to each, e.g. 1,64,256 "
                   "(1: one file per embed call)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    batches = [int(b) for b in args.embed_batch.split(",")] if args.embed_batch else []
    for name, full, quick in (("mb", 0.5, 0.05), ("repeats", 3, 1), ("files", 1000, 50)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)

    import torch
    from sentence_transformers import SentenceTransformer

    with tempfile.TemporaryDirectory(prefix="rag-ingest-bench-") as tmp_name:
        tmp = Path(tmp_name)
        build_corpus(tmp / "corpus", args.mb, args.bench_dir)
        small_files(tmp / "small", args.files)
        settings = rag.Settings.from_env()
        # Warm-up: imports, Chroma, the pipeline's model and the raw model, outside every timing.
        small_files(tmp / "warm", 3)
        rag.ingest(tmp / "warm", store=tmp / "warm-store", settings=settings)
        get_embedder().embed(["warm up"] * 64)
        raw_model = SentenceTransformer(str(model_path()), device="cpu")
        encode(raw_model, ["warm up"] * 64)

        result: dict = {
            "meta": {"repeats": args.repeats, "batch_size": MiniLM.batch_size, "chunk_tokens": settings.chunk_tokens,
                     "chunk_overlap": settings.chunk_overlap, "torch_threads": torch.get_num_threads()},
            "throughput": {"corpus": measure(tmp / "corpus", settings, tmp / "c", args.repeats, raw_model, args.profile,
                                             batches),
                           "small files": measure(tmp / "small", settings, tmp / "s", 1, raw_model, args.profile, batches)},
            "resync": {"small files": resync(tmp / "small", tmp / "s" / "0-0", settings, args.repeats),
                       "corpus": resync(tmp / "corpus", tmp / "c" / "0-0", settings, args.repeats)},
        }
        if args.profile:
            result["profile"] = {}
            for name, folder, store in (("corpus ingest", tmp / "corpus", tmp / "profile-store"),
                                        ("small files re-sync", tmp / "small", tmp / "s" / "0-0")):
                result["profile"][name], top = profile_stages(folder, settings, store)
                print(f"{name}:\n{top}", file=sys.stderr)

    return write(args.out, "ingest-bench", result, markdown(result))


def markdown(result: dict) -> str:
    m = result["meta"]
    lines = ["# Ingestion benchmark", "",
             f"Chunks of {m['chunk_tokens']}/{m['chunk_overlap']} word-pieces, batch size {m['batch_size']}, "
             f"{m['torch_threads']} torch threads; pipeline = rag.ingest into a fresh store, raw = "
             "SentenceTransformer.encode of the same chunk texts in one call, in the same process; medians of "
             f"{m['repeats']} alternating runs on the corpus, 1 run on the small files.", "",
             "| folder | path | seconds | chunks/s | MB/s | rate / raw |", "|---|---|---|---|---|---|"]
    for name, t in result["throughput"].items():
        label = f"{name} ({t['mb']} MB, {t['files']} files, {t['chunks']} chunks)"
        lines += [f"| {label} | {k} | {v['seconds']} | {v['chunks_s']} | {v['mb_s']} | {v['over_raw']} |"
                  for k, v in t.items() if isinstance(v, dict)]
    lines += [""] + [f"Pipeline / raw encode, {name}: " + "; ".join(f"{k} **{v['over_raw']}**" for k, v in t.items()
                                                              if k.startswith("pipeline")) + " (goal: at least 0.9)."
                     for name, t in result["throughput"].items()]
    lines += ["", "| no-change re-sync | files | seconds | s per 1,000 files |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['files']} | {v['seconds']} | {v['s_per_1000_files']} |" for k, v in result["resync"].items()]
    if "profile" in result:
        names = list(result["profile"])
        lines += ["", "| stage (cProfile, cumulative seconds) | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        lines += [f"| {k} | " + " | ".join(str(result["profile"][n][k]) for n in names) + " |" for k in result["profile"][names[0]]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
