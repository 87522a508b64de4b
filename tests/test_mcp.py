"""The MCP server (rag/mcpserver.py), asked with the ``mcp`` SDK's own client.

In process (fast tier): the tools, their schemas and their errors over the in-memory index.
Full tier: ``python -m rag --store X mcp`` spawned over stdio, and ``--http`` over
streamable HTTP with an API key, both under the network guard, plus the client example
of docs/usage.md run as it is written (with its own index and answerer).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port, seed_folder
from test_offline import clean_env

import rag

mcp = pytest.importorskip("mcp")

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Who is the top Ukrainian negotiator?"


@pytest.fixture
def store_kind() -> str:
    return "memory"  # the in-process tests are about the tools, not the store


def run(coro_fn, *args):  # type: ignore[no-untyped-def]
    import anyio

    return anyio.run(coro_fn, *args)


async def exercise(client, corpus: Path) -> None:  # type: ignore[no-untyped-def]
    """What every transport must show: the tools, an answer whose citations are the files' words,
    passages with offsets, a refusal, and a clear tool error for an empty question."""
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"search", "ask"}
    assert "citations" in tools["ask"].output_schema["properties"]
    assert "passages" in tools["search"].output_schema["properties"]
    assert tools["ask"].annotations.read_only_hint

    result = await client.call_tool("ask", {"question": QUESTION})
    assert not result.is_error, result.content
    answer = result.structured_content
    assert not answer["refused"] and answer["answerer"] == "extractive"
    assert "Umerov" in answer["answer"] and "[1]" in answer["answer"]
    cite = next(c for c in answer["citations"] if "Umerov" in c["quote"])
    text = (corpus / cite["source"]).read_text(encoding="utf-8")
    assert text[cite["start"]:cite["end"]] == cite["quote"]
    assert "Umerov" in result.content[0].text and "article.txt" in result.content[0].text  # the same, as text

    result = await client.call_tool("search", {"question": QUESTION, "k": 3})
    assert not result.is_error, result.content
    passages = result.structured_content["passages"]
    assert 1 <= len(passages) <= 3 and [p["n"] for p in passages] == list(range(1, len(passages) + 1))
    for p in passages:
        assert (corpus / p["source"]).read_text(encoding="utf-8")[p["start"]:p["end"]] == p["text"]
        assert isinstance(p["score"], float)
    assert any("Umerov" in p["text"] for p in passages)

    result = await client.call_tool("ask", {"question": "   "})
    assert result.is_error
    assert result.content[0].text == "The question is empty. Type a question about your documents."

    earlier = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": answer["answer"]}]
    result = await client.call_tool("ask", {"question": "Who joined him in the meetings?", "history": earlier})
    assert not result.is_error, result.content
    follow = result.structured_content  # "him" is the negotiator of the turn before
    assert "Umerov" in follow["searched"] and "Hnatov" in follow["answer"] and follow["citations"]
    result = await client.call_tool("ask", {"question": "Who joined him?", "history": [{"role": "robot", "content": "x"}]})
    assert result.is_error and "history" in result.content[0].text  # the schema says what a turn is

    result = await client.call_tool("ask", {"question": "What is the capital of Australia?"})
    assert not result.is_error and result.structured_content["refused"]
    assert result.structured_content["citations"] == []
    assert "couldn't find" in result.content[0].text


# In process: the SDK's client connected to the server object, over the in-memory index.

def test_tools_in_process(settings, corpus):
    from mcp import Client

    from rag import mcpserver

    rag.ingest(corpus, settings=settings)

    async def go() -> None:
        async with Client(mcpserver.build(settings)) as client:
            await exercise(client, corpus)
            result = await client.call_tool("search", {"question": QUESTION, "k": 0})
            assert result.is_error and result.content[0].text == "k must be between 1 and 50, not 0."

    run(go)


def test_empty_index_and_unexpected_faults_are_one_line_tool_errors(settings, monkeypatch):
    from mcp import Client

    from rag import api, mcpserver

    async def go() -> tuple:
        async with Client(mcpserver.build(settings)) as client:
            empty = await client.call_tool("search", {"question": QUESTION})
            monkeypatch.setattr(api.Engine, "ask", lambda *a, **k: 1 / 0)
            crash = await client.call_tool("ask", {"question": QUESTION})
            return empty, crash

    empty, crash = run(go)
    assert empty.is_error and "is empty. Ingest documents first: `python -m rag ingest FOLDER`" in empty.content[0].text
    assert crash.is_error and "Traceback" not in crash.content[0].text
    assert crash.content[0].text.startswith("The ask failed unexpectedly (ZeroDivisionError)")


def test_http_beyond_loopback_needs_a_key_or_no_auth(capsys, monkeypatch):
    from rag.access import api_key_for
    from rag.cli import main

    monkeypatch.delenv("RAG_API_KEY", raising=False)
    assert main(["mcp", "--http", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --host 0.0.0.0 makes the MCP server reachable") and "RAG_API_KEY" in err
    assert "--no-auth" in err and "Traceback" not in err
    assert api_key_for("0.0.0.0", 1, "", no_auth=True)[1].startswith("WARNING: serving the API on 0.0.0.0:1 with no API key")
    assert api_key_for("127.0.0.1", 1, "k", no_auth=False) == ("k", "")  # a key set is always required


def test_a_taken_port_is_one_clear_sentence(capsys):
    import socket

    from rag.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["mcp", "--http", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: Cannot serve on 127.0.0.1:{port} (Address already in use)") and "--port" in err


# Subprocesses: the real server, spawned as a client would, under the network guard.

@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> tuple[Path, Path]:
    """The seed corpus ingested into a Chroma index on disk: (corpus, store)."""
    root = tmp_path_factory.mktemp("mcp")
    corpus = seed_folder(root)
    store = root / "ix"
    report = rag.ingest(corpus, settings=rag.Settings.from_env(corpus=corpus, store=store, answerer="extractive"))
    assert report.chunks_total > 0
    return corpus, store


def guarded(argv: list[str]) -> list[str]:
    """``python -m rag *argv`` with the network guard installed first."""
    script = ("import netguard; netguard.install()\nimport runpy, sys\n"
              f"sys.argv = ['rag', *{argv!r}]\nrunpy.run_module('rag', run_name='__main__', alter_sys=True)\n")
    return ["-c", script]


@pytest.mark.full
def test_stdio_with_the_sdk_client(indexed, tmp_path):
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    corpus, store = indexed
    log = tmp_path / "net.log"
    log.touch()
    env = {k: v for k, v in clean_env(log).items() if k.startswith(("NETGUARD", "PYTHONPATH"))}
    server = StdioServerParameters(command=sys.executable, args=guarded(["--store", str(store), "mcp"]),
                                   env={**env, "RAG_ANSWERER": "extractive"}, cwd=str(ROOT))

    async def go() -> None:
        async with Client(stdio_client(server, errlog=errlog), read_timeout_seconds=300) as client:
            await exercise(client, corpus)

    with open(tmp_path / "stderr.log", "w") as errlog:
        run(go)
    assert "Traceback" not in (tmp_path / "stderr.log").read_text()
    assert log.read_text() == "", f"the server used the network:\n{log.read_text()}"


@pytest.mark.full
def test_streamable_http_with_the_sdk_client_and_a_key(indexed, tmp_path):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    corpus, store = indexed
    port, key = free_port(), "test-key-7f3a"
    log = tmp_path / "net.log"
    log.touch()
    env = {**clean_env(log), "RAG_ANSWERER": "extractive", "RAG_API_KEY": key}
    out = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, *guarded(["--store", str(store), "mcp", "--http", "--port", str(port)])],
                            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.time() + 120
        while True:  # up when it answers; without the key that answer is 401
            try:
                urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=2)
                raise AssertionError("answered without the key")
            except urllib.error.HTTPError as e:
                assert e.code == 401 and e.headers["WWW-Authenticate"] == "Bearer"
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f"server did not start:\n{(tmp_path / 'server.log').read_text()[-3000:]}")
                time.sleep(0.5)

        async def go() -> None:
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=300)
            async with Client(streamable_http_client(url, http_client=http)) as client:
                await exercise(client, corpus)

        run(go)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        out.close()
    text = (tmp_path / "server.log").read_text()
    assert f"MCP server at {url} (Bearer token required)" in text and "Traceback" not in text
    assert log.read_text() == "", f"the server used the network:\n{log.read_text()}"


@pytest.mark.full
def test_the_docs_client_example_runs(indexed, tmp_path):
    store = indexed[1]
    docs = (ROOT / "docs" / "usage.md").read_text(encoding="utf-8")
    section = docs.split("\n## MCP server\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    code, n = re.subn(r'^STORE = "vectorstore"', f"STORE = {str(store)!r}", code, flags=re.MULTILINE)
    code, m = re.subn(r'^ANSWERER = "auto"', 'ANSWERER = "extractive"', code, flags=re.MULTILINE)
    assert n == m == 1, "the example's STORE and ANSWERER lines changed: update this test"
    (tmp_path / "client.py").write_text(code)
    done = subprocess.run([sys.executable, str(tmp_path / "client.py")], capture_output=True, text=True,
                          timeout=300, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "['search', 'ask']" and "Umerov" in lines[1]
    assert re.search(r"^\[1\] article.txt characters \d+-\d+: .*Umerov", done.stdout, re.MULTILINE)
    assert re.search(r"^article.txt:\d+-\d+ score \d\.\d\d$", done.stdout, re.MULTILINE)
