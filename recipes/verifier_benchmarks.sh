#!/usr/bin/env bash
# bash recipes/verifier_benchmarks.sh [calibrate|sweep|calibrated|all] [OUT]
#
# The verifier figures of docs/benchmarks.md, from the repository root:
#   calibrate   score one labelled step set with hybrid (which also scores its parts, cpn and
#               likelihood) and save the three thresholds to ./calibrations/. GSM8K steps only:
#               the 1.5B target ranks CHAMP's annotated steps backwards (docs/benchmarks.md).
#   sweep       a Hydra multirun over CPN's alpha with sequential, aggregated by dreamr-sweep
#   calibrated  sequential with cpn, likelihood and hybrid at alpha=auto (the saved thresholds)
# Problem counts are small because the 2-core CPU these ran on writes 4-5 target tokens per
# second; raise PROBLEMS on faster hardware.
set -euo pipefail
STEP=${1:-all}
OUT=${2:-outputs/verifier-benchmarks}
BIN=${BIN:-.venv/bin}
PROBLEMS=${PROBLEMS:-2}
SWEEP_ALPHAS=${SWEEP_ALPHAS:-0.6,0.75,0.9}
CALIBRATION=${CALIBRATION:-"calibration.gsm8k_problems=25 calibration.champ_solutions=0 calibration.precision=0.8 calibration.min_accepted=5"}

if [[ $STEP == calibrate || $STEP == all ]]; then
  $BIN/dreamr-calibrate verifier=hybrid $CALIBRATION calibration.save_dir=calibrations \
    hydra.run.dir=$OUT/calibrate-hybrid
fi

if [[ $STEP == sweep || $STEP == all ]]; then
  $BIN/dreamr-reason -m verifier=cpn "verifier.alpha=$SWEEP_ALPHAS" data.limit=$PROBLEMS \
    compare_baseline=false logger=disabled hydra.sweep.dir=$OUT/sweep-cpn
  $BIN/dreamr-sweep $OUT/sweep-cpn
fi

if [[ $STEP == calibrated || $STEP == all ]]; then
  $BIN/dreamr-reason -m verifier=likelihood,hybrid,cpn verifier.alpha=auto data.limit=$PROBLEMS \
    compare_baseline=false logger=disabled hydra.sweep.dir=$OUT/calibrated
  $BIN/dreamr-sweep $OUT/calibrated
fi
