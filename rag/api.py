"""The Python API: ``ingest`` a folder, ``ask`` a question. The CLI, the UI and the eval use these.

An ``Engine`` holds one store, its keyword index, the embedder and the retriever; engines
are cached per (store folder, collection), so repeated calls reuse the loaded model and
open indexes.
"""

from __future__ import annotations

import threading
from pathlib import Path

from .answer import make_answerer
from .embed import get_embedder
from .errors import EmptyIndexError, QuestionError
from .index import Progress, sync
from .keyword import KeywordFile
from .retrieve import keep_close, make_retriever
from .settings import Settings
from .store import Store
from .types import Answer, IngestReport


class Engine:
    """Everything needed to ingest into and answer from one index."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.store, settings.collection)
        self.keywords = KeywordFile(settings.store, settings.collection)
        self.embedder = get_embedder()
        self._lock = threading.Lock()  # one ingest at a time per engine
        self.configure(settings)

    def configure(self, settings: Settings) -> None:
        """Adopt settings for the same index (e.g. another retriever or floor); cheap, nothing reloads."""
        self.settings = settings
        self.retriever = make_retriever(settings.retriever, self.store, self.embedder, self.keywords,
                                        settings.hybrid_weight, settings.candidates)

    def ingest(self, corpus: str | Path | None = None, progress: Progress | None = None) -> IngestReport:
        with self._lock:
            return sync(Path(corpus or self.settings.corpus), self.store, self.settings, self.embedder, progress,
                        self.keywords)

    def ask(self, question: str, history: list | None = None, answerer: str | None = None, k: int | None = None) -> Answer:
        question = check_question(question, self.settings.max_question_chars)
        if self.store.count() == 0:
            raise EmptyIndexError(
                f"The index in {self.settings.store} is empty. Ingest documents first: "
                f"`python -m rag ingest FOLDER` (a folder of .txt or .md files)."
            )
        hits = keep_close(self.retriever.retrieve(question, k or self.settings.top_k), self.settings.passage_margin)
        chosen = make_answerer(answerer or self.settings.answerer, self.embedder, self.settings.min_score)
        return chosen.answer(question, hits)


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


_engines: dict[tuple[str, str], Engine] = {}
_engines_lock = threading.Lock()


def engine(store: str | Path | None = None, settings: Settings | None = None) -> Engine:
    """The cached engine for ``store`` (a folder; default: settings.store)."""
    s = settings or Settings.from_env()
    if store is not None:
        s = Settings.from_env(**{**s.__dict__, "store": Path(store)})
    key = (str(Path(s.store).resolve()), s.collection)
    with _engines_lock:
        if key not in _engines:
            _engines[key] = Engine(s)
        elif _engines[key].settings != s:
            _engines[key].configure(s)  # same index, other retriever/answer settings: not a stale engine
        return _engines[key]


def ingest(path: str | Path | None = None, store: str | Path | None = None, *,
           settings: Settings | None = None, progress: Progress | None = None) -> IngestReport:
    """Sync the folder ``path`` (default: settings.corpus) into the index; returns what changed."""
    return engine(store, settings).ingest(path, progress)


def ask(question: str, history: list | None = None, store: str | Path | None = None, answerer: str = "auto", *,
        k: int | None = None, settings: Settings | None = None) -> Answer:
    """Answer ``question`` from the index, with citations, or refuse.

    ``history`` (earlier turns) is accepted for API stability; follow-up rewriting uses it
    in a later version. Raises ``QuestionError`` / ``EmptyIndexError`` with what to do.
    """
    return engine(store, settings).ask(question, history, answerer, k)
