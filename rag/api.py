"""The Python API: ``ingest`` a folder, ``ask`` a question. The CLI, the UI and the eval use these.

An ``Engine`` holds one store, its keyword index, the embedder, the retriever and the settings;
engines are cached per settings, so repeated calls reuse the loaded models and open indexes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from .answer import last_answer, make_answerer
from .embed import get_embedder
from .errors import EmptyIndexError, ModelError, QuestionError
from .followup import is_followup, turns
from .followup import standalone as rewrite_followup
from .index import IndexStatus, Progress, status, sync
from .keyword import KeywordFile
from .retrieve import Retriever, keep_close, make_retriever
from .settings import Settings
from .store import Store
from .types import Answer, IngestReport

log = logging.getLogger(__name__)


class Engine:
    """Everything needed to ingest into and answer from one index."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.store, settings.collection, settings.chroma_url, settings.cache_dir)
        self.keywords = KeywordFile(self.store.local_dir, settings.collection)
        self.embedder = get_embedder()
        self._lock = threading.Lock()  # one ingest at a time per engine (the file lock in sync covers processes)
        self._rewrites: dict[tuple, str] = {}  # the UI asks standalone() and then ask_stream(): rewrite once
        self._retriever = self._make_retriever()

    def _make_retriever(self) -> Retriever:
        s = self.settings
        return make_retriever(s.retriever, self.store, self.embedder, self.keywords, s.hybrid_weight, s.candidates)

    @property
    def retriever(self) -> Retriever:
        """The retriever, rebuilt over a fresh client when another process synced the index since."""
        if self.store.refresh():
            self.keywords.repair(self.store)  # in server mode the local keyword file may be behind
            self._retriever = self._make_retriever()
        return self._retriever

    def status(self) -> IndexStatus:
        """Corpus, location (folder or server URL), documents, chunks and last sync time of the index."""
        return status(self.store, self.settings.corpus)

    def answerer_name(self) -> str:
        """Which answerer 'auto' (or the configured one) will use, for the UI and logs."""
        return make_answerer(self.settings, self.embedder).name

    def warm_up(self) -> None:
        """Load the local model now (under 'auto', a failure is logged and answering falls back)."""
        answerer = make_answerer(self.settings, self.embedder)
        model = getattr(answerer, "model", None)
        if model is not None and hasattr(model, "load"):
            try:
                model.load()
            except ModelError as e:
                if self.settings.answerer != "auto":
                    raise
                log.warning("the local model is unavailable, answers will be extractive: %s", e)

    def ingest(self, corpus: str | Path | None = None, progress: Progress | None = None) -> IngestReport:
        with self._lock:
            return sync(Path(corpus or self.settings.corpus), self.store, self.settings, self.embedder, progress,
                        self.keywords)

    def ask(self, question: str, history: list | None = None, answerer: str | None = None, k: int | None = None) -> Answer:
        return last_answer(self.ask_stream(question, history, answerer, k))

    def standalone(self, question: str, history: object, answerer: str | None = None) -> str:
        """The question to search for: a follow-up rewritten with ``history``, else ``question`` as is.

        ``history``: earlier turns, oldest first, as chat messages ``[{"role", "content"}, ...]``
        or ``(question, answer)`` pairs. When ``answerer`` (default: the setting) is a chat model
        it rewrites (median 4.4 s with the 1.5B model on 2 busy cores; checked, with a non-model
        fallback); otherwise names and key words are carried over from the previous turns.
        Questions that are not follow-ups cost nothing; a rewrite is remembered, so the UI can
        call this and then ``ask_stream`` with the same history for one model call.
        """
        question = str(question or "").strip()
        past = turns(history)
        if not is_followup(question, past):
            return question
        name = answerer or self.settings.answerer
        key = (question, tuple(past), name)
        if key not in self._rewrites:
            try:
                model = getattr(make_answerer(self.settings, self.embedder, name), "model", None)
            except ModelError:  # answering will say what is wrong; the rewrite does without
                model = None
            if len(self._rewrites) >= 64:
                self._rewrites.clear()
            self._rewrites[key] = rewrite_followup(question, past, model)
        return self._rewrites[key]

    def ask_stream(self, question: str, history: list | None = None, answerer: str | None = None,
                   k: int | None = None) -> Iterator[str | Answer]:
        """Yield the answer's text as the model writes it, then the checked ``Answer``.

        A follow-up is first rewritten with ``history`` (see ``standalone``); the rewrite is
        what is searched for and answered, and the Answer keeps both. Under 'auto', a model
        that fails to load or a server that does not answer falls back to the extractive
        answerer, and the Answer's ``answerer`` says why.
        """
        question = check_question(question, self.settings.max_question_chars)
        if self.store.count() == 0:
            raise EmptyIndexError(
                f"The index at {self.store.location} is empty. Ingest documents first: "
                f"`python -m rag ingest FOLDER` (a folder of .txt .md .pdf .docx .html or .csv files)."
            )
        name = answerer or self.settings.answerer
        searched = self.standalone(question, history, name)
        hits = keep_close(self.retriever.retrieve(searched, k or self.settings.top_k), self.settings.passage_margin)
        try:
            for ev in make_answerer(self.settings, self.embedder, name).stream(searched, hits):
                yield replace(ev, question=question, standalone=searched) if isinstance(ev, Answer) else ev
        except ModelError as e:
            if name != "auto":
                raise
            log.warning("falling back to the extractive answerer: %s", e)
            fallback = make_answerer(self.settings, self.embedder, "extractive").stream(searched, hits)
            yield from (replace(ev, question=question, standalone=searched, answerer=f"extractive, because: {e}")
                        if isinstance(ev, Answer) else ev for ev in fallback)


