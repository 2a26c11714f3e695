"""Hybrid verification: the target's judgement (CPN) and its likelihood of the step together.

Each part gives a margin over its own threshold:

- judge margin ``m_j = logit(p) - logit(alpha_j)``, with ``p`` the CPN score and ``alpha_j``
  the CPN verifier's ``alpha`` (log-odds, so positive iff the CPN verifier alone accepts);
- likelihood margin ``m_l = score_l - alpha_l``, with ``score_l`` the likelihood verifier's
  score (nats per token) and ``alpha_l`` its ``alpha``.

``mode="all"``: ``score = min(m_j, m_l)``, so with ``alpha = 0`` a proposal passes only when
both parts pass. ``mode="sum"``: ``score = w_j * m_j + w_l * m_l``, a weighted log-odds sum in
which a confident part can outvote a doubtful one. Accept iff ``score > alpha``.

When either part cannot score (no label mass, NaN logits, an empty step) the verdict is a
reject whose reason names the part (``cpn:no_evidence``), counted as a failure of this
verifier.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from dreamr.models.backend import Backend
from dreamr.types import Problem, Proposal, Step, Verdict
from dreamr.verify.base import Verifier, VerifierSession, VerifyRequest
from dreamr.verify.cpn import CPNVerifier
from dreamr.verify.judge import JudgeContext
from dreamr.verify.likelihood import LikelihoodVerifier, batch_continuations

MODES = ("all", "sum")


def _logit(p: float) -> float:
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return math.log(p) - math.log1p(-p)


class HybridVerifier(Verifier):
    """Combine a ``CPNVerifier`` and a ``LikelihoodVerifier`` on the same target."""

    name = "hybrid"

    def __init__(
        self,
        cpn: CPNVerifier,
        likelihood: LikelihoodVerifier,
        alpha: float | str = 0.0,
        mode: str = "sum",
        judge_weight: float = 1.0,
        likelihood_weight: float = 1.0,
        calibration: str | None = None,
    ) -> None:
        super().__init__()
        problem = self.alpha_problem(alpha)
        if problem is not None:
            raise ValueError(f"verifier.alpha must be {problem}, got {alpha!r}")
        if mode not in MODES:
            raise ValueError(f"verifier.mode must be one of {list(MODES)}, got {mode!r}")
        for path, weight in (
            ("verifier.judge_weight", judge_weight),
            ("verifier.likelihood_weight", likelihood_weight),
        ):
            if not (math.isfinite(weight) and weight >= 0):
                raise ValueError(f"{path} must be a finite number >= 0, got {weight!r}")
        for path, part in (
            ("verifier.cpn.alpha", cpn.alpha),
            ("verifier.likelihood.alpha", likelihood.alpha),
        ):
            if part == "auto":
                raise ValueError(
                    f"{path} must be a number inside hybrid, got 'auto'; calibrate verifier.alpha instead"
                )
        if not 0.0 < cpn.alpha < 1.0:
            raise ValueError(f"verifier.cpn.alpha must be in (0, 1) inside hybrid, got {cpn.alpha}")
        self.cpn = cpn
        self.likelihood = likelihood
        self.alpha = alpha
        self.mode = mode
        self.judge_weight = judge_weight
        self.likelihood_weight = likelihood_weight
        self.calibration = calibration

    def calibration_settings(self) -> dict:
        settings = {
            "mode": self.mode,
            "cpn_alpha": self.cpn.alpha,
            "likelihood_alpha": self.likelihood.alpha,
            "cpn": self.cpn.calibration_settings(),
            "likelihood": self.likelihood.calibration_settings(),
        }
        if self.mode == "sum":
            settings.update(
                judge_weight=self.judge_weight, likelihood_weight=self.likelihood_weight
            )
        return settings

    def parts(self) -> dict[str, Verifier]:
        return {self.cpn.name: self.cpn, self.likelihood.name: self.likelihood}

    def bind(self, target: Backend) -> None:
        self._target = target
        self.cpn.bind(target)
        self.likelihood.bind(target)
        self.resolve_alpha(target)

    def open(self, problem: Problem) -> VerifierSession:
        self.bound_target("open")
        return _HybridSession(self, self.cpn.open(problem), self.likelihood.open(problem))

    def combine(self, judge: Verdict, likelihood: Verdict) -> Verdict:
        """Combine the two parts' verdicts into this verifier's verdict and count it."""
        # A part that scored gives its own name as the reason; any other reason is a failure.
        for part, verdict in ((self.cpn.name, judge), (self.likelihood.name, likelihood)):
            if verdict.reason != part:
                failed = Verdict(False, math.nan, f"{part}:{verdict.reason}")
                self.stats.record(failed, failed=True)
                return failed
        judge_margin = _logit(judge.score) - _logit(self.cpn.alpha)
        likelihood_margin = likelihood.score - self.likelihood.alpha
        if self.mode == "all":
            score = min(judge_margin, likelihood_margin)
        else:
            score = self.judge_weight * judge_margin + self.likelihood_weight * likelihood_margin
        if math.isnan(score):  # +inf and -inf margins in a sum
            failed = Verdict(False, math.nan, "nonfinite_score")
            self.stats.record(failed, failed=True)
            return failed
        verdict = Verdict(score > self.alpha, score, self.name)
        self.stats.record(verdict, failed=False)
        return verdict

    def verify_batch(self, requests: Sequence[VerifyRequest]) -> list[Verdict]:
        """Score several requests with one padded forward per part (judge, likelihood)."""
        target = self.bound_target("verify_batch")
        judge_rows = [
            JudgeContext(target, self.cpn.prompt, request.problem).token_ids(
                request.prior_steps, request.proposal
            )
            for request in requests
        ]
        judge_logits = target.forward_batch(judge_rows)
        scored = batch_continuations(target, self.likelihood.prompt, requests)
        return [
            self.combine(
                self.cpn.decide(torch.log_softmax(logits[-1], dim=-1)), self.likelihood.decide(part)
            )
            for logits, part in zip(judge_logits, scored, strict=True)
        ]


class _HybridSession(VerifierSession):
    def __init__(
        self, verifier: HybridVerifier, judge: VerifierSession, likelihood: VerifierSession
    ):
        self.verifier = verifier
        self.judge = judge
        self.likelihood = likelihood

    def verify(self, prior_steps: Sequence[Step], proposal: Proposal) -> Verdict:
        judge = self.judge.verify(prior_steps, proposal)
        likelihood = self.likelihood.verify(prior_steps, proposal)
        return self.verifier.combine(judge, likelihood)

    def verify_batch(
        self, prior_steps: Sequence[Step], proposals: Sequence[Proposal]
    ) -> list[Verdict]:
        judges = self.judge.verify_batch(prior_steps, proposals)
        likelihoods = self.likelihood.verify_batch(prior_steps, proposals)
        return [
            self.verifier.combine(judge, likelihood)
            for judge, likelihood in zip(judges, likelihoods, strict=True)
        ]

    def close(self) -> None:
        self.judge.close()
        self.likelihood.close()
