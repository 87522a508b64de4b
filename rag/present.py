"""How answers are shown: Markdown and HTML for the web UI, plain text for the command line.

Pure functions of the project's types, so the UI (app.py) and the CLI (rag/cli.py) stay
thin and their output is tested without a server. Document text is data: everything a
document or a question says is escaped before it reaches HTML or Markdown.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace  # noqa: F401  (the doctests use it)
from typing import TYPE_CHECKING

from .abstain import WELL_SUPPORTED
from .types import Answer, Citation, Hit, SyncProgress

if TYPE_CHECKING:
    from .api import Engine

EMPTY_SOURCES = '<p class="src-score">Sources of the answers appear here. Click a [n] in an answer to see its passage.</p>'


def passage_html(hit: Hit, citation: Citation | None, label: str, anchor: str = "") -> str:
    """One source card: file, page, relevance, and the passage with the cited words marked. All text escaped."""
    body = html.escape(hit.text)
    if citation is not None:
        a, b = citation.start - hit.start, citation.end - hit.start
        body = f"{html.escape(hit.text[:a])}<mark>{html.escape(hit.text[a:b])}</mark>{html.escape(hit.text[b:])}"
    page = f", page {hit.page}" if hit.page else ""
    ident = f' id="{anchor}"' if anchor else ""
    return (
        f'<div class="src"{ident}><div class="src-head">{label} {html.escape(hit.source)}{page} '
        f'<span class="src-score">characters {hit.start}-{hit.end} · relevance {hit.score:.2f}</span></div>'
        f'<div class="src-body">{body}</div></div>'
    )


def answer_sources(answer: Answer, turn: int) -> str:
    """The cards of one answer: each citation (anchored ``src-<turn>-<n>``), or for a refusal the closest passages."""
    if answer.refused:
        cards = "".join(passage_html(h, None, "·") for h in answer.hits[:3])
        return ("<p><b>Not found in the documents.</b> Closest passages:</p>" + cards) if cards else \
            "<p><b>Not found in the documents.</b> Nothing close was found.</p>"
    by_id = {h.id: h for h in answer.hits}
    return "".join(passage_html(by_id[c.chunk_id], c, f"[{n}]", f"src-{turn}-{n}")
                   for n, c in enumerate(answer.citations, 1))


def sources_html(answers: list[Answer], preview: Answer | None = None) -> str:
    """The panel: the latest answer's sources open, earlier turns folded underneath."""
    if preview is not None:
        return answer_sources(preview, len(answers)) + "".join(_folded(answers))
    if not answers:
        return EMPTY_SOURCES
    return answer_sources(answers[-1], len(answers) - 1) + "".join(_folded(answers[:-1]))


def _folded(answers: list[Answer]) -> list[str]:
    return [f'<details class="turn"><summary>Earlier: {html.escape(a.question[:80])}</summary>{answer_sources(a, t)}</details>'
            for t, a in reversed(list(enumerate(answers)))]


def md_escape(text: str) -> str:
    r"""Document text is data: neutralise HTML and the Markdown that would make links or images.

    Citation markers such as [1] are kept as they are.

    >>> md_escape("<b>hi</b> ![x](http://t) [2]")
    '&lt;b&gt;hi&lt;/b&gt; \\!\\[x\\]\\(http://t\\) [2]'
    """
    text = re.sub(r"([\\`*_\[\]()!#|~])", r"\\\1", html.escape(text, quote=False))
    return re.sub(r"\\\[(\d+)\\\]", r"[\1]", text)


def md_code(text: str) -> str:
    r"""``text`` as a Markdown code span, shown as it is (escapes would show: a file name ``a_b.txt``).

    >>> md_code("my_notes `v2`.txt")
    "`my_notes 'v2'.txt`"
    """
    return "`" + " ".join(text.replace("`", "'").split()) + "`"


def searched_note(question: str, searched: str) -> str:
    """For a follow-up rewritten before retrieval: the question that was actually searched for."""
    return f"<sub>searched for: “{md_escape(searched)}”</sub>\n\n" if searched != question else ""


def support_words(answer: Answer) -> str:
    """How well the evidence backs an answer, in words, when the answerer estimates it (the reader).

    >>> a = Answer("q", "In Miami [1].", False, confidence=0.9)
    >>> support_words(a), support_words(replace(a, confidence=0.5)), support_words(replace(a, confidence=None))
    ('well supported', 'partly supported', '')
    """
    if answer.refused or answer.confidence is None:
        return ""
    return "well supported" if answer.confidence >= WELL_SUPPORTED else "partly supported"


