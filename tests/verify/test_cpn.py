import math

import pytest
import torch

from dreamr.prompts import JudgePrompt
from dreamr.types import GeneratedStep, Origin, Problem, Proposal, Step, StopReason
from dreamr.verify.cpn import CPNVerifier, cpn_score, label_token_ids

POS, NEG = [1, 2], [3]
PROBLEM = Problem(
    id="p", question="Natalia sold 48 clips in April and half as many in May. Total?", answer="72"
)


def logprobs_from(values: list[float]) -> torch.Tensor:
    return torch.log_softmax(torch.tensor(values, dtype=torch.float32), dim=0)


def verifier_with_ids(alpha=0.7, min_label_mass=0.05) -> CPNVerifier:
    verifier = CPNVerifier(alpha=alpha, min_label_mass=min_label_mass)
    verifier.positive_ids, verifier.negative_ids = POS, NEG
    return verifier


def test_cpn_score_matches_hand_computation():
    logits = [0.0, 2.0, 1.0, 1.5, -1.0]
    exp = [math.exp(v) for v in logits]
    s_pos, s_neg = (exp[1] + exp[2]) / sum(exp), exp[3] / sum(exp)
    p, mass = cpn_score(logprobs_from(logits), POS, NEG)
    assert p == pytest.approx(s_pos / (s_pos + s_neg), rel=1e-6)
    assert mass == pytest.approx(s_pos + s_neg, rel=1e-5)


def test_cpn_score_with_both_labels_near_zero():
    # Both labels far below the top token: s+ and s- underflow in float32 probabilities,
    # but their ratio is exact in log space: p = sigmoid(-100 - (-101)) = sigmoid(1).
    logits = [0.0, -100.0, -1e4, -101.0]
    p, mass = cpn_score(logprobs_from(logits), POS, NEG)
    assert p == pytest.approx(1 / (1 + math.exp(-1.0)), rel=1e-5)
    assert mass < 1e-40


def test_cpn_rejects_near_zero_labels_as_no_evidence():
    verifier = verifier_with_ids()
    verdict = verifier.decide(logprobs_from([0.0, -100.0, -1e4, -101.0]))
    assert not verdict.accept
    assert verdict.reason == "no_evidence"
    assert verifier.stats.failures == 1


def test_cpn_negative_label_missing_from_top_of_distribution():
    # The negative label is far out of the top tokens: p is essentially 1 and accepted.
    verifier = verifier_with_ids()
    verdict = verifier.decide(logprobs_from([1.0, 3.0, 0.5, -60.0]))
    assert verdict.accept
    assert verdict.score == pytest.approx(1.0, abs=1e-12)
    assert verifier.stats.failures == 0


def test_cpn_threshold_is_strict():
    # s+ / (s+ + s-) = 0.7 exactly must not pass alpha = 0.7.
    logits = [0.0, math.log(0.7), -1e9, math.log(0.3)]
    p, _ = cpn_score(logprobs_from(logits), POS, NEG)
    assert p == pytest.approx(0.7, abs=1e-6)
    below = verifier_with_ids(alpha=p + 1e-9, min_label_mass=0.0)
    assert not below.decide(logprobs_from(logits)).accept
    assert (
        verifier_with_ids(alpha=p - 1e-6, min_label_mass=0.0).decide(logprobs_from(logits)).accept
    )


def test_cpn_nan_logits_reject_with_reason():
    verifier = verifier_with_ids()
    logprobs = logprobs_from([0.0, 1.0, 2.0, 3.0])
    logprobs[1] = float("nan")
    verdict = verifier.decide(logprobs)
    assert not verdict.accept
    assert verdict.reason == "nonfinite_logits"
    assert verifier.stats.failures == 1


def test_cpn_all_labels_impossible_is_no_evidence():
    verifier = verifier_with_ids(min_label_mass=0.0)
    logprobs = torch.tensor([0.0, -math.inf, -math.inf, -math.inf])
    verdict = verifier.decide(logprobs)
    assert not verdict.accept
    assert verdict.reason == "no_evidence"
    assert verifier.stats.failures == 1


def test_label_token_ids_on_real_tokenizer(qwen_tokenizer):
    ids = label_token_ids(qwen_tokenizer, ["Yes"])
    decoded = {qwen_tokenizer.decode([i]) for i in ids}
    assert "Yes" in decoded
    assert " Yes" in decoded
    assert all(text.strip().lower() == "yes" for text in decoded)


def test_label_missing_from_tokenizer_raises_with_word(qwen_tokenizer):
    with pytest.raises(ValueError, match="Supercalifragilistic"):
        label_token_ids(qwen_tokenizer, ["Supercalifragilistic"])


def test_bind_rejects_overlapping_labels(tiny_target):
    verifier = CPNVerifier(positive_labels=["Yes"], negative_labels=["yes"])
    with pytest.raises(ValueError, match="share token ids"):
        verifier.bind(tiny_target)


def test_alpha_out_of_range_raises():
    with pytest.raises(ValueError, match="alpha"):
        CPNVerifier(alpha=1.5)


def make_step(text: str) -> Step:
    return Step(text, Origin.TARGET, 5, StopReason.DELIMITER)


def proposal(text: str, index: int) -> Proposal:
    return Proposal(index, GeneratedStep(text, (1,), StopReason.DELIMITER))


def uncached_score(backend, prompt: JudgePrompt, prior: list[Step], text: str, verifier) -> float:
    head, tail = prompt.chat_frame(backend.render_chat)
    judge_text = (
        prompt.prefix(head, PROBLEM) + "".join(s.text for s in prior) + prompt.suffix(tail, text)
    )
    ids = []
    for piece in [
        prompt.prefix(head, PROBLEM),
        *[s.text for s in prior],
        prompt.suffix(tail, text),
    ]:
        ids.extend(backend.encode(piece))
    assert backend.tokenizer.decode(ids) == judge_text
    with torch.no_grad():
        logits = backend.model(input_ids=torch.tensor([ids])).logits[0, -1].float()
    p, _ = cpn_score(torch.log_softmax(logits, -1), verifier.positive_ids, verifier.negative_ids)
    return p


def test_cached_judge_matches_uncached_forward(tiny_target):
    verifier = CPNVerifier(alpha=0.5, min_label_mass=0.0)
    verifier.bind(tiny_target)
    session = verifier.open(PROBLEM)
    steps = [make_step("She sold 48 in April.\n\n"), make_step("In May 48 / 2 = 24.\n\n")]
    cases = [
        (steps[:1], "In May 48 / 2 = 24.\n\n"),
        (steps, "Total 72.\n\n"),
        # A speculative step rolled back: the judge cache must drop it.
        ([steps[0], make_step("In May 48 / 2 = 42.\n\n")], "Total 90.\n\n"),
        ([], "Start.\n\n"),
    ]
    for index, (prior, text) in enumerate(cases):
        verdict = session.verify(prior, proposal(text, index))
        expected = uncached_score(tiny_target, verifier.prompt, prior, text, verifier)
        assert verdict.score == pytest.approx(expected, abs=1e-4)
        assert verdict.accept == (expected > 0.5)
    assert verifier.stats.judged == len(cases)
