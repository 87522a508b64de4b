"""The starting page (rag/holding.py) over real HTTP on a loopback port: a browser gets the page, a program a 503
until the app is up, and the port is free for the app the moment it closes. The whole app's start, with the
page and then the real Gradio page on one port, is tests/test_app.py (full tier)."""

from __future__ import annotations

import socket
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import free_port
from rag.holding import HEADER, Holding, lazy

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def get(url: str, method: str = "GET", **headers: str):
    """(status, headers, body) of one request; an HTTP error status is an answer too."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers, method=method), timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@pytest.fixture
def holding():
    port = free_port()
    h = Holding("127.0.0.1", port).start()
    yield h
    h.close()


def test_a_browser_gets_the_starting_page_that_reloads_into_the_app(holding):
    assert holding.serving
    for path in ("/", "/?view=api"):  # any address the browser opened: it reloads that one
        status, headers, body = get(f"http://127.0.0.1:{holding.port}{path}", **BROWSER)
        page = body.decode()
        assert status == 200 and headers[HEADER] == "1" and headers["Cache-Control"] == "no-store"
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert "<title>Ask your documents</title>" in page and "Starting the app" in page
        assert f'r.headers.get("{HEADER}") ? again() : location.reload()' in page  # reloads once the app answers
        assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    status, headers, body = get(f"http://127.0.0.1:{holding.port}/", "HEAD", **BROWSER)
    assert status == 200 and body == b"" and headers[HEADER] == "1"


def test_a_program_gets_503_until_the_app_is_up(holding):
    url = f"http://127.0.0.1:{holding.port}"
    for path, method in (("/", "GET"), ("/config", "GET"), ("/gradio_api/info", "GET"), ("/gradio_api/queue/join", "POST")):
        status, headers, body = get(url + path, method)  # no Accept: text/html (urllib, gradio_client, a fetch)
        assert status == 503 and headers["Retry-After"] == "1" and headers[HEADER] == "1", (path, status)
        assert body == b"The app is starting; try again in a second.\n"
    status, _, _ = get(url + "/", "POST", **BROWSER)  # only a page is served: nothing is accepted
    assert status == 503


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"the app")

    def log_message(self, *args: object) -> None:
        pass


def test_closing_frees_the_port_for_the_app_at_once(holding):
    url = f"http://127.0.0.1:{holding.port}/"
    for _ in range(20):  # connections just answered (TIME_WAIT on this side) do not block the app's bind
        assert get(url, **BROWSER)[0] == 200
    holding.close()  # then the app binds with SO_REUSEADDR, as uvicorn and http.server do
    assert not holding.serving
    holding.close()  # twice is harmless
    with pytest.raises(OSError):  # nothing listens in between
        socket.create_connection(("127.0.0.1", holding.port), timeout=2).close()
    app = ThreadingHTTPServer(("127.0.0.1", holding.port), Hello)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    try:
        status, headers, body = get(url, **BROWSER)
        assert status == 200 and body == b"the app" and HEADER not in headers
    finally:
        app.shutdown()
        app.server_close()


def test_a_port_in_use_is_left_to_the_app_to_report():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        h = Holding("127.0.0.1", busy.getsockname()[1]).start()
        assert not h.serving
        h.close()


def test_lazy_imports_on_first_use(tmp_path, monkeypatch):
    (tmp_path / "slowmod.py").write_text("import sys\nsys.slowmod_ran = True\nVALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slowmod", raising=False)
    try:
        mod = lazy("slowmod")
        assert not hasattr(sys, "slowmod_ran")  # not run yet
        assert mod.VALUE == 42 and sys.slowmod_ran  # run on first use
        assert lazy("slowmod") is mod and lazy("json") is sys.modules["json"]
        with pytest.raises(ModuleNotFoundError):
            lazy("no_such_module_here")
    finally:
        sys.modules.pop("slowmod", None)
        if hasattr(sys, "slowmod_ran"):
            del sys.slowmod_ran
