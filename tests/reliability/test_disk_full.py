"""Item 5, a full disk: the index on a 2 MB tmpfs (mounted in a private user and mount namespace, so no
root is needed and nothing leaks), filled by an ingest. The CLI, the API, the app's start and a Re-sync
in the UI each end in one sentence that says what to do; after freeing space the next ingest continues
from what was written. Skipped, with the reason, where the machine allows no such mount.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time

import pytest

from reliability_kit import ROOT, env, one_error_line, settled_status, wait_up
from test_crash import make_corpus

pytestmark = pytest.mark.full

FULL = "The disk is full, the index at "


def _mount_check() -> str:
    """Why a small tmpfs cannot be mounted here ("" when it can)."""
    if not shutil.which("unshare"):
        return "no `unshare` command (util-linux)"
    out = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
                         capture_output=True, text=True)
    return "" if out.returncode == 0 else f"cannot mount a tmpfs in a user namespace: {out.stderr.strip()[:200]}"


WHY = _mount_check()
needs_tmpfs = pytest.mark.skipif(bool(WHY), reason=WHY)


def in_small_disk(mnt, script: str, size: str = "2m", **kw) -> subprocess.CompletedProcess | subprocess.Popen:
    """Run shell ``script`` with a ``size`` tmpfs mounted at ``mnt`` (in its own namespace)."""
    mnt.mkdir(exist_ok=True)
    background = kw.pop("background", False)
    # In the background the script is one command, exec'd: the Popen's terminate() then stops it, not only its shell.
    line = f"mount -t tmpfs -o size={size} tmpfs {shlex.quote(str(mnt))} && {'exec ' if background else ''}{script}"
    if background:
        return subprocess.Popen(["unshare", "-rm", "sh", "-c", line], env=env(), cwd=ROOT, **kw)
    return subprocess.run(["unshare", "-rm", "sh", "-c", line], env=env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=900)


def py(*args: str) -> str:
    return " ".join(shlex.quote(a) for a in (sys.executable, *args))


@needs_tmpfs
def test_a_full_disk_in_the_cli_and_the_api_is_one_sentence_and_the_next_ingest_continues(tmp_path):
    corpus, mnt = tmp_path / "docs", tmp_path / "mnt"
    make_corpus(corpus, 300)
    store = mnt / "ix"
    api = tmp_path / "api.py"
    api.write_text("import sys\nimport rag\ntry:\n    rag.ingest(sys.argv[1], store=sys.argv[2])\n"
                   "except rag.StoreError as e:\n    print('StoreError:', e)\n")
    script = (f"{py('-m', 'rag', '--store', str(store), 'ingest', '--quiet', str(corpus))}; echo \"rc=$?\" >&2; "
              f"{py(str(api), str(corpus), str(store))}; "
              f"mount -o remount,size=200m {shlex.quote(str(mnt))} && "
              f"{py('-m', 'rag', '--store', str(store), 'ingest', '--quiet', str(corpus))}")
    out = in_small_disk(mnt, script)
    cli_err, _, rest = out.stderr.partition("rc=")
    assert rest.startswith("2"), out.stderr
    one_error_line(cli_err, f"error: {FULL}{store} could not be written")
    assert "free some space and run ingest (or Re-sync) again" in cli_err
    api_line = [x for x in out.stdout.splitlines() if x.startswith("StoreError:")]
    assert api_line and FULL in api_line[0], out.stdout + out.stderr
    assert out.returncode == 0 and " unchanged" in out.stdout and "300 documents" not in out.stdout, out.stdout
    last = out.stdout.strip().splitlines()[-1]
    assert "0 skipped" in last and int(last.split(" unchanged")[0].rsplit(", ", 1)[1]) > 0  # continued, not redone


@needs_tmpfs
def test_a_full_disk_at_app_start_and_in_a_ui_resync(tmp_path, corpus):
    from gradio_client import Client

    from conftest import free_port

    mnt = tmp_path / "mnt"
    full = tmp_path / "full"
    make_corpus(full, 300)
    # app start on a disk already too small for the folder: the app serves, its status line says so (rag/startup.py)
    port, log = free_port(), tmp_path / "start.log"
    with log.open("w") as f:
        proc = in_small_disk(mnt, py(str(ROOT / "app.py"), "--corpus", str(full), "--store", str(mnt / "ix"), "--port",
                                     str(port)), size="300k", background=True, stdout=f, stderr=subprocess.STDOUT)
    try:
        wait_up(proc, f"http://127.0.0.1:{port}/", log)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        deadline = time.time() + 600
        while (status := client.predict(api_name="/status"))[:1] in "⏳🔄" and time.time() < deadline:
            time.sleep(0.5)
        assert status.startswith(f"⚠️ The start-up sync failed: {FULL}") and "free some space" in status, status
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert "Traceback" not in log.read_text()

    # the app serving; a Re-sync that fills the disk says so in the UI, and the app keeps answering
    port = free_port()
    log = tmp_path / "app.log"
    with log.open("w") as f:
        proc = in_small_disk(mnt, py(str(ROOT / "app.py"), "--corpus", str(corpus), "--store", str(mnt / "ix"),
                                     "--port", str(port)), background=True, stdout=f, stderr=subprocess.STDOUT)
    try:
        wait_up(proc, f"http://127.0.0.1:{port}/", log)
        settled_status(Client(f"http://127.0.0.1:{port}/", verbose=False))  # the start-up sync is over
        for path in full.iterdir():
            shutil.copy(path, corpus / path.name)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        sync_log, status = client.predict(api_name="/resync")
        assert sync_log.startswith(f"⚠️ {FULL}") and "free some space" in sync_log, sync_log
        reply = client.predict("Who is Andrii Hnatov?", [], api_name="/chat")[0][-1]["content"]
        assert "chief of staff" in str(reply)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert "Traceback" not in log.read_text()
    time.sleep(0.1)
