"""The per-step speedup limit of each schedule, from solo step and check times.

With T the time the target takes to write one step alone, D the draft's, V one check's,
and a the acceptance rate (all measured in the same bench run), the expected wall time per
committed step, if the workers never compete for hardware, is:

- ``target_only``: T, so the limit is 1 by definition;
- ``sequential``: D + V + (1 - a) T: draft, check, and on a rejection the target's step;
- ``lookahead`` with window K and checks in turn: a window commits E = (1 - a^K) / (1 - a)
  steps (K when a = 1) and costs K D + E V + (1 - a^K) T, so E T / (K D + E V + (1 - a^K) T).
  With ``batch_verify`` the window's checks take one forward, which this still counts as E
  checks, so there the limit is an underestimate;
- ``fpsr``: max(D, V) + (1 - a) T. The draft streams steps while a separate worker checks
  them, and the fallback of a rejected step starts when the step is drafted, so a run of m
  steps ending in a rejection takes m max(D, V) + T; averaged over geometric runs (ratio of
  expectations) that is the per-step time above.

The limit is T divided by the per-step time. It takes every step to cost the mean step
time, which real steps of unequal length only approximate, and ignores prefill of the
prompt and the answer-ending step cutting a window short.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from dreamr.engine.timeline import spans
from dreamr.types import TraceEvent


@dataclass(frozen=True)
class SoloTimes:
    """Mean seconds per task measured where nothing ran beside it."""

    target_step_s: float  # T: the target writes one step (target_only spans)
    draft_step_s: float  # D: the draft writes one step (sequential spans)
    check_s: float  # V: one verifier check (sequential spans)

    def to_json(self) -> dict[str, float]:
        return asdict(self)


def mean_span_s(traces: Iterable[Sequence[TraceEvent]], action: str) -> float:
    """Mean duration of the ``action`` tasks in ``traces``; NaN when there is none."""
    durations = [
        span.end_s - span.start_s
        for trace in traces
        for span in spans(trace)
        if span.action == action
    ]
    return statistics.fmean(durations) if durations else math.nan


def solo_times(
    target_only_traces: Iterable[Sequence[TraceEvent]],
    sequential_traces: Iterable[Sequence[TraceEvent]],
) -> SoloTimes:
    """Solo times from the target_only run (T) and the sequential run (D, V)."""
    sequential_traces = list(sequential_traces)
    return SoloTimes(
        target_step_s=mean_span_s(target_only_traces, "target"),
        draft_step_s=mean_span_s(sequential_traces, "draft"),
        check_s=mean_span_s(sequential_traces, "verify"),
    )


def step_time_s(scheduler: str, times: SoloTimes, acceptance: float, window: int = 4) -> float:
    """Expected seconds per committed step of ``scheduler`` without contention (module doc)."""
    target, draft, check, a = times.target_step_s, times.draft_step_s, times.check_s, acceptance
    if scheduler == "target_only":
        return target
    if math.isnan(a):
        return math.nan
    if scheduler == "sequential":
        return draft + check + (1 - a) * target
    if scheduler == "lookahead":
        committed = window if a >= 1 else (1 - a**window) / (1 - a)
        return (window * draft + committed * check + (1 - a**window) * target) / committed
    if scheduler == "fpsr":
        return max(draft, check) + (1 - a) * target
    raise ValueError(
        f"no speedup model for scheduler '{scheduler}'; expected target_only, sequential, lookahead or fpsr"
    )


def ideal_speedup(scheduler: str, times: SoloTimes, acceptance: float, window: int = 4) -> float:
    """T over the expected seconds per step: the speedup limit of the schedule."""
    per_step = step_time_s(scheduler, times, acceptance, window)
    if math.isnan(per_step) or per_step <= 0:
        return math.nan
    return times.target_step_s / per_step
