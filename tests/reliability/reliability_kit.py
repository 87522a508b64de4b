"""What the reliability tests share: the app or the CLI in a subprocess, a Chroma server, and measuring a run.

Every test here is in the full tier (subprocesses, HTTP, real Chroma). The app runs with
``netguard`` installed, so a test also fails if it touches the network beyond loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
SECRET = "The vault code is 4471-ZEBRA. Keep it out of every index.\n"


def env(**extra: str) -> dict[str, str]:
    """The test environment: the repository and tests/ importable, extractive answers unless told."""
    path = os.pathsep.join([str(TESTS), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "RAG_ANSWERER": "extractive", "PYTHONPATH": path, **extra}


def app_process(tmp_path: Path, corpus: Path, *args: str, log_name: str = "app.log", **extra: str) -> subprocess.Popen:
    """app.py (with the network guard) on ``corpus``, index in ``tmp_path/ix``; its output in ``tmp_path/log_name``.

    ``RAG_TEST_HIDE=mod1,mod2`` in ``extra`` makes those modules unimportable in the app (a package missing)."""
    net = tmp_path / "net.log"
    net.touch()
    script = ("import netguard; netguard.install()\nimport os, runpy, sys\n"
              "for name in filter(None, os.environ.get('RAG_TEST_HIDE', '').split(',')):\n"
              "    sys.modules[name] = None  # as if that package were not installed\n"
              f"sys.argv = ['app.py', '--corpus', {str(corpus)!r}, '--store', {str(tmp_path / 'ix')!r}, *{list(args)!r}]\n"
              f"runpy.run_path({str(ROOT / 'app.py')!r}, run_name='__main__')\n")
    out = open(tmp_path / log_name, "w")
    return subprocess.Popen([sys.executable, "-c", script], env=env(NETGUARD_LOG=str(net), **extra), stdout=out,
                            stderr=subprocess.STDOUT, cwd=ROOT)


def wait_up(proc: subprocess.Popen, url: str, log: Path, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError as e:
            if not e.headers.get("X-Rag-Starting"):  # the starting page (rag/holding.py) says 503: not up yet
                return  # it answers (a login page may say 401)
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            raise AssertionError(f"app did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)


@contextmanager
def app(tmp_path: Path, corpus: Path, *args: str, **extra: str) -> Iterator[str]:
    """The app serving on a free loopback port; its URL. Stopped on exit; no network beyond loopback."""
    from conftest import free_port

    port = free_port()
    proc = app_process(tmp_path, corpus, "--port", str(port), *args, **extra)
    try:
        wait_up(proc, f"http://127.0.0.1:{port}/", tmp_path / "app.log")
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert (tmp_path / "net.log").read_text() == "", "the app used the network"


def reply(result: object) -> str:
    """The assistant's text in a /chat result."""
    content = result[0][-1]["content"]  # type: ignore[index]
    return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)


def cli(*args: str | bytes, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess:
    """``python -m rag ARGS`` (bytes arguments pass through undecoded, as a terminal would)."""
    return subprocess.run([sys.executable, "-m", "rag", *args], capture_output=True, text=True, timeout=timeout,
                          env=env(**extra), cwd=ROOT)


def measured(code: str, timeout: float = 600, **extra: str) -> dict:
    """Run Python ``code`` in a fresh process; its seconds and peak RSS (MB) as it reports them, plus its output."""
    wrapper = ("import json, resource, sys, time\nt0 = time.perf_counter()\n" + code +
               "\nprint('MEASURED ' + json.dumps({'seconds': time.perf_counter() - t0, "
               "'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n")
    out = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=timeout,
                         env=env(**extra), cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    line = [x for x in out.stdout.splitlines() if x.startswith("MEASURED ")][-1]
    return {**json.loads(line[9:]), "stdout": out.stdout}


def one_error_line(text: str, start: str) -> None:
    """``text`` is exactly one line, starting with ``start``, with no traceback."""
    assert "Traceback" not in text, text
    assert text.startswith(start) and text.count("\n") == 1, text


def settled_status(client: object, timeout: float = 300) -> str:
    """The app's status line once its background start is over (not ⏳ loading, not 🔄 syncing)."""
    deadline = time.time() + timeout
    while (line := client.predict(api_name="/status")).startswith(("⏳", "🔄")) and time.time() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.3)
    return line
