"""``dreamr-reason``: speculative reasoning over a dataset, configured by Hydra (``conf/reason.yaml``)."""

from __future__ import annotations

import os

import hydra
from omegaconf import DictConfig

from dreamr.cli import CONFIG_DIR


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="reason")
def main(cfg: DictConfig) -> None:
    from dreamr.reason import run_reason

    run_reason(cfg)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
