"""OCR accuracy and speed on pages rendered from known text: RapidOCR (the engine rag/ocr.py uses),
and Tesseract next to it when the system has it.

    python eval/bench_ocr.py               # 4 pages of the seed article, ~1-2 min on 2 cores
    python eval/bench_ocr.py --pages 10    # more pages

Pages: the seed article's text wrapped at 70 characters, 30 lines per A4 page rendered at
150 dpi in 12 pt (Pillow's own font, word gaps a third of an em as in print), saved as JPEG
(quality 85) the way a scanner's PDF stores a page. Character accuracy is 1 - (edit
distance / characters of the true text), whitespace normalised; seconds per page exclude
loading the models (reported apart) and use no cache.

Writes ``ocr-bench.json`` and ``ocr-bench.md`` under eval/results/ (or --out).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval.report import table, write  # noqa: E402
from eval.sets import RESULTS  # noqa: E402

SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_88e0a58a207d25a9.txt"


def pages(n: int) -> list[list[str]]:
    lines = [w for para in SEED.read_text().split("\n") if para.strip() for w in textwrap.wrap(para, 70)]
    return [lines[i : i + 30] for i in range(0, 30 * n, 30) if lines[i : i + 30]]


def render(lines: list[str]) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (1240, 1754), 255)
    draw, font = ImageDraw.Draw(img), ImageFont.load_default(size=32)
    for i, line in enumerate(lines):
        x = 120
        for word in line.split():
            draw.text((x, 150 + 48 * i), word, fill=0, font=font)
            x += draw.textlength(word, font=font) + 12
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def distance(a: str, b: str) -> int:
    """Levenshtein distance.

    >>> distance("kitten", "sitting")
    3
    """
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def accuracy(truth: str, got: str) -> float:
    t, g = " ".join(truth.split()), " ".join(got.split())
    return max(0.0, 1 - distance(t, g) / max(1, len(t)))


def rapidocr(images: list[bytes]) -> tuple[float, list[tuple[str, float]]]:
    import rag.ocr

    os.environ["RAG_OCR_CACHE"] = tempfile.mkdtemp()  # no cache: every page read
    t0 = time.perf_counter()
    rag.ocr._boxes(render(["warm up"]))
    load = time.perf_counter() - t0
    out = []
    for data in images:
        t0 = time.perf_counter()
        text = rag.ocr.read_image(data)
        out.append((text, time.perf_counter() - t0))
    return load, out


def tesseract(images: list[bytes]) -> list[tuple[str, float]] | None:
    if not shutil.which("tesseract"):
        return None
    out = []
    for data in images:
        t0 = time.perf_counter()
        r = subprocess.run(["tesseract", "stdin", "stdout", "-l", "eng"], input=data, capture_output=True, check=True)
        out.append((r.stdout.decode(), time.perf_counter() - t0))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pages", type=int, default=4)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    truth = pages(args.pages)
    images = [render(lines) for lines in truth]
    texts = ["\n".join(lines) for lines in truth]
    load, rapid = rapidocr(images)
    engines = {"rapidocr-onnxruntime 1.4.4": rapid}
    tess = tesseract(images)
    if tess is not None:
        engines["tesseract"] = tess
    result = {"pages": len(images), "chars": sum(map(len, texts)), "rapidocr_load_seconds": round(load, 2),
              "cpus": os.cpu_count(), "tesseract": "installed" if tess is not None else "not installed", "engines": {}}
    for name, runs in engines.items():
        accs = [accuracy(t, got) for t, (got, _) in zip(texts, runs)]
        secs = [s for _, s in runs]
        result["engines"][name] = {"char_accuracy": round(statistics.mean(accs), 4), "min_page_accuracy": round(min(accs), 4),
                                   "seconds_per_page_p50": round(statistics.median(secs), 2),
                                   "seconds_per_page_max": round(max(secs), 2)}
    rows = [[n, r["char_accuracy"], r["min_page_accuracy"], r["seconds_per_page_p50"], r["seconds_per_page_max"]]
            for n, r in result["engines"].items()]
    md = "\n".join([
        "# OCR: pages rendered from known text", "",
        f"{result['pages']} A4 pages at 150 dpi (JPEG) of the seed article, {result['chars']:,} characters; "
        f"{result['cpus']} CPUs; RapidOCR model load {load:.1f} s (once per process); "
        f"Tesseract {result['tesseract']}.", "",
        *table(["engine", "char accuracy", "worst page", "s/page p50", "s/page max"], rows), "",
        "Command: `python eval/bench_ocr.py" + (f" --pages {args.pages}`" if args.pages != 4 else "`"), ""])
    return write(args.out, "ocr-bench", result, md)


if __name__ == "__main__":
    raise SystemExit(main())
