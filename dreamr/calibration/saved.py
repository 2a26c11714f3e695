"""Saved calibrations: the threshold a verifier uses when ``verifier.alpha=auto``.

``dreamr-calibrate`` writes one JSON file per verifier. A file is valid only for the verifier
name, its score settings (``Verifier.calibration_settings``) and the target model it was
measured with, because the scores and so the threshold change with each of them.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_DIR = "calibrations"


@dataclass
class SavedCalibration:
    """The chosen threshold of one verifier with the facts it depends on."""

    verifier: str
    settings: dict[str, Any]
    target: str
    threshold: float | None  # None when no threshold reached the requested precision
    precision_goal: float
    roc_auc: float
    examples: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        for key in ("threshold", "roc_auc"):
            value = record[key]
            if value is not None and not math.isfinite(value):
                record[key] = None
        return record

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> SavedCalibration:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"verifier.alpha=auto needs a saved calibration, and '{path}' does not exist; "
                "run dreamr-calibrate with the same verifier and target first, or set "
                "verifier.calibration=<path to its JSON file>"
            )
        record = json.loads(path.read_text())
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{key: value for key, value in record.items() if key in known})


def default_path(verifier_name: str) -> Path:
    return Path(DEFAULT_DIR) / f"{verifier_name}.json"


def calibrated_alpha(
    path: str | Path | None, verifier_name: str, settings: dict[str, Any], target_name: str
) -> float:
    """Read the threshold for ``verifier.alpha=auto`` and check the calibration matches.

    Raises ``ValueError`` naming the mismatch when the file was made for another verifier,
    other score settings or another target, or reached no threshold.
    """
    path = Path(path) if path else default_path(verifier_name)
    saved = SavedCalibration.load(path)
    mismatches = []
    if saved.verifier != verifier_name:
        mismatches.append(f"verifier '{saved.verifier}' (this run: '{verifier_name}')")
    if saved.settings != settings:
        mismatches.append(f"settings {saved.settings} (this run: {settings})")
    if saved.target != target_name:
        mismatches.append(f"target '{saved.target}' (this run: '{target_name}')")
    if mismatches:
        raise ValueError(
            f"The calibration in '{path}' was made for "
            + ", ".join(mismatches)
            + "; run dreamr-calibrate for this setup or set verifier.alpha to a number"
        )
    if saved.threshold is None:
        raise ValueError(
            f"The calibration in '{path}' found no threshold with precision >= "
            f"{saved.precision_goal}; set verifier.alpha to a number or calibrate with a lower "
            "calibration.precision"
        )
    logger.info(
        "verifier %s: alpha=auto -> %.4f from %s (precision goal %.2f, ROC-AUC %.3f, %d examples)",
        verifier_name,
        saved.threshold,
        path,
        saved.precision_goal,
        saved.roc_auc,
        saved.examples,
    )
    return float(saved.threshold)
