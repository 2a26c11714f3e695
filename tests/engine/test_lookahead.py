"""The lookahead scheduler on tiny models: same commits as sequential and FPSR."""

import pytest

from dreamr.engine.base import ReasoningContext
from dreamr.engine.fpsr import FPSRScheduler
from dreamr.engine.lookahead import LookaheadScheduler
from dreamr.engine.sequential import SequentialScheduler
from dreamr.engine.target_only import TargetOnlyScheduler
from dreamr.engine.timeline import commits_off_committed_prefix
from dreamr.steps import StepLimits
from dreamr.types import Origin, Problem
from dreamr.verify.base import always_reject
from dreamr.verify.cpn import CPNVerifier
from tests.engine.stubs import StubVerifier

PROBLEM = Problem(
    id="p0", question="Natalia sold 48 clips in April and half as many in May. Total?", answer="72"
)
LIMITS = StepLimits(max_step_tokens=6, max_new_tokens=40, answer_marker=None)


def context(target, draft=None, verifier=None, limits=LIMITS) -> ReasoningContext:
    if verifier is not None:
        verifier.bind(target)
    return ReasoningContext(target=target, draft=draft, verifier=verifier, limits=limits)


def token_trace(trajectory):
    return [
        (step.text, step.num_tokens, step.stop_reason, step.origin) for step in trajectory.steps
    ]


@pytest.mark.parametrize("window", [1, 3, 4])
def test_stub_verdicts_match_sequential_and_fpsr(tiny_target, tiny_draft, window):
    sequential = SequentialScheduler().run(
        PROBLEM, context(tiny_target, tiny_draft, StubVerifier(3))
    )
    lookahead = LookaheadScheduler(window=window).run(
        PROBLEM, context(tiny_target, tiny_draft, StubVerifier(3))
    )
    fpsr = FPSRScheduler(window=window, placement="threads").run(
        PROBLEM, context(tiny_target, tiny_draft, StubVerifier(3))
    )
    assert token_trace(lookahead) == token_trace(sequential)
    assert token_trace(fpsr) == token_trace(sequential)
    assert lookahead.stop_reason is sequential.stop_reason
    assert lookahead.counters.proposals == sequential.counters.proposals
    assert lookahead.counters.accepted == sequential.counters.accepted


def test_always_reject_equals_target_only(tiny_target, tiny_draft):
    baseline = TargetOnlyScheduler().run(PROBLEM, context(tiny_target))
    method = LookaheadScheduler().run(PROBLEM, context(tiny_target, tiny_draft, always_reject()))
    assert [(s.text, s.num_tokens) for s in method.steps] == [
        (s.text, s.num_tokens) for s in baseline.steps
    ]
    assert all(step.origin is Origin.TARGET for step in method.steps)


def test_window_drafts_ahead_and_wastes_after_rejection(tiny_target, tiny_draft):
    verifier = StubVerifier(reject_every=None, reject_at=(1,))
    sequential = SequentialScheduler().run(
        PROBLEM, context(tiny_target, tiny_draft, StubVerifier(reject_every=None, reject_at=(1,)))
    )
    lookahead = LookaheadScheduler(window=4).run(
        PROBLEM, context(tiny_target, tiny_draft, verifier)
    )
    assert token_trace(lookahead) == token_trace(sequential)
    assert lookahead.counters.draft_tokens > sequential.counters.draft_tokens
    assert commits_off_committed_prefix(lookahead.trace) == []


def test_batched_window_check_matches_cached_checks(tiny_target, tiny_draft):
    def cpn():
        return CPNVerifier(alpha=0.5, min_label_mass=0.0)

    cached = LookaheadScheduler(batch_verify="false").run(
        PROBLEM, context(tiny_target, tiny_draft, cpn())
    )
    batched_scheduler = LookaheadScheduler(batch_verify="true")
    ctx = context(tiny_target, tiny_draft, cpn())
    assert batched_scheduler.uses_batch(ctx)
    batched = batched_scheduler.run(PROBLEM, ctx)
    assert token_trace(batched) == token_trace(cached)
    verify_spans = [e for e in batched.trace if e.kind == "verify_start"]
    assert all("batch=" in e.detail for e in verify_spans)


def test_invalid_window_is_rejected():
    with pytest.raises(ValueError, match="scheduler.window=0"):
        LookaheadScheduler(window=0)
    with pytest.raises(ValueError, match="batch_verify"):
        LookaheadScheduler(batch_verify="sometimes")
