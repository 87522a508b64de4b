"""Scoring answers against gold: which passage is gold, one row per question, summaries.

A question of the project's sets has gold answers (strings the answer must contain) and
its verbatim supporting text (a span of the corpus); an unanswerable one has neither.
"""

from __future__ import annotations

import sys
import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import rag
from rag.cite import verify
from rag.load import load_document, walk

from .metrics import contains_answer, first_rank, is_gold, overlaps, refusal_scores, token_f1

if TYPE_CHECKING:
    from rag.api import Engine


@cache
def _texts(corpus: Path) -> dict[str, str]:
    out = {}
    for path, source in walk(corpus):
        try:
            out[source] = load_document(path, source, 1 << 40).text
        except Exception:  # unreadable files hold no gold
            continue
    return out


def support_span(corpus: Path, support: str) -> tuple[str, int, int] | None:
    """(source, start, end) of the verbatim supporting text in the corpus."""
    for source, text in _texts(Path(corpus)).items():
        i = text.find(support)
        if i >= 0:
            return source, i, i + len(support)
    return None


def first_gold(passages: list[str], contexts: list[str]) -> int | None:
    """1-based rank of the first passage that is gold for ``contexts`` (``metrics.is_gold``)."""
    return next((i for i, p in enumerate(passages, 1) if is_gold(p, contexts)), None)


def score_answer(q: dict, a: rag.Answer, corpus: Path, seconds: float) -> dict:
    """One question's row: the answer and, when answerable, its rank, correctness, F1 and citation check.

    ``q["support"]`` is the verbatim supporting text, or a list of them when several passages say it.
    """
    row = {"id": q["id"], "kind": q["kind"], "question": q["question"], "answerable": q["answerable"],
           "answer": a.text, "refused": a.refused, "seconds": round(seconds, 3),
           "citations": [f"{c.source}:{c.start}-{c.end}" for c in a.citations],
           "citations_verified": all(verify(c, corpus) for c in a.citations)}
    if q["answerable"]:
        supports = [q["support"]] if isinstance(q["support"], str) else q["support"]
        spans = [support_span(corpus, s) for s in supports]
        if None in spans:
            raise SystemExit(f"{q['id']}: supporting text not found verbatim in {corpus}: {supports!r}")
        ranks = [r for s in supports if (r := first_rank([h.text for h in a.hits], s))]
        row["rank"] = min(ranks) if ranks else None
        row["correct"] = not a.refused and contains_answer(a.text, q["answers"])
        row["f1"] = 0.0 if a.refused else token_f1(a.text, q["answers"])
        row["citation_ok"] = any(c.source == src and overlaps((c.start, c.end), (i, j))
                                 for c in a.citations for src, i, j in spans)
    return row


def evaluate(engine: Engine, questions: list[dict], answerer: str) -> dict:
    """Ask every question through the engine (the real path) and score it: metrics and rows."""
    rows = []
    for n, q in enumerate(questions, 1):
        t0 = time.perf_counter()
        a = engine.ask(q["question"], answerer=answerer)
        rows.append(score_answer(q, a, engine.settings.corpus, time.perf_counter() - t0))
        if n % 10 == 0:
            print(f"{n}/{len(questions)} questions", file=sys.stderr)
    return {"metrics": summarize(rows), "rows": rows}


def summarize(rows: list[dict]) -> dict:
    """Retrieval ranks, accuracy and F1 on the answerable rows; citations; refusal precision/recall."""
    ans = [r for r in rows if r["answerable"]]
    answered = [r for r in ans if not r["refused"]]
    ranks = [r["rank"] for r in ans]
    m = {
        "questions": len(rows), "answerable": len(ans), "unanswerable": len(rows) - len(ans),
        "hit@1": sum(1 for k in ranks if k == 1) / len(ans),
        "hit@5": sum(1 for k in ranks if k and k <= 5) / len(ans),
        "mrr": sum(1 / k for k in ranks if k) / len(ans),
        "accuracy": sum(r["correct"] for r in ans) / len(ans),
        "f1": sum(r["f1"] for r in ans) / len(ans),
        "citation_correct": sum(r["citation_ok"] for r in answered) / len(answered) if answered else 0.0,
        "citations_verified": sum(r["citations_verified"] for r in rows) / len(rows),
        **refusal_scores([r["refused"] for r in rows], [not r["answerable"] for r in rows]),
        "mean_seconds": sum(r["seconds"] for r in rows) / len(rows),
    }
    for kind in sorted({r["kind"] for r in ans}):
        sub = [r for r in ans if r["kind"] == kind]
        m[f"accuracy_{kind}"] = sum(r["correct"] for r in sub) / len(sub)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in m.items()}
