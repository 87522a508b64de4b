"""Load: N concurrent chats over HTTP on loopback (default 10 chats x 3 questions, extractive; bounded in
count and time), each a question and follow-ups about its own person. No errors, no mixed histories;
p50 / p95 printed. eval/bench_load.py runs the same code at 20 x 5 and with the local model."""

from __future__ import annotations

import os
import time

import pytest

from eval.bench_load import run_load
from reliability_kit import app

pytestmark = pytest.mark.full

CHATS = int(os.environ.get("RAG_LOAD_CHATS", "10"))
QUESTIONS = int(os.environ.get("RAG_LOAD_QUESTIONS", "3"))


def test_concurrent_chats_over_http_have_no_errors_and_no_mixed_histories(tmp_path, corpus):
    with app(tmp_path, corpus) as url:
        t0 = time.perf_counter()
        res = run_load(url, CHATS, QUESTIONS, timeout=300)
        assert time.perf_counter() - t0 < 600
    print(f"\n{CHATS} chats x {QUESTIONS} questions: {res['answered']} answered, p50 {res['p50_s']} s, "
          f"p95 {res['p95_s']} s, {res['answered_per_s']} answered/s")
    bad = [r for r in res["records"] if r["outcome"] != "answered"]
    assert not bad, bad[:5]
    assert res["answered"] == CHATS * QUESTIONS
    assert res["followups_checked"] >= CHATS * (QUESTIONS - 1) // 2  # most follow-ups were rewritten, each checked


def test_bench_load_writes_its_report(tmp_path):
    from eval.bench_load import main

    assert main(["--chats", "3", "--questions", "2", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "load-extractive.md").read_text()
    assert "| extractive | 3 | 2 | 6 | 6 | 0 | 0 | 0 |" in md and "Answered by: extractive" in md
