"""Chroma behind the ``VectorStore`` seam: embedded in a folder, or on a server.

``EmbeddedChroma`` (a ``PersistentClient`` on ``Settings.store``) and ``ChromaServer``
(an ``HttpClient`` on ``Settings.chroma_url``) share everything but where the collection
lives, how a lost connection is reported and how another process's writes are noticed.

The collection is created here with cosine space and explicit HNSW settings: Chroma's
defaults (ef_search 100, M 16) lost recall against exact search at 100k vectors, these
restored it (recall@10 0.999). Queries go to Chroma directly: with cosine space its
distance is ``1 - cos``, so ``Hit.score = 1 - distance``. Chunks are written in
llama-index's node layout (rag/llama.py), so llama-index's ``ChromaVectorStore`` can open
an index this project built.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import StoreError
from .faults import damaged_index, first_line, guarded, lost_server, store_guard
from .settings import Settings
from .store import Record, chunk_meta, from_meta, hit
from .types import Chunk, Hit

HNSW = {"space": "cosine", "ef_search": 400, "max_neighbors": 32, "ef_construction": 200}
_BATCH = 1000  # ids per Chroma write or read by id; well under its max batch size and SQLite's 32,766 variables
_PAGE = 5000  # chunks per page when reading the whole collection


def build(settings: Settings) -> ChromaStore:
    """The Chroma store the settings point at: the server at ``chroma_url``, else the folder ``store``."""
    if settings.chroma_url:
        return ChromaServer(settings.chroma_url, settings.collection, settings.embed_space, settings.cache_dir)
    return EmbeddedChroma(settings.store, settings.collection, settings.embed_space)


class ChromaStore:
    """One Chroma collection; subclasses say where it lives."""

    location: str
    local_dir: Path

    def __init__(self, name: str, space: str) -> None:
        self.name = name
        self.space = space  # the embedder's vector space, recorded in the collection's metadata
        self._client: Any = None
        self._collection: Any = None
        self._seen: tuple[int, int] | None = None  # the store's file stamp when last checked (embedded)
        self._sync_id: str | None = None  # the collection's sync_id as this process last saw it

    def _connect(self) -> Any:
        raise NotImplementedError

    def _stamp(self) -> tuple[int, int] | None:
        """A cheap sign that another process wrote (None: always ask the collection)."""
        return None

    def guard(self) -> Any:
        return store_guard(self.location, self._fault)

    def _fault(self, e: Exception) -> str | None:
        return None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._connect()
        return self._client

    @guarded
    def collection(self, create: bool = False) -> Any:
        """The Chroma collection, or None when it does not exist and ``create`` is False."""
        if self._collection is None:
            client = self.client
            if create:
                self._collection = client.get_or_create_collection(
                    self.name, configuration={"hnsw": HNSW}, embedding_function=None,
                    metadata={"embedder": self.space},
                )
            elif self.name in {c.name for c in client.list_collections()}:
                self._collection = client.get_collection(self.name, embedding_function=None)
            if self._collection is not None and self._sync_id is None:
                self._seen, self._sync_id = self._stamp(), str((self._collection.metadata or {}).get("sync_id", ""))
        return self._collection

    @guarded
    def metadata(self) -> dict[str, Any]:
        if self._collection is None and self.collection() is None:
            return {}
        from chromadb.errors import NotFoundError

        try:
            return dict(self.client.get_collection(self.name, embedding_function=None).metadata or {})
        except (NotFoundError, ValueError):
            return {}  # the collection was deleted under us

    @guarded
    def mark_synced(self, corpus: str, changed: bool) -> datetime:
        now = datetime.now(timezone.utc)
        col = self.collection(create=True)
        meta = self.metadata()
        meta.update(last_sync=now.isoformat(timespec="seconds"), corpus=corpus)
        if changed or not meta.get("sync_id"):
            meta["sync_id"] = uuid.uuid4().hex
        self._sync_id = str(meta["sync_id"])  # our own write: not a change from elsewhere
        col.modify(metadata=meta)
        self._seen = self._stamp()
        return now

    @guarded
    def refresh(self) -> bool:
        """An embedded client keeps serving the vectors it loaded (OFFLINE.md trap 7), so a long-running
        app would never see another process's ingest. Cheap: embedded, one ``stat`` unless the file
        changed; server, one metadata request."""
        if self._collection is None:
            return self.collection() is not None
        stamp = self._stamp()
        if stamp is not None:
            if stamp == self._seen:
                return False
            self._seen = stamp
        if str(self.metadata().get("sync_id", "")) == self._sync_id:
            return False
        self._client = self._collection = self._sync_id = None  # the next client loads the index afresh
        self.collection()
        return True

    @guarded
    def count(self) -> int:
        col = self.collection()
        return 0 if col is None else col.count()

    @guarded
    def records(self, text: bool = False) -> Iterator[Record]:
        col = self.collection()
        if col is None:
            return
        include = ["metadatas", "documents"] if text else ["metadatas"]
        offset = 0
        while True:
            got = col.get(include=include, limit=_PAGE, offset=offset)
            docs = got["documents"] if text else [""] * len(got["ids"])
            for cid, doc, meta in zip(got["ids"], docs, got["metadatas"]):
                yield from_meta(cid, doc or "", meta)
            if len(got["ids"]) < _PAGE:
                return
            offset += _PAGE

    @guarded
    def get(self, ids: Sequence[str], vectors: bool = False) -> list[tuple[Chunk, list[float] | None]]:
        col = self.collection()
        if col is None or not ids:
            return []
        include = ["documents", "metadatas"] + (["embeddings"] if vectors else [])
        rows: dict[str, tuple[Chunk, list[float] | None]] = {}
        for i in range(0, len(ids), _BATCH):
            got = col.get(ids=list(ids[i : i + _BATCH]), include=include)
            vecs = got["embeddings"] if vectors else [None] * len(got["ids"])
            for cid, doc, meta, v in zip(got["ids"], got["documents"], got["metadatas"], vecs):
                if not meta:  # a write cut short (a full disk) left the vector without its metadata
                    continue
                rows[cid] = (from_meta(cid, doc or "", meta).chunk, None if v is None else [float(x) for x in v])
        return [rows[i] for i in ids if i in rows]

    @guarded
    def search(self, vector: Sequence[float], n: int) -> list[Hit]:
        col = self.collection()
        if col is None or n < 1:
            return []
        got = col.query(query_embeddings=[list(vector)], n_results=n, include=["documents", "metadatas", "distances"])
        return [hit(from_meta(cid, doc or "", meta).chunk, 1.0 - dist)
                for cid, doc, meta, dist in zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0])
                if meta]  # none: a write cut short (a full disk) left the vector without its metadata

    @guarded
    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]], sha256: Mapping[str, str],
               totals: Mapping[str, int] | None = None) -> None:
        """Upsert, not add: a chunk whose id survives an edit elsewhere in the file gets the file's new
        hash and chunk count, so the file reads as complete afterwards."""
        from .llama import node_metadata

        col = self.collection(create=True)
        n_chunks = {**Counter(c.source for c in chunks), **(totals or {})}
        for i in range(0, len(chunks), _BATCH):
            part = list(zip(chunks[i : i + _BATCH], vectors[i : i + _BATCH], strict=True))
            col.upsert(
                ids=[c.id for c, _ in part],
                embeddings=[[float(x) for x in v] for _, v in part],
                metadatas=[node_metadata(c, chunk_meta(c, sha256[c.source], n_chunks[c.source])) for c, _ in part],
                documents=[c.text for c, _ in part],
            )

    @guarded
    def delete(self, ids: set[str] | frozenset[str]) -> None:
        col = self.collection()
        if col is None or not ids:
            return
        ids_list = sorted(ids)
        for i in range(0, len(ids_list), _BATCH):
            col.delete(ids=ids_list[i : i + _BATCH])


def _settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False)


class EmbeddedChroma(ChromaStore):
    """A collection in a folder (``chroma.sqlite3`` plus HNSW files), this process's own client."""

    def __init__(self, path: Path, name: str, space: str) -> None:
        super().__init__(name, space)
        self.path = Path(path)
        self.location = str(self.path)
        self.local_dir = self.path

    def _connect(self) -> Any:
        import chromadb
        from chromadb.api.shared_system_client import SharedSystemClient

        # Chroma shares one system per folder in a process, and a system serves the vectors
        # it loaded (OFFLINE.md trap 7): one cached before another process wrote would be
        # stale. So every store opens its own; clients already open keep theirs.
        SharedSystemClient.clear_system_cache()
        try:
            return chromadb.PersistentClient(path=str(self.path), settings=_settings())
        except Exception as e:
            damaged = None if isinstance(e, PermissionError) else damaged_index(self.path, e)
            raise StoreError(damaged or f"Cannot open the index at {self.path} ({first_line(e)}): check the folder is "
                             "writable, or move it away to rebuild the index.") from None

    def _fault(self, e: Exception) -> str | None:
        return damaged_index(self.path, e)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = (self.path / "chroma.sqlite3").stat()
        except FileNotFoundError:
            return (0, 0)
        return st.st_mtime_ns, st.st_size


