"""The question sets and their corpora: the project's own, and the public benchmarks.

- ``project``: eval/questions.jsonl over seeds/ (hand-written; each question with gold
  answers and its verbatim supporting text, or unanswerable).
- the folders of ../shared/benchmarks/ in LlamaIndex's ``rag_dataset.json`` format, with
  their ``source_files/``. For ``mini_squad_v2`` the corpus is its 172 gold paragraphs
  written as files plus the 10 articles as distractors (the paragraphs come from another
  Wikipedia revision, so the articles hold near-copies of them).
- for the answer benchmark (eval/answers.py): ``squad_v2_rhine`` (SQuAD v2.0 JSON, each of
  its 44 paragraphs written as a file) and ``project``, each cut into two fixed halves
  (``half``): tune and report.
"""

from __future__ import annotations

import contextlib
import hashlib
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


# --- the answer benchmark's sets (eval/answers.py): SQuAD v2 "Rhine" and the project's, in fixed halves

RHINE = "dev-v2.0-rhine.json"


def rhine_questions(path: Path) -> tuple[list[str], list[dict]]:
    """The paragraphs of SQuAD v2 "Rhine" and its questions (``group``: the paragraph's index)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    paragraphs, questions = [], []
    for i, p in enumerate(data["data"][0]["paragraphs"]):
        paragraphs.append(p["context"])
        for qa in p["qas"]:
            golds = list(dict.fromkeys(a["text"] for a in qa["answers"]))
            questions.append({"set": "squad_v2_rhine", "id": qa["id"], "group": i, "question": qa["question"],
                              "answers": golds, "answerable": not qa["is_impossible"]})
    return paragraphs, questions


def project_questions(path: Path = QUESTIONS) -> list[dict]:
    """eval/questions.jsonl as rows of this benchmark (``group``: the id's number)."""
    return [{"set": "project", "id": r["id"], "group": int(r["id"].lstrip("qu")), "question": r["question"],
             "answers": r.get("answers") or [], "answerable": r["answerable"], "kind": r.get("kind", "")}
            for r in load_jsonl(path)]


def half(q: dict) -> str:
    """The fixed half of a question: SQuAD by paragraph (even: tune), the project set by id number
    (odd: tune). The split the reader's margin and refusal weights were first tuned on.

    >>> half({"set": "squad_v2_rhine", "group": 4}), half({"set": "project", "group": 3})
    ('tune', 'tune')
    >>> half({"set": "squad_v2_rhine", "group": 5}), half({"set": "project", "group": 12})
    ('report', 'report')
    """
    odd = q["group"] % 2 == 1
    return ("report" if odd else "tune") if q["set"] == "squad_v2_rhine" else ("tune" if odd else "report")


def sample(questions: list[dict], n: int | None) -> list[dict]:
    """The questions in a fixed shuffled order (a hash of set and id), the first ``n`` when given: so
    any prefix of a run in this order is itself the sample of that size.

    >>> qs = [{"set": "s", "id": str(i)} for i in range(9)]
    >>> sample(qs, 3) == sample(qs, None)[:3] and sorted(q["id"] for q in sample(qs, None)) == [q["id"] for q in qs]
    True
    """
    ordered = sorted(questions, key=lambda q: hashlib.sha1(f"{q['set']}:{q['id']}".encode()).hexdigest())
    return ordered[:n] if n else ordered


@contextlib.contextmanager
def corpus_of(name: str, bench_dir: Path = BENCH_DIR) -> Iterator[tuple[Path, list[dict]]]:
    """The set's corpus folder (SQuAD's paragraphs written as files) and all its questions."""
    if name == "project":
        yield SEEDS, project_questions()
        return
    paragraphs, questions = rhine_questions(bench_dir / "squad_v2_rhine" / RHINE)
    with tempfile.TemporaryDirectory(prefix="rag-rhine-") as tmp:
        folder = Path(tmp) / "rhine"
        folder.mkdir()
        for i, text in enumerate(paragraphs):
            (folder / f"p{i:02d}.txt").write_text(text + "\n", encoding="utf-8")
        yield folder, questions
