"""``dreamr-bench``: every scheduler on the same problems and models, configured by ``conf/bench.yaml``."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from dreamr.cli import CONFIG_DIR


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="bench")
def main(cfg: DictConfig) -> None:
    from dreamr.bench.job import run_bench

    run_bench(cfg)


if __name__ == "__main__":
    main()
