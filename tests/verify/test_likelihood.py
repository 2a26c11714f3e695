import math

import pytest
import torch

from dreamr.models.backend import ContinuationLogprobs
from dreamr.prompts import SolvePrompt
from dreamr.verify.likelihood import LikelihoodVerifier
from tests.verify.helpers import PROBLEM, make_step, proposal


def scored_from_logits(logits: list[list[float]], ids: list[int]) -> ContinuationLogprobs:
    return ContinuationLogprobs.from_logits(torch.tensor(logits, dtype=torch.float32), ids)


def test_continuation_logprobs_match_hand_computation():
    # Two positions over a vocabulary of 3; the step's tokens are 1 then 0.
    logits = [[0.0, 1.0, 2.0], [3.0, 0.0, 0.0]]
    scored = scored_from_logits(logits, [1, 0])
    norm0 = math.log(math.exp(0) + math.exp(1) + math.exp(2))
    norm1 = math.log(math.exp(3) + 2)
    assert scored.token.tolist() == pytest.approx([1.0 - norm0, 3.0 - norm1], rel=1e-6)
    assert scored.top.tolist() == pytest.approx([2.0 - norm0, 3.0 - norm1], rel=1e-6)


def test_absolute_mode_is_mean_logprob():
    logits = [[0.0, 1.0, 2.0], [3.0, 0.0, 0.0]]
    norm0 = math.log(math.exp(0) + math.exp(1) + math.exp(2))
    norm1 = math.log(math.exp(3) + 2)
    expected = ((1.0 - norm0) + (3.0 - norm1)) / 2
    verifier = LikelihoodVerifier(alpha=expected - 1e-6)
    verdict = verifier.decide(scored_from_logits(logits, [1, 0]))
    assert verdict.score == pytest.approx(expected, rel=1e-6)
    assert verdict.accept
    assert verdict.reason == "likelihood"
    strict = LikelihoodVerifier(alpha=expected + 1e-6)
    assert not strict.decide(scored_from_logits(logits, [1, 0])).accept


def test_relative_mode_is_mean_gap_to_top_token():
    # Token 1 at position 0 is 1 nat below the top token 2; token 0 at position 1 is the top.
    logits = [[0.0, 1.0, 2.0], [3.0, 0.0, 0.0]]
    verifier = LikelihoodVerifier(alpha=-0.6, mode="relative")
    verdict = verifier.decide(scored_from_logits(logits, [1, 0]))
    assert verdict.score == pytest.approx(-0.5, rel=1e-6)
    assert verdict.accept


def test_worst_token_mode_is_largest_gap():
    # Gaps to the top token: -1 nat at position 0, 0 at position 1, -3 nats at position 2.
    logits = [[0.0, 1.0, 2.0], [3.0, 0.0, 0.0], [0.0, 3.0, 0.0]]
    verifier = LikelihoodVerifier(alpha=-2.5, mode="worst_token")
    verdict = verifier.decide(scored_from_logits(logits, [1, 0, 0]))
    assert verdict.score == pytest.approx(-3.0, rel=1e-6)
    assert not verdict.accept
    assert verdict.reason == "likelihood"
    mean_gap = LikelihoodVerifier(alpha=-2.5, mode="relative").decide(
        scored_from_logits(logits, [1, 0, 0])
    )
    assert mean_gap.score == pytest.approx(-4.0 / 3, rel=1e-6)
    assert mean_gap.accept


def test_greedy_step_scores_zero_in_relative_mode():
    verifier = LikelihoodVerifier(alpha=-1e-9, mode="relative")
    verdict = verifier.decide(scored_from_logits([[0.0, 5.0], [2.0, 1.0]], [1, 0]))
    assert verdict.score == pytest.approx(0.0, abs=1e-12)
    assert verdict.accept


@pytest.mark.parametrize("mode", ["absolute", "relative", "worst_token"])
def test_nan_logits_reject_and_count(mode):
    verifier = LikelihoodVerifier(mode=mode)
    verdict = verifier.decide(scored_from_logits([[0.0, float("nan")], [1.0, 0.0]], [1, 0]))
    assert not verdict.accept
    assert verdict.reason == "nonfinite_logits"
    assert math.isnan(verdict.score)
    assert verifier.stats.failures == 1


def test_infinite_logit_rejects_and_counts():
    # A +inf logit makes log_softmax NaN at that position.
    verifier = LikelihoodVerifier()
    verdict = verifier.decide(scored_from_logits([[0.0, float("inf")], [1.0, 0.0]], [1, 0]))
    assert not verdict.accept
    assert verdict.reason == "nonfinite_logits"
    assert verifier.stats.failures == 1


def test_impossible_token_is_a_valid_reject():
    verifier = LikelihoodVerifier()
    verdict = verifier.decide(scored_from_logits([[0.0, -math.inf], [1.0, 0.0]], [1, 0]))
    assert not verdict.accept
    assert verdict.score == -math.inf
    assert verdict.reason == "likelihood"
    assert verifier.stats.failures == 0


def test_empty_step_rejects_and_counts():
    verifier = LikelihoodVerifier()
    empty = ContinuationLogprobs(torch.empty(0), torch.empty(0))
    verdict = verifier.decide(empty)
    assert verdict.reason == "empty_step"
    assert verifier.stats.failures == 1


def test_invalid_mode_and_alpha_raise():
    with pytest.raises(ValueError, match="verifier.mode"):
        LikelihoodVerifier(mode="geometric")
    with pytest.raises(ValueError, match="verifier.alpha"):
        LikelihoodVerifier(alpha="high")
    with pytest.raises(ValueError, match="verifier.alpha"):
        LikelihoodVerifier(alpha=math.nan)


def uncached_mean_logprob(backend, prompt: SolvePrompt, prior, text: str) -> float:
    ids = backend.encode(backend.render_chat(prompt.messages(PROBLEM)))
    for step in prior:
        ids += backend.encode(step.text)
    start = len(ids)
    ids += backend.encode(text)
    with torch.no_grad():
        logits = backend.model(input_ids=torch.tensor([ids])).logits[0].float()
    logprobs = torch.log_softmax(logits[start - 1 : -1], dim=-1)
    return float(logprobs.gather(1, torch.tensor(ids[start:])[:, None]).mean())


def test_session_matches_uncached_forward(tiny_target):
    verifier = LikelihoodVerifier(alpha=-100.0)
    verifier.bind(tiny_target)
    session = verifier.open(PROBLEM)
    steps = [make_step("She sold 48 in April.\n\n"), make_step("In May 48 / 2 = 24.\n\n")]
    cases = [
        ([], "She sold 48 in April.\n\n"),
        (steps[:1], "In May 48 / 2 = 24.\n\n"),
        (steps, "Total 72.\n\n"),
        # A rolled-back speculative step: the session must drop it.
        ([steps[0], make_step("In May 48 / 2 = 42.\n\n")], "Total 90.\n\n"),
        (steps, "Total 72.\n\n"),
    ]
    for index, (prior, text) in enumerate(cases):
        verdict = session.verify(prior, proposal(text, index))
        expected = uncached_mean_logprob(tiny_target, verifier.prompt, prior, text)
        assert verdict.score == pytest.approx(expected, abs=1e-4)
    assert verifier.stats.judged == len(cases)
    assert verifier.stats.failures == 0
