"""The ``dreamr-calibrate`` job: score a labelled step set with a verifier, pick its threshold.

Outputs in the run directory:

- ``scores.jsonl``: one line per labelled step with its label, score, verdict and reason;
- ``thresholds.csv``: precision, recall and acceptance for every threshold;
- ``calibration.json``: ROC-AUC (overall and per source), the threshold with the highest
  acceptance whose precision reaches ``calibration.precision``, and what it depends on;
- ``calibration.png``: the per-threshold curves and the ROC curve.

``calibration.json`` is also copied to ``<calibration.save_dir>/<verifier>.json``, where
``verifier.alpha=auto`` finds it. A composite verifier (``hybrid``) also scores its parts on
the same steps: each part gets the same outputs in ``part-<name>/`` and its own saved
calibration, so one run compares the hybrid with CPN and likelihood alone.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from dreamr.calibration.curves import Curves, ThresholdRow, choose_threshold, compute_curves
from dreamr.calibration.labels import (
    LabelledStep,
    champ_examples,
    gsm8k_examples,
    load_gsm8k_problems,
)
from dreamr.calibration.plot import plot_calibration
from dreamr.calibration.saved import SavedCalibration
from dreamr.config import ConfigError
from dreamr.models.backend import SamplingConfig
from dreamr.models.loading import build_backend
from dreamr.types import Verdict
from dreamr.verify.base import Verifier

logger = logging.getLogger(__name__)


@dataclass
class CalibrationResult:
    """The measurements of one calibration run and the folder it wrote them to."""

    saved: SavedCalibration
    curves: Curves
    chosen: ThresholdRow | None
    output_dir: Path


def validate_calibrate_config(cfg: DictConfig) -> None:
    """Raise ``ConfigError`` listing every invalid ``calibration.*`` value."""
    problems = []
    section = cfg.get("calibration")
    if section is None:
        raise ConfigError(
            "Invalid configuration:\n  - calibration=None: expected the calibration block"
        )

    def is_count(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    for key in ("gsm8k_problems", "gsm8k_offset", "champ_solutions", "champ_max_positives", "seed"):
        if not is_count(section.get(key)):
            problems.append(f"calibration.{key}={section.get(key)!r}: expected an integer >= 0")
    min_accepted = section.get("min_accepted", 1)
    if not is_count(min_accepted) or min_accepted < 1:
        problems.append(f"calibration.min_accepted={min_accepted!r}: expected an integer >= 1")
    batch_size = section.get("batch_size")
    if not is_count(batch_size) or batch_size < 1:
        problems.append(f"calibration.batch_size={batch_size!r}: expected an integer >= 1")
    precision = section.get("precision")
    if (
        isinstance(precision, bool)
        or not isinstance(precision, (int, float))
        or not 0 < precision <= 1
    ):
        problems.append(f"calibration.precision={precision!r}: expected a number in (0, 1]")
    if not problems and section.gsm8k_problems + section.champ_solutions == 0:
        problems.append(
            "calibration.gsm8k_problems=0 and calibration.champ_solutions=0: expected at least one source"
        )
    if cfg.get("verifier") is None:
        problems.append("verifier=None: expected a verifier to calibrate")
    if problems:
        raise ConfigError("Invalid configuration:\n  - " + "\n  - ".join(problems))


def build_examples(section: DictConfig) -> list[LabelledStep]:
    """Build the labelled step set that ``calibration.*`` describes, GSM8K first, then CHAMP."""
    examples: list[LabelledStep] = []
    if section.gsm8k_problems:
        problems = load_gsm8k_problems(section.gsm8k_problems, section.gsm8k_offset)
        examples += gsm8k_examples(problems, seed=section.seed)
    if section.champ_solutions:
        examples += champ_examples(section.champ_solutions, section.champ_max_positives)
    return examples


def score_examples(
    verifier: Verifier, examples: list[LabelledStep], batch_size: int
) -> list[Verdict]:
    """Judge every example, one problem at a time so each problem's prefix is cached once."""
    verdicts: list[Verdict] = []
    groups = [list(group) for _, group in groupby(examples, key=lambda e: e.request.problem.id)]
    with tqdm(total=len(examples), desc=f"calibrating {verifier.name}", unit="step") as bar:
        for group in groups:
            verdicts += verifier.verify_many([example.request for example in group], batch_size)
            bar.update(len(group))
    return verdicts


