#!/usr/bin/env bash
# bash recipes/bench_cpu.sh
# target_only, sequential, lookahead and fpsr on the first 4 GSM8K test problems with the
# default pair (Qwen2.5-Coder 0.5B draft, 1.5B target) and the CPN verifier, one process run;
# the run in docs/benchmarks.md. About 4 minutes per problem on 2 CPU cores.
set -euo pipefail
exec .venv/bin/dreamr-bench data.limit=4 timeline_ids='[gsm8k-0000]' task_name=bench-cpu "$@"
