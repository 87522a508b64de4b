"""Contract tests: every implementation of a protocol gets the same questions and must keep the same invariants.

- ``VectorStore``: the in-memory store (fast tier), embedded Chroma and a Chroma server run
  with ``chroma run`` (full tier). Synthetic chunks and random unit vectors: whole files
  upserted read back complete, reads paged, ``get`` in the order asked, cosine search best
  first, delete, sync metadata, another handle's writes seen after ``refresh``.
- ``Retriever``: hybrid, dense and BM25 over each store, on the real embedder: hits best
  first, each the source's text at its offsets, scores on the scale rag/retrieve.py
  documents (recomputed here from the stored vectors and the keyword index).
- ``Embedder`` (every one registered): unit vectors in one space, a question's vector that of the text.
- ``Stage`` (every one registered): hits out are hits in, never rescored; narrowed only inside their span.
- ``Answerer``: extractive (fast tier), the local Qwen2.5-Coder-1.5B and the OpenAI-compatible
  client against SmolLM2-135M behind llama.cpp's HTTP server (full tier), on the in-memory
  store: every citation's quote is the source file's text at ``[start:end]`` and comes from
  a retrieved hit; a refusal is ``REFUSAL`` with no citations and the hits kept.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import rag
from rag import chroma
from rag.answer import last_answer
from rag.backends import EMBEDDERS, RETRIEVERS, STAGES, pick
from rag.chroma import ChromaServer, EmbeddedChroma
from rag.cite import verify
from rag.embed import get_embedder
from rag.extractive import REFUSAL
from rag.index import sync
from rag.keyword import KeywordFile
from rag.memory import MemoryStore
from rag.store import VectorStore, file_states
from rag.text import markers
from rag.types import Answer, Chunk

from conftest import free_port, seed_folder

full = pytest.mark.full
STORES = ["memory", pytest.param("embedded", marks=full), pytest.param("server", marks=full)]
SPACE = "contract-test-space"
DIM = 16


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    """One `chroma run` for the module (as tests/test_server.py starts it); each test uses its own collection."""
    from test_server import serve

    tmp = tmp_path_factory.mktemp("chroma-server")
    with serve(tmp / "served", tmp / "chroma.log") as url:
        yield url


def opener(kind: str, request, folder: Path, name: str):
    """A function that opens a new handle on the same index each time it is called."""
    if kind == "memory":
        settings = rag.Settings(store=folder, vector_store="memory")
        return lambda: MemoryStore.build(settings)  # one store per folder + collection in a process
    if kind == "embedded":
        return lambda: EmbeddedChroma(folder, name, SPACE)
    url = request.getfixturevalue("chroma_server")
    return lambda: ChromaServer(url, name, SPACE, folder / "cache")


# --- VectorStore -----------------------------------------------------------------


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_chunks(source: str, n: int, page: int | None = None, tag: str = "") -> list[Chunk]:
    out, pos = [], 0
    for i in range(n):
        text = f"Sentence {i} of {source}{tag}."
        cid = hashlib.sha256(f"{source}|{i}|{tag}".encode()).hexdigest()[:32]
        out.append(Chunk(cid, source, pos, pos + len(text), text, page))
        pos += len(text) + 1
    return out


FILES = {"a.txt": make_chunks("a.txt", 5), "b/c.md": make_chunks("b/c.md", 2), "d.pdf": make_chunks("d.pdf", 2, page=2)}
SHA = {src: hashlib.sha256(src.encode()).hexdigest() for src in FILES}
CHUNKS = [c for cs in FILES.values() for c in cs]  # 9 chunks


@pytest.fixture(params=STORES)
def handles(request, tmp_path):
    return opener(request.param, request, tmp_path / "ix", f"contract-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def filled(handles):
    """(store, vectors): the three files upserted, with one random unit vector per chunk."""
    store = handles()
    vectors = unit(np.random.default_rng(7), len(CHUNKS))
    store.upsert(CHUNKS, vectors.tolist(), SHA)
    return store, vectors


def test_a_new_store_is_empty(handles):
    store: VectorStore = handles()
    assert isinstance(store.name, str) and isinstance(store.location, str) and isinstance(store.local_dir, Path)
    assert store.count() == 0 and list(store.records()) == [] and file_states(store) == {}
    assert store.get(["nope"]) == [] and store.search([1.0] + [0.0] * (DIM - 1), 3) == []
    assert store.metadata() == {} and store.refresh() is False
    store.delete({"nope"})  # nothing to delete: no error
    with store.guard():
        pass


@pytest.mark.parametrize("page", [2, 3], ids=["pages-of-2", "pages-of-3"])  # 9 chunks: a short last page, and none
def test_whole_files_read_back_complete_in_pages(filled, monkeypatch, page):
    monkeypatch.setattr(chroma, "_PAGE", page)
    store, _ = filled
    assert store.count() == len(CHUNKS)
    states = file_states(store)
    assert set(states) == set(FILES)
    for src, chunks in FILES.items():
        st = states[src]
        assert st.complete and st.sha256 == SHA[src] and st.expected == len(chunks) and st.ids == {c.id for c in chunks}
    records = list(store.records())
    assert sorted(r.chunk.id for r in records) == sorted(c.id for c in CHUNKS)  # each chunk once
    assert all(r.chunk.text == "" for r in records)  # text only when asked for
    by_id = {r.chunk.id: r for r in store.records(text=True)}
    assert len(by_id) == len(CHUNKS)
    for c in CHUNKS:
        assert by_id[c.id].chunk == c and by_id[c.id].sha256 == SHA[c.source]
        assert by_id[c.id].n_chunks == len(FILES[c.source])


def test_get_keeps_the_order_asked_and_skips_unknown_ids(filled, monkeypatch):
    monkeypatch.setattr(chroma, "_BATCH", 2)  # Chroma reads by id in batches
    store, vectors = filled
    want = [CHUNKS[8], CHUNKS[0], CHUNKS[5], CHUNKS[3]]
    ids = [want[0].id, "unknown", want[1].id, want[2].id, "also-unknown", want[3].id]
    got = store.get(ids)
    assert [c for c, _ in got] == want and all(v is None for _, v in got)
    with_vectors = store.get(ids, vectors=True)
    assert [c for c, _ in with_vectors] == want
    for c, v in with_vectors:
        assert np.allclose(v, vectors[CHUNKS.index(c)], atol=1e-6)
    assert store.get([]) == []


def test_search_gives_cosine_scores_best_first(filled):
    store, vectors = filled
    rng = np.random.default_rng(11)
    for query in [*unit(rng, 3), vectors[4]]:
        cos = vectors @ query
        hits = store.search(query.tolist(), 4)
        assert len(hits) == 4
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert [h.id for h in hits] == [CHUNKS[i].id for i in np.argsort(-cos)[:4]]  # exact top 4
        for h in hits:
            i = next(i for i, c in enumerate(CHUNKS) if c.id == h.id)
            c = CHUNKS[i]
            assert abs(h.score - cos[i]) < 1e-3 and -1 <= h.score <= 1
            assert (h.source, h.start, h.end, h.text, h.page) == (c.source, c.start, c.end, c.text, c.page)
    assert store.search(vectors[4].tolist(), 1)[0].id == CHUNKS[4].id
    assert len(store.search(vectors[0].tolist(), 50)) == len(CHUNKS)  # more than there are: all of them


def test_delete_and_replace_a_file(filled, monkeypatch):
    monkeypatch.setattr(chroma, "_BATCH", 2)
    store, vectors = filled
    store.delete({c.id for c in FILES["b/c.md"]} | {"unknown"})
    assert store.count() == len(CHUNKS) - 2 and "b/c.md" not in file_states(store)
    assert store.get([c.id for c in FILES["b/c.md"]]) == []
    assert not {h.id for h in store.search(vectors[5].tolist(), 9)} & {c.id for c in FILES["b/c.md"]}

    # a.txt edited: two of its chunks survive (same ids), three are new; sync writes, then deletes the stale ones
    new = FILES["a.txt"][:2] + make_chunks("a.txt", 3, tag=" (edited)")
    store.upsert(new, unit(np.random.default_rng(3), len(new)).tolist(), {"a.txt": "f" * 64})
    assert not file_states(store)["a.txt"].complete  # stale chunks still there
    store.delete({c.id for c in FILES["a.txt"][2:]})
    st = file_states(store)["a.txt"]
    assert st.complete and st.sha256 == "f" * 64 and st.ids == {c.id for c in new}
    assert store.count() == len(new) + len(FILES["d.pdf"])


def test_sync_metadata_and_another_handles_writes(handles):
    store = handles()
    store.upsert(FILES["a.txt"], unit(np.random.default_rng(1), 5).tolist(), SHA)
    store.mark_synced("/docs", changed=True)
    first = store.metadata()
    assert first["corpus"] == "/docs" and first["sync_id"] and first["last_sync"]
    store.mark_synced("/docs", changed=False)
    assert store.metadata()["sync_id"] == first["sync_id"]  # nothing changed: the same sync
    assert store.refresh() is False  # its own writes are not news

    other = handles()  # another process (or, in memory, another engine of this one)
    other.upsert(FILES["b/c.md"], unit(np.random.default_rng(2), 2).tolist(), SHA)
    other.mark_synced("/docs", changed=True)
    assert other.metadata()["sync_id"] != first["sync_id"]
    store.refresh()
    assert store.count() == 7 and set(file_states(store)) == {"a.txt", "b/c.md"}
    assert store.metadata()["sync_id"] == other.metadata()["sync_id"]
    assert store.refresh() is False


# --- Retriever -------------------------------------------------------------------

QUESTIONS = ["Who is the top Ukrainian negotiator?", "When were the tomatoes planted?", "What does box 58213 hold?",
             "What is the capital of Australia?"]
K = 5


@pytest.fixture(scope="module", params=STORES)
def index(request, tmp_path_factory, embedder):
    """(store, keywords, settings, corpus): the seed article, a note and two box lists, synced into each store."""
    root = tmp_path_factory.mktemp(f"retrieval-{request.param}")
    corpus = seed_folder(root)
    (corpus / "garden.md").write_text("# Garden notes\n\nThe tomatoes were planted on 12 April in the south bed.\n")
    (corpus / "boxes.txt").write_text("Storage box code 40117 holds the winter tyres.\nBox 40562 holds the camping stove.\n")
    (corpus / "letters.txt").write_text("Box 58213: grandmother's letters from Lisbon, tied with blue ribbon.\n")
    settings = rag.Settings(corpus=corpus, store=root / "ix", vector_store="memory")
    store = opener(request.param, request, root / "ix", f"contract-{uuid.uuid4().hex[:12]}")()
    keywords = KeywordFile(store.local_dir, store.name)
    report = sync(corpus, store, settings, embedder, None, keywords)
    assert report.chunks_total == store.count() > 4
    return store, keywords, settings, corpus


@pytest.mark.parametrize("name", list(RETRIEVERS))
@pytest.mark.parametrize("question", QUESTIONS)
def test_retrievers_rank_best_first_on_their_documented_scale(index, name, question, embedder):
    store, keywords, settings, corpus = index
    retriever = pick("retriever", RETRIEVERS, name)(store, embedder, keywords, settings)
    assert retriever.name == name
    hits = retriever.retrieve(question, K)
    assert 0 < len(hits) <= K or (name == "bm25" and hits == [])  # BM25 finds nothing without a shared word
    assert len({h.id for h in hits}) == len(hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for h in hits:  # every hit is its source's text at its offsets
        assert (corpus / h.source).read_text()[h.start : h.end] == h.text

    # the scale, recomputed: cosine from the stored vectors, BM25 from the keyword index
    q = np.asarray(embedder.embed_query(question))
    vecs = {c.id: np.asarray(v) for c, v in store.get([r.chunk.id for r in store.records()], vectors=True)}
    cos = {cid: float(v @ q) for cid, v in vecs.items()}
    bm25 = keywords.get(store).scores(question)
    w = settings.hybrid_weight
    expected = {"dense": cos, "bm25": bm25, "hybrid": {cid: w * cos[cid] + (1 - w) * bm25.get(cid, 0.0) for cid in cos}}[name]
    for h in hits:
        assert abs(h.score - expected[h.id]) < 1e-3, (h.id, h.score, expected[h.id])
        lo = {"dense": -1.0, "bm25": 0.0, "hybrid": -w}[name]
        assert lo <= h.score <= 1.0
    if name != "hybrid":  # the exact best k (the hybrid ranks only the candidates each side proposes)
        best = sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))[: len(hits)]
        assert [h.id for h in hits] == [cid for cid, _ in best]


# --- Embedder and Stage ----------------------------------------------------------


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.full) if n == "openai" else n for n in EMBEDDERS])
def test_embedders_give_unit_vectors_in_one_space(name, request):
    url = request.getfixturevalue("embed_server") if name == "openai" else ""  # a real server on loopback
    settings = rag.Settings(embedder=name, embed_url=url)
    e = get_embedder(settings)
    assert e.name == settings.embed_space and get_embedder(settings) is e  # one per process
    texts = ["Talks were held in Miami on Saturday.", "The quince tree was pruned in February.", "Ünïcödé — 日本語。"]
    vecs = np.asarray(e.embed(texts))
    assert vecs.shape[0] == 3 and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    q = np.asarray(e.embed_query("Where were the talks held?"))
    assert q.shape == vecs[0].shape and abs(np.linalg.norm(q) - 1) < 1e-4
    assert q @ vecs[0] > q @ vecs[1]  # the passage that answers is nearer
    assert np.asarray(e.embed_query(texts[1])) @ vecs[1] > 0.9999  # a question is embedded as a passage would be
    assert e.embed([]) == []


@pytest.mark.parametrize("name", list(STAGES))
def test_stages_pass_on_retrieved_hits_without_rescoring_them(name, answer_engine, embedder):
    engine = answer_engine
    stage = pick("stages", STAGES, name)(engine.settings, embedder)
    for question in [*ANSWERABLE, UNANSWERABLE]:
        hits = engine.retriever.retrieve(question, 10)
        by_id = {h.id: h for h in hits}
        out = stage(question, list(hits))
        assert len({h.id for h in out}) == len(out)
        for h in out:
            g = by_id[h.id]  # a hit it was given
            assert h.score == g.score and h.source == g.source and h.page == g.page
            assert g.start <= h.start < h.end <= g.end
            assert (engine.settings.corpus / h.source).read_text()[h.start : h.end] == h.text


# --- Answerer --------------------------------------------------------------------

ANSWERABLE = {"Who is the top Ukrainian negotiator?": "Rustem Umerov", "Where could jets to defend Kiev be based?": "Poland"}
UNANSWERABLE = "What is the capital of Australia?"


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory):
    """SmolLM2-135M behind xllamacpp's OpenAI-compatible HTTP server on loopback."""
    import xllamacpp as xlc

    from rag.models import model_file

    p = xlc.CommonParams()
    p.model.path = str(model_file("smollm2-135m", tmp_path_factory.mktemp("models")))
    p.n_ctx, p.n_parallel, p.verbosity = 2048, 1, -1
    p.cpuparams.poll = p.cpuparams_batch.poll = 0
    p.hostnames, p.port = ["127.0.0.1"], free_port()
    server = xlc.Server(p)
    yield server.listening_address + "/v1"
    del server


