"""Start-up: how soon the web UI answers HTTP, and how soon it answers a question, on an existing index.

    python eval/bench_startup.py                      # extractive and auto (the local model), 3 runs each
    python eval/bench_startup.py --runs 5 --answerer extractive
    python eval/bench_startup.py --app /tmp/app_old.py --name startup-bench-before   # another app.py, to compare

The seed corpus is ingested once into a temporary index; then, per run, app.py starts in a
fresh process on it (nothing to sync) and is polled as a browser asks (``Accept:
text/html``), every 20 ms until the first 200, then every 100 ms (the starting page's own
script asks every 300 ms; polling it 50 times a second took ~0.3 s from gradio's import). Measured from the process's start: the first HTTP 200 (the
starting page that app.py serves while gradio imports, rag/holding.py; the real page for
an app without one), the real page (a 200 without the ``X-Rag-Starting`` header), the
first status line that is no longer "Loading the models…" (the models loaded), and the
answer to a question asked as soon as the real page answered (it waits for the models:
rag/startup.py). Medians over the runs; the load average (1 min) is taken before each run.

Writes ``<name>.json`` / ``.md`` under eval/results/ (default name startup-bench).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval.bench_load import free_port, reply_text  # noqa: E402
from eval.report import table, write  # noqa: E402
from eval.sets import RESULTS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HOLDING = "X-Rag-Starting"  # the starting page's header (rag/holding.py)
QUESTION = "Who is the chief of staff of Kiev's armed forces?"


def one_run(app: Path, corpus: Path, store: Path, answerer: str, log: Path) -> dict[str, float]:
    """Start the app, time the first 200, the real page, the models and the first answer; stop it."""
    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    first = None
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, str(app), "--corpus", str(corpus), "--store", str(store), "--port",
                                 str(port)], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "RAG_ANSWERER": answerer}, cwd=ROOT)
    try:
        while True:
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "text/html"}), timeout=2) as r:
                    first = first or time.perf_counter() - t0
                    if not r.headers.get(HOLDING):
                        break
                time.sleep(0.1)  # every poll costs the starting app a thread and the GIL: 50 a second slow it
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 600:
                    raise RuntimeError(f"the app did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.02)
        page = time.perf_counter() - t0
        client = Client(url, verbose=False)
        job = client.submit(QUESTION, [], api_name="/chat")
        answer = job.result(timeout=600)
        answered = time.perf_counter() - t0
        assert "Hnatov" in reply_text(answer), reply_text(answer)
        text = log.read_text()
        loaded = float(text.split("models loaded in ")[1].split(" s")[0]) if "models loaded in " in text else float("nan")
        return {"first_http_200_s": first, "page_s": page, "models_loaded_after_page_s": loaded,
                "first_answer_s": answered, "load_1min": load}
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--answerer", action="append", help="extractive, auto, local (repeatable; default extractive and auto)")
    p.add_argument("--app", type=Path, default=ROOT / "app.py")
    p.add_argument("--name", default="startup-bench")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    import rag

    rows, result = [], {"app": str(args.app), "runs": args.runs, "cores": os.cpu_count(), "answerers": {},
                        "load_before": round(os.getloadavg()[0], 1)}
    with tempfile.TemporaryDirectory() as tmp:
        corpus, store = Path(tmp) / "docs", Path(tmp) / "ix"
        shutil.copytree(ROOT / "seeds", corpus)
        rag.ingest(corpus, settings=rag.Settings.from_env(corpus=corpus, store=store))
        for answerer in args.answerer or ["extractive", "auto"]:
            runs = [one_run(args.app, corpus, store, answerer, Path(tmp) / f"app-{answerer}.log") for _ in range(args.runs)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            result["answerers"][answerer] = {"median": med, "runs": runs}
            rows.append([answerer, f"{med['first_http_200_s']:.2f}", f"{med['page_s']:.2f}",
                         f"{med['models_loaded_after_page_s']:.2f}", f"{med['first_answer_s']:.2f}", f"{med['load_1min']:.1f}"])
            print(answerer, med, file=sys.stderr)
    result["load_after"] = round(os.getloadavg()[0], 1)
    md = "\n".join([
        f"# Start-up of the web UI ({args.app.name})", "",
        f"Seed corpus, existing index (nothing to sync), {args.runs} runs each, medians, {os.cpu_count()} cores "
        f"(load average {result['load_before']} before, {result['load_after']} after: other work shares them). "
        "Seconds from the process's start: the first HTTP 200 to a browser's GET / (the starting page while gradio "
        "imports, rag/holding.py), the real Gradio page, the models loaded (seconds after the real page), and the "
        "answer to a question asked as soon as the real page answered. "
        "(`python eval/bench_startup.py`)", "",
        *table(["answerer", "first HTTP 200 (s)", "real page (s)", "models loaded, s after serving", "first answer (s)",
                "load avg (1 min)"], rows), "",
    ])
    return write(args.out, args.name, result, md)


if __name__ == "__main__":
    raise SystemExit(main())
