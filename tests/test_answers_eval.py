"""The answer benchmark (eval/answers.py): fixed, disjoint halves; its scores on hand examples; one
end-to-end run (full tier) and the abstention fit's pure parts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eval import answers, fit_abstention
from eval.metrics import exact_match
from eval.sets import BENCH_DIR, RHINE, half, project_questions, rhine_questions, sample
from rag.types import Answer, Citation

RHINE_FILE = BENCH_DIR / "squad_v2_rhine" / RHINE
needs_rhine = pytest.mark.skipif(not RHINE_FILE.exists(), reason=f"no {RHINE_FILE}")


@needs_rhine
def test_halves_are_fixed_disjoint_and_keep_a_paragraph_together():
    _, squad = rhine_questions(RHINE_FILE)
    project = project_questions()
    assert len(squad) == 498 and sum(not q["answerable"] for q in squad) == 208
    for qs in (squad, project):
        tune = {q["id"] for q in qs if half(q) == "tune"}
        report = {q["id"] for q in qs if half(q) == "report"}
        assert tune and report and not tune & report and len(tune | report) == len(qs)
    by_paragraph: dict[int, set[str]] = {}
    for q in squad:
        by_paragraph.setdefault(q["group"], set()).add(half(q))
    assert all(len(h) == 1 for h in by_paragraph.values())
    # fixed: the split the reader was tuned on (SQuAD even paragraphs, the project set's odd ids: 274)
    assert sum(half(q) == "tune" for q in squad) == 247 and sum(half(q) == "tune" for q in project) == 27
    assert [half(q) for q in project[:3]] == ["tune", "report", "tune"]  # q01, q02, q03
    assert half(squad[0]) == "tune"  # the first paragraph is number 0


def test_sample_is_deterministic_and_a_prefix_of_the_whole_order():
    qs = [{"set": "s", "id": f"x{i}"} for i in range(50)]
    a, b = sample(qs, 7), sample(list(reversed(qs)), 7)
    assert a == b and len(a) == 7 and sample(qs, None)[:7] == a and sample(qs, 3) == a[:3]
    assert sorted(q["id"] for q in sample(qs, 99)) == sorted(q["id"] for q in qs)


def answer(text, refused=False, short="", quote=None):
    cites = [Citation(source="a.txt", start=0, end=len(quote), quote=quote, chunk_id="c")] if quote else []
    return Answer(question="q", text=text, refused=refused, citations=cites, short=short)


def test_scores_of_one_answer():
    q = {"set": "squad_v2_rhine", "id": "1", "group": 0, "question": "Where?", "answers": ["North Sea"],
         "answerable": True}
    quote = "The Rhine empties into the North Sea."
    row = answers.score_row(q, answer(f"the North Sea: {quote} [1]", short="the North Sea", quote=quote), 1.5)
    assert (row["correct"], row["em"], row["f1"], row["citation_ok"], row["half"]) == (True, True, 1.0, True, "tune")
    # no short answer: the text without markers is scored, so EM fails and F1 is partial
    row = answers.score_row(q, answer("It flows to the North Sea [1].", quote="Elsewhere entirely."), 1.0)
    assert (row["correct"], row["em"], row["citation_ok"]) == (True, False, False)
    assert row["f1"] == pytest.approx(round(2 * (2 / 5) * 1 / (2 / 5 + 1), 4))  # "it flows to north sea" vs "north sea"
    row = answers.score_row(q, answer("I couldn't find this.", refused=True), 0.5)
    assert (row["correct"], row["em"], row["f1"], row["citation_ok"]) == (False, False, 0.0, False)
    assert exact_match("The North Sea!", ["north sea"]) and not exact_match("North", ["North Sea"])


def test_summary_of_rows():
    q = {"set": "project", "id": "q01", "group": 1, "question": "?", "answers": ["Miami"], "answerable": True}
    u = {**q, "id": "u01", "answers": [], "answerable": False}
    rows = [answers.score_row(q, answer("In Miami [1]", short="Miami", quote="Talks in Miami."), 1.0),
            answers.score_row(q, answer("No.", refused=True), 2.0),
            answers.score_row(u, answer("No.", refused=True), 3.0),
            answers.score_row(u, answer("Paris [1]", quote="Paris."), 4.0)]
    m = answers.summarize(rows)
    assert (m["accuracy"], m["em"], m["f1"], m["citation_correct"]) == (0.5, 0.5, 0.5, 1.0)
    assert (m["refusal_precision"], m["refusal_recall"], m["p50_s"], m["p95_s"]) == (0.5, 0.5, 2.0, 4.0)
    assert m["false_refusals"] == 0.5  # one of the two answerable questions refused


def test_fit_recovers_a_separating_rule_and_weighs_sets_equally():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 2] - x[:, 1] + 0.3 * rng.normal(size=400) > 0).astype(float)
    beta = fit_abstention.fit_logistic(x, y, np.ones(400))
    assert beta[3] > 1 and beta[2] < -1 and abs(beta[1]) < 0.5
    rows = [{"set": "a", "answerable": True, "would_correct": True}] * 3 + [{"set": "a", "answerable": False}] + \
        [{"set": "b", "answerable": True, "would_correct": False}]
    assert fit_abstention.weights(rows).tolist() == pytest.approx([1 / 3] * 3 + [1.0, 1.0])
    assert fit_abstention.balanced_accuracy(rows, [False] * 3 + [True, True]) == pytest.approx((1.0 + 0.0) / 2)
    assert [fit_abstention.should_refuse(r) for r in rows] == [False] * 3 + [True, True]


def test_the_fit_refuses_report_half_rows(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"answerer": "reader", "half": "report", "features": {}}) + "\n")
    with pytest.raises(SystemExit, match="report-half"):
        fit_abstention.load_rows(rows)


@pytest.mark.full
@needs_rhine
def test_a_sample_of_three_runs_end_to_end_with_the_extractive_answerer(tmp_path):
    dump = tmp_path / "rows.jsonl"
    assert answers.main(["--sample", "3", "--answerer", "extractive", "--out", str(tmp_path), "--dump", str(dump)]) == 0
    got = json.loads((tmp_path / "answers-report.json").read_text())
    assert set(got["sets"]) == {"squad_v2_rhine", "project"}
    for m in (got["sets"][s]["extractive"] for s in got["sets"]):
        assert m["questions"] == 3 and m["sample"] == 3 and 0 <= m["accuracy"] <= 1 and m["p95_s"] >= m["p50_s"] > 0
        assert m["citations_verified"] in (1.0, "")  # every quote re-read from its file (none when all refused)
    rows = [json.loads(line) for line in dump.read_text().splitlines()]
    assert len(rows) == 6 and {r["half"] for r in rows} == {"report"}
    md = (tmp_path / "answers-report.md").read_text()
    assert "## squad_v2_rhine" in md and "| extractive | 3 (" in md
    assert (tmp_path / "answers-report.png").read_bytes()[:4] == b"\x89PNG"
