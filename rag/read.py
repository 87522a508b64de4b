"""Reading by extraction: the local model copies the answer out of one retrieved sentence, code quotes it.

Why: a 1.5B model that *writes* an answer paraphrases, binds a fact to the wrong subject and
answers unanswerable questions from its own knowledge; checking free text afterwards misses
wrong bindings because every word is somewhere in the passages. Here the model only copies:
it reads the best retrieved sentences (each with its neighbours in the document, across
chunk boundaries: rag/context.py) and replies with a short phrase, where a llama.cpp grammar
allows only a run of consecutive words of ONE of those sentences. The answer is that phrase
plus the sentence holding it, verbatim (a citation that cannot be wrong, subject and fact in
one sentence), and the model writes ~5 tokens instead of ~25. Whether to answer at all is a
score (rag/abstain.py), its strongest part a second one-token call: does the chosen sentence
answer the question, yes or no; the ranker's best sentence, if another, is asked about too.

Share of the tuning halves' answerable questions (SQuAD v2 "Rhine" even paragraphs / the project
set's odd ids) whose quoted sentence holds the gold answer: the ranker's best sentence 0.697 / 0.905;
the model asked for a sentence *number* ~0.58 / 0.43 (40-question probe); copying a phrase, case-
sensitive 0.68 / 0.86 (147 questions: forced into sentence starts when it wanted "The ..."), any
first-letter case 0.767 / 0.857; plus the ranker's veto (``MARGIN``) 0.782 / 0.905. The gold answer
is in one of the candidates for 0.915 / 0.952: this design's ceiling with this retrieval.

Pure logic (candidates, prompt, grammar, choice) is separate from the model call
(``Reader.read``), so it is tested on scripted completions (tests/test_read.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .abstain import ABSTENTION, Abstention, check, features, holds_type, log_odds, p_not_found
from .chunk import sentence_spans
from .cite import cite
from .context import document_context, merge_hits
from .extractive import Scored, SentenceScorer, refusal
from .grammar import copy_grammar
from .llm import Completion, Message
from .types import Answer, Hit

if TYPE_CHECKING:
    from .settings import Settings

SYSTEM = (
    "You answer a question by copying the exact words from the user's passages that answer it: "
    "a short phrase, not a whole sentence.\n"
    "If the passages do not answer the question, reply NOT FOUND."
)


class Completer(Protocol):
    """A model that returns one whole reply, grammar-constrained, with log-probabilities
    (``rag.llm.LocalModel.complete``)."""

    def complete(self, messages: Sequence[Message], max_tokens: int, grammar: str = "",
                 top_logprobs: int = 0) -> Completion: ...


@dataclass(frozen=True)
class Sentence:
    """A numbered candidate: ``hit.text[a:b]``, with its extractive support score."""

    hit: Hit
    a: int
    b: int
    support: float

    @property
    def text(self) -> str:
        return " ".join(self.hit.text[self.a : self.b].split())


@dataclass(frozen=True)
class Reading:
    """What the reader decided, with the evidence for it.

    ``hits`` are the passages read (merged and widened, rag/context.py); ``sentences`` are
    numbered 1.. in the prompt, grouped in ``passages`` (lists of numbers, each a run of
    consecutive sentences of one document). ``chosen`` is the selected number (0: none could
    be read), ``phrase`` the short answer (a substring of the chosen sentence), ``p_none`` the
    model's probability of "NOT FOUND", ``refusal`` the combined refusal score (0..1,
    rag/abstain.py) and ``refused`` the decision.
    """

    hits: list[Hit]
    sentences: list[Sentence]
    passages: list[list[int]]
    chosen: int
    phrase: str
    p_none: float
    features: dict[str, float]
    refusal: float
    refused: bool

    @property
    def sentence(self) -> Sentence | None:
        return self.sentences[self.chosen - 1] if self.chosen else None


# --- candidates -------------------------------------------------------------------------
def candidates(ranked: list[Scored], best: int = 3, neighbours: int = 1,
               limit: int = 9) -> tuple[list[Sentence], list[list[int]]]:
    """The ``best`` sentences, each widened by ``neighbours`` sentences either side, merged
    into runs of consecutive sentences per document, at most ``limit`` in all.

    Returns the sentences in prompt order (passages by their best sentence, sentences in
    document order inside a passage) and the passages as lists of 1-based numbers.
    """
    support = {(s.hit.source, s.hit.start + s.a): s.score for s in ranked}
    chosen: dict[tuple[str, int], Sentence] = {}
    order: list[tuple[str, int]] = []  # core sentences, best first: passages are ordered by them
    for s in ranked:
        if len(order) >= best or len(chosen) >= limit:
            break
        spans = sentence_spans(s.hit.text)
        i = next(k for k, (a, _) in enumerate(spans) if a == s.a)
        window = [i] + [j for d in range(1, neighbours + 1) for j in (i - d, i + d) if 0 <= j < len(spans)]
        added = False
        for j in window:
            a, b = spans[j]
            key = (s.hit.source, s.hit.start + a)
            if key in chosen or len(chosen) >= limit:
                continue
            chosen[key] = Sentence(s.hit, a, b, support.get(key, 0.0))
            added = added or j == i
        if added:
            order.append((s.hit.source, s.hit.start + s.a))
    # Runs of consecutive sentences of one document form a passage.
    keys = sorted(chosen, key=lambda k: (k[0], k[1]))
    runs: list[list[tuple[str, int]]] = []
    for k in keys:
        prev = runs[-1][-1] if runs else None
        if prev and prev[0] == k[0] and _adjacent(chosen[prev], chosen[k]):
            runs[-1].append(k)
        else:
            runs.append([k])
    rank = {k: n for n, k in enumerate(order)}
    runs.sort(key=lambda run: min(rank.get(k, len(rank)) for k in run))
    sentences, passages = [], []
    for run in runs:
        passages.append(list(range(len(sentences) + 1, len(sentences) + len(run) + 1)))
        sentences += [chosen[k] for k in run]
    return sentences, passages


def _adjacent(x: Sentence, y: Sentence) -> bool:
    """``y`` starts right after ``x`` in the document (only whitespace between)."""
    gap_start, gap_end = x.hit.start + x.b, y.hit.start + y.a
    if gap_end < gap_start:
        return True  # overlapping chunks
    if x.hit.id == y.hit.id:
        return not x.hit.text[x.b : y.a].strip()
    return gap_end - gap_start <= 2


# --- prompt, grammar, parsing -----------------------------------------------------------
def prompt(question: str, sentences: list[Sentence], passages: list[list[int]]) -> list[Message]:
    """System rules, then the passages (runs of sentences, a blank line between), the question last."""
    body = "\n\n".join(" ".join(sentences[n - 1].text for n in p) for p in passages)
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Passages:\n{body}\n\nQuestion: {question}"}]


_PUNCT = " \t\n.,;:!?\"'()[]\u201c\u201d\u2018\u2019"


def locate(phrase: str, sentences: list[Sentence]) -> list[int]:
    """1-based numbers of the sentences that hold ``phrase`` (whitespace-normalised), best support first.

    >>> h = Hit("h", "a.txt", 0, 20, "Go north. Go south.", 1.0)
    >>> locate("Go", [Sentence(h, 0, 9, 0.2), Sentence(h, 10, 19, 0.5)])
    [2, 1]
    """
    words = phrase.split()
    if not words:
        return []
    pat = re.compile(r"(?<!\S)" + r"\s+".join(map(re.escape, words)), re.I)
    found = [n for n, s in enumerate(sentences, 1) if pat.search(s.text)]
    return sorted(found, key=lambda n: -sentences[n - 1].support)


# --- the model call ---------------------------------------------------------------------------
# Chosen on the tuning halves. MARGIN (answerable questions quoted right, SQuAD / project): the model's
# sentence always 0.767 / 0.857, the ranker's best always 0.697 / 0.905, the model's unless the ranker's
# best is ahead by more than 0.25: 0.782 / 0.905 (0.1: 0.761 / 0.952, 0.3: 0.789 / 0.857). SWITCH: the
# ranker's best is quoted instead (without a short answer) when the check's "yes" log-odds for it exceed
# SWITCH and the model's sentence's by SWITCH. SQuAD accuracy / declined at fit_abstention's bound: never
# 0.732 / 0.429; only over rejected sentences, 1: 0.746 / 0.514 (0: 0.746 / 0.448, 2: 0.739 / 0.429); over
# accepted ones too (this rule), 1: 0.754 / 0.543 (replayed margin 0.5: 0.732 / 0.552, 2: 0.746 / 0.533).
MARGIN = 0.25
SWITCH = 1.0


class Reader:
    """Reads the best retrieved sentences with a local model: the short answer, the sentence
    that states it, and whether to abstain."""

    def __init__(self, model: Completer, scorer: SentenceScorer, abstention: Abstention = ABSTENTION,
                 context: Callable[[Hit], Hit] | None = None, best: int = 3, neighbours: int = 1,
                 limit: int = 9, margin: float = MARGIN, max_tokens: int = 16) -> None:
        self.model, self.scorer, self.abstention = model, scorer, abstention
        self.context = context  # widens a hit to more of its document (neighbours across chunk boundaries)
        self.best, self.neighbours, self.limit, self.margin, self.max_tokens = best, neighbours, limit, margin, max_tokens

    def read(self, question: str, hits: list[Hit]) -> Reading | None:
        """The reading of ``hits`` for ``question``; None when they hold no sentence at all."""
        hits = merge_hits([self.context(h) for h in hits] if self.context is not None else hits)
        ranked = self.scorer.rank(question, hits)
        if not ranked:
            return None
        sentences, passages = candidates(ranked, self.best, self.neighbours, self.limit)
        out = self.model.complete(prompt(question, sentences, passages), self.max_tokens,
                                  copy_grammar([s.text for s in sentences]), top_logprobs=20)
        return decide(question, hits, sentences, passages, out, self.abstention, self.margin,
                      lambda sentence: check(self.model, question, sentence))


def choose(phrase: str, sentences: list[Sentence], margin: float) -> int:
    """The sentence to quote: the best-supported one holding the model's phrase, unless the
    extractive ranker's best sentence is ahead of it by more than ``margin``.

    >>> h = Hit("h", "a.txt", 0, 20, "Go north. Go south.", 1.0)
    >>> ss = [Sentence(h, 0, 9, 0.6), Sentence(h, 10, 19, 0.3)]
    >>> choose("south.", ss, 0.5), choose("south.", ss, 0.1), choose("west", ss, 0.5)
    (2, 1, 1)
    """
    top = _top(sentences)
    found = locate(phrase, sentences)
    if found and sentences[found[0] - 1].support >= sentences[top - 1].support - margin:
        return found[0]
    return top


def _top(sentences: list[Sentence]) -> int:
    return max(range(1, len(sentences) + 1), key=lambda n: sentences[n - 1].support)


def decide(question: str, hits: list[Hit], sentences: list[Sentence], passages: list[list[int]],
           out: Completion, abstention: Abstention, margin: float = MARGIN,
           checker: Callable[[str], float] | None = None) -> Reading:
    """From the model's completion: the short answer, the sentence to quote, the refusal score
    (with ``checker``'s probability that the chosen sentence answers the question, when given)."""
    p_none = p_not_found(out.top_logprobs[0] if out.top_logprobs else {})
    raw = " ".join(out.text.split())
    chosen = choose(raw, sentences, margin)
    phrase = raw.strip(_PUNCT) if chosen in locate(raw, sentences) else ""
    p_check = checker(sentences[chosen - 1].text) if checker is not None and chosen else None
    top = _top(sentences)  # a second look: the ranker's best, if it can hold what is asked (a date for "when" ...)
    rest = sentences[top - 1].text.split(" ", 1)[-1]  # past its first word ("The", "Since": not names)
    if p_check is not None and top != chosen and holds_type(question, rest, skip=question):
        p_top = checker(sentences[top - 1].text)
        if log_odds(p_top) > SWITCH + max(0.0, log_odds(p_check)):
            chosen, phrase, p_check = top, "", p_top
    s = sentences[chosen - 1] if chosen else None
    near = [sentences[n - 1].text for p in passages if chosen in p for n in p if abs(n - chosen) <= 1]
    feats = features(hits, s.support if s else 0.0, p_none, question, " ".join(near), s.text if s else "", raw,
                     [x.support for x in sentences], (out.text, out.top_logprobs), p_check)
    score = abstention.score(feats)
    return Reading(hits, sentences, passages, chosen, phrase, p_none, feats, score, score >= abstention.threshold)


class ReadingAnswerer:
    """The ``Answerer`` around ``Reader``: the chosen sentence verbatim with its citation, led by
    the short answer, or a refusal."""

    def __init__(self, reader: Reader, name: str) -> None:
        self.reader = reader
        self.name = name
        self.model = reader.model  # Engine.warm_up loads it

    def stream(self, question: str, hits: list[Hit]) -> Iterator[str | Answer]:
        yield self.answer(question, hits)

    def answer(self, question: str, hits: list[Hit]) -> Answer:
        return to_answer(question, hits, self.reader.read(question, hits), self.name)


def to_answer(question: str, hits: list[Hit], reading: Reading | None, name: str) -> Answer:
    """The chosen sentence verbatim with its citation, led by the short answer; or a refusal.

    The answer's hits are the passages the reader read (merged and widened), so the cited
    sentence lies inside one of them even when it came from beyond the retrieved chunk.
    """
    if reading is None:
        return refusal(question, hits, name)
    if reading.refused or reading.sentence is None:
        return replace(refusal(question, reading.hits, name), confidence=round(1 - reading.refusal, 3))
    hits, s = reading.hits, reading.sentence
    citation = cite(s.hit, s.a, s.b)
    lead = f"{reading.phrase}: " if reading.phrase and reading.phrase != s.text.strip(_PUNCT) else ""
    return Answer(question=question, text=f"{lead}{citation.quote} [1]", refused=False, citations=[citation],
                  hits=hits, answerer=name, short=reading.phrase, confidence=round(1 - reading.refusal, 3))


def reading_answerer(model: Completer, scorer: SentenceScorer, settings: Settings, name: str) -> ReadingAnswerer:
    """The reader over ``model``: the scorer ranks candidates, the document context comes from
    ``settings.corpus`` (read as ingest reads), the tuned defaults for everything else."""
    return ReadingAnswerer(Reader(model, scorer, context=document_context(Path(settings.corpus), settings)), name)
