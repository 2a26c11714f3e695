import math

import pytest
import torch

from dreamr.verify.score import ScoreVerifier, expected_rating
from tests.verify.helpers import PROBLEM, make_step, proposal

# Digit d has token ids [d] in a toy vocabulary of 12: ids 10 and 11 are other words.
TOY_DIGITS = [[d] for d in range(10)]


def toy_verifier(alpha=6.0, min_label_mass=0.05) -> ScoreVerifier:
    verifier = ScoreVerifier(alpha=alpha, min_label_mass=min_label_mass)
    verifier.digit_ids = TOY_DIGITS
    return verifier


def logprobs(values: list[float]) -> torch.Tensor:
    return torch.log_softmax(torch.tensor(values, dtype=torch.float64), dim=0)


def test_expected_rating_matches_hand_computation():
    # Only digits 7 and 9 carry mass, in ratio e^1 : e^0.
    values = [-1e4] * 12
    values[7], values[9], values[10] = 1.0, 0.0, 1.0
    rating, mass = expected_rating(logprobs(values), TOY_DIGITS)
    w7 = math.e / (math.e + 1)
    assert rating == pytest.approx(7 * w7 + 9 * (1 - w7), rel=1e-9)
    assert mass == pytest.approx((math.e + 1) / (2 * math.e + 1), rel=1e-9)


def test_threshold_is_strict():
    values = [-1e4] * 12
    values[6] = 0.0
    assert not toy_verifier(alpha=6.0).decide(logprobs(values)).accept
    assert toy_verifier(alpha=5.9).decide(logprobs(values)).accept


def test_low_digit_mass_is_no_evidence():
    values = [-20.0] * 10 + [5.0, 5.0]
    verifier = toy_verifier()
    verdict = verifier.decide(logprobs(values))
    assert not verdict.accept
    assert verdict.reason == "no_evidence"
    assert verifier.stats.failures == 1


def test_nan_and_infinite_logits_reject_and_count():
    verifier = toy_verifier()
    nan = logprobs([0.0] * 12)
    nan[3] = math.nan
    assert verifier.decide(nan).reason == "nonfinite_logits"
    inf = logprobs([0.0] * 12)
    inf[5] = math.inf
    assert verifier.decide(inf).reason == "nonfinite_logits"
    assert verifier.stats.failures == 2


def test_alpha_outside_rating_range_raises():
    with pytest.raises(ValueError, match=r"\[0, 9\)"):
        ScoreVerifier(alpha=9.0)


def test_digits_resolve_on_real_tokenizer(tiny_target):
    verifier = ScoreVerifier()
    verifier.bind(tiny_target)
    for digit, ids in enumerate(verifier.digit_ids):
        assert ids
        assert all(tiny_target.tokenizer.decode([i]).strip() == str(digit) for i in ids)


def test_session_scores_on_tiny_target(tiny_target):
    verifier = ScoreVerifier(min_label_mass=0.0)
    verifier.bind(tiny_target)
    verdict = verifier.open(PROBLEM).verify(
        [make_step("She sold 48.\n\n")], proposal("Then 24.\n\n", 1)
    )
    assert 0.0 <= verdict.score <= 9.0
    assert verdict.reason == "score"
