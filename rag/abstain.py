"""When the reader declines: one refusal score from the model's "NOT FOUND" and the evidence.

Abstention is a score, not the model's word. The reader's prompt offers "NOT FOUND" but its
grammar forbids it (rag/read.py), and llama.cpp lists the first token's log-probabilities
before the grammar applies, so one call yields both the forced phrase and the probability
that the model wanted to decline. That probability alone is a weak signal on questions
written to look answerable (ROC AUC ~0.65-0.78 on SQuAD v2); it is combined with the best
hit's retrieval score and the chosen sentence's support in a small logistic model fitted on
the tuning halves only (``python eval/fit_abstention.py``), never on the halves reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .types import Hit


def p_not_found(top: dict[str, float]) -> float:
    """Probability that the reply starts "NOT FOUND", from the first token's best log-probabilities.

    >>> round(p_not_found({"NOT": math.log(0.3), "Paris": math.log(0.6), " NOT": math.log(0.05)}), 2)
    0.35
    """
    return min(1.0, sum(math.exp(lp) for tok, lp in top.items() if tok.strip() and "NOT".startswith(tok.strip())))


def features(hits: list[Hit], support: float, p_none: float) -> dict[str, float]:
    """What the refusal score is computed from: ``none``, the log-odds of the model's "NOT FOUND";
    ``retrieval``, the best hit's score; ``support``, the chosen sentence's support score
    (rag/extractive.py). Measured and dropped, aimed at wrong bindings: the share of the question's
    words, names and numbers in the chosen sentence and its neighbours, and the share of the
    phrase's words that are new (+0.004 questions handled right on the tuning halves).

    >>> features([Hit("a", "x.txt", 0, 1, "x", 0.42)], 0.5, 0.5)
    {'none': 0.0, 'retrieval': 0.42, 'support': 0.5}
    """
    p = min(max(p_none, 1e-4), 1 - 1e-4)
    return {"none": math.log(p / (1 - p)), "retrieval": hits[0].score if hits else 0.0, "support": support}


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


# Fitted on the tuning halves (squad_v2_rhine even paragraphs + the project set's odd ids, 274
# questions; eval/fit_abstention.py): there, threshold 0.62 refused 0.305 of SQuAD's unanswerable
# and all 6 of the project's, with false refusals 0.085 / 0.095. The model's "NOT FOUND" alone:
# 0.314 / 0.667 at 0.092 / 0.095.
# Refit checked with `python eval/fit_abstention.py --rows eval/results/answers-tune-reader.jsonl`
# (eval/results/abstention-fit.txt; 65 tune-half questions read, project 27 + SQuAD 38, the run cut
# short by a loaded machine): balanced accuracy (per set, the mean of answerable accuracy and
# refusal recall) 0.634 with these weights, 0.664 refitted but 0.600 cross-validated, so these stay.
ABSTENTION = Abstention({"none": 0.2148, "retrieval": -1.0356, "support": -2.7748}, 2.6313, 0.62)

# An answer whose refusal score is at most 1 - WELL_SUPPORTED is shown as "well supported", any
# other answer as "partly supported" (rag/present.py). Chosen by the same command on the same 65
# tune questions: answers with confidence >= 0.8 were right 0.857 of the time (12 answers; sets
# weighing equally), >= 0.7 0.750 (29), all answers 0.730 (56); no confidence reached the 0.9
# aimed at over 20 answers, so the best share over 10 or more. Provisional until a whole tune half is read.
WELL_SUPPORTED = 0.8
