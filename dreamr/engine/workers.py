"""Workers of a concurrent scheduler: lanes that run tasks, and sessions kept in step with a prefix.

A ``Lane`` runs one task at a time, in the order submitted. ``ThreadLane`` runs them on its
own OS thread, with its own torch thread count and, on a GPU, its own CUDA stream.
``InlineLane`` runs each task in the caller's thread at submission, so the same scheduler
code also runs strictly one task after another. Either way each finished task is posted as
a ``TaskResult`` to a queue that the scheduler's coordinator reads, and the lane emits
``<action>_start`` / ``<action>_end`` trace events with the lane's name as the worker.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch

from dreamr.engine.base import TraceRecorder
from dreamr.models.backend import Backend, Session
from dreamr.steps import StepLimits
from dreamr.types import GeneratedStep, Step

logger = logging.getLogger(__name__)

_task_ids = itertools.count()


@dataclass(eq=False)
class Task:
    """A unit of work for one lane: ``work(cancel)`` returns the result."""

    action: str  # trace event prefix: draft, verify or target
    index: int  # step index in the trajectory
    work: Callable[[threading.Event], Any]
    detail: str = ""
    payload: Any = None  # what the coordinator needs to handle the result
    cancel: threading.Event = field(default_factory=threading.Event)
    id: int = field(default_factory=lambda: next(_task_ids))


class WorkerError(RuntimeError):
    """A worker's task raised; the scheduler cancelled the other workers and stopped."""


@dataclass(frozen=True)
class TaskResult:
    """Outcome a lane posts when a task ends: the value, or the error it raised."""

    task: Task
    worker: str
    value: Any = None
    error: BaseException | None = None
    skipped: bool = False  # cancelled before it started


class Lane(ABC):
    """Runs tasks one at a time in submission order and posts each result to ``results``."""

    def __init__(self, name: str, trace: TraceRecorder, results: queue.Queue) -> None:
        self.name = name
        self.trace = trace
        self.results = results

    @abstractmethod
    def submit(self, task: Task) -> None:
        """Queue ``task`` (or, inline, run it now)."""

    def close(self, timeout_s: float) -> None:  # noqa: B027 - inline lanes hold nothing
        """Stop accepting tasks and wait for the running one to end."""

    def _execute(self, task: Task) -> None:
        if task.cancel.is_set():
            self.results.put(TaskResult(task, self.name, skipped=True))
            return
        self.trace.emit(f"{task.action}_start", self.name, task.index, task.detail)
        try:
            value = task.work(task.cancel)
        except Exception as error:  # handed to the coordinator, which raises it
            self.trace.emit(f"{task.action}_end", self.name, task.index, f"error: {error!r}")
            self.results.put(TaskResult(task, self.name, error=error))
            return
        end_detail = "cancelled" if task.cancel.is_set() else ""
        self.trace.emit(f"{task.action}_end", self.name, task.index, end_detail)
        self.results.put(TaskResult(task, self.name, value=value))


class InlineLane(Lane):
    """Runs each task in the submitting thread, at once."""

    def submit(self, task: Task) -> None:
        self._execute(task)


class ThreadLane(Lane):
    """Runs tasks on a dedicated thread with its own torch thread count and CUDA stream.

    ``num_threads`` is applied with ``torch.set_num_threads`` inside the lane's thread, which
    in torch 2.x sets the intra-op thread count of that OS thread only. ``device`` given as a
    CUDA device gives the lane a stream of its own on that device.
    """

    def __init__(
        self,
        name: str,
        trace: TraceRecorder,
        results: queue.Queue,
        num_threads: int | None = None,
        device: torch.device | None = None,
    ) -> None:
        super().__init__(name, trace, results)
        self.num_threads = num_threads
        self.device = device
        self._tasks: queue.Queue[Task | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=f"dreamr-{name}", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, task: Task) -> None:
        self._tasks.put(task)

    def close(self, timeout_s: float) -> None:
        self._tasks.put(None)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TimeoutError(
                f"worker '{self.name}' did not stop within {timeout_s:g} s of being closed; "
                "its task ignores cancellation or is stuck in one long model call"
            )

    def _loop(self) -> None:
        torch.set_grad_enabled(False)
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        stream = None
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            stream = torch.cuda.Stream(self.device)
        with torch.cuda.stream(stream) if stream is not None else nullcontext():
            while (task := self._tasks.get()) is not None:
                self._execute(task)
                if stream is not None:
                    stream.synchronize()


@dataclass(frozen=True)
class Piece:
    """A step in some context, committed or speculative, with a label unique in its problem.

    ``token_ids`` are the ids of the backend that wrote the step (``writer``). A session of
    that same backend appends them as they are, so its context is token for token what
    writing the step left there. Any other backend re-encodes ``step.text``.
    """

    label: str
    step: Step
    writer: str  # "draft" or "target"
    token_ids: tuple[int, ...]

    @classmethod
    def of(cls, label: str, step: Step, writer: str, generated: GeneratedStep) -> Piece:
        return cls(label, step, writer, generated.token_ids)


class TrackedSession:
    """A backend session whose text after the prompt is a known list of pieces.

    ``sync(pieces)`` keeps the longest common run of pieces (by label), drops everything
    after it, partial generations included, and appends the rest, so a session follows a
    moving speculative prefix while re-feeding only what changed. Only the lane that owns
    it may touch it: a session is not thread-safe.
    """

    def __init__(self, backend: Backend, session: Session, writer: str) -> None:
        self.backend = backend
        self.session = session
        self.writer = writer
        self.labels: list[str] = []
        self.ends: list[int] = []  # len(session.ids) after each piece

    def sync(self, pieces: Sequence[Piece]) -> None:
        common = 0
        for cached_label, piece in zip(self.labels, pieces, strict=False):
            if cached_label != piece.label:
                break
            common += 1
        keep = self.ends[common - 1] if common else self.session.prompt_len
        self.backend.truncate(self.session, keep)
        del self.labels[common:]
        del self.ends[common:]
        for piece in pieces[common:]:
            if piece.writer == self.writer:
                # Session contract: ids past cache_len are fed on the next model call.
                self.session.ids.extend(piece.token_ids)
                self.session.next_logits = None
            else:
                self.backend.append_text(self.session, piece.step.text)
            self.labels.append(piece.label)
            self.ends.append(len(self.session.ids))

    def record(self, label: str) -> None:
        """Mark the tokens just generated on the session as piece ``label``."""
        self.labels.append(label)
        self.ends.append(len(self.session.ids))


def speculative_step_budget(limits: StepLimits, prefix: Sequence[Piece]) -> int | None:
    """Tokens a step written on ``prefix`` may use, or None when the prefix spent the budget.

    Matches ``BudgetTracker`` as if every piece of ``prefix`` were committed, so a step
    written ahead gets the budget it would get when written in turn.
    """
    tokens = sum(piece.step.num_tokens for piece in prefix)
    if len(prefix) >= limits.max_steps or tokens >= limits.max_new_tokens:
        return None
    return min(limits.max_step_tokens, limits.max_new_tokens - tokens)
