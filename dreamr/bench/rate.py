"""A verifier that accepts proposals at a set rate, for speed checks with random-weight models.

The verdict is a pseudo-random function of the problem id, the step index and the proposal
text: ``u = sha256(seed, id, index, text) / 2**64`` and accept iff ``u < accept_rate``. It
depends only on what a deterministic verifier may depend on, so every scheduler commits
the same trajectory under it, and over many proposals the acceptance rate approaches
``accept_rate``. With ``score_with_target`` each check also runs the CPN judge's forward
pass on the target and discards the result, so a check costs what a real one costs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from dreamr.models.backend import Backend
from dreamr.prompts import JudgePrompt
from dreamr.types import Problem, Proposal, Step, Verdict
from dreamr.verify.base import Verifier, VerifierSession
from dreamr.verify.judge import JudgeContext


class RateVerifier(Verifier):
    """Accept with probability ``accept_rate``, deterministically per proposal."""

    name = "rate"

    def __init__(
        self, accept_rate: float = 0.9, seed: int = 0, score_with_target: bool = True
    ) -> None:
        super().__init__()
        if not 0.0 <= accept_rate <= 1.0:
            raise ValueError(f"verifier.accept_rate must be in [0, 1], got {accept_rate}")
        self.accept_rate = accept_rate
        self.seed = seed
        self.score_with_target = score_with_target
        self._target: Backend | None = None

    def bind(self, target: Backend) -> None:
        self._target = target

    def open(self, problem: Problem) -> VerifierSession:
        if self.score_with_target and self._target is None:
            raise RuntimeError("RateVerifier.bind(target) must be called before open()")
        judge = (
            JudgeContext(self._target, JudgePrompt(), problem) if self.score_with_target else None
        )
        return _RateSession(self, problem, judge)

    def draw(self, problem_id: str, index: int, text: str) -> float:
        """Return the uniform number in [0, 1) that decides this proposal."""
        digest = hashlib.sha256(
            f"{self.seed}\x00{problem_id}\x00{index}\x00{text}".encode()
        ).digest()
        return int.from_bytes(digest[:8], "little") / 2**64


class _RateSession(VerifierSession):
    def __init__(
        self, verifier: RateVerifier, problem: Problem, judge: JudgeContext | None
    ) -> None:
        self.verifier = verifier
        self.problem = problem
        self.judge = judge

    def verify(self, prior_steps: Sequence[Step], proposal: Proposal) -> Verdict:
        if self.judge is not None:
            self.judge.label_logprobs(prior_steps, proposal.step.text)
        draw = self.verifier.draw(self.problem.id, proposal.index, proposal.step.text)
        verdict = Verdict(draw < self.verifier.accept_rate, draw, "rate")
        self.verifier.stats.record(verdict, failed=False)
        return verdict
