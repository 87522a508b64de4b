"""The answer benchmark with refusals: every answerer on SQuAD v2 "Rhine" and the project's set.

    python eval/answers.py                                   # report half, all three answerers
    python eval/answers.py --answerer extractive --sample 20 # a quick look (~1 min)
    python eval/answers.py --half tune --answerer reader --dump eval/results/answers-tune-reader.jsonl

Sets: ``squad_v2_rhine`` (../shared/benchmarks: 44 paragraphs of SQuAD v2.0 dev "Rhine", each
written as a file; 290 answerable and 208 unanswerable questions, the latter written to look
answerable) and ``project`` (eval/questions.jsonl over seeds/). Each set has two FIXED halves:
SQuAD by paragraph (even paragraphs tune, odd ones report, so one paragraph's questions stay
together) and the project set by id number (odd tune, even report). Tuning (rag/read.py's
``MARGIN``, rag/abstain.py's weights and ``WELL_SUPPORTED``, eval/fit_abstention.py) reads the
tune halves only; the figures quoted as results come from the report halves.

Answerers: ``extractive`` (quotes the best sentence), ``generative`` (the local model writes
and code checks: rag/generate.py over the packaged model in-process, the old 'local') and
``reader`` (today's 'local': the model copies a phrase out of one sentence, rag/read.py, and a
refusal score decides, rag/abstain.py). Every question is searched once; each answerer
answers the same hits.

Per answerer and set: accuracy on answerable questions (a gold answer, SQuAD-normalised, inside
the answer; a refusal counts wrong), exact match and token F1 of the short answer
(``Answer.short`` when given, else the answer text without markers), citation correctness (the
first cited quote holds a gold answer; over answered answerable questions), citations verified
(every citation of an answer given is re-read from its file at its offsets), refusal precision
and recall (unanswerable is the positive class), false refusals (the share of answerable
questions refused) and p50/p95 seconds per question (search +
answer). Results: eval/results/answers-<half>.json/.md/.png; a run with fewer answerers
merges into the file, replacing only its own entries. ``--dump FILE`` writes one JSON row per
question and answerer as it goes (the reader's rows carry its refusal features, for the fit);
``--rows FILE`` scores such a dump again, the reader's rows re-decided by the current weights.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rag  # noqa: E402
from eval.metrics import contains_answer, exact_match, percentile, refusal_scores, token_f1  # noqa: E402
from eval.report import bar_chart, merge, table, write  # noqa: E402
from eval.sets import BENCH_DIR, RESULTS, corpus_of, half, indexed, sample  # noqa: E402
from rag.text import strip_markers  # noqa: E402

SETS = ("project", "squad_v2_rhine")  # the small set first: a run stopped early has all of it
ANSWERERS = ("extractive", "generative", "reader")
ALIASES = {"local": "reader", "read": "reader", "generate": "generative"}
HALVES = ("tune", "report")


# --- scoring -----------------------------------------------------------------------------


def short_answer(a: rag.Answer) -> str:
    """The short answer: ``Answer.short`` when the answerer gives one, else the text without markers."""
    return a.short or " ".join(strip_markers(a.text).split())


def score_row(q: dict, a: rag.Answer, seconds: float, corpus: Path | None = None) -> dict:
    """One question's scores for one answer. Answerable: ``correct`` (gold inside the answer),
    ``em``/``f1`` of the short answer, ``citation_ok`` (the first quote holds a gold answer).
    Given the corpus, ``verified``: every citation re-read from its file (``rag.cite.verify``)."""
    from rag.cite import verify

    row = {"set": q["set"], "id": q["id"], "group": q["group"], "half": half(q), "question": q["question"],
           "answerable": q["answerable"], "answer": a.text, "short": short_answer(a), "refused": a.refused,
           "confidence": a.confidence, "seconds": round(seconds, 3)}
    if corpus is not None and a.citations:
        row["verified"] = all(verify(c, corpus) for c in a.citations)
    if q["answerable"]:
        golds, answered = q["answers"], not a.refused
        row["correct"] = answered and contains_answer(a.text, golds)
        row["em"] = answered and exact_match(row["short"], golds)
        row["f1"] = round(token_f1(row["short"], golds), 4) if answered else 0.0
        row["citation_ok"] = answered and bool(a.citations) and contains_answer(a.citations[0].quote, golds)
    return row


def summarize(rows: list[dict]) -> dict:
    """Accuracy, EM, F1 (answerable; refusals wrong), citation correctness (answered answerable),
    refusal precision/recall, p50/p95 seconds (tests/test_answers_eval.py works an example).
    """
    ans = [r for r in rows if r["answerable"]]
    answered = [r for r in ans if not r["refused"]]
    n = len(ans) or 1
    secs = [r["seconds"] for r in rows]
    cited = [r["verified"] for r in rows if "verified" in r and not r["refused"]]
    m = {"questions": len(rows), "answerable": len(ans), "unanswerable": len(rows) - len(ans),
         "accuracy": sum(r["correct"] for r in ans) / n, "em": sum(r["em"] for r in ans) / n,
         "f1": sum(r["f1"] for r in ans) / n,
         "citation_correct": sum(r["citation_ok"] for r in answered) / len(answered) if answered else 0.0,
         "citations_verified": sum(cited) / len(cited) if cited else None,
         **refusal_scores([r["refused"] for r in rows], [not r["answerable"] for r in rows]),
         "false_refusals": sum(r["refused"] for r in ans) / n,
         "answered": sum(not r["refused"] for r in rows) / (len(rows) or 1),
         "p50_s": percentile(secs, 50), "p95_s": percentile(secs, 95)}
    return {k: round(v, 3) if isinstance(v, float) else ("" if v is None else v) for k, v in m.items()}


# --- answering ---------------------------------------------------------------------------


def make_answerers(engine: rag.api.Engine, names: list[str]) -> dict:
    """The answerers by benchmark name, over the engine's settings (the packaged local model)."""
    from rag.generate import GenerativeAnswerer
    from rag.llm import local_model

    s, out = engine.settings, {}
    for name in names:
        if name == "extractive":
            out[name] = engine.answerers.extractive
        elif name == "generative":
            out[name] = GenerativeAnswerer(local_model(s.llm_model, s.model_dir), engine.answerers.extractive,
                                           max_passages=s.llm_passages, max_tokens=s.llm_max_tokens,
                                           min_score=s.llm_min_score)
        else:
            out[name] = engine.answerers.get("local")
        model = getattr(out[name], "model", None)
        if model is not None and hasattr(model, "load"):
            model.load()  # loaded before the clock starts: its ~5 s are not the first question's
    return out


