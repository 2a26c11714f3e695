"""Verifier interface: judge a drafted step given the problem and the steps before it."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from dreamr.models.backend import Backend
from dreamr.types import Problem, Proposal, Step, Verdict

logger = logging.getLogger(__name__)


@dataclass
class VerifierStats:
    """Counts of one verifier: judged proposals, accepted ones and failures by reason."""

    judged: int = 0
    accepted: int = 0
    failures: int = 0

    def record(self, verdict: Verdict, failed: bool) -> None:
        self.judged += 1
        self.accepted += int(verdict.accept)
        self.failures += int(failed)


class VerifierSession(ABC):
    """A verifier's state for one problem (for example the judge prompt's KV cache)."""

    @abstractmethod
    def verify(self, prior_steps: Sequence[Step], proposal: Proposal) -> Verdict:
        """Judge ``proposal`` written after ``prior_steps`` (committed or speculative)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release per-problem resources."""


class Verifier(ABC):
    """Judges proposals with the target model.

    ``bind`` is called once with the target backend before any problem, so label tokens
    and prompts are resolved (and bad settings raise) at start-up, not mid-run.
    """

    name: str = "verifier"

    def __init__(self) -> None:
        self.stats = VerifierStats()

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
