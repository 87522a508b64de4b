"""Collections: named document sets that never answer for each other, through the API, the CLI and the OpenAI API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import rag
from rag import collections

from conftest import ROOT

GARDEN = "The quince tree in the walled garden was pruned on 4 February by Hester Vane.\n"
LIGHT = "The lighthouse keeper of Skerry Point is Ottoline Brack; the lamp turns twice a minute.\n"


@pytest.fixture
def store_kind() -> str:
    return "memory"


def garden_and_sea(tmp_path: Path, settings: rag.Settings) -> None:
    """Collections 'garden' and 'sea' of ``settings``' store, each with one document (tmp_path/NAME), indexed."""
    for name, text in (("garden", GARDEN), ("sea", LIGHT)):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.txt").write_text(text)
        collections.create(name, tmp_path / name, settings)
        report = rag.ingest(settings=settings, collection=name)
        assert report.added == [f"{name}.txt"]


@pytest.fixture
def two(tmp_path, settings):
    garden_and_sea(tmp_path, settings)
    return settings


def test_each_collection_answers_only_from_its_own_files(two):
    a = rag.ask("Who pruned the quince tree?", settings=two, collection="garden")
    assert "Hester Vane" in a.text and {c.source for c in a.citations} == {"garden.txt"}
    assert {h.source for h in a.hits} == {"garden.txt"}
    b = rag.ask("Who pruned the quince tree?", settings=two, collection="sea")
    assert b.refused and {h.source for h in b.hits} <= {"sea.txt"}
    with pytest.raises(rag.EmptyIndexError):  # the store's own index holds neither
        rag.ask("Who pruned the quince tree?", settings=two)


def test_list_create_again_and_delete(two, tmp_path):
    assert [c.name for c in collections.list_all(two)] == ["garden", "sea"]
    again = collections.create("garden", tmp_path / "garden", two)  # the same folder: a no-op
    assert again.corpus == (tmp_path / "garden").resolve()
    with pytest.raises(rag.SettingsError, match="already exists"):
        collections.create("garden", tmp_path / "sea", two)
    gone = collections.delete("sea", two)
    assert not gone.store.exists() and (tmp_path / "sea" / "sea.txt").exists()  # the documents stay
    with pytest.raises(rag.SettingsError, match=r"No collection 'sea' .*there are: garden"):
        rag.ask("Who keeps the lighthouse?", settings=two, collection="sea")


@pytest.mark.parametrize("name", ["", "../x", "Tax", "a b", "x" * 41, ".hidden"])
def test_names_that_cannot_be_folders_are_refused(two, tmp_path, name):
    with pytest.raises(rag.SettingsError, match="A collection name is"):
        collections.create(name, tmp_path, two)


def test_collections_need_the_embedded_store(tmp_path):
    s = rag.Settings.from_env(store=tmp_path, chroma_url="http://127.0.0.1:9")
    with pytest.raises(rag.SettingsError, match="embedded store"):
        collections.create("x", tmp_path, s)


@pytest.mark.full
def test_the_cli_keeps_collections_apart(tmp_path):
    store = tmp_path / "ix"

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "rag", "--store", str(store), *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=300,
                              env={**__import__("os").environ, "RAG_ANSWERER": "extractive"})

    for name, text in (("garden", GARDEN), ("sea", LIGHT)):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.txt").write_text(text)
        assert cli("collections", "create", name, str(tmp_path / name)).returncode == 0
        assert "1 added" in cli("--collection", name, "ingest").stdout
    assert cli("collections", "list").stdout.split("\n")[:2] == [f"garden\t{tmp_path / 'garden'}", f"sea\t{tmp_path / 'sea'}"]
    out = json.loads(cli("--collection", "sea", "ask", "--json", "Who is the lighthouse keeper?").stdout)
    assert "Ottoline Brack" in out["text"] and {c["source"] for c in out["citations"]} == {"sea.txt"}
    out = json.loads(cli("--collection", "garden", "ask", "--json", "Who is the lighthouse keeper?").stdout)
    assert out["refused"]
    bad = cli("--collection", "nope", "status")
    assert bad.returncode == 2 and "No collection 'nope'" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.full
