"""An index of more chunks than SQLite's 32,766 variables, which used to crash sync, status and start-up.

Chroma's SQLite refuses a read of more ids than that at once; reads of the whole index are
now paged (rag/store.py). Built in about half a minute without the encoder: generated files
are chunked as sync chunks them, and their chunks are upserted with random unit vectors and
the files' sha256 through the store API, so the index looks exactly like one sync wrote.
Then a real sync finds every file unchanged (nothing is embedded), the keyword index (SQLite,
rebuilt from the stored texts) holds every chunk and finds one, the status counts are right,
and the web app starts on the index and answers.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import rag
from rag import chroma
from rag.chunk import chunk_document
from rag.embed import token_offsets
from rag.load import parse_document
from rag.store import file_states, open_store

from test_app import _reply, serve

pytestmark = pytest.mark.full  # real Chroma, and the app in a subprocess

FILES, LINES = 60, 560  # one chunk per line (16 word-pieces a chunk): 33,600 chunks
SIZE = {"RAG_CHUNK_TOKENS": "16", "RAG_CHUNK_OVERLAP": "0"}
ANIMALS = ["heron", "badger", "otter", "lynx", "marten", "stoat", "vole", "wren"]


def line(f: int, i: int) -> str:
    return f"Record {i} of file {f}: the {ANIMALS[(i + f) % 8]} weighs {i * 7 + f} grams."


def test_an_index_past_sqlites_variable_limit_syncs_reports_and_serves(tmp_path, monkeypatch):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for f in range(FILES):
        (corpus / f"f{f:03d}.txt").write_text("\n".join(line(f, i) for i in range(LINES)) + "\n")
    for k, v in SIZE.items():
        monkeypatch.setenv(k, v)
    settings = rag.Settings.from_env(corpus=corpus, store=tmp_path / "ix", answerer="extractive")  # where serve() looks

    chunks, sha = [], {}
    for path in sorted(corpus.iterdir()):
        doc = parse_document(path.name, path.suffix, path.read_bytes())
        sha[doc.source] = doc.sha256
        chunks += chunk_document(doc, token_offsets, settings.chunk_tokens, settings.chunk_overlap)
    assert len(chunks) == FILES * LINES > 32_766
    vectors = np.random.default_rng(0).normal(size=(len(chunks), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with monkeypatch.context() as m:
        # Building the vector graph with the real HNSW settings takes ~100 s here; this test is about
        # reading the index back, not about search quality: a sparse graph, in larger write batches.
        m.setattr(chroma, "HNSW", {"space": "cosine", "ef_construction": 16, "max_neighbors": 4, "ef_search": 50})
        m.setattr(chroma, "_BATCH", 5000)
        store = open_store(settings)
        store.upsert(chunks, vectors.tolist(), sha)
    assert store.count() == len(chunks)

    engine = rag.engine(settings=settings)
    embedded: list[str] = []
    monkeypatch.setattr(engine.embedder, "embed", lambda texts: embedded.extend(texts) or [])
    report = rag.ingest(corpus, settings=settings)
    assert embedded == [] and not report.changed and len(report.unchanged) == FILES
    assert report.chunks_total == len(chunks) and report.chunks_added == report.chunks_removed == 0
    assert all(st.complete for st in file_states(engine.store).values())
    kw = engine.keywords.get(engine.store)
    assert len(kw) == len(chunks)  # the keyword file built from the stored texts
    assert kw.ids() == {c.id for c in chunks} and kw.df("grams") == len(chunks)
    best = kw.search("record 321 of file 17", 1)[0][0]  # its SQLite reads by id list are paged too
    assert best == next(c.id for c in chunks if c.text.startswith("Record 321 of file 17:"))
    st = engine.status()
    assert (st.documents, st.chunks, st.corpus) == (FILES, len(chunks), str(corpus.resolve()))
    monkeypatch.undo()

    from gradio_client import Client

    for url in serve(tmp_path, corpus, "extractive", **SIZE):  # starts with a sync of the same folder
        result = Client(url, verbose=False).predict("How much does record 321 of file 17 weigh?", [], api_name="/chat")
        reply = _reply(result)
        assert "2264 grams" in reply and "f017.txt" in reply, reply
        deadline = time.time() + 300  # the start-up sync runs in the background (rag/startup.py)
        while "index: " not in (log := (tmp_path / "app.log").read_text()) and time.time() < deadline:
            time.sleep(0.5)
        assert f"index: 0 added, 0 updated, 0 removed, {FILES} unchanged, 0 skipped; {len(chunks)} chunks" in log, log
