"""The code's shape: no import circles in rag/ or eval/, short documented modules, a cheap ``import rag``.

Imports are read with ``ast``, not by importing: module-level and function-level imports
both count (a circle through a function-level import still ties the modules together);
imports under ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rag", "eval")
MAX_LINES = 300


def module_name(path: Path) -> str:
    """``rag/api.py`` -> 'rag.api', ``rag/__init__.py`` -> 'rag'."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))
            if "results" not in p.relative_to(ROOT).parts}


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in the tree (any depth), except in the body of ``if TYPE_CHECKING:``."""
    out: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
        if isinstance(node, ast.If) and _type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that module ``name`` (file ``path``) imports."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    top = name.split(".")[0]
    found: set[str] = set()

    def resolve(target: str) -> str | None:
        if target in modules:
            return target
        if top == "eval" and f"eval.{target}" in modules:  # eval's scripts import each other by bare name
            return f"eval.{target}"
        return None

    for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from pkg import sub` imports the submodule pkg.sub; `from mod import name` imports mod
            targets = [f"{mod}.{a.name}" if resolve(f"{mod}.{a.name}") else mod for a in node.names]
        for t in targets:
            got = resolve(t)
            if got and got != name:
                found.add(got)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_the_import_reader_sees_function_level_imports_and_skips_type_checking(tmp_path, monkeypatch):
    pkg = tmp_path / "rag"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import C\n"
                              "def f():\n    from . import b\n")
    (pkg / "b.py").write_text("from .a import f\n")
    (pkg / "c.py").write_text("import rag.a\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    modules = {module_name(p): p for p in sorted(pkg.glob("*.py"))}
    graph = {m: imported(m, p, modules) for m, p in modules.items()}
    assert graph == {"rag": set(), "rag.a": {"rag.b"}, "rag.b": {"rag.a"}, "rag.c": {"rag.a"}}
    assert cycles(graph) == [["rag.a", "rag.b"]]


def test_no_import_circles_in_rag_or_eval():
    modules = project_modules()
    graph = {m: imported(m, p, modules) for m, p in modules.items()}
    assert graph["rag.api"] >= {"rag.search", "rag.store", "rag.answer"}  # the reader finds real imports
    assert cycles(graph) == []


@pytest.mark.parametrize("path", sorted((ROOT / "rag").glob("*.py")), ids=lambda p: p.name)
def test_every_rag_module_is_documented_and_short(path):
    text = path.read_text(encoding="utf-8")
    assert ast.get_docstring(ast.parse(text)), f"{path.name} has no module docstring"
    lines = text.count("\n")
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines; split it (the limit is {MAX_LINES})"


def test_import_rag_loads_nothing_heavy():
    """``import rag`` is cheap: no torch, model, Chroma, llama-index or Gradio until first use."""
    heavy = ("torch", "chromadb", "llama_index", "sentence_transformers", "transformers", "gradio")
    code = f"import sys, rag; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
