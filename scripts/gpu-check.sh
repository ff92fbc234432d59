#!/usr/bin/env bash
# The GPU check, for a lent GPU machine (the `device` tool): PyTorch 2.11 with CUDA, Python,
# transformers, no Rust, no network, 64 MiB of files carried. Sized to end in under 8 minutes
# on one H100.
#
#   scripts/gpu-prepare.sh                  # here, once: .gpu/w2s, built against libtorch 2.11
#   device run: bash scripts/gpu-check.sh   # there, with carry [".gpu"]; output under $OUT
#
# What it checks, each step's output in $OUT/gpu-check.log:
#   1. the card, and that w2s's libtorch sees it (`--device auto` resolves to CUDA);
#   2. models made there from configs by transformers (random weights: MiniLM, MPNet, GPT-2,
#      Pythia-70m and Qwen2.5-0.5B shapes), one per family w2s supports;
#   3. each family's features on CUDA against the CPU (parity), and `w2s bench` against
#      PyTorch on the GPU: f32, mixed precision, LoRA and checkpointing training steps;
#   4. a short sweep on the GPU (the demo task: bag of words supervising the MiniLM shape),
#      with the device, precision and job slots chosen by `auto`.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-check.log") 2>&1
export PYTHONUNBUFFERED=1
start=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - start )) s)"; }

W2S=${W2S:-.gpu/w2s}
TORCH_LIB=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
MODELS=/tmp/w2s-gpu-models
mkdir -p "$MODELS"

step "the card"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)'
[ -x "$W2S" ] || { echo "no $W2S: run scripts/gpu-prepare.sh here and carry .gpu"; exit 1; }
readelf -d "$W2S" | grep NEEDED | grep torch

step "models from configs"
python3 - "$MODELS" <<'EOF'
import os, sys, torch, transformers as tf
out = sys.argv[1]
tok = os.path.join(out, "tokenizer.json")
# A word-level tokenizer over 30522 ids (the bench feeds token ids directly; loading needs one).
from tokenizers import Tokenizer, models, pre_tokenizers
t = Tokenizer(models.WordLevel({f"w{i}": i for i in range(30522)} | {"[UNK]": 30522}, unk_token="[UNK]"))
t.pre_tokenizer = pre_tokenizers.Whitespace()
t.save(tok)
shapes = {
    "minilm": (tf.BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536), tf.AutoModel),
    "mpnet": (tf.MPNetConfig(vocab_size=30527, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072), tf.AutoModel),
    "gpt2": (tf.GPT2Config(), tf.AutoModelForCausalLM),
    "pythia-70m": (tf.GPTNeoXConfig(vocab_size=50304, hidden_size=512, num_hidden_layers=6, num_attention_heads=8, intermediate_size=2048, rotary_pct=0.25, max_position_embeddings=2048), tf.AutoModelForCausalLM),
}
for name, (config, cls) in shapes.items():
    d = os.path.join(out, name)
    torch.manual_seed(0)
    cls.from_config(config).save_pretrained(d, safe_serialization=True)
    os.system(f"cp {tok} {d}/")
    print(name, "ok")
EOF
python3 scripts/bench/real_shapes.py "$MODELS" qwen2.5-0.5b --tokenizer "$MODELS/tokenizer.json"

step "parity and bench against PyTorch on the GPU"
bench() { "$W2S" bench --device cuda --baseline python3 "$@" 2>&1 | grep -v '^ *$'; }
for m in minilm mpnet gpt2 pythia-70m; do
    bench --model "$MODELS/$m" --batch 32 --seq 128 --steps 10
done
bench --model "$MODELS/mpnet" --batch 32 --seq 128 --steps 10 --mixed-precision
bench --model "$MODELS/qwen2.5-0.5b" --batch 8 --seq 256 --steps 5
bench --model "$MODELS/qwen2.5-0.5b" --batch 8 --seq 256 --steps 5 --mixed-precision
bench --model "$MODELS/qwen2.5-0.5b" --batch 8 --seq 256 --steps 5 --lora
bench --model "$MODELS/qwen2.5-0.5b" --batch 8 --seq 256 --steps 5 --checkpointing

step "a short sweep on the GPU"
cat > /tmp/gpu-sweep.toml <<EOF
datasets = ["demo"]
models = ["bow", "$MODELS/minilm"]
losses = ["xent", "logconf"]
seeds = [0]
n_docs = 2000
n_test_docs = 1000
results = "/tmp/gpu-sweep"
diagonal = false
[model_train.bow]
lr = 1e-2
EOF
# `auto` (the default): CUDA found, mixed precision the default on an Ampere-or-later card,
# memory read through cudaMemGetInfo, and each job slot handed the GPU through
# CUDA_VISIBLE_DEVICES (recorded in every result's provenance).
"$W2S" sweep /tmp/gpu-sweep.toml --dry-run | head -4
"$W2S" sweep /tmp/gpu-sweep.toml --jobs 2 && "$W2S" report /tmp/gpu-sweep
grep -h '"device"\|"cuda_visible_devices"\|"mixed_precision"' /tmp/gpu-sweep/*/*/result.json /tmp/gpu-sweep/*/*/config.json | sort | uniq -c

step "done"
