"""The page the web app serves on its port while Gradio is still importing (~3.5 s of CPU, more on busy cores).

``python app.py`` checks its arguments and the login rule (rag/access.py) first, then
``Holding(host, port).start()`` binds the app's port with a tiny standard-library server
within ~0.3 s of the start, and only then imports Gradio and builds the UI. Until the app
is ready the port answers:

- a browser (``Accept: text/html``, any path, GET or HEAD): 200 and a static "starting"
  page that asks the same address every 0.3 s and reloads once the real app answers, so
  the gap while the port changes hands (connections refused for a fraction of a second)
  only delays the reload;
- anything else (a program, gradio_client, a POST): ``503 Service Unavailable`` with
  ``Retry-After: 1``, so a client that waits for the app to be up keeps waiting.

Every answer carries ``X-Rag-Starting: 1``, the real app's never do. The page holds no
data: nothing from the documents or the index is served before the app (and its login,
beyond loopback) is up. ``close()`` frees the port for Gradio (both sides set
SO_REUSEADDR, so connections just served do not block the bind). A port that cannot be
bound is left alone: Gradio then reports it as before.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType

log = logging.getLogger("rag.app")

HEADER = "X-Rag-Starting"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<noscript><meta http-equiv="refresh" content="2"></noscript>
<style>body {{ font-family: system-ui, sans-serif; margin: 3em auto; max-width: 40em; color: #333; }}</style>
</head><body><h2>{title}</h2>
<p id="starting">&#x23F3; Starting the app&hellip; this page opens it as soon as it is ready.</p>
<script>
(function poll() {{  // the real app's answer has no {header} header: then show it
  const again = () => setTimeout(poll, 300);
  fetch(location.href, {{cache: "no-store"}}).then((r) => r.headers.get("{header}") ? again() : location.reload(), again);
}})();
</script></body></html>
"""


class _Handler(BaseHTTPRequestHandler):
    server_version = "rag-starting"
    timeout = 5  # a client that sends nothing does not hold a thread for long
    page = b""

    def _answer(self, body: bool) -> None:
        browser = self.command in ("GET", "HEAD") and "text/html" in self.headers.get("Accept", "")
        data = self.page if browser else b"The app is starting; try again in a second.\n"
        self.send_response(200 if browser else 503)
        self.send_header("Content-Type", "text/html; charset=utf-8" if browser else "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header(HEADER, "1")
        if not browser:
            self.send_header("Retry-After", "1")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass  # no log line per poll


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a thread per request: a client that sends nothing (a browser's preconnect) holds
    # only its own thread, never the page or close(), which does not wait for it
    allow_reuse_address = True  # SO_REUSEADDR: Gradio binds the port right after close()


class Holding:
    """A "starting" page on ``host:port`` in a background thread until ``close()``."""

    def __init__(self, host: str, port: int, title: str = "Ask your documents") -> None:
        self.host, self.port, self.title = host, port, title
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Holding:
        """Bind and serve; when the port cannot be bound, do nothing (Gradio says why later)."""
        page = PAGE.format(title=self.title, header=HEADER).encode()
        handler = type("Handler", (_Handler,), {"page": page})
        try:
            family = socket.getaddrinfo(self.host or None, self.port, type=socket.SOCK_STREAM,
                                        flags=socket.AI_PASSIVE)[0][0]
            server = type("Server", (_Server,), {"address_family": family})
            self._server = server((self.host, self.port), handler)
        except OSError as e:
            log.debug("no starting page on %s:%d: %s", self.host, self.port, e)
            return self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="holding")
        self._thread.start()
        delay = float(os.environ.get("RAG_TEST_HOLD_DELAY") or 0)  # test hook: Gradio slower to come, to see the page
        if delay:
            time.sleep(delay)
        return self

    @property
    def serving(self) -> bool:
        return self._server is not None

    def close(self) -> None:
        """Stop answering and free the port (within ~0.05 s); requests already queued are answered."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.shutdown()
        for _ in range(64):  # connections already queued are answered, not reset
            if not select.select([server.socket], [], [], 0)[0]:
                break
            server.handle_request()
        server.server_close()


def lazy(name: str) -> ModuleType:
    """Module ``name``, imported on first use of an attribute (importlib's LazyLoader); at once if already imported.

    app.py keeps ``gr`` a module-level name (the handlers' ``gr.Request`` annotations resolve
    there) without paying for the import before the starting page is up.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
