#!/usr/bin/env bash
# The reward-modelling study of docs/METHODS.md: MiniLM supervising MPNet on
# anthropic_hh_pairs (the shared copy of HH-RLHF), seeds 0 1 2, xent and logconf, then the
# report (PGR with 95% intervals). Usage, from the repository root after ./dev setup:
#   scripts/studies/hh_pairs.sh [N_DOCS] [N_TEST_DOCS] [extra w2s run flags...]
# Defaults: 1000 / 500 pairs with linear probes on both models (88 minutes on a 2-core CPU,
# docs/METHODS.md); `scripts/studies/hh_pairs.sh 2000 1000 --linear-probe=false` is the full
# finetuning study (about 20 hours on that CPU, estimated; for a machine with a GPU).
set -euo pipefail
cd "$(dirname "$0")/../.."
N_DOCS="${1:-1000}"; N_TEST="${2:-500}"; shift $(( $# > 2 ? 2 : $# )) || true
W2S="${W2S:-./dev w2s}"
DATA="${W2S_SHARED:-../shared}/datasets/anthropic_hh"
RESULTS="${RESULTS:-results/hh-pairs-$N_DOCS}"
EXTRA=("$@")
[ "${#EXTRA[@]}" -gt 0 ] || EXTRA=(--linear-probe --lr 1e-3 --epochs 4)
start=$(date +%s)
for seed in 0 1 2; do
    for loss in xent logconf; do
        $W2S run --dataset anthropic_hh_pairs --data-dir "$DATA" \
            --weak-model models/all-MiniLM-L6-v2 --model models/all-mpnet-base-v2 \
            --n-docs "$N_DOCS" --n-test-docs "$N_TEST" --max-ctx 512 --seed "$seed" \
            --loss "$loss" --results "$RESULTS" "${EXTRA[@]}"
    done
done
echo "study took $(( $(date +%s) - start )) s"
$W2S report "$RESULTS" --aggregate pooled
