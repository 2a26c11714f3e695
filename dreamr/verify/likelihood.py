"""Likelihood verification: accept a drafted step the target itself would plausibly write.

The target scores the proposal ``x_1 .. x_T`` in its own solution context ``c`` (the solve
chat and the prior steps), with one prefill of the proposal on the cached context:

- ``absolute`` mode: ``score = (1/T) sum_t log p(x_t | c, x_<t)``, the mean token
  log-probability in nats (0 is certain, more negative is less likely);
- ``relative`` mode: ``score = (1/T) sum_t [log p(x_t | c, x_<t) - max_v log p(v | c, x_<t)]``,
  the mean gap to the token the target ranks first at each position, so 0 means the
  proposal is the target's own greedy step. It discounts positions where the target is
  itself unsure (many plausible words), which the absolute mode penalises;
- ``worst_token`` mode: ``score = min_t [log p(x_t | c, x_<t) - max_v log p(v | c, x_<t)]``,
  the largest gap to the target's first choice at any one position. A step that is right
  except for one number has a small mean gap, because the other tokens dilute it, but a
  large worst gap, so this mode rejects it where the two mean modes may not.
  NOTE: on the default pair's GSM8K drafts it did not separate wrong solutions better than
  ``absolute`` (docs/benchmarks.md), because reworded steps get large gaps too.

Accept iff ``score > alpha``. A proposal with no tokens, or with NaN or +inf log-probabilities,
cannot be scored: the verdict is a reject with a reason, counted as a verifier failure.
A token of probability 0 (log-probability -inf) is a valid, rejecting score.

The relative mode compares with the target's first choice per position given the draft's
prefix, not with a whole step the target wrote, so it costs no generation.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import torch

from dreamr.models.backend import Backend, ContinuationLogprobs
from dreamr.prompts import SolvePrompt
from dreamr.types import Problem, Proposal, Step, Verdict
from dreamr.verify.base import Verifier, VerifierSession, VerifyRequest
from dreamr.verify.context import SolutionContext

logger = logging.getLogger(__name__)

MODES = ("absolute", "relative", "worst_token")


def solve_prompt_from(prompt: SolvePrompt | Mapping | None) -> SolvePrompt:
    """Accept a ``SolvePrompt`` or the ``prompt`` block of the Hydra config."""
    if prompt is None:
        return SolvePrompt()
    if isinstance(prompt, SolvePrompt):
        return prompt
    return SolvePrompt(**dict(prompt))


class LikelihoodVerifier(Verifier):
    """Verifier that accepts a proposal iff the target's log-probability score of it (see
    ``mode``) exceeds ``alpha``.

    ``prompt`` must be the prompt the target solves with (the Hydra configs pass the run's
    ``prompt`` block), so the score is taken in the context the target would write in.
    """

    name = "likelihood"

    def __init__(
        self,
        alpha: float | str = -2.5,
        mode: str = "absolute",
        prompt: SolvePrompt | Mapping | None = None,
        calibration: str | None = None,
    ) -> None:
        super().__init__()
        problem = self.alpha_problem(alpha)
        if problem is not None:
            raise ValueError(f"verifier.alpha must be {problem}, got {alpha!r}")
        if mode not in MODES:
            raise ValueError(f"verifier.mode must be one of {list(MODES)}, got {mode!r}")
        self.alpha = alpha
        self.mode = mode
        self.prompt = solve_prompt_from(prompt)
        self.calibration = calibration

    def calibration_settings(self) -> dict:
        return {"mode": self.mode}

    def bind(self, target: Backend) -> None:
        self._target = target
        self.resolve_alpha(target)

    def open(self, problem: Problem) -> VerifierSession:
        target = self.bound_target("open")
        return _LikelihoodSession(self, SolutionContext(target, self.prompt, problem))

    def score(self, scored: ContinuationLogprobs) -> tuple[float, str | None]:
        """Return ``(score, failure)``: the mode's score, or NaN and why it cannot be scored."""
        if scored.token.numel() == 0:
            return math.nan, "empty_step"
        token = scored.token.double()
        if torch.isnan(token).any() or torch.isposinf(token).any():
            return math.nan, "nonfinite_logits"
        if self.mode == "absolute":
            return float(token.mean()), None
        top = scored.top.double()
        if torch.isnan(top).any() or torch.isinf(top).any():
            return math.nan, "nonfinite_logits"
        gaps = token - top
        if self.mode == "worst_token":
            return float(gaps.min()), None
        return float(gaps.mean()), None

    def decide(self, scored: ContinuationLogprobs) -> Verdict:
        """Turn a scored proposal into a verdict and count it."""
        value, failure = self.score(scored)
        if failure is not None:
            verdict = Verdict(False, value, failure)
        else:
            verdict = Verdict(value > self.alpha, value, self.name)
        self.stats.record(verdict, failed=failure is not None)
        return verdict

    def verify_batch(self, requests: Sequence[VerifyRequest]) -> list[Verdict]:
        """Score several requests with one padded forward of prompt, prior steps and proposal."""
        target = self.bound_target("verify_batch")
        return [
            self.decide(scored) for scored in batch_continuations(target, self.prompt, requests)
        ]


def batch_continuations(
    target: Backend, prompt: SolvePrompt, requests: Sequence[VerifyRequest]
) -> list[ContinuationLogprobs]:
    """Score each request's proposal in its solution context, all in one forward."""
    rows, starts = [], []
    for request in requests:
        context = SolutionContext(target, prompt, request.problem)
        ids, start = context.token_ids(request.prior_steps, request.proposal)
        rows.append(ids)
        starts.append(start)
    logits = target.forward_batch(rows)
    scored = []
    for ids, start, row_logits in zip(rows, starts, logits, strict=True):
        # Logits at position i predict token i + 1.
        scored.append(ContinuationLogprobs.from_logits(row_logits[start - 1 : -1], ids[start:]))
    return scored


class _LikelihoodSession(VerifierSession):
    def __init__(self, verifier: LikelihoodVerifier, context: SolutionContext) -> None:
        self.verifier = verifier
        self.context = context

    def verify(self, prior_steps: Sequence[Step], proposal: Proposal) -> Verdict:
        # NOTE: this session is the verifier's own copy of the solution context, so an accepted
        # step is prefilled again here although the scheduler's target session already contains it.
        self.context.sync([step.text for step in prior_steps])
        scored = self.context.backend.continuation_logprobs(
            self.context.session, proposal.step.text
        )
        return self.verifier.decide(scored)

    def verify_batch(
        self, prior_steps: Sequence[Step], proposals: Sequence[Proposal]
    ) -> list[Verdict]:
        texts = [proposal.step.text for proposal in proposals]
        scored = self.context.continuation_logprobs_batch(
            [step.text for step in prior_steps], texts
        )
        return [self.verifier.decide(part) for part in scored]
