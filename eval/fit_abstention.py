"""Fit the reader's refusal score (rag/abstain.py) on the TUNE halves only, and choose WELL_SUPPORTED.

    python eval/answers.py --half tune --answerer reader --dump eval/results/answers-tune-reader.jsonl  # ~25 min
    python eval/add_check.py eval/results/answers-tune-reader.jsonl     # a dump read before the check: ~5 min
    python eval/fit_abstention.py --rows eval/results/answers-tune-reader.jsonl                        # ~1 s
    python eval/fit_abstention.py            # both steps in one (asks the reader the tune halves itself)

The reader's features (the model's "NOT FOUND" log-odds, the best hit's retrieval score, the
chosen sentence's support, the check's "yes" log-odds: rag/abstain.py) do not depend on the
weights, so one reading of the tune halves serves any fit. The target is "the reader should not answer": the question is unanswerable, or
the sentence it would quote does not hold the gold answer. Logistic regression by hand (numpy,
Newton steps, a little L2), each set weighing equally and, inside a set, answerable and
unanswerable questions equally, since the figure chosen for is the **balanced accuracy**: per
set, the mean of accuracy on answerable questions (a refusal wrong) and refusal recall on
unanswerable ones, then the mean over the two sets. The threshold is the one that maximises it.

Candidate features (``EXTRAS``: rag/abstain.py's ``evidence``, recorded in every reader row) are
tried on top of the base, one at a time, all together and by a greedy forward choice, each judged
by 5-fold cross-validated balanced accuracy (folds by paragraph / id number); ``--features``
fits the set named.

``WELL_SUPPORTED``: the lowest confidence (1 - refusal score) from which the answers given are
right at least 90% of the time on the tune halves (sets weighing equally), with 20 answers or more;
when none is, the confidence whose answers are right most often, over 10 answers or more.

Rows from a report half are refused: that half is for reporting only.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.abstain import ABSTENTION, WELL_SUPPORTED, Abstention  # noqa: E402

FEATURES = ("none", "retrieval", "support", "check")  # the base; --features fits another set
EXTRAS = ("cover", "cover_sentence", "names_missing", "type_miss", "support_gap", "phrase_lp", "hit_margin")
CLEARLY = 0.02  # a candidate set must beat the base's cross-validated balanced accuracy by this much
TARGET_RIGHT = 0.9  # WELL_SUPPORTED: answers above it are right at least this often
MIN_ANSWERS = 20
MAX_FALSE_REFUSALS = 0.10  # issue 11: answerable questions refused, at most, in each set


def load_rows(path: Path) -> list[dict]:
    """The reader's tune-half rows of an answers.py dump; a report-half row is an error."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("answerer") == "reader"]
    if any(r["half"] != "tune" for r in rows):
        raise SystemExit(f"{path} holds report-half rows: the fit reads the tune halves only")
    rows = [r for r in rows if "features" in r]  # no candidate sentence at all: always a refusal
    if not rows:
        raise SystemExit(f"{path} holds no reader rows with features (run answers.py --answerer reader --dump)")
    return rows


def should_refuse(r: dict) -> bool:
    """Unanswerable, or the sentence the reader would quote does not hold the gold answer."""
    return not r["answerable"] or not r.get("would_correct", False)


def weights(rows: list[dict]) -> np.ndarray:
    """Each (set, answerable) cell weighs the same in all: a row weighs 1 / the size of its cell.

    >>> weights([{"set": "a", "answerable": True}, {"set": "a", "answerable": True},
    ...          {"set": "a", "answerable": False}, {"set": "b", "answerable": False}]).tolist()
    [0.5, 0.5, 1.0, 1.0]
    """
    cells: dict[tuple, int] = {}
    for r in rows:
        cells[(r["set"], r["answerable"])] = cells.get((r["set"], r["answerable"]), 0) + 1
    return np.array([1 / cells[(r["set"], r["answerable"])] for r in rows])


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1e-3, steps: int = 50) -> np.ndarray:
    """Weighted logistic regression by Newton's method: ``[bias, w1, ...]`` for P(y=1).

    >>> x = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0.0, 0.0, 1.0, 1.0])
    >>> beta = fit_logistic(x, y, np.ones(4), l2=0.1)
    >>> bool(beta[1] > 0), bool(abs(beta[0] + 1.5 * beta[1]) < 1e-6)
    (True, True)
    """
    a = np.hstack([np.ones((len(x), 1)), x])
    beta = np.zeros(a.shape[1])
    reg = l2 * np.eye(a.shape[1])
    reg[0, 0] = 0.0  # the bias is not shrunk
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(a @ beta, -50, 50)))
        grad = a.T @ (w * (p - y)) + reg @ beta
        hess = (a * (w * p * (1 - p))[:, None]).T @ a + reg
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    return beta


