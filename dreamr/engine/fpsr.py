"""Fully Parallel Speculative Reasoning (FPSR): draft ahead, check and write fallbacks at once.

With committed prefix P and window K:

1. The draft writes d1, d2, ... on P, each on P and the drafts before it, while at most K
   drafted steps wait to be committed (a sliding window).
2. As soon as d_i exists, two target tasks start for it: the verifier's check of d_i and the
   target's own step t_i on the same prefix (the fallback). The draft keeps going.
3. d_i is committed once it and every earlier d_j passed; an accepted d_i cancels t_i.
4. At the first rejected d_j every task that depends on d_j (later drafts, their checks and
   their fallbacks) is cancelled, and t_j, written on the verified prefix, is committed once
   it is done. Drafting resumes from P + t_j. Nothing computed on a rejected prefix is
   committed.
5. The problem ends at the answer marker, an end-of-sequence token or the token or step budget.

The workers (``draft``, ``verify``, ``target``) run on threads of their own when
``plan_placement`` finds hardware where overlap pays (see ``dreamr.engine.placement``).
Otherwise they run in turn in the caller's thread, and the schedule drops to the order that
wastes no work: draft one step, check it, write the fallback only after a rejection. That
is exactly the work of the ``sequential`` scheduler, so on such hardware FPSR costs what
``sequential`` costs plus the bookkeeping.

Counters: ``proposals`` and ``accepted`` count the verdicts on committed positions only, so
for one trajectory they match ``sequential``'s. Drafts, checks and fallbacks that were
cancelled or discarded still count in the token and forward-pass counters, because the
hardware did that work.
"""

from __future__ import annotations

import itertools
import logging
import queue
from dataclasses import dataclass, replace

from dreamr.engine.base import (
    BudgetTracker,
    ReasoningContext,
    Scheduler,
    TraceRecorder,
    ending_reason,
    fill_counters,
)
from dreamr.engine.placement import WORKERS, Placement, PlacementMode, plan_placement
from dreamr.engine.workers import (
    InlineLane,
    Lane,
    Piece,
    Task,
    TaskResult,
    ThreadLane,
    TrackedSession,
    WorkerError,
    speculative_step_budget,
)
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

logger = logging.getLogger(__name__)


class FPSRScheduler(Scheduler):
    """FPSR over a sliding window of ``window`` drafted steps (see the module docstring)."""

    name = "fpsr"

    def __init__(
        self,
        window: int = 4,
        placement: str = "auto",
        threads: dict[str, int | None] | None = None,
        probe_tokens: int = 8,
        min_overlap_gain: float = 0.05,
        close_timeout_s: float = 120.0,
        probe_rounds: int = 2,
    ) -> None:
        problems = []
        if not isinstance(window, int) or window < 1:
            problems.append(f"scheduler.window={window!r}: expected an integer >= 1")
        if placement not in {mode.value for mode in PlacementMode}:
            problems.append(
                f"scheduler.placement={placement!r}: expected one of {[mode.value for mode in PlacementMode]}"
            )
        if not isinstance(probe_tokens, int) or probe_tokens < 1:
            problems.append(f"scheduler.probe_tokens={probe_tokens!r}: expected an integer >= 1")
        if not 0.0 <= min_overlap_gain < 1.0:
            problems.append(
                f"scheduler.min_overlap_gain={min_overlap_gain!r}: expected a number in [0, 1)"
            )
        if not isinstance(probe_rounds, int) or probe_rounds < 1:
            problems.append(f"scheduler.probe_rounds={probe_rounds!r}: expected an integer >= 1")
        if close_timeout_s <= 0:
            problems.append(f"scheduler.close_timeout_s={close_timeout_s!r}: expected a number > 0")
        if problems:
            raise ValueError("Invalid FPSR settings:\n  - " + "\n  - ".join(problems))
        self.window = window
        self.placement = PlacementMode(placement)
        self.threads = dict(threads) if threads else None
        self.probe_tokens = probe_tokens
        self.min_overlap_gain = min_overlap_gain
        self.close_timeout_s = close_timeout_s
        self.probe_rounds = probe_rounds
        self.plan: Placement | None = None

    def prepare(self, context: ReasoningContext) -> None:
        """Decide the placement once, before any problem is timed."""
        if self.plan is not None:
            return
        if context.draft is None:
            raise ValueError("the fpsr scheduler needs a draft model and a verifier")
        self.plan = plan_placement(
            self.placement,
            context.draft,
            context.target,
            self.threads,
            self.probe_tokens,
            self.min_overlap_gain,
            self.probe_rounds,
        )
        logger.info("FPSR placement: %s (%s)", self.plan.mode.value, self.plan.reason)

    def run(self, problem: Problem, context: ReasoningContext) -> Trajectory:
        if context.draft is None or context.verifier is None:
            raise ValueError("the fpsr scheduler needs a draft model and a verifier")
        self.prepare(context)
        assert self.plan is not None
        return _FPSRRun(self, self.plan, problem, context).execute()


