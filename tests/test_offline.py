"""Offline by construction: a full ingest + ask opens no connection beyond loopback.

Runs in a fresh interpreter with every offline/telemetry variable removed from the
environment, so the package's own defaults have to keep it off the network.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.full  # ingest and ask in a subprocess, on Chroma

ROOT = Path(__file__).resolve().parent.parent
OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "GRADIO_ANALYTICS_ENABLED", "ANONYMIZED_TELEMETRY")


def clean_env(log: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_VARS}
    env["NETGUARD_LOG"] = str(log)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT)])
    return env


def test_ingest_and_ask_touch_no_network(tmp_path, corpus):
    from test_ocr import page

    page(["The lighthouse keeper of Skerry Point is Ottoline Brack."]).save(corpus / "scan.png")  # OCR too
    log = tmp_path / "net.log"
    log.touch()
    script = (
        "import netguard; netguard.install()\n"
        "import rag, rag.collections\n"
        f"r = rag.ingest({str(corpus)!r}, store={str(tmp_path / 'ix')!r})\n"
        "assert r.chunks_total > 0 and 'scan.png' in r.added, r\n"
        f"a = rag.ask('Who is the top Ukrainian negotiator?', store={str(tmp_path / 'ix')!r})\n"
        "assert 'Umerov' in a.text, a.text\n"
        f"s = rag.Settings.from_env(store={str(tmp_path / 'ix')!r})\n"  # a collection: its own index, the same rules
        f"rag.collections.create('scans', {str(corpus)!r}, s)\n"
        "assert 'scan.png' in rag.ingest(settings=s, collection='scans').added\n"
        "assert 'Brack' in rag.ask('Who keeps the lighthouse of Skerry Point?', settings=s, collection='scans').text\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=clean_env(log), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
    assert log.read_text() == "", f"non-loopback network use:\n{log.read_text()}"
