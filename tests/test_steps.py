import pytest

from dreamr.steps import (
    StepLimits,
    StepStopper,
    answers_match,
    extract_boxed,
    gsm8k_final_answer,
    has_complete_answer,
)
from dreamr.types import StopReason

EOS = 99


def feed(stopper: StepStopper, pieces: list[tuple[int, str]]) -> tuple[int, StopReason | None]:
    for count, (token, piece) in enumerate(pieces, start=1):
        reason = stopper.update(token, piece)
        if reason is not None:
            return count, reason
    return len(pieces), None


def test_stopper_stops_at_delimiter():
    stopper = StepStopper(StepLimits(), [EOS], max_tokens=50)
    count, reason = feed(stopper, [(1, "First"), (2, " line"), (3, ".\n\n"), (4, "Next")])
    assert reason is StopReason.DELIMITER
    assert count == 3


def test_stopper_finds_delimiter_split_across_tokens():
    stopper = StepStopper(StepLimits(), [EOS], max_tokens=50)
    count, reason = feed(stopper, [(1, "a"), (2, "\n"), (3, "\n"), (4, "b")])
    assert reason is StopReason.DELIMITER
    assert count == 3


def test_stopper_single_newline_does_not_stop():
    stopper = StepStopper(StepLimits(), [EOS], max_tokens=50)
    _, reason = feed(stopper, [(1, "a\n"), (2, "b\n"), (3, "c")])
    assert reason is None


def test_stopper_stops_at_eos():
    stopper = StepStopper(StepLimits(), [EOS], max_tokens=50)
    count, reason = feed(stopper, [(1, "x"), (EOS, ""), (2, "y")])
    assert reason is StopReason.EOS
    assert count == 2


def test_stopper_stops_at_max_tokens():
    stopper = StepStopper(StepLimits(), [EOS], max_tokens=3)
    count, reason = feed(stopper, [(1, "a"), (2, "b"), (3, "c"), (4, "d")])
    assert reason is StopReason.MAX_STEP_TOKENS
    assert count == 3


def test_stopper_waits_for_closing_brace_of_answer():
    stopper = StepStopper(StepLimits(), [EOS], max_tokens=50)
    count, reason = feed(stopper, [(1, "So \\boxed{"), (2, "7"), (3, "2"), (4, "}"), (5, " done")])
    assert reason is StopReason.ANSWER
    assert count == 4


def test_stopper_without_answer_marker_ignores_boxed():
    stopper = StepStopper(StepLimits(answer_marker=None), [EOS], max_tokens=50)
    _, reason = feed(stopper, [(1, "\\boxed{72}"), (2, " ok")])
    assert reason is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is \\boxed{72}.", "72"),
        ("\\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("complete \\boxed{5} and open \\boxed{6", "5"),
        ("no answer here", None),
    ],
)
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected


def test_has_complete_answer_needs_closing_brace():
    assert not has_complete_answer("\\boxed{12")
    assert has_complete_answer("\\boxed{12}")


@pytest.mark.parametrize(
    ("predicted", "gold", "expected"),
    [
        ("72", "72", True),
        ("72.0", "72", True),
        ("\\frac{1}{2}", "0.5", True),
        ("10\\%", "10", True),
        ("\\$18", "18", True),
        ("71", "72", False),
        (None, "72", False),
    ],
)
def test_answers_match(predicted, gold, expected):
    assert answers_match(predicted, gold) is expected


def test_gsm8k_final_answer_strips_commas():
    assert gsm8k_final_answer("Work...\n#### 1,234\n") == "1234"


def test_gsm8k_final_answer_without_marker_raises():
    with pytest.raises(ValueError, match="####"):
        gsm8k_final_answer("no final line")


def test_step_limits_reject_zero_budget():
    with pytest.raises(ValueError, match="max_step_tokens"):
        StepLimits(max_step_tokens=0)
