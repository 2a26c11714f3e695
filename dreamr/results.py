"""Per-problem results: the JSONL record, the append-only writer and resume support."""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dreamr.types import Problem, Trajectory

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"
ERRORS_FILE = "errors.jsonl"
TRACE_FILE = "trace.jsonl"


@dataclass
class RunOutcome:
    """One scheduler's run on one problem: the trajectory (None if it raised) and its time."""

    scheduler: str
    trajectory: Trajectory | None
    answer: str | None
    correct: bool
    wall_time_s: float
    error: str | None = None
    # CPU seconds of the whole process (all threads) while this run lasted. On a shared,
    # loaded machine it moves far less than wall time, so its ratio is a load-robust proxy.
    cpu_time_s: float | None = None

    def to_json(self, with_steps: bool = True) -> dict[str, Any]:
        trajectory = self.trajectory
        record: dict[str, Any] = {
            "scheduler": self.scheduler,
            "answer": self.answer,
            "correct": self.correct,
            "wall_time_s": round(self.wall_time_s, 4),
            "cpu_time_s": None if self.cpu_time_s is None else round(self.cpu_time_s, 4),
            "error": self.error,
            "stop_reason": None
            if trajectory is None or trajectory.stop_reason is None
            else trajectory.stop_reason.value,
            "num_tokens": None if trajectory is None else trajectory.num_tokens,
            "counters": None if trajectory is None else trajectory.counters.to_json(),
        }
        if with_steps:
            record["steps"] = (
                [] if trajectory is None else [step.to_json() for step in trajectory.steps]
            )
        else:
            record["text"] = None if trajectory is None else trajectory.text
        return record


def problem_record(
    problem: Problem, method: RunOutcome, baseline: RunOutcome | None
) -> dict[str, Any]:
    """Build the ``results.jsonl`` record of one problem."""
    record = {"id": problem.id, "question": problem.question, "gold": problem.answer}
    record.update(method.to_json(with_steps=True))
    acceptance = math.nan
    if method.trajectory is not None:
        acceptance = method.trajectory.counters.acceptance_rate
    record["acceptance_rate"] = None if math.isnan(acceptance) else acceptance
    record["baseline"] = None if baseline is None else baseline.to_json(with_steps=False)
    return record


class JsonlAppender:
    """Appends JSON lines to a file shared by every rank.

    Each line goes out in one ``os.write`` on a descriptor opened with ``O_APPEND``, so lines
    from several processes on one local file system never interleave, and a line is on disk
    (in the page cache) as soon as ``append`` returns.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        data = (
            json.dumps(record, ensure_ascii=False, allow_nan=False, default=_jsonable) + "\n"
        ).encode()
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(descriptor, data)
        finally:
            os.close(descriptor)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read complete records; a torn last line (an interrupted write) is skipped with a warning."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                logger.warning(
                    "Ignoring unreadable line %d of %s (an interrupted write?)", number, path
                )
    return records


def completed_records(output_dir: Path) -> dict[str, dict[str, Any]]:
    """Records already in ``results.jsonl``, by problem id (the last one wins)."""
    return {
        record["id"]: record
        for record in read_jsonl(Path(output_dir) / RESULTS_FILE)
        if "id" in record
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
