"""The sweep aggregator on hand-written run folders and on a real tiny multirun."""

import csv
import json
import math
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from dreamr.cli.sweep import main as sweep_main
from dreamr.sweep import collect_sweep, format_sweep, pick_operating_point, write_sweep
from tests.conftest import REPO


def write_run(folder, alpha, summary, records):
    folder.mkdir(parents=True)
    OmegaConf.save(
        OmegaConf.create({"verifier": {"alpha": alpha}}), folder / "config_resolved.yaml"
    )
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def summary(accuracy, acceptance, speedup=None, wall=10.0):
    return {
        "problems": 2,
        "accuracy": accuracy,
        "acceptance_rate": acceptance,
        "speedup": speedup,
        "wall_time_s": wall,
        "verifier": "cpn",
        "scheduler": "sequential",
        "verifier_failures": 1,
    }


def test_rows_sorted_by_value_with_own_speedup(tmp_path):
    write_run(tmp_path / "0", 0.9, summary(1.0, 0.2, 1.1), [])
    write_run(tmp_path / "1", 0.5, summary(0.5, 0.8, 1.6), [])
    rows = collect_sweep(tmp_path)
    assert [row.value for row in rows] == [0.5, 0.9]
    assert [row.speedup for row in rows] == [1.6, 1.1]
    assert rows[0].acceptance_rate == 0.8
    table = format_sweep(rows)
    assert "| 1 | 0.5 | cpn | 2 | 0.500 |" in table
    assert table.splitlines()[0].count("|") == table.splitlines()[2].count("|")
    written = write_sweep(rows, tmp_path)
    assert all(path.exists() for path in written)
    with (tmp_path / "sweep.csv").open() as handle:
        assert [r["value"] for r in csv.DictReader(handle)] == ["0.5", "0.9"]


def test_external_baseline_uses_shared_problems(tmp_path):
    records = [
        {"id": "a", "wall_time_s": 4.0, "correct": True, "error": None},
        {"id": "b", "wall_time_s": 6.0, "correct": False, "error": None},
    ]
    write_run(tmp_path / "sweep" / "0", 0.7, summary(0.5, 0.5, wall=10.0), records)
    baseline = [
        {"id": "a", "wall_time_s": 12.0, "correct": True, "error": None},
        {"id": "b", "wall_time_s": 18.0, "correct": True, "error": None},
        {"id": "c", "wall_time_s": 99.0, "correct": True, "error": None},
    ]
    write_run(
        tmp_path / "baseline", None, {**summary(1.0, None), "scheduler": "target_only"}, baseline
    )
    (row,) = collect_sweep(tmp_path / "sweep", baseline_dir=tmp_path / "baseline")
    assert row.speedup == pytest.approx(30.0 / 10.0)
    assert row.baseline_wall_time_s == 30.0
    assert row.baseline_accuracy == 1.0

    # A sequential run made with compare_baseline=true: its nested target_only records count.
    nested = [{"id": r["id"], "wall_time_s": 1.0, "baseline": r} for r in baseline[:2]]
    write_run(tmp_path / "with_baseline", 0.7, summary(0.5, 0.5), nested)
    (row,) = collect_sweep(tmp_path / "sweep", baseline_dir=tmp_path / "with_baseline")
    assert row.speedup == pytest.approx(30.0 / 10.0)
    assert row.baseline_accuracy == 1.0


def test_operating_point_highest_acceptance_within_loss(tmp_path):
    # target_only solves 8 of 10; the runs lose 0, 1 and 3 problems at rising acceptance.
    for job, (alpha, accuracy, acceptance) in enumerate(
        [(0.9, 0.8, 0.2), (0.7, 0.7, 0.5), (0.5, 0.5, 0.9)]
    ):
        write_run(
            tmp_path / str(job),
            alpha,
            {**summary(accuracy, acceptance), "problems": 10, "baseline_accuracy": 0.8},
            [],
        )
    rows = collect_sweep(tmp_path)
    assert pick_operating_point(rows, max_lost=1).value == 0.7
    assert pick_operating_point(rows, max_lost=0).value == 0.9
    assert pick_operating_point(rows, max_lost=3).value == 0.5


def test_operating_point_needs_a_baseline(tmp_path):
    write_run(tmp_path / "0", 0.7, summary(0.5, 0.5), [])
    assert pick_operating_point(collect_sweep(tmp_path)) is None


def test_missing_runs_name_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        collect_sweep(tmp_path)


def test_tiny_multirun_aggregates(tmp_path):
    command = [
        sys.executable,
        "-m",
        "dreamr.cli.reason",
        "-m",
        "experiment=tiny",
        "data.limit=1",
        "compare_baseline=false",
        "verifier=likelihood",
        "verifier.alpha=-12,-11",
        f"hydra.sweep.dir={tmp_path}",
    ]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=300)
    sweep_main([str(tmp_path)])
    with (tmp_path / "sweep.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["value"]) for r in rows] == [-12.0, -11.0]
    assert all(r["verifier"] == "likelihood" for r in rows)
    assert all(0.0 <= float(r["acceptance_rate"]) <= 1.0 for r in rows)
    assert all(math.isnan(float(r["speedup"])) for r in rows)
    assert (tmp_path / "sweep.png").stat().st_size > 0
