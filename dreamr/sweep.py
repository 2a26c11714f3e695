"""Collect the runs of a Hydra multirun sweep into one table and one plot.

``dreamr-reason -m verifier.alpha=0.5,0.6,0.7`` writes one run directory per job under the
sweep directory, each with ``summary.json``, ``results.jsonl`` and ``config_resolved.yaml``.
This module reads them and writes, into the sweep directory:

- ``sweep.csv`` and ``sweep.md``: one row per run, sorted by the swept value: threshold,
  problems, accuracy, target-only accuracy, acceptance rate, speedup, wall times;
- ``sweep.png``: acceptance rate, accuracy and speedup against the swept value.

Speedup is the run's own (``compare_baseline=true``). Runs made with
``compare_baseline=false`` can take a separate run as the baseline: a ``target_only`` run, or
a run made with ``compare_baseline=true`` whose in-run ``target_only`` records count. Speedup is
then its wall time summed over the problems both runs finished, divided by the run's wall
time over the same problems. Both ran on the same hardware but not in the same process.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from omegaconf import OmegaConf

from dreamr.results import RESULTS_FILE, read_jsonl

logger = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config_resolved.yaml"


@dataclass
class SweepRow:
    """One run of a sweep."""

    run: str  # the run directory's name (the Hydra job number)
    value: float | str | None  # the swept setting, for example verifier.alpha
    verifier: str | None
    scheduler: str | None
    problems: int
    accuracy: float
    baseline_accuracy: float
    acceptance_rate: float
    speedup: float
    wall_time_s: float
    baseline_wall_time_s: float
    target_tokens: int  # tokens the target wrote itself (fallback steps)
    draft_tokens: int
    verifier_failures: int


def _number(value) -> float:
    return math.nan if value is None else float(value)


def _records(run_dir: Path, nested_baseline: bool = False) -> dict[str, dict]:
    """Records of a run by problem id; with ``nested_baseline`` the in-run ``target_only``
    record of each problem (runs made with ``compare_baseline=true``) replaces the method's."""
    records = {}
    for record in read_jsonl(run_dir / RESULTS_FILE):
        if nested_baseline:
            if record.get("baseline") is None:
                continue
            records[record["id"]] = record["baseline"]
        else:
            records[record["id"]] = record
    return records


def _wall_times(records: dict[str, dict]) -> dict[str, float]:
    """Wall time per finished problem id (problems that raised are left out)."""
    return {
        problem_id: float(record["wall_time_s"])
        for problem_id, record in records.items()
        if not record.get("error") and record.get("wall_time_s") is not None
    }


def read_run(run_dir: Path, key: str, baseline_dir: Path | None = None) -> SweepRow:
    """Read one run directory into a row; ``key`` is the swept config path."""
    summary = json.loads((run_dir / SUMMARY_FILE).read_text())
    value = None
    if (run_dir / CONFIG_FILE).exists():
        value = OmegaConf.select(OmegaConf.load(run_dir / CONFIG_FILE), key, default=None)
    speedup = _number(summary.get("speedup"))
    baseline_accuracy = _number(summary.get("baseline_accuracy"))
    baseline_time = _number(summary.get("baseline_wall_time_s"))
    if baseline_dir is not None and math.isnan(speedup):
        speedup, baseline_time, baseline_accuracy = _external_baseline(run_dir, baseline_dir)
    return SweepRow(
        run=run_dir.name,
        value=value,
        verifier=summary.get("verifier"),
        scheduler=summary.get("scheduler"),
        problems=int(summary.get("problems", 0)),
        accuracy=_number(summary.get("accuracy")),
        baseline_accuracy=baseline_accuracy,
        acceptance_rate=_number(summary.get("acceptance_rate")),
        speedup=speedup,
        wall_time_s=_number(summary.get("wall_time_s")),
        baseline_wall_time_s=baseline_time,
        target_tokens=int(summary.get("target_tokens", 0)),
        draft_tokens=int(summary.get("draft_tokens", 0)),
        verifier_failures=int(summary.get("verifier_failures", 0)),
    )


def _external_baseline(run_dir: Path, baseline_dir: Path) -> tuple[float, float, float]:
    """Speedup, baseline wall time and baseline accuracy on the problems both runs share.

    ``baseline_dir`` is a ``target_only`` run, or any run made with ``compare_baseline=true``,
    whose in-run ``target_only`` records are used.
    """
    baseline_summary = json.loads((baseline_dir / SUMMARY_FILE).read_text())
    nested = baseline_summary.get("scheduler") != "target_only"
    baseline_records = _records(baseline_dir, nested_baseline=nested)
    method_records = _records(run_dir)
    method, baseline = _wall_times(method_records), _wall_times(baseline_records)
    shared = sorted(set(method) & set(baseline))
    if not shared:
        logger.warning("%s and the baseline %s share no finished problem", run_dir, baseline_dir)
        return math.nan, math.nan, math.nan
    method_time = sum(method[i] for i in shared)
    baseline_time = sum(baseline[i] for i in shared)
    compared = [baseline_records[i] for i in sorted(set(method_records) & set(baseline_records))]
    accuracy = (
        sum(bool(r.get("correct")) for r in compared) / len(compared) if compared else math.nan
    )
    return baseline_time / method_time if method_time > 0 else math.nan, baseline_time, accuracy