@dataclass(eq=False)
class _Slot:
    """One drafted step waiting to be committed."""

    index: int
    draft: Piece
    generated: GeneratedStep
    prefix: list[Piece]  # the pieces d_i was written on
    verify_task: Task | None = None
    fallback_task: Task | None = None
    verdict: Verdict | None = None
    fallback: Piece | None = None


def _detail(label: str, prefix: list[Piece]) -> str:
    return f"label={label} prefix={','.join(piece.label for piece in prefix)}"


class _FPSRRun:
    """The coordinator of one problem: it launches tasks, reads results, commits, cancels."""

    def __init__(
        self, scheduler: FPSRScheduler, plan: Placement, problem: Problem, context: ReasoningContext
    ):
        self.scheduler = scheduler
        self.plan = plan
        self.problem = problem
        self.context = context
        self.limits = context.limits
        self.speculate = plan.concurrent
        self.trace = TraceRecorder()
        self.trajectory = Trajectory(trace=self.trace.events)
        self.budget = BudgetTracker(context.limits)
        self.committed: list[Piece] = []
        self.slots: list[_Slot] = []
        self.live: dict[int, Task] = {}  # tasks whose result is still wanted, by id
        self.draft_task: Task | None = None
        self.results: queue.Queue[TaskResult] = queue.Queue()
        self.serial = itertools.count()
        self.stop: StopReason | None = None

    def execute(self) -> Trajectory:
        draft, target, verifier = self.context.draft, self.context.target, self.context.verifier
        assert draft is not None and verifier is not None
        target_before, draft_before = target.stats.copy(), draft.stats.copy()
        failures_before = verifier.stats.failures
        messages = self.context.prompt.messages(self.problem)
        self.draft_view = TrackedSession(
            draft, draft.start(messages, label=self.problem.id), "draft"
        )
        self.target_view = TrackedSession(
            target, target.start(messages, label=self.problem.id), "target"
        )
        self.judge = verifier.open(self.problem)
        self.lanes = self._open_lanes()
        try:
            self._coordinate()
        finally:
            self._cancel_all("problem finished")
            try:
                self._close_lanes()
            finally:
                self.judge.close()

        self.trajectory.stop_reason = self.stop
        counters = self.trajectory.counters
        counters.verifier_failures = verifier.stats.failures - failures_before
        fill_counters(counters, target, target_before, draft, draft_before)
        return self.trajectory

    # Lanes ----------------------------------------------------------------------------

    def _open_lanes(self) -> dict[str, Lane]:
        if not self.speculate:
            return {name: InlineLane(name, self.trace, self.results) for name in WORKERS}
        draft, target = self.context.draft, self.context.target
        devices = {"draft": draft.device, "verify": target.device, "target": target.device}
        return {
            name: ThreadLane(name, self.trace, self.results, self.plan.threads[name], devices[name])
            for name in WORKERS
        }

    def _close_lanes(self) -> None:
        failures = []
        for lane in self.lanes.values():
            try:
                lane.close(self.scheduler.close_timeout_s)
            except TimeoutError as error:
                failures.append(error)
        if failures:
            raise failures[0]

    def _submit(self, task: Task) -> None:
        self.live[task.id] = task
        self.lanes[task.action].submit(task)

    def _cancel(self, task: Task | None, reason: str) -> None:
        if task is None or task.id not in self.live:
            return
        del self.live[task.id]
        task.cancel.set()
        self.trace.emit("cancel", task.action, task.index, f"{task.detail.split(' ')[0]} {reason}")

    def _cancel_all(self, reason: str) -> None:
        for task in list(self.live.values()):
            self._cancel(task, reason)

    # The coordinator loop ---------------------------------------------------------------

    def _coordinate(self) -> None:
        self._launch_draft()
        while self.stop is None:
            result = self._next_result()
            task = result.task
            if task.id not in self.live:
                continue  # cancelled, so its result is no longer needed
            del self.live[task.id]
            if result.error is not None:
                self.trace.emit("error", result.worker, task.index, repr(result.error))
                raise WorkerError(
                    f"FPSR worker '{result.worker}' failed on step {task.index} of problem "
                    f"'{self.problem.id}': {result.error!r}"
                ) from result.error
            if task.action == "draft":
                self._on_draft(task, result.value)
            elif task.action == "verify":
                self._on_verdict(task.payload, result.value)
            else:
                self._on_fallback(task.payload, result.value)
            self._commit_ready()
            self._launch_draft()

    def _next_result(self) -> TaskResult:
        if not self.speculate:
            try:
                return self.results.get_nowait()
            except queue.Empty:
                raise RuntimeError(
                    f"FPSR stalled on problem '{self.problem.id}': no task in flight"
                ) from None
        while True:
            try:
                return self.results.get(timeout=0.5)
            except queue.Empty:
                dead = [
                    lane.name for lane in self.lanes.values() if not getattr(lane, "alive", True)
                ]
                if dead:
                    raise WorkerError(f"FPSR workers {dead} exited unexpectedly") from None
                if not self.live:
                    raise RuntimeError(
                        f"FPSR stalled on problem '{self.problem.id}': no task in flight"
                    ) from None

    # Step 1: draft ahead within the window. ---------------------------------------------

    def _launch_draft(self) -> None:
        if self.stop is not None or self.draft_task is not None:
            return
        if len(self.slots) >= self.scheduler.window:
            return
        if self.slots and (not self.speculate or self._blocked()):
            return
        prefix = self.committed + [slot.draft for slot in self.slots]
        max_tokens = speculative_step_budget(self.limits, prefix)
        if max_tokens is None:
            return
        index = len(prefix)
        label = f"d{index}-{next(self.serial)}"
        draft, view, limits = self.context.draft, self.draft_view, self.limits

        def write(cancel) -> GeneratedStep:
            view.sync(prefix)
            generated = draft.generate_step(view.session, limits, max_tokens, cancel)
            if generated.stop_reason is not StopReason.CANCELLED:
                view.record(label)
            return generated

        self.draft_task = Task(
            "draft", index, write, _detail(label, prefix), payload=(label, prefix)
        )
        self._submit(self.draft_task)

    def _blocked(self) -> bool:
        """True when the newest drafted step ends the trajectory or was rejected."""
        last = self.slots[-1]
        return last.draft.step.stop_reason in (StopReason.ANSWER, StopReason.EOS) or (
            last.verdict is not None and not last.verdict.accept
        )

    def _on_draft(self, task: Task, generated: GeneratedStep) -> None:
        self.draft_task = None
        label, prefix = task.payload
        step = Step(generated.text, Origin.DRAFT, generated.num_tokens, generated.stop_reason)
        slot = _Slot(task.index, Piece.of(label, step, "draft", generated), generated, prefix)
        self.slots.append(slot)
        # Step 2: check it and, when speculating, write the fallback on the same prefix.
        self._launch_verify(slot)
        if self.speculate:
            self._launch_fallback(slot)

    # Step 2: the check and the fallback. ------------------------------------------------

    def _launch_verify(self, slot: _Slot) -> None:
        prior = [piece.step for piece in slot.prefix]
        proposal = Proposal(slot.index, slot.generated)
        judge = self.judge

        def check(cancel) -> Verdict:
            return judge.verify(prior, proposal)

        slot.verify_task = Task(
            "verify", slot.index, check, _detail(slot.draft.label, slot.prefix), slot
        )
        self._submit(slot.verify_task)

    def _launch_fallback(self, slot: _Slot) -> None:
        label = f"t{slot.index}-{next(self.serial)}"
        max_tokens = speculative_step_budget(self.limits, slot.prefix)
        assert max_tokens is not None  # the draft was written under the same budget
        target, view, limits = self.context.target, self.target_view, self.limits

        def write(cancel) -> GeneratedStep:
            view.sync(slot.prefix)
            generated = target.generate_step(view.session, limits, max_tokens, cancel)
            if generated.stop_reason is not StopReason.CANCELLED:
                view.record(label)
            return generated

        slot.fallback_task = Task(
            "target", slot.index, write, _detail(label, slot.prefix), (slot, label)
        )
        self._submit(slot.fallback_task)

    def _on_verdict(self, slot: _Slot, verdict: Verdict) -> None:
        slot.verdict = verdict
        if verdict.accept:
            # Step 3: an accepted draft makes its own fallback useless.
            self._cancel(slot.fallback_task, "own draft accepted")
            return
        # Step 4: everything written after the rejected draft depends on it.
        position = self.slots.index(slot)
        for later in self.slots[position + 1 :]:
            self._cancel(later.verify_task, f"d{slot.index} rejected")
            self._cancel(later.fallback_task, f"d{slot.index} rejected")
        del self.slots[position + 1 :]
        self._cancel(self.draft_task, f"d{slot.index} rejected")
        self.draft_task = None
        if slot.fallback_task is None:
            self._launch_fallback(slot)

    def _on_fallback(self, payload: tuple[_Slot, str], generated: GeneratedStep) -> None:
        slot, label = payload
        step = Step(generated.text, Origin.TARGET, generated.num_tokens, generated.stop_reason)
        slot.fallback = Piece.of(label, step, "target", generated)

    # Steps 3-5: commit in order. --------------------------------------------------------

    def _commit_ready(self) -> None:
        counters = self.trajectory.counters
        while self.slots and self.stop is None:
            slot = self.slots[0]
            if slot.verdict is None:
                return
            if slot.verdict.accept:
                piece = replace(slot.draft, step=replace(slot.draft.step, verdict=slot.verdict))
                counters.accepted += 1
            elif slot.fallback is not None:
                step = replace(
                    slot.fallback.step, verdict=slot.verdict, rejected=slot.draft.step.text
                )
                piece = replace(slot.fallback, step=step)
            else:
                return
            counters.proposals += 1
            self.slots.pop(0)
            self.committed.append(piece)
            self.trajectory.steps.append(piece.step)
            self.budget.add(piece.step)
            origin = piece.step.origin.value
            self.trace.emit("commit", origin, slot.index, f"origin={origin} label={piece.label}")
            # Step 5: the answer, end-of-sequence or the budget ends the problem.
            self.stop = ending_reason(piece.step) or self.budget.exhausted()
