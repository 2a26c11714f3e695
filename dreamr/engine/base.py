"""Scheduler interface, the per-problem reasoning context and the trace recorder."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from dreamr.models.backend import Backend, BackendStats
from dreamr.prompts import SolvePrompt
from dreamr.steps import StepLimits
from dreamr.types import Counters, Problem, Step, StopReason, TraceEvent, Trajectory
from dreamr.verify.base import Verifier


@dataclass
class ReasoningContext:
    """Everything a scheduler needs besides the problem."""

    target: Backend
    limits: StepLimits
    prompt: SolvePrompt = field(default_factory=SolvePrompt)
    draft: Backend | None = None
    verifier: Verifier | None = None


class TraceRecorder:
    """Collects timestamped scheduler events of one problem; safe to call from several threads."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._lock = threading.Lock()
        self.events: list[TraceEvent] = []

    def emit(self, kind: str, worker: str, step_index: int, detail: str = "") -> None:
        event = TraceEvent(kind, worker, step_index, time.perf_counter() - self._start, detail)
        with self._lock:
            self.events.append(event)

    @contextmanager
    def span(self, action: str, worker: str, step_index: int, detail: str = "") -> Iterator[None]:
        """Emit ``<action>_start`` (with ``detail``) and ``<action>_end`` around the block."""
        self.emit(f"{action}_start", worker, step_index, detail)
        try:
            yield
        finally:
            self.emit(f"{action}_end", worker, step_index)


class Scheduler(ABC):
    """Turns a problem into a trajectory using the context's models."""

    name: str = "scheduler"
    needs_draft: bool = True

    def prepare(self, context: ReasoningContext) -> None:  # noqa: B027 - optional hook
        """Set up what depends on the loaded models (for example where workers run).

        Called once before the first problem, so the set-up is not timed as part of one.
        """

    @abstractmethod
    def run(self, problem: Problem, context: ReasoningContext) -> Trajectory:
        """Reason on ``problem`` until an answer, end-of-sequence or a limit."""


class BudgetTracker:
    """Tracks the token and step budget of one trajectory."""

    def __init__(self, limits: StepLimits) -> None:
        self.limits = limits
        self.tokens = 0
        self.steps = 0

    def exhausted(self) -> StopReason | None:
        if self.steps >= self.limits.max_steps:
            return StopReason.MAX_STEPS
        if self.tokens >= self.limits.max_new_tokens:
            return StopReason.MAX_NEW_TOKENS
        return None

    def step_budget(self) -> int:
        """Tokens the next step may use."""
        return min(self.limits.max_step_tokens, self.limits.max_new_tokens - self.tokens)

    def add(self, step: Step) -> None:
        self.tokens += step.num_tokens
        self.steps += 1


def ending_reason(step: Step) -> StopReason | None:
    """The trajectory's stop reason when ``step`` ends it (answer or end-of-sequence)."""
    if step.stop_reason in (StopReason.ANSWER, StopReason.EOS):
        return step.stop_reason
    return None


def fill_counters(
    counters: Counters,
    target: Backend,
    target_before: BackendStats,
    draft: Backend | None = None,
    draft_before: BackendStats | None = None,
) -> None:
    """Copy the backends' token and forward-pass counts since the snapshots into ``counters``."""
    target_delta = target.stats.minus(target_before)
    counters.target_tokens = target_delta.generated_tokens
    counters.target_forward_passes = target_delta.forward_passes
    if draft is not None and draft_before is not None:
        draft_delta = draft.stats.minus(draft_before)
        counters.draft_tokens = draft_delta.generated_tokens
        counters.draft_forward_passes = draft_delta.forward_passes
