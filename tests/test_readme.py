"""The README's examples, run as written: the command line, Python and the OpenAI client (the MCP client
example in docs/usage.md is run by tests/test_mcp.py)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.full  # subprocesses with the real models


def block(after: str, lang: str) -> str:
    """The first ``lang`` code block of the README after the line that starts with ``after``."""
    text = (ROOT / "README.md").read_text()
    rest = text[text.index(after):]
    return re.search(rf"```{lang}\n(.*?)```", rest, re.S).group(1)


@pytest.fixture
def env(tmp_path):
    """The examples' environment: an index of their own, the extractive answerer (no model to wait for)."""
    return {**os.environ, "RAG_STORE": str(tmp_path / "ix"), "RAG_ANSWERER": "extractive"}


def test_the_command_line_examples(env):
    outputs = []
    for line in block("**Command line:**", "sh").strip().splitlines():
        argv = shlex.split(line, comments=True)
        assert argv[0] == ".venv/bin/python"
        r = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        outputs.append(r.stdout)
    ingest, ask, status, listed = outputs
    assert "1 added" in ingest and "Poland" in ask and "[1]" in ask and "1 documents, 7 chunks" in status
    assert "No collections" in listed


def test_the_python_example(env):
    r = subprocess.run([sys.executable, "-c", block("**Python:**", "python")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Umerov" in r.stdout and "False" in r.stdout


def test_the_openai_client_example(env, tmp_path):
    from conftest import free_port
    from test_serve import wait_up

    subprocess.run([sys.executable, "-m", "rag", "ingest", "seeds"], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "rag", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(server, f"http://127.0.0.1:{port}/v1")
        code = block("**OpenAI-compatible API**", "python").replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "Kremlin aide" in r.stdout and "Sources:" in r.stdout and "'quote':" in r.stdout
    finally:
        server.terminate()
        server.wait(timeout=30)
