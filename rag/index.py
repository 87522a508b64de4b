"""Bring the index in step with a folder: add new files, replace changed ones, drop deleted ones.

A file is re-embedded only when its content hash differs from the one stored with its
chunks, or when the index holds it incompletely (a crash part-way through a write), and
then only its chunks the store does not hold yet: ids come from content, so a chunk
already stored keeps its vector. Writes are committed batch by batch (``EMBED_BATCH``
chunks), so a large file killed half-way resumes from its last batch. Writes go
new-chunks-first, then stale chunks are deleted, so a crash at any point leaves at worst
extra chunks that the next run removes, never a file missing.

Each file's work is bounded: its bytes (``max_file_mb``), its text and parsing time
(``max_file_chars``, ``parse_seconds``, checked by the readers as they go) and its chunks
(``max_file_chunks``); over a limit it is skipped with the reason. Nothing outside the
corpus folder is read (``follow_links``, rag/load.py).

The keyword index (rag/keyword.py) follows the vector store: it is first repaired to hold
exactly the store's chunks (rebuilt from the stored texts when missing, corrupt or behind
after a crash), then changed alongside the store: each batch of files written to the store
(``flush``) is committed to the keyword file in one SQLite transaction, and so are the
deletions of removed files at the end. A crash between a store write and its keyword commit
leaves the keyword file behind the store by that batch (SQLite rolls back a transaction cut
short), and the next sync (or the next process to open it) repairs it from the stored texts.

One sync at a time per index: a lock file (``ingest.lock`` in the store folder, or in
the local cache folder of a server) makes a second one fail at once with
``IngestBusyError``. The OS drops the lock when its process dies, even by SIGKILL.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from .chunk import chunk_document
from .embed import Embedder, token_offsets
from .errors import CorpusError, IngestBusyError, StoreError
from .faults import disk_full, full_disk
from .keyword import KeywordFile
from .load import SkipFile, boundary, budget, parse_document, read_file, walk
from .settings import Settings
from .store import VectorStore, file_states
from .types import Chunk, Document, IndexStatus, IngestReport, Progress, SyncProgress

# Chunks embedded per call, across files. Small files one call each cost ~0.1-0.9 s per
# call on 2 busy cores (torch's thread pool waits for both), whatever the batch holds.
EMBED_BATCH = 64


def status(store: VectorStore, corpus: Path) -> IndexStatus:
    """The index's contents and its last completed sync (from the store's metadata)."""
    meta = store.metadata()
    last = meta.get("last_sync")
    sources = {r.chunk.source for r in store.records()}
    return IndexStatus(corpus=str(meta.get("corpus") or corpus), location=store.location, documents=len(sources),
                       chunks=store.count(), last_sync=datetime.fromisoformat(last) if last else None)


@contextmanager
def ingest_lock(store: VectorStore) -> Iterator[None]:
    """Hold the index's ingest lock, or raise ``IngestBusyError`` at once when another sync holds it."""
    from filelock import FileLock, Timeout

    path = store.local_dir / "ingest.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise IngestBusyError(
            f"Another ingest is running on {store.location}; wait for it to finish and run ingest again "
            f"(its lock is {path}, released when that process exits)."
        ) from None
    try:
        yield
    finally:
        lock.release()


def sync(corpus: Path, store: VectorStore, settings: Settings, embedder: Embedder, progress: Progress | None = None,
         keywords: KeywordFile | None = None) -> IngestReport:
    """Make ``store`` (and its keyword index) hold exactly the chunks of the readable files under ``corpus``."""
    keywords = keywords or KeywordFile(store.local_dir, store.name)
    try:
        with ingest_lock(store), store.guard():
            try:
                return _sync(corpus, store, settings, embedder, progress, keywords)
            except BaseException:
                keywords.discard()  # changes not committed with their batch: the next sync repairs them
                raise
    except OSError as e:  # the lock, the keyword file, a store without a guard of its own
        if disk_full(e):
            raise StoreError(full_disk(store.location, e)) from None
        raise


