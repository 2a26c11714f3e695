from collections.abc import Sequence

import pytest

from dreamr.engine.base import ReasoningContext
from dreamr.engine.sequential import SequentialScheduler
from dreamr.engine.target_only import TargetOnlyScheduler
from dreamr.steps import StepLimits
from dreamr.types import Origin, Problem, Proposal, Step, StopReason, Verdict
from dreamr.verify.base import Verifier, VerifierSession, always_accept, always_reject

PROBLEM = Problem(
    id="p0", question="Natalia sold 48 clips in April and half as many in May. Total?", answer="72"
)
LIMITS = StepLimits(max_step_tokens=6, max_new_tokens=30, answer_marker=None)


def context(target, draft=None, verifier=None, limits=LIMITS) -> ReasoningContext:
    if verifier is not None:
        verifier.bind(target)
    return ReasoningContext(target=target, draft=draft, verifier=verifier, limits=limits)


def token_trace(trajectory):
    return [(step.text, step.num_tokens, step.stop_reason) for step in trajectory.steps]


def test_target_only_respects_token_budget(tiny_target):
    trajectory = TargetOnlyScheduler().run(PROBLEM, context(tiny_target))
    assert trajectory.num_tokens == LIMITS.max_new_tokens
    assert trajectory.stop_reason is StopReason.MAX_NEW_TOKENS
    assert all(step.origin is Origin.TARGET for step in trajectory.steps)
    assert trajectory.counters.target_tokens == LIMITS.max_new_tokens


def test_always_reject_equals_target_only(tiny_target, tiny_draft):
    baseline = TargetOnlyScheduler().run(PROBLEM, context(tiny_target))
    method = SequentialScheduler().run(PROBLEM, context(tiny_target, tiny_draft, always_reject()))
    assert token_trace(method) == token_trace(baseline)
    assert method.text == baseline.text
    assert method.counters.accepted == 0
    assert method.counters.proposals == len(method.steps)
    assert all(step.rejected is not None for step in method.steps)


def test_always_accept_equals_draft_alone(tiny_target, tiny_draft):
    draft_alone = TargetOnlyScheduler().run(PROBLEM, context(tiny_draft))
    method = SequentialScheduler().run(PROBLEM, context(tiny_target, tiny_draft, always_accept()))
    assert token_trace(method) == token_trace(draft_alone)
    assert all(step.origin is Origin.DRAFT for step in method.steps)
    assert method.counters.acceptance_rate == 1.0
    assert method.counters.target_tokens == 0
    assert method.counters.draft_tokens == method.num_tokens


class EveryThirdRejected(Verifier):
    """Deterministic stub: rejects proposals at step indices 2, 5, 8, ..."""

    name = "every_third"

    def bind(self, target) -> None:
        return None

    def open(self, problem) -> VerifierSession:
        verifier = self

        class _Session(VerifierSession):
            def verify(self, prior_steps: Sequence[Step], proposal: Proposal) -> Verdict:
                verdict = Verdict(proposal.index % 3 != 2, 1.0, "stub")
                verifier.stats.record(verdict, failed=False)
                return verdict

        return _Session()


def test_mixed_verdicts_commit_draft_and_fallback_steps(tiny_target, tiny_draft):
    trajectory = SequentialScheduler().run(
        PROBLEM, context(tiny_target, tiny_draft, EveryThirdRejected())
    )
    origins = [step.origin for step in trajectory.steps]
    expected = [Origin.TARGET if index % 3 == 2 else Origin.DRAFT for index in range(len(origins))]
    assert origins == expected
    assert trajectory.counters.proposals == len(origins)
    assert trajectory.counters.accepted == origins.count(Origin.DRAFT)


def test_trace_brackets_each_step(tiny_target, tiny_draft):
    trajectory = SequentialScheduler().run(
        PROBLEM, context(tiny_target, tiny_draft, EveryThirdRejected())
    )
    kinds = [event.kind for event in trajectory.trace if event.step_index == 2]
    assert kinds == [
        "draft_start",
        "draft_end",
        "verify_start",
        "verify_end",
        "target_start",
        "target_end",
        "commit",
    ]
    times = [event.time_s for event in trajectory.trace]
    assert times == sorted(times)


def test_sequential_without_draft_raises(tiny_target):
    with pytest.raises(ValueError, match="draft model"):
        SequentialScheduler().run(PROBLEM, context(tiny_target))


def test_answer_ends_trajectory(tiny_target):
    # The answer marker is any text the target writes early, so the trajectory ends on it.
    probe = TargetOnlyScheduler().run(PROBLEM, context(tiny_target))
    marker = probe.text[2:5]
    limits = StepLimits(max_step_tokens=6, max_new_tokens=30, answer_marker=marker)
    trajectory = TargetOnlyScheduler().run(PROBLEM, context(tiny_target, limits=limits))
    assert trajectory.stop_reason is StopReason.ANSWER
    assert marker in trajectory.text
    assert trajectory.num_tokens < 30
