"""Stub verifiers for scheduler tests: deterministic verdicts, delays and failures."""

from __future__ import annotations

import time
from collections.abc import Sequence

from dreamr.types import Proposal, Step, Verdict
from dreamr.verify.base import Verifier, VerifierSession


class StubVerifier(Verifier):
    """Rejects the proposal at each step index in ``reject_at`` (or every ``reject_every``-th).

    The verdict depends only on the proposal's position in the trajectory, so every
    scheduler that commits the same prefix gets the same verdict. ``delay_s`` makes each
    check take that long; ``raise_at`` makes the check of that step index raise.
    """

    name = "stub"

    def __init__(
        self,
        reject_every: int | None = 3,
        reject_at: Sequence[int] = (),
        delay_s: float = 0.0,
        raise_at: int | None = None,
    ) -> None:
        super().__init__()
        self.reject_every = reject_every
        self.reject_at = set(reject_at)
        self.delay_s = delay_s
        self.raise_at = raise_at
        self.calls: list[tuple[int, tuple[str, ...]]] = []

    def bind(self, target) -> None:
        return None

    def rejects(self, index: int) -> bool:
        if index in self.reject_at:
            return True
        return self.reject_every is not None and index % self.reject_every == self.reject_every - 1

    def open(self, problem) -> VerifierSession:
        return _StubSession(self)


class _StubSession(VerifierSession):
    def __init__(self, verifier: StubVerifier) -> None:
        self.verifier = verifier

    def verify(self, prior_steps: Sequence[Step], proposal: Proposal) -> Verdict:
        verifier = self.verifier
        verifier.calls.append((proposal.index, tuple(step.text for step in prior_steps)))
        if verifier.delay_s:
            time.sleep(verifier.delay_s)
        if verifier.raise_at == proposal.index:
            raise RuntimeError(f"stub verifier fails on step {proposal.index}")
        accept = not verifier.rejects(proposal.index)
        verdict = Verdict(accept, 1.0 if accept else 0.0, "stub")
        verifier.stats.record(verdict, failed=False)
        return verdict
