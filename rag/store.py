"""The vector store: an embedded Chroma database holding one collection per settings shape.

The collection is created here (not by llama-index, which sets no configuration) with
cosine space and explicit HNSW settings: Chroma's defaults (ef_search 100, M 16) lost
recall against exact search at 100k vectors, these restored it.

Each stored chunk carries in its metadata the file it came from (``source``), its
character span, the file's content hash and the file's chunk count, which is what
ingestion compares to decide that a file is already indexed whole.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import RagError
from .types import Chunk

HNSW = {"space": "cosine", "ef_search": 400, "max_neighbors": 32, "ef_construction": 200}
_BATCH = 1000  # ids per Chroma write; well under its max batch size


@dataclass(frozen=True)
class FileState:
    """What the index holds for one source file."""

    sha256: str  # the hash recorded with its chunks ("" when the chunks disagree)
    expected: int  # how many chunks the file had when it was indexed
    ids: frozenset[str]

    @property
    def complete(self) -> bool:
        return bool(self.sha256) and len(self.ids) == self.expected


class Store:
    """One Chroma collection in a folder. Opening it creates nothing; ``collection(create=True)`` does."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = Path(path)
        self.name = name
        self._collection: Any = None

    @property
    def client(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        try:
            return chromadb.PersistentClient(path=str(self.path), settings=ChromaSettings(anonymized_telemetry=False))
        except Exception as e:
            raise RagError(f"Cannot open the index at {self.path} ({e}). Check the folder is writable, or delete it to rebuild.") from e

    def collection(self, create: bool = False) -> Any:
        """The Chroma collection, or None when it does not exist and ``create`` is False."""
        if self._collection is None:
            client = self.client
            if create:
                self._collection = client.get_or_create_collection(
                    self.name, configuration={"hnsw": HNSW}, embedding_function=None,
                    metadata={"embedder": "all-MiniLM-L6-v2"},
                )
            elif self.name in {c.name for c in client.list_collections()}:
                self._collection = client.get_collection(self.name, embedding_function=None)
        return self._collection

    def count(self) -> int:
        col = self.collection()
        return 0 if col is None else col.count()

    def files(self) -> dict[str, FileState]:
        """What the index holds, by source file."""
        col = self.collection()
        if col is None:
            return {}
        got = col.get(include=["metadatas"])
        ids: dict[str, set[str]] = defaultdict(set)
        shas: dict[str, set[str]] = defaultdict(set)
        expected: dict[str, int] = {}
        for cid, meta in zip(got["ids"], got["metadatas"]):
            src = meta.get("source", "")
            ids[src].add(cid)
            shas[src].add(meta.get("doc_sha256", ""))
            expected[src] = int(meta.get("n_chunks", -1))
        return {
            src: FileState(next(iter(shas[src])) if len(shas[src]) == 1 else "", expected[src], frozenset(ids[src]))
            for src in ids
        }

    def upsert(self, chunks: list[Chunk], vectors: list[list[float]], sha256: str) -> None:
        """Write one file's chunks in the layout llama-index's Chroma retriever reads.

        Upsert, not add: a chunk whose id survives an edit elsewhere in the file gets the
        file's new hash and chunk count, so the file reads as complete afterwards.
        """
        from llama_index.core.schema import MetadataMode, TextNode
        from llama_index.core.vector_stores.utils import node_to_metadata_dict

        col = self.collection(create=True)
        for i in range(0, len(chunks), _BATCH):
            part = list(zip(chunks[i : i + _BATCH], vectors[i : i + _BATCH], strict=True))
            nodes = [TextNode(id_=c.id, text=c.text, metadata=_meta(c, sha256, len(chunks))) for c, _ in part]
            col.upsert(
                ids=[n.node_id for n in nodes],
                embeddings=[v for _, v in part],
                metadatas=[node_to_metadata_dict(n, remove_text=True, flat_metadata=True) for n in nodes],
                documents=[n.get_content(metadata_mode=MetadataMode.NONE) for n in nodes],
            )

    def delete(self, ids: set[str] | frozenset[str]) -> None:
        col = self.collection()
        if col is None or not ids:
            return
        ids_list = sorted(ids)
        for i in range(0, len(ids_list), _BATCH):
            col.delete(ids=ids_list[i : i + _BATCH])

    def get(self, ids: list[str], embeddings: bool = False) -> list[tuple[str, str, dict[str, Any], list[float] | None]]:
        """(id, text, metadata, vector or None) of the stored chunks ``ids``, in the order given; unknown ids are left out."""
        col = self.collection()
        if col is None or not ids:
            return []
        include = ["documents", "metadatas"] + (["embeddings"] if embeddings else [])
        got = col.get(ids=list(ids), include=include)
        vecs = got["embeddings"] if embeddings else [None] * len(got["ids"])
        rows = {cid: (cid, doc or "", meta, None if v is None else list(v))
                for cid, doc, meta, v in zip(got["ids"], got["documents"], got["metadatas"], vecs)}
        return [rows[i] for i in ids if i in rows]

    def vector_store(self) -> Any:
        """The collection as a llama-index vector store (for its retrievers)."""
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=self.collection())


def _meta(c: Chunk, sha256: str, n_chunks: int) -> dict[str, Any]:
    meta: dict[str, Any] = {"source": c.source, "start": c.start, "end": c.end, "doc_sha256": sha256, "n_chunks": n_chunks}
    if c.page is not None:
        meta["page"] = c.page
    return meta
