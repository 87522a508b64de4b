"""Every format ingested and cited at checked offsets; bad files skipped with reasons.

One corpus holds a file of each format plus every kind of bad file; it is ingested once
per store for the module (real MiniLM; the in-memory store in the fast tier, embedded Chroma
in the full tier) and each test asks about it or reads its report.
"""

from __future__ import annotations

import io
import os

import pytest

import rag
from rag.chunk import chunk_document
from rag.cite import verify
from rag.embed import token_offsets
from rag.load import SkipFile, load_document, parse_document, walk

from conftest import STORE_KINDS, seed_folder


def make_pdf(pages: list[list[str] | None]) -> bytes:
    """A minimal valid PDF: one page per item, each a list of text lines (None: a page with no text layer)."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", "", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for lines in pages:
        esc = [s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for s in lines or []]
        ops = "BT /F1 11 Tf 14 TL 72 720 Td " + " T* ".join(f"({s}) Tj" for s in esc) + " ET" if esc else ""
        objs.append(f"<< /Length {len(ops)} >>\nstream\n{ops}\nendstream")
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                    f"/Resources << /Font << /F1 3 0 R >> >> /Contents {len(objs)} 0 R >>")
        kids.append(f"{len(objs)} 0 R")
    objs[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out, offsets = b"%PDF-1.4\n", []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    return out + f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()


GUIDE_PDF = make_pdf([
    ["Lighthouse keepers logged the weather every four hours.", "The lamp was converted to electricity in 1921."],
    ["The Harbour Bridge opened to traffic in March 1932.", "Its arch spans 503 metres over the water."],
])

HTML = """<!doctype html><html><head><title>Museum visitor guide</title>
<style>p { color: red } .closing { content: "The museum closes at midnight" }</style>
<script>var note = "The museum closes at 3 am on weekdays";</script></head>
<body><nav>Home &middot; Tickets</nav>
<h1>Opening hours</h1><p>The museum opens at 9&nbsp;am and closes
at 5&nbsp;pm on weekdays.</p>
<noscript>Enable JavaScript for the gift shop.</noscript>
<table><tr><th>Day</th><th>Guided tour</th></tr><tr><td>Saturday</td><td>11 am</td></tr></table>
</body></html>"""

FRUITS = ["apples", "bananas", "cherries", "dates", "figs", "grapes", "kiwis", "lemons", "limes", "melons",
          "nectarines", "oranges", "papayas", "peaches", "pears", "plums", "quinces", "raspberries"]
CSV = "fruit;price_eur;origin;notes\r\n" + "".join(
    f"{f};{1 + i * 0.35:.2f};{'Spain' if i % 2 else 'Italy'};\"picked in\nsummer\"\r\n" for i, f in enumerate(FRUITS)
) + "mangoes;2.40;Peru;air freight\r\n"


def make_docx() -> bytes:
    import docx

    d = docx.Document()
    d.add_heading("Staff handbook", 1)
    d.add_paragraph("Employees may work from home on Fridays with their manager's approval.")
    table = d.add_table(rows=2, cols=2)
    for r, (k, v) in enumerate([("Annual leave", "25 days"), ("Parental leave", "26 weeks at full pay")]):
        table.cell(r, 0).text, table.cell(r, 1).text = k, v
    d.add_paragraph("Expense claims are reimbursed within 14 days.")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The corpus: a file of every format and every kind of bad file."""
    root = tmp_path_factory.mktemp("formats")
    c = seed_folder(root)
    (c / "reports").mkdir()
    (c / "reports" / "guide.pdf").write_bytes(GUIDE_PDF)
    (c / "handbook.docx").write_bytes(make_docx())
    (c / "museum.html").write_text(HTML)
    (c / "fruit.csv").write_text(CSV, newline="")
    # bad files
    (c / "scanned.pdf").write_bytes(make_pdf([None, None]))
    (c / "garbage.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 40)
    (c / "truncated.pdf").write_bytes(GUIDE_PDF[: len(GUIDE_PDF) // 2])
    (c / "fake.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (c / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (c / "empty.md").write_bytes(b"")
    (c / "blank.html").write_text("<html><head><script>x()</script></head><body>  </body></html>")
    (c / "cp1252.txt").write_bytes("The caf\xe9 on Rue Cler serves cr\xeape Suzette.".encode("cp1252"))
    with open(c / "huge.txt", "wb") as f:
        f.truncate(200 * 2**20)  # sparse: 200 MB that use no disk
    os.symlink("b.txt", c / "a.txt")
    os.symlink("a.txt", c / "b.txt")
    os.symlink(c, c / "loop", target_is_directory=True)
    return c


@pytest.fixture(scope="module", params=STORE_KINDS)
def library(request, folder):
    """(settings, corpus, report): the corpus ingested once per store."""
    settings = rag.Settings.from_env(corpus=folder, store=folder.parent / f"index-{request.param}", answerer="extractive",
                                     vector_store=request.param)
    return settings, folder, rag.ingest(folder, settings=settings)


@pytest.mark.parametrize("question, source, page, words", [
    ("When did the Harbour Bridge open to traffic?", "reports/guide.pdf", 2, "March 1932"),
    ("When was the lighthouse lamp converted to electricity?", "reports/guide.pdf", 1, "1921"),
    ("How long is parental leave?", "handbook.docx", None, "26 weeks"),
    ("What time does the museum close on weekdays?", "museum.html", None, "5 pm"),
    ("Where do the mangoes come from?", "fruit.csv", None, "origin: Peru"),
    ("Who is the top Ukrainian negotiator?", "article.txt", None, "Rustem Umerov"),
], ids=["pdf-page2", "pdf-page1", "docx-table", "html", "csv", "txt"])
def test_each_format_is_answered_and_cited(library, question, source, page, words):
    settings, corpus, _ = library
    a = rag.ask(question, settings=settings)
    assert not a.refused and words in a.text, a.text
    c = a.citations[0]
    assert (c.source, c.page) == (source, page) and words in c.quote
    assert verify(c, corpus)
    doc = load_document(corpus / source, source, 10**9)  # re-extracted: the invariant holds for hits too
    hit = next(h for h in a.hits if h.id == c.chunk_id)
    assert doc.text[hit.start : hit.end] == hit.text and hit.page == page


def test_html_keeps_visible_text_only(folder):
    text = load_document(folder / "museum.html", "museum.html", 10**9).text
    assert text.startswith("Museum visitor guide\n")
    assert "The museum opens at 9 am and closes at 5 pm on weekdays." in text  # &nbsp; and a source line break: spaces
    assert "Saturday | 11 am" in text and "Home · Tickets" in text
    for hidden in ("3 am", "midnight", "color", "JavaScript"):
        assert hidden not in text
    snippet = b"<p>one<br/>two<br>three</p><template><table><tr><td>a</td><td>b</td></tr></table></template><p>end</p>"
    assert parse_document("s.html", ".html", snippet).text == "one\ntwo\nthree\n\nend"


def test_docx_reads_paragraphs_and_tables_in_order_merged_and_nested_cells_once(folder):
    import docx

    assert load_document(folder / "handbook.docx", "handbook.docx", 10**9).text == (
        "Staff handbook\nEmployees may work from home on Fridays with their manager's approval.\n"
        "Annual leave | 25 days\nParental leave | 26 weeks at full pay\nExpense claims are reimbursed within 14 days."
    )
    d = docx.Document()
    t = d.add_table(rows=2, cols=3)
    t.cell(0, 0).merge(t.cell(0, 1)).text = "Team"
    t.cell(0, 2).text, t.cell(1, 0).text, t.cell(1, 1).text, t.cell(1, 2).text = "Room", "Data", "Ada", "B2"
    inner = t.cell(1, 2).add_table(rows=1, cols=2)
    inner.cell(0, 0).text, inner.cell(0, 1).text = "desk 4", "desk 5"
    buf = io.BytesIO()
    d.save(buf)
    assert parse_document("t.docx", ".docx", buf.getvalue()).text == "Team | Room\nData | Ada | B2 desk 4 | desk 5"


def test_html_is_decoded_with_its_declared_charset():
    page = '<html><head><meta charset="shift_jis"><title>案内</title></head><body><p>開館は九時です。</p></body></html>'
    doc = parse_document("ja.html", ".html", page.encode("shift_jis"))
    assert (doc.text, doc.note) == ("案内\n\n開館は九時です。", "")


def test_pdf_chunks_stay_on_their_page_and_csv_chunks_hold_whole_rows(folder):
    corpus = folder
    pdf = load_document(corpus / "reports/guide.pdf", "reports/guide.pdf", 10**9)
    assert len(pdf.pages) == 2
    for c in chunk_document(pdf, token_offsets, 128, 32):
        start = pdf.pages[c.page - 1]
        end = pdf.pages[c.page] if c.page < len(pdf.pages) else len(pdf.text)
        assert start <= c.start < c.end <= end
    csv_doc = load_document(corpus / "fruit.csv", "fruit.csv", 10**9)
    lines = csv_doc.text.split("\n")
    assert len(lines) == len(FRUITS) + 1 and lines[0] == "fruit: apples; price_eur: 1.00; origin: Italy; notes: picked in summer"
    chunks = chunk_document(csv_doc, token_offsets, 64, 16)
    assert len(chunks) > 2
    for c in chunks:
        assert c.start in csv_doc.rows and (c.end == len(csv_doc.text) or csv_doc.text[c.end] == "\n")
    assert [line for c in chunks for line in c.text.split("\n")] == lines  # every row once, no overlap


def test_pdf_running_headers_and_page_numbers_are_dropped_and_wrapped_lines_joined(tmp_path):
    regions = [("Fig", "northern"), ("Kiwi", "coastal"), ("Lime", "western")]
    pages = [["ACME annual report", str(n), f"{fruit} sales rose by {n} per cent", f"in the {region} region.", f"Page {n}"]
             for n, (fruit, region) in enumerate(regions, 1)]
    (tmp_path / "r.pdf").write_bytes(make_pdf(pages))
    doc = load_document(tmp_path / "r.pdf", "r.pdf", 10**9)
    assert doc.text.split("\n\n") == [f"{fruit} sales rose by {n} per cent in the {region} region."
                                       for n, (fruit, region) in enumerate(regions, 1)]


def test_a_pdf_page_that_fails_to_extract_is_noted_and_the_other_pages_kept(monkeypatch):
    import pypdf

    real = pypdf.PageObject.extract_text

    def damaged_page_two(self, *args, **kwargs):
        text = real(self, *args, **kwargs)
        if "two" in text:
            raise ValueError("simulated damaged content stream")
        return text

    monkeypatch.setattr(pypdf.PageObject, "extract_text", damaged_page_two)
    doc = parse_document("d.pdf", ".pdf", make_pdf([["Page one text."], ["Page two text."], ["Page three text."]]))
    assert doc.text == "Page one text.\n\n\n\nPage three text." and doc.pages == (0, 16, 18)
    assert doc.note == "1 of 3 pages could not be read (damaged)"


BAD_FILES = [
    ("scanned.pdf", "no text on its 2 page(s): no text layer, and OCR found none in their images"),
    ("garbage.pdf", "not a readable PDF"),
    ("truncated.pdf", "not a readable PDF"),
    ("fake.docx", "not a readable Word .docx file"),
    ("binary.txt", "looks like a binary file"),
    ("empty.md", "empty file (0 bytes)"),
    ("blank.html", "empty (no text)"),
    ("huge.txt", "too large (209.7 MB; the limit is 50 MB"),
    ("a.txt", "a symbolic link loop"),
    ("b.txt", "a symbolic link loop"),
]


@pytest.mark.parametrize("source, reason", BAD_FILES, ids=[source for source, _ in BAD_FILES])
def test_bad_files_are_skipped_with_one_line_reasons(library, source, reason):
    _, _, report = library
    got = dict(report.skipped)[source]
    assert got.startswith(reason) and "\n" not in got


def test_the_rest_still_ingests(library):
    _, _, report = library
    assert sorted(report.added) == ["article.txt", "cp1252.txt", "fruit.csv", "handbook.docx", "museum.html",
                                    "reports/guide.pdf"]
    assert dict(report.notes)["cp1252.txt"] == "not UTF-8; decoded as cp1252"
    assert "loop" in dict(report.skipped)  # a link to a folder: listed, not followed


def test_a_link_to_a_folder_is_not_followed_and_says_so(folder):
    assert [s for _, s in walk(folder) if s.startswith("loop")] == ["loop"]
    with pytest.raises(SkipFile, match="a link to a folder"):
        load_document(folder / "loop", "loop", 10**9)


def test_encrypted_pdf_is_skipped_with_a_reason(tmp_path):
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(GUIDE_PDF)))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    (tmp_path / "locked.pdf").write_bytes(_written(writer))
    with pytest.raises(SkipFile, match="encrypted PDF"):
        load_document(tmp_path / "locked.pdf", "locked.pdf", 10**9)


def _written(writer) -> bytes:  # noqa: ANN001
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_a_file_vanishing_mid_ingest_is_skipped_and_the_rest_ingests(tmp_path, store_kind):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "gone.txt").write_text("This note is deleted after the folder was listed.")
    (corpus / "kept.md").write_text("The quince tree was pruned in February.")

    def delete_when_its_turn_comes(p):  # called after the walk, before each file is read
        if p.source == "gone.txt":
            (corpus / p.source).unlink()

    settings = rag.Settings.from_env(corpus=corpus, store=tmp_path / "index", answerer="extractive", vector_store=store_kind)
    report = rag.ingest(corpus, settings=settings, progress=delete_when_its_turn_comes)
    assert dict(report.skipped) == {"gone.txt": "vanished while being read (deleted or moved during ingest)"}
    assert report.added == ["kept.md"]
