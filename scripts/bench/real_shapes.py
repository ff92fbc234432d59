"""Randomly initialised checkpoints with the exact published shapes of the students that
weak-to-strong studies finetune, made by transformers from a config: no weights are downloaded.

Usage: real_shapes.py OUT_DIR [NAME ...] [--tokenizer TOKENIZER_JSON] [--dtype bfloat16]
NAME: qwen2.5-0.5b, qwen2.5-1.5b, llama-3.2-1b (default: all). Each lands in OUT_DIR/NAME/ with
config.json, model.safetensors (saved as published: bf16) and the tokenizer given (any will
do: the embedding matrix keeps the published vocabulary size, and a smaller tokenizer's ids
are all inside it).

The configs are those of the hub's Qwen/Qwen2.5-0.5B, Qwen/Qwen2.5-1.5B and
meta-llama/Llama-3.2-1B config.json files, the fields that decide the architecture.
"""
import argparse
import os
import shutil
import sys
from pathlib import Path

import torch
import transformers as tf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from w2s_hf import model_from_config  # noqa: E402

CONFIGS = {
    "qwen2.5-0.5b": dict(
        model_type="qwen2", hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
        num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
        rms_norm_eps=1e-6, rope_theta=1000000.0, vocab_size=151936, tie_word_embeddings=True,
        hidden_act="silu", use_sliding_window=False, sliding_window=32768, max_window_layers=24,
        bos_token_id=151643, eos_token_id=151643,
    ),
    "qwen2.5-1.5b": dict(
        model_type="qwen2", hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
        num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=131072,
        rms_norm_eps=1e-6, rope_theta=1000000.0, vocab_size=151936, tie_word_embeddings=True,
        hidden_act="silu", use_sliding_window=False, sliding_window=131072, max_window_layers=28,
        bos_token_id=151643, eos_token_id=151643,
    ),
    "llama-3.2-1b": dict(
        model_type="llama", hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8, head_dim=64, max_position_embeddings=131072,
        rms_norm_eps=1e-5, rope_theta=500000.0, vocab_size=128256, tie_word_embeddings=True,
        hidden_act="silu", attention_bias=False, mlp_bias=False,
        rope_scaling=dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
                          original_max_position_embeddings=8192),
        bos_token_id=128000, eos_token_id=128001,
    ),
}  # fmt: skip


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("names", nargs="*", default=list(CONFIGS))
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--tokenizer", default=os.path.join(here, "..", "models", "all-MiniLM-L6-v2", "tokenizer.json"))
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    a = p.parse_args()
    torch.manual_seed(0)
    for name in a.names:
        fields = dict(CONFIGS[name])
        config = tf.AutoConfig.for_model(fields.pop("model_type"), **fields)
        config.torch_dtype = a.dtype
        out = os.path.join(a.out, name)
        if os.path.exists(os.path.join(out, "model.safetensors")):
            print(f"{out}: exists")
            continue
        with torch.device("cpu"):
            model = model_from_config(config, causal=True, dtype=getattr(torch, a.dtype))
        n = sum(p.numel() for p in model.parameters())
        model.save_pretrained(out, safe_serialization=True, max_shard_size="100GB")
        shutil.copy(a.tokenizer, os.path.join(out, "tokenizer.json"))
        print(f"{out}: {n / 1e6:.0f}M parameters")
        del model


if __name__ == "__main__":
    main()
