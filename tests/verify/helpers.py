"""Shared helpers for verifier tests: hand-made distributions, steps and proposals."""

from __future__ import annotations

import torch

from dreamr.types import GeneratedStep, Origin, Problem, Proposal, Step, StopReason

PROBLEM = Problem(
    id="p", question="Natalia sold 48 clips in April and half as many in May. Total?", answer="72"
)
OTHER_PROBLEM = Problem(
    id="q", question="A pen costs 3 dollars. How much do 7 pens cost?", answer="21"
)


def logprobs_from(values: list[float]) -> torch.Tensor:
    return torch.log_softmax(torch.tensor(values, dtype=torch.float64), dim=0)


def make_step(text: str) -> Step:
    return Step(text, Origin.TARGET, 5, StopReason.DELIMITER)


def proposal(text: str, index: int = 0) -> Proposal:
    return Proposal(index, GeneratedStep(text, (1,), StopReason.DELIMITER))
