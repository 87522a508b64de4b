"""An OpenAI-compatible HTTP API over the engine: ``python -m rag serve``.

Chat front-ends and libraries that speak the OpenAI API (Open WebUI, LibreChat, editor
plug-ins, the ``openai`` client) can ask the documents through two routes:

- ``GET /v1/models`` lists ``rag`` (the index this server was started on) and every collection
  of its store (rag/collections.py) by name: the model a request names is the document set
  it is answered from;
- ``POST /v1/chat/completions``, streaming (server-sent events) or not. The last user
  message is the question; earlier user and assistant turns are the history a follow-up is
  rewritten with; system messages are ignored (the rules are the engine's, and document
  text stays data). The reply's text is the checked answer with its ``[n]`` markers and a
  "Sources" list quoting each cited passage; the same citations come as data in the
  response's extra ``citations`` field (source, page, start, end, quote), with
  ``refused``, ``answerer`` and ``standalone`` (the question searched for).

A stream sends the role at once and the checked answer when it is ready: a model's draft
is not streamed, because the checks can still change it (drop a marker, refuse), and a
stream cannot take back what it sent.

Errors come in the OpenAI shape (``{"error": {"message", "type", "code"}}``): 400 for a bad
request or question, 401 for a missing or wrong key, 404 for an unknown model, 503 when
the index or the model cannot answer, each with the engine's message saying what to do.
Loopback only by default; beyond it a key (``RAG_API_KEY``) or ``--no-auth`` (rag/access.py).
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations (``Request``) at run time.

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .api import check_question
from .errors import QuestionError, RagError
from .types import Answer

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .api import Engine

MODEL = "rag"


def citations(answer: Answer) -> list[dict[str, Any]]:
    """The answer's citations as plain data, numbered as the text's markers."""
    return [{"n": n, "source": c.source, "page": c.page, "start": c.start, "end": c.end, "quote": c.quote}
            for n, c in enumerate(answer.citations, 1)]


def content(answer: Answer) -> str:
    """The reply text: the answer, then each cited passage quoted with where it is.

    >>> from rag.types import Citation
    >>> a = Answer("Q?", "Poland [1].", False, [Citation("a.txt", 5, 20, "based in Poland", "id")])
    >>> print(content(a))
    Poland [1].
    <BLANKLINE>
    Sources:
    [1] a.txt, characters 5-20: “based in Poland”
    """
    if not answer.citations:
        return answer.text
    lines = [answer.text, "", "Sources:"]
    for c in citations(answer):
        where = c["source"] + (f", page {c['page']}" if c["page"] else "") + f", characters {c['start']}-{c['end']}"
        lines.append(f"[{c['n']}] {where}: \u201c{c['quote']}\u201d")
    return "\n".join(lines)


def _text(message: dict) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    value = message.get("content")
    if isinstance(value, list):
        return " ".join(p.get("text", "") for p in value if isinstance(p, dict) and p.get("type") == "text")
    return value if isinstance(value, str) else ""


def question_and_history(messages: Any) -> tuple[str, list[dict[str, str]]]:
    """The last user message, and the user/assistant turns before it.

    >>> question_and_history([{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Who?"},
    ...                       {"role": "assistant", "content": "Ana."}, {"role": "user", "content": "Why?"}])
    ('Why?', [{'role': 'user', 'content': 'Who?'}, {'role': 'assistant', 'content': 'Ana.'}])
    """
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise QuestionError("`messages` must be a non-empty list of {\"role\", \"content\"} objects.")
    if messages[-1].get("role") != "user":
        raise QuestionError("The last message must be the user's question (role \"user\").")
    turns = [{"role": m["role"], "content": _text(m)} for m in messages[:-1] if m.get("role") in ("user", "assistant")]
    return _text(messages[-1]), turns


def extra(answer: Answer) -> dict[str, Any]:
    """The fields a reply carries beyond OpenAI's: the citations as data, whether it refused, who answered,
    and the question searched for (a follow-up rewritten with the conversation)."""
    return {"citations": citations(answer), "refused": answer.refused, "answerer": answer.answerer,
            "standalone": answer.standalone or answer.question}


def _chunk(rid: str, created: int, model: str, delta: dict, finish: str | None = None, **extra: Any) -> str:
    body = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return f"data: {json.dumps(body)}\n\n"


def create_app(engine: "Engine", api_key: str | None = None) -> "FastAPI":
    """The FastAPI app serving ``engine``; every route needs ``Authorization: Bearer api_key`` when one is set."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, StreamingResponse

    app = FastAPI(title="Ask your documents: OpenAI-compatible API", docs_url=None, redoc_url=None)

    def error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status)

    @app.middleware("http")
    async def check_key(request: Request, call_next):  # type: ignore[no-untyped-def]
        if api_key is not None:
            sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not secrets.compare_digest(sent.encode(), api_key.encode()):
                return error(401, "Missing or wrong API key: send it as `Authorization: Bearer KEY` (the server's "
                                  "RAG_API_KEY).", "invalid_request_error", "invalid_api_key")
        return await call_next(request)

    from .api import engine as engine_for
    from .collections import list_all, settings_for

    def pick(model: object) -> "Engine":
        """The engine answering as ``model``: this server's index, or a collection of its store."""
        if model in (None, MODEL):
            return engine
        return engine_for(settings=settings_for(str(model), engine.settings))  # SettingsError: no such collection

    @app.get("/v1/models")
    def models() -> dict:
        names = [MODEL] + [c.name for c in list_all(engine.settings)]
        return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "rag"} for n in names]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):  # type: ignore[no-untyped-def]
        from starlette.concurrency import run_in_threadpool

        try:
            body = await request.json()
        except ValueError:
            return error(400, "The request body is not JSON.", "invalid_request_error")
        if not isinstance(body, dict):
            return error(400, "The request body must be a JSON object.", "invalid_request_error")
        try:
            name = str(body.get("model") or MODEL)
            chosen = pick(name)
        except RagError as e:
            return error(404, f"Unknown model {body.get('model')!r}: GET /v1/models lists the document sets this "
                              f"server answers from. ({e})", "invalid_request_error", "model_not_found")
        try:
            question, history = question_and_history(body.get("messages"))
            check_question(question, chosen.settings.max_question_chars)
        except QuestionError as e:
            return error(400, str(e), "invalid_request_error")
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if not body.get("stream"):
            try:
                answer = await run_in_threadpool(chosen.ask, question, history)
            except RagError as e:
                return error(503, str(e), "server_error")
            return {"id": rid, "object": "chat.completion", "created": created, "model": name,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content(answer)}}], **extra(answer)}

        def events() -> Iterator[str]:  # starlette runs a plain generator in a worker thread
            yield _chunk(rid, created, name, {"role": "assistant", "content": ""})  # the reply starts at once
            try:
                answer = chosen.ask(question, history)
            except RagError as e:
                yield f"data: {json.dumps({'error': {'message': str(e), 'type': 'server_error', 'code': None}})}\n\n"
                return
            for piece in content(answer).splitlines(keepends=True):
                yield _chunk(rid, created, name, {"content": piece})
            yield _chunk(rid, created, name, {}, "stop", **extra(answer))
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def serve(engine: "Engine", host: str, port: int, api_key: str | None) -> None:
    """Run the API with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(engine, api_key), host=host, port=port, log_level="warning")
