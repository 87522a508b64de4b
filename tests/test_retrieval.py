"""Retrieval: the keyword index stays in step with the vector store; hybrid beats each side on what it misses.

Real model, real keyword file in tmp_path; each test on the in-memory store (fast tier) and
on embedded Chroma (full tier).
"""

from __future__ import annotations

import gc
from dataclasses import replace

import pytest

import rag
from rag.api import Engine
from rag.backends import RETRIEVERS
from rag.keyword import KeywordFile, KeywordIndex
from rag.retrieve import make_retriever
from rag.store import chunk_ids
from rag.text import terms


def chroma_ids(engine: Engine) -> set[str]:
    """The ids the vector store holds (the name is from when Chroma was the only store)."""
    return chunk_ids(engine.store)


def on_disk(engine: Engine) -> KeywordIndex:
    """The keyword index as a fresh process would load it."""
    return KeywordFile(engine.settings.store, engine.settings.collection).get(engine.store)


def test_keyword_index_follows_the_store_on_add_update_delete(settings, corpus):
    engine = rag.engine(settings=settings)
    rag.ingest(corpus, settings=settings)
    assert engine.keywords.path.parent == settings.store and settings.collection in engine.keywords.path.name
    assert engine.keywords.get(engine.store).ids() == chroma_ids(engine) == on_disk(engine).ids()

    note = corpus / "notes" / "garden.md"
    note.write_text(note.read_text() + "\nThe pumpkins came up on 3 June.\n")
    (corpus / "new.md").write_text("The harbour master is called Ingrid Solberg.\n")
    report = rag.ingest(corpus, settings=settings)
    assert report.updated == ["notes/garden.md"] and report.added == ["new.md"]
    assert engine.keywords.get(engine.store).ids() == chroma_ids(engine) == on_disk(engine).ids()
    assert engine.keywords.rebuilds == 0  # kept in step by sync, never rebuilt

    note.unlink()
    rag.ingest(corpus, settings=settings)
    ix = on_disk(engine)
    assert ix.ids() == chroma_ids(engine)
    assert ix.df("pumpkins") == 0 and ix.df("solberg") == 1
    bm25 = make_retriever(engine.store, engine.embedder, engine.keywords, replace(settings, retriever="bm25"))
    assert bm25.retrieve("harbour master", 3)[0].source == "new.md"


def test_missing_corrupt_or_stale_keyword_index_is_rebuilt_from_the_store(settings, corpus, monkeypatch):
    engine = rag.engine(settings=settings)
    rag.ingest(corpus, settings=settings)
    path, want = engine.keywords.path, chroma_ids(engine)

    path.unlink()  # missing: the next query rebuilds it from the store's texts
    assert on_disk(engine).ids() == want and path.exists()
    engine.keywords.close()
    gc.collect()  # the connections of the KeywordFile objects above: the file is whole again, without a WAL
    path.write_bytes(b"{not a database" * 300)  # corrupt
    fresh = KeywordFile(settings.store, settings.collection)
    assert fresh.get(engine.store).ids() == want and fresh.rebuilds == 1
    assert path.read_bytes().startswith(b"SQLite format 3")

    # a crash after the store was written but before the keyword file was saved
    monkeypatch.setattr(KeywordFile, "save", lambda self: (_ for _ in ()).throw(KeyboardInterrupt("crash")))
    (corpus / "late.txt").write_text("Quarterly figures were filed by Okonkwo on Friday.\n")
    with pytest.raises(KeyboardInterrupt):
        rag.ingest(corpus, settings=settings)
    monkeypatch.undo()
    late = {r.chunk.id for r in engine.store.records() if r.chunk.source == "late.txt"}  # written to the store
    assert late and not late & KeywordFile(settings.store, settings.collection).open().ids()  # not to the keyword file
    rag.ingest(corpus, settings=settings)  # the next sync repairs it to the exact folder state
    assert on_disk(engine).ids() == chroma_ids(engine)
    hits = rag.engine(settings=settings).retriever.retrieve("Okonkwo", 1)
    assert hits[0].source == "late.txt"


