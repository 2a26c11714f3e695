"""Verifier interface: judge a drafted step given the problem and the steps before it."""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

from dreamr.calibration.saved import calibrated_alpha
from dreamr.models.backend import Backend
from dreamr.types import GeneratedStep, Origin, Problem, Proposal, Step, StopReason, Verdict

logger = logging.getLogger(__name__)


@dataclass
class VerifierStats:
    """Counts of one verifier: judged proposals, accepted ones and failures by reason.

    Set ``history`` to a list to also keep every verdict in the order it was recorded (a
    calibration does this to read the scores of a composite verifier's parts).
    """

    judged: int = 0
    accepted: int = 0
    failures: int = 0
    history: list[Verdict] | None = None

    def record(self, verdict: Verdict, failed: bool) -> None:
        self.judged += 1
        self.accepted += int(verdict.accept)
        self.failures += int(failed)
        if self.history is not None:
            self.history.append(verdict)


@dataclass(frozen=True)
class VerifyRequest:
    """One proposal to judge outside a scheduler: a problem, the step texts before the
    proposal and the proposal's text (as in a calibration set)."""

    problem: Problem
    prior_steps: tuple[str, ...]
    proposal: str

    def steps(self) -> list[Step]:
        return [Step(text, Origin.TARGET, 0, StopReason.DELIMITER) for text in self.prior_steps]

    def to_proposal(self) -> Proposal:
        return Proposal(
            len(self.prior_steps), GeneratedStep(self.proposal, (), StopReason.DELIMITER)
        )


class VerifierSession(ABC):
    """A verifier's state for one problem (for example the judge prompt's KV cache)."""

    @abstractmethod
    def verify(self, prior_steps: Sequence[Step], proposal: Proposal) -> Verdict:
        """Judge ``proposal`` written after ``prior_steps`` (committed or speculative)."""

    def verify_batch(
        self, prior_steps: Sequence[Step], proposals: Sequence[Proposal]
    ) -> list[Verdict]:
        """Judge several alternative proposals after the same ``prior_steps``.

        Verifiers that score with one forward override this to score all proposals in one
        padded forward on the cached prefix. The verdicts equal those of ``verify`` one at a
        time, up to floating-point summation order.
        """
        return [self.verify(prior_steps, proposal) for proposal in proposals]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release per-problem resources."""


class Verifier(ABC):
    """Judges proposals with the target model.

    ``bind`` is called once with the target backend before any problem, so label tokens
    and prompts are resolved (and bad settings raise) at start-up, not mid-run.
    """

    name: str = "verifier"
    # The range of ``alpha`` as (low, high, high_inclusive), or None for any real number.
    alpha_bounds: tuple[float, float, bool] | None = None

    def __init__(self) -> None:
        self.stats = VerifierStats()
        self._target: Backend | None = None

    def bound_target(self, needed_by: str) -> Backend:
        """Return the target backend from ``bind``; ``needed_by`` names the caller for the error."""
        if self._target is None:
            raise RuntimeError(
                f"{type(self).__name__}.bind(target) must be called before {needed_by}()"
            )
        return self._target

    def resolve_alpha(self, target: Backend) -> None:
        """Replace ``alpha="auto"`` with the threshold of the saved calibration.

        Reads ``self.calibration`` (a path, or None for ``calibrations/<name>.json``) and
        checks that it was made for this verifier, its settings and ``target``.
        """
        if getattr(self, "alpha", None) == "auto":
            self.alpha = calibrated_alpha(
                getattr(self, "calibration", None),
                self.name,
                self.calibration_settings(),
                target.name,
            )

    @classmethod
    def alpha_problem(cls, value: Any) -> str | None:
        """Describe the allowed values when ``value`` is not a valid ``verifier.alpha``."""
        if value == "auto":
            return None
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            return cls._alpha_allowed()
        if cls.alpha_bounds is not None:
            low, high, high_inclusive = cls.alpha_bounds
            if value < low or value > high or (value == high and not high_inclusive):
                return cls._alpha_allowed()
        return None

    @classmethod
    def _alpha_allowed(cls) -> str:
        if cls.alpha_bounds is None:
            return "a finite number or 'auto' (the threshold of a saved calibration)"
        low, high, high_inclusive = cls.alpha_bounds
        closing = "]" if high_inclusive else ")"
        return f"a number in [{low:g}, {high:g}{closing} or 'auto' (the threshold of a saved calibration)"

    def parts(self) -> dict[str, Verifier]:
        """Verifiers this one combines, by name; a calibration scores them on the same steps."""
        return {}

    def calibration_settings(self) -> dict[str, Any]:
        """Settings besides ``alpha`` that change this verifier's score; a saved calibration is
        valid only for the same settings."""
        return {}

    def verify_many(self, requests: Sequence[VerifyRequest], batch_size: int = 1) -> list[Verdict]:
        """Judge proposals of one or more problems and return their verdicts in order.

        With ``batch_size == 1`` each problem gets one session, so consecutive requests on the
        same problem reuse its cached prefix. With a larger batch, verifiers that support it
        score ``batch_size`` requests per padded forward (``verify_batch``); the verdicts are
        the same up to floating-point summation order.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if batch_size > 1 and type(self).verify_batch is not Verifier.verify_batch:
            verdicts: list[Verdict] = []
            for start in range(0, len(requests), batch_size):
                verdicts.extend(self.verify_batch(requests[start : start + batch_size]))
            return verdicts
        verdicts = []
        session: VerifierSession | None = None
        problem_id = None
        try:
            for request in requests:
                # One open session at a time: group requests by problem to reuse its cache.
                if session is None or request.problem.id != problem_id:
                    if session is not None:
                        session.close()
                    session, problem_id = self.open(request.problem), request.problem.id
                verdicts.append(session.verify(request.steps(), request.to_proposal()))
        finally:
            if session is not None:
                session.close()
        return verdicts

    def verify_batch(self, requests: Sequence[VerifyRequest]) -> list[Verdict]:
        """Judge several requests in one forward of the target; see ``verify_many``."""
        raise NotImplementedError(f"verifier '{self.name}' has no batched path")

    @abstractmethod
    def bind(self, target: Backend) -> None:
        """Resolve everything that depends on the target model and its tokenizer."""

    @abstractmethod
    def open(self, problem: Problem) -> VerifierSession:
        """Start judging a new problem."""


class ConstantVerifier(Verifier):
    """Accepts (or rejects) every proposal without calling a model; for invariants and tests."""

    def __init__(self, accept: bool) -> None:
        super().__init__()
        self.accept = accept
        self.name = "always_accept" if accept else "always_reject"

    def bind(self, target: Backend) -> None:
        return None

    def open(self, problem: Problem) -> VerifierSession:
        return _ConstantSession(self)


class _ConstantSession(VerifierSession):
    def __init__(self, verifier: ConstantVerifier) -> None:
        self.verifier = verifier

    def verify(self, prior_steps: Sequence[Step], proposal: Proposal) -> Verdict:
        accept = self.verifier.accept
        verdict = Verdict(accept=accept, score=1.0 if accept else 0.0, reason=self.verifier.name)
        self.verifier.stats.record(verdict, failed=False)
        return verdict


def always_accept() -> Verifier:
    return ConstantVerifier(accept=True)


def always_reject() -> Verifier:
    return ConstantVerifier(accept=False)