@pytest.fixture(scope="module")
def answer_engine(tmp_path_factory):
    root = tmp_path_factory.mktemp("answerers")
    corpus = seed_folder(root)
    settings = rag.Settings.from_env(corpus=corpus, store=root / "ix", vector_store="memory", answerer="extractive")
    rag.ingest(corpus, settings=settings)
    return rag.engine(settings=settings)


ANSWERERS = ["extractive", pytest.param("local", marks=full), pytest.param("openai", marks=full)]


@pytest.fixture(params=ANSWERERS)
def answerer(request, answer_engine):
    """(name, engine, answerer): the engine's answerer of that name, built once by the engine."""
    engine = answer_engine
    if request.param == "openai":
        url = request.getfixturevalue("llm_server")
        engine = rag.engine(settings=replace(answer_engine.settings, llm_url=url))
    return request.param, engine, engine.answerers.get(request.param)


def check_answer(a: Answer, question: str, hits: list, corpus: Path) -> None:
    """The invariants every answerer keeps, whatever it answered."""
    assert a.question == question and a.answerer
    # The answer's hits are the passages it was drawn from: the retrieved hits, or (the reader)
    # retrieved hits merged and widened by their document's sentences, each keeping an id it had.
    retrieved = {h.id: h for h in hits}
    for h in a.hits:
        r = retrieved[h.id]
        assert (h.source, h.page) == (r.source, r.page) and h.start <= r.start and r.end <= h.end
    if a.refused:
        assert a.text == REFUSAL and a.citations == [] and not a.unsupported
        return
    assert a.citations and sorted(set(markers(a.text))) == list(range(1, len(a.citations) + 1))
    by_id = {h.id: h for h in a.hits}
    for c in a.citations:
        assert c.chunk_id in by_id, "cited a chunk that was not retrieved"
        h = by_id[c.chunk_id]
        assert h.start <= c.start < c.end <= h.end and c.source == h.source and c.page == h.page
        assert (corpus / c.source).read_text()[c.start : c.end] == c.quote and verify(c, corpus)


@pytest.mark.parametrize("question", [*ANSWERABLE, UNANSWERABLE])
def test_answerers_cite_what_the_files_say_or_refuse(answerer, question):
    name, engine, a = answerer
    hits = engine.search(question)
    events = list(a.stream(question, hits))
    answers = [e for e in events if isinstance(e, Answer)]
    assert len(answers) == 1 and events[-1] is answers[0] and all(isinstance(e, str) for e in events[:-1])
    answer = answers[0]
    check_answer(answer, question, hits, engine.settings.corpus)
    if name != "openai":  # the 135M model behind the test server is too weak to be held to the answers
        if question in ANSWERABLE:
            assert not answer.refused and ANSWERABLE[question] in answer.citations[0].quote, answer.text
        else:
            assert answer.refused


def test_answerers_refuse_without_hits(answerer):
    _, engine, a = answerer
    answer = last_answer(a.stream("Who is the top Ukrainian negotiator?", []))
    assert answer.refused and answer.text == REFUSAL and answer.citations == [] and answer.hits == []
