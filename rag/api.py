"""The Python API: ``ingest`` a folder, ``ask`` a question. The CLI, the UI and the eval use these.

An ``Engine`` puts the parts of one index together: the embedder, the vector store and
its keyword index, the search path (retriever, stages, margin) and the answerers, each
picked by the settings (rag/backends.py). Engines are cached per settings, so repeated
calls reuse the loaded models and open indexes.

    question -> follow-up rewrite -> search -> answerer -> Answer (checked citations)
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from .answer import Answerers, last_answer
from .coref import is_followup
from .embed import get_embedder
from .errors import EmptyIndexError, QuestionError
from .extract import describe
from .followup import standalone as rewrite_followup
from .followup import to_read, turns
from .index import status, sync
from .keyword import KeywordFile
from .retrieve import Retriever, make_retriever
from .search import Search, make_stages
from .settings import Settings
from .store import open_store
from .types import Answer, Hit, IndexStatus, IngestReport, Progress, SyncProgress


class Engine:
    """Everything needed to ingest into and answer from one index."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedder = get_embedder(settings)
        self.store = open_store(settings)
        self.keywords = KeywordFile(self.store.local_dir, settings.collection)
        self.answerers = Answerers(settings, self.embedder)
        self._lock = threading.Lock()  # one ingest at a time per engine (the file lock in sync covers processes)
        self.syncing: SyncProgress | None = None  # how far the running ingest is; None when none runs
        self._rewrites: dict[tuple, str] = {}  # the UI asks standalone() and then ask_stream(): rewrite once
        self._search = self._make_search()

    def _make_search(self) -> Search:
        s = self.settings
        retriever = make_retriever(self.store, self.embedder, self.keywords, s)
        return Search(retriever, make_stages(s, self.embedder), s.passage_margin)

    def _fresh(self) -> Search:
        """The search path, rebuilt over a fresh client when another process synced the index since."""
        if self.store.refresh():
            self.keywords.check(self.store)  # in server mode the local keyword file may be behind
            self._search = self._make_search()
        return self._search

    @property
    def retriever(self) -> Retriever:
        """The retriever the search path starts with (the eval scores it on its own)."""
        return self._fresh().retriever

    def search(self, question: str, k: int | None = None) -> list[Hit]:
        """The passages for ``question``: the one search path every caller uses (rag/search.py).

        Raises ``EmptyIndexError`` when there is nothing to search, ``QuestionError`` for an
        empty or over-long question, ``StoreError`` when the index cannot be read.
        """
        question = check_question(question, self.settings.max_question_chars)
        search = self._fresh()
        if self.store.count() == 0:
            raise EmptyIndexError(
                f"The index at {self.store.location} is empty. Ingest documents first: "
                f"`python -m rag ingest FOLDER` (a folder of {describe()} files)."
            )
        with self.store.guard():
            return search(question, k or self.settings.top_k)

    def status(self) -> IndexStatus:
        """Corpus, location (folder or server URL), documents, chunks and last sync time of the index."""
        with self.store.guard():
            return status(self.store, self.settings.corpus)

    def answerer_name(self) -> str:
        """Which answerer 'auto' (or the configured one) will use, for the UI and logs."""
        return self.answerers.get().name

    def warm_up(self) -> None:
        """Load the models now, so the first question does not wait (under 'auto' a model failure is logged)."""
        self.embedder.embed(["warm up"])
        self.answerers.warm_up()

    def ingest(self, corpus: str | Path | None = None, progress: Progress | None = None) -> IngestReport:
        """Sync ``corpus`` (default: the setting) into the index. One at a time per engine: a second
        call waits for the first (``busy`` says whether one runs, ``syncing`` how far it is)."""
        def track(p: SyncProgress) -> None:
            self.syncing = p
            if progress:
                progress(p)

        with self._lock:
            self.syncing = SyncProgress(0, 0, 0, "")
            try:
                return sync(Path(corpus or self.settings.corpus), self.store, self.settings, self.embedder, track,
                            self.keywords)
            finally:
                self.syncing = None

    def busy(self) -> bool:
        """True while an ingest runs in this engine (another call to ``ingest`` would wait for it)."""
        return self._lock.locked()

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
            if len(self._rewrites) >= 64:
                self._rewrites.clear()
            self._rewrites[key] = rewrite_followup(question, past, self.answerers.model(name))
        return self._rewrites[key]

    def answer_stream(self, question: str, hits: list[Hit], answerer: str | None = None) -> Iterator[str | Answer]:
        """Answer ``question`` from ``hits`` (already searched): text as it is written, then the ``Answer``."""
        return self.answerers.stream(question, hits, answerer)

    def ask_stream(self, question: str, history: list | None = None, answerer: str | None = None,
                   k: int | None = None) -> Iterator[str | Answer]:
        """Yield the answer's text as the model writes it, then the checked ``Answer``.

        A follow-up is first rewritten with ``history`` (see ``standalone``); the rewrite is
        what is searched for and answered (without carry-over's search key words: ``to_read``),
        and the Answer keeps both. Under 'auto', a model that fails to load or a server that
        does not answer falls back to the extractive answerer, and the Answer's ``answerer``
        says why.
        """
        question = check_question(question, self.settings.max_question_chars)
        searched, read, hits = self.prepare(question, history, answerer, k)
        for ev in self.answer_stream(read, hits, answerer):
            yield replace(ev, question=question, standalone=searched) if isinstance(ev, Answer) else ev

    def prepare(self, question: str, history: list | None = None, answerer: str | None = None,
                k: int | None = None) -> tuple[str, str, list[Hit]]:
        """The steps before the answer (the UI shows them as they come): the question searched for
        (``standalone``), the question the answerer reads (``to_read``) and the hits."""
        searched = self.standalone(question, history, answerer)
        return searched, to_read(searched, question), self.search(searched, k)

    def ask(self, question: str, history: list | None = None, answerer: str | None = None, k: int | None = None) -> Answer:
        return last_answer(self.ask_stream(question, history, answerer, k))


