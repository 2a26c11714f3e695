"""SpecReason-style score verification: the target rates the step from 0 to 9.

The target reads a judge prompt that asks for a single-digit rating and ends right before
the rating slot. With ``l_d`` the log-sum-exp of the next-token log-probabilities over the
token ids that spell digit ``d`` (``"7"``, ``" 7"``), the expected rating is

    score = sum_d d * exp(l_d) / sum_d exp(l_d),   d = 0 .. 9,

computed with a softmax over ``l_0 .. l_9``, so it never divides by zero and reads the whole
distribution rather than the sampled digit. Accept iff ``score > alpha``. When the digits hold
less than ``min_label_mass`` of the probability the target did not rate the step: the verdict
is a reject with reason ``no_evidence``, counted as a failure, as are NaN or +inf logits.

The 0-9 rating of a step by the target follows SpecReason. Reading the expected value over
the digit distribution, rather than the most likely digit, and the judge wording are this
project's choices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from dreamr.models.backend import Backend
from dreamr.prompts import JudgePrompt
from dreamr.types import Problem, Proposal, Step, Verdict
from dreamr.verify.base import Verifier, VerifierSession, VerifyRequest
from dreamr.verify.cpn import label_token_ids
from dreamr.verify.judge import JudgeContext

SCORE_QUESTION = (
    "\n---\nNew step:\n{proposal}\n---\nRate how likely the new step is correct, from 0 "
    "(certainly wrong) to 9 (certainly correct). Answer with a single digit."
)


def expected_rating(
    logprobs: torch.Tensor, digit_ids: Sequence[Sequence[int]]
) -> tuple[float, float]:
    """Return ``(expected rating, digit mass)`` from next-token log-probabilities [V].

    ``digit_ids[d]`` lists the token ids of digit ``d``; the mass is ``sum_d exp(l_d)``.
    """
    per_digit = torch.stack(
        [torch.logsumexp(logprobs[list(ids)].double(), dim=0) for ids in digit_ids]
    )  # [10]
    total = torch.logsumexp(per_digit, dim=0)
    if torch.isneginf(total):
        return math.nan, 0.0
    weights = torch.softmax(per_digit, dim=0)
    values = torch.arange(len(digit_ids), dtype=torch.float64)
    return float((weights * values).sum()), float(torch.exp(total))


class ScoreVerifier(Verifier):
    """Accept iff the target's expected 0-9 rating of the step exceeds ``alpha``."""

    name = "score"
    alpha_bounds = (0.0, 9.0, False)

    def __init__(
        self,
        alpha: float | str = 6.0,
        min_label_mass: float = 0.05,
        prompt: JudgePrompt | None = None,
        calibration: str | None = None,
    ) -> None:
        super().__init__()
        problem = self.alpha_problem(alpha)
        if problem is not None:
            raise ValueError(f"verifier.alpha must be {problem}, got {alpha!r}")
        if not 0.0 <= min_label_mass <= 1.0:
            raise ValueError(f"verifier.min_label_mass must be in [0, 1], got {min_label_mass}")
        self.alpha = alpha
        self.min_label_mass = min_label_mass
        self.prompt = prompt or JudgePrompt(proposal_block=SCORE_QUESTION)
        self.calibration = calibration
        self.digit_ids: list[list[int]] = []

    def calibration_settings(self) -> dict:
        return {"min_label_mass": self.min_label_mass, "question": self.prompt.proposal_block}

    def bind(self, target: Backend) -> None:
        self._target = target
        try:
            self.digit_ids = [
                label_token_ids(target.tokenizer, [str(digit)]) for digit in range(10)
            ]
        except ValueError as error:
            raise ValueError(
                f"The score verifier reads ratings 0-9 from single-token digits: {error}"
            ) from error
        self.resolve_alpha(target)

    def open(self, problem: Problem) -> VerifierSession:
        target = self.bound_target("open")
        return _ScoreSession(self, JudgeContext(target, self.prompt, problem))

    def decide(self, logprobs: torch.Tensor) -> Verdict:
        """Turn the rating slot's log-probabilities [V] into a verdict and count it."""
        digit_logprobs = logprobs[[i for ids in self.digit_ids for i in ids]]
        if torch.isnan(digit_logprobs).any() or torch.isposinf(digit_logprobs).any():
            verdict = Verdict(False, math.nan, "nonfinite_logits")
            self.stats.record(verdict, failed=True)
            return verdict
        rating, mass = expected_rating(logprobs, self.digit_ids)
        if not math.isfinite(rating) or mass == 0.0 or mass < self.min_label_mass:
            verdict, failed = Verdict(False, rating, "no_evidence"), True
        else:
            verdict, failed = Verdict(rating > self.alpha, rating, self.name), False
        self.stats.record(verdict, failed)
        return verdict

    def verify_batch(self, requests: Sequence[VerifyRequest]) -> list[Verdict]:
        """Rate several requests with one padded forward of their whole judge prompts."""
        target = self.bound_target("verify_batch")
        rows = [
            JudgeContext(target, self.prompt, request.problem).token_ids(
                request.prior_steps, request.proposal
            )
            for request in requests
        ]
        return [
            self.decide(torch.log_softmax(row[-1], dim=-1)) for row in target.forward_batch(rows)
        ]


class _ScoreSession(VerifierSession):
    def __init__(self, verifier: ScoreVerifier, judge: JudgeContext) -> None:
        self.verifier = verifier
        self.judge = judge

    def verify(self, prior_steps: Sequence[Step], proposal: Proposal) -> Verdict:
        return self.verifier.decide(self.judge.label_logprobs(prior_steps, proposal.step.text))

    def verify_batch(
        self, prior_steps: Sequence[Step], proposals: Sequence[Proposal]
    ) -> list[Verdict]:
        texts = [proposal.step.text for proposal in proposals]
        return [
            self.verifier.decide(logprobs)
            for logprobs in self.judge.label_logprobs_batch(prior_steps, texts)
        ]
