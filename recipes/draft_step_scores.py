"""Score the steps of finished draft trajectories with likelihood verifiers on the target.

    .venv/bin/python recipes/draft_step_scores.py RUN_DIR [OUT_JSONL]

RUN_DIR is a ``dreamr-reason`` run whose steps are mostly the draft's, for example one made
with ``verifier=always_accept``. Each step of each finished problem is scored in its solution
context, as the verifier would score it during the run, in the three likelihood modes. The
output has one line per step with the problem's final correctness, and the log prints, per
mode, the lowest step score of trajectories that reached the right answer and of those that
did not. Steps carry no labels of their own here, so a wrong answer only says that some step
of its trajectory went wrong.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
from pathlib import Path

from omegaconf import OmegaConf

from dreamr.models.loading import build_backend
from dreamr.types import Problem
from dreamr.verify.base import VerifyRequest
from dreamr.verify.likelihood import MODES, LikelihoodVerifier

logger = logging.getLogger("draft_step_scores")


def main(run_dir: Path, out_path: Path) -> None:
    from hydra.utils import instantiate

    cfg = OmegaConf.load(run_dir / "config_resolved.yaml")
    target = build_backend(instantiate(cfg.model.target), dict(cfg.sampling), cfg.dtype)
    verifiers = {
        mode: LikelihoodVerifier(alpha=-100.0, mode=mode, prompt=cfg.prompt) for mode in MODES
    }
    for verifier in verifiers.values():
        verifier.bind(target)

    lowest: dict[str, dict[bool, list[float]]] = {mode: {True: [], False: []} for mode in MODES}
    with out_path.open("w", encoding="utf-8") as handle:
        for line in (run_dir / "results.jsonl").read_text().splitlines():
            record = json.loads(line)
            if record.get("error") or not record.get("steps"):
                continue
            problem = Problem(record["id"], record["question"], record.get("gold"))
            texts = [step["text"] for step in record["steps"]]
            requests = [
                VerifyRequest(problem, tuple(texts[:i]), texts[i]) for i in range(len(texts))
            ]
            scores = {
                mode: [v.score for v in verifier.verify_many(requests)]
                for mode, verifier in verifiers.items()
            }
            correct = bool(record["correct"])
            for mode in MODES:
                lowest[mode][correct].append(min(scores[mode]))
            for index, step in enumerate(record["steps"]):
                row = {
                    "id": record["id"],
                    "step_index": index,
                    "origin": step["origin"],
                    "problem_correct": correct,
                    "text": step["text"],
                    **{mode: scores[mode][index] for mode in MODES},
                }
                handle.write(json.dumps(row) + "\n")
            logger.info(
                "%s correct=%s lowest %s",
                record["id"],
                correct,
                {mode: round(min(scores[mode]), 3) for mode in MODES},
            )

    for mode in MODES:
        for correct in (True, False):
            values = lowest[mode][correct]
            if values:
                logger.info(
                    "%-11s answer %-5s trajectories %2d: lowest step score median %.3f, range %.3f .. %.3f",
                    mode,
                    "right" if correct else "wrong",
                    len(values),
                    statistics.median(values),
                    min(values),
                    max(values),
                )


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    source = Path(sys.argv[1])
    main(source, Path(sys.argv[2]) if len(sys.argv) > 2 else source / "draft_step_scores.jsonl")
