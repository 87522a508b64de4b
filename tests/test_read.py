"""The reader's choice and refusal on scripted model replies (pure logic), and on the real 1.5B model.

The scripted tests drive ``Reader`` with a fake ``Completer`` that records its requests: the reading
call (the copy grammar) and the check (yes / no) and how their log-probabilities become the refusal.
The real-model test reads a few SQuAD v2.0 questions (two paragraphs of the public "Rhine"
article, copied here) through the whole engine: the answerable ones are quoted from the sentence
that holds the answer, the look-alike unanswerable ones (a fact bound to the wrong subject) refused.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rag.abstain import ABSTENTION, YES_NO
from rag.chunk import sentence_spans
from rag.extractive import Scored
from rag.llm import Completion
from rag.read import Reader, Sentence, decide, to_answer
from rag.types import Hit

ROOT = Path(__file__).resolve().parent.parent
TEXT = "The Rhine rises in the Swiss Alps. It flows north to the North Sea. Basel lies on its banks."


class Scripted:
    """A ``Completer`` replying from a script, keeping each request."""

    def __init__(self, reading: str, p_none: float, p_yes: float) -> None:
        self.reading, self.p_none, self.p_yes = reading, p_none, p_yes
        self.requests: list[dict] = []

    def complete(self, messages, max_tokens, grammar="", top_logprobs=0):  # type: ignore[no-untyped-def]
        self.requests.append({"messages": messages, "max_tokens": max_tokens, "grammar": grammar})
        if grammar == YES_NO:
            return Completion("yes", [{"yes": math.log(self.p_yes), "no": math.log(1 - self.p_yes)}])
        first = self.reading.split()[0]
        return Completion(self.reading, [{first: math.log(1 - self.p_none), "NOT": math.log(self.p_none)}])


class Ranker:
    """The sentence scorer's place: every sentence of the hits, scored in a fixed order."""

    def rank(self, question, hits):  # type: ignore[no-untyped-def]
        h = hits[0]
        spans = sentence_spans(h.text)
        return [Scored(h, a, b, s) for (a, b), s in zip(spans, (0.7, 0.5, 0.3))]


HIT = Hit("c1", "rhine.txt", 0, len(TEXT), TEXT, 0.6)


def test_the_reader_copies_then_checks_the_chosen_sentence():
    model = Scripted("the Swiss Alps", p_none=0.01, p_yes=0.98)
    reading = Reader(model, Ranker()).read("Where does the Rhine rise?", [HIT])
    reading_call, check_call = model.requests
    assert reading_call["grammar"].startswith("root ::= s1") and reading_call["max_tokens"] == 16
    assert check_call["grammar"] == YES_NO and check_call["max_tokens"] == 1
    # The check sees the chosen sentence as data in the user's message, never in its rules.
    assert "The Rhine rises in the Swiss Alps." in check_call["messages"][-1]["content"]
    assert "Rhine" not in check_call["messages"][0]["content"]
    assert reading.sentence.text == "The Rhine rises in the Swiss Alps." and reading.phrase == "the Swiss Alps"
    assert reading.features["check"] == pytest.approx(math.log(0.98 / 0.02))
    answer = to_answer("Where does the Rhine rise?", [HIT], reading, "reader")
    assert not answer.refused and answer.short == "the Swiss Alps"
    assert answer.citations[0].quote == "The Rhine rises in the Swiss Alps."


@pytest.mark.parametrize("p_yes, refused", [(0.98, False), (0.02, True)])
def test_the_check_decides_between_answer_and_refusal(p_yes, refused):
    """The same reading (the model sure of its phrase, a well-supported sentence) is refused when the
    check says the sentence does not answer: a look-alike question, a fact bound to another subject."""
    sentences = [Sentence(HIT, 0, 34, 0.7), Sentence(HIT, 35, 67, 0.5)]
    out = Completion("the Swiss Alps", [{"the": math.log(0.99), "NOT": math.log(0.01)}])
    reading = decide("Where does the Danube rise?", [HIT], sentences, [[1, 2]], out, ABSTENTION,
                     checker=lambda sentence: p_yes)
    assert reading.refused is refused
    assert to_answer("Where does the Danube rise?", [HIT], reading, "reader").refused is refused


