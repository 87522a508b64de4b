"""The one adapter between this project's types and llama-index.

llama-index is the framework these parts plug into, at the edges where it earns its place,
not as a round trip inside the pipeline:

- storage: chunks are written in llama-index's node layout (``node_metadata``), so its
  ``ChromaVectorStore`` opens an index this project built;
- ``as_retriever``: the project's search (hybrid retrieval, stages, refusal-scale scores)
  as a llama-index ``BaseRetriever``, for llama-index query engines and agents;
- ``as_llm``: a ``ChatModel`` (the packaged local model, or a server) as a llama-index
  ``LLM``, so llama-index pipelines can use the offline model.

Retrieval and answering call Chroma and the model directly: going through
``VectorStoreIndex`` cost a node round trip per hit and the ``exp(-distance)`` score
conversion, and ``import llama_index.core`` (~1.5 s) on the question path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .types import Chunk

if TYPE_CHECKING:
    from .api import Engine
    from .llm import ChatModel, Message


def node_metadata(chunk: Chunk, meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` plus the fields llama-index's vector stores read a node back from (text left out)."""
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.utils import node_to_metadata_dict

    return node_to_metadata_dict(TextNode(id_=chunk.id, text=chunk.text, metadata=meta), remove_text=True,
                                 flat_metadata=True)


def as_retriever(engine: Engine, k: int | None = None) -> Any:
    """``engine.search`` as a llama-index ``BaseRetriever``: nodes carry the chunk's text, its source,
    span and page in ``metadata``, and ``Hit.score`` as their score."""
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    class SearchRetriever(BaseRetriever):
        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            hits = engine.search(query_bundle.query_str, k)
            return [NodeWithScore(node=TextNode(id_=h.id, text=h.text, metadata={
                "source": h.source, "start": h.start, "end": h.end, "page": h.page}), score=h.score) for h in hits]

    return SearchRetriever()


def as_llm(model: ChatModel, max_tokens: int = 256) -> Any:
    """Wrap a ChatModel as a llama-index ``CustomLLM`` (chat and completion, streamed or not)."""
    from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse, LLMMetadata
    from llama_index.core.llms import CustomLLM

    def messages_of(messages: Sequence[ChatMessage]) -> list[Message]:
        return [{"role": m.role.value, "content": m.content or ""} for m in messages]

    class ChatModelLLM(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(model_name=model.name, is_chat_model=True, num_output=max_tokens)

        def stream_chat(self, messages: Sequence[ChatMessage], **kw: Any) -> Iterator[ChatResponse]:
            text = ""
            for piece in model.stream(messages_of(messages), max_tokens):
                text += piece
                yield ChatResponse(message=ChatMessage(role="assistant", content=text), delta=piece)

        def chat(self, messages: Sequence[ChatMessage], **kw: Any) -> ChatResponse:
            last = ChatResponse(message=ChatMessage(role="assistant", content=""))
            for last in self.stream_chat(messages):
                pass
            return last

        def stream_complete(self, prompt: str, formatted: bool = False, **kw: Any) -> Iterator[CompletionResponse]:
            text = ""
            for piece in model.stream([{"role": "user", "content": prompt}], max_tokens):
                text += piece
                yield CompletionResponse(text=text, delta=piece)

        def complete(self, prompt: str, formatted: bool = False, **kw: Any) -> CompletionResponse:
            last = CompletionResponse(text="")
            for last in self.stream_complete(prompt):
                pass
            return last

    return ChatModelLLM()