def test_another_process_changing_the_index_is_seen_without_reloading_per_query(settings, corpus):
    engine = rag.engine(settings=settings)
    rag.ingest(corpus, settings=settings)
    ix = engine.keywords.get(engine.store)
    assert engine.keywords.get(engine.store) is ix  # loaded once, not per query
    other = Engine(settings)  # its own keyword file object: as another process would have
    (corpus / "extra.txt").write_text("The Zanzibar spice route ran through Stone Town.\n")
    assert other.ingest(corpus).added == ["extra.txt"]
    assert engine.keywords.get(engine.store).df("zanzibar") == 1  # read from the file as the other one committed it
    assert engine.keywords.rebuilds == 0


def test_same_normalisation_for_queries_and_documents():
    assert terms("ＷＩＴＫＯＦＦ’s Talks, in Kyiv!") == terms("witkoff's talks in kyiv")
    assert terms("Café No. 12") == ["café", "12"]


RARE = {f"store{i}.txt": f"Storage box code {c} holds the {thing}.\n" for i, (c, thing) in enumerate(
    [(40117, "winter tyres"), (40562, "camping stove"), (41230, "old paint tins"), (42871, "christmas lights"),
     (43306, "spare curtains"), (44790, "garden chairs")])}


@pytest.fixture
def mixed(settings, corpus):
    for name, text in RARE.items():
        (corpus / name).write_text(text)
    (corpus / "letters.txt").write_text("Box 58213: grandmother's letters from Lisbon, tied with blue ribbon.\n")
    rag.ingest(corpus, settings=settings)
    return {name: make_retriever(*_parts(settings, name)) for name in RETRIEVERS}


def _parts(settings, retriever: str):
    """The engine's store, embedder and keyword file, and the settings naming ``retriever``."""
    e = rag.engine(settings=settings)
    return e.store, e.embedder, e.keywords, replace(settings, retriever=retriever)


def test_hybrid_finds_a_rare_number_that_dense_misses(mixed, settings):
    q = "What does box 58213 hold?"  # dense ranks the letters 7th of 13, behind the six storage boxes
    k = settings.top_k
    assert "letters.txt" not in [h.source for h in mixed["dense"].retrieve(q, k)]
    assert mixed["bm25"].retrieve(q, k)[0].source == "letters.txt"
    assert mixed["hybrid"].retrieve(q, k)[0].source == "letters.txt"


def test_hybrid_finds_a_paraphrase_that_bm25_misses(mixed, settings):
    q = "When did the vegetables go into the soil?"  # the note says "tomatoes were planted"
    assert "notes/garden.md" not in [h.source for h in mixed["bm25"].retrieve(q, settings.top_k)]
    assert mixed["dense"].retrieve(q, 1)[0].source == "notes/garden.md"
    assert mixed["hybrid"].retrieve(q, 1)[0].source == "notes/garden.md"


def test_hits_are_best_first_on_a_known_scale(mixed):
    for name, r in mixed.items():
        hits = r.retrieve("Who is the top Ukrainian negotiator?", 5)
        assert hits and hits == sorted(hits, key=lambda h: -h.score), name
        assert all(-1 <= h.score <= 1 for h in hits), name
    assert all(0 <= h.score <= 1 for h in mixed["bm25"].retrieve("box code", 5))


def test_unknown_retriever_names_the_valid_ones(settings):
    with pytest.raises(rag.SettingsError, match="hybrid, dense, bm25"):
        make_retriever(*_parts(settings, "sparse"))
    with pytest.raises(rag.SettingsError, match="hybrid_weight"):
        rag.Settings.from_env(hybrid_weight=1.5)
    assert rag.Settings().retriever == "hybrid"


def test_the_engine_follows_the_retriever_setting(settings, corpus):
    rag.ingest(corpus, settings=settings)
    assert rag.engine(settings=settings).retriever.name == "hybrid"
    bm25 = rag.Settings.from_env(**{**settings.__dict__, "retriever": "bm25"})
    assert rag.engine(settings=bm25).retriever.name == "bm25"
    a = rag.ask("When were the tomatoes planted?", settings=bm25)
    assert "12 April" in a.text and all(0 <= h.score <= 1 for h in a.hits)
