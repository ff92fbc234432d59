#!/usr/bin/env bash
# Real model shapes on this machine's CPU: randomly initialised Qwen2.5-0.5B / -1.5B and
# Llama-3.2-1B checkpoints (scripts/bench/real_shapes.py), then `w2s bench` against PyTorch +
# transformers (+ peft) on the Qwen2.5-0.5B shape: step time and peak memory of full
# finetuning (plain, checkpointed, bf16, mixed precision) and LoRA, with w2s's estimate beside
# the measured peak; then what w2s says of a run that cannot fit (Qwen2.5-1.5B, f32 Adam).
# Usage, from the repository root after ./dev setup: scripts/bench/bench-real-shapes.sh [DIR]
set -euo pipefail
dir=${1:-/tmp/w2s-real-shapes}
py=.venv/bin/python
w2s=target/release/w2s
[ -x "$w2s" ] || cargo build --release -p w2s-cli
"$py" scripts/bench/real_shapes.py "$dir"
export VIRTUAL_ENV=$PWD/.venv
q=$dir/qwen2.5-0.5b
for flags in "--checkpointing" "--lora" "" "--bf16 --checkpointing" "--mixed-precision --checkpointing"; do
    echo "== qwen2.5-0.5b, batch 4 x 128 tokens $flags"
    # shellcheck disable=SC2086
    "$w2s" bench --model "$q" --batch 4 --seq 128 --steps 2 $flags
done
echo "== a run that cannot fit: qwen2.5-1.5b, full finetuning in f32, minibatch 32"
"$w2s" run --model "$dir/qwen2.5-1.5b" --dataset demo --n-docs 200 --n-test-docs 100 \
    --results /tmp/w2s-real-shapes-results --device cpu 2>&1 | tail -3 || true
