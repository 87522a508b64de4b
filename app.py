"""The web UI: a chat over your documents, each answer with numbered, clickable, highlighted citations.

    python app.py [--corpus FOLDER] [--store FOLDER] [--port 7860] [--host 127.0.0.1] [--read-only] [--no-auth]

Binds 127.0.0.1 unless told otherwise; no share link, no analytics. Beyond loopback it
needs a login (RAG_AUTH=user:password) or --no-auth, which warns (rag/access.py). Its port
answers "starting…" within ~0.3 s while gradio imports (rag/holding.py); the UI serves as soon
as it is built, then loads the models and syncs the corpus into the index in the background
(rag/startup.py); the status line says how far that is, and a question asked meanwhile waits
for the models and is answered as soon as they are loaded. Each browser tab has its own chat
(its history lives in the tab's session); one queue in front of the one model.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import rag  # first: it sets the offline environment (no telemetry, no hub) before gradio loads
from rag.holding import Holding, lazy

# At module level (the handlers' `gr.Request` annotations resolve here), imported on first use: main()
# serves a starting page on the port first (rag/holding.py), then pays the ~3.5 s of importing gradio.
gr = lazy("gradio")
from rag.api import check_question, clean_text, release  # noqa: E402,I001
from rag import collections
from rag.collections import list_all, settings_for
from rag.access import is_loopback, login_for
from rag.present import EMPTY_SOURCES, answer_markdown, index_status, md_code, md_escape, searched_note, sources_html, sync_line
from rag.startup import WAIT_FIRST_SYNC, WAIT_MODELS, Startup
from rag.types import Answer, SyncProgress
from rag.upload import save_uploads

log = logging.getLogger("rag.app")

CSS = """
.src { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px; margin: 0 0 10px 0; }
.src.active { border-color: #f59e0b; box-shadow: 0 0 0 2px #fde68a; }
.src-head { font-weight: 600; margin-bottom: 4px; }
.src-body { white-space: pre-wrap; font-size: 0.92em; line-height: 1.45; }
.src mark { background: #fde68a; color: #111; padding: 0 1px; border-radius: 2px; }
.src-score { color: var(--body-text-color-subdued); font-weight: 400; font-size: 0.85em; }
.turn > summary { cursor: pointer; color: var(--body-text-color-subdued); margin: 6px 0; }
a.cite { text-decoration: none; font-weight: 600; }
"""

# Clicking an inline [n] marker reveals its card in the sources panel (opening an older turn's group).
HEAD = """<script>
document.addEventListener("click", (e) => {
  const a = e.target.closest && e.target.closest('a[href^="#src-"]');
  if (!a) return;
  e.preventDefault(); e.stopPropagation();
  const card = document.getElementById(a.getAttribute("href").slice(1));
  if (!card) return;
  const turn = card.closest("details"); if (turn) turn.open = true;
  document.querySelectorAll(".src.active").forEach((c) => c.classList.remove("active"));
  card.classList.add("active");
  card.scrollIntoView({behavior: "smooth", block: "center"});
}, true);
</script>"""

# Copy the latest answer as the reader sees it: text, [n] markers, sources line; no HTML.
COPY_JS = """() => { const m = [...document.querySelectorAll('#chat .message.bot')].pop();
  if (m) navigator.clipboard.writeText(m.innerText.trim()); }"""


def _clean(value: object) -> object:
    """Strings from the browser as UTF-8 can carry them: a lone surrogate echoed back would break the reply stream."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


_DONE = object()


def pump(stream: Iterator[str | Answer], stop: threading.Event, poll: float = 0.2) -> Iterator[str | Answer]:
    """The events of an answer ``stream``, read in a worker thread, until it ends or ``stop`` is set.

    Stop then takes effect within ``poll`` seconds, also while an answerer computes without
    writing (the local reader's one model call takes 2-8 s). The worker closes the stream
    when it is done or stopped: a streaming model stops at its next token; a reading model
    finishes its call and the answer is dropped. Errors in the stream are raised here.
    """
    events: queue.Queue[object] = queue.Queue()

    def work() -> None:
        try:
            for event in stream:
                if stop.is_set():
                    break
                events.put(event)
        except Exception as e:  # handed to the reader of the queue
            events.put(e)
        finally:
            stream.close()
            events.put(_DONE)

    threading.Thread(target=work, daemon=True, name="answer").start()
    while True:
        try:
            event = events.get(timeout=poll)
        except queue.Empty:
            if stop.is_set():
                return
            continue
        if event is _DONE or stop.is_set():
            return
        if isinstance(event, Exception):
            raise event
        yield event  # type: ignore[misc]


def build(settings: rag.Settings, read_only: bool = False, startup: Startup | None = None,
          watching: bool = False, local: bool = True) -> gr.Blocks:
    """The UI over ``settings``' index and its store's collections; ``read_only``: no upload, Re-sync
    or collection changes, in the page or the API. ``local``: the page is served to this machine only
    (loopback), so a new collection may name any folder of it; otherwise it gets a new folder.

    ``startup`` loads the models and syncs in the background (main() starts it once serving);
    without one, a started one of the settings' own. ``watching``: a watcher keeps the index in
    step with the folder (main() starts it), and the status line follows its syncs.
    """
    startup = startup or Startup(settings).start()
    answerers = ["auto", "local", "extractive"] + (["openai"] if settings.llm_url else [])

    def collection_choices() -> list[tuple[str, str]]:
        """The picker's choices: this folder, then the store's collections."""
        return [(f"this folder ({Path(settings.corpus).name})", "")] + [(c.name, c.name) for c in list_all(settings)]

    def engine_for(collection: str | None) -> rag.Engine:
        """The started engine, or the picked collection's: its own index, the same models."""
        engine = startup.engine()  # a failed load raises its RagError
        return rag.engine(settings=settings_for(collection, engine.settings)) if collection else engine

    stops: dict[str, threading.Event] = {}  # per browser session: set by Stop, read by the answering loop

    def respond(message: str, chat: list | None, answers: list[Answer], answerer: str, k: float, collection: str | None,
                request: gr.Request):
        """Stream one turn: the best passage at once, then the model's words, then the checked answer."""
        stop = stops.setdefault(request.session_hash or "", threading.Event())
        stop.clear()
        chat = _clean(list(chat or [])) + [{"role": "user", "content": md_escape(clean_text(str(message or "")))}]
        turn = len(answers)
        busy = (gr.update(visible=False), gr.update(visible=True, value="Stop", interactive=True), gr.update(interactive=False))
        idle = (gr.update(visible=True), gr.update(visible=False), gr.update(interactive=True))

        def say(text: str, panel: str, done: bool = False):
            return (chat + [{"role": "assistant", "content": text}], "", panel, answers, *(idle if done else busy))

        def hold(text: str, wait):
            """Say ``text`` until ``wait(0.2)`` is true (then True), or until Stop (then the turn ends: False)."""
            yield say(text, sources_html(answers))
            while not wait(0.2):
                if stop.is_set():
                    yield say(f"{text} ⏹️ *stopped*", sources_html(answers), done=True)
                    return False
            return True

        try:
            history = [(a.question, a.text) for a in answers]
            question = check_question(message, settings.max_question_chars)
            # Just started: wait for the models, and on a first start for the sync that fills the index.
            if not startup.loaded() and not (yield from hold(WAIT_MODELS, startup.wait)):
                return
            if startup.first_sync() and not (yield from hold(WAIT_FIRST_SYNC, startup.wait_sync)):
                return
            engine = engine_for(collection)  # a failed load or a deleted collection: the chat shows why
            yield say("searching …", sources_html(answers))
            searched, read, hits = engine.prepare(question, history, answerer, int(k))  # the preview and the answer share them
            note = searched_note(question, searched)
            panel = sources_html(answers)
            if engine.answerers.resolve(answerer) != "extractive":
                quick = engine.answerers.extractive.answer(read, hits)  # ~0.2 s: shown while the model reads
                if not quick.refused:
                    note += f"*Best matching passage: \u201c{md_escape(quick.citations[0].quote)}\u201d* "
                    note += f'<a class="cite" href="#src-{turn}-1">[1]</a>\n\n'
                    panel = sources_html(answers, preview=quick)
                yield say(note + "✍️ …", panel)
            draft = ""
            for event in pump(engine.answer_stream(read, hits, answerer), stop):
                if isinstance(event, str):
                    draft += event
                    yield say(f"{note}{md_escape(draft)} ✍️", panel)
                else:
                    answers = answers + [replace(event, question=question, standalone=searched)]
                    yield say(answer_markdown(answers[-1], turn), sources_html(answers), done=True)
            if stop.is_set():
                yield say(f"{note}{md_escape(draft)} ⏹️ *stopped*", panel, done=True)
        except rag.RagError as e:
            yield say(f"⚠️ {md_escape(str(e))}", sources_html(answers), done=True)
        except Exception as e:  # never a traceback in the UI; the log has it
            log.exception("answering failed")
            yield say(f"⚠️ Something went wrong ({type(e).__name__}: {md_escape(str(e))}). Details are in the server log.",
                      sources_html(answers), done=True)

    def stopped(request: gr.Request):
        """Stop pressed: the answering loop sees it within 0.2 s, marks the turn and ends it."""
        stops.setdefault(request.session_hash or "", threading.Event()).set()
        return gr.update(value="Stopping…", interactive=False)

    def forget(request: gr.Request) -> None:
        stops.pop(request.session_hash or "", None)

    def status_line(collection: str | None = "") -> str:
        """Loading, syncing, a failure, or the line of the picked index (this folder's or a collection's)."""
        if not collection or not startup.settled():
            return startup.line()
        try:
            engine = engine_for(collection)
            return sync_line(engine.syncing) if engine.syncing else f"**Collection** {md_escape(collection)} · " + index_status(engine)
        except rag.RagError as e:
            return f"⚠️ {md_escape(str(e))}"

    def refresh(collection: str | None):
        """The timer's tick while starting (or watching): the status line; the timer off once it will not change."""
        return status_line(collection), gr.update(active=watching or not startup.settled())

    def resync(collection: str | None):
        yield from _sync_stream(lambda log: (log, gr.update()), lambda log: (log, status_line(collection)), collection)

    def add_files(files: list | None, collection: str | None):
        for line in startup.waiting_to_sync():  # saved after the start-up sync, so this sync reports them
            yield line, gr.update(), gr.update()
        try:
            if startup.failure is not None:  # the models or the index did not load: nothing can be indexed
                raise startup.failure
            folder = Path(settings_for(collection, settings).corpus)  # a deleted collection: its error
        except rag.RagError as e:
            yield f"⚠️ {md_escape(str(e))}", status_line(collection), None
            return
        uploads = [(Path(f).name, Path(f)) for f in files or []]
        saved = save_uploads(folder, uploads, settings.extensions, int(settings.max_file_mb * 1e6))
        head = md_escape(saved.summary())
        if not saved.saved:
            yield head, status_line(collection), None
            return
        yield from _sync_stream(lambda log: (f"{head}\n\n{log}", gr.update(), gr.update()),
                                lambda log: (f"{head}\n\n{log}", status_line(collection), None), collection)

    def create_collection(name: str, folder: str):
        """A new collection, picked: for uploads (a new folder of the store's), or, on this machine, over
        a folder of documents (synced at once)."""
        picker = gr.update()
        try:
            name, folder = str(name or "").strip(), str(folder or "").strip()
            collections.check_name(name)
            if folder and not local:
                raise rag.SettingsError("Only new, empty collections can be made from a page served beyond this "
                                        "machine; leave the folder empty (or run `python -m rag collections create` "
                                        "on the server).")
            where = Path(folder).expanduser() if folder else collections.uploads_folder(name, settings)
            created = collections.create(name, where, settings)
            picker = gr.update(choices=collection_choices(), value=name)
        except rag.RagError as e:
            yield f"⚠️ {md_escape(str(e))}", gr.update(), picker, gr.update()
            return
        head = f"Collection **{name}** over {md_code(str(created.corpus))}: its answers come from that folder only."
        yield head, gr.update(), picker, ""
        yield from _sync_stream(lambda log: (f"{head}\n\n{log}", gr.update(), gr.update(), gr.update()),
                                lambda log: (f"{head}\n\n{log}", status_line(name), name, ""), name)

    def delete_collection(collection: str | None):
        """Delete the picked collection's index (its documents stay), and pick this folder again."""
        if collection is None:  # cancelled in the browser
            return gr.update(), gr.update(), gr.update()
        if not collection:
            return ("This folder is the app's own document set, not a collection: nothing deleted.", gr.update(),
                    gr.update())
        try:
            gone = collections.get(collection, settings)
            if not release(gone.store):
                raise rag.SettingsError(f"Collection {collection!r} is syncing; delete it once the sync is over.")
            collections.delete(collection, settings)
        except rag.RagError as e:
            return f"⚠️ {md_escape(str(e))}", gr.update(), gr.update()
        return (f"Deleted collection **{md_escape(collection)}** (its index; the documents stay in "
                f"{md_code(str(gone.corpus))}).", status_line(), gr.update(choices=collection_choices(), value=""))

    def _sync_stream(running, finished, collection: str | None = ""):
        """Sync the picked index in a worker thread; yield ``running(line)`` twice a second (waiting for
        another sync, then this one's progress), then ``finished(report)``. A sync never ends in a traceback."""
        events: queue.Queue[SyncProgress | None] = queue.Queue()
        result: dict[str, object] = {}

        def work() -> None:
            try:
                result["report"] = engine.ingest(progress=events.put)
                if not collection:
                    startup.done(ok=True)
            except rag.RagError as e:
                result["error"] = f"⚠️ {md_escape(str(e))}"
            except Exception as e:  # the log has the traceback; the UI one line
                log.exception("sync failed")
                result["error"] = f"⚠️ The sync failed ({md_escape(type(e).__name__)}: {md_escape(str(e))}). Details are in the server log."
            finally:
                events.put(None)

        for line in startup.waiting_to_sync():  # just started: the models load, then the start-up sync runs
            yield running(line)
        try:
            engine = engine_for(collection)
        except rag.RagError as e:
            yield finished(f"⚠️ {md_escape(str(e))}")
            return
        waiting = engine.busy()  # another sync (Re-sync, upload) holds the engine
        threading.Thread(target=work, daemon=True, name="ui-sync").start()
        latest: SyncProgress | None = None
        while True:
            try:
                event = events.get(timeout=0.5)
            except queue.Empty:
                yield running(sync_line(engine.syncing, waiting=True) if waiting else sync_line(latest))
                continue
            if event is None:
                break
            waiting, latest = False, event
            yield running(sync_line(latest))
        if "error" in result:
            yield finished(str(result["error"]))
            return
        report = result["report"]
        lines = [f"**Synced:** {md_escape(report.summary())}"]
        lines += [f"- skipped {md_code(s)}: {md_escape(why)}" for s, why in report.skipped]
        yield finished("\n".join(lines))

    with gr.Blocks(title="Ask your documents", analytics_enabled=False) as demo:
        gr.Markdown("## Ask your documents\nAnswers come only from the documents in the corpus folder, with the exact passage they rest on.")
        status = gr.Markdown(elem_id="status")
        answers = gr.State([])  # this chat's checked answers: the follow-up history and the sources panel
        with gr.Row():
            with gr.Column(scale=3):
                collection = gr.Dropdown(collection_choices(), value="", label="Documents", elem_id="collection",
                                         info="answers come from this document set only",
                                         allow_custom_value=True)  # the API may name one made since the start
                chat = gr.Chatbot(label="Chat", height=500, elem_id="chat", buttons=[])  # its copy gives raw HTML; ours below
                with gr.Row():
                    box = gr.Textbox(placeholder="Ask a question about your documents…", show_label=False, scale=6,
                                     elem_id="question", max_length=settings.max_question_chars)
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=90, elem_id="ask")
                    stop = gr.Button("Stop", variant="stop", scale=1, min_width=90, visible=False, elem_id="stop")
                with gr.Row():
                    new = gr.Button("New chat", size="sm", elem_id="new-chat")
                    copy = gr.Button("Copy answer", size="sm", elem_id="copy-answer")
                with gr.Accordion("Settings", open=False):
                    answerer = gr.Dropdown(answerers, value=settings.answerer, label="Answerer",
                                           info="auto: the local model when installed, else extractive quotes")
                    k = gr.Slider(1, 10, value=settings.top_k, step=1, label="Passages to retrieve")
                with gr.Accordion("Manage documents", open=False):
                    kinds = f"{', '.join(settings.extensions)}; up to {settings.max_file_mb:.0f} MB each"
                    folder = md_code(str(settings.corpus))
                    if read_only:
                        gr.Markdown(f"This folder: {folder}. This app is read-only: upload, Re-sync and collections "
                                    "are off.")
                    else:
                        how = ("is watched: files added, changed or deleted there are indexed as it happens" if watching
                               else "and each collection's folder are indexed by **Re-sync** after files change there")
                        gr.Markdown(f"This folder ({folder}) {how}. **Upload** adds files ({kinds}) to the document "
                                    "set picked above and indexes them; **Re-sync** reads that set's folder again.")
                        upload = gr.File(file_count="multiple", label="Add documents", elem_id="upload")
                        sync_btn = gr.Button("Re-sync folder", elem_id="resync")
                        sync_log = gr.Markdown(elem_id="sync-log")
                        with gr.Row():
                            new_name = gr.Textbox(label="New collection", placeholder="e.g. tax-2025", scale=2,
                                                  elem_id="new-collection")
                            new_folder = gr.Textbox(label="over the folder (on this machine; empty: upload into a new one)",
                                                    placeholder="/home/me/papers", scale=3, visible=local,
                                                    elem_id="new-collection-folder")
                        with gr.Row():
                            create_btn = gr.Button("Create collection", size="sm", elem_id="create-collection")
                            delete_btn = gr.Button("Delete picked collection", size="sm", variant="stop",
                                                   elem_id="delete-collection")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(EMPTY_SOURCES, elem_id="sources")

        outputs = [chat, box, sources, answers, send, stop, new]
        for trigger in (box.submit, send.click):
            trigger(respond, [box, chat, answers, answerer, k, collection], outputs, api_name="chat" if trigger == box.submit else False)
        stop.click(stopped, None, stop, queue=False, api_name=False)
        demo.unload(forget)
        new.click(lambda: ([], "", EMPTY_SOURCES, []), None, [chat, box, sources, answers], queue=False, api_name="new_chat")
        chat.clear(lambda: ([], EMPTY_SOURCES), None, [answers, sources], api_name=False)
        copy.click(None, None, None, js=COPY_JS)
        if not read_only:  # syncs wait for each other in the engine, saying so: several may be in flight at once
            sync_btn.click(resync, [collection], [sync_log, status], concurrency_id="ingest", concurrency_limit=4,
                           api_name="resync")
            upload.upload(add_files, [upload, collection], [sync_log, status, upload], concurrency_id="ingest",
                          concurrency_limit=4, api_name="upload")
            create_btn.click(create_collection, [new_name, new_folder], [sync_log, status, collection, new_name],
                             concurrency_id="ingest", concurrency_limit=4, api_name="create_collection")
            delete_btn.click(delete_collection, [collection], [sync_log, status, collection],
                             js=CONFIRM_DELETE, concurrency_id="ingest", concurrency_limit=4, api_name="delete_collection")
        timer = gr.Timer(1.0)  # while starting (and while watching): the status line follows the syncs
        timer.tick(refresh, [collection], [status, timer], queue=False, api_name=False, show_progress="hidden")
        collection.change(status_line, [collection], status, queue=False, api_name=False)
        demo.load(status_line, [collection], status, api_name="status")
        demo.load(lambda: gr.update(choices=collection_choices()), None, collection, api_name=False)
    return demo


# Deleting asks first (in the browser); cancelled, the handler gets None and does nothing.
CONFIRM_DELETE = """(name) => !name || confirm(`Delete collection '${name}'? Its index is deleted; its documents stay.`)
  ? name : null"""


def watch(startup: Startup, settings: rag.Settings) -> None:
    """Once the models are loaded and the start-up sync is over, keep the index in step with the folder."""
    from rag.watch import Watcher

    startup.wait_sync()
    try:
        engine = startup.engine()
    except rag.RagError as e:  # the status line shows the failure; nothing to watch into
        log.warning("not watching %s: %s", settings.corpus, e)
        return
    Watcher(engine, settings.corpus, on_sync=lambda r: log.info("watch: %s", r.summary())).start()
    log.info("watching %s: changes are indexed as they happen", settings.corpus)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Web UI: ask questions of a folder of documents.")
    p.add_argument("--corpus", type=Path, help="folder of documents (default: seeds/, env RAG_CORPUS)")
    p.add_argument("--store", type=Path, help="index folder (default: vectorstore/, env RAG_STORE)")
    p.add_argument("--chroma-url", help="use a Chroma server instead of --store, e.g. http://127.0.0.1:8000 (env RAG_CHROMA_URL)")
    p.add_argument("--host", default=os.environ.get("RAG_HOST", "127.0.0.1"), help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=int(os.environ.get("RAG_PORT", "7860")))
    p.add_argument("--queue", type=int, default=int(os.environ.get("RAG_QUEUE", "32")),
                   help="questions that may wait for the model; more get 'busy, try again' (default 32)")
    p.add_argument("--no-auth", action="store_true",
                   help="serve beyond 127.0.0.1 without a login (otherwise RAG_AUTH=user:password is required)")
    p.add_argument("--read-only", action="store_true", default=os.environ.get("RAG_READ_ONLY", "") in ("1", "true", "yes"),
                   help="no upload and no Re-sync in the UI or its API (env RAG_READ_ONLY=1)")
    p.add_argument("--collection", help="answer from this collection of the store (env RAG_COLLECTION); "
                   "see `python -m rag collections`")
    p.add_argument("--watch", action="store_true", default=os.environ.get("RAG_WATCH", "") in ("1", "true", "yes"),
                   help="index files as they are added, changed or deleted in the corpus folder (env RAG_WATCH=1)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:  # before any work: exposed without a login, the app refuses to start
        auth, warning = login_for(args.host, args.port, os.environ.get("RAG_AUTH", ""), args.no_auth)
    except rag.RagError as e:
        print(f"error: {e}")
        return 2
    if warning:
        log.warning("%s", warning)
    try:
        from rag.collections import chosen

        settings = rag.Settings.from_env(corpus=args.corpus, store=args.store, chroma_url=args.chroma_url)
        settings = settings_for(chosen(args.collection), settings)
    except rag.RagError as e:
        print(f"error: {e}")
        return 2
    holding = Holding(args.host, args.port).start()  # the port answers "starting…" while gradio imports
    startup = Startup(settings)  # started once serving: the page answers at once, the models load behind it
    demo = build(settings, read_only=args.read_only, startup=startup, watching=args.watch,
                 local=is_loopback(args.host))
    demo.queue(default_concurrency_limit=1, max_size=args.queue)  # one model: one answer at a time
    holding.close()  # the port to gradio: a browser's starting page retries through the gap, then reloads
    demo.launch(server_name=args.host, server_port=args.port, share=False, show_error=False, css=CSS, head=HEAD,
                max_file_size=f"{settings.max_file_mb:.0f}mb", auth=auth, auth_message="Log in to ask your documents.",
                prevent_thread_lock=True)
    log.info("serving on http://%s:%d; loading the models", args.host, args.port)
    startup.start()
    if args.watch:
        threading.Thread(target=watch, args=(startup, settings), daemon=True, name="watch-start").start()
    demo.block_thread()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
