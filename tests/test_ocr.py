"""OCR: scanned PDF pages and image files, rendered here from known text, read by the real RapidOCR models."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

import rag
import rag.ocr
from rag.present import sync_line
from rag.types import SyncProgress
from rag.cite import verify

pytestmark = pytest.mark.full  # OCR takes seconds per page on 2 cores

PAGE_ONE = ["Skerry Point Lighthouse: a short history", "The tower was built in 1871 from granite",
            "quarried on the island itself."]
PAGE_TWO = ["The lighthouse keeper of Skerry Point is Ottoline Brack.", "She took over the light on 3 March 1987.",
            "The lamp turns twice a minute."]


def page(lines: list[str]) -> Image.Image:
    """A white A4 page at 150 dpi with ``lines`` in black (12 pt), as a scanner would store it."""
    img = Image.new("L", (1240, 1754), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=32)  # Pillow's own font: no system fonts needed
    for i, line in enumerate(lines):
        x = 120
        for word in line.split():  # Pillow's font has thin spaces: a printed page's are about a third of an em
            draw.text((x, 150 + 56 * i), word, fill=0, font=font)
            x += draw.textlength(word, font=font) + 12
    return img


def scanned_pdf(pages: list[list[str]]) -> bytes:
    images = [page(lines).convert("RGB") for lines in pages]
    buf = io.BytesIO()
    images[0].save(buf, "PDF", save_all=True, append_images=images[1:], resolution=150, quality=90)
    return buf.getvalue()


@pytest.fixture(autouse=True, params=["rapidocr", "tesseract"])
def ocr_cache(request, tmp_path, monkeypatch) -> Iterator[Path]:
    """Each test with each engine (Tesseract where installed: CI installs it) and an empty cache."""
    if request.param == "tesseract" and not shutil.which("tesseract"):
        if os.environ.get("CI"):
            pytest.fail("Tesseract is not installed: .ci/run installs tesseract-ocr")
        pytest.skip("Tesseract is not installed (apt install tesseract-ocr)")
    monkeypatch.setenv("RAG_OCR", request.param)
    monkeypatch.setenv("RAG_OCR_CACHE", str(tmp_path / "ocr-cache"))
    rag.ocr.engine.cache_clear()
    yield tmp_path / "ocr-cache"
    rag.ocr.engine.cache_clear()


@pytest.fixture
def store_kind() -> str:
    return "memory"


def test_a_scanned_pdf_is_answered_with_the_right_page_cited(settings, corpus):
    (corpus / "scan.pdf").write_bytes(scanned_pdf([PAGE_ONE, PAGE_TWO]))
    seen: list[SyncProgress] = []
    report = rag.ingest(corpus, settings=settings, progress=seen.append)
    ocr = [sync_line(p) for p in seen if p.note]  # the UI's status line, page by page
    assert ocr == ["🔄 Syncing: 1 of 3 files · 0 chunks embedded · `scan.pdf`: OCR page 1 of 2",
                   "🔄 Syncing: 1 of 3 files · 0 chunks embedded · `scan.pdf`: OCR page 2 of 2"]
    assert "scan.pdf" in report.added and ("scan.pdf", "2 of 2 pages read by OCR (scanned)") in report.notes
    a = rag.ask("Who is the lighthouse keeper of Skerry Point?", settings=settings)
    c = a.citations[0]
    assert not a.refused and "Ottoline Brack" in a.text and (c.source, c.page) == ("scan.pdf", 2)
    assert verify(c, corpus, settings)  # re-read from the cache: the same text, the same offsets
    b = rag.ask("When was the tower of Skerry Point built?", settings=settings)
    assert "1871" in b.text and b.citations[0].page == 1


def test_an_image_file_is_read_and_blank_ones_are_skipped_with_a_reason(settings, corpus):
    page(PAGE_TWO).save(corpus / "keeper.png")
    Image.new("L", (400, 300), 255).save(corpus / "blank.jpg")
    report = rag.ingest(corpus, settings=settings)
    assert "keeper.png" in report.added
    assert ("blank.jpg", "image with no text that OCR could read") in report.skipped
    a = rag.ask("Who is the lighthouse keeper of Skerry Point?", settings=settings)
    assert "Ottoline Brack" in a.text and a.citations[0].source == "keeper.png" and a.citations[0].page is None
    assert verify(a.citations[0], corpus, settings)


def test_ocr_runs_once_per_image_and_the_cache_gives_the_same_text(ocr_cache, monkeypatch):
    buf = io.BytesIO()
    page(PAGE_ONE).save(buf, "PNG")
    calls = []
    real = rag.ocr._read
    monkeypatch.setattr(rag.ocr, "_read", lambda data: calls.append(1) or real(data))
    first = rag.ocr.read_image(buf.getvalue())
    assert first == "\n".join(PAGE_ONE) and calls == [1]
    assert rag.ocr.read_image(buf.getvalue()) == first and calls == [1]
    assert len(list(ocr_cache.rglob("*.txt"))) == 1


def test_an_image_that_is_not_one_is_skipped(settings, corpus):
    (corpus / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    report = rag.ingest(corpus, settings=settings)
    assert [s for s, _ in report.skipped] == ["broken.png"]
    assert "could not be read for OCR" in report.skipped[0][1]


def test_an_unknown_engine_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("RAG_OCR", "abbyy")
    rag.ocr.engine.cache_clear()
    with pytest.raises(rag.formats.SkipFile, match="RAG_OCR is 'abbyy': set it to tesseract, rapidocr or auto"):
        rag.ocr.read_image(b"\x89PNG")
