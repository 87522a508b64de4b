"""Ingestion: idempotence, updates, deletions, bad files, crash repair.

Each test runs on the in-memory store (fast tier) and on embedded Chroma (full tier).
"""

from __future__ import annotations

import pytest

import rag
from rag import chroma
from rag.api import Engine
from rag.chunk import chunk_document
from rag.embed import token_offsets
from rag.load import load_document
from rag.store import file_states


def _ids(engine: Engine) -> list[str]:
    """Every stored chunk id, duplicates kept (a store read in pages must not repeat or drop any)."""
    return sorted(r.chunk.id for r in engine.store.records())


def test_ingest_twice_changes_nothing(settings, corpus):
    first = rag.ingest(corpus, settings=settings)
    assert sorted(first.added) == ["article.txt", "notes/garden.md"]
    assert first.chunks_total == first.chunks_added > 2
    engine = rag.engine(settings=settings)
    ids = _ids(engine)
    second = rag.ingest(corpus, settings=settings)
    assert (second.added, second.updated, second.removed, second.chunks_added) == ([], [], [], 0)
    assert sorted(second.unchanged) == ["article.txt", "notes/garden.md"]
    assert _ids(engine) == ids


def test_changed_file_is_replaced_and_deleted_file_removed(settings, corpus):
    rag.ingest(corpus, settings=settings)
    engine = rag.engine(settings=settings)
    note = corpus / "notes" / "garden.md"
    note.write_text(note.read_text() + "\nThe pumpkins came up on 3 June.\n")
    report = rag.ingest(corpus, settings=settings)
    assert report.updated == ["notes/garden.md"] and report.unchanged == ["article.txt"]
    expected = set()
    for path, source in [(corpus / "article.txt", "article.txt"), (note, "notes/garden.md")]:
        doc = load_document(path, source, 10**9)
        expected |= {c.id for c in chunk_document(doc, token_offsets, settings.chunk_tokens, settings.chunk_overlap)}
    assert _ids(engine) == sorted(expected)  # no duplicate, no stale chunk
    answer = rag.ask("When did the pumpkins come up?", settings=settings)
    assert "3 June" in answer.text

    note.unlink()
    report = rag.ingest(corpus, settings=settings)
    assert report.removed == ["notes/garden.md"]
    assert {r.chunk.source for r in engine.store.records()} == {"article.txt"}


def test_bad_files_are_skipped_with_reasons_and_the_rest_ingests(settings, corpus):
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02\xff" * 100)
    (corpus / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me: the r\xe9sum\xe9 was filed in M\xfcnchen.".encode("latin-1").replace(b"\\", b""))
    (corpus / "empty.md").write_text("")
    (corpus / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    report = rag.ingest(corpus, settings=settings)
    skipped = dict(report.skipped)
    assert "binary" in skipped["binary.txt"]
    assert "empty" in skipped["empty.md"]
    assert "could not be read for OCR" in skipped["photo.jpg"]  # a broken image: no OCR model loaded
    assert "latin1.txt" in report.added and dict(report.notes)["latin1.txt"].startswith("not UTF-8")
    assert "article.txt" in report.added
    answer = rag.ask("Where was the résumé filed?", settings=settings)
    assert "München" in answer.text


def test_empty_or_missing_corpus_gets_a_clear_message(tmp_path, store_kind):
    empty = tmp_path / "empty"
    empty.mkdir()
    s = rag.Settings.from_env(corpus=empty, store=tmp_path / "ix", vector_store=store_kind)
    report = rag.ingest(empty, settings=s)
    assert report.chunks_total == 0 and not report.added
    with pytest.raises(rag.EmptyIndexError, match="ingest"):
        rag.ask("anything?", settings=s)
    with pytest.raises(rag.CorpusError, match="does not exist"):
        rag.ingest(tmp_path / "nope", settings=s)


def test_a_write_interrupted_half_way_is_repaired(settings, corpus, monkeypatch, store_kind):
    """A crash after the first batch of a file's chunks was written: the next sync completes it."""
    engine = rag.engine(settings=settings)
    if store_kind == "chroma":  # Chroma's own batching: the second write of 2 chunks fails
        col = engine.store.collection(create=True)
        real_upsert, calls = col.upsert, []

        def crashing_upsert(**kw):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt("simulated crash between two writes")
            return real_upsert(**kw)

        monkeypatch.setattr(chroma, "_BATCH", 2)
        monkeypatch.setattr(col, "upsert", crashing_upsert)
    else:  # a store without batches: only the first 2 chunks of the write reach it
        real_write = engine.store.upsert

        def crashing_write(chunks, vectors, sha256, totals=None):
            real_write(chunks, vectors, sha256, totals)
            engine.store.delete({c.id for c in chunks[2:]})
            raise KeyboardInterrupt("simulated crash in the middle of a write")

        monkeypatch.setattr(engine.store, "upsert", crashing_write)
    with pytest.raises(KeyboardInterrupt):
        rag.ingest(corpus, settings=settings)
    monkeypatch.undo()
    first = sorted(file_states(engine.store).items())[0]
    assert not first[1].complete  # 2 chunks written of more

    report = rag.ingest(corpus, settings=settings)
    assert first[0] in report.updated
    files = file_states(engine.store)
    assert all(state.complete for state in files.values()) and len(files) == 2
    assert engine.store.count() == report.chunks_total == sum(len(s.ids) for s in files.values())


def test_collection_name_follows_the_settings_that_shape_vectors(settings):
    other = rag.Settings.from_env(corpus=settings.corpus, store=settings.store, chunk_tokens=96)
    assert other.collection != settings.collection
    assert rag.Settings.from_env(store=settings.store, top_k=9).collection == settings.collection
