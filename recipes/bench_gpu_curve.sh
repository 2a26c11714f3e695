#!/usr/bin/env bash
# bash recipes/bench_gpu_curve.sh
# On one GPU: the speedup of sequential, lookahead and fpsr against target_only at acceptance
# rates 0.3, 0.6 and 0.9, with random-weight models of the Qwen2.5-0.5B and -7B sizes in bf16,
# fixed 64-token steps and the rate verifier (conf/experiment/bench-gpu.yaml). One Hydra
# multirun folder with a bench.json per rate. Two GPUs: append devices.draft=cuda:1.
set -euo pipefail
exec .venv/bin/dreamr-bench -m experiment=bench-gpu verifier.accept_rate=0.3,0.6,0.9 \
  timeline_ids='[gsm8k-0000]' "$@"
