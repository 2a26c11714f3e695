"""Summary table and plots of a ``dreamr-reason`` run."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_ROWS = (
    ("problems", "problems", "{:d}"),
    ("errors", "errors", "{:d}"),
    ("accuracy", "accuracy (method)", "{:.3f}"),
    ("baseline_accuracy", "accuracy (target_only)", "{:.3f}"),
    ("acceptance_rate", "acceptance rate", "{:.3f}"),
    ("wall_time_s", "wall time (method) [s]", "{:.1f}"),
    ("baseline_wall_time_s", "wall time (target_only) [s]", "{:.1f}"),
    ("speedup", "speedup", "{:.2f}x"),
    ("cpu_speedup", "speedup in process CPU time", "{:.2f}x"),
    ("proposals", "proposals judged", "{:d}"),
    ("accepted", "proposals accepted", "{:d}"),
    ("steps", "committed steps", "{:d}"),
    ("draft_tokens", "draft tokens", "{:d}"),
    ("target_tokens", "target tokens (method)", "{:d}"),
    ("baseline_target_tokens", "target tokens (target_only)", "{:d}"),
    ("target_forward_passes", "target forward passes (method)", "{:d}"),
    ("baseline_target_forward_passes", "target forward passes (target_only)", "{:d}"),
    ("verifier_failures", "verifier failures", "{:d}"),
)


def format_summary(summary: dict[str, Any], title: str = "dreamr-reason summary") -> str:
    """Render the summary as an aligned two-column table."""
    lines = [title]
    width = max(len(label) for _, label, _ in _ROWS)
    for key, label, fmt in _ROWS:
        if key not in summary:
            continue
        value = summary[key]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            text = "n/a"
        else:
            text = fmt.format(value)
        lines.append(f"  {label:<{width}}  {text}")
    return "\n".join(lines)


def plot_run(records: list[dict[str, Any]], path: Path) -> Path | None:
    """Draw per-problem wall time (method vs target_only) and step origins into a PNG."""
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids = [record["id"] for record in records]
    method_time = [record.get("wall_time_s") or 0.0 for record in records]
    baseline_time = [
        ((record.get("baseline") or {}).get("wall_time_s") or 0.0) for record in records
    ]
    draft_steps = [
        sum(s.get("origin") == "draft" for s in record.get("steps") or []) for record in records
    ]
    target_steps = [
        sum(s.get("origin") == "target" for s in record.get("steps") or []) for record in records
    ]

    height = max(3.0, 0.35 * len(ids) + 1.5)
    figure, (time_axis, step_axis) = plt.subplots(1, 2, figsize=(11, height), sharey=True)
    rows = range(len(ids))
    if any(baseline_time):
        time_axis.barh(
            [r + 0.2 for r in rows], baseline_time, height=0.4, label="target_only", color="#999999"
        )
    time_axis.barh(
        [r - 0.2 for r in rows], method_time, height=0.4, label="method", color="#1f77b4"
    )
    time_axis.set_yticks(list(rows), ids)
    time_axis.invert_yaxis()
    time_axis.set_xlabel("wall time [s]")
    time_axis.legend(loc="lower right")
    step_axis.barh(list(rows), draft_steps, label="accepted draft steps", color="#2ca02c")
    step_axis.barh(
        list(rows), target_steps, left=draft_steps, label="target steps", color="#d62728"
    )
    step_axis.set_xlabel("committed steps")
    step_axis.legend(loc="lower right")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