def collect_sweep(
    sweep_dir: Path, key: str = "verifier.alpha", baseline_dir: Path | None = None
) -> list[SweepRow]:
    """Read every run directory under ``sweep_dir`` that has a summary, sorted by value."""
    sweep_dir = Path(sweep_dir)
    run_dirs = sorted(path.parent for path in sweep_dir.glob(f"*/{SUMMARY_FILE}"))
    if not run_dirs:
        raise FileNotFoundError(
            f"no run directory with {SUMMARY_FILE} under {sweep_dir}; pass the folder that "
            "dreamr-reason -m printed (multirun/<task>/<date>)"
        )
    rows = [read_run(run_dir, key, baseline_dir) for run_dir in run_dirs]

    def order(row: SweepRow):
        numeric = isinstance(row.value, (int, float)) and not isinstance(row.value, bool)
        return (0, float(row.value), row.run) if numeric else (1, 0.0, f"{row.value}:{row.run}")

    return sorted(rows, key=order)


def lost_problems(row: SweepRow) -> float:
    """Return how many problems fewer than ``target_only`` the run solved on the same problems
    (NaN without a baseline accuracy)."""
    return (row.baseline_accuracy - row.accuracy) * row.problems


def pick_operating_point(rows: list[SweepRow], max_lost: float = 1.0) -> SweepRow | None:
    """Return the run with the highest acceptance that loses at most ``max_lost`` problems
    against ``target_only``; None when no run has a baseline accuracy or none qualifies.

    Among equal acceptance the higher accuracy wins. The comparison needs a baseline: the
    run's own (``compare_baseline=true``) or ``dreamr-sweep --baseline``.
    """
    # Accuracies are ratios of whole problems, so round away float error before comparing.
    qualified = [
        row
        for row in rows
        if not math.isnan(row.baseline_accuracy)
        and not math.isnan(row.acceptance_rate)
        and round(lost_problems(row), 6) <= max_lost
    ]
    if not qualified:
        return None
    return max(qualified, key=lambda row: (row.acceptance_rate, row.accuracy))


def write_sweep(rows: list[SweepRow], out_dir: Path, key: str = "verifier.alpha") -> list[Path]:
    """Write ``sweep.csv``, ``sweep.md`` and ``sweep.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    names = [field.name for field in fields(SweepRow)]
    with (out_dir / "sweep.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))
    (out_dir / "sweep.md").write_text(format_sweep(rows, key) + "\n")
    plot_sweep(rows, out_dir / "sweep.png", key)
    return [out_dir / "sweep.csv", out_dir / "sweep.md", out_dir / "sweep.png"]


def _cell(value, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return pattern.format(value)


def format_sweep(rows: list[SweepRow], key: str = "verifier.alpha") -> str:
    """Render the rows as a Markdown table."""
    header = (
        f"| run | {key} | verifier | problems | accuracy | target_only accuracy | acceptance | "
        "speedup | wall time [s] | target_only wall time [s] | target tokens | draft tokens | "
        "verifier failures |"
    )
    lines = [header, "|" + "---|" * 13]
    for row in rows:
        value = row.value if isinstance(row.value, str) or row.value is None else f"{row.value:g}"
        lines.append(
            f"| {row.run} | {value} | {row.verifier} | {row.problems} | {_cell(row.accuracy, '{:.3f}')} | "
            f"{_cell(row.baseline_accuracy, '{:.3f}')} | {_cell(row.acceptance_rate, '{:.3f}')} | "
            f"{_cell(row.speedup, '{:.2f}x')} | {_cell(row.wall_time_s, '{:.1f}')} | "
            f"{_cell(row.baseline_wall_time_s, '{:.1f}')} | {row.target_tokens} | {row.draft_tokens} | "
            f"{row.verifier_failures} |"
        )
    return "\n".join(lines)


def plot_sweep(rows: list[SweepRow], path: Path, key: str = "verifier.alpha") -> Path | None:
    """Plot acceptance, accuracy and speedup against the swept value (numeric values only)."""
    points = [
        row
        for row in rows
        if isinstance(row.value, (int, float)) and not isinstance(row.value, bool)
    ]
    if not points:
        logger.warning("no numeric %s in the sweep; skipping the plot", key)
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = [float(row.value) for row in points]
    figure, (rate_axis, speed_axis) = plt.subplots(1, 2, figsize=(11, 4))
    rate_axis.plot(
        values, [row.acceptance_rate for row in points], marker="o", label="acceptance rate"
    )
    rate_axis.plot(values, [row.accuracy for row in points], marker="o", label="accuracy")
    baseline = [row.baseline_accuracy for row in points if not math.isnan(row.baseline_accuracy)]
    if baseline:
        rate_axis.axhline(
            sum(baseline) / len(baseline),
            color="#999999",
            linestyle="--",
            label="target_only accuracy",
        )
    rate_axis.set_xlabel(key)
    rate_axis.set_ylim(-0.02, 1.02)
    rate_axis.legend(loc="best")
    speedups = [row.speedup for row in points]
    if all(math.isnan(value) for value in speedups):
        # Runs made without a baseline: show what they cost instead of an empty panel.
        speed_axis.plot(
            values, [row.wall_time_s / max(row.problems, 1) for row in points], marker="o"
        )
        speed_axis.set_ylabel("wall time per problem [s] (no target_only baseline)")
    else:
        speed_axis.plot(values, speedups, marker="o", color="#2ca02c")
        speed_axis.axhline(1.0, color="#999999", linestyle=":")
        speed_axis.set_ylabel("speedup over target_only")
    speed_axis.set_xlabel(key)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
