"""The eval: scoring functions to exact numbers, and the hand-written question set's integrity."""

from __future__ import annotations

import json

from eval.metrics import contains_answer, first_rank, normalize, overlaps, refusal_scores, token_f1

from conftest import ROOT, SEED


def test_normalize_and_answer_scores():
    assert normalize("The  five-hour, late-night meeting!") == "fivehour latenight meeting"
    assert contains_answer("It was held in Miami on Saturday. [1]", ["miami"])
    assert not contains_answer("Miamisburg", ["Miami"])
    assert token_f1("in Miami [1]", ["Miami"]) == 2 * (1 / 2) * 1 / (1 / 2 + 1)
    assert token_f1("nothing", ["Miami"]) == 0.0


def test_retrieval_and_refusal_scores():
    assert first_rank(["a b", "x  the\nsupport y", "support"], "the support") == 2
    assert first_rank(["a"], "b") is None
    assert overlaps((0, 5), (4, 9)) and not overlaps((0, 5), (5, 9))
    assert refusal_scores([True, True, False, False], [True, False, True, False]) == {
        "refusal_precision": 0.5, "refusal_recall": 0.5,
    }


def test_question_set_is_well_formed():
    rows = [json.loads(line) for line in (ROOT / "eval" / "questions.jsonl").read_text().splitlines()]
    text = SEED.read_text()
    assert len(rows) >= 40
    assert sum(not r["answerable"] for r in rows) >= 8
    assert sum(r["kind"] == "paraphrase" for r in rows) >= 5
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        if r["answerable"]:
            assert r["support"] in text, r["id"]
            assert r["answers"], r["id"]


def test_conversation_set_is_well_formed():
    convs = [json.loads(line) for line in (ROOT / "eval" / "conversations.jsonl").read_text().splitlines() if line.strip()]
    text = SEED.read_text()
    assert len(convs) >= 10 and len({c["id"] for c in convs}) == len(convs)
    for c in convs:
        assert len(c["turns"]) >= 2, c["id"]
        for n, t in enumerate(c["turns"]):
            supports = [t["support"]] if isinstance(t["support"], str) else t["support"] or []
            assert all(s in text for s in supports), (c["id"], n)
            assert bool(t["answers"]) == t["answerable"] == bool(supports), (c["id"], n)
            assert n == 0 or t["standalone"], (c["id"], n)  # every follow-up says what it means
