from dreamr.steps import StepLimits
from dreamr.verify.exact import ExactVerifier, normalize_step
from tests.verify.helpers import PROBLEM, make_step, proposal


def test_normalize_step_cases():
    assert normalize_step("  So the Total is 1,000.\n\n") == "so the total is 1000"
    assert normalize_step("x  =\t3") == "x = 3"
    assert normalize_step("ｘ = 3") == "x = 3"  # NFKC folds the full-width letter
    assert normalize_step("1,5 and 2,000,000") == "1,5 and 2000000"


def test_accepts_target_own_step_and_rejects_other(tiny_target):
    limits = StepLimits(max_step_tokens=8)
    verifier = ExactVerifier(limits=limits)
    verifier.bind(tiny_target)
    prior = [make_step("She sold 48 in April.\n\n")]

    # What the target writes itself on the same context (greedy).
    context = tiny_target.start(verifier.prompt.messages(PROBLEM))
    tiny_target.append_text(context, prior[0].text)
    own = tiny_target.generate_step(context, limits, limits.max_step_tokens).text

    session = verifier.open(PROBLEM)
    assert session.verify(prior, proposal(own, 1)).accept
    assert not session.verify(prior, proposal(own + " something else", 1)).accept
    # The check leaves no generated tokens behind: the same check gives the same answer.
    assert session.verify(prior, proposal(own, 1)).accept
    assert verifier.stats.judged == 3
    assert verifier.stats.accepted == 2


def test_empty_reference_is_a_counted_failure():
    verifier = ExactVerifier()
    verdict = verifier.decide("x = 3", "  ")
    assert not verdict.accept
    assert verdict.reason == "no_reference"
    assert verifier.stats.failures == 1
