"""The MCP server: the index's ``search`` and ``ask`` as tools for MCP clients (assistants, IDEs).

``python -m rag mcp`` serves over stdio (the client starts the process and talks on its
stdin/stdout; logs go to stderr); ``python -m rag mcp --http --port 8765`` serves streamable
HTTP at ``http://127.0.0.1:8765/mcp``. Built on the official ``mcp`` SDK (2.x, ``MCPServer``),
imported only here and only when serving, so ``import rag`` stays cheap.

Tools (each returns structured content, and the same as readable text):

- ``search(question, k=5)``: the passages, each with its file (``source``), ``page``, the
  character span ``start``/``end`` in the file's extracted text, ``score`` and ``text``.
- ``ask(question)``: the answer with ``[n]`` markers, ``refused``, ``answerer``, and the
  checked citations (``source``, ``page``, ``start``, ``end``, ``quote`` == the text at
  ``[start:end]``).

A ``RagError`` (empty question, empty index, unreachable store, ...) becomes a tool error
carrying its message, which says what to do; nothing else reaches the client, never a
traceback. Who may connect over HTTP follows the web UI's rule (rag/access.py): loopback by
default; beyond it the Bearer token ``RAG_API_KEY``, or ``--no-auth`` with a warning.
Nothing is downloaded: the models are the installed ones, loaded in the background at start.
"""

import hmac
import logging
import socket
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

from typing_extensions import TypedDict  # pydantic reads only this one on Python < 3.12

from .errors import RagError, SettingsError
from .settings import Settings

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

log = logging.getLogger(__name__)

NAME = "rag"
DEFAULT_PORT = 8765
PATH = "/mcp"
MAX_K = 50
INSTRUCTIONS = (
    "Answers questions from a private folder of documents, offline. `ask` returns an answer with [n] markers "
    "and the exact quotes it rests on (file, page, character offsets), or refuses when the documents do not say; "
    "`search` returns the best matching passages only. Quote the citations rather than paraphrasing them."
)


class Passage(TypedDict):
    """One retrieved passage: ``text`` is the file's extracted text at ``[start:end]``."""

    n: int
    source: str
    page: int | None
    start: int
    end: int
    score: float
    text: str


class SearchResult(TypedDict):
    """What ``search`` returns: the passages, best first."""

    question: str
    passages: list[Passage]


class CitationOut(TypedDict):
    """Marker ``[n]`` of the answer: ``quote`` is the file's extracted text at ``[start:end]``."""

    n: int
    source: str
    page: int | None
    start: int
    end: int
    quote: str


class Message(TypedDict):
    """An earlier turn of the conversation, for a follow-up question."""

    role: Literal["user", "assistant"]
    content: str


class AskResult(TypedDict):
    """What ``ask`` returns: the answer (or a refusal), who answered, and its checked citations."""

    question: str
    searched: str  # the question searched for: a follow-up rewritten with the history
    answer: str
    refused: bool
    answerer: str
    short: str
    confidence: float | None
    citations: list[CitationOut]


def _import_sdk() -> None:
    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError as e:
        raise SettingsError(f"The MCP server needs the mcp package ({e}): install it with "
                            "`pip install mcp==2.3.0` (it is in pyproject.toml's dependencies).") from e


