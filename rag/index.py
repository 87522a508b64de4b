"""Bring the index in step with a folder: add new files, replace changed ones, drop deleted ones.

A file is re-embedded only when its content hash differs from the one stored with its
chunks, or when the index holds it incompletely (a crash part-way through a write).
Writes go new-chunks-first, then stale chunks are deleted, so a crash at any point
leaves at worst extra chunks that the next run removes, never a file missing.

The keyword index (rag/keyword.py) follows Chroma: it is first repaired to hold exactly
Chroma's chunks (rebuilt from Chroma's stored texts when missing, corrupt or behind
after a crash), then changed in memory alongside every Chroma write and saved once,
atomically, at the end. A crash before that save leaves it behind Chroma, and the next
sync (or the next load by a retriever) repairs it from Chroma's texts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from .chunk import chunk_document
from .embed import Embedder
from .errors import CorpusError
from .keyword import KeywordFile
from .load import SkipFile, load_document, walk
from .settings import Settings
from .store import Store
from .types import IngestReport

Progress = Callable[[int, int, str], None]  # (files done, files total, current source)


def sync(corpus: Path, store: Store, settings: Settings, embedder: Embedder, progress: Progress | None = None,
         keywords: KeywordFile | None = None) -> IngestReport:
    """Make ``store`` (and its keyword index) hold exactly the chunks of the readable files under ``corpus``."""
    t0 = time.perf_counter()
    corpus = Path(corpus)
    if not corpus.exists():
        raise CorpusError(f"The folder {corpus} does not exist. Point --corpus (or RAG_CORPUS) at a folder of documents.")
    if not corpus.is_dir():
        raise CorpusError(f"{corpus} is a file, not a folder. Point --corpus (or RAG_CORPUS) at the folder that holds it.")

    keywords = keywords or KeywordFile(store.path, store.name)
    kw = keywords.get(store)  # repaired to Chroma's exact chunks
    indexed = store.files()
    files = list(walk(corpus))
    added, updated, unchanged, loaded = [], [], [], set()
    skipped: list[tuple[str, str]] = []
    notes: list[tuple[str, str]] = []
    chunks_added = chunks_removed = 0
    max_bytes = int(settings.max_file_mb * 1_000_000)
    for n, (path, source) in enumerate(files):
        if progress:
            progress(n, len(files), source)
        if path.suffix.lower() not in settings.extensions:
            skipped.append((source, f"unsupported file type '{path.suffix or '(none)'}'"))
            continue
        try:
            doc = load_document(path, source, max_bytes)
        except SkipFile as e:
            skipped.append((source, str(e)))
            continue
        loaded.add(source)
        if doc.note:
            notes.append((source, doc.note))
        state = indexed.get(source)
        if state is not None and state.complete and state.sha256 == doc.sha256:
            unchanged.append(source)
            continue
        chunks = chunk_document(doc, embedder.token_offsets, settings.chunk_tokens, settings.chunk_overlap)
        store.upsert(chunks, embedder.embed([c.text for c in chunks]), doc.sha256)
        stale = (state.ids if state else frozenset()) - {c.id for c in chunks}
        store.delete(stale)
        with keywords.lock:  # a query in another thread never sees a file half-replaced
            keywords.dirty = True
            for c in chunks:
                kw.add(c.id, c.text, {"source": c.source, "start": c.start, "end": c.end, "page": c.page})
            kw.remove(stale)
        (updated if state else added).append(source)
        chunks_added += len(chunks)
        chunks_removed += len(stale)

    removed = sorted(set(indexed) - loaded)
    for source in removed:
        store.delete(indexed[source].ids)
        with keywords.lock:
            keywords.dirty = True
            kw.remove(indexed[source].ids)
        chunks_removed += len(indexed[source].ids)
    if keywords.dirty or not keywords.path.exists():
        keywords.save()
    if progress:
        progress(len(files), len(files), "")
    return IngestReport(
        corpus=str(corpus), collection=store.name, added=added, updated=updated, removed=removed,
        unchanged=unchanged, skipped=skipped, notes=notes, chunks_added=chunks_added,
        chunks_removed=chunks_removed, chunks_total=store.count(), seconds=time.perf_counter() - t0,
    )
