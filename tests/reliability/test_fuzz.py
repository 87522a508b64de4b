"""Fuzzing the inputs a user controls, with hypothesis: questions (and follow-up histories) with any
characters, lone surrogates and control characters included, through the API and the UI over HTTP;
uploads with any name and any bytes; any bytes under every supported suffix.

Properties: a question gives an ``Answer`` (its citations checked against the file) or a
``QuestionError``; an upload never writes outside the corpus folder and never raises; a file
is parsed or skipped with a reason, nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

import rag
from rag.cite import verify
from rag.extract import READERS
from rag.load import SkipFile, parse_document
from rag.upload import save_uploads

from conftest import seed_folder
from hostile import bomb_docx
from reliability_kit import app, reply
from test_formats import GUIDE_PDF

pytestmark = pytest.mark.full

ANY = st.characters(codec=None, categories=None)  # every code point, surrogates and controls included
QUESTIONS = st.one_of(st.text(ANY, max_size=60), st.text(ANY, min_size=1990, max_size=2100),
                      st.sampled_from(["Who is Hnatov?", "?", " \x00 ", "[1](javascript:x)", "<script>x</script>"]))
NAMES = st.builds(str.__add__, st.text(ANY, max_size=30), st.sampled_from([*READERS, "", ".TXT", "/..", "\\x.md"]))
FUZZ = hsettings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    corpus = seed_folder(root)
    s = rag.Settings.from_env(corpus=corpus, store=root / "ix", answerer="extractive", vector_store="memory")
    rag.ingest(corpus, settings=s)
    return rag.engine(settings=s)


@FUZZ
@given(question=QUESTIONS, history=st.lists(st.tuples(st.text(ANY, max_size=40), st.text(ANY, max_size=40)), max_size=3))
def test_any_question_is_answered_or_refused_with_a_question_error(engine, question, history):
    try:
        answer = engine.ask(question, history=history)
    except rag.QuestionError as e:
        assert "question" in str(e)
        return
    assert isinstance(answer, rag.Answer) and answer.text
    assert all(verify(c, engine.settings.corpus) for c in answer.citations)


@FUZZ
@given(uploads=st.lists(st.tuples(NAMES, st.binary(max_size=300)), min_size=1, max_size=4))
def test_any_upload_lands_inside_the_corpus_or_is_refused(tmp_path_factory, uploads):
    root = tmp_path_factory.mktemp("up")
    corpus, incoming = root / "corpus", root / "incoming"
    corpus.mkdir()
    incoming.mkdir()
    pairs = []
    for n, (name, data) in enumerate(uploads):
        (incoming / str(n)).write_bytes(data)
        pairs.append((name, incoming / str(n)))
    report = save_uploads(corpus, pairs, tuple(READERS), 200)
    assert len(report.saved) + len(report.present) + len(report.rejected) == len(uploads)
    inside = {p.name for p in corpus.iterdir()}
    assert set(report.saved) <= inside and not [n for n in inside if n.startswith(".upload-")]
    assert sorted(p.name for p in root.iterdir()) == ["corpus", "incoming"]  # nothing written beside it
    for dirpath, _, files in os.walk(root):
        assert Path(dirpath) in (root, corpus, incoming) and all(not os.path.islink(Path(dirpath) / f) for f in files)


SAMPLES = {".pdf": GUIDE_PDF, ".docx": bomb_docx(3), ".csv": b"a,b\n1,2\n", ".html": b"<p>hi</p>", ".txt": b"hi"}


@FUZZ
@given(suffix=st.sampled_from(sorted(READERS)), data=st.binary(max_size=2000), flips=st.lists(
    st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8))
def test_any_bytes_are_parsed_or_skipped_with_a_reason(suffix, data, flips):
    for blob in (data, _flipped(SAMPLES.get(suffix, b""), flips)):
        try:
            doc = parse_document("f" + suffix, suffix, blob)
        except SkipFile as e:
            assert str(e) and "\n" not in str(e)
            continue
        assert doc.text.strip()


def _flipped(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for at, value in flips:
        if out:
            out[at % len(out)] = value
    return bytes(out)


def test_fuzzed_questions_over_http(tmp_path, corpus):
    from gradio_client import Client

    import httpx._content
    import json

    real = httpx._content.json_dumps
    httpx._content.json_dumps = lambda obj, **kw: json.dumps(obj, **{**kw, "ensure_ascii": True})  # as a browser sends
    try:
        with app(tmp_path, corpus) as url:
            client = Client(url, verbose=False)

            @hsettings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
            @given(question=QUESTIONS)
            def ask(question):
                text = reply(client.predict(question, [], api_name="/chat"))
                assert text and "Traceback" not in text and "Something went wrong" not in text, text

            ask()
    finally:
        httpx._content.json_dumps = real
    assert "Traceback" not in (tmp_path / "app.log").read_text()
