"""Item 4: beyond loopback the app needs a login or an explicit --no-auth (which warns); a login is
enforced over HTTP; read-only mode has no upload or Re-sync, in the page or the API."""

from __future__ import annotations

import time

import pytest

from conftest import free_port
from reliability_kit import app, app_process, one_error_line, reply

pytestmark = pytest.mark.full


def test_all_interfaces_without_credentials_refuses_to_start(tmp_path, corpus):
    t0 = time.perf_counter()
    proc = app_process(tmp_path, corpus, "--host", "0.0.0.0", "--port", str(free_port()), RAG_AUTH="")
    assert proc.wait(timeout=120) == 2
    out = (tmp_path / "app.log").read_text()
    one_error_line(out, "error: --host 0.0.0.0 makes the app reachable from other machines, so it needs a login: "
                        "set RAG_AUTH=user:password")
    assert "--no-auth" in out and not (tmp_path / "ix").exists()  # refused before any work
    print(f"\nrefused in {time.perf_counter() - t0:.1f} s")


def test_no_auth_serves_beyond_loopback_with_a_warning(tmp_path, corpus):
    proc = app_process(tmp_path, corpus, "--host", "0.0.0.0", "--port", str(free_port()), "--no-auth", RAG_AUTH="")
    try:
        deadline = time.time() + 120
        while "WARNING: serving on 0.0.0.0" not in (tmp_path / "app.log").read_text():
            assert proc.poll() is None and time.time() < deadline, (tmp_path / "app.log").read_text()
            time.sleep(0.2)
    finally:
        proc.kill()  # stopped before it binds: the warning is what is tested
        proc.wait(timeout=30)
    text = (tmp_path / "app.log").read_text()
    assert "with no login (--no-auth): anyone who can reach this port can read the documents' text" in text


def test_a_login_is_required_and_enforced_over_http(tmp_path, corpus):
    from gradio_client import Client

    with app(tmp_path, corpus, RAG_AUTH="ana:correct horse") as url:
        with pytest.raises(Exception):  # noqa: B017  gradio_client raises its own error types
            Client(url, verbose=False).predict("Who is Witkoff?", [], api_name="/chat")
        with pytest.raises(Exception):  # noqa: B017
            Client(url, auth=("ana", "wrong"), verbose=False)
        result = Client(url, auth=("ana", "correct horse"), verbose=False).predict("Who is Andrii Hnatov?", [],
                                                                                  api_name="/chat")
        assert "chief of staff" in reply(result)


def test_read_only_has_no_upload_and_no_resync(tmp_path, corpus):
    from gradio_client import Client

    with app(tmp_path, corpus, "--read-only") as url:
        client = Client(url, verbose=False)
        api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert "/chat" in api and "/upload" not in api and "/resync" not in api
        with pytest.raises(Exception):  # noqa: B017
            client.predict(api_name="/resync")
        assert "Hnatov" in reply(client.predict("Who is the chief of staff of Kiev's armed forces?", [], api_name="/chat"))
