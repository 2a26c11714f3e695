"""Run metrics as torchmetrics with count states, so totals are exact under DDP.

Definitions (one place for the whole project):

- ``accuracy``: correct answers / problems, where a problem that raised counts as wrong.
- ``acceptance_rate``: accepted proposals / judged proposals; NaN when nothing was judged.
- ``speedup``: baseline (``target_only``) wall time / method wall time, summed over the
  problems that both finished, measured in the same run on the same hardware.
- ``cpu_speedup``: the same ratio of process CPU time (all threads). It is a proxy for machines
  shared with other work, where wall time is inflated unevenly. For schedulers that run draft
  and target in parallel it compares total compute, not latency.
"""

from __future__ import annotations

import math

import torch
from torchmetrics import Metric

# Counters that a record's ``counters`` block adds to the states of the same name.
_RECORD_COUNTERS = (
    "proposals",
    "accepted",
    "draft_tokens",
    "target_tokens",
    "target_forward_passes",
    "verifier_failures",
)
_COUNT_STATES = (
    "problems",
    "errors",
    "correct",
    *_RECORD_COUNTERS,
    "steps",
    "draft_steps",
    "baseline_problems",
    "baseline_correct",
    "baseline_target_tokens",
    "baseline_target_forward_passes",
)
_TIME_STATES = (
    "wall_time_s",
    "baseline_wall_time_s",
    "paired_wall_time_s",
    "paired_baseline_wall_time_s",
    "paired_cpu_time_s",
    "paired_baseline_cpu_time_s",
)


class ReasoningMetrics(Metric):
    """Accumulates per-problem results of the method and, when run, of the baseline."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        for name in _COUNT_STATES:
            self.add_state(name, default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        for name in _TIME_STATES:
            self.add_state(
                name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum"
            )

    def update(self, record: dict) -> None:  # type: ignore[override]
        """Add one ``results.jsonl`` record (see ``dreamr.results.problem_record``)."""
        self.problems += 1
        if record.get("error"):
            self.errors += 1
        self.correct += int(bool(record.get("correct")))
        counters = record.get("counters") or {}
        for name in _RECORD_COUNTERS:
            value = counters.get(name, 0)
            setattr(self, name, getattr(self, name) + int(value))
        steps = record.get("steps") or []
        self.steps += len(steps)
        self.draft_steps += sum(1 for step in steps if step.get("origin") == "draft")
        method_time = float(record.get("wall_time_s") or 0.0)
        self.wall_time_s += method_time

        baseline = record.get("baseline")
        if baseline is not None:
            self.baseline_problems += 1
            self.baseline_correct += int(bool(baseline.get("correct")))
            base_counters = baseline.get("counters") or {}
            self.baseline_target_tokens += int(base_counters.get("target_tokens", 0))
            self.baseline_target_forward_passes += int(
                base_counters.get("target_forward_passes", 0)
            )
            base_time = float(baseline.get("wall_time_s") or 0.0)
            self.baseline_wall_time_s += base_time
            if not record.get("error") and not baseline.get("error"):
                self.paired_wall_time_s += method_time
                self.paired_baseline_wall_time_s += base_time
                method_cpu, base_cpu = record.get("cpu_time_s"), baseline.get("cpu_time_s")
                if method_cpu is not None and base_cpu is not None:
                    self.paired_cpu_time_s += float(method_cpu)
                    self.paired_baseline_cpu_time_s += float(base_cpu)

    def progress(self) -> dict[str, float]:
        """Accuracy and acceptance on this rank so far, without syncing ranks (for progress bars)."""
        return {
            "accuracy": _ratio(int(self.correct), int(self.problems)),
            "acceptance_rate": _ratio(int(self.accepted), int(self.proposals)),
        }

    def compute(self) -> dict[str, float | int]:
        problems = int(self.problems)
        proposals = int(self.proposals)
        summary: dict[str, float | int] = {
            "problems": problems,
            "errors": int(self.errors),
            "accuracy": _ratio(int(self.correct), problems),
            "acceptance_rate": _ratio(int(self.accepted), proposals),
            "wall_time_s": float(self.wall_time_s),
            "proposals": proposals,
            "accepted": int(self.accepted),
            "steps": int(self.steps),
            "draft_steps": int(self.draft_steps),
            "draft_tokens": int(self.draft_tokens),
            "target_tokens": int(self.target_tokens),
            "target_forward_passes": int(self.target_forward_passes),
            "verifier_failures": int(self.verifier_failures),
        }
        baseline_problems = int(self.baseline_problems)
        summary["baseline_problems"] = baseline_problems
        summary["baseline_accuracy"] = _ratio(int(self.baseline_correct), baseline_problems)
        summary["baseline_wall_time_s"] = (
            float(self.baseline_wall_time_s) if baseline_problems else math.nan
        )
        summary["baseline_target_tokens"] = int(self.baseline_target_tokens)
        summary["baseline_target_forward_passes"] = int(self.baseline_target_forward_passes)
        paired = float(self.paired_wall_time_s)
        summary["speedup"] = (
            float(self.paired_baseline_wall_time_s) / paired
            if baseline_problems and paired > 0
            else math.nan
        )
        paired_cpu = float(self.paired_cpu_time_s)
        summary["cpu_speedup"] = (
            float(self.paired_baseline_cpu_time_s) / paired_cpu if paired_cpu > 0 else math.nan
        )
        return summary


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else math.nan
