"""OCR accuracy and speed on pages rendered from known text, read by rag/ocr.py with each engine:
RapidOCR (from PyPI, always here) and Tesseract (a system package) when the system has it.

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


def through_rag(name: str, images: list[bytes]) -> tuple[str, float, list[tuple[str, float]]] | None:
    """Every page read by rag/ocr.py with engine ``name`` (RAG_OCR), no cache: (engine and version,
    seconds to load it, [(text, seconds)]); None when the engine is not installed."""
    import rag.ocr

    if name == "tesseract" and not shutil.which("tesseract"):
        return None
    os.environ["RAG_OCR"], os.environ["RAG_OCR_CACHE"] = name, tempfile.mkdtemp()  # no cache: every page read
    rag.ocr.engine.cache_clear()
    t0 = time.perf_counter()
    rag.ocr._read(render(["warm up"]))
    load = time.perf_counter() - t0
    out = []
    for data in images:
        t0 = time.perf_counter()
        text = rag.ocr.read_image(data)
        out.append((text, time.perf_counter() - t0))
    return rag.ocr.engine(), load, out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pages", type=int, default=4)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    truth = pages(args.pages)
    images = [render(lines) for lines in truth]
    texts = ["\n".join(lines) for lines in truth]
    engines, loads = {}, {}
    for name in ("rapidocr", "tesseract"):
        got = through_rag(name, images)
        if got is not None:
            engines[got[0]], loads[got[0]] = got[2], round(got[1], 2)
    tess = "installed" if any(n.startswith("tesseract") for n in engines) else "not installed"
    result = {"pages": len(images), "chars": sum(map(len, texts)), "load_seconds": loads,
              "cpus": os.cpu_count(), "load_average": round(os.getloadavg()[0], 1), "tesseract": tess, "engines": {}}
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
        f"{result['cpus']} CPUs (load average {result['load_average']}); engine load (once per process) "
        f"{', '.join(f'{n}: {t} s' for n, t in loads.items())}; "
        f"Tesseract {result['tesseract']}.", "",
        *table(["engine", "char accuracy", "worst page", "s/page p50", "s/page max"], rows), "",
        "Command: `python eval/bench_ocr.py" + (f" --pages {args.pages}`" if args.pages != 4 else "`"), ""])
    return write(args.out, "ocr-bench", result, md)


if __name__ == "__main__":
    raise SystemExit(main())
