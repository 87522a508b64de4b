"""Load: N concurrent chats over HTTP against the real web UI, each asking a question and its follow-ups.

    python eval/bench_load.py                                   # extractive: 20 chats x 5 questions
    python eval/bench_load.py --answerer local --chats 20 --questions 1 --queue 8   # the model: 9 accepted, 11 told "busy"
    python eval/bench_load.py --answerer local --model qwen2.5-coder-0.5b ...       # a smaller model

The app (app.py) runs in a subprocess on a free loopback port over the seed corpus, with a
fresh index. Every chat is its own ``gradio_client.Client`` (its own session, so its own
history), started together; each asks "Who is <person>?" and then follow-ups about "him"
("What is his job?"), one after the other. Checked for every reply:

- an error: an exception other than the queue being full, or a reply that is a ⚠️ message;
- a mixed history: the chat shown holds anything but this question and its answer, or a
  follow-up was searched for with another chat's person (the rewrite uses the session's
  own history; a leak between sessions would name someone else).

Gradio's queue runs one answer at a time (one model); ``--queue`` questions may wait and
the next are refused at once with "Queue is full", which is counted, not an error.
Reported: chats, questions asked, answered, refused (queue full), errors, mixed, p50 / p95
/ max seconds per answered question, answered per second over the run.

Writes ``load-<answerer>.json`` / ``.md`` under eval/results/ (or --out).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval.report import table, write  # noqa: E402
from eval.sets import RESULTS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PEOPLE = ["Witkoff", "Hnatov", "Umerov", "Kushner", "Ushakov", "Podolyak"]
FOLLOW_UPS = ["What is his job?", "Who did he meet?", "What did he say?", "Where was he?"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(corpus: Path, answerer: str, queue: int, log: Path, env: dict[str, str] | None = None,
          timeout: float = 600):
    """app.py on a free loopback port over ``corpus`` with a fresh index; its URL. Stopped on exit."""
    port = free_port()
    with tempfile.TemporaryDirectory() as store, log.open("w") as out:
        cmd = [sys.executable, str(ROOT / "app.py"), "--corpus", str(corpus), "--store", store, "--port", str(port),
               "--queue", str(queue)]
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "RAG_ANSWERER": answerer, **(env or {})})
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.time() + timeout
            while True:
                try:
                    urllib.request.urlopen(url, timeout=2)
                    break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        raise RuntimeError(f"the app did not start:\n{log.read_text()[-3000:]}") from None
                    time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def message_text(message: dict) -> str:
    content = message["content"]
    return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)


def reply_text(result: object) -> str:
    return message_text(result[0][-1])  # type: ignore[index]


def chat(url: str, person: str, questions: int, start: threading.Barrier, timeout: float) -> list[dict]:
    """One browser session's conversation; one record per question."""
    from gradio_client import Client
    from gradio_client.utils import QueueError

    client = Client(url, verbose=False, httpx_kwargs={"timeout": timeout})  # a busy machine is slow, not broken
    asked = [f"Who is {person}?"] + [FOLLOW_UPS[i % len(FOLLOW_UPS)] for i in range(questions - 1)]
    start.wait()
    out = []
    for n, q in enumerate(asked):
        t0 = time.perf_counter()
        rec: dict = {"person": person, "question": q}
        try:
            result = client.submit(q, [], api_name="/chat").result(timeout=timeout)
        except QueueError as e:
            rec.update(outcome="queue full" if "full" in str(e).lower() else "error", detail=str(e)[:200])
            out.append(rec)
            continue
        except Exception as e:  # noqa: BLE001  counted as an error, with what it was
            rec.update(outcome="error", detail=f"{type(e).__name__}: {str(e)[:200]}")
            out.append(rec)
            continue
        rec["seconds"] = time.perf_counter() - t0
        text = reply_text(result)
        searched = re.search(r"searched for: “([^”]*)”", text)
        others = [p for p in PEOPLE if p != person]
        shown = [message_text(m) for m in result[0]]  # type: ignore[index]
        mixed = len(shown) != 2 or shown[0] != q
        if n and searched and (person not in searched[1] or any(p in searched[1] for p in others)):
            mixed = True
        by = re.search(r"answered by: ([^<·]*)", text)
        rec.update(outcome="error" if text.startswith("⚠️") else "mixed" if mixed else "answered",
                   searched=searched[1] if searched else "", detail=text[:200] if text.startswith("⚠️") else "",
                   by=by[1].strip() if by else "")
        out.append(rec)
    return out


