#!/usr/bin/env bash
# bash recipes/alpha_sweep.sh
# One run per CPN threshold on the same 10 problems; each run folder has its summary.json.
set -euo pipefail
exec .venv/bin/dreamr-reason -m verifier.alpha=0.5,0.6,0.7,0.8,0.9 data.limit=10 task_name=alpha-sweep "$@"
