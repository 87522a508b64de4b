"""The web UI: a chat over your documents, each answer with numbered, highlighted citations.

    python app.py [--corpus FOLDER] [--store FOLDER] [--port 7860] [--host 127.0.0.1]

Binds 127.0.0.1 unless told otherwise; no share link, no analytics. At start it syncs
the corpus into the index (a no-op taking well under a second when nothing changed)
and warms the model, so the first question is answered at once.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import re
from pathlib import Path

import rag
from rag.types import Answer, Citation, Hit

log = logging.getLogger("rag.app")

CSS = """
.src { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px; margin: 0 0 10px 0; }
.src-head { font-weight: 600; margin-bottom: 4px; }
.src-body { white-space: pre-wrap; font-size: 0.92em; line-height: 1.45; }
.src mark { background: #fde68a; color: #111; padding: 0 1px; border-radius: 2px; }
.src-score { color: var(--body-text-color-subdued); font-weight: 400; font-size: 0.85em; }
"""


def passage_html(hit: Hit, citation: Citation | None, label: str) -> str:
    """One source card: file, score, and the passage with the cited words marked. All text escaped."""
    body = html.escape(hit.text)
    if citation is not None:
        a, b = citation.start - hit.start, citation.end - hit.start
        body = f"{html.escape(hit.text[:a])}<mark>{html.escape(hit.text[a:b])}</mark>{html.escape(hit.text[b:])}"
    page = f", page {hit.page}" if hit.page else ""
    return (
        f'<div class="src"><div class="src-head">{label} {html.escape(hit.source)}{page} '
        f'<span class="src-score">characters {hit.start}-{hit.end} · relevance {hit.score:.2f}</span></div>'
        f'<div class="src-body">{body}</div></div>'
    )


def sources_html(answer: Answer | None) -> str:
    if answer is None:
        return '<p class="src-score">Sources of the answer appear here.</p>'
    by_id = {h.id: h for h in answer.hits}
    if answer.refused:
        cards = [passage_html(h, None, "·") for h in answer.hits[:3]]
        return "<p><b>Not found in the documents.</b> Closest passages:</p>" + "".join(cards)
    cards = [passage_html(by_id[c.chunk_id], c, f"[{n}]") for n, c in enumerate(answer.citations, 1)]
    return "".join(cards)


def md_escape(text: str) -> str:
    r"""Document text is data: neutralise HTML and the Markdown that would make links or images.

    Citation markers such as [1] are kept as they are.

    >>> md_escape("<b>hi</b> ![x](http://t) [2]")
    '&lt;b&gt;hi&lt;/b&gt; \\!\\[x\\]\\(http://t\\) [2]'
    """
    text = re.sub(r"([\\`*_\[\]()!#|~])", r"\\\1", html.escape(text, quote=False))
    return re.sub(r"\\\[(\d+)\\\]", r"[\1]", text)


def answer_markdown(answer: Answer) -> str:
    """Chat text: the answer, then where it came from and which answerer wrote it.

    Sentences no passage supports are shown in italics with a warning, not as cited.
    """
    text = md_escape(answer.text)
    for sentence in answer.unsupported:
        plain = md_escape(sentence)
        text = text.replace(plain, f"*{plain}* ⚠️ *(not supported by the documents)*", 1)
    if answer.refused:
        return f"{text}\n\n<sub>answered by: {md_escape(answer.answerer)}</sub>"
    cited = "; ".join(f"[{n}] {md_escape(c.source)}" for n, c in enumerate(answer.citations, 1))
    return f"{text}\n\n<sub>Sources: {cited} · answered by: {md_escape(answer.answerer)}</sub>"


def build(settings: rag.Settings):
    import gradio as gr

    engine = rag.engine(settings=settings)

    def status() -> str:
        files = engine.store.files()
        return (f"**Corpus** `{settings.corpus}` · {len(files)} documents, {engine.store.count()} chunks "
                f"· index `{settings.store}` · **answerer** {engine.answerer_name()}")

    def respond(message: str, history: list | None):
        """Stream one turn: the best passage at once, then the model's words, then the checked answer."""
        history = list(history or []) + [{"role": "user", "content": md_escape(str(message or ""))}]
        try:
            pending = sources_html(None)
            if engine.answerer_name() != "extractive":
                quick = engine.ask(message, answerer="extractive")  # ~0.2 s: shown while the model reads
                note = "" if quick.refused else f"*Best matching passage: \u201c{md_escape(quick.citations[0].quote)}\u201d [1]*\n\n"
                if not quick.refused:
                    pending = sources_html(quick)
                yield history + [{"role": "assistant", "content": note + "✍️ …"}], "", pending
            draft = ""
            for event in engine.ask_stream(message):
                if isinstance(event, str):
                    draft += event
                    yield history + [{"role": "assistant", "content": f"{md_escape(draft)} ✍️"}], "", pending
                else:
                    yield history + [{"role": "assistant", "content": answer_markdown(event)}], "", sources_html(event)
        except rag.RagError as e:
            yield history + [{"role": "assistant", "content": f"⚠️ {md_escape(str(e))}"}], "", sources_html(None)
        except Exception as e:  # never a traceback in the UI; the log has it
            log.exception("answering failed")
            reply = f"⚠️ Something went wrong ({type(e).__name__}: {md_escape(str(e))}). Details are in the server log."
            yield history + [{"role": "assistant", "content": reply}], "", sources_html(None)

    with gr.Blocks(title="Ask your documents", analytics_enabled=False) as demo:
        gr.Markdown("## Ask your documents\nAnswers come only from the documents in the corpus folder, with the exact passage they rest on.")
        status_md = gr.Markdown(status())
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Chat", height=480, elem_id="chat", buttons=["copy", "copy_all"])
                with gr.Row():
                    box = gr.Textbox(placeholder="Ask a question about your documents…", show_label=False, scale=5, elem_id="question")
                    send = gr.Button("Ask", variant="primary", scale=1)
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(sources_html(None), elem_id="sources")
        for trigger in (box.submit, send.click):
            trigger(respond, [box, chat], [chat, box, sources], api_name="chat" if trigger == box.submit else False)
        demo.load(status, None, status_md, api_name=False)
    return demo


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Web UI: ask questions of a folder of documents.")
    p.add_argument("--corpus", type=Path, help="folder of documents (default: seeds/, env RAG_CORPUS)")
    p.add_argument("--store", type=Path, help="index folder (default: vectorstore/, env RAG_STORE)")
    p.add_argument("--host", default=os.environ.get("RAG_HOST", "127.0.0.1"), help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=int(os.environ.get("RAG_PORT", "7860")))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        settings = rag.Settings.from_env(corpus=args.corpus, store=args.store)
        report = rag.ingest(settings.corpus, settings=settings)
        log.info("index: %s", report.summary())
        for source, reason in report.skipped:
            log.info("  skipped %s: %s", source, reason)
        engine = rag.engine(settings=settings)
        engine.embedder.embed(["warm up"])  # load the models before the first question
        engine.warm_up()
        log.info("answerer: %s", engine.answerer_name())
    except rag.RagError as e:
        print(f"error: {e}")
        return 2
    demo = build(settings)
    demo.queue(default_concurrency_limit=1, max_size=64)
    log.info("serving on http://%s:%d", args.host, args.port)
    demo.launch(server_name=args.host, server_port=args.port, share=False, show_error=False, css=CSS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