def answer_one(answerer, question: str, hits: list) -> tuple[rag.Answer, dict]:  # type: ignore[no-untyped-def]
    """The answer; for the reader also its evidence: the refusal features and score, and the short
    answer and sentence it would give were it not to refuse (so a refit can re-decide: ``redecide``)."""
    from rag.answer import last_answer
    from rag.read import ReadingAnswerer, to_answer

    if isinstance(answerer, ReadingAnswerer):
        reading = answerer.reader.read(question, hits)
        a = to_answer(question, hits, reading, answerer.name)
        if reading is None:
            return a, {}
        quote = reading.sentence.text if reading.sentence is not None else ""
        return a, {"features": reading.features, "refusal_score": round(reading.refusal, 4), "would_quote": quote,
                   "would_short": reading.phrase or quote}
    return last_answer(answerer.stream(question, hits)), {}


def would_scores(extra: dict, golds: list[str]) -> dict:
    """How the reader's unrefused answer would score (``score_row``'s fields, prefixed ``would_``)."""
    quote, short = extra["would_quote"], extra["would_short"]
    return {"would_correct": bool(quote) and contains_answer(f"{short}: {quote}", golds),
            "would_em": bool(quote) and exact_match(short, golds),
            "would_f1": round(token_f1(short, golds), 4) if quote else 0.0,
            "would_citation_ok": bool(quote) and contains_answer(quote, golds)}


