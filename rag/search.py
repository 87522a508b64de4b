"""The one search path: retrieve (and fuse) -> stages -> keep the hits close to the best.

The API, the CLI, the UI and every eval script search through ``Search``; nothing else
chains these steps. A stage (a reranker, a filter, a reader that narrows hits to the
sentences that matter) goes into ``Settings.stages`` by name (rag/backends.py).

A stage may reorder, drop or narrow hits, but must leave ``Hit.score`` as retrieval made
it: the refusal floors were calibrated on that scale, and a stage that rescored would
silently move them. A stage that has a score of its own keeps it elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace  # noqa: F401  (replace: the doctest uses it)
from typing import TYPE_CHECKING, Protocol

from .retrieve import Retriever
from .types import Hit

if TYPE_CHECKING:
    from .embed import Embedder
    from .settings import Settings


class Stage(Protocol):
    """One step after retrieval: the question and its hits, best first, in; hits out."""

    def __call__(self, question: str, hits: list[Hit]) -> list[Hit]: ...


@dataclass(frozen=True)
class Search:
    """``retriever``, then each of ``stages``, then ``keep_close`` at ``margin``."""

    retriever: Retriever
    stages: Sequence[Stage] = ()
    margin: float = 0.0

    def __call__(self, question: str, k: int) -> list[Hit]:
        hits = self.retriever.retrieve(question, k)
        for stage in self.stages:
            hits = stage(question, hits)
        return keep_close(hits, self.margin)


def make_stages(settings: Settings, embedder: Embedder) -> list[Stage]:
    """The stages ``settings.stages`` names, built in order (rag/backends.py)."""
    from .backends import STAGES, pick

    return [pick("stages", STAGES, name, kind="stage")(settings, embedder) for name in settings.stages]


def keep_close(hits: list[Hit], margin: float) -> list[Hit]:
    """The hits scoring within ``margin`` of the best one (all of them when ``margin`` <= 0).

    On a CPU every passage sent to an answerer costs prompt time; a passage far below the
    best is rarely the one holding the answer: with the hybrid, a margin of 0.15 sends
    2.8-4.7 passages instead of 5 on the four measured sets and exactly as many questions
    still get a gold passage (eval/results/tuning.md).

    >>> h = Hit("a", "x.txt", 0, 1, "a", 0.6)
    >>> [x.score for x in keep_close([h, replace(h, score=0.55), replace(h, score=0.3)], 0.1)]
    [0.6, 0.55]
    """
    if margin <= 0 or not hits:
        return hits
    return [h for h in hits if h.score >= hits[0].score - margin]
