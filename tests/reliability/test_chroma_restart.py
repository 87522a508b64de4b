"""Item 5, a Chroma server killed and restarted while the app serves: the chat says it lost the server,
naming its URL (not "Something went wrong (ConnectError ...)"), the status line says so after a
Re-sync, and once the server is back on the same folder and port the next question is answered."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import free_port
from reliability_kit import app, reply

pytestmark = pytest.mark.full


def chroma(folder: Path, port: int, log: Path) -> subprocess.Popen:
    """`chroma run` on ``folder`` at ``port``, ready."""
    server = subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--path", str(folder), "--host",
                               "127.0.0.1", "--port", str(port)], stdout=log.open("a"), stderr=subprocess.STDOUT,
                              env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    for _ in range(600):  # readiness wait, up to ~60 s on a busy machine
        assert server.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("chroma did not start")


def test_a_chroma_server_killed_and_restarted_while_the_app_runs(tmp_path, corpus):
    from gradio_client import Client

    port, folder, log = free_port(), tmp_path / "served", tmp_path / "chroma.log"
    url = f"http://127.0.0.1:{port}"
    server = chroma(folder, port, log)
    try:
        with app(tmp_path, corpus, "--chroma-url", url, RAG_CACHE_DIR=str(tmp_path / "cache")) as ui:
            client = Client(ui, verbose=False)
            assert "chief of staff" in reply(client.predict("Who is Andrii Hnatov?", [], api_name="/chat"))

            server.kill()
            server.wait(timeout=30)
            for question in ("Who is Steve Witkoff?", "Who is Rustem Umerov?"):
                text = reply(Client(ui, verbose=False).predict(question, [], api_name="/chat")).replace("\\", "")
                assert text.startswith(f"⚠️ Lost the Chroma server at {url}"), text
                assert "check that it is running" in text and "Something went wrong" not in text
            log_md, status = client.predict(api_name="/resync")
            assert url in log_md and status.startswith("⚠️") and url in status.replace("\\", "")

            server = chroma(folder, port, log)  # back, on the same folder and port
            text = reply(Client(ui, verbose=False).predict("Who is Andrii Hnatov?", [], api_name="/chat"))
            assert "chief of staff" in text and "⚠️" not in text
        assert "Traceback" not in (tmp_path / "app.log").read_text()
    finally:
        server.kill()
        server.wait(timeout=30)
