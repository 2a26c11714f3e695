"""The bench table and bar chart."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dreamr.bench.job import BenchRow

_COLUMNS = (
    ("scheduler", "scheduler", "{}"),
    ("accuracy", "accuracy", "{:.3f}"),
    ("acceptance_rate", "acceptance", "{:.3f}"),
    ("wall_time_s", "wall time [s]", "{:.1f}"),
    ("speedup", "speedup", "{:.2f}x"),
    ("ideal_speedup", "limit", "{:.2f}x"),
    ("target_forward_passes", "target passes", "{:d}"),
    ("draft_tokens", "draft tokens", "{:d}"),
    ("target_tokens", "target tokens", "{:d}"),
)


def _cell(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return fmt.format(value)


def format_rows(rows: Sequence[BenchRow], markdown: bool = False) -> str:
    """Render the rows as an aligned text table, or as a Markdown table."""
    header = [label for _, label, _ in _COLUMNS]
    body = [[_cell(getattr(row, key), fmt) for key, _, fmt in _COLUMNS] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(cells[i]) for cells in [header, *body]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        for cells in [header, *body]
    )


def plot_bench(rows: Sequence[BenchRow], path: Path, title: str = "") -> Path:
    """Draw measured speedup bars with the schedule's limit as a marker, and acceptance and accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [row.scheduler for row in rows]
    positions = list(range(len(rows)))
    figure, (speed_axis, rate_axis) = plt.subplots(1, 2, figsize=(11, 4))
    speed_axis.bar(
        positions, [_or_zero(row.speedup) for row in rows], color="#1f77b4", label="measured"
    )
    speed_axis.scatter(
        positions,
        [_or_zero(row.ideal_speedup) for row in rows],
        color="black",
        marker="_",
        s=600,
        label="limit (no contention)",
        zorder=3,
    )
    speed_axis.axhline(1.0, color="#999999", linewidth=0.8)
    speed_axis.set_xticks(positions, names, rotation=20)
    speed_axis.set_ylabel("speedup vs target_only")
    speed_axis.legend(fontsize=8)
    width = 0.4
    rate_axis.bar(
        [p - width / 2 for p in positions],
        [_or_zero(row.acceptance_rate) for row in rows],
        width,
        label="acceptance",
        color="#2ca02c",
    )
    rate_axis.bar(
        [p + width / 2 for p in positions],
        [_or_zero(row.accuracy) for row in rows],
        width,
        label="accuracy",
        color="#ff7f0e",
    )
    rate_axis.set_xticks(positions, names, rotation=20)
    rate_axis.set_ylim(0, 1.05)
    rate_axis.legend(fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _or_zero(value) -> float:
    return (
        0.0 if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    )
