"""The main job: run problems through a scheduler and report accuracy, acceptance and speedup.

``run_reason(cfg)`` is what ``dreamr-reason`` calls after Hydra composed the config; tests
and notebooks call it directly with a composed config.
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from dreamr.config import validate_reason_config
from dreamr.data.datamodule import ProblemDataModule
from dreamr.engine.base import ReasoningContext, Scheduler
from dreamr.engine.module import ReasoningModule
from dreamr.engine.target_only import TargetOnlyScheduler
from dreamr.models.assisted import AssistedBackend
from dreamr.models.backend import SamplingConfig
from dreamr.models.loading import build_backend
from dreamr.prompts import SolvePrompt
from dreamr.report import format_summary, plot_run
from dreamr.results import ERRORS_FILE, RESULTS_FILE, JsonlAppender, completed_records, read_jsonl
from dreamr.steps import StepLimits

logger = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"


class ReasoningProgressBar(TQDMProgressBar):
    """The predict bar with problems done, time left, accuracy and acceptance so far."""

    def get_metrics(self, trainer, pl_module) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        progress = getattr(pl_module, "progress", {}) or {}
        for key, label in (("accuracy", "acc"), ("acceptance_rate", "accept")):
            value = progress.get(key)
            if value is not None and not math.isnan(value):
                items[label] = f"{value:.2f}"
        return items

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        super().on_predict_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)
        if self.predict_progress_bar is not None:
            self.predict_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))


def build_context(cfg: DictConfig, needs_draft: bool) -> ReasoningContext:
    """Load the target (and draft) backends and bind the verifier to the target."""
    sampling = SamplingConfig(**OmegaConf.to_container(cfg.sampling))
    cache_dir = cfg.get("model_cache_dir")
    target = build_backend(instantiate(cfg.model.target), sampling, cfg.dtype, cache_dir)
    token_speculation = bool(cfg.get("token_speculation", False))
    draft = verifier = None
    if needs_draft or token_speculation:
        draft = build_backend(instantiate(cfg.model.draft), sampling, cfg.dtype, cache_dir)
    if needs_draft:
        verifier = instantiate(cfg.verifier)
        verifier.bind(target)
    step_writer = target
    if token_speculation:
        step_writer = AssistedBackend(target, draft, num_assistant_tokens=cfg.num_assistant_tokens)
    return ReasoningContext(
        target=step_writer,
        limits=StepLimits(**OmegaConf.to_container(cfg.limits)),
        prompt=SolvePrompt(**OmegaConf.to_container(cfg.prompt)),
        draft=draft,
        verifier=verifier,
    )


def run_reason(cfg: DictConfig) -> dict[str, Any]:
    """Run the job described by ``cfg`` and return the summary (also in ``summary.json``)."""
    validate_reason_config(cfg)
    # Lightning 2.6 trips its own deprecation of LeafSpec on every predict call.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    # Problems, minus those a resumed run already finished.
    source = instantiate(cfg.data)
    loaded = source.load()
    done = completed_records(output_dir) if cfg.resume else {}
    if cfg.resume and not done:
        logger.warning(
            "resume=true but %s has no results yet; to continue an earlier run pass its folder "
            "with hydra.run.dir=<that run's folder>",
            output_dir / RESULTS_FILE,
        )
    if not cfg.resume and (output_dir / RESULTS_FILE).exists():
        raise FileExistsError(
            f"{output_dir / RESULTS_FILE} already exists; pass resume=true to continue that run "
            "or choose another hydra.run.dir"
        )
    todo = [problem for problem in loaded.problems if problem.id not in done]
    if is_rank_zero():
        errors = JsonlAppender(output_dir / ERRORS_FILE)
        for error in loaded.errors:
            errors.append(error.to_json())
    logger.info(
        "%d problems selected, %d already done, %d to run, %d invalid input rows skipped",
        len(loaded.problems),
        len(done),
        len(todo),
        len(loaded.errors),
    )

    scheduler: Scheduler = instantiate(cfg.scheduler)
    context = build_context(cfg, needs_draft=scheduler.needs_draft)
    scheduler.prepare(context)
    baseline = None
    if cfg.compare_baseline and scheduler.name != TargetOnlyScheduler.name:
        baseline = TargetOnlyScheduler()
    module = ReasoningModule(
        context,
        scheduler,
        output_dir,
        baseline,
        save_trace=cfg.save_trace,
        timeline_ids=list(cfg.get("timeline_ids") or []),
    )
    selected_ids = {problem.id for problem in loaded.problems}
    if is_rank_zero():
        for record in done.values():
            if record["id"] in selected_ids:
                module.metrics.update(record)

    wandb_logger = make_wandb_logger(cfg, output_dir)
    trainer: L.Trainer = instantiate(
        cfg.trainer, logger=wandb_logger or False, callbacks=[ReasoningProgressBar()]
    )
    if todo:
        loader = ProblemDataModule(todo).predict_dataloader()
        trainer.predict(module, dataloaders=loader, return_predictions=False)

    summary = module.metrics.compute()
    summary["data_errors"] = len(loaded.errors)
    summary["errors"] += len(loaded.errors)
    summary["scheduler"] = scheduler.name
    summary["verifier"] = None if context.verifier is None else context.verifier.name
    if is_rank_zero():
        write_outputs(cfg, output_dir, summary, selected_ids, wandb_logger)
    return summary


def write_outputs(
    cfg, output_dir: Path, summary: dict, selected_ids: set[str], wandb_logger
) -> None:
    """Write ``summary.json``, the plot and the resolved config; log the table and W&B run."""
    (output_dir / SUMMARY_FILE).write_text(json.dumps(_finite(summary), indent=2) + "\n")
    OmegaConf.save(cfg, output_dir / "config_resolved.yaml", resolve=True)
    records = [r for r in read_jsonl(output_dir / RESULTS_FILE) if r.get("id") in selected_ids]
    plot_run(records, output_dir / "run.png")
    logger.info("\n%s\nresults: %s", format_summary(summary), output_dir)
    if wandb_logger is not None:
        numeric = {f"reason/{k}": v for k, v in summary.items() if isinstance(v, (int, float))}
        wandb_logger.log_metrics(_finite(numeric))
        columns = ["id", "gold", "answer", "correct", "acceptance_rate", "wall_time_s", "steps"]
        rows = [
            [
                r["id"],
                r.get("gold"),
                r.get("answer"),
                r.get("correct"),
                r.get("acceptance_rate"),
                r.get("wall_time_s"),
                len(r.get("steps") or []),
            ]
            for r in records
        ]
        wandb_logger.log_table("reason/problems", columns=columns, data=rows)
        wandb_logger.experiment.finish()


def make_wandb_logger(cfg: DictConfig, output_dir: Path):
    """Build a Lightning ``WandbLogger`` writing under the run directory, or None when disabled."""
    if cfg.logger.mode == "disabled":
        return None
    from lightning.pytorch.loggers import WandbLogger

    os.environ.setdefault("WANDB_SILENT", "true")
    return WandbLogger(
        project=cfg.logger.project,
        name=cfg.logger.name,
        save_dir=str(output_dir),
        mode=cfg.logger.mode,
        config=OmegaConf.to_container(cfg, resolve=True),
    )


@rank_zero_only
def _rank_zero_flag() -> bool:
    return True


def is_rank_zero() -> bool:
    return bool(_rank_zero_flag())


def _finite(values: dict) -> dict:
    return {
        key: (None if isinstance(value, float) and not math.isfinite(value) else value)
        for key, value in values.items()
    }