@pytest.mark.parametrize("p_top, quoted", [(0.9, 1), (0.7, 2), (0.2, 2)])
def test_a_rejected_sentence_gives_way_to_the_rankers_best_when_the_check_accepts_that(p_top, quoted):
    """The model copied from sentence 2 (it names the question's subject); the check says no. The
    ranker's best, sentence 1, is checked too and quoted, without the model's phrase, only when the
    check's "yes" for it has log-odds above SWITCH (1.0: p > 0.73)."""
    sentences = [Sentence(HIT, 0, 34, 0.6), Sentence(HIT, 35, 67, 0.5)]
    out = Completion("the North Sea", [{"the": math.log(0.99), "NOT": math.log(0.01)}])
    asked: list[str] = []

    def checker(sentence: str) -> float:
        asked.append(sentence)
        return 0.1 if sentence.startswith("It flows") else p_top

    reading = decide("Where does the Rhine rise?", [HIT], sentences, [[1, 2]], out, ABSTENTION, checker=checker)
    assert asked == ["It flows north to the North Sea.", "The Rhine rises in the Swiss Alps."]
    assert reading.chosen == quoted
    assert reading.phrase == ("" if quoted == 1 else "the North Sea")
    assert reading.features["check"] == pytest.approx(math.log(p_top / (1 - p_top)) if quoted == 1 else math.log(0.1 / 0.9))
    if quoted == 1:
        answer = to_answer("Where does the Rhine rise?", [HIT], reading, "reader")
        assert answer.citations[0].quote == "The Rhine rises in the Swiss Alps." and answer.short == ""


@pytest.mark.parametrize("p_model, p_top, quoted", [(0.6, 0.9, 1), (0.6, 0.78, 2), (0.95, 0.98, 2), (0.95, 0.99, 1)])
def test_an_accepted_sentence_gives_way_only_to_a_ranker_best_the_check_prefers_by_switch(p_model, p_top, quoted):
    """The check accepted the model's sentence, but the ranker's best is asked about too: it is quoted
    when its "yes" log-odds beat the model's sentence's by more than SWITCH (p 0.6: log-odds 0.41, so
    the ranker's needs > 1.41, p > 0.80; p 0.95: 2.94, so > 3.94, p > 0.981)."""
    sentences = [Sentence(HIT, 0, 34, 0.6), Sentence(HIT, 35, 67, 0.5)]
    out = Completion("the North Sea", [{"the": math.log(0.99), "NOT": math.log(0.01)}])
    reading = decide("Where does the Rhine rise?", [HIT], sentences, [[1, 2]], out, ABSTENTION,
                     checker=lambda sentence: p_model if sentence.startswith("It flows") else p_top)
    assert reading.chosen == quoted
    assert reading.phrase == ("" if quoted == 1 else "the North Sea")


def test_the_rankers_best_is_not_asked_about_when_it_cannot_hold_what_is_asked():
    """"When ...?" wants a date: a ranker's best sentence without one is not checked, however the check
    would judge it (it said yes to "Since the Peace of Westphalia, ..." for "When was the Peace of
    Westphalia established?"), and the rejected reading stands."""
    sentences = [Sentence(HIT, 0, 34, 0.6), Sentence(HIT, 35, 67, 0.5)]
    out = Completion("the North Sea", [{"the": math.log(0.99), "NOT": math.log(0.01)}])
    asked: list[str] = []
    reading = decide("When does the Rhine rise?", [HIT], sentences, [[1, 2]], out, ABSTENTION,
                     checker=lambda sentence: (asked.append(sentence), 0.1 if sentence.startswith("It") else 0.99)[1])
    assert asked == ["It flows north to the North Sea."] and reading.chosen == 2 and reading.refused


def test_without_a_checker_the_reading_has_no_check_feature():
    sentences = [Sentence(HIT, 0, 34, 0.7)]
    out = Completion("the Swiss Alps", [{"the": 0.0}])
    feats = decide("Where?", [HIT], sentences, [[1]], out, ABSTENTION.__class__({"support": -1.0}, 0.0, 0.5)).features
    assert "check" not in feats and feats["support"] == 0.7


