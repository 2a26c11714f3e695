"""The main job end to end on tiny models: real Hydra composition, real Lightning Trainer."""

import json
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from dreamr.config import ConfigError
from dreamr.reason import run_reason
from tests.conftest import CONF, REPO

SUMMARY_KEYS = {
    "problems",
    "errors",
    "accuracy",
    "baseline_accuracy",
    "acceptance_rate",
    "wall_time_s",
    "baseline_wall_time_s",
    "speedup",
}


def tiny_config(output_dir, *overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "reason",
            overrides=["experiment=tiny", f"output_dir={output_dir}", "data.limit=2", *overrides],
        )
    return cfg


def read_results(output_dir):
    return [json.loads(line) for line in (output_dir / "results.jsonl").read_text().splitlines()]


def test_tiny_run_writes_results_summary_and_plot(tmp_path):
    summary = run_reason(tiny_config(tmp_path, "verifier.min_label_mass=0", "verifier.alpha=0.5"))
    records = read_results(tmp_path)
    assert [r["id"] for r in records] == ["gsm8k-0000", "gsm8k-0001"]
    for record in records:
        assert record["error"] is None
        assert record["baseline"]["scheduler"] == "target_only"
        assert record["steps"]
        assert {step["origin"] for step in record["steps"]} <= {"draft", "target"}
    written = json.loads((tmp_path / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(written)
    assert written["problems"] == 2
    proposals = sum(r["counters"]["proposals"] for r in records)
    accepted = sum(r["counters"]["accepted"] for r in records)
    assert summary["acceptance_rate"] == pytest.approx(accepted / proposals)
    expected_speedup = sum(r["baseline"]["wall_time_s"] for r in records) / sum(
        r["wall_time_s"] for r in records
    )
    assert summary["speedup"] == pytest.approx(expected_speedup, rel=1e-3)
    expected_cpu = sum(r["baseline"]["cpu_time_s"] for r in records) / sum(
        r["cpu_time_s"] for r in records
    )
    assert summary["cpu_speedup"] == pytest.approx(expected_cpu, rel=1e-3)
    assert (tmp_path / "run.png").stat().st_size > 0
    assert (tmp_path / "trace.jsonl").exists()
    assert OmegaConf.load(tmp_path / "config_resolved.yaml").data.limit == 2


def test_resume_skips_finished_problems(tmp_path):
    run_reason(tiny_config(tmp_path, "compare_baseline=false"))
    first = read_results(tmp_path)
    summary = run_reason(
        tiny_config(tmp_path, "compare_baseline=false", "resume=true", "data.limit=3")
    )
    records = read_results(tmp_path)
    assert [r["id"] for r in records] == ["gsm8k-0000", "gsm8k-0001", "gsm8k-0002"]
    assert records[:2] == first
    assert summary["problems"] == 3


def test_rerun_without_resume_refuses_to_overwrite(tmp_path):
    run_reason(tiny_config(tmp_path, "compare_baseline=false", "data.limit=1"))
    with pytest.raises(FileExistsError, match="resume=true"):
        run_reason(tiny_config(tmp_path, "compare_baseline=false", "data.limit=1"))


def test_bad_rows_and_failing_problems_are_recorded(tmp_path):
    problems = tmp_path / "problems.jsonl"
    problems.write_text(
        "\n".join(
            [
                json.dumps({"id": "ok", "question": "What is 2 + 3?", "answer": "5"}),
                "{broken json",
                json.dumps({"id": "empty", "question": ""}),
                json.dumps({"id": "img", "question": "What is shown?", "images": ["chart.png"]}),
                json.dumps({"id": "ok2", "question": "What is 4 + 4?", "answer": 8}),
            ]
        )
        + "\n"
    )
    out = tmp_path / "run"
    summary = run_reason(tiny_config(out, "data=jsonl", f"data.path={problems}", "data.limit=null"))
    records = read_results(out)
    assert [r["id"] for r in records] == ["ok", "img", "ok2"]
    assert records[1]["error"] is not None and "images" in records[1]["error"]
    assert records[2]["error"] is None
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert sorted(e["line"] for e in errors if e["kind"] == "data") == [2, 3]
    assert any(e["kind"] == "problem" and e["id"] == "img" for e in errors)
    assert summary["data_errors"] == 2
    assert summary["errors"] == 3


def test_invalid_values_are_listed_together(tmp_path):
    cfg = tiny_config(
        tmp_path, "verifier.alpha=1.5", "limits.max_step_tokens=0", "logger.mode=loud"
    )
    with pytest.raises(ConfigError) as error:
        run_reason(cfg)
    message = str(error.value)
    assert "verifier.alpha=1.5" in message
    assert "limits.max_step_tokens=0" in message
    assert "logger.mode='loud'" in message


def test_unknown_key_fails_at_composition(tmp_path):
    with pytest.raises(ConfigCompositionException, match="alfa"):
        tiny_config(tmp_path, "verifier.alfa=0.5")


def test_unknown_group_option_lists_choices(tmp_path):
    with pytest.raises(ConfigCompositionException, match="cpn"):
        tiny_config(tmp_path, "verifier=nope")


def test_wandb_offline_run_is_written(tmp_path):
    run_reason(
        tiny_config(tmp_path, "logger.mode=offline", "data.limit=1", "compare_baseline=false")
    )
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].glob("*.wandb"))


def test_cli_runs_and_rejects_unknown_key(tmp_path):
    command = [sys.executable, "-m", "dreamr.cli.reason", "experiment=tiny", "data.limit=1"]
    ok = subprocess.run(
        [*command, f"hydra.run.dir={tmp_path / 'cli'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert (tmp_path / "cli" / "summary.json").exists()
    assert "acceptance rate" in ok.stdout + ok.stderr
    bad = subprocess.run(
        [*command, "no_such_key=1", f"hydra.run.dir={tmp_path / 'bad'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2
    assert "Unknown config key 'no_such_key'" in bad.stderr
    assert "compare_baseline" in bad.stderr


def test_unknown_nested_key_lists_siblings(tmp_path):
    from dreamr.cli.overrides import OverrideError, check_overrides

    with pytest.raises(OverrideError) as error:
        check_overrides(CONF, "reason", ["experiment=tiny", "limits.max_step_tokenz=3"])
    assert "limits.max_step_tokenz" in str(error.value)
    assert "max_step_tokens" in str(error.value)


def test_known_and_added_keys_pass_the_check():
    from dreamr.cli.overrides import check_overrides

    check_overrides(
        CONF,
        "reason",
        ["experiment=tiny", "limits.max_step_tokens=3", "+extra=1", "hydra.run.dir=x"],
    )