def check_question(question: object, limit: int) -> str:
    """The question, stripped; a clear error when it is empty or too long."""
    text = str(question or "").strip()
    if not text:
        raise QuestionError("The question is empty. Type a question about your documents.")
    if len(text) > limit:
        raise QuestionError(
            f"The question is {len(text):,} characters long; the limit is {limit:,}. "
            "Ask a shorter question (or raise max_question_chars)."
        )
    return text


_engines: dict[Settings, Engine] = {}
_engines_lock = threading.Lock()


def engine(store: str | Path | None = None, settings: Settings | None = None) -> Engine:
    """The cached engine for these settings and ``store`` (a folder; default: settings.store).

    The model and the embedder are shared by all engines; an engine is cheap.
    """
    s = settings or Settings.from_env()
    s = replace(s, store=Path(store if store is not None else s.store).resolve())
    with _engines_lock:
        if s not in _engines:
            _engines[s] = Engine(s)
        return _engines[s]


def ingest(path: str | Path | None = None, store: str | Path | None = None, *,
           settings: Settings | None = None, progress: Progress | None = None) -> IngestReport:
    """Sync the folder ``path`` (default: settings.corpus) into the index; returns what changed."""
    return engine(store, settings).ingest(path, progress)


def ask(question: str, history: list | None = None, store: str | Path | None = None, answerer: str | None = None, *,
        k: int | None = None, settings: Settings | None = None) -> Answer:
    """Answer ``question`` from the index, with citations, or refuse.

    ``answerer``: 'auto' (the default, via ``settings.answerer``), 'local', 'openai' or 'extractive'.

    ``history``: earlier turns, oldest first, as chat messages ``[{"role": "user"|"assistant",
    "content": str}, ...]`` or ``(question, answer)`` pairs. A follow-up ("who did he travel
    with?") is rewritten with it before retrieval; ``Answer.standalone`` is what was searched.
    Raises ``QuestionError`` / ``EmptyIndexError`` with what to do.
    """
    return engine(store, settings).ask(question, history, answerer, k)
