"""``dreamr-reason``: speculative reasoning over a dataset, configured by Hydra (``conf/reason.yaml``)."""

from __future__ import annotations

import os
import sys

import hydra
from omegaconf import DictConfig

from dreamr.cli import CONFIG_DIR
from dreamr.cli.overrides import OverrideError, check_overrides


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="reason")
def _run(cfg: DictConfig) -> None:
    from dreamr.reason import run_reason

    run_reason(cfg)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        check_overrides(CONFIG_DIR, "reason", sys.argv[1:])
    except OverrideError as error:
        sys.stderr.write(f"dreamr-reason: {error}\n")
        sys.exit(2)
    _run()


if __name__ == "__main__":
    main()
