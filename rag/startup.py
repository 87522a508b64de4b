"""The web app's start in the background: the page answers at once, the models load and the folder syncs behind it.

app.py starts serving first and then calls ``Startup.start()``. A worker thread loads
(the engine, the embedder and the answer model, then opens the index with one search, so
a missing model, a damaged index or an unreachable Chroma server is found now, and the
keyword index and the vectors are in memory before the first question: at 100k chunks
that search takes ~30 s, eval/results/scale-bench.md) and then runs the start-up
sync of the corpus folder (a no-op taking well under a second when nothing changed).
Meanwhile ``line()`` gives the status line ("Loading the models…", then the sync's
progress, then the index's usual line), and a question waits in ``wait()`` and is answered
as soon as the models are loaded; it waits for the sync too only when the index is still
empty (the first start on a folder), since it could find nothing before that.

A failure while loading is kept as the ``RagError`` that says what to do: the status line
and the chat show it, never a traceback, and the next question (or upload, or Re-sync)
tries loading again, so a Chroma server started late or a model installed since is picked
up without a restart. A failed start-up sync (a full disk, a missing folder) leaves the
models loaded and the existing index answering; the status line says what failed until a
sync succeeds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import EmptyIndexError, IngestBusyError, RagError
from .present import index_status, md_escape, sync_line

if TYPE_CHECKING:
    from .api import Engine
    from .settings import Settings

log = logging.getLogger("rag.app")

LOADING, SYNCING, READY, FAILED = "loading", "syncing", "ready", "failed"

WAIT_MODELS = "⏳ Loading the models, the answer follows…"
WAIT_FIRST_SYNC = "⏳ Indexing the documents for the first time, the answer follows…"
WAIT_MODELS_SYNC = "⏳ Waiting for the models to load; this sync starts after them."


class Startup:
    """Loads one engine in a worker thread, then syncs its corpus; says how far it is and waits for it."""

    def __init__(self, settings: Settings, sync: bool = True) -> None:
        self.settings = settings
        self.sync = sync
        self.stage = LOADING
        self.failure: RagError | None = None  # why loading failed; cleared by the next try
        self.sync_error = ""  # why the start-up sync failed ("" when it did not); cleared by a good sync
        self.seconds: dict[str, float] = {}  # how long each stage took: 'loaded', 'synced' (since start())
        self._engine: Engine | None = None
        self._loaded = threading.Event()  # loading ended: the engine is usable, or ``failure`` says why not
        self._synced = threading.Event()  # the start-up sync ended (done, failed or skipped)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> Startup:
        """Start loading (again, after a failure) in a worker thread; a no-op while it runs or once loaded."""
        with self._lock:
            if (self._thread is not None and self._thread.is_alive()) or self._engine is not None:
                return self
            self.stage, self.failure = LOADING, None
            self._loaded.clear()
            self._synced.clear()
            self._thread = threading.Thread(target=self._run, daemon=True, name="startup")
            self._thread.start()
        return self

    def _run(self) -> None:
        t0 = time.perf_counter()
        try:
            engine = self._load()
        except RagError as e:
            self._fail(e)
            return
        except Exception as e:  # the log has the traceback; the UI one sentence
            log.exception("loading the models failed")
            self._fail(RagError(f"Loading the models failed ({type(e).__name__}: {e}). Details are in the server log."))
            return
        self.seconds["loaded"] = time.perf_counter() - t0
        log.info("models loaded in %.1f s; answerer: %s", self.seconds["loaded"], engine.answerer_name())
        self._engine = engine  # first: a status line asked in between finds the engine of the stage it reads
        self.stage = SYNCING
        self._loaded.set()
        try:
            if self.sync:
                self._sync(engine)
        finally:
            self.seconds["synced"] = time.perf_counter() - t0
            self.stage = READY
            self._synced.set()

    def _load(self) -> Engine:
        delay = float(os.environ.get("RAG_TEST_LOAD_DELAY") or 0)  # test hook: a slow machine, to test the order
        if delay:
            time.sleep(delay)
        from .api import engine

        eng = engine(settings=self.settings)
        eng.warm_up()  # the embedder and the answerer's model
        try:  # opens the index (a damaged folder or an unreachable server is found here) and loads its keyword
            eng.search("warm up", 1)  # index and its vectors, so the first question does not pay for them
        except EmptyIndexError:
            pass  # a first start: the start-up sync fills it
        return eng

    def _fail(self, error: RagError) -> None:
        log.error("error: %s", error)
        self.failure = error
        self.stage = FAILED
        self._loaded.set()
        self._synced.set()

    def _sync(self, engine: Engine) -> None:
        try:
            report = engine.ingest()
        except IngestBusyError as e:  # another process is syncing: serve; its result shows when it is done
            log.warning("%s", e)
            return
        except RagError as e:
            self.sync_error = str(e)
            log.error("error: the start-up sync failed: %s", e)
            return
        except Exception as e:
            log.exception("the start-up sync failed")
            self.sync_error = f"The start-up sync failed ({type(e).__name__}: {e}). Details are in the server log."
            return
        self.sync_error = ""
        log.info("index: %s", report.summary())
        for source, reason in report.skipped:
            log.info("  skipped %s: %s", source, reason)

    def loaded(self) -> bool:
        """True once the models are loaded; after a failed load it starts another try and says False."""
        if self.stage == FAILED:
            self.start()
        return self._engine is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for loading to end (well or not); True when it has."""
        return self._loaded.wait(timeout)

    def engine(self) -> Engine:
        """The loaded engine; raises the loading failure (a ``RagError``); waits while loading.

        It does not try again after a failure: ``loaded()`` does, and callers ask it first."""
        self._loaded.wait()
        if self._engine is None:
            raise self.failure or RagError("The models are not loaded.")
        return self._engine

    def first_sync(self) -> bool:
        """True while the start-up sync runs into an empty index: a question would find nothing yet."""
        if self._synced.is_set() or self._engine is None:
            return False
        with self._engine.store.guard():
            return self._engine.store.count() == 0

    def wait_sync(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the start-up sync to end; True when it has."""
        return self._synced.wait(timeout)

    def waiting_to_sync(self, poll: float = 0.5) -> Iterator[str]:
        """For a sync from the UI (upload, Re-sync): what it waits for, every ``poll`` seconds, until it may
        start: the models, then the start-up sync. After a failed load it ends at once (``engine()`` raises)."""
        if not self.loaded():
            yield WAIT_MODELS_SYNC
            while not self.wait(poll):
                yield WAIT_MODELS_SYNC
        while self.stage == SYNCING and self._engine is not None:
            yield sync_line(self._engine.syncing, waiting=True)
            self.wait_sync(poll)

    def done(self, ok: bool) -> None:
        """A sync from the UI ended; a good one clears the start-up sync's error from the status line."""
        if ok:
            self.sync_error = ""

    def line(self) -> str:
        """The status line: loading, syncing (how far), the failure, or the index's usual line."""
        if self.stage == LOADING:
            return "⏳ Loading the models…"
        if self.stage == FAILED:
            return f"⚠️ {md_escape(str(self.failure))}"
        engine = self._engine
        assert engine is not None
        if self.stage == SYNCING:
            return sync_line(engine.syncing)
        try:
            line = index_status(engine)
        except RagError as e:  # a damaged index or a lost server: the status line says so
            return f"⚠️ {md_escape(str(e))}"
        if self.sync_error:
            return f"⚠️ The start-up sync failed: {md_escape(self.sync_error)}\n\n{line}"
        return line

    def settled(self) -> bool:
        """True when the status line will not change by itself any more (loaded and synced)."""
        return self.stage == READY
