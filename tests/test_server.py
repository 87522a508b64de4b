"""Server mode: a real `chroma run` on a loopback port; ingest and ask through it, from the CLI
and from a long-running engine; an unreachable server is a one-line error."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

import rag
from conftest import free_port

pytestmark = pytest.mark.full  # a `chroma run` server and CLI subprocesses


@contextmanager
def serve(folder: Path, log: Path) -> Iterator[str]:
    """`chroma run` serving ``folder`` on a free loopback port; its URL. Stopped on exit."""
    port = free_port()
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(folder), "--host", "127.0.0.1",
             "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):  # readiness wait, not a timing assertion: up to ~60 s on a busy machine
                assert server.poll() is None, log.read_text()
                try:
                    if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield url
        finally:
            server.kill()
            server.wait(timeout=30)


@pytest.fixture
def chroma_url(tmp_path):
    with serve(tmp_path / "served", tmp_path / "chroma.log") as url:
        yield url


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m rag ARGS``; with NETGUARD_LOG set, any non-loopback connection is refused and logged there."""
    env = {**os.environ, "RAG_ANSWERER": "extractive", **env}
    guard = "import netguard; netguard.install(); " if "NETGUARD_LOG" in env else ""
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    code = f"{guard}from rag.cli import main; raise SystemExit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600, env=env)


def test_ingest_and_ask_through_a_chroma_server(chroma_url, corpus, tmp_path):
    unused, cache = tmp_path / "unused-store", str(tmp_path / "cache")
    out = cli("--store", str(unused), "--chroma-url", chroma_url, "ingest", str(corpus), RAG_CACHE_DIR=cache)
    assert out.returncode == 0 and "2 added" in out.stdout, out.stderr
    net = tmp_path / "net.log"
    net.touch()
    out = cli("--store", str(unused), "ask", "Which alliance does Kiev aspire to join?", RAG_CHROMA_URL=chroma_url,
              RAG_CACHE_DIR=cache, NETGUARD_LOG=str(net))
    assert out.returncode == 0 and "NATO" in out.stdout and "[1] article.txt" in out.stdout, out.stderr
    assert net.read_text() == ""  # only the loopback server was contacted
    out = cli("--chroma-url", chroma_url, "status", RAG_CACHE_DIR=cache)
    assert f"index: {chroma_url}" in out.stdout and "2 documents" in out.stdout, out.stderr
    assert not unused.exists()  # the embedded store was never opened
    assert list(Path(cache).glob("servers/127.0.0.1_*/*.bm25.sqlite3"))  # the keyword index is cached locally


def test_a_running_engine_sees_another_machines_ingest(chroma_url, corpus, tmp_path):
    """BM25 only: the answer needs this machine's cached keyword index repaired from the server."""
    here, there = tmp_path / "cache-here", tmp_path / "cache-there"
    s = rag.Settings.from_env(chroma_url=chroma_url, cache_dir=here, retriever="bm25", answerer="extractive")
    rag.ingest(corpus, settings=s)
    engine = rag.engine(settings=s)
    assert engine.ask("How many beehives stand on the town hall roof?").refused
    (corpus / "bees.txt").write_text("Seven beehives stand on the roof of the town hall since 2019.\n")
    out = cli("--chroma-url", chroma_url, "ingest", str(corpus), RAG_CACHE_DIR=str(there))  # another machine's cache
    assert out.returncode == 0 and "1 added" in out.stdout, out.stderr
    answer = engine.ask("How many beehives stand on the town hall roof?")
    assert not answer.refused and answer.citations[0].source == "bees.txt"
    assert engine.status().location == chroma_url and engine.status().documents == 3


def test_an_existing_store_folder_is_served_as_is(corpus, tmp_path):
    """The README's move to a server: `chroma run --path vectorstore` on a folder the embedded mode wrote."""
    store = tmp_path / "vectorstore"
    out = cli("--store", str(store), "ingest", str(corpus))
    assert out.returncode == 0 and "2 added" in out.stdout, out.stderr
    with serve(store, tmp_path / "chroma.log") as url:
        out = cli("--chroma-url", url, "ask", "Which alliance does Kiev aspire to join?",
                  RAG_CACHE_DIR=str(tmp_path / "cache"))
        assert out.returncode == 0 and "NATO" in out.stdout and "[1] article.txt" in out.stdout, out.stderr


def test_an_unreachable_server_is_a_one_line_error(corpus, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for args in (("--chroma-url", url, "ingest", str(corpus)), ("--chroma-url", url, "ask", "Who is Witkoff?")):
        out = cli(*args, RAG_CACHE_DIR=str(tmp_path / "cache"))
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert out.stderr.startswith(f"error: Cannot reach the Chroma server at {url}") and out.stderr.count("\n") == 1
    out = cli("--chroma-url", "localhost:8000", "ask", "Who?")
    assert out.returncode == 2 and "http://host:port" in out.stderr