def run_calibrate(cfg: DictConfig) -> CalibrationResult:
    """Run the job that ``cfg`` (``conf/calibrate.yaml``) describes and return its result."""
    validate_calibrate_config(cfg)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    section = cfg.calibration
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    # Step 1: the labelled set and the verifier bound to the target.
    examples = build_examples(section)
    logger.info(
        "%d labelled steps: %d correct, %d wrong",
        len(examples),
        sum(e.label for e in examples),
        sum(not e.label for e in examples),
    )
    sampling = SamplingConfig(**OmegaConf.to_container(cfg.sampling))
    target = build_backend(
        instantiate(cfg.model.target), sampling, cfg.dtype, cfg.get("model_cache_dir")
    )
    verifier: Verifier = instantiate(cfg.verifier)
    verifier.bind(target)

    # Step 2: score every step; a composite verifier's parts keep their verdicts too.
    parts = verifier.parts()
    for part in parts.values():
        part.stats.history = []
    start = time.perf_counter()
    verdicts = score_examples(verifier, examples, section.batch_size)
    elapsed = time.perf_counter() - start
    part_verdicts = {name: part.stats.history or [] for name, part in parts.items()}
    for name, recorded in part_verdicts.items():
        if len(recorded) != len(examples):
            raise RuntimeError(
                f"part '{name}' recorded {len(recorded)} verdicts for {len(examples)} steps"
            )
    with (output_dir / "scores.jsonl").open("w", encoding="utf-8") as handle:
        for index, (example, verdict) in enumerate(zip(examples, verdicts, strict=True)):
            record = {**example.to_json(), "verdict": verdict.to_json()}
            if parts:
                record["parts"] = {
                    name: recorded[index].to_json() for name, recorded in part_verdicts.items()
                }
            handle.write(json.dumps(record) + "\n")

    # Step 3: curves, the chosen threshold and the saved calibration, for the verifier and
    # for each of its parts on the same steps.
    context = {"target": target.name, "elapsed": elapsed, "section": section}
    result = summarize(verifier, verdicts, examples, context, output_dir)
    part_results = {
        name: summarize(part, part_verdicts[name], examples, context, output_dir / f"part-{name}")
        for name, part in parts.items()
    }
    if part_results:
        result.saved.extra["parts"] = {
            name: {
                "roc_auc": part.saved.roc_auc,
                "roc_auc_by_source": part.saved.extra["roc_auc_by_source"],
                "threshold": part.saved.threshold,
                "chosen": part.saved.extra["chosen"],
            }
            for name, part in part_results.items()
        }
        result.saved.save(output_dir / "calibration.json")
    if section.get("save_dir"):
        for name, item in {verifier.name: result, **part_results}.items():
            item.saved.save(Path(section.save_dir) / f"{name}.json")
    OmegaConf.save(cfg, output_dir / "config_resolved.yaml", resolve=True)
    for item in [result, *part_results.values()]:
        logger.info(
            "\n%s\nresults: %s", format_calibration(item.saved, item.chosen), item.output_dir
        )
    return result


def summarize(
    verifier: Verifier,
    verdicts: list[Verdict],
    examples: list[LabelledStep],
    context: dict,
    output_dir: Path,
) -> CalibrationResult:
    """Compute curves and the chosen threshold; write calibration.json, the table and the plot."""
    output_dir.mkdir(parents=True, exist_ok=True)
    section = context["section"]
    scores = [verdict.score for verdict in verdicts]
    labels = [example.label for example in examples]
    bounds = type(verifier).alpha_bounds
    curves = compute_curves(scores, labels, lowest_threshold=None if bounds is None else bounds[0])
    chosen = choose_threshold(curves.rows, section.precision, section.get("min_accepted", 1))
    per_source = {}
    for source in sorted({example.source for example in examples}):
        picked = [i for i, example in enumerate(examples) if example.source == source]
        per_source[source] = compute_curves(
            [scores[i] for i in picked], [labels[i] for i in picked]
        ).roc_auc
    saved = SavedCalibration(
        verifier=verifier.name,
        settings=verifier.calibration_settings(),
        target=context["target"],
        threshold=None if chosen is None else chosen.threshold,
        precision_goal=float(section.precision),
        roc_auc=curves.roc_auc,
        examples=len(examples),
        extra={
            "roc_auc_by_source": {k: (None if math.isnan(v) else v) for k, v in per_source.items()},
            "positives": curves.positives,
            "negatives": curves.negatives,
            "unscored": curves.unscored,
            "verifier_failures": sum(verdict.reason != verifier.name for verdict in verdicts),
            "chosen": None if chosen is None else chosen.__dict__,
            "scoring_time_s": round(context["elapsed"], 2),
            "data": OmegaConf.to_container(section, resolve=True),
        },
    )
    saved.save(output_dir / "calibration.json")
    write_threshold_table(curves.rows, output_dir / "thresholds.csv")
    plot_calibration(curves, chosen, verifier.name, output_dir / "calibration.png")
    return CalibrationResult(saved, curves, chosen, output_dir)


def write_threshold_table(rows: list[ThresholdRow], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["threshold", "accepted", "precision", "recall", "acceptance"])
        for row in rows:
            writer.writerow(
                [row.threshold, row.accepted, row.precision, row.recall, row.acceptance]
            )


def format_calibration(saved: SavedCalibration, chosen: ThresholdRow | None) -> str:
    """Render the result as an aligned two-column table."""
    lines = [
        f"dreamr-calibrate summary ({saved.verifier} on {saved.target})",
        f"  labelled steps        {saved.examples} ({saved.extra['positives']} correct, {saved.extra['negatives']} wrong)",
        f"  ROC-AUC               {saved.roc_auc:.3f}",
    ]
    for source, value in saved.extra["roc_auc_by_source"].items():
        lines.append(f"  ROC-AUC ({source:<5})       {'n/a' if value is None else f'{value:.3f}'}")
    lines.append(f"  verifier failures     {saved.extra['verifier_failures']}")
    if chosen is None:
        lines.append(f"  threshold             none reaches precision {saved.precision_goal:.2f}")
    else:
        lines += [
            f"  threshold             {chosen.threshold:.4f} (precision goal {saved.precision_goal:.2f})",
            f"  precision             {chosen.precision:.3f}",
            f"  recall                {chosen.recall:.3f}",
            f"  acceptance            {chosen.acceptance:.3f}",
        ]
    return "\n".join(lines)
