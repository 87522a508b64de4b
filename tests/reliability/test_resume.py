"""Item 3: `python -m rag ingest` SIGKILLed half-way through a large file resumes from its last batch.

The killed process committed three batches of the file (64 chunks each, RAG_TEST_KILL_AT=write:3);
the next ingest embeds only the chunks not stored yet, and leaves exactly the folder's chunks in
Chroma and in the keyword file (tests/test_crash.py keeps covering kills at other points).
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

import rag
from rag.keyword import KeywordFile
from rag.store import file_states
from reliability_kit import env
from test_crash import chroma_ids
from test_sync import expected_ids

pytestmark = pytest.mark.full


def test_an_ingest_killed_half_way_through_a_large_file_resumes_from_its_last_batch(tmp_path, corpus):
    lines = [f"Survey entry {i}: the {animal} of district {i} was counted {i % 9 + 1} times near marker {i * 13}."
             for i, animal in zip(range(1600), ["heron", "otter", "lynx", "vole", "stoat"] * 400)]
    (corpus / "survey.txt").write_text("\n".join(lines) + "\n")  # ~300 chunks
    s = rag.Settings.from_env(corpus=corpus, store=tmp_path / "ix", answerer="extractive")
    want = expected_ids(corpus, s)
    assert len(want) > 5 * 64

    proc = subprocess.run([sys.executable, "-m", "rag", "--store", str(s.store), "ingest", "--quiet", str(corpus)],
                          capture_output=True, text=True, timeout=900, env=env(RAG_TEST_KILL_AT="write:3"))
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    kept = chroma_ids(s)
    assert len(kept) == 3 * 64 and kept <= want  # three batches committed before the kill

    engine = rag.engine(settings=s)
    embedded: list[str] = []
    real = engine.embedder.embed
    engine.embedder.embed = lambda texts: embedded.extend(texts) or real(texts)  # type: ignore[method-assign]
    try:
        report = rag.ingest(corpus, settings=s)
    finally:
        del engine.embedder.embed
    assert len(embedded) == len(want) - len(kept)  # resumed: nothing embedded twice
    assert report.chunks_total == len(want) and chroma_ids(s) == want
    assert KeywordFile(engine.keywords.path.parent, s.collection).open().ids() == want
    assert all(f.complete for f in file_states(engine.store).values())
    assert "lynx" in rag.ask("Which animal of district 1502 was counted?", settings=s).text
