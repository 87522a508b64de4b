"""Retrievers: dense (vectors), keyword (BM25) and their hybrid; where ``Hit.score`` is made.

Every retriever has ``retrieve(question, k) -> list[Hit]``, best first, and every
``Hit.score`` is on a known, query-independent scale, so one refusal floor means the
same thing for every question and corpus:

- ``dense``: the cosine similarity of question and chunk vectors (-1..1; MiniLM gives
  unrelated English text ~0..0.2 and a passage that answers ~0.5..0.8).
- ``bm25``: BM25 divided by the best score the question could reach (0..1; see
  rag/keyword.py): the share of the question's information the chunk matches.
- ``hybrid`` (default): ``w * cosine + (1 - w) * bm25`` with ``w = Settings.hybrid_weight``,
  computed for the union of each side's best ``Settings.candidates`` chunks (both
  scores are exact for every candidate: a keyword-only candidate gets its cosine from
  its stored vector). A convex combination of two fixed-scale scores, not per-query
  min-max normalisation, which would turn the best hit of any question into 1.0 and
  make a floor meaningless. It also ranks better than reciprocal-rank fusion: mean
  MRR@10 over the four measured sets 0.829 at w = 0.3 against 0.810 for the best RRF
  and 0.791 / 0.750 for BM25 / dense alone (eval/results/tuning.md; the RRF variant
  lives in eval/tune.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Protocol

from .embed import Embedder
from .keyword import KeywordFile
from .store import VectorStore, hit
from .types import Hit

if TYPE_CHECKING:
    from .settings import Settings


class Retriever(Protocol):
    """Finds the chunks that best answer a question, best first, scored on a fixed scale."""

    name: str

    def retrieve(self, question: str, k: int) -> list[Hit]: ...


def make_retriever(store: VectorStore, embedder: Embedder, keywords: KeywordFile, settings: Settings) -> Retriever:
    """The retriever ``settings.retriever`` names (rag/backends.py); unknown names list the valid ones."""
    from .backends import RETRIEVERS, pick

    return pick("retriever", RETRIEVERS, settings.retriever)(store, embedder, keywords, settings)


class DenseRetriever:
    """Top-k chunks by cosine similarity of question and chunk vectors."""

    name = "dense"

    def __init__(self, store: VectorStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    @classmethod
    def build(cls, store: VectorStore, embedder: Embedder, keywords: KeywordFile, settings: Settings) -> DenseRetriever:
        return cls(store, embedder)

    def retrieve(self, question: str, k: int) -> list[Hit]:
        return self.store.search(self.embedder.embed_query(question), k)


class BM25Retriever:
    """Top-k chunks by BM25 over the keyword index, scores normalised to 0..1."""

    name = "bm25"

    def __init__(self, store: VectorStore, keywords: KeywordFile) -> None:
        self.store = store
        self.keywords = keywords

    @classmethod
    def build(cls, store: VectorStore, embedder: Embedder, keywords: KeywordFile, settings: Settings) -> BM25Retriever:
        return cls(store, keywords)

    def retrieve(self, question: str, k: int) -> list[Hit]:
        with self.keywords.lock:
            found = self.keywords.get(self.store).search(question, k)
        chunks = {c.id: c for c, _ in self.store.get([cid for cid, _ in found])}
        return [hit(chunks[cid], score) for cid, score in found if cid in chunks]


@dataclass(frozen=True)
class Candidate:
    """A chunk found by either side, with both of its scores."""

    hit: Hit  # score field unused here
    cos: float
    bm25: float


class HybridRetriever:
    """Dense and keyword candidates, fused by a convex combination of their scores."""

    name = "hybrid"

    def __init__(self, store: VectorStore, embedder: Embedder, keywords: KeywordFile, weight: float,
                 candidates: int) -> None:
        self.store = store
        self.embedder = embedder
        self.keywords = keywords
        self.weight = weight
        self.candidates = candidates

    @classmethod
    def build(cls, store: VectorStore, embedder: Embedder, keywords: KeywordFile, settings: Settings) -> HybridRetriever:
        return cls(store, embedder, keywords, settings.hybrid_weight, settings.candidates)

    def gather(self, question: str, n: int) -> list[Candidate]:
        """The union of the ``n`` best chunks of each side, each with its cosine and BM25 score.

        The keyword side (its top ``n`` and their stored vectors) runs in a worker thread while the
        question is embedded and the vectors searched: SQLite, numpy, torch and Chroma's core all
        release the GIL, so the two sides overlap instead of adding up."""
        keyword_side = _pool().submit(self._keyword_side, question, n)
        vector = self.embedder.embed_query(question)
        dense = self.store.search(vector, n)
        bm25, stored = keyword_side.result()
        out = {h.id: Candidate(h, h.score, bm25.get(h.id, 0.0)) for h in dense}
        unscored = [h.id for h in dense if h.id not in bm25]
        if unscored:  # the dense side's chunks outside the keyword top: their BM25, exactly
            with self.keywords.lock:
                rest = self.keywords.get(self.store).scores(question, only=unscored)
            out.update({cid: replace(out[cid], bm25=s) for cid, s in rest.items()})
        for chunk, vec in stored:  # the keyword side's own: their cosine from the stored vector
            if chunk.id not in out:
                cos = round(sum(a * b for a, b in zip(vector, vec or [])), 4)
                out[chunk.id] = Candidate(hit(chunk, cos), cos, bm25[chunk.id])
        return list(out.values())

    def _keyword_side(self, question: str, n: int) -> tuple[dict[str, float], list]:
        with self.keywords.lock:  # the n best by BM25 (ties at the cut kept), then their stored chunks and vectors
            bm25 = self.keywords.get(self.store).top(question, n)
        best = [cid for cid, _ in sorted(bm25.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]
        return bm25, self.store.get(best, vectors=True)

    def retrieve(self, question: str, k: int) -> list[Hit]:
        return fuse(self.gather(question, max(self.candidates, k)), self.weight)[:k]


@cache
def _pool() -> ThreadPoolExecutor:
    """The threads that run hybrid searches' keyword side (two: two searches at once do not queue)."""
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="rag-keyword")


def fuse(cands: list[Candidate], weight: float) -> list[Hit]:
    """Candidates as hits, best first, scored ``weight * cos + (1 - weight) * bm25``; ties by id.

    >>> h = Hit("a", "x.txt", 0, 1, "a", 0.0)
    >>> cands = [Candidate(h, 0.6, 0.1), Candidate(replace(h, id="b"), 0.4, 0.9)]
    >>> [(x.id, x.score) for x in fuse(cands, 0.7)]
    [('b', 0.55), ('a', 0.45)]
    """
    scored = sorted(((weight * c.cos + (1 - weight) * c.bm25, c) for c in cands), key=lambda sc: (-sc[0], sc[1].hit.id))
    return [replace(c.hit, score=round(s, 4)) for s, c in scored]
