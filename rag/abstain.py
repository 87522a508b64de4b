"""When the reader declines: one refusal score from the model's "NOT FOUND" and the evidence.

Abstention is a score, not the model's word. The reader's prompt offers "NOT FOUND" but its
grammar forbids it (rag/read.py), and llama.cpp lists the first token's log-probabilities
before the grammar applies, so one call yields both the forced phrase and the probability
that the model wanted to decline. That probability alone is a weak signal on questions
written to look answerable (ROC AUC ~0.65-0.78 on SQuAD v2). A second one-token call, the
check, asks the model whether the chosen sentence answers the question (yes / no: 0.84 on
the same rows). Both are combined with the best hit's retrieval score and the chosen
sentence's support in a small logistic model fitted on the tuning halves only
(``python eval/fit_abstention.py``), never on the halves reported.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .text import content_words
from .types import Hit

if TYPE_CHECKING:
    from .llm import Message
    from .read import Completer


def p_not_found(top: dict[str, float]) -> float:
    """Probability that the reply starts "NOT FOUND", from the first token's best log-probabilities.

    >>> round(p_not_found({"NOT": math.log(0.3), "Paris": math.log(0.6), " NOT": math.log(0.05)}), 2)
    0.35
    """
    return min(1.0, sum(math.exp(lp) for tok, lp in top.items() if tok.strip() and "NOT".startswith(tok.strip())))


def p_yes(top: dict[str, float]) -> float:
    """Probability of "yes" against "no" from the first token's best log-probabilities (0.5: neither listed).

    >>> round(p_yes({"yes": math.log(0.6), "Yes": math.log(0.1), "no": math.log(0.1), "The": math.log(0.2)}), 3)
    0.875
    """
    yes = sum(math.exp(lp) for tok, lp in top.items() if tok.strip().lower() == "yes")
    no = sum(math.exp(lp) for tok, lp in top.items() if tok.strip().lower() == "no")
    return yes / (yes + no) if yes + no else 0.5


def log_odds(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def features(hits: list[Hit], support: float, p_none: float, question: str = "", context: str = "",
             sentence: str = "", phrase: str = "", supports: Sequence[float] = (),
             reply: tuple[str, list[dict[str, float]]] = ("", []), p_check: float | None = None) -> dict[str, float]:
    """What the refusal score is computed from: ``none``, the log-odds of the model's "NOT FOUND";
    ``retrieval``, the best hit's score; ``support``, the chosen sentence's support score
    (rag/extractive.py); ``check``, the log-odds of the model's "yes" when asked whether the chosen
    sentence answers the question (``check`` below). Given the question and the reading,
    also the candidates measured on the tuning halves (``evidence``); only the features
    ``ABSTENTION`` weighs are used.

    >>> features([Hit("a", "x.txt", 0, 1, "x", 0.42)], 0.5, 0.5, p_check=0.5)
    {'none': 0.0, 'retrieval': 0.42, 'support': 0.5, 'check': 0.0}
    """
    out = {"none": log_odds(p_none), "retrieval": hits[0].score if hits else 0.0, "support": support}
    if p_check is not None:
        out["check"] = log_odds(p_check)
    if question:
        out.update(evidence(question, context, sentence, phrase, support, supports, reply))
        out["hit_margin"] = hits[0].score - hits[1].score if len(hits) > 1 else hits[0].score if hits else 0.0
    return out


_TOKEN = re.compile(r"[A-Za-z0-9]+")
_NUMBER = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion)\b",
                     re.IGNORECASE)
_MONTH = re.compile(r"\b(?:January|February|March|April|May|June|July|August|September|October|November|December)\b")


def evidence(question: str, context: str, sentence: str, phrase: str, support: float,
             supports: Sequence[float], reply: tuple[str, list[dict[str, float]]]) -> dict[str, float]:
    """Candidate refusal features aimed at look-alike questions (SQuAD v2's unanswerable ones):
    ``cover`` / ``cover_sentence``, the share of the question's content words found in the chosen
    sentence with its neighbours / in the sentence alone; ``names_missing``, how many of the
    question's names and numbers (capitalised words after the first, digits) the context lacks;
    ``type_miss``, 1 when the question asks when / how many / who and the phrase holds no date,
    number or name; ``support_gap``, the chosen sentence's support minus the best other one's;
    ``phrase_lp``, the mean log-probability of the reply's tokens (as far as the lists show them).

    >>> e = evidence("How many people live in Basel?", "Basel has 170,000 people.", "Basel has 170,000 people.",
    ...              "170,000", 0.8, [0.8, 0.3], ("170,000", [{"170": -0.1, "NOT": -3.0}, {",000": -0.3}]))
    >>> round(e["cover"], 2), e["names_missing"], e["type_miss"], e["support_gap"], e["phrase_lp"]
    (0.67, 0.0, 0.0, 0.5, -0.2)
    """
    q = content_words(question)
    ctx, sent = content_words(context), content_words(sentence)
    words = _TOKEN.findall(question)
    names = {w.lower() for w in words[1:] if w[0].isupper() or w[0].isdigit()}
    lower = {w.lower() for w in _TOKEN.findall(context)}
    miss = not holds_type(question, phrase)
    others = sorted(supports, reverse=True)
    if support in others:
        others.remove(support)
    return {"cover": len(q & ctx) / len(q) if q else 1.0, "cover_sentence": len(q & sent) / len(q) if q else 1.0,
            "names_missing": float(len(names - lower)), "type_miss": float(miss),
            "support_gap": support - (others[0] if others else 0.0), "phrase_lp": phrase_logprob(*reply)}


def holds_type(question: str, text: str, skip: str = "") -> bool:
    """Whether ``text`` can hold what ``question`` asks for: a number (how many / much / long ...), a date
    or number (when, what year), a name (who / whom: a capitalised word not in ``skip``); True otherwise.

    >>> holds_type("When was it signed?", "It was signed in 1648."), holds_type("When was it signed?", "It was signed.")
    (True, False)
    >>> holds_type("Who met Putin?", "Putin met them.", skip="Who met Putin?"), holds_type("Why?", "Because.")
    (False, True)
    """
    ql = question.lower()
    if re.search(r"\bhow (?:many|much|long|old|far|large|big|high)\b|\bwhat (?:year|percent|percentage|number)\b", ql):
        return bool(_NUMBER.search(text))
    if re.match(r"\s*when\b", ql) or "what year" in ql or "which year" in ql:
        return bool(_NUMBER.search(text) or _MONTH.search(text))
    if re.match(r"\s*(?:who|whom)\b", ql):
        known = {w.lower() for w in _TOKEN.findall(skip)}
        return any(w[0].isupper() and w.lower() not in known for w in _TOKEN.findall(text))
    return True


def phrase_logprob(text: str, tops: list[dict[str, float]]) -> float:
    """Mean log-probability of the reply's tokens, each found in its list of best next tokens by
    matching the text; the first token not listed counts as its list's lowest, and ends the walk.

    >>> phrase_logprob("Basel", [{"Bas": -0.5, "NOT": -1.0}, {"el": -0.1}])
    -0.3
    """
    pos, lps = 0, []
    for top in tops:
        if pos >= len(text) or not top:
            break
        rest = text[pos:]
        match = max((t for t in top if t and rest.startswith(t)), key=len, default="")
        lps.append(top[match] if match else min(top.values()))
        if not match:
            break
        pos += len(match)
    return round(sum(lps) / len(lps), 4) if lps else 0.0


# The check (the reader's second, one-token call): does the chosen sentence answer the question? Its
# "yes" log-odds is the refusal score's strongest feature (``ABSTENTION`` below).
CHECK_SYSTEM = "You check whether a passage answers a question. Reply yes or no."
YES_NO = 'root ::= "yes" | "no"'


def check_prompt(question: str, sentence: str) -> list[Message]:
    """The check's messages: its rules, then the one sentence and the question (the sentence as data)."""
    return [{"role": "system", "content": CHECK_SYSTEM},
            {"role": "user", "content": f"Passage: {sentence}\n\nQuestion: {question}\n\n"
                                        "Does the passage answer the question? Answer yes or no."}]


def check(model: Completer, question: str, sentence: str) -> float:
    """The model's probability that ``sentence`` answers ``question`` (one token, yes or no)."""
    out = model.complete(check_prompt(question, sentence), 1, YES_NO, top_logprobs=20)
    return p_yes(out.top_logprobs[0] if out.top_logprobs else {})


@dataclass(frozen=True)
class Abstention:
    """``sigmoid(bias + sum(weight * feature))``; refuse at ``threshold`` or above.

    >>> Abstention({"support": -2.0}, 1.0, 0.5).score({"support": 0.5})
    0.5
    """

    weights: dict[str, float]
    bias: float
    threshold: float

    def score(self, feats: dict[str, float]) -> float:
        z = self.bias + sum(w * feats[k] for k, w in self.weights.items())
        return 1 / (1 + math.exp(-max(min(z, 50.0), -50.0)))


# Chosen on the whole tuning halves (squad_v2_rhine even paragraphs + the project set's odd ids, 274
# questions read by the reader: `python eval/answers.py --half tune --answerer reader --dump
# eval/results/answers-tune-reader.jsonl`, the check added by `python eval/add_check.py` that file,
# then `python eval/fit_abstention.py --rows` it; eval/results/abstention-fit.txt) by issue 11's
# bound: at most 0.10 false refusals (answerable questions refused) in each set, then the most
# refusals of the unanswerable. With the check these weights refuse 0.688 of them on average there at
# 0.81 (SQuAD 0.543 at false refusals 0.099, accuracy 0.754; project 0.833 at 0.000, accuracy 0.952;
# rows read since the ranker's best sentence is checked whenever it differs, rag/read.py SWITCH; when
# it was checked only after a rejection: 0.673 at 0.82, SQuAD 0.514 / 0.746, project 0.833 at 0.048 /
# 0.905; before that 0.631 at 0.85; a refit 0.678 of these); the weights before the check (none
# 0.2148, retrieval -1.0356, support -2.7748, bias 2.6313 at 0.62) 0.615 (SQuAD 0.229 at 0.063;
# project 1.000 at 0.095). The check alone separates SQuAD's should-refuse rows at ROC AUC 0.84
# against 0.68 / 0.63 / 0.70 for "NOT FOUND", retrieval and support. Prompts tried for the check on
# the same rows (AUC on SQuAD): the plain one kept 0.841; stricter rules 0.823; six hand-written
# examples 0.849 (but 0.692 cross-validated with the rest, and ~6 s a question when the reading prompt
# has evicted them from llama.cpp's cache); the short answer as a "proposed answer" 0.760. Tried on
# top of the four, cross-validated (eval/results/abstention-fit.txt): the share of the question's
# content words in the chosen sentence, names missing, the phrase's type, the support gap, the
# phrase's log-prob, the hits' margin; support_gap would add 0.056 cross-validated balanced accuracy,
# kept out so far (the weights are chosen in-sample by the bound, not by that figure).
ABSTENTION = Abstention({"none": 0.0623, "retrieval": 0.6344, "support": -0.6984, "check": -1.6201}, 2.2121, 0.81)

# An answer whose refusal score is at most 1 - WELL_SUPPORTED is shown as "well supported", any
# other answer as "partly supported" (rag/present.py). Chosen by the same command on the same 274
# tune questions with the weights above: the lowest confidence from which answers are right at least
# 0.9 of the time over 20 or more: >= 0.75, right 0.905 of the time (96 answers; sets weighing
# equally); all answers given 0.762 (184).
WELL_SUPPORTED = 0.75
