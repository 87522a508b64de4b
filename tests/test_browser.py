"""The web UI in a real browser: Debian's Chromium driven by Playwright, against the real app
serving the seed article with the real local model on a loopback port.

Screenshots go to test-artifacts/ (kept by CI as artifacts; one is docs/ui.png in the README).
Without Chromium these tests are skipped, except under CI, where they fail: .ci/run installs it.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from test_app import serve, start

pytestmark = pytest.mark.full  # Chromium against the app with the local model

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip("Chromium is not installed (apt install chromium); CI installs it", allow_module_level=True)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    from conftest import seed_folder

    tmp = tmp_path_factory.mktemp("browser")
    yield from serve(tmp, seed_folder(tmp), "auto")


@pytest.fixture
def page(app_url):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                      permissions=["clipboard-read", "clipboard-write"])
        page = context.new_page()
        page.set_default_timeout(240_000)  # the 1.5B model on 2 busy cores
        page.goto(app_url)
        page.locator("#question textarea").wait_for()
        yield page
        browser.close()


def ask(page, question: str) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#question textarea").press("Enter")


def last_reply(page):
    return page.locator("#chat .message.bot").last


def wait_answer(page, n: int):
    """Wait for the n-th bot message to be final (its footer names the answerer); return its text."""
    reply = page.locator("#chat .message.bot").nth(n - 1)
    reply.get_by_text("answered by", exact=False).wait_for()
    return reply.inner_text()


def test_the_status_line_follows_the_start(page):
    """First in the module: the page is up while the models load (rag/startup.py); the line then turns into
    the index's own line without a reload."""
    status = page.locator("#status")
    status.get_by_text("Loading the models", exact=False).or_(status.get_by_text("Syncing", exact=False)).wait_for()
    status.get_by_text("answerer", exact=False).wait_for()
    assert "1 documents" in status.inner_text() and "qwen2.5-coder-1.5b" in status.inner_text()


def test_streamed_answer_with_a_clickable_citation(page):
    ask(page, "Who is the top Ukrainian negotiator?")
    page.locator("#stop").wait_for(state="visible")  # answering: Stop replaces Ask
    page.get_by_text("✍️").first.wait_for()
    text = wait_answer(page, 1)
    assert "Umerov" in text and "[1]" in text and "supported" in text
    page.locator("#ask").wait_for(state="visible")
    page.locator("#stop").wait_for(state="hidden")

    last_reply(page).locator("a.cite").first.click()
    card = page.locator("#sources .src.active")
    card.wait_for()
    assert card.get_attribute("id") == "src-0-1"
    assert "Umerov" in card.locator("mark").inner_text()
    assert "article.txt" in card.inner_text() and "relevance" in card.inner_text()
    page.screenshot(path=str(SHOTS / "answer-with-citation.png"))

    page.locator("#copy-answer").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "Umerov" in copied and "[1]" in copied and "answered by" in copied and "<a" not in copied


def test_follow_up_uses_the_history(page):
    ask(page, "Who is Steve Witkoff?")
    wait_answer(page, 1)
    ask(page, "Who did he travel with?")
    text = wait_answer(page, 2)
    assert re.search(r"searched for: .*Witkoff", text), text
    assert "Kushner" in text.split("Sources:")[0]
    page.screenshot(path=str(SHOTS / "follow-up.png"))
    # the first answer's sources stay reachable, folded under the latest
    page.locator("#chat .message.bot").first.locator("a.cite").first.click()
    assert page.locator("#sources .src.active").get_attribute("id") == "src-0-1"

    page.locator("#new-chat").click()
    page.wait_for_function("document.querySelectorAll('#chat .message').length === 0")
    assert "appear here" in page.locator("#sources").inner_text()


def test_stop_mid_answer_then_ask_again(page):
    ask(page, "What did Witkoff and Kushner discuss with Putin at the Kremlin, and what came of it?")
    page.wait_for_function(  # the model is reading (the draft shows the pen)
        "() => { const m = [...document.querySelectorAll('#chat .message.bot')].pop();"
        " return m && m.innerText.includes('✍️'); }")
    page.locator("#stop").click()
    reply = last_reply(page)
    reply.get_by_text("stopped").wait_for()
    page.locator("#ask").wait_for(state="visible")
    stopped = reply.inner_text()
    page.wait_for_timeout(1500)
    assert last_reply(page).inner_text() == stopped, "the answer kept changing after Stop"
    assert page.get_by_text("Error", exact=True).count() == 0
    page.screenshot(path=str(SHOTS / "stopped.png"))

    ask(page, "Who is the chief of staff of Kiev's armed forces?")
    assert re.search(r"Hnatov", wait_answer(page, 2))


def test_create_pick_and_delete_a_collection(page):
    """Made from the page, a collection is picked at once; deleting it asks first, and cancelled does nothing."""
    page.get_by_role("button", name="Manage documents").click()
    page.locator("#new-collection textarea").fill("notes")
    page.locator("#create-collection").click()
    log = page.locator("#sync-log")
    log.get_by_text("Synced:", exact=False).wait_for()
    assert "Collection notes over" in log.inner_text()
    assert page.locator("#collection input").input_value() == "notes"
    page.locator("#status").get_by_text("Collection notes", exact=False).wait_for()
    page.once("dialog", lambda d: d.dismiss())
    page.locator("#delete-collection").click()
    page.wait_for_timeout(1000)
    assert page.locator("#collection input").input_value() == "notes" and "Deleted" not in log.inner_text()
    page.once("dialog", lambda d: d.accept())
    page.locator("#delete-collection").click()
    log.get_by_text("Deleted collection", exact=False).wait_for()
    assert page.locator("#collection input").input_value().startswith("this folder")
    page.screenshot(path=str(SHOTS / "collections.png"))


def test_the_starting_page_opens_the_app_by_itself(tmp_path):
    """Opened while gradio imports (rag/holding.py), the page says the app is starting, then turns into the app
    without a reload by hand: its script asks again through the moment the port changes hands."""
    import time
    import urllib.request

    from conftest import seed_folder
    from playwright.sync_api import sync_playwright

    proc, url = start(tmp_path, seed_folder(tmp_path), "extractive", RAG_TEST_HOLD_DELAY="5")
    try:
        deadline = time.time() + 120
        while True:  # the starting page is up (gradio is held back 5 s after it)
            try:
                urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "text/html"}), timeout=5)
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, (tmp_path / "app.log").read_text()
                time.sleep(0.05)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            page.set_default_timeout(180_000)
            page.goto(url)
            assert "Starting the app" in page.locator("#starting").inner_text()
            page.locator("#question textarea").wait_for()  # the real app, reloaded by the starting page's script
            assert page.url == url and page.title() == "Ask your documents"
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
