"""The bench job: every scheduler on the same problems, models and limits, in one process run.

``run_bench(cfg)`` is what ``dreamr-bench`` calls after Hydra composed ``conf/bench.yaml``:

1. Load the problems, the draft and target backends (on the configured devices) and the
   verifier, once, for every scheduler.
2. Warm both models up, then let each scheduler prepare (FPSR decides its placement).
3. For each problem, run each scheduler in the configured order, once per token-speculation
   setting, and append the outcome to ``bench_results.jsonl``.
4. Aggregate a row per scheduler and setting, compute the speedup limits from the solo
   step and check times of the same run, and write ``bench.json`` and ``bench.png``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from dreamr.bench.report import format_rows, plot_bench
from dreamr.bench.speedup_model import SoloTimes, ideal_speedup, solo_times
from dreamr.engine.base import ReasoningContext, Scheduler
from dreamr.engine.timeline import TIMELINE_DIR, plot_timeline
from dreamr.models.backend import SamplingConfig, TransformersBackend
from dreamr.models.loading import build_backend
from dreamr.prompts import SolvePrompt
from dreamr.results import JsonlAppender, RunOutcome
from dreamr.steps import StepLimits, answers_match, extract_boxed
from dreamr.types import Problem, TraceEvent

logger = logging.getLogger(__name__)

BENCH_FILE = "bench.json"
RESULTS_FILE = "bench_results.jsonl"
CHART_FILE = "bench.png"
KNOWN_SCHEDULERS = ("target_only", "sequential", "lookahead", "fpsr")
TOKEN_SPECULATION_SUFFIX = "+tls"


@dataclass
class BenchRow:
    """One scheduler (and token-speculation setting) over all problems of the bench."""

    scheduler: str
    accuracy: float
    acceptance_rate: float
    wall_time_s: float
    speedup: float  # target_only (plain decoding) wall time / this row's, same problems
    ideal_speedup: float  # the limit from solo times and this row's acceptance (speedup_model)
    target_forward_passes: int
    draft_tokens: int
    target_tokens: int
    problems: int
    errors: int
    token_speculation: bool
    # Wall time of target_only with token-level speculation / this row's; NaN when not run.
    speedup_vs_assisted_target_only: float = math.nan

    def to_json(self) -> dict[str, Any]:
        return {key: _finite_or_none(value) for key, value in self.__dict__.items()}


@dataclass
class _Run:
    """One scheduler under one token-speculation setting, with its tallies."""

    name: str
    kind: str
    scheduler: Scheduler
    context: ReasoningContext
    token_speculation: bool
    outcomes: dict[str, RunOutcome] = field(default_factory=dict)

    def traces(self) -> list[list[TraceEvent]]:
        return [o.trajectory.trace for o in self.outcomes.values() if o.trajectory is not None]


def validate_bench_config(cfg: DictConfig) -> None:
    """Raise ``ValueError`` listing every invalid value of a ``dreamr-bench`` config."""
    problems = []
    run = list(cfg.get("run") or [])
    if not run:
        problems.append(
            "run=[]: expected a list of schedulers, e.g. [target_only, sequential, lookahead, fpsr]"
        )
    for name in run:
        if name not in (cfg.get("schedulers") or {}):
            problems.append(
                f"run: '{name}' has no entry under schedulers (known: {list(cfg.schedulers or {})})"
            )
        elif name not in KNOWN_SCHEDULERS:
            problems.append(
                f"run: no speedup model for '{name}'; expected some of {list(KNOWN_SCHEDULERS)}"
            )
    if "target_only" not in run:
        problems.append("run: target_only is missing, and every speedup is measured against it")
    settings = list(cfg.get("token_speculation") or [])
    if not settings or not all(isinstance(flag, bool) for flag in settings):
        problems.append(f"token_speculation={settings!r}: expected a non-empty list of true/false")
    fixed = cfg.get("fixed_step_tokens")
    if fixed is not None and (not isinstance(fixed, int) or fixed < 1):
        problems.append(f"fixed_step_tokens={fixed!r}: expected null or an integer >= 1")
    assistant_tokens = cfg.get("num_assistant_tokens")
    if not isinstance(assistant_tokens, int) or assistant_tokens < 1:
        problems.append(f"num_assistant_tokens={assistant_tokens!r}: expected an integer >= 1")
    if problems:
        raise ValueError("Invalid bench configuration:\n  - " + "\n  - ".join(problems))


def build_models(cfg: DictConfig) -> tuple[TransformersBackend, TransformersBackend]:
    """Load the target and draft backends and move each to its configured device."""
    sampling = SamplingConfig(**OmegaConf.to_container(cfg.sampling))
    cache_dir = cfg.get("model_cache_dir")
    target = build_backend(instantiate(cfg.model.target), sampling, cfg.dtype, cache_dir)
    draft = build_backend(instantiate(cfg.model.draft), sampling, cfg.dtype, cache_dir)
    for backend, device in ((target, cfg.devices.target), (draft, cfg.devices.draft)):
        backend.model.to(torch.device(device))
        if cfg.get("fixed_step_tokens"):
            # Random-weight models must not end a step early: only the length limit ends it.
            backend.eos_token_ids = frozenset({-1})
    return target, draft


def bench_limits(cfg: DictConfig) -> StepLimits:
    limits = StepLimits(**OmegaConf.to_container(cfg.limits))
    fixed = cfg.get("fixed_step_tokens")
    if fixed:
        # "\x00" never appears in generated text, so every step is exactly `fixed` tokens long.
        limits = replace(limits, delimiter="\x00", answer_marker=None, max_step_tokens=fixed)
    return limits


def run_bench(cfg: DictConfig) -> dict[str, Any]:
    """Run the bench described by ``cfg``; return and write ``bench.json``."""
    validate_bench_config(cfg)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    torch.manual_seed(cfg.seed)
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    # Step 1: problems, models and the verifier, shared by every run.
    loaded = instantiate(cfg.data).load()
    problems = loaded.problems
    target, draft = build_models(cfg)
    verifier = instantiate(cfg.verifier)
    verifier.bind(target)
    limits = bench_limits(cfg)
    prompt = SolvePrompt(**OmegaConf.to_container(cfg.prompt))
    runs = _make_runs(cfg, target, draft, verifier, limits, prompt)

    # Step 2: warm-up and placement.
    _warm_up(target, draft)
    for run in runs:
        run.scheduler.prepare(run.context)

    # Step 3: every run on every problem, interleaved so drift in machine speed hits all alike.
    results = JsonlAppender(output_dir / RESULTS_FILE)
    timeline_ids = set(cfg.get("timeline_ids") or [])
    for problem in tqdm(problems, desc="bench", unit="problem"):
        for run in runs:
            outcome = _timed_run(run, problem)
            run.outcomes[problem.id] = outcome
            results.append(
                {
                    "id": problem.id,
                    "gold": problem.answer,
                    "row": run.name,
                    **outcome.to_json(with_steps=True),
                }
            )
            if problem.id in timeline_ids and outcome.trajectory is not None:
                path = output_dir / TIMELINE_DIR / f"{problem.id}.{run.name}.png"
                plot_timeline(outcome.trajectory.trace, path, f"{problem.id}: {run.name}")

    # Step 4: rows, limits, files.
    rows, times = _aggregate(runs)
    report = {
        "rows": [row.to_json() for row in rows],
        "setup": _setup(cfg, problems, runs, times, verifier.name),
    }
    (output_dir / BENCH_FILE).write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    OmegaConf.save(cfg, output_dir / "config_resolved.yaml", resolve=True)
    plot_bench(
        rows, output_dir / CHART_FILE, title=f"{len(problems)} problems, {verifier.name} verifier"
    )
    logger.info("\n%s\nresults: %s", format_rows(rows), output_dir)
    return report


def _make_runs(cfg, target, draft, verifier, limits, prompt) -> list[_Run]:
    runs = []
    for token_speculation in cfg.token_speculation:
        step_writer = target
        if token_speculation:
            from dreamr.models.assisted import AssistedBackend

            step_writer = AssistedBackend(
                target, draft, num_assistant_tokens=cfg.num_assistant_tokens
            )
        context = ReasoningContext(
            target=step_writer, limits=limits, prompt=prompt, draft=draft, verifier=verifier
        )
        for kind in cfg.run:
            name = kind + (TOKEN_SPECULATION_SUFFIX if token_speculation else "")
            runs.append(
                _Run(name, kind, instantiate(cfg.schedulers[kind]), context, token_speculation)
            )
    return runs


def _warm_up(target, draft) -> None:
    limits = StepLimits(delimiter="\x00", answer_marker=None, max_step_tokens=4)
    for backend in (target, draft):
        session = backend.start_raw("Warm-up: 1 + 1 =", label="warm-up")
        backend.generate_step(session, limits, 4)


def _timed_run(run: _Run, problem: Problem) -> RunOutcome:
    start = time.perf_counter()
    try:
        trajectory = run.scheduler.run(problem, run.context)
    except Exception as error:  # one failing run must not end the bench
        elapsed = time.perf_counter() - start
        logger.error("Problem %s failed under %s: %s", problem.id, run.name, error)
        logger.debug("%s", traceback.format_exc())
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        return RunOutcome(run.name, None, None, False, elapsed, error=detail)
    elapsed = time.perf_counter() - start
    answer = extract_boxed(trajectory.text)
    return RunOutcome(run.name, trajectory, answer, answers_match(answer, problem.answer), elapsed)


def _aggregate(runs: list[_Run]) -> tuple[list[BenchRow], dict[bool, SoloTimes]]:
    baselines = {run.token_speculation: run for run in runs if run.kind == "target_only"}
    plain = baselines.get(False)
    times: dict[bool, SoloTimes] = {}
    for setting, baseline in baselines.items():
        sequential = next(
            (r for r in runs if r.kind == "sequential" and r.token_speculation == setting), None
        )
        times[setting] = solo_times(baseline.traces(), sequential.traces() if sequential else [])
    plain_step_s = times[False].target_step_s if False in times else math.nan

    rows = []
    for run in runs:
        outcomes = list(run.outcomes.values())
        finished = [o for o in outcomes if o.trajectory is not None]
        proposals = sum(o.trajectory.counters.proposals for o in finished)
        accepted = sum(o.trajectory.counters.accepted for o in finished)
        acceptance = accepted / proposals if proposals else math.nan
        setting_times = times.get(run.token_speculation)
        ideal = math.nan
        if setting_times is not None:
            window = getattr(run.scheduler, "window", 1)
            # Limits are against plain target decoding, like the measured speedup.
            ideal = ideal_speedup(run.kind, setting_times, acceptance, window)
            ideal *= plain_step_s / setting_times.target_step_s if run.token_speculation else 1.0
        rows.append(
            BenchRow(
                scheduler=run.name,
                accuracy=sum(o.correct for o in outcomes) / len(outcomes) if outcomes else math.nan,
                acceptance_rate=acceptance,
                wall_time_s=sum(o.wall_time_s for o in outcomes),
                speedup=_paired_speedup(plain, run),
                ideal_speedup=ideal,
                target_forward_passes=sum(
                    o.trajectory.counters.target_forward_passes for o in finished
                ),
                draft_tokens=sum(o.trajectory.counters.draft_tokens for o in finished),
                target_tokens=sum(o.trajectory.counters.target_tokens for o in finished),
                problems=len(outcomes),
                errors=len(outcomes) - len(finished),
                token_speculation=run.token_speculation,
                speedup_vs_assisted_target_only=_paired_speedup(baselines.get(True), run),
            )
        )
    return rows, times


def _paired_speedup(baseline: _Run | None, run: _Run) -> float:
    """Baseline wall time / run wall time over the problems both finished."""
    if baseline is None:
        return math.nan
    both = [
        problem_id
        for problem_id, outcome in run.outcomes.items()
        if outcome.error is None
        and baseline.outcomes.get(problem_id) is not None
        and baseline.outcomes[problem_id].error is None
    ]
    run_s = sum(run.outcomes[problem_id].wall_time_s for problem_id in both)
    baseline_s = sum(baseline.outcomes[problem_id].wall_time_s for problem_id in both)
    return baseline_s / run_s if run_s > 0 else math.nan


def _setup(cfg, problems, runs, times, verifier_name) -> dict[str, Any]:
    placements = {
        run.name: {"mode": run.scheduler.plan.mode.value, "reason": run.scheduler.plan.reason}
        for run in runs
        if getattr(run.scheduler, "plan", None) is not None
    }
    device = "cpu"
    if torch.cuda.is_available():
        device = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return {
        "command": " ".join(sys.argv),
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "accelerators": device,
            "torch": torch.__version__,
        },
        "problems": [problem.id for problem in problems],
        "draft": cfg.model.draft.get("name"),
        "target": cfg.model.target.get("name"),
        "verifier": verifier_name,
        "limits": OmegaConf.to_container(cfg.limits),
        "fixed_step_tokens": cfg.get("fixed_step_tokens"),
        "solo_times_s": {
            ("token_speculation" if key else "plain"): {
                name: _finite_or_none(seconds) for name, seconds in value.to_json().items()
            }
            for key, value in times.items()
        },
        "placement": placements,
    }


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
