"""FPSR on tiny models: invariants against the other schedulers, cancellation, failures."""

import threading

import pytest

from dreamr.engine.base import ReasoningContext
from dreamr.engine.fpsr import FPSRScheduler
from dreamr.engine.sequential import SequentialScheduler
from dreamr.engine.target_only import TargetOnlyScheduler
from dreamr.engine.timeline import commits_off_committed_prefix
from dreamr.engine.workers import WorkerError
from dreamr.steps import StepLimits
from dreamr.types import Origin, Problem, StopReason
from dreamr.verify.base import always_accept, always_reject
from tests.engine.stubs import StubVerifier

PROBLEM = Problem(
    id="p0", question="Natalia sold 48 clips in April and half as many in May. Total?", answer="72"
)
LIMITS = StepLimits(max_step_tokens=6, max_new_tokens=40, answer_marker=None)
PLACEMENTS = ["serial", "threads"]


def context(target, draft=None, verifier=None, limits=LIMITS) -> ReasoningContext:
    if verifier is not None:
        verifier.bind(target)
    return ReasoningContext(target=target, draft=draft, verifier=verifier, limits=limits)


def token_trace(trajectory):
    return [
        (step.text, step.num_tokens, step.stop_reason, step.origin) for step in trajectory.steps
    ]


def run_guarded(scheduler, problem, ctx, timeout_s=60.0):
    """Run the scheduler in a thread so a hang fails the test instead of the suite."""
    outcome = {}

    def target():
        try:
            outcome["trajectory"] = scheduler.run(problem, ctx)
        except BaseException as error:  # handed to the test
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), f"{scheduler.name} did not finish within {timeout_s} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["trajectory"]


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_always_reject_equals_target_only(tiny_target, tiny_draft, placement):
    baseline = TargetOnlyScheduler().run(PROBLEM, context(tiny_target))
    method = run_guarded(
        FPSRScheduler(placement=placement),
        PROBLEM,
        context(tiny_target, tiny_draft, always_reject()),
    )
    assert [(s.text, s.num_tokens) for s in method.steps] == [
        (s.text, s.num_tokens) for s in baseline.steps
    ]
    assert method.stop_reason is baseline.stop_reason
    assert all(step.origin is Origin.TARGET for step in method.steps)
    assert method.counters.accepted == 0
    assert method.counters.proposals == len(method.steps)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_always_accept_equals_draft_alone(tiny_target, tiny_draft, placement):
    draft_alone = TargetOnlyScheduler().run(PROBLEM, context(tiny_draft))
    method = run_guarded(
        FPSRScheduler(placement=placement),
        PROBLEM,
        context(tiny_target, tiny_draft, always_accept()),
    )
    assert [(s.text, s.num_tokens) for s in method.steps] == [
        (s.text, s.num_tokens) for s in draft_alone.steps
    ]
    assert method.counters.acceptance_rate == 1.0


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("window", [1, 2, 4])
def test_stub_verdicts_match_sequential(tiny_target, tiny_draft, placement, window):
    expected = SequentialScheduler().run(PROBLEM, context(tiny_target, tiny_draft, StubVerifier(3)))
    method = run_guarded(
        FPSRScheduler(window=window, placement=placement),
        PROBLEM,
        context(tiny_target, tiny_draft, StubVerifier(3)),
    )
    assert token_trace(method) == token_trace(expected)
    assert method.stop_reason is expected.stop_reason
    assert method.counters.proposals == expected.counters.proposals
    assert method.counters.accepted == expected.counters.accepted
    assert [s.rejected for s in method.steps] == [s.rejected for s in expected.steps]


def test_serial_placement_does_sequential_work(tiny_target, tiny_draft):
    expected = SequentialScheduler().run(PROBLEM, context(tiny_target, tiny_draft, StubVerifier(3)))
    method = FPSRScheduler(placement="serial").run(
        PROBLEM, context(tiny_target, tiny_draft, StubVerifier(3))
    )
    assert method.counters.draft_tokens == expected.counters.draft_tokens
    assert method.counters.target_tokens == expected.counters.target_tokens
    assert method.counters.target_forward_passes == expected.counters.target_forward_passes
    assert not [event for event in method.trace if event.kind == "cancel"]


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_commits_come_from_committed_prefix(tiny_target, tiny_draft, placement):
    # A slow check lets the draft run ahead, so rejections cancel work in flight.
    verifier = StubVerifier(reject_at=(1, 2, 5), reject_every=None, delay_s=0.02)
    trajectory = run_guarded(
        FPSRScheduler(window=3, placement=placement),
        PROBLEM,
        context(tiny_target, tiny_draft, verifier),
    )
    assert commits_off_committed_prefix(trajectory.trace) == []
    commits = [event for event in trajectory.trace if event.kind == "commit"]
    assert len(commits) == len(trajectory.steps)
    assert [event.step_index for event in commits] == list(range(len(trajectory.steps)))


def test_trace_check_catches_rejected_prefix(tiny_target, tiny_draft):
    trajectory = FPSRScheduler(placement="serial").run(
        PROBLEM, context(tiny_target, tiny_draft, StubVerifier(3))
    )
    events = list(trajectory.trace)
    # Rewrite the prefix of the last commit's producing task to include a rejected draft.
    last_label = events[[e.kind for e in events].index("commit", len(events) - 3)].detail.split(
        "label="
    )[1]
    start = next(
        e for e in events if e.kind.endswith("_start") and f"label={last_label} " in e.detail
    )
    rejected = next(
        e for e in events if e.kind == "draft_start" and e.step_index == 2
    ).detail.split()[0][6:]
    forged = type(start)(
        start.kind, start.worker, start.step_index, start.time_s, start.detail + "," + rejected
    )
    events[events.index(start)] = forged
    assert commits_off_committed_prefix(events) != []


