"""Incremental sync against the vector store and the real keyword file: what is embedded, what is
left, progress, status, the ingest lock, and a long-running engine seeing another process's ingest.

The in-process tests run on the in-memory store (fast tier) and on embedded Chroma (full tier);
the ones that start a second process need a store on disk: Chroma, full tier.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

import rag
from rag.chunk import chunk_document
from rag.embed import token_offsets
from rag.index import ingest_lock
from rag.keyword import KeywordFile
from rag.load import load_document, walk
from rag.retrieve import DenseRetriever
from rag.store import file_states
from rag.types import SyncProgress



def chroma_only(test):
    """A test with a second process: it needs a store on disk that both open, embedded Chroma (full tier)."""
    return pytest.mark.full(pytest.mark.parametrize("store_kind", ["chroma"])(test))


def expected_chunks(corpus, settings, only: set[str] | None = None) -> list:
    """The chunks the folder (or the files ``only``) should produce, computed independently of sync()."""
    out = []
    for path, source in walk(corpus):
        if path.suffix.lower() in settings.extensions and (only is None or source in only):
            doc = load_document(path, source, 10**9)
            out += chunk_document(doc, token_offsets, settings.chunk_tokens, settings.chunk_overlap)
    return out


def expected_ids(corpus, settings) -> set[str]:
    return {c.id for c in expected_chunks(corpus, settings)}


def bm25_ids(engine) -> set[str]:
    return KeywordFile(engine.keywords.path.parent, engine.keywords.collection).open().ids()  # as committed


def test_only_new_and_changed_files_are_embedded_and_deleted_ones_leave_nothing(settings, corpus, monkeypatch):
    (corpus / "old.txt").write_text("The lighthouse keeper retired in 1987. Nobody replaced him.\n")
    rag.ingest(corpus, settings=settings)
    engine = rag.engine(settings=settings)
    old_ids = file_states(engine.store)["old.txt"].ids

    (corpus / "notes" / "garden.md").write_text("# Garden notes\n\nThe courgettes failed in the drought of July.\n")
    (corpus / "new.md").write_text("The new well was dug forty metres deep.\n")
    (corpus / "old.txt").unlink()
    (corpus / "movie.mp4").write_bytes(b"\0\0\0\x18ftypmp42")
    embedded: list[str] = []
    real_embed = engine.embedder.embed
    monkeypatch.setattr(engine.embedder, "embed", lambda texts: embedded.extend(texts) or real_embed(texts))
    report = rag.ingest(corpus, settings=settings)

    assert (report.added, report.updated, report.removed, report.unchanged) == (
        ["new.md"], ["notes/garden.md"], ["old.txt"], ["article.txt"])
    assert "unsupported" in dict(report.skipped)["movie.mp4"]
    assert sorted(embedded) == sorted(c.text for c in expected_chunks(corpus, settings, {"new.md", "notes/garden.md"}))
    want = expected_ids(corpus, settings)
    got = [r.chunk.id for r in engine.store.records()]
    assert len(got) == len(set(got)) and set(got) == want and not old_ids & set(got)
    assert bm25_ids(engine) == want
    assert "forty metres" in rag.ask("How deep was the new well dug?", settings=settings).text


def test_progress_reports_every_file_and_the_chunks(settings, corpus):
    seen: list[SyncProgress] = []
    report = rag.ingest(corpus, settings=settings, progress=seen.append)
    assert [p.files_done for p in seen] == [0, 1, 2] and {p.files_total for p in seen} == {2}
    assert [p.source for p in seen] == ["article.txt", "notes/garden.md", ""]
    assert seen[-1].chunks_done == report.chunks_added == report.chunks_total


def test_status_says_what_the_index_holds_and_when_it_was_synced(settings, corpus):
    engine = rag.engine(settings=settings)
    before = engine.status()
    assert (before.documents, before.chunks, before.last_sync) == (0, 0, None)
    assert before.location == (str(settings.store) if settings.vector_store == "chroma" else "memory")
    report = rag.ingest(corpus, settings=settings)
    st = engine.status()
    assert (st.documents, st.chunks, st.corpus) == (2, report.chunks_total, str(corpus.resolve()))
    assert timedelta(0) <= datetime.now(timezone.utc) - st.last_sync < timedelta(minutes=5)


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAG_ANSWERER": "extractive", **env}
    return subprocess.run([sys.executable, "-m", "rag", *args], capture_output=True, text=True, timeout=600, env=env)


@chroma_only
def test_a_second_ingest_on_the_same_store_is_refused_with_a_clear_message(settings, corpus):
    engine = rag.engine(settings=settings)
    with ingest_lock(engine.store):  # this process is ingesting; another one starts
        out = _cli("--store", str(settings.store), "ingest", str(corpus))
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert out.stderr.startswith(f"error: Another ingest is running on {settings.store}; wait for it")
        with pytest.raises(rag.RagError, match="Another ingest is running"):
            rag.ingest(corpus, settings=settings)  # two engines in one process are kept apart too
    out = _cli("--store", str(settings.store), "ingest", str(corpus))
    assert out.returncode == 0 and "2 added" in out.stdout, out.stderr


@chroma_only
def test_a_running_engine_sees_what_another_process_ingested(settings, corpus):
    """Like the app: one engine answers; the CLI ingests a new file; the engine's next answer uses it."""
    rag.ingest(corpus, settings=settings)
    engine = rag.engine(settings=settings)
    assert engine.ask("How many beehives stand on the roof?").refused
    (corpus / "bees.txt").write_text("Seven beehives stand on the roof of the town hall since 2019.\n")
    out = _cli("--store", str(settings.store), "ingest", str(corpus))
    assert out.returncode == 0 and "1 added" in out.stdout, out.stderr
    answer = engine.ask("How many beehives stand on the roof?")
    assert not answer.refused and answer.citations[0].source == "bees.txt"
    hits = DenseRetriever(engine.store, engine.embedder).retrieve("beehives on the roof of the town hall", 1)  # the vectors, not only BM25
    assert hits[0].source == "bees.txt"
