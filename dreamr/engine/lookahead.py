"""Lookahead-style speculative reasoning: draft a window of steps, then check the window at once.

After Lookahead Reasoning (Fu et al., 2025), with the verdict of this project's verifier in
place of that paper's semantic-equivalence judge. With committed prefix P and window K:

1. The draft writes d1 ... dK in turn, each on P and the drafts before it, stopping early at
   a step that ends the trajectory or at the token or step budget.
2. The target checks the whole window: with ``batch_verify`` on, in one padded forward over
   the K judge prompts (``Verifier.verify_batch``); otherwise in turn on the verifier's cached
   judge session, stopping at the first rejection.
3. The accepted run d1 ... d(j-1) is committed. At the first rejected dj, the target writes
   its own step on P + d1 ... d(j-1) and that step is committed; later drafts are discarded.
4. The problem ends at the answer marker, an end-of-sequence token or the budget.

With a verifier whose verdict depends only on the prefix and the proposal, the committed
trajectory equals ``sequential``'s: the window changes what is computed, not what is
committed. Drafts after a rejection are wasted work and still count in the counters.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import replace

from dreamr.engine.base import (
    ReasoningContext,
    Scheduler,
    TraceRecorder,
    ending_reason,
    fill_counters,
)
from dreamr.engine.workers import Piece, TrackedSession, speculative_step_budget
from dreamr.types import (
    GeneratedStep,
    Origin,
    Problem,
    Proposal,
    Step,
    StopReason,
    Trajectory,
    Verdict,
)
from dreamr.verify.base import Verifier, VerifierSession, VerifyRequest

logger = logging.getLogger(__name__)

BATCH_VERIFY_MODES = ("auto", "true", "false")


class LookaheadScheduler(Scheduler):
    """Draft ``window`` steps, check them together, commit up to the first rejection."""

    name = "lookahead"

    def __init__(self, window: int = 4, batch_verify: str | bool = "auto") -> None:
        if not isinstance(window, int) or window < 1:
            raise ValueError(f"scheduler.window={window!r}: expected an integer >= 1")
        batch_verify = str(batch_verify).lower()
        if batch_verify not in BATCH_VERIFY_MODES:
            raise ValueError(
                f"scheduler.batch_verify={batch_verify!r}: expected one of {list(BATCH_VERIFY_MODES)}"
            )
        self.window = window
        self.batch_verify = batch_verify

    def uses_batch(self, context: ReasoningContext) -> bool:
        """Whether to check a window in one padded forward.

        ``auto`` batches only on a GPU and only for verifiers with a batched path: a padded
        forward re-reads every judge prompt in full, which a GPU does in about the time of
        one check but a CPU does at the cost of one prefill per prompt.
        """
        verifier = context.verifier
        has_batch = (
            verifier is not None and type(verifier).verify_batch is not Verifier.verify_batch
        )
        if self.batch_verify == "false" or not has_batch:
            return False
        if self.batch_verify == "true":
            return True
        device = getattr(context.target, "device", None)
        return device is not None and str(device).startswith("cuda")

    def run(self, problem: Problem, context: ReasoningContext) -> Trajectory:
        draft, target, verifier = context.draft, context.target, context.verifier
        if draft is None or verifier is None:
            raise ValueError("the lookahead scheduler needs a draft model and a verifier")
        target_before, draft_before = target.stats.copy(), draft.stats.copy()
        failures_before = verifier.stats.failures
        trace = TraceRecorder()
        trajectory = Trajectory(trace=trace.events)
        messages = context.prompt.messages(problem)
        draft_view = TrackedSession(draft, draft.start(messages, label=problem.id), "draft")
        target_view = TrackedSession(target, target.start(messages, label=problem.id), "target")
        judge = verifier.open(problem)
        batched = self.uses_batch(context)
        serial = itertools.count()
        committed: list[Piece] = []
        stop: StopReason | None = None

        try:
            while (stop := _budget_stop(context, committed)) is None:
                # Step 1: draft the window.
                window = self._draft_window(context, draft_view, committed, trace, serial)

                # Step 2: check it.
                verdicts = self._check_window(
                    problem, verifier, judge, committed, window, batched, trace
                )

                # Step 3: commit up to the first rejection, which commits the target's own step.
                for piece, verdict in zip(window, verdicts, strict=False):
                    index = len(committed)
                    trajectory.counters.proposals += 1
                    if verdict.accept:
                        trajectory.counters.accepted += 1
                        chosen = replace(piece, step=replace(piece.step, verdict=verdict))
                    else:
                        chosen = self._write_fallback(
                            context, target_view, committed, piece, verdict, trace, serial
                        )
                    committed.append(chosen)
                    trajectory.steps.append(chosen.step)
                    origin = chosen.step.origin.value
                    trace.emit("commit", origin, index, f"origin={origin} label={chosen.label}")
                    if ending_reason(chosen.step) is not None or not verdict.accept:
                        break

                # Step 4: the answer or end-of-sequence ends the problem; the loop checks the budget.
                if (stop := ending_reason(committed[-1].step)) is not None:
                    break
        finally:
            judge.close()

        trajectory.stop_reason = stop
        trajectory.counters.verifier_failures = verifier.stats.failures - failures_before
        fill_counters(trajectory.counters, target, target_before, draft, draft_before)
        return trajectory

    def _draft_window(self, context, view, committed, trace, serial) -> list[Piece]:
        window: list[Piece] = []
        while len(window) < self.window:
            prefix = committed + window
            max_tokens = speculative_step_budget(context.limits, prefix)
            if max_tokens is None:
                break
            index = len(prefix)
            label = f"d{index}-{next(serial)}"
            view.sync(prefix)
            with trace.span("draft", "draft", index, _detail(label, prefix)):
                generated = context.draft.generate_step(view.session, context.limits, max_tokens)
            view.record(label)
            step = Step(generated.text, Origin.DRAFT, generated.num_tokens, generated.stop_reason)
            window.append(Piece.of(label, step, "draft", generated))
            if generated.stop_reason in (StopReason.ANSWER, StopReason.EOS):
                break
        return window

    def _check_window(
        self,
        problem: Problem,
        verifier: Verifier,
        judge: VerifierSession,
        committed: list[Piece],
        window: list[Piece],
        batched: bool,
        trace: TraceRecorder,
    ) -> list[Verdict]:
        first = len(committed)
        if batched:
            texts = [piece.step.text for piece in committed]
            requests = [
                VerifyRequest(
                    problem, tuple(texts + [p.step.text for p in window[:offset]]), piece.step.text
                )
                for offset, piece in enumerate(window)
            ]
            with trace.span(
                "verify", "target", first, f"label={window[0].label} batch={len(window)}"
            ):
                return verifier.verify_batch(requests)
        verdicts = []
        for offset, piece in enumerate(window):
            prefix = committed + window[:offset]
            with trace.span("verify", "target", first + offset, _detail(piece.label, prefix)):
                verdict = judge.verify(
                    [p.step for p in prefix], Proposal(first + offset, _generated(piece))
                )
            verdicts.append(verdict)
            if not verdict.accept:
                break
        return verdicts

    def _write_fallback(self, context, view, committed, rejected, verdict, trace, serial) -> Piece:
        index = len(committed)
        label = f"t{index}-{next(serial)}"
        max_tokens = speculative_step_budget(context.limits, committed)
        view.sync(committed)
        with trace.span("target", "target", index, _detail(label, committed)):
            generated = context.target.generate_step(view.session, context.limits, max_tokens)
        view.record(label)
        step = Step(
            generated.text,
            Origin.TARGET,
            generated.num_tokens,
            generated.stop_reason,
            verdict,
            rejected=rejected.step.text,
        )
        return Piece.of(label, step, "target", generated)


def _detail(label: str, prefix: list[Piece]) -> str:
    return f"label={label} prefix={','.join(piece.label for piece in prefix)}"


def _generated(piece: Piece) -> GeneratedStep:
    step = piece.step
    return GeneratedStep(step.text, piece.token_ids, step.stop_reason)


def _budget_stop(context: ReasoningContext, committed: list[Piece]) -> StopReason | None:
    if len(committed) >= context.limits.max_steps:
        return StopReason.MAX_STEPS
    if sum(piece.step.num_tokens for piece in committed) >= context.limits.max_new_tokens:
        return StopReason.MAX_NEW_TOKENS
    return None
