"""Issue 12, items 1-3 in the fast tier: the corpus boundary, the per-file limits, and a sync
interrupted in the middle of a large file resuming from its last batch (in-memory store).

The full-size versions (a million-paragraph .docx, a 10 MB line, a SIGKILLed process, the UI
over HTTP) are in tests/reliability/.
"""

from __future__ import annotations

import pytest

import rag
from rag import index
from rag.cite import verify
from rag.formats import Budget
from rag.load import SkipFile, parse_document
from rag.store import file_states
from rag.types import Citation

from hostile import bomb_docx, one_line
from test_formats import make_pdf


@pytest.fixture
def store_kind() -> str:
    return "memory"


@pytest.fixture
def outside(tmp_path):
    """A secret file outside the corpus folder."""
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("The vault code is 4471-ZEBRA. Keep it out of every index.\n")
    return secret


def test_a_link_out_of_the_corpus_is_skipped_with_a_reason_and_links_inside_are_read(settings, corpus, outside):
    (corpus / "secret.txt").symlink_to(outside)
    (corpus / "notes" / "deep").mkdir()
    (corpus / "notes" / "deep" / "up.txt").symlink_to("../../../outside/secret.txt")  # relative, out via ..
    (corpus / "garden-link.md").symlink_to(corpus / "notes" / "garden.md")  # inside: fine
    report = rag.ingest(corpus, settings=settings)
    reasons = dict(report.skipped)
    assert "outside the corpus folder" in reasons["secret.txt"] and "follow_links" in reasons["secret.txt"]
    assert "outside the corpus folder" in reasons["notes/deep/up.txt"]
    assert "garden-link.md" in report.added
    engine = rag.engine(settings=settings)
    assert not any("ZEBRA" in r.chunk.text for r in engine.store.records(text=True))
    assert rag.ask("What is the vault code?", settings=settings).refused


def test_following_links_is_a_setting(settings, corpus, outside):
    (corpus / "secret.txt").symlink_to(outside)
    rag.ingest(corpus, settings=settings)
    follow = rag.Settings.from_env(corpus=corpus, store=settings.store, answerer="extractive", vector_store="memory",
                                   follow_links=True)
    report = rag.ingest(corpus, settings=follow)
    assert "secret.txt" in report.added
    assert "4471-ZEBRA" in rag.ask("What is the vault code?", settings=follow).text
    report = rag.ingest(corpus, settings=settings)  # links off again: dropped from the index
    assert "secret.txt" in report.removed


def test_verify_reads_nothing_outside_the_corpus(corpus, outside):
    text = outside.read_text()
    quote = Citation(source="../outside/secret.txt", start=0, end=17, quote=text[:17], chunk_id="x")
    assert not verify(quote, corpus)
    (corpus / "secret.txt").symlink_to(outside)
    assert not verify(Citation("secret.txt", 0, 17, text[:17], "x"), corpus)
    assert verify(Citation("secret.txt", 0, 17, text[:17], "x"), corpus, rag.Settings(follow_links=True))
    assert not verify(Citation(str(outside), 0, 17, text[:17], "x"), corpus)  # an absolute source


def test_every_reader_stops_at_the_text_limit(tmp_path):
    small = Budget(max_chars=1000, max_bytes=10**6)
    cases = {
        ".txt": one_line(5000).encode(),
        ".html": ("<p>" + one_line(5000) + "</p>").encode(),
        ".csv": ("name,comment\n" + "".join(f"row {i},{one_line(40)}\n" for i in range(200))).encode(),
        ".pdf": make_pdf([[f"Page {w} says {w} " * 5, "and more."] for w in ("heron", "otter", "lynx", "vole") * 8]),
        ".docx": bomb_docx(2000),
    }
    for suffix, data in cases.items():
        with pytest.raises(SkipFile, match="too much text.*max_file_chars"):
            parse_document("f" + suffix, suffix, data, small)
        assert parse_document("f" + suffix, suffix, data).text  # within the default: read whole


