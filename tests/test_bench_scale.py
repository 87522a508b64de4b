"""eval/bench_scale.py on a tiny store: the stores it builds are what a sync of their folder would make.

Random base vectors stand in for MiniLM's (the method does not depend on them), so no
encoder runs for the chunks; real Chroma, so the full tier.
"""

from __future__ import annotations

import numpy as np
import pytest

import rag
from eval import bench_scale
from eval.scale_build import base_docs, build, questions, settings_for

pytestmark = pytest.mark.full  # real Chroma


def test_a_built_store_syncs_as_unchanged_and_its_hnsw_finds_the_exact_neighbours(tmp_path):
    docs = base_docs(rag.Settings())[:3]
    if not docs:
        pytest.skip("no benchmark documents (RAG_BENCH_DIR)")
    rng = np.random.default_rng(1)
    base = {}
    for c in (c for d in docs for c in d.chunks):
        v = rng.normal(size=384).astype(np.float32)
        base[c.id] = v / np.linalg.norm(v)
    per_copy = sum(len(d.chunks) for d in docs)
    info = build(per_copy * 2 + 1, tmp_path / "n", docs, base, noise=0.025)
    assert info["copies"] == 3 and info["chunks"] == per_copy * 2 + len(docs[0].chunks) and info["files"] == 7
    assert 0.85 < info["copy_cosine"] < 0.95

    folder = tmp_path / "n"
    report = rag.ingest(settings=settings_for(folder))  # the project's own sync of the copies' folder
    assert not report.changed and len(report.unchanged) == 7 and report.chunks_total == info["chunks"]
    assert bench_scale.child("status", folder, 3, 0.0)["chunks"] == info["chunks"]
    got = bench_scale.recall(folder, questions(5))
    assert got["recall_at_10"] == 1.0  # a few hundred vectors: HNSW is exact
    sizes = bench_scale.disk(folder / "ix")
    assert set(sizes) == {"sqlite_mb", "hnsw_mb", "keyword_mb", "total_mb"} and sizes["total_mb"] >= sizes["sqlite_mb"] > 0
