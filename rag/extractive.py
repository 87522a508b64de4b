"""Sentence support scores, and the extractive answerer built on them (no model needed).

``SentenceScorer.rank`` gives every sentence of the retrieved passages a support score
(about -1..1): a blend of the embedder's cosine of question and sentence, the share of
the question's content words found in the sentence, and the retrieval score of its whole
passage (context the single sentence lacks). The weights came from a grid search on
eval/questions.jsonl with dense retrieval (cosine-only 0.71 accuracy, words-only 0.86 but
no usable refusal floor; this blend 0.81 with refusal precision 0.8 / recall 0.67).

``ExtractiveAnswerer`` quotes the best sentence, with its citation, or refuses when it
scores below ``Settings.min_score`` (0.35 with hybrid retrieval: accuracy 0.786, refusal
precision/recall 0.667/0.667; ``python eval/run.py --sweep`` prints the sweep). The
generative answerer (rag/generate.py) ranks its context with the same scorer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from .chunk import sentence_spans
from .cite import cite
from .embed import Embedder
from .text import content_words
from .types import Answer, Hit

REFUSAL = "I couldn't find this in the documents."
W_COS, W_LEX, W_PASSAGE = 4 / 6, 1 / 6, 1 / 6


@dataclass(frozen=True)
class Scored:
    """A sentence ``hit.text[a:b]`` of a retrieved passage, with its support score."""

    hit: Hit
    a: int
    b: int
    score: float


def refusal(question: str, hits: list[Hit], answerer: str) -> Answer:
    """The answer that says the documents do not answer ``question`` (``hits``: the closest passages)."""
    return Answer(question=question, text=REFUSAL, refused=True, hits=hits, answerer=answerer)


class SentenceScorer:
    """Ranks the sentences of retrieved passages by how well each supports the question.

    The last few rankings are remembered: the UI shows the extractive quote while the
    model reads, and the generative answerer then ranks the same hits again.
    """

    def __init__(self, embedder: Embedder, remember: int = 8) -> None:
        self.embedder = embedder
        self._recent: OrderedDict[tuple, list[Scored]] = OrderedDict()
        self._remember = remember
        self._lock = threading.Lock()

    def rank(self, question: str, hits: list[Hit]) -> list[Scored]:
        """Every distinct sentence of ``hits`` (3 words or more) with its support score, best first."""
        key = (question, tuple((h.id, h.score) for h in hits))
        with self._lock:
            if key in self._recent:
                self._recent.move_to_end(key)
                return self._recent[key]
        ranked = self._rank(question, hits)
        with self._lock:
            self._recent[key] = ranked
            while len(self._recent) > self._remember:
                self._recent.popitem(last=False)
        return ranked

    def _rank(self, question: str, hits: list[Hit]) -> list[Scored]:
        seen: set[tuple[str, int]] = set()
        cands: list[tuple[Hit, int, int]] = []
        for h in hits:
            for a, b in sentence_spans(h.text):
                key = (h.source, h.start + a)
                if key in seen or len(h.text[a:b].split()) < 3:
                    continue
                seen.add(key)
                cands.append((h, a, b))
        if not cands:
            return []
        vecs = self.embedder.embed([question] + [h.text[a:b] for h, a, b in cands])
        q, rest = vecs[0], vecs[1:]
        qwords = content_words(question)
        scored = []
        for (h, a, b), v in zip(cands, rest):
            cos = sum(x * y for x, y in zip(q, v))
            lex = len(qwords & content_words(h.text[a:b])) / len(qwords) if qwords else 0.0
            scored.append(Scored(h, a, b, round(W_COS * cos + W_LEX * lex + W_PASSAGE * h.score, 4)))
        return sorted(scored, key=lambda s: -s.score)


class ExtractiveAnswerer:
    """Quotes the best-supported sentence of the retrieved passages, or refuses."""

    name = "extractive"

    def __init__(self, scorer: SentenceScorer, min_score: float) -> None:
        self.scorer = scorer
        self.min_score = min_score

    def stream(self, question: str, hits: list[Hit]) -> Iterator[str | Answer]:
        yield self.answer(question, hits)

    def answer(self, question: str, hits: list[Hit]) -> Answer:
        ranked = self.scorer.rank(question, hits)
        if not ranked or ranked[0].score < self.min_score:
            return refusal(question, hits, self.name)
        best = ranked[0]
        citation = cite(best.hit, best.a, best.b)
        return Answer(question=question, text=f"{citation.quote} [1]", refused=False, citations=[citation], hits=hits,
                      answerer=self.name)
