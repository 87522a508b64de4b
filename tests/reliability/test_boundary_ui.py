"""Item 1 through the UI over HTTP: a link in the corpus to a file outside it is never indexed or shown,
at start, after Re-sync, and after an upload that bears the link's name."""

from __future__ import annotations

import pytest

from reliability_kit import SECRET, app, reply

pytestmark = pytest.mark.full


def test_a_link_to_a_file_outside_the_corpus_is_never_indexed_or_shown(tmp_path, corpus):
    from gradio_client import Client, handle_file

    outside = tmp_path / "outside" / "secret.txt"
    outside.parent.mkdir()
    outside.write_text(SECRET)
    (corpus / "secret.txt").symlink_to(outside)
    (corpus / "notes" / "vault.md").symlink_to("../../outside/secret.txt")
    with app(tmp_path, corpus) as url:
        seen = []
        for question in ("What is the vault code?", "What must be kept out of every index?"):
            result = Client(url, verbose=False).predict(question, [], api_name="/chat")  # a new chat each
            seen += [reply(result), result[2]]
        client = Client(url, verbose=False)
        log, status = client.predict(api_name="/resync")
        assert "- skipped `secret.txt`: a link to a file outside the corpus folder" in log
        assert "- skipped `notes/vault.md`: a link to a file outside the corpus folder" in log
        assert "2 documents" in status

        upload = tmp_path / "secret.txt"
        upload.write_text("Public note: the cafeteria opens at 8.\n")
        log, status, _ = client.predict([handle_file(str(upload))], api_name="/upload")
        assert "saved secret-2.txt" in log and outside.read_text() == SECRET  # never written through the link
        result = client.predict("What is the vault code?", [], api_name="/chat")
        seen += [reply(result), result[2], log, status]
    assert not [s for s in seen if "ZEBRA" in s or "4471" in s]
    app_log = (tmp_path / "app.log").read_text()
    assert "skipped secret.txt: a link to a file outside the corpus folder" in app_log and "ZEBRA" not in app_log
