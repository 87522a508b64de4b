"""Extract the text of each file format from the file's bytes, the same way on every read.

A citation's offsets point into this text and ``rag.cite.verify`` re-extracts the file to
check them, so every reader here is deterministic and keeps what it needs for chunking:
page starts (PDF) and row starts (CSV).

Why not llama-index's file readers: its text reader drops undecodable bytes silently
(``errors="ignore"``), its Markdown reader rewrites the text around headers, and its
PDF, Word and HTML readers are thin wrappers (over pypdf, docx2txt and BeautifulSoup)
that flatten a PDF's pages without their offsets; llama-index-readers-file 0.7.0 also
downgrades pandas and pulls a dozen packages. So: pypdf for PDF (pure Python, its text
layer page by page), python-docx for Word (paragraphs and tables in body order), the
standard library's ``html.parser`` for HTML (the tokenizer BeautifulSoup's default
backend uses; visible text needs no tree), ``csv`` for CSV, and OCR (rag/ocr.py) for
images and scanned PDF pages. Parsers are imported
inside the readers so that ``import rag`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable

from .formats import Budget, Extracted, SkipFile, decode_text, read_csv, read_html, read_text
from .ocr import read_picture
from .pdf import read_pdf
from .word import read_docx

__all__ = ["READERS", "Budget", "Extracted", "SkipFile", "decode_text"]

# File suffix -> reader from the file's bytes to its ``Extracted`` text: the one list of
# supported formats (Settings.extensions defaults to it). A new format is a module with a
# ``read_x(data: bytes, budget: Budget | None = None) -> Extracted`` that checks the budget
# as its text grows (``budget.chars(n)``), and one line here.
READERS: dict[str, Callable[[bytes, Budget], Extracted]] = {
    ".txt": read_text, ".md": read_text, ".markdown": read_text, ".pdf": read_pdf, ".docx": read_docx,
    ".html": read_html, ".htm": read_html, ".csv": read_csv,
    ".png": read_picture, ".jpg": read_picture, ".jpeg": read_picture, ".tif": read_picture, ".tiff": read_picture,
}


def describe() -> str:
    """The supported suffixes for messages, e.g. '.txt .md .markdown .pdf .docx .html .htm .csv'."""
    return " ".join(READERS)
