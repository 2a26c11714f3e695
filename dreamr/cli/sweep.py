"""``dreamr-sweep``: collect the runs of a ``dreamr-reason -m`` sweep into one table and plot.

    dreamr-sweep multirun/reason/2026-12-04_22-30-00
    dreamr-sweep multirun/reason/2026-12-04_22-30-00 --baseline outputs/reason/<target_only run>
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    from dreamr.sweep import collect_sweep, format_sweep, write_sweep

    parser = argparse.ArgumentParser(prog="dreamr-sweep", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="the multirun folder holding one run folder per job")
    parser.add_argument("--key", default="verifier.alpha", help="the swept config path (default: verifier.alpha)")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a target_only run folder, for runs made with compare_baseline=false",
    )
    parser.add_argument("--out", type=Path, default=None, help="where to write sweep.* (default: sweep_dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = collect_sweep(args.sweep_dir, args.key, args.baseline)
    written = write_sweep(rows, args.out or args.sweep_dir, args.key)
    logging.getLogger("dreamr.sweep").info("%s\n\nwrote %s", format_sweep(rows, args.key), ", ".join(map(str, written)))


if __name__ == "__main__":
    main()