def answer_markdown(answer: Answer, turn: int) -> str:
    """Chat text: what was searched (for a rewritten follow-up), the answer with clickable [n]
    markers (its short answer, if any, in bold), then how well it is supported, the sources
    and which answerer wrote it.

    Sentences no passage supports are shown in italics with a warning, not as cited.
    """
    text = md_escape(answer.text)
    if answer.short and answer.text.startswith(f"{answer.short}: "):
        text = f"**{md_escape(answer.short)}**: {md_escape(answer.text[len(answer.short) + 2:])}"
    for sentence in answer.unsupported:
        plain = md_escape(sentence)
        text = text.replace(plain, f"*{plain}* ⚠️ *(not supported by the documents)*", 1)
    text = re.sub(r"\[(\d+)\]", lambda m: f'<a class="cite" href="#src-{turn}-{m[1]}">[{m[1]}]</a>', text)
    searched = searched_note(answer.question, answer.standalone or answer.question)
    by = f"answered by: {md_escape(answer.answerer)}"
    if answer.refused:
        return f"{searched}{text}\n\n<sub>{by}</sub>"
    cited = "; ".join(f"[{n}] {md_escape(c.source)}" + (f" p. {c.page}" if c.page else "")
                      for n, c in enumerate(answer.citations, 1))
    words = support_words(answer)
    return f"{searched}{text}\n\n<sub>{words + ' · ' if words else ''}Sources: {cited} · {by}</sub>"


def index_status(engine: Engine) -> str:
    """The status line: corpus folder, what the index holds and when it was synced, who answers."""
    st = engine.status()
    synced = st.last_sync.astimezone().strftime("%Y-%m-%d %H:%M") if st.last_sync else "never"
    return (f"**Corpus** `{st.corpus}` · {st.documents} documents · {st.chunks} chunks · last sync {synced} "
            f"· index `{st.location}` · **answerer** {md_escape(engine.answerer_name())}")


def sync_line(p: SyncProgress | None, waiting: bool = False) -> str:
    """The UI's line for a running sync, or for one waiting for it (upload, Re-sync, the start-up sync).

    >>> sync_line(SyncProgress(3, 10, 640, "big.txt", 576, 5000))
    '🔄 Syncing: 3 of 10 files · 640 chunks embedded · `big.txt`: 576 of 5,000 chunks'
    >>> sync_line(SyncProgress(0, 2, 0, "scan.pdf", note="OCR page 2 of 9"))
    '🔄 Syncing: 0 of 2 files · 0 chunks embedded · `scan.pdf`: OCR page 2 of 9'
    >>> sync_line(None, waiting=True)
    '⏳ Waiting for the sync already running to finish (starting); this one starts after it.'
    """
    where = "starting"
    if p is not None and p.files_total:
        where = f"{p.files_done} of {p.files_total} files · {p.chunks_done:,} chunks embedded"
        if p.file_chunks:
            where += f" · {md_code(p.source)}: {p.file_chunks_done:,} of {p.file_chunks:,} chunks"
        elif p.source:
            where += f" · {md_code(p.source)}" + (f": {md_escape(p.note)}" if p.note else "")
    if waiting:
        return f"⏳ Waiting for the sync already running to finish ({where}); this one starts after it."
    return f"🔄 Syncing: {where}"


def answer_text(answer: Answer) -> str:
    """The answer as the command line prints it: text, unsupported sentences, numbered sources,
    who answered, and for a refusal the closest passages."""
    lines = [answer.text]
    lines += [f"  (not supported by the documents: \u201c{s}\u201d)" for s in answer.unsupported]
    for n, c in enumerate(answer.citations, 1):
        where = f"{c.source}" + (f", page {c.page}" if c.page else "") + f", characters {c.start}-{c.end}"
        lines.append(f"\n[{n}] {where}\n    \u201c{c.quote}\u201d")
    if words := support_words(answer):
        lines.append(f"\n{words} (confidence {answer.confidence:.2f})")
    lines.append(f"\nanswered by: {answer.answerer}")
    if answer.refused and answer.hits:
        lines.append("\nClosest passages:")
        lines += [f"  {h.source}:{h.start}-{h.end} (score {h.score:.2f}) {' '.join(h.text.split())[:100]}..."
                  for h in answer.hits[:3]]
    return "\n".join(lines)


def status_text(engine: Engine) -> str:
    """``python -m rag status``: where the index is, what it holds, when it was last synced."""
    st = engine.status()
    when = st.last_sync.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z") if st.last_sync else "never"
    return f"index: {st.location}\ncorpus: {st.corpus}\n{st.documents} documents, {st.chunks} chunks; last sync: {when}"