def test_threads_overlap_draft_with_checks(tiny_target, tiny_draft):
    verifier = StubVerifier(reject_every=None, delay_s=0.05)
    trajectory = run_guarded(
        FPSRScheduler(window=3, placement="threads"),
        PROBLEM,
        context(tiny_target, tiny_draft, verifier),
    )
    trace = trajectory.trace
    first_check = next(e for e in trace if e.kind == "verify_start")
    first_check_end = next(e for e in trace if e.kind == "verify_end")
    drafts_during = [
        e
        for e in trace
        if e.kind == "draft_start" and first_check.time_s < e.time_s < first_check_end.time_s
    ]
    assert drafts_during, "the draft did not run ahead while the first check ran"
    fallbacks = [e for e in trace if e.kind == "target_start"]
    assert fallbacks, "no fallback was started beside the checks"
    assert {e.worker for e in trace if e.kind.endswith("_start")} == {"draft", "verify", "target"}


def test_window_bounds_uncommitted_drafts(tiny_target, tiny_draft):
    verifier = StubVerifier(reject_every=None, delay_s=0.02)
    trajectory = run_guarded(
        FPSRScheduler(window=1, placement="threads"),
        PROBLEM,
        context(tiny_target, tiny_draft, verifier),
    )
    commit_times = {e.step_index: e.time_s for e in trajectory.trace if e.kind == "commit"}
    for event in trajectory.trace:
        if event.kind == "draft_start" and event.step_index > 0:
            assert commit_times[event.step_index - 1] <= event.time_s


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_failing_worker_raises_instead_of_hanging(tiny_target, tiny_draft, placement):
    verifier = StubVerifier(reject_every=None, raise_at=2, delay_s=0.01)
    scheduler = FPSRScheduler(placement=placement, close_timeout_s=20)
    with pytest.raises(WorkerError, match="step 2"):
        run_guarded(scheduler, PROBLEM, context(tiny_target, tiny_draft, verifier))
    # The scheduler stays usable for the next problem.
    trajectory = run_guarded(scheduler, PROBLEM, context(tiny_target, tiny_draft, StubVerifier(3)))
    assert trajectory.steps


def test_answer_ends_fpsr_like_sequential(tiny_target, tiny_draft):
    probe = TargetOnlyScheduler().run(PROBLEM, context(tiny_draft))
    limits = StepLimits(max_step_tokens=6, max_new_tokens=40, answer_marker=probe.text[8:11])
    expected = SequentialScheduler().run(
        PROBLEM, context(tiny_target, tiny_draft, StubVerifier(3), limits)
    )
    method = run_guarded(
        FPSRScheduler(placement="threads"),
        PROBLEM,
        context(tiny_target, tiny_draft, StubVerifier(3), limits),
    )
    assert token_trace(method) == token_trace(expected)
    assert method.stop_reason is expected.stop_reason


def test_invalid_settings_are_listed_together():
    with pytest.raises(ValueError) as error:
        FPSRScheduler(window=0, placement="gpu", min_overlap_gain=2.0)
    message = str(error.value)
    assert "scheduler.window=0" in message
    assert "scheduler.placement='gpu'" in message
    assert "scheduler.min_overlap_gain=2.0" in message


def test_cancelled_step_has_cancelled_stop_reason(tiny_target):
    cancel = threading.Event()
    cancel.set()
    session = tiny_target.start_raw("Hello there", label="c")
    step = tiny_target.generate_step(session, LIMITS, 5, cancel)
    assert step.stop_reason is StopReason.CANCELLED
    assert step.num_tokens == 0


def test_cancel_stops_generation_within_one_token(tiny_target):
    limits = StepLimits(
        delimiter="\x00", answer_marker=None, max_step_tokens=10_000, max_new_tokens=10_000
    )
    # A target that never ends a step by itself: end-of-sequence ids are ignored here.
    tiny_target.eos_token_ids = frozenset({-1})
    session = tiny_target.start_raw("Count to a thousand:", label="cancel")
    start_len = len(session.ids)
    cancel = threading.Event()
    outcome = {}
    worker = threading.Thread(
        target=lambda: outcome.update(
            step=tiny_target.generate_step(session, limits, 10_000, cancel)
        ),
        daemon=True,
    )
    worker.start()
    while len(session.ids) < start_len + 5:
        assert worker.is_alive()
    cancel.set()
    written_at_cancel = len(session.ids) - start_len
    worker.join(10)
    assert not worker.is_alive()
    step = outcome["step"]
    assert step.stop_reason is StopReason.CANCELLED
    assert step.num_tokens - written_at_cancel <= 1


def test_timeline_draws_one_lane_per_worker(tiny_target, tiny_draft, tmp_path):
    from dreamr.engine.timeline import plot_timeline, spans

    verifier = StubVerifier(3, delay_s=0.01)
    trajectory = run_guarded(
        FPSRScheduler(placement="threads"), PROBLEM, context(tiny_target, tiny_draft, verifier)
    )
    task_spans = spans(trajectory.trace)
    assert {span.worker for span in task_spans} == {"draft", "verify", "target"}
    assert all(span.end_s >= span.start_s for span in task_spans)
    path = plot_timeline(trajectory.trace, tmp_path / "timeline.png", "p0")
    assert path.stat().st_size > 0
