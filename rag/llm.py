"""Chat models that write answers: a packaged GGUF run in-process, or an OpenAI-compatible server.

Both satisfy ``ChatModel`` (one method: ``stream``); rag/llama.py wraps one as a llama-index
``LLM`` for llama-index pipelines.

The local model's GGUF comes from packaged wheels (rag/models.py) and runs in this process
with xllamacpp (prebuilt llama.cpp). Measured on 2 cores, Qwen2.5-Coder 1.5B Q4_K_M: load
3-4 s, prompt ~43 tokens/s, generation ~12 tokens/s, so the prompt dominates time to
first token and the answerer keeps its context small.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .errors import ModelError
from .models import model_file, spec

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


@dataclass(frozen=True)
class Completion:
    """A whole, non-streamed reply: its text and, per generated token, the log-probabilities
    of the model's best next tokens (before any grammar: tokens it forbids can be listed)."""

    text: str
    top_logprobs: list[dict[str, float]]


class ChatModel(Protocol):
    """Streams the reply to a chat, piece by piece."""

    name: str
    label: str  # what the UI shows as "answered by"

    def stream(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]: ...


def delta_text(chunk: dict[str, Any]) -> str:
    """The text a streamed chat-completion chunk adds (OpenAI's format, also llama.cpp's).

    >>> delta_text({"choices": [{"index": 0, "delta": {"content": "Mia"}}]})
    'Mia'
    """
    return "".join((c.get("delta") or {}).get("content") or "" for c in chunk.get("choices", []))


class LocalModel:
    """A GGUF model run in this process by xllamacpp; loaded on first use, then kept."""

    def __init__(self, name: str, model_dir: Path, n_ctx: int = 4096) -> None:
        self.name = name
        self.label = f"local {name}"
        self.model_dir = Path(model_dir)
        self.n_ctx = n_ctx
        self._server: Any = None
        self._lock = threading.Lock()  # llama.cpp runs one sequence at a time here (n_parallel=1)
        self.options: dict[str, Any] = {}  # extra llama.cpp request fields (the benchmark turns off prompt caching)

    def load(self) -> Any:
        if self._server is None:
            path = model_file(self.name, self.model_dir)
            try:
                import xllamacpp as xlc
            except ImportError:
                raise ModelError("The llama.cpp runtime is missing: `pip install xllamacpp==2026.10.11549` (or `make setup`).") from None
            p = xlc.CommonParams()
            p.model.path = str(path)
            p.n_ctx = self.n_ctx
            p.n_parallel = 1
            p.cpuparams.n_threads = p.cpuparams_batch.n_threads = os.cpu_count() or 2
            # llama.cpp busy-polls by default: on 2 cores that made generation 3-8x slower.
            p.cpuparams.poll = p.cpuparams_batch.poll = 0
            p.verbosity = -1
            p.hostnames = ["127.0.0.1"]  # its built-in HTTP endpoint stays on this machine
            try:
                self._server = xlc.Server(p)
            except Exception as e:
                raise ModelError(f"The model {self.name} failed to load from {path} ({e}). Delete that file to re-assemble it.") from e
        return self._server

    def stream(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]:
        server = self.load()
        pieces: queue.Queue[object] = queue.Queue()
        done = object()
        stopped = threading.Event()  # set when the reader stops (a Stop button): generation ends at the next token
        request = {"messages": list(messages), "max_tokens": max_tokens, "temperature": 0, "stream": True, **self.options}

        def on_chunk(chunk: Any) -> bool:
            data = json.loads(chunk) if isinstance(chunk, str) else chunk
            if "error" in data:
                pieces.put(ModelError(f"The model failed: {data['error']}"))
            elif text := delta_text(data):
                pieces.put(text)
            return stopped.is_set()  # True tells llama.cpp to stop this sequence

        def run() -> None:
            try:
                with self._lock:
                    server.handle_chat_completions(request, on_chunk)
            except Exception as e:  # surfaced to the consumer below
                pieces.put(e)
            finally:
                pieces.put(done)

        threading.Thread(target=run, daemon=True, name=f"llm-{self.name}").start()
        try:
            while (item := pieces.get()) is not done:
                if isinstance(item, Exception):
                    raise item if isinstance(item, ModelError) else ModelError(f"The model failed: {item}")
                yield str(item)
        finally:
            stopped.set()

    def complete(self, messages: Sequence[Message], max_tokens: int, grammar: str = "",
                 top_logprobs: int = 0) -> Completion:
        """One reply at once, optionally constrained by a llama.cpp GBNF ``grammar``, with the
        ``top_logprobs`` best next tokens of each generated token (rag/read.py uses both)."""
        request: dict[str, Any] = {"messages": list(messages), "max_tokens": max_tokens, "temperature": 0,
                                   **self.options}
        if grammar:
            request["grammar"] = grammar
        if top_logprobs:
            request.update(logprobs=True, top_logprobs=top_logprobs)
        server = self.load()
        try:
            with self._lock:
                out = server.handle_chat_completions(request)
        except Exception as e:
            raise ModelError(f"The model failed: {e}") from e
        out = json.loads(out) if isinstance(out, str) else out
        if "error" in out:
            raise ModelError(f"The model failed: {out['error']}")
        choice = out["choices"][0]
        tokens = ((choice.get("logprobs") or {}).get("content")) or []
        return Completion(choice["message"].get("content") or "",
                          [{t["token"]: t["logprob"] for t in tok.get("top_logprobs", [])} for tok in tokens])


class OpenAIModel:
    """Any server with an OpenAI-style ``/v1/chat/completions`` (vLLM, llama.cpp server, Ollama)."""

    def __init__(self, url: str, model: str = "", api_key: str = "", timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.name = model or "default"
        self.label = f"server {self.url}" + (f" ({model})" if model else "")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout

    def stream(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]:
        import httpx

        endpoint = self.url + ("/chat/completions" if self.url.endswith("/v1") else "/v1/chat/completions")
        body: dict[str, Any] = {"messages": list(messages), "max_tokens": max_tokens, "temperature": 0, "stream": True}
        if self.model:
            body["model"] = self.model
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            with httpx.stream("POST", endpoint, json=body, headers=headers, timeout=self.timeout) as r:
                if r.status_code != 200:
                    r.read()
                    raise ModelError(f"The model server at {endpoint} answered {r.status_code}: {r.text[:200]}")
                for line in r.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    if text := delta_text(json.loads(data)):
                        yield text
        except httpx.HTTPError as e:
            raise ModelError(
                f"Cannot reach the model server at {endpoint} ({type(e).__name__}: {e}). "
                "Start it, or fix RAG_LLM_URL, or use RAG_ANSWERER=extractive."
            ) from e


_local: dict[tuple[str, str], LocalModel] = {}
_local_lock = threading.Lock()


def local_model(name: str, model_dir: Path) -> LocalModel:
    """The process-wide instance of a local model (loaded once, reused by every question)."""
    spec(name)  # an unknown name is a ModelError now, not at the first question
    key = (name, str(model_dir))
    with _local_lock:
        if key not in _local:
            _local[key] = LocalModel(name, model_dir)
        return _local[key]
