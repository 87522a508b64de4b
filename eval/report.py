"""Writing results: JSON + Markdown side by side, and charts drawn with matplotlib."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path


def write(out: Path, name: str, result: dict, md: str) -> int:
    """``out/name.json`` and ``out/name.md``; the Markdown is also printed. Returns 0 (an exit status)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{name}.md").write_text(md)
    print(md)
    print(f"wrote {out / name}.json and .md", file=sys.stderr)
    return 0


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A Markdown table's lines.

    >>> table(["a", "b"], [[1, 2]])
    ['| a | b |', '|---|---|', '| 1 | 2 |']
    """
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)] + \
        ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def bar_chart(path: Path, title: str, groups: Sequence[str], series: dict[str, Sequence[float]],
              ylabel: str = "", ylim: tuple[float, float] | None = (0.0, 1.0)) -> None:
    """Grouped bars: one group per ``groups`` label, one bar per ``series`` name (values in group order)."""
    import matplotlib

    matplotlib.use("Agg")  # no display; never a GUI backend
    import matplotlib.pyplot as plt

    n = len(series)
    width = 0.8 / max(n, 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(groups) * n + 1.5), 4.0), dpi=110)
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (n - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, values, width * 0.95, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    ax.set_title(title, fontsize=10)
    if ylabel:
        ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=8, ncols=n, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def merge(path: Path, fresh: dict) -> dict:
    """The results file at ``path`` with ``fresh``'s entries (``sets`` -> set -> name) put in; others kept."""
    old = json.loads(path.read_text()) if path.exists() else {"sets": {}}
    for name, by in fresh["sets"].items():
        old["sets"].setdefault(name, {}).update(by)
    old["half"] = fresh["half"]
    old.setdefault("settings", {}).update(fresh.get("settings", {}))
    return old
