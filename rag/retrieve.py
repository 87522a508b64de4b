"""Dense retrieval through llama-index over the Chroma collection.

Scores are cosine similarities (-1..1). llama-index's Chroma adapter reports
``exp(-distance)``, and with cosine space ``distance = 1 - cos``, so
``cos = 1 + ln(score)``: converted here so the refusal floor means a cosine everywhere.
"""

from __future__ import annotations

import math
from typing import Any

from .embed import Embedder
from .store import Store
from .types import Hit


class DenseRetriever:
    """Top-k chunks by cosine similarity of MiniLM vectors."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder
        self._index: Any = None

    def retrieve(self, question: str, k: int) -> list[Hit]:
        if self._index is None:
            from llama_index.core import VectorStoreIndex

            self._index = VectorStoreIndex.from_vector_store(self.store.vector_store(), embed_model=self.embedder.llama)
        found = self._index.as_retriever(similarity_top_k=k).retrieve(question)
        return [to_hit(n.node, n.score) for n in found]


def to_hit(node: Any, score: float | None) -> Hit:
    """A llama-index node from our collection -> ``Hit`` (metadata written by ``Store.upsert``)."""
    m = node.metadata
    cos = 1.0 + math.log(score) if score and score > 0 else -1.0
    page = m.get("page")
    return Hit(
        id=node.node_id, source=m["source"], start=int(m["start"]), end=int(m["end"]),
        text=node.get_content(), score=round(cos, 4), page=int(page) if page not in (None, "") else None,
    )
