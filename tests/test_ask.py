"""Asking: cited answers whose quotes are the file's text, refusals, and bad questions.

Each test runs on the in-memory store (fast tier) and on embedded Chroma (full tier).
"""

from __future__ import annotations

import pytest

import rag
from rag.cite import verify


@pytest.fixture
def indexed(settings, corpus):
    rag.ingest(corpus, settings=settings)
    return settings


def test_answer_cites_the_exact_passage(indexed, corpus):
    a = rag.ask("Who is the top Ukrainian negotiator?", settings=indexed)
    assert not a.refused and "Rustem Umerov" in a.text
    assert a.answerer == "extractive"
    c = a.citations[0]
    assert c.source == "article.txt" and c.page is None
    text = (corpus / "article.txt").read_text()
    assert text[c.start : c.end] == c.quote and "Rustem Umerov" in c.quote
    assert verify(c, corpus)
    hit = next(h for h in a.hits if h.id == c.chunk_id)
    assert hit.start <= c.start < c.end <= hit.end
    for h in a.hits:
        assert text[h.start : h.end] == h.text and -1 <= h.score <= 1
    assert a.hits == sorted(a.hits, key=lambda h: -h.score)


def test_markdown_file_in_a_subfolder_is_cited_by_relative_path(indexed):
    a = rag.ask("When were the tomatoes planted?", settings=indexed)
    assert "12 April" in a.text and a.citations[0].source == "notes/garden.md"


@pytest.mark.parametrize("question", ["What is the capital of Australia?", "Who won the 2024 Super Bowl?"])
def test_unrelated_questions_are_refused(indexed, question):
    a = rag.ask(question, settings=indexed)
    assert a.refused and a.text == "I couldn't find this in the documents." and not a.citations
    assert a.hits, "a refusal still returns the closest passages"


def test_bad_questions_get_clear_errors(indexed):
    with pytest.raises(rag.QuestionError, match="empty"):
        rag.ask("   \n", settings=indexed)
    with pytest.raises(rag.QuestionError, match="100,001 characters long; the limit is 2,000"):
        rag.ask("why " * 25_000 + "?", settings=indexed)
    with pytest.raises(rag.SettingsError, match="extractive"):
        rag.ask("Who is Witkoff?", answerer="oracle", settings=indexed)
    # and the engine still answers afterwards
    assert not rag.ask("Who is Yuri Ushakov?", settings=indexed).refused


def test_store_argument_points_at_an_index_folder(tmp_path, corpus, store_kind, monkeypatch):
    monkeypatch.setenv("RAG_VECTOR_STORE", store_kind)  # the settings come from the environment here
    monkeypatch.setenv("RAG_ANSWERER", "extractive")  # as the other tests: not the local model
    rag.ingest(corpus, store=tmp_path / "elsewhere")
    a = rag.ask("Where could jets to defend Kiev be based?", store=tmp_path / "elsewhere")
    assert "Poland" in a.text
    assert rag.engine(store=tmp_path / "elsewhere").store.location == (
        str((tmp_path / "elsewhere").resolve()) if store_kind == "chroma" else "memory")
