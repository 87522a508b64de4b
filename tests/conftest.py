"""Shared fixtures: the real packaged embedding model, real Chroma in tmp_path, the seed corpus.

The model loads once per test session (~2 s); each test gets its own corpus and index folder.
"""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_88e0a58a207d25a9.txt"
sys.path.insert(0, str(ROOT / "eval"))

import rag  # noqa: E402  (sets the offline environment before anything heavy loads)


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


@pytest.fixture
def settings(tmp_path: Path, corpus: Path) -> rag.Settings:
    """Extractive answering: fast, deterministic; the model tests ask for the local model explicitly."""
    return rag.Settings.from_env(corpus=corpus, store=tmp_path / "index", answerer="extractive")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
