"""Confusion-matrix PNGs of an evaluated stage: one panel per evaluation set, gold rows × predicted columns.

Reads the `confusion` dict that `relevance.metrics.classification_report` writes (gold level →
predicted level or "unparsed" → count) and draws counts with row-normalised shading, so a
class with 1 example and one with 69 are equally readable. Knows nothing about models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def confusion_array(confusion: dict[str, dict[str, int]], labels: list[Any]) -> tuple[list[str], list[str], list[list[int]]]:
    """(gold row names, predicted column names, counts); the 'unparsed' column only when used.

    >>> confusion_array({"4": {"4": 2, "1": 1, "unparsed": 0}, "1": {"4": 0, "1": 3, "unparsed": 0}}, [4, 1, "unparsed"])
    (['4', '1'], ['4', '1'], [[2, 1], [0, 3]])
    """
    rows = [str(lv) for lv in labels if lv != "unparsed"]
    cols = list(rows)
    if any(confusion.get(r, {}).get("unparsed", 0) for r in rows):
        cols.append("unparsed")
    return rows, cols, [[int(confusion.get(r, {}).get(c, 0)) for c in cols] for r in rows]


def plot_stage(stage: str, sets: dict[str, dict[str, Any]], out_path: Path) -> Path:
    """Write one PNG with a confusion matrix per evaluation set of `stage`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(sets)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.0), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        report = sets[name]
        rows, cols, counts = confusion_array(report["confusion"], report["labels"])
        shade = [[c / max(1, sum(row)) for c in row] for row in counts]
        ax.imshow(shade, cmap="Blues", vmin=0.0, vmax=1.0)
        for i, row in enumerate(counts):
            for j, c in enumerate(row):
                ax.text(j, i, str(c), ha="center", va="center", color="white" if shade[i][j] > 0.6 else "black")
        ax.set_xticks(range(len(cols)), cols)
        ax.set_yticks(range(len(rows)), [f"{r} (n={sum(counts[i])})" for i, r in enumerate(rows)])
        ax.set_xlabel("predicted level")
        ax.set_ylabel("gold level")
        ax.set_title(f"{name}: acc {report['accuracy']:.2f}, macro-F1 {report['macro_f1']:.2f}", fontsize=9)
    fig.suptitle(f"stage {stage}")
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return out_path