def _sync(corpus: Path, store: VectorStore, settings: Settings, embedder: Embedder, progress: Progress | None,
          keywords: KeywordFile) -> IngestReport:
    t0 = time.perf_counter()
    corpus = Path(corpus)
    if not corpus.exists():
        raise CorpusError(f"The folder {corpus} does not exist. Point --corpus (or RAG_CORPUS) at a folder of documents.")
    if not corpus.is_dir():
        raise CorpusError(f"{corpus} is a file, not a folder. Point --corpus (or RAG_CORPUS) at the folder that holds it.")

    keywords.discard()  # anything left uncommitted by an earlier sync that failed
    kw = keywords.get(store)
    keywords.check(store)  # to the store's exact chunks, even if another machine changed it since our last load
    keywords.vouch(store, exact=False)  # until this sync ends: killed part-way, the next one repairs it
    indexed = file_states(store)
    files = list(walk(corpus))
    root = boundary(corpus, settings)
    added, updated, unchanged, loaded = [], [], [], set()
    skipped: list[tuple[str, str]] = []
    notes: list[tuple[str, str]] = []
    pending: list[tuple[Document, list[Chunk]]] = []  # changed files waiting to be embedded together
    counts = Counter[str]()
    max_bytes = int(settings.max_file_mb * 1_000_000)
    at = [0]  # the file being read, for progress sent from flush()

    def flush() -> None:
        """Embed and write the pending files' chunks batch by batch, then delete what they replaced.

        New chunks first, stale ones after: a crash in between leaves extra chunks (of a
        file that reads as incomplete or changed), which the next sync removes. Each batch
        is committed as it is written, and chunk ids come from content, so the next sync
        embeds only what is not stored yet: a killed ingest resumes from its last batch.
        """
        sha = {doc.source: doc.sha256 for doc, _ in pending}
        totals = {doc.source: len(cs) for doc, cs in pending}
        done = Counter[str]()
        todo: list[Chunk] = []  # to embed
        reuse: list[Chunk] = []  # stored already, under another hash of the file: its vector is reused
        for doc, cs in pending:
            state = indexed.get(doc.source)
            written = state.by_sha.get(doc.sha256, frozenset()) if state else frozenset()
            for c in cs:
                if c.id in written:
                    done[c.source] += 1  # written by an earlier sync that was interrupted
                else:
                    (reuse if state and c.id in state.ids else todo).append(c)
        batches = [(reuse[i : i + EMBED_BATCH], False) for i in range(0, len(reuse), EMBED_BATCH)]
        batches += [(todo[i : i + EMBED_BATCH], True) for i in range(0, len(todo), EMBED_BATCH)]
        for n, (part, embed) in enumerate(batches, 1):
            if embed:
                vectors = embedder.embed([c.text for c in part])
                crash_point("embed")
            else:
                stored = {c.id: v for c, v in store.get([c.id for c in part], vectors=True)}
                vectors = [stored.get(c.id) or embedder.embed([c.text])[0] for c in part]
            store.upsert(part, vectors, sha, totals)
            crash_point("write")
            done.update(c.source for c in part)
            counts["written"] += len(part)
            src = part[-1].source
            if progress and n < len(batches):  # a long write: say how far it is
                progress(SyncProgress(at[0], len(files), counts["written"], src, done[src], totals[src]))
        for doc, file_chunks in pending:
            state = indexed.get(doc.source)
            stale = (state.ids if state else frozenset()) - {c.id for c in file_chunks}
            store.delete(stale)
            with keywords.lock:
                for c in file_chunks:
                    kw.add(c)
                kw.remove(stale)
            (updated if state else added).append(doc.source)
            counts["added"] += len(file_chunks)
            counts["removed"] += len(stale)
        keywords.save()  # one transaction: a query never sees a file half-replaced
        pending.clear()
        counts["pending"] = 0

    for n, (path, source) in enumerate(files):
        at[0] = n
        if progress:
            progress(SyncProgress(n, len(files), counts["written"], source))
        if path.suffix.lower() not in settings.extensions and not path.is_dir():  # a link to a folder gets its reason below
            skipped.append((source, f"unsupported file type '{path.suffix or '(none)'}'"))
            continue
        state = indexed.get(source)
        try:
            data = read_file(path, max_bytes, root)
            if state is not None and state.complete and state.sha256 == hashlib.sha256(data).hexdigest():
                loaded.add(source)  # unchanged: not parsed again (a PDF takes seconds)
                unchanged.append(source)
                continue
            limits = budget(settings)
            if progress:
                limits.step = lambda note: progress(SyncProgress(n, len(files), counts["written"], source, note=note))
            doc = parse_document(source, path.suffix, data, limits)
            chunks = chunk_document(doc, token_offsets, settings.chunk_tokens, settings.chunk_overlap)
            if len(chunks) > settings.max_file_chunks:
                raise SkipFile(f"too many passages: {len(chunks):,} chunks (the limit is {settings.max_file_chunks:,}, "
                               "setting max_file_chunks); split the file or raise the limit")
        except SkipFile as e:
            skipped.append((source, str(e)))
            continue
        loaded.add(source)
        if doc.note:
            notes.append((source, doc.note))
        pending.append((doc, chunks))
        counts["pending"] += len(chunks)
        if counts["pending"] >= EMBED_BATCH:
            flush()
    if pending:
        flush()
    chunks_added, chunks_removed = counts["added"], counts["removed"]

    removed = sorted(set(indexed) - loaded)
    for source in removed:
        store.delete(indexed[source].ids)
        with keywords.lock:
            kw.remove(indexed[source].ids)
        chunks_removed += len(indexed[source].ids)
    crash_point("save")
    keywords.save()
    if store.count() or store.metadata():
        store.mark_synced(str(corpus.resolve()), bool(added or updated or removed))
    keywords.vouch(store)
    if progress:
        progress(SyncProgress(len(files), len(files), counts["written"], ""))
    return IngestReport(
        corpus=str(corpus), collection=store.name, added=added, updated=updated, removed=removed,
        unchanged=unchanged, skipped=skipped, notes=notes, chunks_added=chunks_added,
        chunks_removed=chunks_removed, chunks_total=store.count(), seconds=time.perf_counter() - t0,
    )


_reached: Counter[str] = Counter()


def crash_point(stage: str) -> None:
    """Test hook: with RAG_TEST_KILL_AT=stage:N this process SIGKILLs itself the N-th time it gets here.

    Stages: ``embed`` (a batch of files embedded, not written), ``write`` (their new chunks
    written, the stale ones not yet deleted), ``save`` (the store done, the keyword file's removals
    of deleted files not yet committed).
    """
    want = os.environ.get("RAG_TEST_KILL_AT")
    if want:
        _reached[stage] += 1
        if want == f"{stage}:{_reached[stage]}":
            os.kill(os.getpid(), signal.SIGKILL)
