"""Add the reader's check (rag/abstain.py ``check``) to an answers.py dump read before the check existed.

    python eval/add_check.py eval/results/answers-tune-reader.jsonl      # ~1 s a question, in place

The check asks the local model whether the sentence the reader chose answers the question; the
reading itself (the sentence chosen, the other features) does not depend on it, so a dump's rows
need only the check added: ``features["check"]`` as ``rag.abstain.features`` computes it from
the sentence the row would quote (``would_quote``, whitespace-normalised as the reader's
``Sentence.text``). Rows that already have it are kept as they are.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.abstain import check, log_odds  # noqa: E402


def add_check(rows: list[dict], model) -> int:  # type: ignore[no-untyped-def]
    """Give every reader row with features and a sentence its ``check`` feature; how many were added."""
    added = 0
    for r in rows:
        feats, quote = r.get("features"), r.get("would_quote")
        if feats is None or not quote or "check" in feats:
            continue
        feats["check"] = log_odds(check(model, r["question"], " ".join(quote.split())))
        added += 1
    return added


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dump", type=Path)
    args = p.parse_args(argv)
    import rag
    from rag.llm import local_model

    s = rag.Settings.from_env()
    rows = [json.loads(line) for line in args.dump.read_text().splitlines() if line.strip()]
    n = add_check(rows, local_model(s.llm_model, s.model_dir))
    args.dump.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{args.dump}: the check added to {n} of {len(rows)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
