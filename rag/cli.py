"""Command line: ``python -m rag ingest FOLDER``, ``python -m rag watch FOLDER``, ``python -m rag ask "question"``,
``python -m rag status``, ``python -m rag mcp [--http]``.

Errors the user can fix print one line to stderr and exit with status 2; no tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from .errors import RagError
from .extract import describe
from .settings import Settings
from .types import SyncProgress


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rag", description="Ask questions of a folder of documents, offline, with citations.")
    p.add_argument("--store", type=Path, help="index folder (default: vectorstore/, env RAG_STORE)")
    p.add_argument("--chroma-url", help="use a Chroma server instead of --store, e.g. http://127.0.0.1:8000 (env RAG_CHROMA_URL)")
    p.add_argument("--collection", help="a named collection of the store instead of its default index (env RAG_COLLECTION)")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("collections", help="named document sets, each its own folder and index: list, create, delete")
    c.add_argument("action", choices=["list", "create", "delete"])
    c.add_argument("name", nargs="?", help="the collection (create, delete)")
    c.add_argument("folder", type=Path, nargs="?", help="create: its folder of documents")

    i = sub.add_parser("ingest", help="index a folder: add new files, update changed ones, drop deleted ones")
    i.add_argument("path", type=Path, nargs="?", help=f"folder of documents: {describe()} (default: seeds/, env RAG_CORPUS)")
    i.add_argument("-q", "--quiet", action="store_true", help="no progress bar (it is shown only when stderr is a terminal)")

    w = sub.add_parser("watch", help="sync a folder now and again whenever its files change, until Ctrl-C")
    w.add_argument("path", type=Path, nargs="?", help="folder of documents (default: seeds/, env RAG_CORPUS)")

    sub.add_parser("status", help="what the index holds and when it was last synced")

    v = sub.add_parser("serve", help="serve an OpenAI-compatible API (/v1/chat/completions, /v1/models) over the index")
    v.add_argument("--host", default=os.environ.get("RAG_HOST", "127.0.0.1"), help="address to bind (default 127.0.0.1)")
    v.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    v.add_argument("--no-auth", action="store_true", help="serve beyond 127.0.0.1 without RAG_API_KEY (not advised)")

    a = sub.add_parser("ask", help="answer a question from the index, with citations")
    a.add_argument("question")
    a.add_argument("-k", "--top-k", type=int, help="passages to retrieve (default 5)")
    a.add_argument("--answerer", help="auto | local | openai | extractive (default auto)")
    a.add_argument("--model", help="local model: qwen2.5-coder-1.5b (default), qwen2.5-coder-0.5b, smollm2-135m")
    a.add_argument("--llm-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (env RAG_LLM_URL)")
    a.add_argument("--json", action="store_true", help="print the Answer as JSON")

    m = sub.add_parser("mcp", help="serve search and ask to MCP clients: over stdio (default) or streamable HTTP")
    m.add_argument("--http", action="store_true", help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    m.add_argument("--host", default="127.0.0.1", help="with --http: address to bind (default 127.0.0.1, this "
                   "machine only; any other needs RAG_API_KEY or --no-auth)")
    m.add_argument("--port", type=int, default=8765, help="with --http: port (default 8765)")
    m.add_argument("--no-auth", action="store_true", help="with --http beyond loopback: serve without an API key")
    for flag, dest in (("--answerer", "answerer"), ("--model", "model"), ("--llm-url", "llm_url")):
        m.add_argument(flag, dest=dest, help=f"as for ask ({flag})")
    m.add_argument("-k", "--top-k", type=int, help="passages for ask to retrieve (default 5)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        from . import api
        from .present import answer_text, status_text

        from .collections import chosen, settings_for

        if args.command == "collections":
            return _collections(args)
        if args.command == "mcp":
            return _mcp(args)
        asking = dict(top_k=args.top_k, answerer=args.answerer, llm_model=args.model,
                      llm_url=args.llm_url) if args.command == "ask" else {}
        base = Settings.from_env(store=args.store, chroma_url=args.chroma_url, **asking)
        settings = settings_for(chosen(args.collection), base)
        if args.command == "ingest":
            return _ingest(api, settings, args.path, args.quiet)
        if args.command == "watch":
            return _watch(api, settings, args.path)
        if args.command == "serve":
            return _serve(api, settings, args)
        if args.command == "status":
            print(status_text(api.engine(settings=settings)))
            return 0
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
    print(answer_text(answer))
    return 0


def _mcp(args: argparse.Namespace) -> int:
    import os

    from . import mcpserver

    from .collections import chosen, settings_for

    settings = Settings.from_env(store=args.store, chroma_url=args.chroma_url, top_k=args.top_k,
                                 answerer=args.answerer, llm_model=args.model, llm_url=args.llm_url)
    settings = settings_for(chosen(args.collection), settings)
    try:
        mcpserver.serve(settings, http=args.http, host=args.host, port=args.port, no_auth=args.no_auth,
                        api_key=os.environ.get("RAG_API_KEY", ""))
    except KeyboardInterrupt:
        pass
    return 0


def _collections(args: argparse.Namespace) -> int:
    from . import collections

    settings = Settings.from_env(store=args.store, chroma_url=args.chroma_url)
    if args.action == "list":
        found = collections.list_all(settings)
        for c in found:
            print(f"{c.name}\t{c.corpus}")
        if not found:
            print(f"No collections in {collections.root(settings)} yet: python -m rag collections create NAME FOLDER")
        return 0
    if not args.name:
        print(f"error: collections {args.action} needs a NAME", file=sys.stderr)
        return 2
    if args.action == "create":
        if args.folder is None:
            print("error: collections create needs NAME and FOLDER (the collection's documents)", file=sys.stderr)
            return 2
        c = collections.create(args.name, args.folder, settings)
        print(f"Collection {c.name}: documents in {c.corpus}, index in {c.store}. Index it with: "
              f"python -m rag --collection {c.name} ingest")
        return 0
    c = collections.delete(args.name, settings)
    print(f"Deleted collection {c.name}'s index ({c.store}); its documents in {c.corpus} are untouched.")
    return 0


def _ingest(api, settings: Settings, path: Path | None, quiet: bool) -> int:  # type: ignore[no-untyped-def]
    corpus = path or settings.corpus
    with _progress_bar(quiet or not sys.stderr.isatty()) as progress:
        report = api.ingest(corpus, settings=settings, progress=progress)
    print(f"{corpus}: {report.summary()}")
    for source, reason in report.skipped:
        print(f"  skipped {source}: {reason}")
    for source, note in report.notes:
        print(f"  note {source}: {note}")
    if not report.chunks_total:
        print(f"No documents were indexed: {corpus} holds no readable {', '.join(settings.extensions)} files.")
    return 0


def _serve(api, settings: Settings, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from .access import api_key_for
    from .serve import serve

    key, warning = api_key_for(args.host, args.port, os.environ.get("RAG_API_KEY", ""), args.no_auth)
    if warning:
        print(warning, file=sys.stderr)
    engine = api.engine(settings=settings)
    engine.warm_up()
    print(f"OpenAI-compatible API on http://{args.host}:{args.port}/v1 (model 'rag'; answerer: {engine.answerer_name()})",
          flush=True)
    serve(engine, args.host, args.port, key)
    return 0


def _watch(api, settings: Settings, path: Path | None) -> int:  # type: ignore[no-untyped-def]
    import time

    from .watch import Watcher

    told: set[tuple[str, str]] = set()  # each skipped file's reason once, not at every sync

    def synced(report) -> None:  # type: ignore[no-untyped-def]
        print(f"{time.strftime('%H:%M:%S')} {report.summary()}", flush=True)
        for skip in set(report.skipped) - told:
            print(f"  skipped {skip[0]}: {skip[1]}", flush=True)
            told.add(skip)

    watcher = Watcher(api.engine(settings=settings), path or settings.corpus, on_sync=synced,
                      on_error=lambda message: print(f"{time.strftime('%H:%M:%S')} error: {message}", file=sys.stderr))
    print(f"Watching {watcher.corpus} (Ctrl-C to stop).", flush=True)

    def stop(signum: int, frame: object) -> None:  # the first Ctrl-C (or SIGTERM) ends after a running sync;
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second one interrupts it
        watcher.stop_event.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        watcher.run()
    except KeyboardInterrupt:
        pass
    return 0


@contextmanager
def _progress_bar(quiet: bool) -> Iterator[Callable[[SyncProgress], None] | None]:
    """A tqdm bar on stderr fed by sync's progress callback: files, chunks, rate, time left."""
    if quiet:
        yield None
        return
    from tqdm import tqdm

    size = shutil.get_terminal_size((100, 20))  # a terminal reporting 0x0 would hide the bar: fall back
    bars: list[tqdm] = []

    def update(p: SyncProgress) -> None:
        if not bars:
            bars.append(tqdm(total=p.files_total, unit="file", file=sys.stderr, ncols=min(size.columns, 120),
                             nrows=size.lines, desc="ingest"))
        bar = bars[0]
        where = f", {p.source[-40:]}" + (f" ({p.note})" if p.note else "") if p.source else ""
        bar.set_postfix_str(f"{p.chunks_done} chunks{where}", refresh=not p.note)  # OCR: each page shows
        bar.update(p.files_done - bar.n)

    try:
        yield update
    finally:
        for bar in bars:
            bar.close()


if __name__ == "__main__":
    raise SystemExit(main())
