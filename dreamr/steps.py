"""Step segmentation, stop rules, answer extraction and answer matching."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from dreamr.types import StopReason

logger = logging.getLogger(__name__)

BOXED = "\\boxed{"


@dataclass(frozen=True)
class StepLimits:
    """Limits that end steps and trajectories.

    ``delimiter`` ends a step and stays at the end of the step's text. ``answer_marker`` ends the
    step and the trajectory once the text after it is complete, which for ``\\boxed{`` means its
    closing brace. ``max_step_tokens`` caps one step and ``max_new_tokens`` the trajectory.
    """

    delimiter: str = "\n\n"
    answer_marker: str | None = BOXED
    max_step_tokens: int = 128
    max_new_tokens: int = 512
    max_steps: int = 64

    def __post_init__(self) -> None:
        if not self.delimiter:
            raise ValueError("StepLimits.delimiter must be a non-empty string")
        for name in ("max_step_tokens", "max_new_tokens", "max_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"StepLimits.{name} must be >= 1, got {getattr(self, name)}")


class StepStopper:
    """Decide after each generated token whether the step is over.

    Works on decoded text, so a delimiter that the tokenizer merges with neighbouring
    characters (Qwen has single tokens for ``".\\n\\n"`` and ``":\\n\\n"``) still ends the step.
    """

    def __init__(self, limits: StepLimits, eos_token_ids: Iterable[int], max_tokens: int):
        self.limits = limits
        self.eos_token_ids = frozenset(eos_token_ids)
        self.max_tokens = max_tokens
        self._text = ""
        self._count = 0

    def update(self, token_id: int, piece: str) -> StopReason | None:
        """Record one token and its decoded text; return why the step stops, or None."""
        self._count += 1
        if token_id in self.eos_token_ids:
            return StopReason.EOS
        scan_from = max(0, len(self._text) - len(self.limits.delimiter))
        self._text += piece
        marker = self.limits.answer_marker
        if marker is not None and has_complete_answer(self._text, marker):
            return StopReason.ANSWER
        if self.limits.delimiter in self._text[scan_from:]:
            return StopReason.DELIMITER
        if self._count >= self.max_tokens:
            return StopReason.MAX_STEP_TOKENS
        return None


def has_complete_answer(text: str, marker: str = BOXED) -> bool:
    """True when ``text`` contains ``marker`` and, for a brace marker, its closing brace."""
    start = text.rfind(marker)
    if start < 0:
        return False
    if not marker.endswith("{"):
        return True
    return _matching_brace(text, start + len(marker)) is not None


def _matching_brace(text: str, open_end: int) -> int | None:
    """Index of the brace closing the one just before ``open_end``, or None if unclosed."""
    depth = 1
    for index in range(open_end, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def extract_boxed(text: str) -> str | None:
    """Return the content of the last complete ``\\boxed{...}`` in ``text``, or None."""
    search_end = len(text)
    while True:
        start = text.rfind(BOXED, 0, search_end)
        if start < 0:
            return None
        close = _matching_brace(text, start + len(BOXED))
        if close is not None:
            return text[start + len(BOXED) : close].strip()
        search_end = start


_GSM_FINAL = re.compile(r"####\s*(.+?)\s*$", re.MULTILINE)


def gsm8k_final_answer(worked_answer: str) -> str:
    """Return the number after ``####`` in a GSM8K worked answer, without thousands commas."""
    match = _GSM_FINAL.search(worked_answer)
    if match is None:
        raise ValueError(
            f"missing '#### <answer>' line in GSM8K worked answer: {worked_answer[-80:]!r}"
        )
    return match.group(1).replace(",", "").strip()


def _normalize_for_parse(answer: str) -> str:
    # math-verify 0.9.0 cannot parse "10\%" or "10%"; percentages compare as plain numbers.
    return answer.replace("\\%", "").replace("%", "").replace("\\$", "").replace("$", "").strip()


def answers_match(predicted: str | None, gold: str | None) -> bool:
    """Compare a predicted answer with the gold answer using ``math-verify``.

    Both sides are parsed as LaTeX/expressions; plain string equality after normalization
    is the fallback when parsing yields nothing.
    """
    if predicted is None or gold is None:
        return False
    from math_verify import parse, verify

    predicted_norm = _normalize_for_parse(predicted)
    gold_norm = _normalize_for_parse(gold)
    try:
        gold_parsed = parse(f"${gold_norm}$")
        predicted_parsed = parse(f"${predicted_norm}$")
        if gold_parsed and predicted_parsed:
            return bool(verify(gold_parsed, predicted_parsed))
    except Exception as error:  # math-verify raises many types on odd LaTeX
        logger.debug("math-verify failed on %r vs %r: %s", predicted, gold, error)
    return predicted_norm.replace(" ", "") == gold_norm.replace(" ", "")
