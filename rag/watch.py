"""Watch mode: keep the index in step with a folder as files are added, changed, renamed or deleted.

``watchfiles`` (the Rust ``notify`` watcher uvicorn uses) reports file events; they are
filtered (hidden files, editors' and office suites' temporary files, unsupported types)
and debounced into batches, and each batch runs one ordinary sync (rag/index.py). A sync
is incremental (unchanged files are hashed, not parsed or embedded), so a sync per batch
costs the changed files plus a walk of the folder, and keeps every guarantee of ingest:
crash safety, the corpus boundary, per-file limits and the one-sync-at-a-time lock.

Events that arrive while a sync runs are kept by the watcher and start the next sync, so
nothing written during an ingest is missed. A sync that finds the index busy (an ingest
from another process) is retried after ``RETRY`` seconds.

A rename is a deletion and an addition: the file's chunks keep their ids (they come from
content), so its vectors are not computed again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import IngestBusyError, RagError
from .types import IngestReport

if TYPE_CHECKING:
    from .api import Engine

log = logging.getLogger(__name__)

DEBOUNCE_MS = 400  # events closer than this are one batch (an editor's save is several events)
RETRY = 2.0  # seconds before a sync that found the index busy is tried again

# Temporary files of editors and office suites: vim's .swp/.swx and 4913, emacs' .#name and
# #name#, backup~ files, LibreOffice's .~lock.name#, Word's ~$name.docx, and downloads in flight.
_TEMP_SUFFIXES = (".swp", ".swx", ".swo", ".tmp", ".part", ".crdownload", ".download", "~")
_TEMP_PREFIXES = (".", "~$", "#")


def ignored(path: str | Path, corpus: Path, extensions: Iterable[str]) -> bool:
    """Whether an event on ``path`` cannot change the index: outside ``corpus``, hidden (any part),
    a temporary file, or a file type the readers do not take. Folders count (a deleted folder
    takes its files with it).

    >>> c, ext = Path("/docs"), (".txt", ".md")
    >>> [ignored(p, c, ext) for p in ("/docs/a.txt", "/docs/sub/b.md", "/docs/sub", "/docs/4913")]
    [False, False, False, True]
    >>> [ignored(p, c, ext) for p in ("/docs/.a.txt.swp", "/docs/~$report.docx", "/docs/.git/x.txt", "/etc/a.txt")]
    [True, True, True, True]
    """
    p = Path(path)
    try:
        parts = p.relative_to(corpus).parts
    except ValueError:
        return True
    if not parts or any(part.startswith(_TEMP_PREFIXES) for part in parts):
        return True
    name = parts[-1]
    if name.endswith(_TEMP_SUFFIXES) or name == "4913":
        return True
    suffix = p.suffix.lower()
    return bool(suffix) and suffix not in {e.lower() for e in extensions}


class Watcher:
    """Syncs ``corpus`` into ``engine``'s index now and after every batch of relevant file events.

    ``run()`` blocks until ``stop()`` (or ``stop_event``) is set; ``start()`` runs it in a daemon
    thread. ``last`` holds the last sync's report and end time, ``error`` the last failure's
    message (None once a sync succeeds again); ``on_sync`` is called after every sync.
    """

    def __init__(self, engine: Engine, corpus: str | Path | None = None, *, debounce_ms: int = DEBOUNCE_MS,
                 on_sync: Callable[[IngestReport], None] | None = None, on_error: Callable[[str], None] | None = None,
                 stop_event: threading.Event | None = None) -> None:
        self.engine = engine
        self.corpus = Path(corpus or engine.settings.corpus).resolve()
        self.debounce_ms = debounce_ms
        self.on_sync = on_sync
        self.on_error = on_error
        self.stop_event = stop_event or threading.Event()
        self.last: tuple[IngestReport, float] | None = None
        self.error: str | None = None
        self.syncs = 0
        self.ready = threading.Event()  # set once the watcher listens (events before that are caught by the first sync)
        self.thread: threading.Thread | None = None

    def start(self) -> Watcher:
        self.thread = threading.Thread(target=self.run, name="rag-watch", daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def run(self) -> None:
        import watchfiles

        if not self.corpus.is_dir():
            self._failed(f"Cannot watch {self.corpus}: it is not a folder. Point --corpus (or RAG_CORPUS) at a folder.")
            return
        extensions = self.engine.settings.extensions

        def relevant(_change: watchfiles.Change, path: str) -> bool:
            return not ignored(path, self.corpus, extensions)

        # The watcher starts listening before the first sync, so a change made during it is seen.
        events = watchfiles.watch(self.corpus, watch_filter=relevant, debounce=self.debounce_ms, step=50,
                                  stop_event=self.stop_event, rust_timeout=500, yield_on_timeout=True,
                                  raise_interrupt=False)
        pending = True  # the first sync brings the index in step with whatever happened while nobody watched
        for changes in events:
            self.ready.set()
            pending = pending or bool(changes)
            if pending and not self.stop_event.is_set():
                pending = not self._sync()
        self.ready.set()

    def _sync(self) -> bool:
        """One sync; False when it should be tried again (the index was busy)."""
        try:
            report = self.engine.ingest(self.corpus)
        except IngestBusyError as e:
            log.info("watch: %s; trying again in %.0f s", e, RETRY)
            self.stop_event.wait(RETRY)
            return False
        except RagError as e:
            self._failed(str(e))
            return True  # the next change tries again
        self.syncs += 1
        self.last, self.error = (report, time.time()), None
        if self.on_sync:
            self.on_sync(report)
        return True

    def _failed(self, message: str) -> None:
        self.error = message
        log.warning("watch: %s", message)
        if self.on_error:
            self.on_error(message)
