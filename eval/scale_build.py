"""Big indexes for eval/bench_scale.py, made from real text without running the encoder for every chunk.

The method, so the figures can be judged:

- **Base**: every document of ../shared/benchmarks (62 files: Wikipedia articles, essays,
  help-desk pages, a PDF; ~2,800 chunks at the default 128 word-pieces) is parsed and
  chunked by the project's own code (rag.load, rag.chunk) and embedded once by MiniLM.
  The vectors are cached in the work folder (``base-vectors.npz``), so only the first run
  pays for the encoder (a few minutes on 2 cores).
- **Copies**: a store of N chunks is a corpus folder holding copies of those files
  (``c000/…``, ``c001/…``, whole files, until N chunks are reached). Copy 0 gets the real
  vectors; every other copy gets each real vector plus Gaussian noise (``noise`` per
  dimension, 0.025 by default: cosine ~0.9 to the original), renormalised. So the text is
  real (BM25 sees a real vocabulary, with document frequencies scaled by the number of
  copies), each question's true passage is in copy 0, and the vector space holds dense
  clusters of near-duplicates around every real chunk: a harder case for HNSW than random
  filler, which would sit far from every question.
- **Writing**: through the project's own store (``open_store``, ``VectorStore.upsert``, with
  the files' real hashes and chunk counts, so a sync of the folder finds every file
  unchanged) and keyword index (``KeywordFile.repair``, which builds it from the stored
  texts, whatever its storage). The vectors are also kept as ``vectors.npy`` / ``ids.json``
  for the exact search that HNSW's recall is measured against.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import rag
from eval.sets import BENCH_DIR

DIM = 384


@dataclass
class BaseDoc:
    """One real document: where it is, its bytes' hash, and its chunks as the project makes them."""

    rel: str  # path under the benchmarks folder
    path: Path
    sha256: str
    chunks: list  # rag.types.Chunk, with source = rel


def base_docs(settings: rag.Settings) -> list[BaseDoc]:
    """The benchmark documents the project can read, chunked by the project's code."""
    from rag.chunk import chunk_document
    from rag.embed import token_offsets
    from rag.load import budget, parse_document

    docs = []
    for path in sorted(BENCH_DIR.rglob("*")):
        if not path.is_file() or "source_files" not in path.parts or path.suffix.lower() not in settings.extensions:
            continue
        rel = path.relative_to(BENCH_DIR).as_posix()
        data = path.read_bytes()
        doc = parse_document(rel, path.suffix, data, budget(settings))
        chunks = chunk_document(doc, token_offsets, settings.chunk_tokens, settings.chunk_overlap)
        if chunks:
            docs.append(BaseDoc(rel, path, hashlib.sha256(data).hexdigest(), chunks))
    return docs


def base_vectors(docs: list[BaseDoc], work: Path) -> dict[str, np.ndarray]:
    """Each base chunk's MiniLM vector by chunk id, embedded once and cached in ``work``."""
    from rag.embed import get_embedder

    cache = work / "base-vectors.npz"
    have: dict[str, np.ndarray] = {}
    if cache.exists():
        with np.load(cache) as z:
            have = dict(zip(z["ids"].tolist(), z["vectors"], strict=True))
    todo = [c for d in docs for c in d.chunks if c.id not in have]
    if todo:
        t0 = time.perf_counter()
        embedder = get_embedder()
        for i in range(0, len(todo), 256):
            part = todo[i : i + 256]
            for c, v in zip(part, embedder.embed([c.text for c in part]), strict=True):
                have[c.id] = np.asarray(v, dtype=np.float32)
            print(f"  embedded {min(i + 256, len(todo))} of {len(todo)} base chunks", flush=True)
        work.mkdir(parents=True, exist_ok=True)
        np.savez(cache, ids=np.array(list(have)), vectors=np.stack(list(have.values())))
        print(f"  base: {len(todo)} chunks embedded in {time.perf_counter() - t0:.0f} s (cached in {cache})")
    return have


def questions(limit: int) -> list[str]:
    """``limit`` real questions, spread over the benchmark sets (their answers are in the base documents)."""
    per_set = []
    for f in sorted(BENCH_DIR.glob("*/rag_dataset.json")):
        per_set.append([e["query"] for e in json.loads(f.read_text())["examples"]])
    out: list[str] = []
    i = 0
    while len(out) < limit and any(i < len(qs) for qs in per_set):
        out += [qs[i] for qs in per_set if i < len(qs)]
        i += 7  # every 7th question of each set, round robin
    return out[:limit]


def settings_for(folder: Path, **overrides: object) -> rag.Settings:
    """The settings of the store in ``folder`` (its corpus ``docs/``, its index ``ix/``), extractive answers."""
    return rag.Settings.from_env(corpus=folder / "docs", store=folder / "ix", answerer="extractive", **overrides)


def build(n: int, folder: Path, docs: list[BaseDoc], base: dict[str, np.ndarray], noise: float,
          seed: int = 0) -> dict:
    """A corpus folder and an index of ~``n`` chunks in ``folder``; what was built and how long it took."""
    from rag.chunk import chunk_id
    from rag.keyword import KeywordFile
    from rag.store import open_store
    from rag.types import Chunk

    shutil.rmtree(folder, ignore_errors=True)
    settings = settings_for(folder)
    store = open_store(settings)
    rng = np.random.default_rng(seed)
    ids: list[str] = []
    vectors: list[np.ndarray] = []
    t0 = time.perf_counter()
    copy, written, files = 0, 0, 0
    while written < n:
        for d in docs:
            if written >= n:
                break
            source = f"c{copy:03d}/{d.rel}"
            target = folder / "docs" / source
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(d.path, target)
            chunks = [Chunk(chunk_id(source, c.start, c.end, c.text), source, c.start, c.end, c.text, c.page)
                      for c in d.chunks]
            vecs = np.stack([base[c.id] for c in d.chunks])
            if copy:
                vecs = vecs + rng.normal(0.0, noise, vecs.shape).astype(np.float32)
                vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            store.upsert(chunks, vecs.tolist(), {source: d.sha256}, {source: len(chunks)})
            ids += [c.id for c in chunks]
            vectors.append(vecs)
            written += len(chunks)
            files += 1
        copy += 1
        print(f"  {written:,} chunks written ({time.perf_counter() - t0:.0f} s)", flush=True)
    store.mark_synced(str((folder / "docs").resolve()), True)
    t_store = time.perf_counter() - t0
    t1 = time.perf_counter()
    KeywordFile(store.local_dir, settings.collection).repair(store)  # built from the stored texts, and saved
    t_keyword = time.perf_counter() - t1
    matrix = np.concatenate(vectors).astype(np.float32)
    np.save(folder / "vectors.npy", matrix)
    (folder / "ids.json").write_text(json.dumps(ids))
    sample = np.stack(list(base.values())[:1000])
    noisy = sample + rng.normal(0.0, noise, sample.shape).astype(np.float32)
    cos = float(np.mean(np.sum(sample * noisy, axis=1) / np.linalg.norm(noisy, axis=1)))
    return {"chunks": written, "files": files, "copies": copy, "store_build_s": round(t_store, 1),
            "keyword_build_s": round(t_keyword, 1), "collection": settings.collection, "noise": noise,
            "copy_cosine": round(cos, 3)}
