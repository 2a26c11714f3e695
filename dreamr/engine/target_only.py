"""The baseline: the target writes every step."""

from __future__ import annotations

from dreamr.engine.base import (
    BudgetTracker,
    ReasoningContext,
    Scheduler,
    TraceRecorder,
    ending_reason,
    fill_counters,
)
from dreamr.types import Origin, Problem, Step, Trajectory


class TargetOnlyScheduler(Scheduler):
    """Plain step-by-step decoding with the target; the reference for speedup and accuracy."""

    name = "target_only"
    needs_draft = False

    def run(self, problem: Problem, context: ReasoningContext) -> Trajectory:
        target = context.target
        before = target.stats.copy()
        trace = TraceRecorder()
        trajectory = Trajectory(trace=trace.events)
        budget = BudgetTracker(context.limits)
        session = target.start(context.prompt.messages(problem), label=problem.id)

        while (stop := budget.exhausted()) is None:
            index = budget.steps
            with trace.span("target", "target", index):
                generated = target.generate_step(session, context.limits, budget.step_budget())
            step = Step(generated.text, Origin.TARGET, generated.num_tokens, generated.stop_reason)
            trajectory.steps.append(step)
            budget.add(step)
            trace.emit("commit", "target", index, Origin.TARGET.value)
            if (stop := ending_reason(step)) is not None:
                break

        trajectory.stop_reason = stop
        fill_counters(trajectory.counters, target, before)
        return trajectory
