"""Answerers turn a question and its retrieved passages into an ``Answer``; ``Answerers`` picks one.

Every answerer has ``stream(question, hits)``: it yields the answer's text as it is
written (nothing, for one that does not write), then the checked ``Answer``. Three kinds:
the extractive answerer quotes the best sentence (rag/extractive.py); the packaged local
model reads, copying a short answer out of one retrieved sentence that is then quoted, and
a refusal score decides whether to answer at all (rag/read.py); a model behind an
OpenAI-compatible server writes and code checks (rag/generate.py), since a bigger model
writes well and such a server gives no grammar or log-probabilities to read with.

``Answerers`` (one per engine; each answerer built once, on first use) owns the choice:
'auto' is the server at ``llm_url`` when one is set, else the local model when its
packages are installed, else extractive; and under 'auto' a model that fails to load or
a server that stops answering falls back to the extractive answerer, with the reason in
``Answer.answerer``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from .errors import ModelError, SettingsError
from .extractive import ExtractiveAnswerer, SentenceScorer
from .types import Answer, Hit

if TYPE_CHECKING:
    from .embed import Embedder
    from .llm import ChatModel
    from .settings import Settings

log = logging.getLogger(__name__)

ANSWERERS = ("auto", "local", "openai", "extractive")


class Answerer(Protocol):
    """Writes an answer from retrieved passages: text pieces as they are written, then the ``Answer``."""

    name: str

    def stream(self, question: str, hits: list[Hit]) -> Iterator[str | Answer]: ...


def last_answer(events: Iterable[str | Answer]) -> Answer:
    """Drain an answer stream and return its final ``Answer``."""
    final = None
    for event in events:
        if isinstance(event, Answer):
            final = event
    if final is None:
        raise RuntimeError("the answer stream ended without an Answer")
    return final


class Answerers:
    """The answerers of one engine, by name; 'auto' and the fallbacks are decided here."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.extractive = ExtractiveAnswerer(SentenceScorer(embedder), settings.min_score)
        self._built: dict[str, Answerer] = {"extractive": self.extractive}
        self._lock = threading.Lock()

    def resolve(self, name: str | None = None) -> str:
        """The answerer ``name`` (default: the setting) stands for: 'auto' becomes one of the others."""
        name = name or self.settings.answerer
        if name not in ANSWERERS:
            raise SettingsError(f"Unknown answerer {name!r}; choose one of: {', '.join(ANSWERERS)} "
                                "(setting `answerer`, env RAG_ANSWERER).")
        if name == "auto":
            from .models import installed

            return "openai" if self.settings.llm_url else "local" if installed(self.settings.llm_model) else "extractive"
        return name

    def get(self, name: str | None = None) -> Answerer:
        """The answerer called ``name`` (default: the setting), built on first use."""
        key = self.resolve(name)
        with self._lock:
            if key not in self._built:
                self._built[key] = self._build(key)
            return self._built[key]

    def _build(self, name: str) -> Answerer:
        from .generate import GenerativeAnswerer
        from .llm import OpenAIModel, local_model
        from .read import reading_answerer

        s = self.settings
        if name == "local":
            model = local_model(s.llm_model, s.model_dir)  # an unknown model name is a ModelError here
            return reading_answerer(model, self.extractive.scorer, s, f"{model.label}, reading")
        if not s.llm_url:
            raise SettingsError("answerer 'openai' needs a server: set RAG_LLM_URL (e.g. http://127.0.0.1:8080/v1).")
        server = OpenAIModel(s.llm_url, s.llm_api_model, s.llm_api_key)
        return GenerativeAnswerer(server, self.extractive, max_passages=s.llm_passages, max_tokens=s.llm_max_tokens,
                                  min_score=s.llm_min_score)

    def model(self, name: str | None = None) -> ChatModel | None:
        """The chat model behind answerer ``name``, if it has one that can be built (follow-ups use it)."""
        try:
            return getattr(self.get(name), "model", None)
        except ModelError:  # answering will say what is wrong; the caller does without
            return None

    def stream(self, question: str, hits: list[Hit], name: str | None = None) -> Iterator[str | Answer]:
        """``get(name).stream(question, hits)``; under 'auto', the extractive answer if the model fails."""
        asked = name or self.settings.answerer
        try:
            yield from self.get(asked).stream(question, hits)
        except ModelError as e:
            if asked != "auto":
                raise
            log.warning("falling back to the extractive answerer: %s", e)
            for ev in self.extractive.stream(question, hits):
                yield replace(ev, answerer=f"extractive, because: {e}") if isinstance(ev, Answer) else ev

    def warm_up(self) -> None:
        """Load the model of the configured answerer now (under 'auto', a failure is logged, not raised)."""
        try:
            model = getattr(self.get(), "model", None)
            if model is not None and hasattr(model, "load"):
                model.load()
        except ModelError as e:
            if self.settings.answerer != "auto":
                raise
            log.warning("the local model is unavailable, answers will be extractive: %s", e)
