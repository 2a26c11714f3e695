#!/usr/bin/env bash
# bash recipes/hub_qwen2.5_7b.sh
# On a GPU machine that reaches a model hub: Qwen2.5 0.5B draft, 7B target, 20 GSM8K problems.
set -euo pipefail
export HF_HUB_OFFLINE=0 TRANSFORMERS_OFFLINE=0
exec .venv/bin/dreamr-reason trainer=gpu \
  model/draft=hub model.draft.path=Qwen/Qwen2.5-0.5B-Instruct \
  model/target=hub model.target.path=Qwen/Qwen2.5-7B-Instruct \
  data.limit=20 task_name=hub-qwen2.5-7b "$@"
