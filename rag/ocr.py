"""OCR for scanned pages and images: Tesseract when the system has it, else RapidOCR.

A PDF page with no text layer is read from its embedded images (a scanner stores each page
as one), and .png/.jpg/.tif files are read whole. Two engines, chosen by measurement
(eval/bench_ocr.py, pages rendered from the seed article): Tesseract 5 (Debian's
``tesseract-ocr``) read them at 0.998 character accuracy in 4.7 s per page; RapidOCR
(PP-OCRv4 models as ONNX files inside its wheel, on onnxruntime) at 0.77 in 7.6 s. So
Tesseract reads when it is installed (a system package: ``apt install tesseract-ocr``), and
RapidOCR, which installs from PyPI with the project, otherwise. ``RAG_OCR`` = ``tesseract``
or ``rapidocr`` picks one; ``RAG_OCR_LANG`` gives Tesseract's languages (default ``eng``,
e.g. ``eng+deu`` with ``tesseract-ocr-deu`` installed). Neither downloads anything.

Results are cached by the image's SHA-256 (and the engine and its version) as a small text
file under ``RAG_OCR_CACHE`` (default ``~/.cache/rag/ocr``), so a re-sync, and the re-read
that verifies a citation, do not run OCR again, and give exactly the text the index holds.

RapidOCR's boxes become lines top to bottom, left to right; boxes whose vertical middles lie
within half a line height are one line. Tesseract lays out its own lines and paragraphs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import threading
from functools import cache
from pathlib import Path
from typing import Any

from .formats import Budget, Extracted, SkipFile

RAPIDOCR = "rapidocr-onnxruntime 1.4.4"  # part of the cache key: another engine reads differently
MIN_CONFIDENCE = 0.5  # boxes RapidOCR itself doubts are mostly specks and stamps
PAGE_SECONDS = 300  # Tesseract on one page; past it the page is given up (a bomb of an image)

_engine: Any = None
_lock = threading.Lock()


def cache_dir() -> Path:
    return Path(os.environ.get("RAG_OCR_CACHE") or Path.home() / ".cache" / "rag" / "ocr")


def lines(boxes: list[tuple[float, float, float, str]]) -> list[str]:
    """Text lines from ``(x, y_top, y_bottom, text)`` boxes: grouped by vertical middle, ordered by x.

    >>> lines([(300, 10, 30, "world"), (10, 12, 31, "Hello"), (10, 50, 70, "Next line")])
    ['Hello world', 'Next line']
    """
    out: list[list[tuple[float, float, float, str]]] = []
    for box in sorted(boxes, key=lambda b: (b[1] + b[2]) / 2):
        mid, height = (box[1] + box[2]) / 2, box[2] - box[1]
        last = out[-1] if out else None
        if last and abs(mid - sum((b[1] + b[2]) / 2 for b in last) / len(last)) <= height / 2:
            last.append(box)
        else:
            out.append([box])
    return [" ".join(b[3] for b in sorted(line)) for line in out]


@cache
def engine() -> str:
    """The engine that reads, with its version: ``RAG_OCR``'s choice, else Tesseract when installed, else RapidOCR."""
    choice = os.environ.get("RAG_OCR", "auto").strip().lower() or "auto"
    if choice not in ("auto", "tesseract", "rapidocr"):
        raise SkipFile(f"RAG_OCR is {choice!r}: set it to tesseract, rapidocr or auto (the default)")
    if choice == "rapidocr" or (choice == "auto" and not shutil.which("tesseract")):
        return RAPIDOCR
    try:
        version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        raise SkipFile("RAG_OCR=tesseract, but Tesseract does not run: apt install tesseract-ocr, or unset "
                       "RAG_OCR") from None
    return f"{version.split(chr(10))[0].strip()} {_languages()}"


def _languages() -> str:
    return os.environ.get("RAG_OCR_LANG", "").strip() or "eng"


def read_image(data: bytes) -> str:
    """The text of an image (PNG, JPEG, TIFF, ...): cached, else read by OCR. '' when it holds none."""
    key = hashlib.sha256(engine().encode() + b"\0" + data).hexdigest()
    path = cache_dir() / key[:2] / f"{key}.txt"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    text = _read(data)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:  # a read-only home: OCR again next time, still the same text
        logging.getLogger(__name__).warning("OCR cache not written (%s): %s", path, e)
    return text


def _read(data: bytes) -> str:
    """OCR itself, by the engine chosen; a broken file is told apart in milliseconds, before it runs."""
    import io

    from PIL import Image

    try:
        Image.open(io.BytesIO(data)).verify()
    except Exception as e:
        raise SkipFile(f"the image could not be read for OCR ({type(e).__name__}); check that it opens") from None
    return _tesseract(data) if engine() != RAPIDOCR else "\n".join(lines(_boxes(data)))


def _tesseract(data: bytes) -> str:
    try:
        done = subprocess.run(["tesseract", "stdin", "stdout", "-l", _languages()], input=data, capture_output=True,
                              timeout=PAGE_SECONDS)
    except subprocess.TimeoutExpired:
        raise SkipFile(f"OCR of one page took over {PAGE_SECONDS} s; check the scan (its size, its resolution)") from None
    if done.returncode:
        why = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise SkipFile(f"Tesseract could not read the image ({why[0][:200]}); check that it opens, and that the "
                       f"language data for RAG_OCR_LANG={_languages()} is installed") from None
    return "\n".join(line.rstrip() for line in done.stdout.decode(errors="replace").replace("\f", "").splitlines()).strip()


def _boxes(data: bytes) -> list[tuple[float, float, float, str]]:
    global _engine

    try:
        with _lock:  # one engine per process; onnxruntime already uses every core
            if _engine is None:
                from rapidocr_onnxruntime import RapidOCR

                logging.getLogger("RapidOCR").setLevel(logging.ERROR)
                _engine = RapidOCR()
            result, _ = _engine(data)
    except ImportError:
        raise SkipFile("a scanned page or image needs OCR: pip install rapidocr-onnxruntime==1.4.4 "
                       "(make setup installs it)") from None
    except Exception as e:  # not an image it can decode
        raise SkipFile(f"the image could not be read for OCR ({type(e).__name__}); check that it opens") from None
    boxes = []
    for corners, text, confidence in result or []:
        if float(confidence) >= MIN_CONFIDENCE and text.strip():
            ys = [p[1] for p in corners]
            boxes.append((min(p[0] for p in corners), min(ys), max(ys), text.strip()))
    return boxes


def read_picture(data: bytes, budget: Budget | None = None) -> Extracted:
    """An image file's text by OCR (one page); ``SkipFile`` when it holds none (a photo, a drawing)."""
    text = read_image(data).strip()
    if not text:
        raise SkipFile("image with no text that OCR could read")
    if budget is not None:
        budget.chars(len(text), exact=True)
    return Extracted(text)