def run_load(url: str, chats: int, questions: int, timeout: float = 600) -> dict:
    """``chats`` sessions at once, ``questions`` each; the figures and every record."""
    start = threading.Barrier(chats)
    results: list[list[dict]] = [[] for _ in range(chats)]

    def one(i: int) -> None:
        results[i] = chat(url, PEOPLE[i % len(PEOPLE)], questions, start, timeout)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(chats)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    records = [r for rs in results for r in rs]
    secs = sorted(r["seconds"] for r in records if r["outcome"] == "answered")
    count = {k: sum(r["outcome"] == k for r in records) for k in ("answered", "queue full", "error", "mixed")}

    def pct(p: float) -> float:
        return round(secs[min(len(secs) - 1, int(p * len(secs)))], 2) if secs else 0.0

    return {"chats": chats, "questions_per_chat": questions, "asked": len(records), **count,
            "followups_checked": sum(bool(r.get("searched")) for r in records),
            "p50_s": pct(0.5), "p95_s": pct(0.95), "max_s": round(secs[-1], 2) if secs else 0.0,
            "answered_per_s": round(count["answered"] / wall, 2), "wall_s": round(wall, 1), "records": records}


def markdown(res: dict, answerer: str, queue: int) -> str:
    rows = [[answerer, res["chats"], res["questions_per_chat"], res["asked"], res["answered"], res["queue full"],
             res["error"], res["mixed"], res["p50_s"], res["p95_s"], res["max_s"], res["answered_per_s"]]]
    bad = [r for r in res["records"] if r["outcome"] in ("error", "mixed")][:10]
    lines = [f"# Load: concurrent chats over HTTP ({answerer}, queue {queue})", "",
             *table(["answerer", "chats", "q/chat", "asked", "answered", "queue full", "errors", "mixed",
                     "p50 s", "p95 s", "max s", "answered/s"], rows), "",
             f"Answered by: {', '.join(sorted({r['by'] for r in res['records'] if r.get('by')})) or '-'}. "
             f"{res['followups_checked']} follow-ups were rewritten and checked against their own chat's person. "
             f"Wall time {res['wall_s']} s on {os.cpu_count()} cores (shared).", ""]
    lines += [f"- {r['outcome']}: {r['person']} / {r['question']}: {r.get('detail') or r.get('searched')}" for r in bad]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--answerer", default="extractive", choices=["extractive", "local"])
    p.add_argument("--model", default="", help="local model (default: the setting, qwen2.5-coder-1.5b)")
    p.add_argument("--chats", type=int, default=20)
    p.add_argument("--questions", type=int, default=None, help="per chat (default 5; local: 1)")
    p.add_argument("--queue", type=int, default=None, help="questions that may wait (default 32; local: 8)")
    p.add_argument("--corpus", type=Path, default=ROOT / "seeds")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    local = args.answerer == "local"
    questions = args.questions or (1 if local else 5)
    queue = args.queue if args.queue is not None else (8 if local else 32)
    env = {"RAG_LLM_MODEL": args.model} if args.model else {}
    with tempfile.TemporaryDirectory() as tmp, serve(args.corpus, args.answerer, queue, Path(tmp) / "app.log", env) as url:
        res = run_load(url, args.chats, questions)
    res.update(answerer=args.answerer, model=args.model, queue=queue)
    return write(args.out, f"load-{args.answerer}", res, markdown(res, args.answerer, queue))


if __name__ == "__main__":
    raise SystemExit(main())
