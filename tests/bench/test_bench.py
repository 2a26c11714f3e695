"""dreamr-bench on tiny models: the table, the chart and the speedup model."""

import json
import math
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

from dreamr.bench.job import run_bench, validate_bench_config
from dreamr.bench.speedup_model import SoloTimes, ideal_speedup
from tests.conftest import CONF, REPO

ROW_KEYS = {
    "scheduler",
    "accuracy",
    "acceptance_rate",
    "wall_time_s",
    "speedup",
    "ideal_speedup",
    "target_forward_passes",
    "draft_tokens",
    "target_tokens",
}


def bench_config(output_dir, *overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            "bench", overrides=["experiment=bench-tiny", f"output_dir={output_dir}", *overrides]
        )


def test_bench_writes_rows_chart_and_results(tmp_path):
    report = run_bench(
        bench_config(tmp_path, "timeline_ids=[gsm8k-0000]", "verifier.accept_rate=0.6")
    )
    written = json.loads((tmp_path / "bench.json").read_text())
    assert written["rows"] == report["rows"]
    rows = {row["scheduler"]: row for row in written["rows"]}
    assert list(rows) == ["target_only", "sequential", "lookahead", "fpsr"]
    for row in rows.values():
        assert ROW_KEYS <= set(row)
        assert row["problems"] == 2
        assert row["errors"] == 0
    assert rows["target_only"]["speedup"] == pytest.approx(1.0)
    assert rows["target_only"]["ideal_speedup"] == pytest.approx(1.0)
    assert rows["target_only"]["draft_tokens"] == 0
    # The rate verifier's verdicts depend only on the prefix and the proposal, so every
    # speculative scheduler commits the same steps and sees the same acceptance.
    acceptance = {rows[name]["acceptance_rate"] for name in ("sequential", "lookahead", "fpsr")}
    assert len(acceptance) == 1
    results = [
        json.loads(line) for line in (tmp_path / "bench_results.jsonl").read_text().splitlines()
    ]
    assert len(results) == 8
    texts = {}
    for record in results:
        texts.setdefault(record["id"], {})[record["row"]] = [
            step["text"] for step in record["steps"]
        ]
    for by_row in texts.values():
        assert by_row["sequential"] == by_row["lookahead"] == by_row["fpsr"]
    assert (tmp_path / "bench.png").stat().st_size > 0
    assert (tmp_path / "timelines" / "gsm8k-0000.fpsr.png").stat().st_size > 0
    setup = written["setup"]
    assert setup["problems"] == ["gsm8k-0000", "gsm8k-0001"]
    assert setup["placement"]["fpsr"]["mode"] in ("serial", "threads")
    assert setup["solo_times_s"]["plain"]["target_step_s"] > 0


def test_fixed_step_tokens_make_equal_steps(tmp_path):
    run_bench(
        bench_config(tmp_path, "fixed_step_tokens=5", "run=[target_only,fpsr]", "data.limit=1")
    )
    results = [
        json.loads(line) for line in (tmp_path / "bench_results.jsonl").read_text().splitlines()
    ]
    for record in results:
        assert [step["num_tokens"] for step in record["steps"]] == [5] * 8


def test_invalid_bench_settings_are_listed(tmp_path):
    cfg = bench_config(
        tmp_path, "run=[sequential,nope]", "fixed_step_tokens=0", "token_speculation=[]"
    )
    with pytest.raises(ValueError) as error:
        validate_bench_config(cfg)
    message = str(error.value)
    assert "'nope'" in message
    assert "target_only is missing" in message
    assert "fixed_step_tokens=0" in message
    assert "token_speculation" in message


def test_speedup_model_by_hand():
    times = SoloTimes(target_step_s=8.0, draft_step_s=3.0, check_s=1.0)
    assert ideal_speedup("target_only", times, 0.5) == 1.0
    assert ideal_speedup("sequential", times, 0.75) == pytest.approx(8.0 / (3.0 + 1.0 + 2.0))
    assert ideal_speedup("fpsr", times, 0.75) == pytest.approx(8.0 / (3.0 + 2.0))
    # Window 2 at a = 0.5: 1.5 steps per window for 2 drafts, 1.5 checks, 0.75 fallbacks.
    assert ideal_speedup("lookahead", times, 0.5, window=2) == pytest.approx(
        1.5 * 8.0 / (6.0 + 1.5 + 6.0)
    )
    assert ideal_speedup("lookahead", times, 1.0, window=4) == pytest.approx(8.0 / (3.0 + 1.0))
    assert math.isnan(ideal_speedup("fpsr", times, math.nan))


def test_cli_runs(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dreamr.cli.bench",
            "experiment=bench-tiny",
            "data.limit=1",
            "run=[target_only,sequential]",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "bench.json").exists()
    assert "speedup" in done.stdout + done.stderr


def test_token_speculation_rows_both_ways(tmp_path):
    report = run_bench(
        bench_config(
            tmp_path,
            "token_speculation=[false,true]",
            "run=[target_only,sequential,fpsr]",
            "data.limit=1",
        )
    )
    rows = {row["scheduler"]: row for row in report["rows"]}
    assert list(rows) == [
        "target_only",
        "sequential",
        "fpsr",
        "target_only+tls",
        "sequential+tls",
        "fpsr+tls",
    ]
    assert rows["target_only+tls"]["speedup_vs_assisted_target_only"] == pytest.approx(1.0)
    assert rows["target_only+tls"]["token_speculation"] is True
    # target_only reads no draft counters, so the assistant's tokens are not in its row.
    assert rows["target_only+tls"]["draft_tokens"] == 0
    assert set(report["setup"]["solo_times_s"]) == {"plain", "token_speculation"}
