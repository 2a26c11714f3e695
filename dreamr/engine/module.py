"""The inference LightningModule: ``predict_step`` reasons on a batch of problems.

Running under Lightning's ``Trainer`` means ``trainer.devices`` and ``trainer.strategy``
spread problems over devices and processes with no other change. Each rank appends its
records to the one ``results.jsonl``; metrics are count states, summed over ranks.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Collection
from pathlib import Path

import lightning as L
import torch

from dreamr.engine.base import ReasoningContext, Scheduler
from dreamr.engine.timeline import TIMELINE_DIR, plot_timeline
from dreamr.metrics import ReasoningMetrics
from dreamr.results import (
    ERRORS_FILE,
    RESULTS_FILE,
    TRACE_FILE,
    JsonlAppender,
    RunOutcome,
    problem_record,
)
from dreamr.steps import answers_match, extract_boxed
from dreamr.types import Problem

logger = logging.getLogger(__name__)


class ReasoningModule(L.LightningModule):
    """Runs ``scheduler`` (and optionally the ``target_only`` baseline) on each problem."""

    def __init__(
        self,
        context: ReasoningContext,
        scheduler: Scheduler,
        output_dir: str | Path,
        baseline: Scheduler | None = None,
        save_trace: bool = True,
        timeline_ids: Collection[str] = (),
    ) -> None:
        super().__init__()
        self.context = context
        self.scheduler = scheduler
        self.baseline = baseline
        # Registered as submodules so the Trainer places them on each rank's device.
        self.target_model = context.target.model
        self.draft_model = context.draft.model if context.draft is not None else None
        self.output_dir = Path(output_dir)
        self.results = JsonlAppender(self.output_dir / RESULTS_FILE)
        self.errors = JsonlAppender(self.output_dir / ERRORS_FILE)
        self.traces = JsonlAppender(self.output_dir / TRACE_FILE) if save_trace else None
        self.timeline_ids = set(timeline_ids)
        self.metrics = ReasoningMetrics()
        self.progress: dict[str, float] = {}

    def predict_step(self, batch: list[Problem], batch_idx: int) -> list[dict]:
        records = []
        for problem in batch:
            record = self.solve(problem)
            self.results.append(record)
            self.metrics.update(record)
            records.append(record)
        self.progress = self.metrics.progress()
        return records

    def solve(self, problem: Problem) -> dict:
        """Run the method, then the baseline, on one problem and build its record."""
        method = self._run(self.scheduler, problem)
        baseline = self._run(self.baseline, problem) if self.baseline is not None else None
        for outcome in (method, baseline):
            if outcome is not None and outcome.error is not None:
                self.errors.append(
                    {
                        "kind": "problem",
                        "id": problem.id,
                        "scheduler": outcome.scheduler,
                        "error": outcome.error,
                    }
                )
        if self.traces is not None and method.trajectory is not None:
            self.traces.append(
                {
                    "id": problem.id,
                    "scheduler": method.scheduler,
                    "events": [event.to_json() for event in method.trajectory.trace],
                }
            )
        if problem.id in self.timeline_ids and method.trajectory is not None:
            path = self.output_dir / TIMELINE_DIR / f"{problem.id}.{method.scheduler}.png"
            plot_timeline(method.trajectory.trace, path, f"{problem.id}: {method.scheduler}")
        return problem_record(problem, method, baseline)

    def _run(self, scheduler: Scheduler, problem: Problem) -> RunOutcome:
        start = time.perf_counter()
        cpu_start = time.process_time()
        try:
            if problem.images:
                raise NotImplementedError(
                    f"problem '{problem.id}' has images, and the text backends cannot read them yet"
                )
            trajectory = scheduler.run(problem, self.context)
        except Exception as error:  # one bad problem must not end the run
            elapsed = time.perf_counter() - start
            logger.error("Problem %s failed under %s: %s", problem.id, scheduler.name, error)
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            logger.debug("%s", traceback.format_exc())
            cpu = time.process_time() - cpu_start
            return RunOutcome(
                scheduler.name, None, None, False, elapsed, error=detail, cpu_time_s=cpu
            )
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        answer = extract_boxed(trajectory.text)
        correct = answers_match(answer, problem.answer)
        return RunOutcome(scheduler.name, trajectory, answer, correct, elapsed, cpu_time_s=cpu)

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        # Problems are text; each backend tokenizes and places tensors itself.
        return batch

    def configure_optimizers(self):
        return None

    def on_predict_start(self) -> None:
        torch.set_grad_enabled(False)
