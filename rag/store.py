"""The vector store: Chroma, embedded in a folder or on a server, one collection per settings shape.

The collection is created here (not by llama-index, which sets no configuration) with
cosine space and explicit HNSW settings: Chroma's defaults (ef_search 100, M 16) lost
recall against exact search at 100k vectors, these restored it.

Each stored chunk carries in its metadata the file it came from (``source``), its
character span, the file's content hash and the file's chunk count, which is what
ingestion compares to decide that a file is already indexed whole.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import StoreError
from .settings import Settings
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
    """One Chroma collection: embedded in a folder, or on a server when ``url`` is set.

    Opening it creates nothing; ``collection(create=True)`` does.
    """

    def __init__(self, path: Path, name: str, url: str = "", cache_dir: Path | None = None) -> None:
        self.path = Path(path)
        self.name = name
        self.url = url
        self.cache_dir = Path(cache_dir or Settings.cache_dir)
        self._client: Any = None
        self._collection: Any = None
        self._stamp: tuple[int, int] | None = None  # chroma.sqlite3's (mtime, size) when last checked
        self._sync_id: str | None = None  # the collection's sync_id as this process last saw it

    @property
    def location(self) -> str:
        """Where the index lives, for messages: the server URL or the folder."""
        return self.url or str(self.path)

    @property
    def local_dir(self) -> Path:
        """Where the keyword index and the ingest lock live.

        Embedded: the store folder. Server: a local cache folder keyed by URL + collection,
        so it serialises ingests from this machine only.
        """
        if not self.url:
            return self.path
        key = hashlib.sha256(f"{self.url}|{self.name}".encode()).hexdigest()[:12]
        host = re.sub(r"[^A-Za-z0-9.-]+", "_", urlsplit(self.url).netloc)
        return self.cache_dir / "servers" / f"{host}-{key}"

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        settings = ChromaSettings(anonymized_telemetry=False)
        if self.url:
            u = urlsplit(self.url)
            port = u.port or (443 if u.scheme == "https" else 8000)
            try:
                return chromadb.HttpClient(host=u.hostname or "", port=port, ssl=u.scheme == "https", settings=settings)
            except Exception as e:
                raise StoreError(
                    f"Cannot reach the Chroma server at {self.url} ({_first_line(e)}). Start it (`chroma run --path "
                    f"vectorstore --host {u.hostname} --port {port}`), or drop --chroma-url / RAG_CHROMA_URL to use the "
                    "embedded index."
                ) from None
        from chromadb.api.shared_system_client import SharedSystemClient

        # Chroma shares one system per folder in a process, and a system serves the vectors
        # it loaded (OFFLINE.md trap 7): one cached before another process wrote would be
        # stale. So every Store opens its own; clients already open keep theirs.
        SharedSystemClient.clear_system_cache()
        try:
            return chromadb.PersistentClient(path=str(self.path), settings=settings)
        except Exception as e:
            raise StoreError(f"Cannot open the index at {self.path} ({_first_line(e)}). Check the folder is writable, "
                             "or delete it to rebuild.") from None

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
            if self._collection is not None and self._sync_id is None:
                self._stamp, self._sync_id = self._file_stamp(), str((self._collection.metadata or {}).get("sync_id", ""))
        return self._collection

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Turn a server that stops answering mid-way into a ``StoreError`` that says what to do."""
        if not self.url:
            yield
            return
        import httpx

        try:
            yield
        except (httpx.TransportError, ConnectionError) as e:
            raise StoreError(f"Lost the Chroma server at {self.url} ({_first_line(e)}). Check that it is running, "
                             "then run the command again (an interrupted ingest is repaired by the next one).") from None

    def metadata(self) -> dict[str, Any]:
        """The collection's metadata as stored now (sync_id, last_sync, corpus); {} when there is none."""
        if self._collection is None and self.collection() is None:
            return {}
        from chromadb.errors import NotFoundError

        with self.guard():
            try:
                return dict(self.client.get_collection(self.name, embedding_function=None).metadata or {})
            except (NotFoundError, ValueError):
                return {}  # the collection was deleted under us

    def mark_synced(self, corpus: str, changed: bool) -> datetime:
        """Record a completed sync in the collection's metadata; a new ``sync_id`` when ``changed``.

        Other processes compare the sync_id (``refresh``) to know their view is stale.
        """
        now = datetime.now(timezone.utc)
        col = self.collection(create=True)
        meta = self.metadata()
        meta.update(last_sync=now.isoformat(timespec="seconds"), corpus=corpus)
        if changed or not meta.get("sync_id"):
            meta["sync_id"] = uuid.uuid4().hex
        self._sync_id = str(meta["sync_id"])  # our own write: not a change from elsewhere
        col.modify(metadata=meta)
        self._stamp = self._file_stamp()
        return now

    def refresh(self) -> bool:
        """Reopen the collection when another process synced it since; True when it did.

        An embedded client keeps serving the vectors it loaded (OFFLINE.md trap 7), so a
        long-running app would never see another process's ingest. Cheap: embedded, one
        ``stat`` of chroma.sqlite3 unless it changed; server, one metadata request.
        """
        if self._collection is None:
            return self.collection() is not None
        if not self.url:
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return False
            self._stamp = stamp
        sync_id = str(self.metadata().get("sync_id", ""))
        if sync_id == self._sync_id:
            return False
        self._client = self._collection = self._sync_id = None  # the next client loads the index afresh
        self.collection()
        return True

    def _file_stamp(self) -> tuple[int, int] | None:
        if self.url:
            return None
        try:
            st = (self.path / "chroma.sqlite3").stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

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

    def upsert(self, chunks: list[Chunk], vectors: list[list[float]], sha256: Mapping[str, str]) -> None:
        """Write whole files' chunks (``sha256``: each file's content hash, by source) in the
        layout llama-index's Chroma retriever reads.

        Upsert, not add: a chunk whose id survives an edit elsewhere in the file gets the
        file's new hash and chunk count, so the file reads as complete afterwards.
        """
        from llama_index.core.schema import MetadataMode, TextNode
        from llama_index.core.vector_stores.utils import node_to_metadata_dict

        col = self.collection(create=True)
        n_chunks = Counter(c.source for c in chunks)
        for i in range(0, len(chunks), _BATCH):
            part = list(zip(chunks[i : i + _BATCH], vectors[i : i + _BATCH], strict=True))
            nodes = [TextNode(id_=c.id, text=c.text, metadata=_meta(c, sha256[c.source], n_chunks[c.source]))
                     for c, _ in part]
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


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
