"""One settings object, the same defaults everywhere (UI, CLI, Python API, eval).

Every field can be overridden by an environment variable ``RAG_<FIELD>`` (upper case),
and the CLI flags override those. Read it with ``Settings.from_env(**overrides)``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .errors import SettingsError
from .extract import READERS

# In a source checkout the defaults point at the repository's seeds/ and vectorstore/;
# an installed package falls back to the current folder.
_PKG_ROOT = Path(__file__).resolve().parent.parent
HOME = _PKG_ROOT if (_PKG_ROOT / "pyproject.toml").exists() else Path.cwd()

EMBED_MAX_TOKENS = 256  # MiniLM truncates past this many word-pieces, [CLS]/[SEP] included


@dataclass(frozen=True)
class Settings:
    corpus: Path = HOME / "seeds"
    """Folder of documents to ingest and answer from."""

    store: Path = HOME / "vectorstore"
    """Folder of the embedded Chroma database (unused when ``chroma_url`` is set)."""

    vector_store: str = "chroma"
    """Where vectors live: 'chroma' (embedded in ``store``, or the server at ``chroma_url``) or 'memory'
    (numpy, in this process only: tests and throwaway indexes). See rag/backends.py."""

    embedder: str = "minilm"
    """Embedding model: 'minilm' (all-MiniLM-L6-v2, packaged, fp32 on torch), 'minilm-int8' (the same model
    with int8 weights on onnxruntime) or 'openai' (the OpenAI-compatible server at ``embed_url``).
    Changing it builds a new index.

    int8 is not the default: 1.14-1.26x fp32's chunks/s on 2 shared cores (1.2x per CPU-second)
    where the rule asks 2x, and equal retrieval on every set but one Paul Graham question (hybrid
    hit@5 0.955 vs 0.977); its vectors are within cosine 0.998 of fp32's, and one question
    embeds in ~20 ms against 60-140 ms (eval/results/embed-bench.md)."""

    embed_url: str = ""
    """Base URL of an OpenAI-compatible embeddings server for embedder 'openai', e.g. http://127.0.0.1:8000/v1."""

    embed_model: str = ""
    """Model name sent to that server (empty: the server's default). Part of the index's name."""

    embed_api_key: str = ""
    """Bearer token for that server, if it wants one (never stored in the index)."""

    embed_timeout: float = 60.0
    """Seconds one embeddings request may take before the ingest or question stops with a message."""

    embed_query_prefix: str = ""
    """Text put before every question sent to the server (e.g. 'query: ' for e5 models served without one)."""

    embed_passage_prefix: str = ""
    """Text put before every chunk sent to the server (e.g. 'passage: ' for e5 models)."""

    chroma_url: str = ""
    """A Chroma server, e.g. http://127.0.0.1:8000 (``chroma run --path vectorstore``); empty: the embedded store."""

    cache_dir: Path = Path.home() / ".cache" / "rag"
    """Local state of server mode: the keyword index and the ingest lock, one folder per server URL + collection."""

    chunk_tokens: int = 128
    """Largest chunk, in the embedder's word-pieces (at most 254: 256 less [CLS] and [SEP]).

    128 (overlap 32) against 160/32, 96/16 and 254/32, hybrid MRR@10 on Paul Graham / Coda
    / project: 0.876 / 0.680 / 0.909 vs 0.857 / 0.662 / 0.921, 0.872 / 0.640 / 0.883 and
    0.893 / 0.677 / 0.913, sending 2,414 / 1,567 / 1,406 characters per question vs 2,997
    / 1,902 / 1,612 for 160 and about twice that for 254 (eval/results/chunking.md)."""

    chunk_overlap: int = 32
    """Word-pieces of whole sentences repeated from the end of one chunk at the start of the next."""

    top_k: int = 5
    """Passages retrieved per question."""

    answerer: str = "auto"
    """Who writes the answer: 'auto' (the server at llm_url if set, else the local model if
    installed, else extractive), 'local', 'openai' (the server at llm_url) or 'extractive'."""

    llm_model: str = "qwen2.5-coder-1.5b"
    """Local model: 'qwen2.5-coder-1.5b', 'qwen2.5-coder-0.5b' (~2x faster, weaker) or 'smollm2-135m'."""

    llm_url: str = ""
    """Base URL of an OpenAI-compatible server (vLLM, llama.cpp server, Ollama), e.g. http://127.0.0.1:8080/v1."""

    llm_api_model: str = ""
    """Model name sent to that server (empty: the server's default)."""

    llm_api_key: str = ""
    """Bearer token for that server, if it wants one."""

    model_dir: Path = Path.home() / ".cache" / "rag" / "models"
    """Where packaged models are assembled (once, ~1.1 GB for the default)."""

    llm_passages: int = 3
    """Passages put in the model's prompt: on 2 cores each costs ~2 s before the first token."""

    llm_max_tokens: int = 120
    """Longest answer the model may write."""

    llm_min_score: float = 0.29
    """Refusal floor before calling the model. Lower than min_score because the model's answer
    is checked afterwards; below it the model is not asked at all. On eval/questions.jsonl every
    floor from 0.15 to 0.29 gave the same answers (accuracy 0.786, refusal precision 0.786,
    recall 0.917); the highest saves the most model calls."""

    min_score: float = 0.35
    """Refusal floor on the best sentence's support score (see rag/answer.py for the score).

    Re-calibrated for the hybrid's ``Hit.score`` scale with ``python eval/run.py --sweep``:
    0.35 keeps the refusal recall of the old floor (0.667) at precision 0.667 and accuracy
    0.786; 0.37 now gives 0.6 / 0.75 / 0.762 (with dense cosine scores it gave 0.8 / 0.667 / 0.81)."""

    max_question_chars: int = 2000
    """Longer questions are rejected with a message rather than silently truncated."""

    max_file_mb: float = 50.0
    """Files larger than this are skipped with a reason in the ingest report; so is a .docx (a zip) that unpacks to more."""

    max_file_chars: int = 2_000_000
    """Most text one file may give (~1,000 pages); checked while it is read, so a file that expands
    (a zip bomb .docx, a huge CSV) stops early. Over it, the file is skipped with the reason."""

    max_file_chunks: int = 5_000
    """Most chunks one file may give (~2 M characters at 128 word-pieces; ~2 minutes of embedding at the
    43 chunks/s of eval/results/ingest-bench.md, several on busy cores). Over it, the file is skipped with
    the reason, never half-indexed."""

    parse_seconds: float = 60.0
    """Longest time reading one file's text may take (checked between pages, paragraphs, rows); then it is skipped."""

    follow_links: bool = False
    """Read files that symbolic links in the corpus point to outside it. Off: such links are skipped
    with a reason. Risk when on: whoever can place a link in the folder has any file this account
    can read indexed, quoted in answers and shown to every user of the app (docs/usage.md, Security)."""

    extensions: tuple[str, ...] = tuple(READERS)
    """File types ingested from the corpus folder (default: every format rag/extract.py reads)."""

    # --- retrieval (issue 4) ---
    retriever: str = "hybrid"
    """Which retriever finds the passages: 'hybrid' (BM25 + dense, fused), 'dense' or 'bm25' (see rag/retrieve.py)."""

    hybrid_weight: float = 0.3
    """Weight of the dense cosine in the hybrid score ``w * cosine + (1 - w) * bm25``.

    Mean MRR@10 over mini_squad_v2, Paul Graham, Coda help desk and the project set is flat
    from 0.2 to 0.5 (0.833, 0.829, 0.826, 0.826 with 128/32 chunks; 0.1: 0.820, 0.7: 0.803,
    dense alone 0.750, BM25 alone 0.791). 0.3 was the best with 160/32 chunks (0.821) and
    sits inside the plateau; 0.2 and 0.3 both beat each single retriever on
    hit@1 and MRR@10 on all four sets (eval/results/tuning.md)."""

    candidates: int = 20
    """Chunks each side (dense, BM25) proposes to the hybrid before fusion keeps the best ``top_k``."""

    stages: tuple[str, ...] = ()
    """Search stages run on the retrieved hits, in order, before ``passage_margin`` (rag/search.py;
    comma-separated in RAG_STAGES): 'per_file' (at most two hits per file). None by default."""

    passage_margin: float = 0.15
    """Of the ``top_k`` hits, only those scoring within this of the best go to the answerer (0 = all).

    With the hybrid (w 0.3, 128/32 chunks), 0.15 sends 3.7 / 4.7 / 4.4 / 2.8 passages instead
    of 5 on mini_squad_v2 / Paul Graham / Coda / project, and exactly as many questions still
    get a gold passage; 0.1 loses one mini_squad_v2 question, 0.05 up to 6% (eval/results/tuning.md)."""

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        """Defaults, then ``RAG_*`` environment variables, then ``overrides`` (None = keep)."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(f"RAG_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, raw, f.default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values).checked()

    def checked(self) -> "Settings":
        """Coerce paths and reject values that cannot work, saying which and why."""
        s = replace(self, corpus=Path(self.corpus).expanduser(), store=Path(self.store).expanduser(),
                    cache_dir=Path(self.cache_dir).expanduser(), chroma_url=self.chroma_url.strip().rstrip("/"),
                    embed_url=self.embed_url.strip().rstrip("/"))
        if s.embedder == "openai" and not s.embed_url.startswith(("http://", "https://")):
            raise SettingsError("embedder 'openai' needs the server's URL, like http://127.0.0.1:8000/v1, in embed_url "
                                f"(env RAG_EMBED_URL), not {s.embed_url!r}; or use RAG_EMBEDDER=minilm.")
        if s.embed_timeout <= 0:
            raise SettingsError(f"embed_timeout must be above 0 seconds, not {s.embed_timeout}.")
        if s.chroma_url and not s.chroma_url.startswith(("http://", "https://")):
            raise SettingsError(f"chroma_url must look like http://host:port, not {s.chroma_url!r} (flag --chroma-url, env RAG_CHROMA_URL).")
        if not 16 <= s.chunk_tokens <= EMBED_MAX_TOKENS - 2:
            raise SettingsError(f"chunk_tokens must be between 16 and {EMBED_MAX_TOKENS - 2}, not {s.chunk_tokens}.")
        if not 0 <= s.chunk_overlap < s.chunk_tokens // 2:
            raise SettingsError(f"chunk_overlap must be between 0 and chunk_tokens/2, not {s.chunk_overlap}.")
        if s.top_k < 1:
            raise SettingsError(f"top_k must be at least 1, not {s.top_k}.")
        if not 0.0 <= s.hybrid_weight <= 1.0:
            raise SettingsError(f"hybrid_weight must be between 0 and 1, not {s.hybrid_weight}.")
        if s.passage_margin < 0:
            raise SettingsError(f"passage_margin must be 0 (send all top_k hits) or more, not {s.passage_margin}.")
        if min(s.max_file_mb, s.max_file_chars, s.max_file_chunks, s.parse_seconds) <= 0:
            raise SettingsError("max_file_mb, max_file_chars, max_file_chunks and parse_seconds must be above 0.")
        if s.candidates < 1:
            raise SettingsError(f"candidates must be at least 1, not {s.candidates}.")
        unknown = [e for e in s.extensions if e.lower() not in READERS]
        if unknown:
            raise SettingsError(f"extensions: no reader for {', '.join(unknown)}; readable: {', '.join(READERS)}.")
        return s

    @property
    def embed_space(self) -> str:
        """The vector space the embedder writes in: its model's name.

        For a server: the model name and the prefixes; the URL too when no model is named
        (whatever that server serves by default), so naming the model keeps the index when the server moves.
        """
        if self.embedder == "openai":
            prefixes = f"|{self.embed_query_prefix}|{self.embed_passage_prefix}" if self.embed_query_prefix or self.embed_passage_prefix else ""
            return f"openai:{self.embed_model}{prefixes}" if self.embed_model else f"openai:default@{self.embed_url}{prefixes}"
        return {"minilm": "all-MiniLM-L6-v2", "minilm-int8": "all-MiniLM-L6-v2-int8"}.get(self.embedder, self.embedder)

    @property
    def collection(self) -> str:
        """The index's collection name: a hash of everything that shapes the stored vectors.

        Changing the embedder or the chunking gives a new name, so a stale index is never
        reused. The default embedder hashes as its model name, as before embedders were
        selectable, so existing indexes keep their name.
        """
        shape = f"{self.embed_space}|{self.chunk_tokens}|{self.chunk_overlap}|v1"
        digest = hashlib.sha256(shape.encode()).hexdigest()[:10]
        return f"rag-{self.embedder}-c{self.chunk_tokens}-o{self.chunk_overlap}-{digest}"


def _parse(name: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
        if isinstance(default, tuple):
            return tuple(x.strip() for x in raw.split(",") if x.strip())
        return raw
    except ValueError:
        raise SettingsError(f"RAG_{name.upper()}={raw!r} is not a valid {type(default).__name__}.") from None
