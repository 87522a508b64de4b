"""Answerers turn a question and its retrieved passages into an ``Answer``.

One protocol, picked by name in ``make_answerer``. The extractive answerer quotes the
sentence(s) of the retrieved passages that best support the question, each with its
citation, and refuses when none supports it well enough.

Support score of a sentence (about -1..1): a blend of the MiniLM cosine of question and
sentence, the share of the question's content words found in the sentence, and the
score of its whole retrieved passage (context the single sentence lacks). The weights
came from a grid search on eval/questions.jsonl with dense retrieval (cosine-only 0.71
accuracy, words-only 0.86 but no usable refusal floor; this blend 0.81 with refusal
precision 0.8 / recall 0.67). With hybrid retrieval the floor ``Settings.min_score`` was
re-chosen as 0.35 (accuracy 0.786, refusal 0.667 / 0.667); ``python eval/run.py --sweep``
prints the floor sweep. The generative answerer (rag/generate.py) ranks with this score too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from .chunk import sentence_spans
from .cite import cite
from .embed import Embedder
from .errors import SettingsError
from .settings import Settings
from .types import Answer, Hit

REFUSAL = "I couldn't find this in the documents."
W_COS, W_LEX, W_PASSAGE = 4 / 6, 1 / 6, 1 / 6
ANSWERERS = ("auto", "local", "openai", "extractive")

_STOP = set(
    """a an the and or but if of to in on at by for with from as is are was were be been being do does did
    what which who whom whose when where why how that this these those it its it's he she they them his her
    their there here about into over under than then so not no yes can could would should will shall may
    might must has have had i you we our your me my according article say said says tell give any some
    much many more most other such only own same too very s t just also""".split()
)


class Answerer(Protocol):
    """Writes an answer from retrieved passages.

    ``stream`` yields the answer's text as it is written (nothing, for answerers that do
    not write), then the final ``Answer``.
    """

    name: str

    def stream(self, question: str, hits: list[Hit]) -> Iterator[str | Answer]: ...


def last_answer(events: Iterable[str | Answer]) -> Answer:
    """Drain an answer stream and return its final ``Answer``."""
    final = None
    for event in events:
        if isinstance(event, Answer):
            final = event
    if final is None:
        raise RuntimeError("the answer stream ended without an Answer")
    return final


def terms(text: str) -> set[str]:
    """Content words, lower-cased and crudely stemmed: 'Talks' and 'talk' match.

    >>> sorted(terms("Where were the talks held?"))
    ['held', 'talk']
    """
    out = set()
    for w in re.findall(r"[a-z0-9]+", text.lower()):
        if w in _STOP or len(w) < 2:
            continue
        for suf in ("ing", "ed", "es", "s"):
            if w.endswith(suf) and len(w) - len(suf) >= 3:
                w = w[: -len(suf)]
                break
        out.add(w)
    return out


@dataclass(frozen=True)
class Scored:
    hit: Hit
    a: int  # span inside hit.text
    b: int
    score: float


class ExtractiveAnswerer:
    """Quotes the best-supported sentence of the retrieved passages, or refuses."""

    name = "extractive"

    def __init__(self, embedder: Embedder, min_score: float) -> None:
        self.embedder = embedder
        self.min_score = min_score

    def rank(self, question: str, hits: list[Hit]) -> list[Scored]:
        """Every distinct sentence of ``hits`` with its support score, best first."""
        seen: set[tuple[str, int]] = set()
        cands: list[tuple[Hit, int, int]] = []
        for hit in hits:
            for a, b in sentence_spans(hit.text):
                key = (hit.source, hit.start + a)
                if key in seen or len(hit.text[a:b].split()) < 3:
                    continue
                seen.add(key)
                cands.append((hit, a, b))
        if not cands:
            return []
        vecs = self.embedder.embed([question] + [h.text[a:b] for h, a, b in cands])
        q, rest = vecs[0], vecs[1:]
        qterms = terms(question)
        scored = []
        for (hit, a, b), v in zip(cands, rest):
            cos = sum(x * y for x, y in zip(q, v))
            lex = len(qterms & terms(hit.text[a:b])) / len(qterms) if qterms else 0.0
            scored.append(Scored(hit, a, b, round(W_COS * cos + W_LEX * lex + W_PASSAGE * hit.score, 4)))
        return sorted(scored, key=lambda s: -s.score)

    def stream(self, question: str, hits: list[Hit]) -> Iterator[str | Answer]:
        yield self.answer(question, hits)

    def answer(self, question: str, hits: list[Hit]) -> Answer:
        ranked = self.rank(question, hits)
        if not ranked or ranked[0].score < self.min_score:
            return Answer(question=question, text=REFUSAL, refused=True, hits=hits, answerer=self.name)
        best = ranked[0]
        citation = cite(best.hit, best.a, best.b)
        return Answer(question=question, text=f"{citation.quote} [1]", refused=False,
                      citations=[citation], hits=hits, answerer=self.name)


def make_answerer(settings: Settings, embedder: Embedder, name: str | None = None) -> Answerer:
    """The answerer called ``name`` (default: ``settings.answerer``); unknown names list the valid ones.

    'auto' resolves to the server at ``llm_url`` when one is set, else to the local model
    when its packages are installed, else to the extractive answerer. Loading failures
    surface on first use as ``ModelError``; the engine then falls back under 'auto'.
    """
    name = name or settings.answerer
    extractive = ExtractiveAnswerer(embedder, settings.min_score)
    if name == "auto":
        from .llm import installed

        name = "openai" if settings.llm_url else "local" if installed(settings.llm_model) else "extractive"
    if name == "extractive":
        return extractive
    if name in ("local", "openai"):
        from .generate import GenerativeAnswerer
        from .llm import OpenAIModel, local_model, spec

        if name == "openai":
            if not settings.llm_url:
                raise SettingsError("answerer 'openai' needs a server: set RAG_LLM_URL (e.g. http://127.0.0.1:8080/v1).")
            model = OpenAIModel(settings.llm_url, settings.llm_api_model, settings.llm_api_key)
        else:
            spec(settings.llm_model)  # rejects unknown model names now, not at the first question
            model = local_model(settings.llm_model, settings.model_dir)
        return GenerativeAnswerer(model, extractive, max_passages=settings.llm_passages,
                                  max_tokens=settings.llm_max_tokens, min_score=settings.llm_min_score)
    raise SettingsError(f"Unknown answerer {name!r}; choose one of: {', '.join(ANSWERERS)}.")