def test_the_openai_api_lists_collections_as_models_and_answers_from_each(tmp_path):
    from openai import NotFoundError, OpenAI
    from test_serve import start, wait_up

    garden_and_sea(tmp_path, rag.Settings.from_env(store=tmp_path / "ix", answerer="extractive"))
    (tmp_path / "net.log").touch()
    proc, url = start(tmp_path)
    try:
        wait_up(proc, url)
        client = OpenAI(base_url=url, api_key="none", max_retries=0)
        assert [m.id for m in client.models.list()] == ["rag", "garden", "sea"]
        ask = [{"role": "user", "content": "Who pruned the quince tree?"}]
        r = client.chat.completions.create(model="garden", messages=ask)
        assert "Hester Vane" in r.choices[0].message.content and r.model == "garden"
        assert {c["source"] for c in r.citations} == {"garden.txt"}
        assert client.chat.completions.create(model="sea", messages=ask).refused
        with pytest.raises(NotFoundError, match="GET /v1/models"):
            client.chat.completions.create(model="attic", messages=ask)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert (tmp_path / "net.log").read_text() == ""


@pytest.mark.full
def test_the_web_ui_answers_from_the_collection_picked(tmp_path, corpus):
    from gradio_client import Client

    from test_app import _reply, serve

    garden_and_sea(tmp_path, rag.Settings.from_env(store=tmp_path / "ix", answerer="extractive"))
    app = serve(tmp_path, corpus, "extractive")
    url = next(app)
    try:
        client = Client(url, verbose=False)
        question = "Who pruned the quince tree?"
        garden = _reply(client.predict(question, [], "extractive", 5, "garden", api_name="/chat"))
        sea = _reply(client.predict(question, [], "extractive", 5, "sea", api_name="/chat"))
        own = _reply(client.predict("Who is the top Ukrainian negotiator?", [], "extractive", 5, "", api_name="/chat"))
        assert "Hester Vane" in garden and "garden.txt" in garden
        assert "couldn't find" in sea and "garden.txt" not in sea
        assert "Umerov" in own and "garden.txt" not in own and "sea.txt" not in own
    finally:
        app.close()


@pytest.mark.full
def test_the_web_ui_creates_fills_resyncs_and_deletes_collections(tmp_path, corpus):
    from gradio_client import Client, handle_file

    from test_app import _reply, serve

    (tmp_path / "sea").mkdir()
    (tmp_path / "sea" / "sea.txt").write_text(LIGHT)
    note = tmp_path / "garden.txt"
    note.write_text(GARDEN)
    app = serve(tmp_path, corpus, "extractive")
    url = next(app)
    try:
        client = Client(url, verbose=False)

        def ask(question: str, collection: str) -> str:
            return _reply(client.predict(question, [], "extractive", 5, collection, api_name="/chat"))

        log, status, picked, name = client.predict("notes", "", api_name="/create_collection")  # for uploads
        assert "Collection **notes**" in log and "**Synced:**" in log and picked == "notes" and name == ""
        assert "**Collection** notes" in status and "0 documents" in status
        log, status, _ = client.predict([handle_file(str(note))], "notes", api_name="/upload")
        assert (tmp_path / "ix" / "documents" / "notes" / "garden.txt").read_text() == GARDEN  # not in the app's folder
        assert "1 added" in log and "1 documents" in status and not (corpus / "garden.txt").exists()
        assert "Hester Vane" in ask("Who pruned the quince tree?", "notes")
        assert "Hester Vane" not in ask("Who pruned the quince tree?", "")

        log, _, picked, _ = client.predict("sea", str(tmp_path / "sea"), api_name="/create_collection")  # over a folder
        assert "1 added" in log and picked == "sea"
        (tmp_path / "sea" / "more.txt").write_text("The Skerry Point lamp was lit first in 1871.\n")
        log, status = client.predict("sea", api_name="/resync")
        assert "1 added" in log and "2 documents" in status
        assert "1871" in ask("When was the Skerry Point lamp lit first?", "sea")
        assert "Hester Vane" not in ask("Who pruned the quince tree?", "sea")

        log, _, _, _ = client.predict("../etc", "", api_name="/create_collection")
        assert log.startswith("⚠️ A collection name is")
        log, _, _, _ = client.predict("notes", str(tmp_path / "sea"), api_name="/create_collection")
        assert log.startswith("⚠️ Collection 'notes' already exists")

        log, status, picked = client.predict("notes", api_name="/delete_collection")
        assert log.startswith("Deleted collection **notes**") and picked["value"] == ""
        assert [value for _, value in picked["choices"]] == ["", "sea"]
        assert (tmp_path / "ix" / "documents" / "notes" / "garden.txt").exists()  # the documents stay
        assert not (tmp_path / "ix" / "collections" / "notes").exists()
        assert "No collection 'notes'" in ask("Who pruned the quince tree?", "notes")
        log, _, picked, _ = client.predict("notes", "", api_name="/create_collection")  # made again: a fresh index
        assert "1 added" in log and "Hester Vane" in ask("Who pruned the quince tree?", "notes")
    finally:
        app.close()
