"""The seams a new part plugs into: llama-index adapters (rag/llama.py) and pipeline stages (rag/search.py).

Fast tier: the adapters over the in-memory store and a scripted chat model, and a stage
registered at runtime. Full tier: llama-index's own ``ChromaVectorStore`` reading an index
this project wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import pytest

import rag
from rag.backends import STAGES
from rag.llama import as_llm, as_retriever
from rag.search import keep_close
from rag.types import Hit

QUESTION = "Who is the top Ukrainian negotiator?"


@pytest.fixture
def store_kind() -> str:
    return "memory"


@pytest.fixture
def engine(settings, corpus):
    rag.ingest(corpus, settings=settings)
    return rag.engine(settings=settings)


def test_as_retriever_gives_llama_index_nodes_with_our_text_and_metadata(engine):
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore

    retriever = as_retriever(engine)
    assert isinstance(retriever, BaseRetriever)
    nodes = retriever.retrieve(QUESTION)
    hits = engine.search(QUESTION)
    assert nodes and all(isinstance(n, NodeWithScore) for n in nodes)
    assert [(n.node.node_id, n.node.get_content(), n.score) for n in nodes] == [(h.id, h.text, h.score) for h in hits]
    for n, h in zip(nodes, hits):
        assert n.node.metadata == {"source": h.source, "start": h.start, "end": h.end, "page": h.page}
    assert len(as_retriever(engine, k=1).retrieve(QUESTION)) == 1


class Scripted:
    """A ChatModel that replies with a fixed text in pieces, recording what it was sent."""

    name = label = "scripted"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.calls: list[tuple[list, int]] = []

    def stream(self, messages: Sequence[dict], max_tokens: int) -> Iterator[str]:
        self.calls.append((list(messages), max_tokens))
        words = self.reply.split(" ")
        yield from words[:1] + [" " + w for w in words[1:]]


def test_as_llm_wraps_a_chat_model_for_llama_index():
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.core.llms import LLM

    model = Scripted("Rustem Umerov leads the talks.")
    llm = as_llm(model, max_tokens=64)
    assert isinstance(llm, LLM)
    assert llm.metadata.model_name == "scripted" and llm.metadata.is_chat_model and llm.metadata.num_output == 64

    messages = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Who leads?")]
    assert llm.chat(messages).message.content == "Rustem Umerov leads the talks."
    assert model.calls[-1] == ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who leads?"}], 64)
    streamed = list(llm.stream_chat(messages))
    assert "".join(r.delta for r in streamed) == streamed[-1].message.content == model.reply and len(streamed) == 5

    assert llm.complete("Who leads?").text == model.reply
    assert model.calls[-1] == ([{"role": "user", "content": "Who leads?"}], 64)
    pieces = list(llm.stream_complete("Who leads?"))
    assert "".join(p.delta for p in pieces) == pieces[-1].text == model.reply


@pytest.mark.full
@pytest.mark.parametrize("store_kind", ["chroma"])
def test_llama_index_chroma_vector_store_reads_our_index(engine):
    """llama-index's own ChromaVectorStore opens the collection this project wrote and finds our chunks."""
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from llama_index.vector_stores.chroma import ChromaVectorStore

    vector = engine.embedder.embed_query(QUESTION)
    ours = engine.store.search(vector, 3)
    got = ChromaVectorStore(chroma_collection=engine.store.collection()).query(
        VectorStoreQuery(query_embedding=vector, similarity_top_k=3))
    assert got.ids == [h.id for h in ours]
    for node, h in zip(got.nodes, ours):
        assert node.node_id == h.id and node.get_content() == h.text
        assert (node.metadata["source"], node.metadata["start"], node.metadata["end"]) == (h.source, h.start, h.end)
    assert "Rustem Umerov" in got.nodes[0].get_content()


class DropBest:
    """A stage for the test: drops the best hit (a stage may drop or reorder hits, never rescore them)."""

    built: list[object] = []
    seen: list[tuple[str, list[Hit]]] = []

    def __init__(self, settings: rag.Settings, embedder: object) -> None:
        DropBest.built.append(settings)

    def __call__(self, question: str, hits: list[Hit]) -> list[Hit]:
        DropBest.seen.append((question, hits))
        return hits[1:]


def test_a_stage_registered_at_runtime_runs_inside_engine_search(settings, corpus, monkeypatch):
    monkeypatch.setitem(STAGES, "drop-best", f"{__name__}:DropBest")
    monkeypatch.setattr(DropBest, "built", [])
    monkeypatch.setattr(DropBest, "seen", [])
    monkeypatch.setenv("RAG_STAGES", "drop-best")
    staged = rag.Settings.from_env(**{**settings.__dict__, "stages": None})  # from RAG_STAGES
    assert staged.stages == ("drop-best",)
    rag.ingest(corpus, settings=staged)
    engine = rag.engine(settings=staged)
    assert len(DropBest.built) == 1  # built once, with the engine

    retrieved = engine.retriever.retrieve(QUESTION, staged.top_k)
    hits = engine.search(QUESTION)
    assert DropBest.seen == [(QUESTION, retrieved)]  # the stage got the retriever's hits, best first
    assert hits == keep_close(retrieved[1:], staged.passage_margin)  # its output went on to keep_close
    assert retrieved[0] not in hits and len(DropBest.built) == 1
    assert engine.ask(QUESTION).hits == keep_close(retrieved[1:], staged.passage_margin)  # the answer's search too


def test_an_unknown_stage_names_the_valid_ones(settings, monkeypatch):
    monkeypatch.setitem(STAGES, "drop-best", f"{__name__}:DropBest")
    valid = re.escape(", ".join(STAGES))  # the registered ones and the one added at runtime
    with pytest.raises(rag.SettingsError, match=rf"Unknown stage 'rerank'; choose one of: {valid} \(setting `stages`"):
        rag.engine(settings=rag.Settings.from_env(**{**settings.__dict__, "stages": ("rerank",)}))
