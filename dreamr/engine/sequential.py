"""Sequential speculative reasoning: draft a step, verify it, on reject the target writes it."""

from __future__ import annotations

from dreamr.engine.base import (
    BudgetTracker,
    ReasoningContext,
    Scheduler,
    TraceRecorder,
    ending_reason,
    fill_counters,
)
from dreamr.types import Origin, Problem, Proposal, Step, Trajectory


class SequentialScheduler(Scheduler):
    """One step at a time, as in SpecReason.

    For each step:

    1. The draft writes a proposal on the committed prefix.
    2. The verifier judges it with the target.
    3. Accept: the proposal is committed and appended to the target's context.
       Reject: the draft's session rolls back, the target writes the step itself, and that
       text is appended to the draft's context.

    With an always-reject verifier the target's session sees exactly what ``target_only``
    feeds it, so greedy decoding yields the same trajectory token for token.
    """

    name = "sequential"

    def run(self, problem: Problem, context: ReasoningContext) -> Trajectory:
        draft, target, verifier = context.draft, context.target, context.verifier
        if draft is None or verifier is None:
            raise ValueError("the sequential scheduler needs a draft model and a verifier")
        target_before, draft_before = target.stats.copy(), draft.stats.copy()
        trace = TraceRecorder()
        trajectory = Trajectory(trace=trace.events)
        counters = trajectory.counters
        budget = BudgetTracker(context.limits)
        messages = context.prompt.messages(problem)
        draft_session = draft.start(messages, label=problem.id)
        target_session = target.start(messages, label=problem.id)
        judge = verifier.open(problem)
        failures_before = verifier.stats.failures

        try:
            while (stop := budget.exhausted()) is None:
                index = budget.steps
                max_tokens = budget.step_budget()

                # Step 1: the draft proposes.
                rollback = len(draft_session.ids)
                with trace.span("draft", "draft", index):
                    drafted = draft.generate_step(draft_session, context.limits, max_tokens)
                proposal = Proposal(index, drafted)

                # Step 2: the target judges.
                with trace.span("verify", "target", index):
                    verdict = judge.verify(trajectory.steps, proposal)
                counters.proposals += 1

                # Step 3: commit the proposal or the target's own step.
                if verdict.accept:
                    counters.accepted += 1
                    target.append_text(target_session, drafted.text)
                    step = Step(
                        drafted.text, Origin.DRAFT, drafted.num_tokens, drafted.stop_reason, verdict
                    )
                else:
                    draft.truncate(draft_session, rollback)
                    with trace.span("target", "target", index):
                        written = target.generate_step(target_session, context.limits, max_tokens)
                    draft.append_text(draft_session, written.text)
                    step = Step(
                        written.text,
                        Origin.TARGET,
                        written.num_tokens,
                        written.stop_reason,
                        verdict,
                        rejected=drafted.text,
                    )
                trajectory.steps.append(step)
                budget.add(step)
                trace.emit("commit", step.origin.value, index, step.origin.value)
                if (stop := ending_reason(step)) is not None:
                    break
        finally:
            judge.close()

        trajectory.stop_reason = stop
        counters.verifier_failures = verifier.stats.failures - failures_before
        fill_counters(counters, target, target_before, draft, draft_before)
        return trajectory
