"""``dreamr-calibrate``: score a labelled step set with a verifier and save its threshold
(``conf/calibrate.yaml``)."""

from __future__ import annotations

import os

import hydra
from omegaconf import DictConfig

from dreamr.cli import CONFIG_DIR


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="calibrate")
def main(cfg: DictConfig) -> None:
    from dreamr.calibration.job import run_calibrate

    run_calibrate(cfg)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
