"""Crash safety: `python -m rag ingest` killed with SIGKILL at fixed points and at a random moment,
with files changed and deleted in between; the next ingest must leave exactly the folder's chunks.

The fixed points come from the test hook RAG_TEST_KILL_AT=stage:N (rag.index.crash_point).
Runs ~4 ingest processes on a generated corpus of 200 files (~1-2 min on 2 cores).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rag
from rag.chroma import EmbeddedChroma
from rag.keyword import KeywordFile
from rag.store import file_states
from test_sync import expected_ids

pytestmark = pytest.mark.full  # ingest processes killed on real Chroma

ANIMALS = ["heron", "badger", "otter", "lynx", "marten", "stoat", "vole", "wren"]


def make_corpus(folder: Path, n: int) -> None:
    """``n`` small files, one sentence pair each; every 25th is long enough for several chunks."""
    folder.mkdir()
    for i in range(n):
        animal = ANIMALS[i % len(ANIMALS)]
        text = f"Record {i}: the {animal} of district {i} weighs {i * 7} grams. It was counted on day {i % 28 + 1}.\n"
        if i % 25 == 0:
            text += "".join(f"Survey note {j} for district {i}: the {animal} crossed path {j} at dawn.\n" for j in range(40))
        (folder / f"r{i:04d}.txt").write_text(text)


def ingest(store: Path, corpus: Path, kill_at: str = "") -> subprocess.Popen:
    env = {**os.environ, "RAG_ANSWERER": "extractive", "RAG_TEST_KILL_AT": kill_at}
    return subprocess.Popen([sys.executable, "-m", "rag", "--store", str(store), "ingest", "--quiet", str(corpus)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finished(proc: subprocess.Popen) -> tuple[int, str]:
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out + err


def test_sigkill_at_any_point_then_ingest_gives_exactly_the_folder(tmp_path):
    corpus, store = tmp_path / "docs", tmp_path / "index"
    make_corpus(corpus, 200)
    s = rag.Settings.from_env(corpus=corpus, store=store, answerer="extractive")
    want = expected_ids(corpus, s)

    # 1. Killed after the third batch of vectors was computed, before it was written.
    rc, out = finished(ingest(store, corpus, "embed:3"))
    assert rc == -signal.SIGKILL, out
    partial = chroma_ids(s)
    assert 0 < len(partial) < len(want) and partial <= want

    # 2. Files deleted, changed and added, then killed at a random moment.
    (corpus / "r0001.txt").unlink()  # already indexed
    (corpus / "r0199.txt").unlink()  # not yet indexed
    (corpus / "r0002.txt").write_text("Record 2 was rewritten: the heron moved to district 99.\n")
    (corpus / "extra.md").write_text("An extra file about the kingfisher of district 500.\n")
    seed = random.randrange(10**6)
    proc = ingest(store, corpus)
    sqlite = store / "chroma.sqlite3"
    before = sqlite.stat().st_mtime_ns
    while proc.poll() is None and sqlite.stat().st_mtime_ns == before:  # wait until it writes
        time.sleep(0.01)
    time.sleep(random.Random(seed).uniform(0, 1.0))
    proc.send_signal(signal.SIGKILL)
    rc, out = finished(proc)
    print(f"random kill (seed {seed}): exit {rc}")

    # 3. Half the files changed (all need re-embedding); killed with the first batch of new chunks
    #    written and the chunks they replace not yet deleted.
    for path in sorted(corpus.glob("r*.txt"))[::2]:
        path.write_text(path.read_text() + "A second count confirmed it.\n")
    rc, out = finished(ingest(store, corpus, "write:1"))
    assert rc == -signal.SIGKILL, out

    # 4. One more file deleted; the next ingest completes and repairs everything.
    (corpus / "r0100.txt").unlink()
    rc, out = finished(ingest(store, corpus))
    assert rc == 0, out
    want = expected_ids(corpus, s)
    col = rag.engine(settings=s).store.collection()
    got = col.get(include=[])["ids"]
    assert len(got) == len(set(got)) == col.count() == len(want)
    assert set(got) == want
    assert KeywordFile(store, s.collection).open().ids() == want
    files = file_states(rag.engine(settings=s).store)
    assert len(files) == 200 - 3 + 1 and all(f.complete for f in files.values())

    again = rag.ingest(corpus, settings=s)
    assert not again.changed and len(again.unchanged) == len(files)
    answer = rag.ask("Where did the heron of record 2 move?", settings=s)
    assert answer.citations and answer.citations[0].source == "r0002.txt"
    assert rag.ask("What about the kingfisher of district 500?", settings=s).citations[0].source == "extra.md"


def chroma_ids(s: rag.Settings) -> set[str]:
    """Chroma's ids as a new store (its own client) reads them."""
    col = EmbeddedChroma(s.store, s.collection, s.embed_space).collection()
    return set(col.get(include=[])["ids"]) if col is not None else set()