def build(settings: Settings, warm: bool = False) -> "MCPServer":
    """The MCP server over the index ``settings`` names. Its engine and models load on the first call,
    or with ``warm`` in a background thread as soon as it serves (calls made meanwhile wait for it)."""
    _import_sdk()
    from mcp.server.mcpserver import MCPServer
    from mcp_types import CallToolResult, TextContent, ToolAnnotations

    from . import api
    from .present import answer_text

    @asynccontextmanager
    async def lifespan(_: object) -> AsyncIterator[dict[str, Any]]:
        if warm:  # started once the transport holds stdout: nothing a model prints at load can reach the protocol
            threading.Thread(target=run, args=("warm-up", lambda: api.engine(settings=settings).warm_up()),
                             name="rag-mcp-warm-up", daemon=True).start()
        yield {}

    server = MCPServer(NAME, title="Documents (offline RAG)", instructions=INSTRUCTIONS, log_level="WARNING",
                       lifespan=lifespan)
    one_at_a_time = threading.Lock()  # one model, one index: calls wait for each other (the UI queues likewise)
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                open_world_hint=False)

    def failed(message: str) -> CallToolResult:
        return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)

    def run(what: str, call: Any) -> Any:
        """``call()`` under the lock; a RagError's message, or a one-line notice for anything else, as a tool error."""
        try:
            with one_at_a_time:
                return call()
        except RagError as e:
            log.log(logging.WARNING if what == "warm-up" else logging.INFO, "%s: %s", what, e)
            return failed(str(e))
        except Exception as e:  # a fault not mapped to a RagError: its traceback stays in the server's log
            log.exception("%s failed", what)
            return failed(f"The {what} failed unexpectedly ({type(e).__name__}); the server's log (stderr) has "
                          "the details.")

    @server.tool(annotations=read_only, structured_output=True)
    def search(question: str, k: int = 5) -> Annotated[CallToolResult, SearchResult]:
        """Find the passages of the documents that best match `question` (k of them, best first).

        Each passage gives its file (`source`, relative to the documents folder), `page` (PDF),
        the character offsets `start`/`end` of `text` in the file's extracted text, and the
        retrieval `score`. Use `ask` for an answer with checked citations.
        """
        if not 1 <= k <= MAX_K:
            return failed(f"k must be between 1 and {MAX_K}, not {k}.")

        def go() -> CallToolResult:
            hits = api.engine(settings=settings).search(question, k)
            passages = [Passage(n=n, source=h.source, page=h.page, start=h.start, end=h.end,
                                score=round(float(h.score), 4), text=h.text) for n, h in enumerate(hits, 1)]
            result = SearchResult(question=question.strip(), passages=passages)
            return CallToolResult(content=[TextContent(type="text", text=_passages_text(passages))],
                                  structured_content=dict(result))

        return run("search", go)

    @server.tool(annotations=read_only, structured_output=True)
    def ask(question: str, history: list[Message] | None = None) -> Annotated[CallToolResult, AskResult]:
        """Answer `question` from the documents, with citations, or refuse when they do not say.

        `history` (optional): the earlier turns, oldest first, as `{"role": "user"|"assistant",
        "content": ...}`; a follow-up ("who did he meet?") is then searched as a whole question,
        returned as `searched`.

        `answer` carries [n] markers; `citations[n-1]` is the exact `quote` behind marker [n]:
        its file (`source`), `page` (PDF) and character offsets `start`/`end` in the file's
        extracted text. `refused` is true when the documents hold no answer (then say so;
        do not answer from elsewhere). `answerer` names who wrote the answer.
        """
        def go() -> CallToolResult:
            a = api.engine(settings=settings).ask(question, history)
            cites = [CitationOut(n=n, source=c.source, page=c.page, start=c.start, end=c.end, quote=c.quote)
                     for n, c in enumerate(a.citations, 1)]
            result = AskResult(question=a.question, searched=a.standalone or a.question, answer=a.text, refused=a.refused, answerer=a.answerer,
                               short=a.short, confidence=a.confidence, citations=cites)
            return CallToolResult(content=[TextContent(type="text", text=answer_text(a))],
                                  structured_content=dict(result))

        return run("ask", go)

    return server


def _passages_text(passages: list[Passage]) -> str:
    if not passages:
        return "No passages found."
    return "\n\n".join(f"[{p['n']}] {p['source']}" + (f", page {p['page']}" if p["page"] else "")
                       + f", characters {p['start']}-{p['end']} (score {p['score']:.2f})\n{p['text']}"
                       for p in passages)


def bearer_guard(app: Any, key: str) -> Any:
    """``app`` (ASGI) answering only requests that carry ``Authorization: Bearer <key>``; 401 otherwise."""
    expected = f"Bearer {key}".encode()

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # the lifespan runs the session manager: let it through
            await app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        if hmac.compare_digest(given, expected):
            await app(scope, receive, send)
            return
        body = (b'{"error": "unauthorized", "error_description": "send the key from RAG_API_KEY as '
                b'Authorization: Bearer <key>"}')
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return guarded


def serve(settings: Settings, http: bool = False, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
          no_auth: bool = False, api_key: str = "") -> None:
    """Serve until stopped: stdio (default) or streamable HTTP at ``http://host:port/mcp``.

    Over HTTP, ``host`` beyond loopback needs ``api_key`` (env RAG_API_KEY) or ``no_auth``,
    else ``SettingsError`` before anything is bound (rag/access.py, ``api_key_for``).
    """
    from .access import api_key_for

    if not http:
        build(settings, warm=True).run("stdio")
        return
    key, warning = api_key_for(host, port, api_key, no_auth, what="the MCP server")
    _import_sdk()
    sock = _bind(host, port)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    import anyio
    import uvicorn

    app = build(settings, warm=True).streamable_http_app(streamable_http_path=PATH, host=host)
    if key:
        app = bearer_guard(app, key)
    print(f"MCP server at http://{_url_host(host)}:{port}{PATH}" + (" (Bearer token required)" if key else ""),
          file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    anyio.run(lambda: uvicorn.Server(config).serve(sockets=[sock]))


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is one clear sentence, not uvicorn's log."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        raise SettingsError(f"Cannot serve on {host or '(all interfaces)'}:{port} ({e.strerror or e}): the port may "
                            "be taken by another server; pick another with --port.") from e
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else (host or "0.0.0.0")
