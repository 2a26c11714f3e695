"""Threshold-based verification with Contrastive Probability Normalization (CPN).

The target reads a judge prompt that ends right before a Yes/No label slot. With ``l+`` and
``l-`` the log-sum-exp of the next-token log-probabilities over the positive and negative
label token ids,

    p = s+ / (s+ + s-) = sigmoid(l+ - l-),

and the proposal is accepted iff ``p > alpha``. Computing in log space never divides by zero
and does not depend on sampling temperature or top-p. When ``s+ + s-`` is below
``min_label_mass`` the target did not answer the question at all: the verdict is a reject with
reason ``no_evidence``, and it is counted as a verifier failure.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch

from dreamr.models.backend import Backend
from dreamr.prompts import JudgePrompt
from dreamr.types import Problem, Proposal, Step, Verdict
from dreamr.verify.base import Verifier, VerifierSession, VerifyRequest
from dreamr.verify.judge import JudgeContext

logger = logging.getLogger(__name__)


def label_token_ids(tokenizer, words: Sequence[str]) -> list[int]:
    """Token ids that start each spelling of ``words`` (``Yes``, `` Yes``, ``yes``, `` yes``).

    Only spellings that encode to one token count, so a shared first piece (``Y`` of
    ``Y|es``) never stands for the label. Raises ``ValueError`` naming the tokenizer and the
    word when no spelling of a word is a single token.
    """
    ids: list[int] = []
    for word in words:
        found = []
        for variant in dict.fromkeys((word, " " + word, word.lower(), " " + word.lower())):
            encoded = tokenizer(variant, add_special_tokens=False)["input_ids"]
            if len(encoded) == 1:
                found.append(int(encoded[0]))
        if not found:
            name = getattr(tokenizer, "name_or_path", type(tokenizer).__name__)
            raise ValueError(
                f"Label word '{word}' is not a single token in tokenizer '{name}' in any "
                "spelling (with or without a leading space, any case); choose another "
                "label word in verifier.positive_labels / verifier.negative_labels."
            )
        ids.extend(found)
    return sorted(set(ids))


def cpn_score(
    logprobs: torch.Tensor, positive_ids: Sequence[int], negative_ids: Sequence[int]
) -> tuple[float, float]:
    """Return ``(p, label_mass)`` from next-token log-probabilities ``logprobs`` [V].

    ``p = sigmoid(l+ - l-)`` and ``label_mass = exp(logaddexp(l+, l-)) = s+ + s-``.
    Both are NaN when a log-probability of a label token is NaN.
    """
    positive = torch.logsumexp(logprobs[list(positive_ids)].double(), dim=0)
    negative = torch.logsumexp(logprobs[list(negative_ids)].double(), dim=0)
    if torch.isneginf(positive) and torch.isneginf(negative):
        return math.nan, 0.0
    p = torch.sigmoid(positive - negative)
    mass = torch.exp(torch.logaddexp(positive, negative))
    return float(p), float(mass)


class CPNVerifier(Verifier):
    """TBVM with CPN: accept iff ``s+ / (s+ + s-) > alpha``.

    ``alpha="auto"`` reads the threshold from the saved calibration at ``calibration`` (or
    ``calibrations/cpn.json``) when the verifier is bound to the target.
    """

    name = "cpn"
    alpha_bounds = (0.0, 1.0, False)

    def __init__(
        self,
        alpha: float | str = 0.7,
        min_label_mass: float = 0.05,
        positive_labels: Sequence[str] = ("Yes",),
        negative_labels: Sequence[str] = ("No",),
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
        self.calibration = calibration
        self.min_label_mass = min_label_mass
        self.positive_labels = tuple(positive_labels)
        self.negative_labels = tuple(negative_labels)
        self.prompt = prompt or JudgePrompt()
        self.positive_ids: list[int] = []
        self.negative_ids: list[int] = []

    def calibration_settings(self) -> dict:
        return {
            "positive_labels": list(self.positive_labels),
            "negative_labels": list(self.negative_labels),
            "min_label_mass": self.min_label_mass,
        }

    def bind(self, target: Backend) -> None:
        self._target = target
        self.positive_ids = label_token_ids(target.tokenizer, self.positive_labels)
        self.negative_ids = label_token_ids(target.tokenizer, self.negative_labels)
        overlap = set(self.positive_ids) & set(self.negative_ids)
        if overlap:
            raise ValueError(
                f"Positive and negative labels share token ids {sorted(overlap)}; "
                "choose label words that differ in their first token."
            )
        self.resolve_alpha(target)

    def open(self, problem: Problem) -> VerifierSession:
        target = self.bound_target("open")
        return _CPNSession(self, JudgeContext(target, self.prompt, problem))

    def verify_batch(self, requests: Sequence[VerifyRequest]) -> list[Verdict]:
        """Judge several requests with one padded forward of their whole judge prompts."""
        target = self.bound_target("verify_batch")
        rows = [
            JudgeContext(target, self.prompt, request.problem).token_ids(
                request.prior_steps, request.proposal
            )
            for request in requests
        ]
        logits = target.forward_batch(rows)
        return [self.decide(torch.log_softmax(row[-1], dim=-1)) for row in logits]

    def decide(self, logprobs: torch.Tensor) -> Verdict:
        """Turn the label slot's log-probabilities [V] into a verdict and count it."""
        label_logprobs = logprobs[self.positive_ids + self.negative_ids]
        if torch.isnan(label_logprobs).any() or torch.isposinf(label_logprobs).any():
            verdict = Verdict(False, math.nan, "nonfinite_logits")
            self.stats.record(verdict, failed=True)
            return verdict
        p, mass = cpn_score(logprobs, self.positive_ids, self.negative_ids)
        if not math.isfinite(p) or mass < self.min_label_mass or mass == 0.0:
            verdict, failed = Verdict(False, p, "no_evidence"), True
        else:
            verdict, failed = Verdict(p > self.alpha, p, "cpn"), False
        self.stats.record(verdict, failed)
        return verdict


class _CPNSession(VerifierSession):
    def __init__(self, verifier: CPNVerifier, judge: JudgeContext) -> None:
        self.verifier = verifier
        self.judge = judge

    def verify(self, prior_steps: Sequence[Step], proposal: Proposal) -> Verdict:
        logprobs = self.judge.label_logprobs(prior_steps, proposal.step.text)
        return self.verifier.decide(logprobs)

    def verify_batch(
        self, prior_steps: Sequence[Step], proposals: Sequence[Proposal]
    ) -> list[Verdict]:
        texts = [proposal.step.text for proposal in proposals]
        return [
            self.verifier.decide(logprobs)
            for logprobs in self.judge.label_logprobs_batch(prior_steps, texts)
        ]
