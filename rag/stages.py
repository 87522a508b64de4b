"""Optional search stages, picked by name in ``Settings.stages`` (``RAG_STAGES=per_file``).

A stage takes the question and the retrieved hits, best first, and returns hits: here
the place for rerankers, filters and readers (rag/search.py). None runs by default.

``per_file``: at most two hits from any one file, so that one long document cannot fill
the answerer's context when the question spans several files (a help desk, a folder of
reports). It only drops: raise ``top_k`` with it, so other files' hits fill the slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .types import Hit

if TYPE_CHECKING:
    from .embed import Embedder
    from .settings import Settings


@dataclass(frozen=True)
class PerFile:
    """Keep at most ``n`` hits of each source file, in their order.

    >>> hits = [Hit(str(i), src, 0, 1, "x", 0.9 - i / 10) for i, src in enumerate("aaab")]
    >>> [(h.id, h.source) for h in PerFile(2)("q", hits)]
    [('0', 'a'), ('1', 'a'), ('3', 'b')]
    """

    n: int = 2

    @classmethod
    def build(cls, settings: Settings, embedder: Embedder) -> PerFile:
        return cls()

    def __call__(self, question: str, hits: list[Hit]) -> list[Hit]:
        seen: dict[str, int] = {}
        out = []
        for h in hits:
            seen[h.source] = seen.get(h.source, 0) + 1
            if seen[h.source] <= self.n:
                out.append(h)
        return out
