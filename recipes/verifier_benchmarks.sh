#!/usr/bin/env bash
# bash recipes/verifier_benchmarks.sh [calibrate|sweep|calibrated|all] [OUT]
#
# The verifier figures of docs/benchmarks.md, from the repository root:
#   calibrate   score one labelled step set with hybrid (which also scores its parts, cpn and
#               likelihood) and save the three thresholds to ./calibrations/. GSM8K steps only:
#               the 1.5B target ranks CHAMP's annotated steps backwards (docs/benchmarks.md).
#   sweep       a Hydra multirun over likelihood's alpha with sequential, aggregated by dreamr-sweep
#               (set BASELINE to a run made with compare_baseline=true for the operating point)
#   calibrated  sequential with cpn, likelihood and hybrid at alpha=auto (the saved thresholds)
# Problem counts are small because the 2-core CPU these ran on writes 4-5 target tokens per
# second; raise PROBLEMS on faster hardware.
set -euo pipefail
STEP=${1:-all}
OUT=${2:-outputs/verifier-benchmarks}
BIN=${BIN:-.venv/bin}
PROBLEMS=${PROBLEMS:-2}
SWEEP_ALPHAS=${SWEEP_ALPHAS:--0.1,-0.2,-0.3,-0.4}
BASELINE=${BASELINE:-}
CALIBRATION=${CALIBRATION:-"calibration.gsm8k_problems=25 calibration.champ_solutions=0 calibration.precision=0.8 calibration.min_accepted=5"}

if [[ $STEP == calibrate || $STEP == all ]]; then
  $BIN/dreamr-calibrate verifier=hybrid $CALIBRATION calibration.save_dir=calibrations \
    hydra.run.dir=$OUT/calibrate-hybrid
fi

if [[ $STEP == sweep || $STEP == all ]]; then
  $BIN/dreamr-reason -m verifier=likelihood "verifier.alpha=$SWEEP_ALPHAS" data.limit=$PROBLEMS \
    compare_baseline=false logger=disabled hydra.sweep.dir=$OUT/sweep-likelihood
  $BIN/dreamr-sweep $OUT/sweep-likelihood ${BASELINE:+--baseline "$BASELINE"}
fi

if [[ $STEP == calibrated || $STEP == all ]]; then
  $BIN/dreamr-reason -m verifier=likelihood,hybrid,cpn verifier.alpha=auto data.limit=$PROBLEMS \
    compare_baseline=false logger=disabled hydra.sweep.dir=$OUT/calibrated
  $BIN/dreamr-sweep $OUT/calibrated
fi
