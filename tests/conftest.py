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

import shutil
import socket
import sys
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
