"""The ingestion benchmark runs end to end on a tiny corpus and reports every figure (~40 s; no timing asserts)."""

from __future__ import annotations

import json

import pytest

from eval import bench_ingest


@pytest.mark.full
def test_ingest_benchmark_reports_its_fields(tmp_path):
    src = tmp_path / "bench" / "tiny" / "source_files"
    src.mkdir(parents=True)
    (src / "a.txt").write_text("The lighthouse on Skerry Point was built in 1874. " * 40)
    (src / "b.md").write_text("# Bread\n\nSourdough needs a starter fed every day.\n" * 20)
    (src / "scan.pdf").write_bytes(b"%PDF-1.4")  # not a text source: left out of the corpus
    out = tmp_path / "out"
    assert bench_ingest.main(["--quick", "--mb", "0.01", "--files", "5", "--bench-dir", str(tmp_path / "bench"), "--out", str(out)]) == 0

    got = json.loads((out / "ingest-bench.json").read_text())
    corpus = got["throughput"]["corpus"]
    assert corpus["files"] >= 2 and corpus["chunks"] >= corpus["files"] and corpus["mb"] >= 0.01
    for path in ("pipeline", "raw encode"):
        assert {"seconds", "chunks_s", "mb_s", "runs"} <= set(corpus[path]) and corpus[path]["chunks_s"] > 0
    assert corpus["pipeline"]["over_raw"] > 0 and got["throughput"]["small files"]["chunks"] == 5
    assert got["resync"]["small files"]["files"] == 5
    assert got["resync"]["corpus"]["files"] == corpus["files"] and got["resync"]["corpus"]["s_per_1000_files"] > 0
    md = (out / "ingest-bench.md").read_text()
    assert "Pipeline / raw encode, corpus: pipeline **" in md and "| small files | 5 |" in md
