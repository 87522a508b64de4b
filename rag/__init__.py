"""Private, offline question answering over your own documents, with checked citations.

    import rag
    report = rag.ingest("seeds/")            # IngestReport: added/updated/removed/skipped
    answer = rag.ask("Where were the talks held?")
    answer.text, answer.citations[0].source  # the quote, and the file it is from

Importing ``rag`` is cheap: torch, the model and Chroma load on first use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# Offline by construction: any accidental hub or telemetry call fails fast instead of
# hanging for ~70 s. Set before anything imports huggingface_hub, chromadb or gradio.
for _k, _v in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_k, _v)

from .errors import (  # noqa: E402
    CorpusError, EmptyIndexError, IngestBusyError, ModelError, QuestionError, RagError, SettingsError, StoreError,
)
from .settings import Settings  # noqa: E402
from .types import Answer, Chunk, Citation, Document, Hit, IngestReport  # noqa: E402

if TYPE_CHECKING:
    from .api import ask, engine, ingest

__all__ = [
    "ask", "ingest", "engine", "Settings", "Answer", "Chunk", "Citation", "Document", "Hit", "IngestReport",
    "RagError", "QuestionError", "CorpusError", "EmptyIndexError", "ModelError", "SettingsError", "StoreError",
    "IngestBusyError",
]


def __getattr__(name: str) -> Any:
    if name in ("ask", "ingest", "engine"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
