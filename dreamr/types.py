"""Core value types shared by data, models, verifiers and schedulers."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Origin(StrEnum):
    """Author of a committed step."""

    DRAFT = "draft"
    TARGET = "target"


class StopReason(StrEnum):
    """Cause of the end of a step or of a whole trajectory."""

    DELIMITER = "delimiter"
    EOS = "eos"
    ANSWER = "answer"
    MAX_STEP_TOKENS = "max_step_tokens"
    MAX_NEW_TOKENS = "max_new_tokens"
    MAX_STEPS = "max_steps"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Problem:
    """One input: question text, optional images and reference answer."""

    id: str
    question: str
    answer: str | None = None
    images: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GeneratedStep:
    """Text a backend wrote for one step, with its own token ids."""

    text: str
    token_ids: tuple[int, ...]
    stop_reason: StopReason

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def ends_trajectory(self) -> bool:
        return self.stop_reason in (StopReason.EOS, StopReason.ANSWER)


@dataclass(frozen=True)
class Proposal:
    """A drafted step not yet judged."""

    index: int  # position of the step in the trajectory, 0-based
    step: GeneratedStep


@dataclass(frozen=True)
class Verdict:
    """A verifier's judgement of one proposal.

    ``score`` is on the verifier's own scale (CPN: probability in [0, 1]); it is NaN when
    the verifier could not score, and ``reason`` then gives the cause (for example ``no_evidence``).
    """

    accept: bool
    score: float
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"accept": self.accept, "score": _finite_or_none(self.score), "reason": self.reason}


@dataclass(frozen=True)
class Step:
    """A committed step of a trajectory.

    For a fallback step (``origin == TARGET`` under a speculative scheduler), ``rejected``
    contains the draft's rejected text and ``verdict`` its judgement.
    """

    text: str
    origin: Origin
    num_tokens: int
    stop_reason: StopReason
    verdict: Verdict | None = None
    rejected: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "origin": self.origin.value,
            "num_tokens": self.num_tokens,
            "stop_reason": self.stop_reason.value,
            "score": None if self.verdict is None else _finite_or_none(self.verdict.score),
            "verdict": None if self.verdict is None else self.verdict.to_json(),
            "rejected": self.rejected,
        }


@dataclass
class Counters:
    """Hardware-independent work counters of one problem."""

    proposals: int = 0
    accepted: int = 0
    draft_tokens: int = 0
    target_tokens: int = 0
    target_forward_passes: int = 0
    draft_forward_passes: int = 0
    verifier_failures: int = 0

    @property
    def acceptance_rate(self) -> float:
        """Accepted / judged proposals; NaN when nothing was judged."""
        return self.accepted / self.proposals if self.proposals else math.nan

    def to_json(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class TraceEvent:
    """One scheduler event: ``kind`` is ``<worker>_start``/``_end``, ``commit`` or ``cancel``."""

    kind: str
    worker: str
    step_index: int
    time_s: float  # seconds since the problem started
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Trajectory:
    """The committed steps of one problem and how the run ended."""

    steps: list[Step] = field(default_factory=list)
    stop_reason: StopReason | None = None
    counters: Counters = field(default_factory=Counters)
    trace: list[TraceEvent] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(step.text for step in self.steps)

    @property
    def num_tokens(self) -> int:
        return sum(step.num_tokens for step in self.steps)


def _finite_or_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
