"""Files a hostile or unlucky user could drop into the corpus: a decompression-bomb .docx, a huge one-line text.

Shared by the fast bound tests (tests/test_bounds.py, small sizes) and the reliability suite
(tests/reliability/, the sizes of issue 12: a ~200 KB .docx unpacking to a million paragraphs).
"""

from __future__ import annotations

import io
import zipfile


def bomb_docx(paragraphs: int = 1_000_000, text: str = "Lorem ipsum dolor sit amet.") -> bytes:
    """A valid .docx whose body is ``paragraphs`` copies of one paragraph, deflated: ~210 KB for a million
    (~61 MB unpacked, ~27 M characters). ``text=""`` gives paragraphs with no text (four XML elements each)."""
    import docx

    base = io.BytesIO()
    docx.Document().save(base)
    src = zipfile.ZipFile(base)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for item in src.infolist():
            if item.filename != "word/document.xml":
                z.writestr(item, src.read(item))
                continue
            head, tail = src.read(item).decode().split("<w:body>")
            para = f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"
            with z.open("word/document.xml", "w") as f:
                f.write((head + "<w:body>").encode())
                block = (para * 1000).encode()
                for _ in range(paragraphs // 1000):
                    f.write(block)
                f.write((para * (paragraphs % 1000)).encode())
                f.write(("<w:sectPr/></w:body>" + tail.split("</w:body>", 1)[1]).encode())
    return out.getvalue()


def one_line(size: int = 10_000_000) -> str:
    """``size`` characters of words and no line break or sentence end."""
    return ("word " * (size // 5 + 1))[:size]