class ChromaServer(ChromaStore):
    """A collection on a Chroma server (``chroma run``); this machine's keyword file and lock in a cache folder."""

    def __init__(self, url: str, name: str, space: str, cache_dir: Path) -> None:
        super().__init__(name, space)
        self.url = url
        self.location = url
        # Keyed by URL + collection, so it serialises ingests from this machine only.
        key = hashlib.sha256(f"{url}|{name}".encode()).hexdigest()[:12]
        host = re.sub(r"[^A-Za-z0-9.-]+", "_", urlsplit(url).netloc)
        self.local_dir = Path(cache_dir) / "servers" / f"{host}-{key}"

    def _connect(self) -> Any:
        import chromadb

        u = urlsplit(self.url)
        port = u.port or (443 if u.scheme == "https" else 8000)
        try:
            return chromadb.HttpClient(host=u.hostname or "", port=port, ssl=u.scheme == "https", settings=_settings())
        except Exception as e:
            raise StoreError(
                f"Cannot reach the Chroma server at {self.url} ({first_line(e)}). Start it (`chroma run --path "
                f"vectorstore --host {u.hostname} --port {port}`), or drop --chroma-url / RAG_CHROMA_URL to use the "
                "embedded index."
            ) from None

    def _fault(self, e: Exception) -> str | None:
        return lost_server(self.url, e)
