"""Watch mode: real file events (inotify through watchfiles) on a real folder, synced into a real index.

The ignore rules are pure logic (doctests in rag/watch.py and below); the rest runs a
watcher thread, or the CLI in a subprocess, and waits for the index to change.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import rag
from rag.watch import Watcher, ignored

from conftest import ROOT

full = pytest.mark.full


@pytest.fixture
def store_kind() -> str:
    return "memory"


def wait_for(condition, timeout: float = 30.0) -> float:
    """Seconds until ``condition()`` holds; fails after ``timeout``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if condition():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


def sources(engine) -> set[str]:
    return {r.chunk.source for r in engine.store.records()}


@pytest.fixture
def watched(settings):
    engine = rag.engine(settings=settings)
    watcher = Watcher(engine, settings.corpus, debounce_ms=200).start()
    wait_for(lambda: watcher.syncs >= 1 and watcher.ready.is_set())
    yield engine, watcher
    watcher.stop()
    assert watcher.thread is not None and not watcher.thread.is_alive()


def test_editor_and_office_temporary_files_are_ignored():
    c, ext = Path("/docs"), (".txt", ".md", ".docx")
    temp = [".#notes.md", "#notes.md#", "notes.md~", ".notes.md.swp", "~$report.docx", ".~lock.report.docx#",
            "report.docx.crdownload", "sub/.hidden/a.txt", "image.png"]
    assert [p for p in temp if not ignored(c / p, c, ext)] == []
    assert not ignored(c / "Report.DOCX", c, ext) and not ignored(c / "sub", c, ext)


@full
def test_added_changed_renamed_and_deleted_files_reach_the_index(watched, corpus):
    engine, watcher = watched
    (corpus / "keeper.txt").write_text("The lighthouse keeper of Skerry Point is Ottoline Brack.\n")
    wait_for(lambda: "keeper.txt" in sources(engine))
    a = engine.ask("Who is the lighthouse keeper of Skerry Point?")
    assert a.citations[0].source == "keeper.txt" and "Ottoline Brack" in a.text

    (corpus / "keeper.txt").write_text("The lighthouse keeper of Skerry Point is Marek Dunn.\n")
    wait_for(lambda: "Marek Dunn" in engine.ask("Who is the lighthouse keeper of Skerry Point?").text)

    (corpus / "keeper.txt").rename(corpus / "notes" / "keeper.txt")
    wait_for(lambda: {"notes/keeper.txt"} <= sources(engine) and "keeper.txt" not in sources(engine))

    (corpus / "notes" / "keeper.txt").unlink()
    wait_for(lambda: not any("keeper" in s for s in sources(engine)))
    assert engine.ask("Who is the lighthouse keeper of Skerry Point?").refused
    assert watcher.error is None


@full
def test_temporary_files_start_no_sync(watched, corpus):
    engine, watcher = watched
    before = watcher.syncs
    (corpus / ".article.txt.swp").write_bytes(b"\0" * 100)
    (corpus / "~$memo.docx").write_bytes(b"lock")
    (corpus / "article.txt~").write_text("backup")
    time.sleep(2.0)  # several debounce windows
    assert watcher.syncs == before


@full
def test_a_burst_of_200_files_is_indexed_in_a_few_syncs(watched, corpus):
    engine, watcher = watched
    before = watcher.syncs
    burst = corpus / "burst"
    burst.mkdir()
    for n in range(200):
        (burst / f"note{n:03}.txt").write_text(f"Note {n}: parcel {n} was shipped to depot {n % 7}.\n")
    wait_for(lambda: sum(s.startswith("burst/") for s in sources(engine)) == 200, timeout=120)
    assert watcher.syncs - before <= 10, "events are batched, not one sync per file"


@full
def test_a_change_made_during_an_ingest_is_synced_after_it(watched, corpus):
    engine, watcher = watched
    (corpus / "long.txt").write_text("".join(f"Entry {n} records a delivery of {n} crates of pears.\n" for n in range(3000)))
    wait_for(lambda: engine.syncing is not None, timeout=10)  # the sync of long.txt runs now
    (corpus / "late.txt").write_text("The late delivery was signed for by Ines Okafor.\n")
    wait_for(lambda: {"long.txt", "late.txt"} <= sources(engine), timeout=180)
    assert "Ines Okafor" in engine.ask("Who signed for the late delivery?").text


@full
def test_the_cli_watches_until_interrupted(tmp_path, corpus):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    err = open(tmp_path / "stderr.txt", "w")  # a file, not a pipe nobody reads: the process never blocks on it
    proc = subprocess.Popen([sys.executable, "-m", "rag", "--store", str(tmp_path / "ix"), "watch", str(corpus)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    try:
        wait_for(lambda: any("2 added" in line for line in lines), timeout=120)  # article.txt, notes/garden.md
        (corpus / "keeper.txt").write_text("The lighthouse keeper is Ottoline Brack.\n")
        wait_for(lambda: any("1 added" in line for line in lines), timeout=60)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert lines[0].startswith("Watching ") and "Traceback" not in (tmp_path / "stderr.txt").read_text()
    finally:
        proc.kill()


@full
def test_the_app_with_watch_answers_from_files_as_they_change(tmp_path, corpus):
    """`app.py --watch` (RAG_WATCH=1), asked over HTTP: an added, a changed and a deleted file."""
    from gradio_client import Client

    from test_app import _reply, serve

    question = "Who is the lighthouse keeper of Skerry Point?"
    app = serve(tmp_path, corpus, "extractive", RAG_WATCH="1")
    url = next(app)
    try:
        client = Client(url, verbose=False)

        def says(text: str) -> bool:
            return text in _reply(client.predict(question, [], api_name="/chat"))

        seconds = []
        ready = _reply(client.predict("Who is the top Ukrainian negotiator?", [], api_name="/chat"))  # after loading
        assert "Umerov" in ready
        (corpus / "keeper.txt").write_text("The lighthouse keeper of Skerry Point is Ottoline Brack.\n")
        seconds.append(wait_for(lambda: says("Ottoline Brack")))
        (corpus / "keeper.txt").write_text("The lighthouse keeper of Skerry Point is Marek Dunn.\n")
        seconds.append(wait_for(lambda: says("Marek Dunn")))
        (corpus / "keeper.txt").unlink()
        seconds.append(wait_for(lambda: says("couldn't find")))
        print("seconds to an answer from the added, changed, deleted file:", [round(s, 2) for s in seconds])
        assert max(seconds) < 10  # about 1 s on an idle machine; the bound leaves room for a busy one
    finally:
        app.close()