def redecide(r: dict, abstention) -> dict:  # type: ignore[no-untyped-def]
    """A reader row decided again by ``abstention`` (its reading does not depend on the weights).

    >>> from rag.abstain import Abstention
    >>> r = {"answerable": True, "refused": True, "features": {"support": 1.0}, "would_quote": "In Miami.",
    ...      "would_correct": True, "would_em": True, "would_f1": 1.0, "would_citation_ok": True}
    >>> x = redecide(r, Abstention({"support": -2.0}, 0.0, 0.5))
    >>> x["refused"], x["correct"], x["f1"], x["confidence"]
    (False, True, 1.0, 0.881)
    """
    if "features" not in r:
        return r
    score = abstention.score(r["features"])
    refused = score >= abstention.threshold or not r.get("would_quote")
    out = {**r, "refused": refused, "refusal_score": round(score, 4), "confidence": round(1 - score, 3)}
    if r["answerable"]:
        out.update({k: (not refused) and r[f"would_{k}"] for k in ("correct", "em", "citation_ok")})
        out["f1"] = 0.0 if refused else r["would_f1"]
    return out


def run_set(name: str, names: list[str], which: str, n: int | None, settings: rag.Settings,
            dump: IO[str] | None = None, bench_dir: Path = BENCH_DIR) -> dict[str, dict]:
    """Every chosen question of one set's half, asked of every answerer: {answerer: metrics}."""
    with corpus_of(name, bench_dir) as (corpus, questions):
        whole = [q for q in questions if half(q) == which]
        qs = sample(whole, n)
        with indexed(corpus, settings) as engine:
            answerers = make_answerers(engine, names)
            rows: dict[str, list[dict]] = {k: [] for k in names}
            for i, q in enumerate(qs, 1):
                t0 = time.perf_counter()
                hits = engine.search(q["question"])
                search_s = time.perf_counter() - t0
                for k, answerer in answerers.items():
                    t1 = time.perf_counter()
                    a, extra = answer_one(answerer, q["question"], hits)
                    seconds = search_s + time.perf_counter() - t1
                    row = score_row(q, a, seconds, corpus)
                    if extra:
                        row.update(extra, **(would_scores(extra, q["answers"]) if q["answerable"] else {}))
                    row.update(answerer=k, of=len(whole))  # of: the questions in the whole half
                    rows[k].append(row)
                    if dump is not None:  # as it goes: a run stopped half-way can still be scored (--rows)
                        dump.write(json.dumps(row) + "\n")
                        dump.flush()
                if i % 10 == 0 or i == len(qs):
                    print(f"{name}: {i}/{len(qs)} questions", file=sys.stderr, flush=True)
    return {k: {**summarize(r), "sample": len(qs) if len(qs) < len(whole) else None} for k, r in rows.items()}


# --- the report ----------------------------------------------------------------------------

COLUMNS = ("accuracy", "em", "f1", "citation_correct", "citations_verified", "refusal_precision", "refusal_recall",
           "false_refusals", "p50_s", "p95_s")


def markdown(result: dict, which: str) -> str:
    lines = [f"# Answers with refusals ({which} half)", "",
             "Produced by `python eval/answers.py --half " + which + "` (eval/answers.py says how each figure is "
             "scored). Accuracy, EM and F1 over answerable questions (a refusal counts wrong); citation correct over "
             "answered answerable ones; refusal precision/recall with unanswerable as the positive class; false refusals: answerable "
             "questions refused; seconds per question, search included.", ""]
    for name, by in result["sets"].items():
        lines += [f"## {name}", ""]
        rows = []
        cols = [c for c in COLUMNS if any(m.get(c, "") != "" for m in by.values())]  # older rows lack a later column
        for k in ANSWERERS:
            if k in by:
                m = by[k]
                size = f"{m['questions']} ({m['answerable']}+{m['unanswerable']})" + (" sample" if m.get("sample") else "")
                rows.append([k, size] + [m.get(c, "") for c in cols])
        lines += table(["answerer", "questions"] + cols, rows) + [""]
    return "\n".join(lines)


