"""The question sets and their corpora: the project's own, and the public benchmarks.

- ``project``: eval/questions.jsonl over seeds/ (hand-written; each question with gold
  answers and its verbatim supporting text, or unanswerable).
- the folders of ../shared/benchmarks/ in LlamaIndex's ``rag_dataset.json`` format, with
  their ``source_files/``. For ``mini_squad_v2`` the corpus is its 172 gold paragraphs
  written as files plus the 10 articles as distractors (the paragraphs come from another
  Wikipedia revision, so the articles hold near-copies of them).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import rag

if TYPE_CHECKING:
    from rag.api import Engine

ROOT = Path(__file__).resolve().parent.parent
# The public sets sit beside the project (../shared/benchmarks); RAG_BENCH_DIR points elsewhere (a worktree, CI).
BENCH_DIR = Path(os.environ.get("RAG_BENCH_DIR") or ROOT.parent / "shared" / "benchmarks")
SEEDS = ROOT / "seeds"
QUESTIONS = ROOT / "eval" / "questions.jsonl"
CONVERSATIONS = ROOT / "eval" / "conversations.jsonl"
RESULTS = ROOT / "eval" / "results"
DEFAULT_SETS = ("mini_squad_v2", "paul_grahams_essay_dataset", "braintrust_coda_help_desk", "history_of_alexnet", "project")


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


@dataclass
class Question:
    query: str
    contexts: list[str]  # gold passages; empty for a question the corpus cannot answer


@dataclass
class BenchSet:
    name: str
    corpus: Path
    questions: list[Question] = field(default_factory=list)


def load_set(name: str, bench_dir: Path, tmp: Path, limit: int | None) -> BenchSet | str:
    """The set called ``name``, its corpus ready to ingest; or the reason it is skipped."""
    if name == "project":
        qs = [Question(r["question"], [r["support"]] if r["answerable"] else []) for r in load_jsonl(QUESTIONS)]
        return BenchSet(name, SEEDS, qs[:limit] if limit else qs)
    folder = bench_dir / name
    if not (folder / "rag_dataset.json").exists():
        return f"no {folder}/rag_dataset.json"
    files = sorted(p for p in (folder / "source_files").rglob("*") if p.is_file())
    unread = sorted({p.suffix for p in files if p.suffix.lower() not in rag.Settings().extensions})
    if unread:
        return f"needs ingestion of {', '.join(unread)} files, which the pipeline cannot read"
    examples = json.loads((folder / "rag_dataset.json").read_text())["examples"]
    qs = [Question(e["query"], list(e["reference_contexts"])) for e in examples]
    corpus = folder / "source_files"
    if name == "mini_squad_v2":
        corpus = tmp / name
        shutil.rmtree(corpus, ignore_errors=True)
        shutil.copytree(folder / "source_files", corpus / "articles")
        golds = sorted({c for q in qs for c in q.contexts})
        (corpus / "gold").mkdir()
        for i, text in enumerate(golds):
            (corpus / "gold" / f"p{i:03d}.txt").write_text(text + "\n", encoding="utf-8")
    return BenchSet(name, corpus, qs[:limit] if limit else qs)


def workdir(cache: Path | None) -> contextlib.AbstractContextManager[str]:
    """Where corpora and stores go: a temporary folder, or ``cache`` kept between runs (re-ingesting
    an unchanged corpus there is a no-op sync, which saves the ~2-5 min mini_squad_v2 ingest)."""
    if cache is None:
        return tempfile.TemporaryDirectory(prefix="rag-eval-")
    Path(cache).mkdir(parents=True, exist_ok=True)
    return contextlib.nullcontext(str(cache))


@contextlib.contextmanager
def indexed(corpus: Path, settings: rag.Settings | None = None, **overrides: object) -> Iterator[Engine]:
    """An engine over ``corpus`` ingested into a fresh temporary index (vectorstore/ is never touched)."""
    base = settings or rag.Settings.from_env()
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        s = replace(base, store=Path(tmp), corpus=Path(corpus), **overrides).checked()
        report = rag.ingest(corpus, settings=s)
        print(f"ingested {corpus}: {report.summary()}", file=sys.stderr)
        yield rag.engine(settings=s)
