"""dreamr-calibrate end to end on the tiny target, and dreamr-reason using its threshold."""

import json
import math

import pytest
from hydra import compose, initialize_config_dir

from dreamr.calibration.job import run_calibrate
from dreamr.config import ConfigError
from dreamr.reason import run_reason
from tests.conftest import CONF


def compose_config(name, *overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(name, overrides=["experiment=tiny", *overrides])


def test_calibrate_then_reason_with_auto_alpha(tmp_path):
    save_dir = tmp_path / "saved"
    cfg = compose_config(
        "calibrate",
        "verifier=likelihood",
        f"output_dir={tmp_path / 'calibrate'}",
        "calibration.gsm8k_problems=1",
        "calibration.champ_solutions=1",
        "calibration.champ_max_positives=1",
        # A random tiny model separates nothing; a low goal still yields a threshold.
        "calibration.precision=0.05",
        f"calibration.save_dir={save_dir}",
    )
    result = run_calibrate(cfg)

    run_dir = tmp_path / "calibrate"
    scores = [json.loads(line) for line in (run_dir / "scores.jsonl").read_text().splitlines()]
    assert len(scores) == result.saved.examples
    assert {row["source"] for row in scores} == {"gsm8k", "champ"}
    assert all(math.isfinite(row["verdict"]["score"]) for row in scores)
    saved = json.loads((save_dir / "likelihood.json").read_text())
    assert saved["verifier"] == "likelihood"
    assert saved["target"] == "tiny-target"
    assert saved["threshold"] == result.chosen.threshold
    assert 0.0 <= saved["roc_auc"] <= 1.0
    assert (run_dir / "calibration.png").stat().st_size > 0
    assert (run_dir / "thresholds.csv").read_text().startswith("threshold,accepted,precision")

    reason = compose_config(
        "reason",
        "verifier=likelihood",
        "verifier.alpha=auto",
        f"verifier.calibration={save_dir / 'likelihood.json'}",
        f"output_dir={tmp_path / 'reason'}",
        "data.limit=1",
        "compare_baseline=false",
    )
    summary = run_reason(reason)
    assert summary["problems"] == 1
    resolved = (tmp_path / "reason" / "results.jsonl").read_text()
    steps = json.loads(resolved)["steps"]
    for step in steps:
        accepted = step["origin"] == "draft"
        assert accepted == (step["score"] > saved["threshold"])


@pytest.mark.parametrize(
    "override, path",
    [
        ("calibration.precision=1.5", "calibration.precision"),
        ("calibration.batch_size=0", "calibration.batch_size"),
        ("calibration.gsm8k_problems=-1", "calibration.gsm8k_problems"),
        ("calibration.min_accepted=0", "calibration.min_accepted"),
    ],
)
def test_invalid_calibration_values_name_path(tmp_path, override, path):
    cfg = compose_config("calibrate", f"output_dir={tmp_path}", override)
    with pytest.raises(ConfigError, match=path):
        run_calibrate(cfg)


def test_hybrid_calibration_scores_its_parts(tmp_path):
    common = [
        "calibration.gsm8k_problems=1",
        "calibration.champ_solutions=0",
        "calibration.precision=0.05",
        f"calibration.save_dir={tmp_path / 'saved'}",
    ]
    hybrid = run_calibrate(
        compose_config(
            "calibrate",
            "verifier=hybrid",
            "verifier.mode=sum",
            "verifier.cpn.min_label_mass=0",
            f"output_dir={tmp_path / 'hybrid'}",
            *common,
        )
    )
    alone = run_calibrate(
        compose_config(
            "calibrate", "verifier=likelihood", f"output_dir={tmp_path / 'likelihood'}", *common
        )
    )
    hybrid_rows = [
        json.loads(line) for line in (tmp_path / "hybrid" / "scores.jsonl").read_text().splitlines()
    ]
    alone_rows = [
        json.loads(line)
        for line in (tmp_path / "likelihood" / "scores.jsonl").read_text().splitlines()
    ]
    assert len(hybrid_rows) == len(alone_rows)
    for with_parts, single in zip(hybrid_rows, alone_rows, strict=True):
        assert with_parts["parts"]["likelihood"]["score"] == pytest.approx(
            single["verdict"]["score"], abs=1e-5
        )
        assert 0.0 <= with_parts["parts"]["cpn"]["score"] <= 1.0
    parts = hybrid.saved.extra["parts"]
    assert set(parts) == {"cpn", "likelihood"}
    assert parts["likelihood"]["roc_auc"] == pytest.approx(alone.saved.roc_auc)
    assert {path.name for path in (tmp_path / "saved").iterdir()} == {
        "hybrid.json",
        "cpn.json",
        "likelihood.json",
    }
    assert (tmp_path / "hybrid" / "part-cpn" / "calibration.png").exists()
