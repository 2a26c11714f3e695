"""Token-level speculation inside target steps: same greedy output, fewer target forwards."""

import threading

import pytest

from dreamr.engine.base import ReasoningContext
from dreamr.engine.fpsr import FPSRScheduler
from dreamr.engine.target_only import TargetOnlyScheduler
from dreamr.models.assisted import AssistedBackend
from dreamr.models.backend import SamplingConfig
from dreamr.steps import StepLimits
from dreamr.types import Problem, StopReason
from tests.engine.stubs import StubVerifier

PROBLEM = Problem(
    id="p0", question="Natalia sold 48 clips in April and half as many in May. Total?", answer="72"
)
LIMITS = StepLimits(max_step_tokens=8, max_new_tokens=48, answer_marker=None)


def steps_of(trajectory):
    return [(step.text, step.num_tokens, step.stop_reason) for step in trajectory.steps]


@pytest.mark.parametrize("num_assistant_tokens", [1, 3, 6])
def test_assisted_target_only_equals_plain(tiny_target, tiny_draft, num_assistant_tokens):
    plain = TargetOnlyScheduler().run(PROBLEM, ReasoningContext(target=tiny_target, limits=LIMITS))
    assisted_backend = AssistedBackend(tiny_target, tiny_draft, num_assistant_tokens)
    assisted = TargetOnlyScheduler().run(
        PROBLEM, ReasoningContext(target=assisted_backend, limits=LIMITS)
    )
    assert steps_of(assisted) == steps_of(plain)
    assert assisted.counters.target_tokens == plain.counters.target_tokens


def test_own_model_as_assistant_saves_forwards(make_tiny_backend):
    target = make_tiny_backend(seed=2, hidden_size=64, layers=2)
    twin = make_tiny_backend(seed=2, hidden_size=64, layers=2)
    plain = TargetOnlyScheduler().run(PROBLEM, ReasoningContext(target=target, limits=LIMITS))
    assisted = TargetOnlyScheduler().run(
        PROBLEM, ReasoningContext(target=AssistedBackend(target, twin, 4), limits=LIMITS)
    )
    assert steps_of(assisted) == steps_of(plain)
    # Every guess of an identical assistant matches, so a forward yields up to 5 tokens.
    assert assisted.counters.target_forward_passes * 2 < plain.counters.target_forward_passes


def test_fpsr_with_assisted_fallbacks_matches_plain(tiny_target, tiny_draft):
    def run(target):
        verifier = StubVerifier(3)
        verifier.bind(target)
        context = ReasoningContext(
            target=target, draft=tiny_draft, verifier=verifier, limits=LIMITS
        )
        return FPSRScheduler(placement="threads").run(PROBLEM, context)

    plain = run(tiny_target)
    assisted = run(AssistedBackend(tiny_target, tiny_draft, 3))
    assert steps_of(assisted) == steps_of(plain)


def test_cancel_stops_within_one_round(tiny_target, tiny_draft):
    backend = AssistedBackend(tiny_target, tiny_draft, 3)
    tiny_target.eos_token_ids = frozenset({-1})
    limits = StepLimits(
        delimiter="\x00", answer_marker=None, max_step_tokens=10_000, max_new_tokens=10_000
    )
    session = backend.start_raw("Count to a thousand:", label="cancel")
    start_len = len(session.ids)
    cancel = threading.Event()
    outcome = {}
    worker = threading.Thread(
        target=lambda: outcome.update(step=backend.generate_step(session, limits, 10_000, cancel)),
        daemon=True,
    )
    worker.start()
    while len(session.ids) < start_len + 8:
        assert worker.is_alive()
    cancel.set()
    written_at_cancel = len(session.ids) - start_len
    worker.join(10)
    assert not worker.is_alive()
    assert outcome["step"].stop_reason is StopReason.CANCELLED
    assert outcome["step"].num_tokens - written_at_cancel <= 3 + 1


def test_sampling_and_foreign_vocabulary_are_rejected(make_tiny_backend, tiny_draft):
    sampled = make_tiny_backend(seed=2, sampling=SamplingConfig(temperature=0.7))
    with pytest.raises(NotImplementedError, match="greedy"):
        AssistedBackend(sampled, tiny_draft)
    with pytest.raises(ValueError, match="num_assistant_tokens"):
        AssistedBackend(make_tiny_backend(seed=2), tiny_draft, 0)
