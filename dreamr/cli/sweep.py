"""``dreamr-sweep``: collect the runs of a ``dreamr-reason -m`` sweep into one table and plot.

dreamr-sweep multirun/reason/2026-12-04_22-30-00
dreamr-sweep multirun/reason/2026-12-04_22-30-00 --baseline outputs/reason/<target_only run>
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    from dreamr.sweep import collect_sweep, format_sweep, pick_operating_point, write_sweep

    parser = argparse.ArgumentParser(prog="dreamr-sweep", description=__doc__.splitlines()[0])
    parser.add_argument(
        "sweep_dir", type=Path, help="the multirun folder holding one run folder per job"
    )
    parser.add_argument(
        "--key", default="verifier.alpha", help="the swept config path (default: verifier.alpha)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a target_only run folder, for runs made with compare_baseline=false",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write sweep.* (default: sweep_dir)"
    )
    parser.add_argument(
        "--max-lost",
        type=float,
        default=1.0,
        help="the operating point is the run with the highest acceptance that solves at most this "
        "many problems fewer than target_only (default: 1)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log = logging.getLogger("dreamr.sweep")
    rows = collect_sweep(args.sweep_dir, args.key, args.baseline)
    written = write_sweep(rows, args.out or args.sweep_dir, args.key)
    log.info("%s\n\nwrote %s", format_sweep(rows, args.key), ", ".join(map(str, written)))
    chosen = pick_operating_point(rows, args.max_lost)
    if chosen is not None:
        log.info(
            "operating point: %s=%s (run %s), acceptance %.3f, accuracy %.3f against %.3f for target_only",
            args.key,
            chosen.value,
            chosen.run,
            chosen.acceptance_rate,
            chosen.accuracy,
            chosen.baseline_accuracy,
        )
    elif all(math.isnan(row.baseline_accuracy) for row in rows):
        log.info(
            "no operating point: the runs have no target_only accuracy; pass --baseline <run folder>"
        )
    else:
        log.info(
            "no operating point: every run loses more than --max-lost=%g problems against target_only",
            args.max_lost,
        )


if __name__ == "__main__":
    main()
