import math

import pytest

from dreamr.types import Verdict
from dreamr.verify.cpn import CPNVerifier
from dreamr.verify.hybrid import HybridVerifier
from dreamr.verify.likelihood import LikelihoodVerifier
from tests.verify.helpers import PROBLEM, make_step, proposal


def hybrid(mode="all", alpha=0.0, cpn_alpha=0.7, likelihood_alpha=-2.5, **kwargs) -> HybridVerifier:
    return HybridVerifier(
        CPNVerifier(alpha=cpn_alpha),
        LikelihoodVerifier(alpha=likelihood_alpha),
        alpha=alpha,
        mode=mode,
        **kwargs,
    )


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_all_mode_needs_both_parts():
    verifier = hybrid()
    # Judge passes (0.8 > 0.7), likelihood fails (-3.0 < -2.5).
    verdict = verifier.combine(Verdict(True, 0.8, "cpn"), Verdict(False, -3.0, "likelihood"))
    assert not verdict.accept
    assert verdict.score == pytest.approx(-0.5)
    # Both pass: the score is the smaller margin, here the judge's.
    verdict = verifier.combine(Verdict(True, 0.8, "cpn"), Verdict(True, -1.0, "likelihood"))
    assert verdict.accept
    assert verdict.score == pytest.approx(logit(0.8) - logit(0.7))


def test_sum_mode_weights_log_odds():
    verifier = hybrid(mode="sum", judge_weight=2.0, likelihood_weight=0.5)
    # Judge margin logit(0.6) - logit(0.7) < 0, likelihood margin +1.5.
    verdict = verifier.combine(Verdict(False, 0.6, "cpn"), Verdict(True, -1.0, "likelihood"))
    expected = 2.0 * (logit(0.6) - logit(0.7)) + 0.5 * 1.5
    assert verdict.score == pytest.approx(expected)
    assert verdict.accept == (expected > 0)


def test_part_failure_rejects_with_part_reason():
    verifier = hybrid()
    verdict = verifier.combine(
        Verdict(False, math.nan, "no_evidence"), Verdict(True, -1.0, "likelihood")
    )
    assert not verdict.accept
    assert verdict.reason == "cpn:no_evidence"
    verdict = verifier.combine(
        Verdict(True, 0.9, "cpn"), Verdict(False, math.nan, "nonfinite_logits")
    )
    assert verdict.reason == "likelihood:nonfinite_logits"
    assert verifier.stats.failures == 2
    assert verifier.stats.judged == 2


def test_opposite_infinite_margins_fail_in_sum_mode():
    verifier = hybrid(mode="sum")
    verdict = verifier.combine(Verdict(True, 1.0, "cpn"), Verdict(False, -math.inf, "likelihood"))
    assert verdict.reason == "nonfinite_score"
    assert verifier.stats.failures == 1


def test_invalid_settings_raise_with_path():
    with pytest.raises(ValueError, match="verifier.mode"):
        hybrid(mode="any")
    with pytest.raises(ValueError, match="verifier.cpn.alpha"):
        hybrid(cpn_alpha=0.0)
    with pytest.raises(ValueError, match="verifier.judge_weight"):
        hybrid(judge_weight=-1.0)


def test_session_combines_part_sessions(tiny_target):
    verifier = hybrid(mode="sum", cpn_alpha=0.5, likelihood_alpha=-10.0)
    verifier.cpn.min_label_mass = 0.0
    verifier.bind(tiny_target)
    prior = [make_step("She sold 48 in April.\n\n")]
    verdict = verifier.open(PROBLEM).verify(prior, proposal("In May 48 / 2 = 24.\n\n", 1))
    judge = verifier.cpn.open(PROBLEM).verify(prior, proposal("In May 48 / 2 = 24.\n\n", 1))
    likely = verifier.likelihood.open(PROBLEM).verify(prior, proposal("In May 48 / 2 = 24.\n\n", 1))
    expected = (logit(judge.score) - logit(0.5)) + (likely.score + 10.0)
    assert verdict.score == pytest.approx(expected, abs=1e-4)
