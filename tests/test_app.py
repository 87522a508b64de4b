"""The Gradio UI, served for real on a loopback port and asked over HTTP with gradio_client."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port
from test_offline import clean_env

pytestmark = pytest.mark.full  # the app in a subprocess, asked over HTTP

ROOT = Path(__file__).resolve().parent.parent


def start(tmp_path, corpus, answerer: str, **env: str) -> tuple[subprocess.Popen, str]:
    """app.py (with the network guard) on a free loopback port, not waited for; the process and its URL."""
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
    return proc, f"http://127.0.0.1:{port}/"


def serve(tmp_path, corpus, answerer: str, **env: str):
    """The app up (its real page: a program asking gets 503 from the starting page, rag/holding.py); its URL."""
    proc, url = start(tmp_path, corpus, answerer, **env)
    log = tmp_path / "net.log"
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f"app did not start:\n{(tmp_path / 'app.log').read_text()[-3000:]}")
                time.sleep(0.1)
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


def test_the_app_serves_at_once_then_answers_a_question_asked_while_the_models_load(tmp_path, corpus):
    """Start-up in the background (rag/startup.py): the page answers before the models are loaded; a question
    asked meanwhile says it waits and is answered once they are; a Re-sync waits for the models and then for
    the start-up sync, saying so. RAG_TEST_LOAD_DELAY holds the loading back, so the order is certain."""
    import rag
    from gradio_client import Client

    rag.ingest(corpus, settings=rag.Settings.from_env(corpus=corpus, store=tmp_path / "ix"))  # an existing index
    lines = [f"Survey entry {i}: the {a} of district {i} was counted {i % 9 + 1} times near marker {i * 13}."
             for i, a in zip(range(500), ["heron", "otter", "lynx", "vole", "stoat"] * 100)]
    (corpus / "survey.txt").write_text("\n".join(lines) + "\n")  # new since: the start-up sync embeds it
    t0 = time.perf_counter()
    for url in serve(tmp_path, corpus, "extractive", RAG_TEST_LOAD_DELAY="6"):
        first = time.perf_counter() - t0
        assert "models loaded" not in (tmp_path / "app.log").read_text()
        print(f"the app up (its real page) {first:.1f} s after the process started")
        client = Client(url, verbose=False)
        assert client.predict(api_name="/status") == "⏳ Loading the models…"
        question = client.submit("Who is the chief of staff of Kiev's armed forces?", [], api_name="/chat")
        resync = Client(url, verbose=False).submit(api_name="/resync")
        final = question.result(timeout=300)
        log = (tmp_path / "app.log").read_text()
        assert "models loaded" in log and "index: " not in log, log  # answered during the start-up sync
        assert _reply(question.outputs()[0]) == "⏳ Loading the models, the answer follows…"
        assert "Andrii Hnatov" in _reply(final) and "<mark>" in final[2]
        synced, status = resync.result(timeout=600)
        waits = [o[0] for o in resync.outputs()]
        assert waits[0] == "⏳ Waiting for the models to load; this sync starts after them.", waits
        assert any(w.startswith("⏳ Waiting for the sync already running to finish") for w in waits), waits
        assert "0 added" in synced and "3 unchanged" in synced and "3 documents" in status  # after the start-up sync
    log = (tmp_path / "app.log").read_text()
    assert log.index("serving on") < log.index("models loaded") < log.index("index: 1 added, 0 updated"), log


def test_a_browser_gets_a_starting_page_at_once_then_the_app_on_the_same_port(tmp_path, corpus):
    """While gradio imports (rag/holding.py) a browser's GET / is a 200 starting page that reloads itself and a
    program's is a 503, so clients waiting for the app keep waiting; then the real app answers on the same port.
    RAG_TEST_HOLD_DELAY holds gradio back 5 s after the page is up, so the page is certain to be seen."""
    from gradio_client import Client

    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}

    def ask(headers: dict[str, str]):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    proc, url = start(tmp_path, corpus, "extractive", RAG_TEST_HOLD_DELAY="5")
    try:
        deadline = time.time() + 180
        while True:
            try:
                status, headers, page = ask(browser)
                break
            except OSError:  # not bound yet
                assert proc.poll() is None and time.time() < deadline, (tmp_path / "app.log").read_text()
                time.sleep(0.05)
        assert status == 200 and headers["X-Rag-Starting"] == "1" and "Starting the app" in page
        assert "serving on" not in (tmp_path / "app.log").read_text()
        status, headers, _ = ask({})  # a program: not up yet
        assert status == 503 and headers["Retry-After"] == "1" and headers["X-Rag-Starting"] == "1"

        while True:  # what the page's script does: ask again until the real app answers, then show it
            try:
                status, headers, page = ask(browser)
                if "X-Rag-Starting" not in headers:
                    break
            except OSError:  # the port changing hands
                pass
            assert proc.poll() is None and time.time() < deadline, (tmp_path / "app.log").read_text()
            time.sleep(0.05)
        assert status == 200 and "gradio_config = " in page and "Ask your documents" in page  # the Gradio page
        assert ask({})[0] == 200  # and a program gets it too
        client = Client(url, verbose=False)
        assert client.predict(api_name="/status").startswith(("⏳ Loading the models", "🔄 Syncing", "**Corpus**"))
        assert "Andrii Hnatov" in _reply(client.predict("Who is the chief of staff of Kiev's armed forces?", [],
                                                        api_name="/chat"))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert (tmp_path / "net.log").read_text() == ""
