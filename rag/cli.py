"""Command line: ``python -m rag ingest FOLDER`` and ``python -m rag ask "question"``.

Errors the user can fix print one line to stderr and exit with status 2; no tracebacks.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from .errors import RagError
from .settings import Settings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rag", description="Ask questions of a folder of documents, offline, with citations.")
    p.add_argument("--store", type=Path, help="index folder (default: vectorstore/, env RAG_STORE)")
    sub = p.add_subparsers(dest="command", required=True)

    i = sub.add_parser("ingest", help="index a folder: add new files, update changed ones, drop deleted ones")
    i.add_argument("path", type=Path, nargs="?", help="folder of documents: .txt .md .pdf .docx .html .csv (default: seeds/, env RAG_CORPUS)")

    a = sub.add_parser("ask", help="answer a question from the index, with citations")
    a.add_argument("question")
    a.add_argument("-k", "--top-k", type=int, help="passages to retrieve (default 5)")
    a.add_argument("--answerer", help="auto | local | openai | extractive (default auto)")
    a.add_argument("--model", help="local model: qwen2.5-coder-1.5b (default), qwen2.5-coder-0.5b, smollm2-135m")
    a.add_argument("--llm-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (env RAG_LLM_URL)")
    a.add_argument("--json", action="store_true", help="print the Answer as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        from . import api

        if args.command == "ingest":
            return _ingest(api, Settings.from_env(store=args.store), args.path)
        settings = Settings.from_env(store=args.store, top_k=args.top_k, answerer=args.answerer,
                                     llm_model=args.model, llm_url=args.llm_url)
        answer = None
        streamed = False
        for event in api.engine(settings=settings).ask_stream(args.question):
            if isinstance(event, str):
                if not args.json and event:
                    print(event, end="", flush=True, file=sys.stderr)  # the draft, as it is written
                    streamed = True
            else:
                answer = event
        if streamed:
            print(file=sys.stderr)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    assert answer is not None
    if args.json:
        print(json.dumps(asdict(answer), indent=2))
        return 0
    print(answer.text)
    for sentence in answer.unsupported:
        print(f"  (not supported by the documents: \u201c{sentence}\u201d)")
    for n, c in enumerate(answer.citations, 1):
        where = f"{c.source}" + (f", page {c.page}" if c.page else "") + f", characters {c.start}-{c.end}"
        print(f"\n[{n}] {where}\n    \u201c{c.quote}\u201d")
    print(f"\nanswered by: {answer.answerer}")
    if answer.refused and answer.hits:
        print("\nClosest passages:")
        for h in answer.hits[:3]:
            print(f"  {h.source}:{h.start}-{h.end} (score {h.score:.2f}) {' '.join(h.text.split())[:100]}...")
    return 0


def _ingest(api, settings: Settings, path: Path | None) -> int:  # type: ignore[no-untyped-def]
    corpus = path or settings.corpus
    report = api.ingest(corpus, settings=settings)
    print(f"{corpus}: {report.summary()}")
    for source, reason in report.skipped:
        print(f"  skipped {source}: {reason}")
    for source, note in report.notes:
        print(f"  note {source}: {note}")
    if not report.chunks_total:
        print(f"No documents were indexed: {corpus} holds no readable {', '.join(settings.extensions)} files.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