def chart(path: Path, result: dict, which: str) -> None:
    groups, series = [], {}
    metrics = ("accuracy", "em", "citation_correct", "refusal_precision", "refusal_recall")
    for name, by in result["sets"].items():
        for k in ANSWERERS:
            if k in by:
                groups.append(f"{k}\n{name}")
                for c in metrics:
                    series.setdefault(c, []).append(by[k][c])
    if groups:
        bar_chart(path, f"Answers with refusals ({which} half)", groups, series)


def from_rows(path: Path, names: list[str], which: str, n: int | None) -> dict[str, dict]:
    """{set: {answerer: metrics}} from a dump (its first ``n`` rows per set and answerer: runs go in
    the sample order), the reader's rows re-decided with ``ABSTENTION``."""
    from rag.abstain import ABSTENTION

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if any(r["half"] != which for r in rows):
        raise SystemExit(f"{path} holds rows of another half than {which!r}")
    out: dict[str, dict] = {}
    for r in rows:
        if r["answerer"] in names:
            out.setdefault(r["set"], {}).setdefault(r["answerer"], []).append(redecide(r, ABSTENTION))
    for by in out.values():
        for k, rs in by.items():
            rs = rs[:n] if n else rs
            by[k] = {**summarize(rs), "sample": len(rs) if len(rs) < rs[0]["of"] else None}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--half", choices=HALVES, default="report")
    p.add_argument("--sample", type=int, default=None, help="at most N questions per set (a fixed sample)")
    p.add_argument("--answerer", action="append", default=None,
                   help=f"one of {', '.join(ANSWERERS)} ('local' = reader); repeatable (default: all)")
    p.add_argument("--set", action="append", default=None, choices=SETS, help="repeatable (default: both)")
    p.add_argument("--dump", type=Path, default=None, help="write per-question rows (JSON lines) here")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--bench-dir", type=Path, default=BENCH_DIR)
    p.add_argument("--rows", type=Path, default=None, help="score a --dump again instead of asking (the reader's "
                   "rows re-decided with rag/abstain.py's current weights)")
    args = p.parse_args(argv)

    names = [ALIASES.get(a, a) for a in (args.answerer or ANSWERERS)]
    bad = [a for a in names if a not in ANSWERERS]
    if bad:
        p.error(f"unknown answerer {bad[0]!r}; choose from {', '.join(ANSWERERS)}")
    names = list(dict.fromkeys(names))
    settings = rag.Settings.from_env()
    fresh = {"half": args.half, "sets": {}, "settings": {"retriever": settings.retriever, "top_k": settings.top_k,
                                                         "llm_model": settings.llm_model}}
    if args.rows:
        fresh["sets"] = from_rows(args.rows, names, args.half, args.sample)
    else:
        with open(args.dump or os.devnull, "w", encoding="utf-8") as dump:
            for name in args.set or SETS:
                fresh["sets"][name] = run_set(name, names, args.half, args.sample, settings, dump, args.bench_dir)
    base = f"answers-{args.half}"
    args.out.mkdir(parents=True, exist_ok=True)
    with open(Path(tempfile.gettempdir()) / f"rag-{base}.lock", "w") as lock:  # parallel runs (one per answerer) merge in turn
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = merge(args.out / f"{base}.json", fresh)
        write(args.out, base, result, markdown(result, args.half))
        try:
            chart(args.out / f"{base}.png", result, args.half)
        except ImportError:
            print("matplotlib missing: no chart", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