def test_a_docx_bomb_is_refused_before_parsing(monkeypatch):
    import docx

    def never(*a, **k):
        raise AssertionError("python-docx must not see a bomb")

    data, empty = bomb_docx(100_000), bomb_docx(20_000, text="")  # ~54 KB (a thumbnail included) that unpacks to ~7 MB
    monkeypatch.setattr(docx, "Document", never)
    assert len(data) < 60_000
    with pytest.raises(SkipFile, match="unpacks to 7 MB.*max_file_mb"):
        parse_document("b.docx", ".docx", data, Budget(max_chars=10**9, max_bytes=5 * 10**6))
    with pytest.raises(SkipFile, match="too much text"):  # unpacked size allowed: the streamed body count stops it
        parse_document("b.docx", ".docx", data, Budget(max_chars=100_000, max_bytes=10**9))
    with pytest.raises(SkipFile, match="too complex: over 50,000 XML elements"):  # no text, many elements
        parse_document("e.docx", ".docx", empty, Budget(max_chars=50_000, max_bytes=10**9))


def test_the_time_budget_stops_a_slow_read():
    budget = Budget(seconds=1e-9)
    with pytest.raises(SkipFile, match="took over 1e-09 s.*parse_seconds"):
        parse_document("t.csv", ".csv", ("a,b\n" + "x,y\n" * 10).encode(), budget)


def test_a_file_over_a_limit_is_skipped_not_half_indexed(settings, corpus):
    rag.ingest(corpus, settings=settings)
    tight = rag.Settings.from_env(corpus=corpus, store=settings.store, answerer="extractive", vector_store="memory",
                                  max_file_chunks=3)
    (corpus / "article.txt").write_text((corpus / "article.txt").read_text() + "\nA new last line.\n")
    report = rag.ingest(corpus, settings=tight)
    assert "too many passages" in dict(report.skipped)["article.txt"] and "max_file_chunks" in dict(report.skipped)["article.txt"]
    assert "article.txt" in report.removed and "article.txt" not in file_states(rag.engine(settings=tight).store)
    (corpus / "huge.txt").write_text(one_line(3_000_000))
    report = rag.ingest(corpus, settings=settings)
    assert "max_file_chars" in dict(report.skipped)["huge.txt"]


def test_a_large_file_is_written_in_batches_and_a_sync_killed_half_way_resumes(settings, corpus, monkeypatch):
    """A crash after 3 batches of a large file: the next sync embeds only the chunks not stored yet."""
    monkeypatch.setattr(index, "EMBED_BATCH", 8)  # small batches: a "large" file of ~35 chunks keeps the test fast
    (corpus / "survey.txt").write_text("".join(f"Survey note {i}: the heron crossed path {i} at dawn on day {i % 28}.\n"
                                               for i in range(200)))
    engine = rag.engine(settings=settings)
    real_upsert, writes = engine.store.upsert, []

    def dying_upsert(chunks, vectors, sha256, totals=None):
        if len(writes) == 3:
            raise KeyboardInterrupt("killed")
        writes.append(len(chunks))
        real_upsert(chunks, vectors, sha256, totals)

    seen = []
    with monkeypatch.context() as m, pytest.raises(KeyboardInterrupt):
        m.setattr(engine.store, "upsert", dying_upsert)
        rag.ingest(corpus, settings=settings, progress=seen.append)
    assert writes == [8] * 3  # committed batch by batch
    mid = [p for p in seen if p.file_chunks]  # progress inside the large file's write
    done = [p.file_chunks_done for p in mid]  # the first batch also holds article.txt's chunks
    assert len(done) == 3 and done[2] - done[1] == done[1] - done[0] == 8 and mid[0].source == "survey.txt"
    assert mid[0].file_chunks > 30 and mid[-1].chunks_done == 3 * 8
    stored = engine.store.count()

    embedded: list[str] = []
    real_embed = engine.embedder.embed
    monkeypatch.setattr(engine.embedder, "embed", lambda texts: embedded.extend(texts) or real_embed(texts))
    report = rag.ingest(corpus, settings=settings)
    assert len(embedded) == report.chunks_total - stored  # nothing embedded twice
    assert all(s.complete for s in file_states(engine.store).values())

    # an edit at the end: the unchanged chunks keep their vectors, only the new ones are embedded
    embedded.clear()
    with open(corpus / "survey.txt", "a") as f:
        f.write("Survey note 200: a kingfisher was seen at the weir.\n")
    report = rag.ingest(corpus, settings=settings)
    assert report.updated == ["survey.txt"] and 0 < len(embedded) <= 2
    assert "kingfisher" in rag.ask("What was seen at the weir?", settings=settings).text
