"""``verifier.alpha``: per-verifier validation at start and ``auto`` from a saved calibration."""

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from dreamr.calibration.saved import SavedCalibration
from dreamr.config import ConfigError, validate_reason_config
from tests.conftest import CONF


def compose_reason(*overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            "reason", overrides=["experiment=tiny", "output_dir=/tmp/unused", *overrides]
        )


@pytest.mark.parametrize(
    "verifier, alpha",
    [
        ("cpn", "0.9"),
        ("cpn", "auto"),
        ("likelihood", "-2.0"),
        ("hybrid", "0.5"),
        ("score", "7.5"),
        ("likelihood", "auto"),
    ],
)
def test_valid_alpha_passes(verifier, alpha):
    validate_reason_config(compose_reason(f"verifier={verifier}", f"verifier.alpha={alpha}"))


@pytest.mark.parametrize(
    "verifier, alpha, allowed",
    [("cpn", "1.5", "[0, 1)"), ("score", "9", "[0, 9)"), ("likelihood", "high", "finite number")],
)
def test_invalid_alpha_names_path_value_and_range(verifier, alpha, allowed):
    with pytest.raises(ConfigError) as raised:
        validate_reason_config(compose_reason(f"verifier={verifier}", f"verifier.alpha={alpha}"))
    message = str(raised.value)
    assert "verifier.alpha=" in message
    assert alpha in message
    assert allowed in message


@pytest.mark.parametrize(
    "verifier", ["cpn", "likelihood", "hybrid", "score", "exact", "always_accept", "always_reject"]
)
def test_every_verifier_config_instantiates_and_binds(verifier, tiny_target):
    built = instantiate(compose_reason(f"verifier={verifier}").verifier)
    built.bind(tiny_target)
    assert built.name == verifier


def save_calibration(path, verifier, settings, target, threshold=-1.75):
    SavedCalibration(verifier, settings, target, threshold, 0.9, 0.8, 100).save(path)


def test_auto_alpha_reads_saved_calibration(tmp_path, tiny_target):
    path = tmp_path / "likelihood.json"
    save_calibration(path, "likelihood", {"mode": "absolute"}, tiny_target.name)
    cfg = compose_reason(
        "verifier=likelihood", "verifier.alpha=auto", f"verifier.calibration={path}"
    )
    verifier = instantiate(cfg.verifier)
    verifier.bind(tiny_target)
    assert verifier.alpha == -1.75


def test_auto_alpha_rejects_calibration_of_other_target(tmp_path, tiny_target):
    path = tmp_path / "cpn.json"
    save_calibration(
        path,
        "cpn",
        instantiate(compose_reason().verifier).calibration_settings(),
        "other-model",
        0.8,
    )
    verifier = instantiate(
        compose_reason("verifier.alpha=auto", f"verifier.calibration={path}").verifier
    )
    with pytest.raises(ValueError, match="other-model"):
        verifier.bind(tiny_target)


def test_auto_alpha_rejects_calibration_of_other_mode(tmp_path, tiny_target):
    path = tmp_path / "likelihood.json"
    save_calibration(path, "likelihood", {"mode": "absolute"}, tiny_target.name)
    cfg = compose_reason(
        "verifier=likelihood",
        "verifier.alpha=auto",
        "verifier.mode=relative",
        f"verifier.calibration={path}",
    )
    with pytest.raises(ValueError, match="relative"):
        instantiate(cfg.verifier).bind(tiny_target)


def test_auto_alpha_without_file_names_the_fix(tmp_path, tiny_target):
    cfg = compose_reason("verifier.alpha=auto", f"verifier.calibration={tmp_path / 'missing.json'}")
    with pytest.raises(FileNotFoundError, match="dreamr-calibrate"):
        instantiate(cfg.verifier).bind(tiny_target)


def test_auto_alpha_without_reached_threshold_raises(tmp_path, tiny_target):
    path = tmp_path / "score.json"
    verifier = instantiate(compose_reason("verifier=score").verifier)
    save_calibration(
        path, "score", verifier.calibration_settings(), tiny_target.name, threshold=None
    )
    cfg = compose_reason("verifier=score", "verifier.alpha=auto", f"verifier.calibration={path}")
    with pytest.raises(ValueError, match="no threshold"):
        instantiate(cfg.verifier).bind(tiny_target)
