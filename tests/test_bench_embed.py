"""The embedder benchmark: its rule for making int8 the default, and a tiny end-to-end run (full tier)."""

from __future__ import annotations

import json

import pytest

from eval import bench_embed


def _ret(fp32: float, int8: float) -> dict:
    m = lambda v: {r: {"hit@1": v, "hit@5": v, "mrr@10": v} for r in bench_embed.RETRIEVERS}  # noqa: E731
    return {"minilm": {"results": {"a": m(1.0), "b": m(fp32)}}, "minilm-int8": {"results": {"a": m(1.0), "b": m(int8)}}}


def test_int8_becomes_the_default_only_when_twice_as_fast_and_as_good_on_every_set():
    assert bench_embed.verdict({"int8_over_fp32": 2.1}, _ret(0.80, 0.795))["int8_default"]  # 0.795 >= 0.99 * 0.80
    slow = bench_embed.verdict({"int8_over_fp32": 1.5}, _ret(0.80, 0.80))
    assert not slow["int8_default"] and "1.5x" in slow["reasons"][0]
    worse = bench_embed.verdict({"int8_over_fp32": 3.0}, _ret(0.80, 0.79))
    assert not worse["int8_default"] and len(worse["reasons"]) == 2 * len(bench_embed.RETRIEVERS)
    assert not bench_embed.verdict({"int8_over_fp32": 3.0}, None)["complete"]


@pytest.mark.full
def test_embed_benchmark_reports_speed_and_retrieval(tmp_path):
    src = tmp_path / "bench" / "tiny" / "source_files"
    src.mkdir(parents=True)
    (src / "a.txt").write_text("The lighthouse on Skerry Point was built in 1874. Its lamp burned whale oil. " * 60)
    out = tmp_path / "out"
    args = ["--quick", "--chunks", "6", "--threads", "1", "--limit", "3", "--bench-dir", str(tmp_path / "bench"), "--out", str(out)]
    assert bench_embed.main(args) == 0
    got = json.loads((out / "embed-bench.json").read_text())
    enc = got["speed"]["threads"]["1"]["encoders"]
    assert len(enc) == 3 and all(v["chunks_s"] > 0 for v in enc.values()) and got["speed"]["chunks"] == 6  # the corpus gives more: 6 taken
    assert got["speed"]["int8_vs_fp32_cosine"]["min"] >= 0.99
    assert set(got["retrieval"]) == {"minilm", "minilm-int8"} and "project" in got["retrieval"]["minilm"]["results"]
    assert not got["verdict"]["int8_default"] or got["speed"]["int8_over_fp32"] >= 2
    assert "## Verdict" in (out / "embed-bench.md").read_text()
