"""The eval's entry points run end to end on tiny sets, to exact numbers where they are known (~40 s)."""

from __future__ import annotations

import json

import pytest

from eval import bench, chunking, conversations, run, tune
from eval.metrics import is_gold, rank_metrics, text_overlap

from conftest import ROOT

DOCS = {
    "a.txt": "The lighthouse on Skerry Point was built in 1874 by the engineer Agnes Ferrow.",
    "b.txt": "Sourdough bread needs a starter fed with flour and water every day.",
    "c.txt": "The chess club meets on Thursdays in the library basement.",
}
EXAMPLES = [
    ("When was the Skerry Point lighthouse built?", DOCS["a.txt"]),
    ("How often must a sourdough starter be fed?", DOCS["b.txt"]),
    ("Where does the chess club meet?", DOCS["c.txt"]),
    ("What colour is the ferry?", "The ferry to the island is painted bright yellow and leaves at noon."),  # not in the corpus
]


def make_set(root, name, files, examples):
    (root / name / "source_files").mkdir(parents=True)
    for fname, text in files.items():
        (root / name / "source_files" / fname).write_text(text + "\n")
    rows = [{"query": q, "reference_contexts": [c], "reference_answer": "", "query_by": None} for q, c in examples]
    (root / name / "rag_dataset.json").write_text(json.dumps({"examples": rows}))


@pytest.mark.full
def test_runner_scores_a_tiny_set_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_PASSAGE_MARGIN", "0")  # send all top_k hits: passage counts are then exact
    make_set(tmp_path, "tiny", DOCS, EXAMPLES)
    make_set(tmp_path, "scans", {"paper.pdf": "%PDF-1.4"}, EXAMPLES[:1])
    out = tmp_path / "out"
    assert bench.main(["--bench-dir", str(tmp_path), "--set", "tiny", "--set", "scans", "--out", str(out)]) == 0
    got = json.loads((out / "bench.json").read_text())
    assert "pdf" in got["skipped"]["scans"]
    res = got["results"]["tiny"]
    for r in ("bm25", "dense", "hybrid"):
        assert {k: res[r][k] for k in ("hit@1", "hit@5", "mrr@10", "questions")} == {
            "hit@1": 0.75, "hit@5": 0.75, "mrr@10": 0.75, "questions": 4}, r
    # passages sent: BM25 finds only the one chunk sharing words with each question (none for the
    # ferry), the others send all 3 chunks of the corpus
    assert (res["bm25"]["passages"], res["dense"]["passages"], res["hybrid"]["passages"]) == (0.75, 3.0, 3.0)
    assert res["hybrid"]["p95_ms"] >= res["hybrid"]["p50_ms"] > 0
    md = (out / "bench.md").read_text()
    assert "| tiny (4 q) | hybrid | 0.750 | 0.750 | 0.750 |" in md and "Skipped scans" in md
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_overlap_rule_and_rank_metrics():
    gold = "The tomatoes were planted on 12 April in the south bed."
    assert is_gold("Notes.\nThe tomatoes were planted on 12 April in the south bed. Basil grows best.", [gold])
    assert not is_gold("Basil grows best next to the tomatoes.", [gold])
    assert text_overlap("a b c d e", "x y z") == 0.0
    assert rank_metrics([1, 3, None, 12]) == {"hit@1": 0.25, "hit@5": 0.5, "mrr@10": (1 + 1 / 3) / 4}


@pytest.mark.full
def test_tuning_and_chunking_reports_on_a_tiny_set(tmp_path):
    make_set(tmp_path, "tiny", DOCS, EXAMPLES)
    out = tmp_path / "out"
    assert tune.main(["--bench-dir", str(tmp_path), "--set", "tiny", "--out", str(out)]) == 0
    grid = json.loads((out / "tuning.json").read_text())["tiny"]
    assert {"dense", "bm25", "convex w=0.3", "rrf w=0.5", "bm25 stem", "bm25 no-stem"} <= set(grid)
    # three questions found first, the fourth's gold passage is not in the corpus
    assert grid["convex w=0.3"] == {"hit@1": 0.75, "hit@5": 0.75, "mrr@10": 0.75}
    assert "| convex w=0.3 | 0.750 / 0.750 | 0.750 |" in (out / "tuning.md").read_text()
    assert chunking.main(["--chunks", "64/16,128/32", "--bench-dir", str(tmp_path), "--set", "tiny", "--out", str(out)]) == 0
    got = json.loads((out / "chunking.json").read_text())
    assert set(got) == {"64/16", "128/32"} and got["128/32"]["tiny"]["_ingest"]["chunks"] == 3


@pytest.mark.full
def test_answer_and_conversation_evals_run_and_score(tmp_path):
    out = tmp_path / "out"
    assert run.main(["--answerer", "extractive", "--out", str(out), "--sweep"]) == 0
    m = json.loads((out / "questions-extractive.json").read_text())["metrics"]
    assert m["questions"] == 54 and m["citations_verified"] == 1.0 and 0.5 < m["accuracy"] <= 1.0
    one = tmp_path / "one.jsonl"
    one.write_text((ROOT / "eval" / "conversations.jsonl").read_text().splitlines()[0] + "\n")
    assert conversations.main(["--conversations", str(one), "--answerer", "extractive", "--out", str(out)]) == 0
    res = json.loads((out / "one-extractive.json").read_text())
    assert res["followups"]["turns"] == 2 and res["followups"]["rewritten"] == 2