def check_question(question: object, limit: int) -> str:
    """The question, cleaned and stripped; a clear error when it is empty or too long.

    Characters no text can hold are dropped: lone UTF-16 surrogates (a browser can send
    half an emoji; they cannot be encoded, so the tokenizer and JSON fail on them) and
    control characters other than tab and newline.

    >>> check_question("  Who is " + chr(0xD83D) + " Witkoff?" + chr(0) + " ", 100)
    'Who is  Witkoff?'
    """
    text = clean_text(str(question or "")).strip()
    if not text:
        raise QuestionError("The question is empty. Type a question about your documents.")
    if len(text) > limit:
        raise QuestionError(
            f"The question is {len(text):,} characters long; the limit is {limit:,}. "
            "Ask a shorter question (or raise max_question_chars)."
        )
    return text


_UNSAYABLE = re.compile(r"[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f]")
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")  # terminal: "\x1b[2J"


def clean_text(text: str) -> str:
    r"""``text`` without terminal escape sequences, lone surrogates and control characters (tab and newline
    kept): what JSON and UTF-8 can carry, and no "[2J" left of a pasted escape.

    >>> clean_text("Who is\x00 Hnatov?\x1b[2J\x1b[1;31m" + chr(0xDC00))
    'Who is Hnatov?'
    """
    return _UNSAYABLE.sub("", _ESCAPE.sub("", text))


_engines: dict[Settings, Engine] = {}
_engines_lock = threading.Lock()


def engine(store: str | Path | None = None, settings: Settings | None = None, collection: str | None = None) -> Engine:
    """The cached engine for these settings and ``store`` (a folder; default: settings.store), or for the
    collection ``collection`` of that store (rag/collections.py; default: ``RAG_COLLECTION`` when no
    settings are given, else none).

    The models are shared by all engines of a process; an engine is cheap.
    """
    from .collections import chosen, settings_for

    s = settings or Settings.from_env()
    s = replace(s, store=Path(store if store is not None else s.store).resolve())
    s = settings_for(chosen(collection) if settings is None else collection, s)
    with _engines_lock:
        if s not in _engines:
            _engines[s] = Engine(s)
        return _engines[s]


def release(store: str | Path) -> bool:
    """Drop the cached engines of the index in folder ``store`` before it is deleted (a collection's), so
    one made there again opens afresh; False, dropping none, while one of them syncs."""
    where = Path(store).resolve()
    with _engines_lock:
        mine = [s for s in _engines if Path(s.store) == where]
        if any(_engines[s].busy() for s in mine):
            return False
        for s in mine:
            del _engines[s]
    return True


def ingest(path: str | Path | None = None, store: str | Path | None = None, *,
           settings: Settings | None = None, progress: Progress | None = None,
           collection: str | None = None) -> IngestReport:
    """Sync the folder ``path`` (default: settings.corpus, or the collection's folder) into the index;
    returns what changed."""
    return engine(store, settings, collection).ingest(path, progress)


def ask(question: str, history: list | None = None, store: str | Path | None = None, answerer: str | None = None, *,
        k: int | None = None, settings: Settings | None = None, collection: str | None = None) -> Answer:
    """Answer ``question`` from the index (or from collection ``collection``), with citations, or refuse.

    ``answerer``: 'auto' (the default, via ``settings.answerer``), 'local', 'openai' or 'extractive'.

    ``history``: earlier turns, oldest first, as chat messages ``[{"role": "user"|"assistant",
    "content": str}, ...]`` or ``(question, answer)`` pairs. A follow-up ("who did he travel
    with?") is rewritten with it before retrieval; ``Answer.standalone`` is what was searched.
    Raises ``QuestionError`` / ``EmptyIndexError`` with what to do.
    """
    return engine(store, settings, collection).ask(question, history, answerer, k)
