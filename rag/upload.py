"""Copy files a user uploads (in the web UI) into the corpus folder, and nowhere else.

Only the upload's base name is kept, so ``../../etc/passwd`` or ``/tmp/x.md`` land as
``passwd`` / ``x.md`` inside the corpus (and ``passwd`` is then refused: no supported
suffix). Nothing is overwritten: a different file with the same name is saved as
``name-2.ext``; the same bytes again are reported as already there. Writes go through
a temporary file and an atomic rename, so a failed upload leaves no half file behind.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class UploadReport:
    saved: list[str] = field(default_factory=list)  # names as written in the corpus folder
    present: list[str] = field(default_factory=list)  # identical file already there
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)

    def summary(self) -> str:
        parts = [f"saved {', '.join(self.saved)}" if self.saved else ""]
        parts += [f"already there: {', '.join(self.present)}" if self.present else ""]
        parts += [f"not saved {name}: {why}" for name, why in self.rejected]
        return "; ".join(p for p in parts if p) or "nothing to add"


def safe_name(name: str) -> str:
    """The base name of an uploaded file, stripped of any folder part (``/`` or ``\\``).

    >>> safe_name("../../etc/passwd"), safe_name("C:\\\\x\\\\notes.md"), safe_name("/tmp/a b.txt")
    ('passwd', 'notes.md', 'a b.txt')
    """
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip()


def save_uploads(corpus: Path, uploads: list[tuple[str, Path]], extensions: tuple[str, ...],
                 max_bytes: int) -> UploadReport:
    """Copy each ``(original name, temporary path)`` into ``corpus``; say what happened to each."""
    corpus = Path(corpus).resolve()
    report = UploadReport()
    for original, tmp in uploads:
        name = safe_name(original)
        why = _refusal(name, Path(tmp), extensions, max_bytes)
        if why:
            report.rejected.append((original, why))
            continue
        target = _free_target(corpus, name, Path(tmp))
        if target is None:
            report.present.append(name)
            continue
        if target.parent != corpus:  # belt and braces: never outside the corpus folder
            report.rejected.append((original, "would land outside the corpus folder"))
            continue
        fd, part = tempfile.mkstemp(dir=corpus, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out, open(tmp, "rb") as src:
                shutil.copyfileobj(src, out)
            os.link(part, target)  # fails if the name was taken meanwhile: never overwrites
        except OSError as e:
            report.rejected.append((original, f"could not be written ({e.strerror or e})"))
            continue
        finally:
            os.unlink(part)
        report.saved.append(target.name)
    return report


def _refusal(name: str, tmp: Path, extensions: tuple[str, ...], max_bytes: int) -> str:
    if not name or name.startswith(".") or name in {"..", "."} or _UNUSABLE.search(name):
        return "not a usable file name"
    if len(name.encode()) > 240:  # most file systems stop at 255 bytes; room for "-N"
        return "file name too long (over 240 bytes); rename it"
    if Path(name).suffix.lower() not in extensions:
        return f"unsupported file type (supported: {', '.join(extensions)})"
    try:
        size = tmp.stat().st_size
    except OSError:
        return "the upload did not arrive; try again"
    if size > max_bytes:
        return f"too large ({size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB)"
    return ""


_UNUSABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")  # control characters, lone surrogates: no file can be named so


def _free_target(corpus: Path, name: str, tmp: Path) -> Path | None:
    """Where to write ``name``: itself, or ``stem-N.ext`` if taken; None if the same bytes are there."""
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in itertools.count(1):
        target = corpus / (name if n == 1 else f"{stem}-{n}{suffix}")
        if target.is_symlink():
            continue  # never write through a link, wherever it points
        if not target.exists():
            return target
        if target.is_file() and _same_bytes(target, tmp):
            return None
    raise AssertionError  # itertools.count never ends


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True
