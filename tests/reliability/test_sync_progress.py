"""Item 3 in the UI: a Re-sync of a large file shows how far it is (files, chunks, the file's own
chunks), and a second Re-sync started meanwhile says it is waiting for the first, then runs."""

from __future__ import annotations

import time

import pytest

from reliability_kit import app, settled_status

pytestmark = pytest.mark.full


def test_resync_shows_progress_and_a_second_one_says_it_waits(tmp_path, corpus):
    from gradio_client import Client

    with app(tmp_path, corpus) as url:
        settled_status(Client(url, verbose=False))  # the start-up sync is over: the file below is new to Re-sync
        lines = [f"Survey entry {i}: the {a} of district {i} was counted {i % 9 + 1} times near marker {i * 13}."
                 for i, a in zip(range(1300), ["heron", "otter", "lynx", "vole", "stoat"] * 300)]
        (corpus / "survey.txt").write_text("\n".join(lines) + "\n")  # ~250 chunks: four batches and a part
        first = Client(url, verbose=False).submit(api_name="/resync")
        deadline = time.time() + 300
        while not any("survey.txt" in str(o[0]) for o in first.outputs()):
            assert time.time() < deadline and not first.done(), first.outputs()
            time.sleep(0.2)
        second = Client(url, verbose=False).submit(api_name="/resync")
        done_first, done_second = first.result(timeout=600), second.result(timeout=600)
        firsts, seconds = [o[0] for o in first.outputs()], [o[0] for o in second.outputs()]
    assert any("🔄 Syncing:" in o and "of 3 files" in o for o in firsts), firsts
    assert any("survey.txt" in o and " chunks" in o and " of " in o for o in firsts)
    assert any(o.startswith("⏳ Waiting for the sync already running to finish") for o in seconds), seconds
    assert "1 added" in done_first[0] and "0 added" in done_second[0] and "3 unchanged" in done_second[0]
