"""Exact-match verification: accept a drafted step only if the target writes the same step.

The target writes its own next step in its solution context (with the run's decoding
settings, greedy by default) and the proposal is accepted iff both match after
``normalize_step``. This is the strictest baseline: under greedy decoding it commits only
steps that equal, up to normalization, what the target would write itself, and it costs a
whole target step per check. The score is 1.0 for a match and 0.0 otherwise.

A target step that is empty or was cut before any token (cancelled) gives nothing to
compare: the verdict is a reject with reason ``no_reference``, counted as a failure.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

from dreamr.models.backend import Backend
from dreamr.prompts import SolvePrompt
from dreamr.steps import StepLimits
from dreamr.types import Problem, Proposal, Step, StopReason, Verdict
from dreamr.verify.base import Verifier, VerifierSession
from dreamr.verify.context import SolutionContext
from dreamr.verify.likelihood import solve_prompt_from

_SPACE = re.compile(r"\s+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_EDGE_PUNCTUATION = ".,;:!?"


def normalize_step(text: str) -> str:
    """Normalize a step for comparison.

    NFKC, case folding, thousands separators dropped (``1,000`` -> ``1000``), runs of
    whitespace collapsed to one space, and surrounding whitespace and sentence punctuation
    stripped.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _THOUSANDS.sub("", text)
    text = _SPACE.sub(" ", text)
    return text.strip().strip(_EDGE_PUNCTUATION).strip()


class ExactVerifier(Verifier):
    """Accept iff the normalized proposal equals the target's own normalized next step."""

    name = "exact"

    def __init__(
        self,
        prompt: SolvePrompt | Mapping | None = None,
        limits: StepLimits | Mapping | None = None,
    ) -> None:
        super().__init__()
        self.prompt = solve_prompt_from(prompt)
        if limits is None:
            limits = StepLimits()
        elif not isinstance(limits, StepLimits):
            limits = StepLimits(**dict(limits))
        self.limits = limits

    def bind(self, target: Backend) -> None:
        self._target = target

    def open(self, problem: Problem) -> VerifierSession:
        target = self.bound_target("open")
        return _ExactSession(self, SolutionContext(target, self.prompt, problem))

    def decide(self, proposal_text: str, reference: str | None) -> Verdict:
        """Compare the proposal with the target's step ``reference`` and count the verdict."""
        if reference is None or not reference.strip():
            verdict = Verdict(False, float("nan"), "no_reference")
            self.stats.record(verdict, failed=True)
            return verdict
        match = normalize_step(proposal_text) == normalize_step(reference)
        verdict = Verdict(match, 1.0 if match else 0.0, self.name)
        self.stats.record(verdict, failed=False)
        return verdict


class _ExactSession(VerifierSession):
    def __init__(self, verifier: ExactVerifier, context: SolutionContext) -> None:
        self.verifier = verifier
        self.context = context

    def verify(self, prior_steps: Sequence[Step], proposal: Proposal) -> Verdict:
        self.context.sync([step.text for step in prior_steps])
        backend, session = self.context.backend, self.context.session
        rollback = len(session.ids)
        limits = self.verifier.limits
        try:
            written = backend.generate_step(session, limits, limits.max_step_tokens)
        finally:
            backend.truncate(session, rollback)
        reference = None if written.stop_reason == StopReason.CANCELLED else written.text
        return self.verifier.decide(proposal.step.text, reference)
