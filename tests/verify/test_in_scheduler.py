"""Verifiers inside the sequential scheduler, with the draft an exact copy of the target.

A draft with the target's weights writes the target's own greedy step, so a verifier that
recognises it must accept it. The runs are one step long: random tiny models write token
sequences that do not survive a decode and re-encode, so after a committed step the target's
context (built from text) no longer matches the draft's (built from its own ids).
"""

import pytest

from dreamr.engine.base import ReasoningContext
from dreamr.engine.sequential import SequentialScheduler
from dreamr.engine.target_only import TargetOnlyScheduler
from dreamr.steps import StepLimits
from dreamr.types import Origin
from dreamr.verify.cpn import CPNVerifier
from dreamr.verify.exact import ExactVerifier
from dreamr.verify.hybrid import HybridVerifier
from dreamr.verify.likelihood import LikelihoodVerifier
from tests.verify.helpers import PROBLEM

LIMITS = StepLimits(max_step_tokens=8, max_new_tokens=8, answer_marker=None)


def run(scheduler, target, draft=None, verifier=None):
    if verifier is not None:
        verifier.bind(target)
    context = ReasoningContext(target=target, draft=draft, verifier=verifier, limits=LIMITS)
    return scheduler.run(PROBLEM, context)


@pytest.mark.parametrize(
    "make_verifier",
    [
        lambda: ExactVerifier(limits=LIMITS),
        # The greedy step is the top token at every position: relative score 0.
        lambda: LikelihoodVerifier(alpha=-1e-6, mode="relative"),
    ],
    ids=["exact", "likelihood_relative"],
)
def test_target_copy_draft_is_always_accepted(make_backend_pair, make_verifier):
    target, draft = make_backend_pair()
    baseline = run(TargetOnlyScheduler(), target)
    verifier = make_verifier()
    method = run(SequentialScheduler(), target, draft, verifier)
    assert len(method.steps) == 1
    assert method.text == baseline.text
    assert all(step.origin is Origin.DRAFT for step in method.steps)
    assert method.counters.acceptance_rate == 1.0
    assert verifier.stats.failures == 0


def test_hybrid_counts_every_proposal(make_backend_pair):
    target, draft = make_backend_pair()
    verifier = HybridVerifier(
        CPNVerifier(alpha=0.5, min_label_mass=0.0), LikelihoodVerifier(alpha=-50.0), mode="sum"
    )
    method = run(SequentialScheduler(), target, draft, verifier)
    assert verifier.stats.judged == method.counters.proposals
    assert method.counters.accepted == sum(step.origin is Origin.DRAFT for step in method.steps)
    for step in method.steps:
        assert step.verdict.reason == "hybrid"


@pytest.fixture
def make_backend_pair(make_tiny_backend):
    def build():
        return make_tiny_backend(seed=2), make_tiny_backend(seed=2)

    return build