def test_the_refusal_constants_are_the_fit_of_the_committed_tune_rows():
    """rag/abstain.py's weights, threshold and WELL_SUPPORTED are what eval/fit_abstention.py chooses
    from the tune halves' rows (the report halves are refused by ``load_rows``): a threshold set by
    hand, or read off the report half, fails here."""
    from eval import fit_abstention
    from rag.abstain import WELL_SUPPORTED

    rows = fit_abstention.load_rows(ROOT / "eval" / "results" / "answers-tune-reader.jsonl")
    assert {r["half"] for r in rows} == {"tune"} and len(rows) >= 270
    chosen, well = fit_abstention.fitted(rows)
    assert chosen.weights == ABSTENTION.weights and chosen.bias == ABSTENTION.bias
    assert chosen.threshold == ABSTENTION.threshold and well == WELL_SUPPORTED


# Three paragraphs of SQuAD v2.0's "Rhine" article (dev set, CC BY-SA 4.0), each a file, with
# questions of its own: the unanswerable ones swap one detail of an answerable one (north for
# south, another treaty), so every word of them is in the passages.
RHINE = {
    "lake_constance.txt": "Lake Constance consists of three bodies of water: the Obersee (\"upper lake\"), the "
    "Untersee (\"lower lake\"), and a connecting stretch of the Rhine, called the Seerhein (\"Lake Rhine\"). The "
    "lake is situated in Germany, Switzerland and Austria near the Alps. Specifically, its shorelines lie in the "
    "German states of Bavaria and Baden-Württemberg, the Austrian state of Vorarlberg, and the Swiss cantons of "
    "Thurgau and St. Gallen. The Rhine flows into it from the south following the Swiss-Austrian border.",
    "watershed.txt": "Through stream capture, the Rhine extended its watershed southward. By the Pliocene period, "
    "the Rhine had captured streams down to the Vosges Mountains, including the Mosel, the Main and the Neckar. "
    "The northern Alps were then drained by the Rhone. By the early Pleistocene period, the Rhine had captured "
    "most of its current Alpine watershed from the Rhône, including the Aar.",
    "border.txt": "Since the Peace of Westphalia, the Upper Rhine formed a contentious border between France and "
    "Germany. Establishing \"natural borders\" on the Rhine was a long-term goal of French foreign policy, since "
    "the Middle Ages, though the language border was – and is – far more to the west. The Confederation of the "
    "Rhine was established by Napoleon, as a French client state, in 1806 and lasted until 1814, during which "
    "time it served as a significant source of resources and military manpower for the First French Empire.",
}


@pytest.fixture(scope="module")
def rhine(tmp_path_factory):
    import rag

    folder = tmp_path_factory.mktemp("rhine")
    for name, text in RHINE.items():
        (folder / name).write_text(text + "\n")
    settings = rag.Settings.from_env(corpus=folder, store=folder / ".index", answerer="local", vector_store="memory")
    rag.ingest(folder, settings=settings)
    return rag.engine(settings=settings)


@pytest.mark.full
@pytest.mark.parametrize("question, gold", [
    ("Which border does the Rhine flow from the south?", "Swiss-Austrian border"),
    ("Who established the Confederation of the Rhine?", "Napoleon"),
    ("How did the Rhine extend watershed southward?", "stream capture"),
])
def test_the_real_model_quotes_the_sentence_that_answers(rhine, question, gold):
    a = rhine.ask(question)
    assert not a.refused, a.text
    assert gold in a.citations[0].quote and a.answerer.endswith("reading")


@pytest.mark.full
@pytest.mark.parametrize("question", [
    "Which border does the Rhine flow from the north?",
    "What caused the Rhine to extend its watershed northward?",
    "When was the Peace of Westphalia established?",
])
def test_the_real_model_refuses_a_detail_bound_to_the_wrong_subject(rhine, question):
    a = rhine.ask(question)
    assert a.refused and not a.citations, a.text
