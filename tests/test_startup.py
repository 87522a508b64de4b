"""The web app's background start (rag/startup.py) without a server: stages, status lines, waiting, failures.

Over the in-memory store and the extractive answerer, so it runs in the fast tier; the app
over real HTTP is tests/test_app.py (the order of serving and loading, a question asked
while loading) and tests/reliability/test_faults.py (failures at start).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

import rag
from rag.startup import FAILED, READY, WAIT_MODELS_SYNC, Startup


@pytest.fixture
def store_kind() -> str:
    return "memory"


def test_loads_then_syncs_then_shows_the_index_line(settings, monkeypatch):
    monkeypatch.setenv("RAG_TEST_LOAD_DELAY", "0.3")
    startup = Startup(settings)
    assert startup.line() == "⏳ Loading the models…" and not startup.settled()
    startup.start()
    waits = list(startup.waiting_to_sync(poll=0.05))  # an upload or Re-sync meanwhile: waits, saying so
    assert waits[0] == WAIT_MODELS_SYNC
    assert startup.wait_sync(120) and startup.stage == READY and startup.settled()
    line = startup.line()
    assert "2 documents" in line and "answerer** extractive" in line and not startup.sync_error
    assert startup.engine().status().documents == 2 and startup.seconds["loaded"] >= 0.3
    assert list(startup.waiting_to_sync()) == []  # nothing to wait for any more
    assert startup.start() is startup and startup.stage == READY  # loaded: start() does nothing


def test_a_failed_load_says_why_and_the_next_question_tries_again(settings):
    startup = Startup(replace(settings, answerer="local", llm_model="gpt-9")).start()
    assert startup.wait(120) and startup.stage == FAILED
    assert startup.line().startswith("⚠️ Unknown model 'gpt-9'") and not startup.first_sync()
    assert not startup.loaded()  # tries loading again (a model installed since would load)
    with pytest.raises(rag.ModelError, match="Unknown model 'gpt-9'"):
        startup.engine()  # waits for that try, and says why not
    assert startup.stage == FAILED and not startup.settled()


def test_a_failed_start_up_sync_leaves_the_models_loaded_and_says_so(settings, tmp_path):
    startup = Startup(replace(settings, corpus=tmp_path / "gone")).start()
    assert startup.wait_sync(120) and startup.stage == READY
    line = startup.line()
    assert line.startswith("⚠️ The start-up sync failed: The folder") and "does not exist" in line
    assert "0 documents" in line
    startup.engine()  # usable
    startup.done(ok=True)  # a later sync from the UI succeeded
    assert not startup.line().startswith("⚠️")
