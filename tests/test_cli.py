"""The command line, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.full  # every test runs `python -m rag` as a subprocess


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAG_ANSWERER": "extractive", **(env or {})}
    return subprocess.run([sys.executable, "-m", "rag", *args], capture_output=True, text=True, timeout=300, env=env)


def test_help():
    out = run("--help")
    assert out.returncode == 0 and "ingest" in out.stdout and "ask" in out.stdout
    assert "question" in run("ask", "--help").stdout


def test_ingest_then_ask_with_citations(tmp_path, corpus):
    store = str(tmp_path / "ix")
    out = run("--store", store, "ingest", str(corpus))
    assert out.returncode == 0, out.stderr
    assert "2 added" in out.stdout
    assert "1 unchanged" not in out.stdout
    out = run("--store", store, "ask", "Which alliance does Kiev aspire to join?")
    assert out.returncode == 0, out.stderr
    assert "NATO" in out.stdout and "[1] article.txt, characters" in out.stdout
    out = run("--store", store, "ask", "--json", "Where could jets to defend Kiev be based?")
    data = json.loads(out.stdout)
    c = data["citations"][0]
    assert not data["refused"] and "Poland" in c["quote"]
    assert (corpus / c["source"]).read_text()[c["start"] : c["end"]] == c["quote"]
    assert "Traceback" not in out.stderr


def test_user_errors_are_one_line_messages(tmp_path, corpus):
    store = str(tmp_path / "ix")
    out = run("--store", store, "ask", "Who is Witkoff?")
    assert out.returncode == 2 and "empty" in out.stderr and "ingest" in out.stderr and "Traceback" not in out.stderr
    out = run("--store", store, "ingest", str(tmp_path / "missing"))
    assert out.returncode == 2 and "does not exist" in out.stderr
    run("--store", store, "ingest", str(corpus))
    out = run("--store", store, "ask", "   ")
    assert out.returncode == 2 and out.stderr.startswith("error: The question is empty")
