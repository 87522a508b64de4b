"""The Gradio UI, served for real on a loopback port and asked over HTTP with gradio_client."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port
from test_offline import clean_env

pytestmark = pytest.mark.full  # the app in a subprocess, asked over HTTP

ROOT = Path(__file__).resolve().parent.parent


def serve(tmp_path, corpus, answerer: str, **env: str):
    port = free_port()
    log = tmp_path / "net.log"
    log.touch()
    script = (
        "import netguard; netguard.install()\n"
        "import runpy, sys\n"
        f"sys.argv = ['app.py', '--corpus', {str(corpus)!r}, '--store', {str(tmp_path / 'ix')!r}, '--port', '{port}']\n"
        f"runpy.run_path({str(ROOT / 'app.py')!r}, run_name='__main__')\n"
    )
    out = open(tmp_path / "app.log", "w")
    env = {**clean_env(log), "RAG_ANSWERER": answerer, **env}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f"app did not start:\n{(tmp_path / 'app.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert log.read_text() == "", f"the app used the network:\n{log.read_text()}"


@pytest.fixture
def app_url(tmp_path, corpus):
    yield from serve(tmp_path, corpus, "extractive")


def _reply(result) -> str:
    content = result[0][-1]["content"]
    return content if isinstance(content, str) else " ".join(part.get("text", "") for part in content)


def test_ui_answers_with_a_highlighted_citation_over_http(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    result = client.predict("Who is the chief of staff of Kiev's armed forces?", [], api_name="/chat")
    reply, sources = _reply(result), result[2]
    assert "Andrii Hnatov" in reply and "[1]" in reply and "article.txt" in reply
    assert "<mark>" in sources and "Andrii Hnatov" in sources.split("<mark>")[1].split("</mark>")[0]

    result = client.predict("", [], api_name="/chat")
    assert "empty" in _reply(result) and "Traceback" not in _reply(result)

    result = client.predict("What is the capital of Australia?", [], api_name="/chat")
    assert "couldn't find" in _reply(result) and "Closest passages" in result[2]
    assert "answered by: extractive" in _reply(result)


def test_app_binds_loopback_only(app_url):
    assert app_url.startswith("http://127.0.0.1:")
    html = urllib.request.urlopen(app_url, timeout=5).read().decode()
    assert "Ask your documents" in html or "gradio" in html.lower()


def test_ui_shows_the_passage_then_the_local_models_cited_answer(tmp_path, corpus):
    from gradio_client import Client
    from gradio_client.utils import QueueError

    for url in serve(tmp_path, corpus, "auto", RAG_QUEUE="1"):
        # one answer at a time (one model), one question may wait: a third gets "queue full", not a hang
        jobs = [Client(url, verbose=False).submit("Who is Andrii Hnatov?", [], api_name="/chat") for _ in range(3)]
        outcomes = []
        for j in jobs:
            try:
                outcomes.append(_reply(j.result(timeout=300)))
            except QueueError as e:
                outcomes.append(str(e))
        assert any("Queue is full" in o for o in outcomes) and any("Hnatov" in o for o in outcomes), outcomes

        job = Client(url, verbose=False).submit("Who is the top Ukrainian negotiator?", [], api_name="/chat")
        final = job.result(timeout=300)
        updates = job.outputs()
        assert len(updates) >= 3, "expected the quick passage while the model reads, then the answer"
        first = next(u for u in updates if "Best matching passage" in _reply(u))
        assert "<mark>" in first[2] and 'id="src-0-1"' in first[2] and "✍️" in _reply(first)
        reply = _reply(final)
        assert reply.startswith("**Rustem Umerov**:") and '<a class="cite" href="#src-0-1">[1]</a>' in reply
        assert "answered by: local qwen2.5-coder-1.5b, reading" in reply and "supported · Sources:" in reply
        assert "Rustem Umerov" in final[2].split("<mark>")[1].split("</mark>")[0]


def test_upload_and_resync_over_http(app_url, corpus, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    note = tmp_path / "bees.md"
    note.write_text("# Bees\n\nThe beekeeper moved the hives to the orchard on 3 May.\n")
    log, status, _ = client.predict([handle_file(str(note))], api_name="/upload")
    assert "saved bees.md" in log and "1 added" in log and "3 documents" in status
    assert (corpus / "bees.md").read_text() == note.read_text()
    result = client.predict("When were the hives moved to the orchard?", [], api_name="/chat")
    assert "3 May" in _reply(result) and "bees.md" in result[2]

    (corpus / "bees.md").unlink()  # removed on disk: a re-sync drops it from the index
    log, status = client.predict(api_name="/resync")
    assert "1 removed" in log and "2 documents" in status
    result = client.predict("When were the hives moved to the orchard?", [], api_name="/chat")
    latest, earlier = result[2].split("<details", 1)  # the earlier turn's sources stay, folded
    assert "bees.md" not in latest and "bees.md" in earlier


def test_concurrent_chats_keep_their_own_history(app_url):
    """Two browser sessions ask follow-ups at the same time; each is resolved with its own history."""
    from gradio_client import Client

    a, b = Client(app_url, verbose=False), Client(app_url, verbose=False)
    a.predict("Who is Steve Witkoff?", [], api_name="/chat")
    b.predict("Who is Andrii Hnatov?", [], api_name="/chat")
    jobs = {name: c.submit("What is his job?", [], api_name="/chat") for name, c in (("Witkoff", a), ("Hnatov", b))}
    for name, job in jobs.items():
        searched = re.search(r"searched for: “([^”]*)”", _reply(job.result(timeout=120)))
        assert searched and name in searched[1] and ({"Witkoff", "Hnatov"} - {name}).pop() not in searched[1]

    a.predict(api_name="/new_chat")  # a new chat forgets: the same follow-up is no longer resolved
    assert "searched for" not in _reply(a.predict("What is his job?", [], api_name="/chat"))
