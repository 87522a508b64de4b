"""Every swappable part by name: the one place where a new backend is registered.

A setting names the part (``Settings.embedder``, ``vector_store``, ``retriever``,
``stages``); each registry maps that name to ``"module:factory"``. Modules are imported
only when their part is picked, so ``import rag`` stays cheap and an optional dependency
is needed only by whoever uses it. Adding a backend is one new file plus one line here
(docs/architecture.md walks through an example). The answerers are picked in
rag/answer.py instead: 'auto' resolves to one of them by what is installed and configured.

Factory signatures, by registry:

- ``EMBEDDERS``: ``factory(settings) -> Embedder`` (rag/embed.py)
- ``STORES``: ``factory(settings) -> VectorStore`` (rag/store.py)
- ``RETRIEVERS``: ``factory(store, embedder, keywords, settings) -> Retriever`` (rag/retrieve.py)
- ``STAGES``: ``factory(settings, embedder) -> Stage`` (rag/search.py; rag/stages.py)
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import SettingsError

EMBEDDERS = {
    "minilm": "rag.embed:MiniLM.build",  # fp32, sentence-transformers on torch (the default)
    "minilm-int8": "rag.embed_int8:MiniLMInt8.build",  # int8 ONNX on onnxruntime
    "openai": "rag.embed_http:OpenAIEmbedder.build",  # any OpenAI-compatible /v1/embeddings server (embed_url)
}
STORES = {
    "chroma": "rag.chroma:build",  # embedded in a folder, or a server when chroma_url is set
    "memory": "rag.memory:MemoryStore.build",  # numpy, in this process only: tests and throwaway indexes
}
RETRIEVERS = {
    "hybrid": "rag.retrieve:HybridRetriever.build",
    "dense": "rag.retrieve:DenseRetriever.build",
    "bm25": "rag.retrieve:BM25Retriever.build",
}
STAGES = {
    "per_file": "rag.stages:PerFile.build",  # at most two hits per file
}


def pick(setting: str, registry: dict[str, str], name: str, kind: str = "") -> Any:
    """The factory registered as ``name`` for ``setting``; an unknown name gets a message listing the valid ones.

    >>> pick("retriever", RETRIEVERS, "sparse")
    Traceback (most recent call last):
    ...
    rag.errors.SettingsError: Unknown retriever 'sparse'; choose one of: hybrid, dense, bm25 (setting `retriever`, env RAG_RETRIEVER).
    """
    if name not in registry:
        raise SettingsError(f"Unknown {kind or setting.replace('_', ' ')} {name!r}; choose one of: {', '.join(registry) or '(none)'} "
                            f"(setting `{setting}`, env RAG_{setting.upper()}).")
    module, _, attr = registry[name].partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
