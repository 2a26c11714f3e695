#!/usr/bin/env bash
# bash recipes/gsm8k_sequential_20.sh
# 20 GSM8K test problems with the default pair (Qwen2.5-Coder 0.5B draft, 1.5B target),
# sequential scheduler with the CPN verifier, and target_only on the same problems.
set -euo pipefail
exec .venv/bin/dreamr-reason data.limit=20 task_name=gsm8k-sequential-20 "$@"