def balanced_accuracy(rows: list[dict], refused: list[bool]) -> float:
    """Per set: mean of answerable accuracy (right and not refused) and unanswerable refusal recall;
    then the mean over sets.

    >>> rows = [{"set": "a", "answerable": True, "would_correct": True}, {"set": "a", "answerable": False},
    ...         {"set": "b", "answerable": True, "would_correct": False}, {"set": "b", "answerable": False}]
    >>> balanced_accuracy(rows, [False, True, False, False])
    0.5
    """
    per_set = []
    for s in sorted({r["set"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["set"] == s]
        ans = [i for i in idx if rows[i]["answerable"]]
        una = [i for i in idx if not rows[i]["answerable"]]
        parts = []
        if ans:
            parts.append(sum(rows[i].get("would_correct", False) and not refused[i] for i in ans) / len(ans))
        if una:
            parts.append(sum(refused[i] for i in una) / len(una))
        per_set.append(sum(parts) / len(parts))
    return sum(per_set) / len(per_set)


def best_threshold(rows: list[dict], scores: np.ndarray) -> tuple[float, float]:
    """The threshold (refuse at or above) with the best balanced accuracy; among ties, the middle one."""
    cands = sorted({round(float(s), 2) for s in scores} | {0.5})
    results = [(balanced_accuracy(rows, list(scores >= t)), t) for t in cands]
    top = max(b for b, _ in results)
    ties = [t for b, t in results if b >= top - 1e-12]
    return ties[len(ties) // 2], top


def constrained(rows: list[dict], scores: np.ndarray) -> tuple[float, float]:
    """The threshold that refuses the most unanswerable questions (mean recall over sets) while refusing
    at most ``MAX_FALSE_REFUSALS`` of every set's answerable ones (the issue's bound); (threshold, recall)."""
    best = (1.0, 0.0)
    for t in np.round(np.arange(0.30, 0.96, 0.01), 2):
        d = describe(rows, list(scores >= t)).values()
        recall = float(np.mean([v["refusal_recall"] for v in d]))
        if max(v["false_refusals"] for v in d) <= MAX_FALSE_REFUSALS and recall > best[1]:
            best = (float(t), recall)
    return best


def matrix(rows: list[dict], names: tuple[str, ...]) -> np.ndarray:
    """The rows' features ``names`` as a matrix, one row per question."""
    return np.array([[r["features"][f] for f in names] for r in rows])


def refit(rows: list[dict], x: np.ndarray, y: np.ndarray, l2: float, names: tuple[str, ...] = FEATURES) -> Abstention:
    """Weights by ``fit_logistic`` (cells weighing equally), threshold by ``best_threshold``."""
    beta = fit_logistic(x, y, weights(rows), l2)
    ab = Abstention({f: round(float(b), 4) for f, b in zip(names, beta[1:])}, round(float(beta[0]), 4), 0.5)
    t, _ = best_threshold(rows, np.array([ab.score(r["features"]) for r in rows]))
    return Abstention(ab.weights, ab.bias, t)


def cross_validated(rows: list[dict], x: np.ndarray, y: np.ndarray, l2: float, folds: int = 5,
                    names: tuple[str, ...] = FEATURES) -> list[bool]:
    """Each question's refusal decided by a refit on the other folds (folds by paragraph or id number:
    a paragraph's questions stay in one fold), so the refit is judged on questions it did not see."""
    fold = np.array([r["group"] % folds for r in rows])
    refused = [False] * len(rows)
    for k in range(folds):
        train = [i for i in range(len(rows)) if fold[i] != k]
        ab = refit([rows[i] for i in train], x[train], y[train], l2, names)
        for i in np.flatnonzero(fold == k):
            refused[i] = ab.score(rows[i]["features"]) >= ab.threshold
    return refused


def describe(rows: list[dict], refused: list[bool]) -> dict:
    """Refusal precision/recall and false refusals (answerable refused), per set."""
    out = {}
    for s in sorted({r["set"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["set"] == s]
        una = [i for i in idx if not rows[i]["answerable"]]
        ans = [i for i in idx if rows[i]["answerable"]]
        ref = [i for i in idx if refused[i]]
        tp = sum(not rows[i]["answerable"] for i in ref)
        out[s] = {"questions": len(idx),
                  "refusal_precision": round(tp / len(ref), 3) if ref else 1.0,
                  "refusal_recall": round(tp / len(una), 3) if una else 1.0,
                  "false_refusals": round(float(sum(refused[i] for i in ans)) / len(ans), 3) if ans else 0.0,
                  "accuracy": round(float(sum(rows[i].get("would_correct", False) and not refused[i]
                                              for i in ans)) / len(ans), 3) if ans else 0.0}
    return out


def right_above(rows: list[dict], confidence: np.ndarray, refused: list[bool], c: float) -> tuple[float, int]:
    """Share of answers with confidence >= ``c`` that are right (sets weighing equally), and how many."""
    shares, n = [], 0
    for s in sorted({r["set"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["set"] == s and not refused[i] and confidence[i] >= c]
        n += len(idx)
        if idx:
            shares.append(sum(rows[i]["answerable"] and rows[i].get("would_correct", False) for i in idx) / len(idx))
    return (sum(shares) / len(shares) if shares else 0.0), n


def choose_well_supported(rows: list[dict], confidence: np.ndarray, refused: list[bool]) -> tuple[float | None, list]:
    """The lowest confidence (0.05 steps) from which answers are right >= TARGET_RIGHT, over at least
    MIN_ANSWERS answers; failing that, the one whose answers are right most often over half as many
    (None: none at all), with the table."""
    grid = [round(0.3 + 0.05 * k, 2) for k in range(14)]
    table = [(c, *right_above(rows, confidence, refused, c)) for c in grid]
    ok = [c for c, share, n in table if share >= TARGET_RIGHT and n >= MIN_ANSWERS]
    if not ok:  # too few answers that sure: the confidence whose answers are right most often, over 10 or more
        best = max((share, c) for c, share, n in table if n >= MIN_ANSWERS // 2)
        return (best[1] if best[0] > 0 else None), table
    return ok[0], table


def candidates(rows: list[dict], y: np.ndarray, l2: float) -> tuple[str, ...]:
    """Each candidate feature (``EXTRAS``, those every row has) added to the base, then all of them, then a
    greedy forward choice adding while 5-fold cross-validated balanced accuracy rises by ``CLEARLY``:
    printed, and the greedy set returned (the base when nothing helps clearly)."""
    extras = [f for f in EXTRAS if all(f in r["features"] for r in rows)]
    if not extras:
        return FEATURES

    def cv(names: tuple[str, ...]) -> tuple[float, float, dict]:
        x = matrix(rows, names)
        ab = refit(rows, x, y, l2, names)
        refused = cross_validated(rows, x, y, l2, names=names)
        fitted = balanced_accuracy(rows, [ab.score(r["features"]) >= ab.threshold for r in rows])
        return fitted, balanced_accuracy(rows, refused), describe(rows, refused)

    print("\ncandidate features (refit in-sample / 5-fold cross-validated balanced accuracy; CV per set):")
    base = cv(FEATURES)
    for names in [FEATURES] + [FEATURES + (f,) for f in extras] + [FEATURES + tuple(extras)]:
        fitted, ba, per = base if names == FEATURES else cv(names)
        label = "base" if names == FEATURES else "+" + ",".join(names[len(FEATURES):])
        print(f"  {label:<40} {fitted:.3f} / {ba:.3f}  " + "; ".join(
            f"{s}: recall {d['refusal_recall']}, false refusals {d['false_refusals']}, accuracy {d['accuracy']}"
            for s, d in per.items()))
    chosen, best = FEATURES, base[1]
    while True:
        trials = [(cv(chosen + (f,))[1], f) for f in extras if f not in chosen]
        if not trials or max(trials)[0] < best + CLEARLY:
            break
        best, f = max(trials)
        chosen += (f,)
    print(f"greedy (each step +{CLEARLY} CV or stop): {','.join(chosen)}, CV balanced accuracy {best:.3f} "
          f"(base {base[1]:.3f})")
    return chosen


def fitted(rows: list[dict], names: tuple[str, ...] = FEATURES, l2: float = 1e-3) -> tuple[Abstention, float | None]:
    """The choice from tune rows: the refit (``names``) or the current weights, whichever refuses the most
    unanswerable questions (mean recall over sets) with at most ``MAX_FALSE_REFUSALS`` false refusals in
    every set, at its best such threshold (the refit must win by 0.01); and ``WELL_SUPPORTED`` for it.
    (Until issue 11's fourth stop the best balanced accuracy chose; its refit refused 0.29 of the
    project's answerable tune questions and 0.52 of the report's.) tests/test_read.py checks that
    rag/abstain.py's constants are this function's output on the committed tune rows."""
    y = np.array([float(should_refuse(r)) for r in rows])
    new = refit(rows, matrix(rows, names), y, l2, names)
    t_old, r_old = constrained(rows, np.array([ABSTENTION.score(r["features"]) for r in rows]))
    t_new, r_new = constrained(rows, np.array([new.score(r["features"]) for r in rows]))
    chosen = replace(new, threshold=t_new) if r_new > r_old + 0.01 else replace(ABSTENTION, threshold=t_old)
    scores = np.array([chosen.score(r["features"]) for r in rows])
    well, _ = choose_well_supported(rows, 1 - scores, list(scores >= chosen.threshold))
    return chosen, well


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=Path, default=None, help="an answers.py --half tune --answerer reader dump")
    p.add_argument("--l2", type=float, default=1e-3)
    p.add_argument("--features", default=",".join(FEATURES), help="the features the refit weighs (comma-separated)")
    args = p.parse_args(argv)
    names = tuple(args.features.split(","))

    path = args.rows
    if path is None:
        from eval.answers import main as answers

        path = Path("eval/results/answers-tune-reader.jsonl")
        answers(["--half", "tune", "--answerer", "reader", "--dump", str(path)])
    rows = load_rows(path)
    x = matrix(rows, names)
    y = np.array([float(should_refuse(r)) for r in rows])
    print(f"{len(rows)} tune-half questions: " + ", ".join(
        f"{s} {sum(r['set'] == s for r in rows)} ({sum(r['set'] == s and not r['answerable'] for r in rows)} unanswerable)"
        for s in sorted({r["set"] for r in rows})))

    old_scores = np.array([ABSTENTION.score(r["features"]) for r in rows])
    old_refused = list(old_scores >= ABSTENTION.threshold)
    old_ba = balanced_accuracy(rows, old_refused)
    print(f"\ncurrent: weights {ABSTENTION.weights} bias {ABSTENTION.bias} threshold {ABSTENTION.threshold}")
    print(f"  balanced accuracy {old_ba:.3f}; {describe(rows, old_refused)}")
    print("  its best threshold {}: balanced accuracy {:.3f}".format(*best_threshold(rows, old_scores)))

    new = refit(rows, x, y, args.l2, names)
    new_scores = np.array([new.score(r["features"]) for r in rows])
    new_refused = list(new_scores >= new.threshold)
    ba_new = balanced_accuracy(rows, new_refused)
    cv_refused = cross_validated(rows, x, y, args.l2, names=names)
    ba_cv = balanced_accuracy(rows, cv_refused)
    print(f"\nrefit: weights {new.weights} bias {new.bias} threshold {new.threshold}")
    print(f"  balanced accuracy {ba_new:.3f} (5-fold cross-validated {ba_cv:.3f}); {describe(rows, new_refused)}")
    x1 = matrix(rows, ("none",))
    only_none = fit_logistic(x1, y, weights(rows), args.l2)
    s1 = 1 / (1 + np.exp(-(only_none[0] + only_none[1] * x1[:, 0])))
    t1, ba1 = best_threshold(rows, s1)
    print(f"  the model's NOT FOUND alone: threshold {t1}, balanced accuracy {ba1:.3f}; {describe(rows, list(s1 >= t1))}")

    candidates(rows, y, args.l2)

    t_old, r_old = constrained(rows, old_scores)
    t_new, r_new = constrained(rows, new_scores)
    print(f"\nat most {MAX_FALSE_REFUSALS} false refusals per set: current weights refuse {r_old:.3f} of the "
          f"unanswerable (threshold {t_old}), the refit {r_new:.3f} (threshold {t_new})")
    chosen, well = fitted(rows, names, args.l2)
    scores = np.array([chosen.score(r["features"]) for r in rows])
    refused = list(scores >= chosen.threshold)
    print(f"  {describe(rows, refused)}")
    print(f"\nkept: {chosen.weights} bias {chosen.bias} at {chosen.threshold}; by threshold, refusal recall / false refusals:")
    for t in np.arange(0.3, 0.95, 0.05):
        print(f"  {t:.2f}  " + "; ".join(f"{k} {d['refusal_recall']:.3f} / {d['false_refusals']:.3f}"
                                       for k, d in describe(rows, list(scores >= t)).items()))
    _, tab = choose_well_supported(rows, 1 - scores, refused)
    print(f"\nWELL_SUPPORTED (now {WELL_SUPPORTED}): answers with confidence >= c, share right (sets equal), count")
    for c, share, n in tab:
        print(f"  {c:.2f}  {share:.3f}  {n}")
    print(f"chosen: {well if well is not None else f'none qualifies: keep {WELL_SUPPORTED}'} (the lowest c with "
          f"share right >= {TARGET_RIGHT} over >= {MIN_ANSWERS} answers, else the best share over >= {MIN_ANSWERS // 2})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
