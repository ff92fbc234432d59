"""Tiny randomly initialised models of every family w2s supports, made with transformers,
with reference features for w2s's parity tests.

Usage: tiny_models.py OUT_DIR TOKENIZER_JSON
For each family writes OUT_DIR/<name>/ (config.json, safetensors weights, a copy of
TOKENIZER_JSON so the folder loads like any model) and reference.json:
{"ids", "mask"} a right-padded batch, {"features"} the pooled last hidden state per row from
transformers (mean over real tokens for encoders, last real token for decoders),
{"pooling"}, and for decoders {"lm_logits"}: the causal LM's logits for the token ids
{"answers"} at the last real token. Variants cover w2s's loading paths: a `bert.`-prefixed checkpoint, a sharded
one, bf16 weights, grouped-query attention, Llama 3 rope scaling, sequential NeoX residuals.
"""
import json
import os
import shutil
import sys

import torch
import transformers as tf

H, L, HEADS, FF, V = 32, 2, 4, 64, 1000
ANSWERS = [5, 7]  # token ids whose LM logits decoders report (generative scoring)


def families():
    return {
        "bert": (tf.BertConfig(vocab_size=V, hidden_size=H, num_hidden_layers=L, num_attention_heads=HEADS,
                               intermediate_size=FF, max_position_embeddings=64), "mean", {}),
        "bert_prefixed": (tf.BertConfig(vocab_size=V, hidden_size=H, num_hidden_layers=L, num_attention_heads=HEADS,
                                        intermediate_size=FF, max_position_embeddings=64), "mean", {"prefix": "bert."}),
        "roberta": (tf.RobertaConfig(vocab_size=V, hidden_size=H, num_hidden_layers=L, num_attention_heads=HEADS,
                                     intermediate_size=FF, max_position_embeddings=66, pad_token_id=1, type_vocab_size=1),
                    "mean", {}),
        "mpnet": (tf.MPNetConfig(vocab_size=V, hidden_size=H, num_hidden_layers=L, num_attention_heads=HEADS,
                                 intermediate_size=FF, max_position_embeddings=66), "mean", {}),
        "gpt2": (tf.GPT2Config(vocab_size=V, n_embd=H, n_layer=L, n_head=HEADS, n_positions=64), "last",
                 {"shard": "20KB"}),
        "llama": (tf.LlamaConfig(vocab_size=V, hidden_size=H, intermediate_size=FF, num_hidden_layers=L,
                                 num_attention_heads=HEADS, num_key_value_heads=2, max_position_embeddings=64),
                  "last", {"bf16": True}),
        "llama3_rope": (tf.LlamaConfig(vocab_size=V, hidden_size=H, intermediate_size=FF, num_hidden_layers=L,
                                       num_attention_heads=HEADS, max_position_embeddings=64, rope_theta=500000.0,
                                       rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                     "high_freq_factor": 4.0, "original_max_position_embeddings": 16}),
                        "last", {}),
        "qwen2": (tf.Qwen2Config(vocab_size=V, hidden_size=H, intermediate_size=FF, num_hidden_layers=L,
                                 num_attention_heads=HEADS, num_key_value_heads=2, max_position_embeddings=64),
                  "last", {}),
        "gpt_neox": (tf.GPTNeoXConfig(vocab_size=V, hidden_size=H, num_hidden_layers=L, num_attention_heads=HEADS,
                                      intermediate_size=FF, max_position_embeddings=64, rotary_pct=0.5), "last", {}),
        "gpt_neox_sequential": (tf.GPTNeoXConfig(vocab_size=V, hidden_size=H, num_hidden_layers=L,
                                                 num_attention_heads=HEADS, intermediate_size=FF,
                                                 max_position_embeddings=64, rotary_pct=0.25,
                                                 use_parallel_residual=False), "last", {}),
    }


def main():
    out, tokenizer_json = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    lengths = [7, 5, 3]
    t = max(lengths)
    ids = torch.randint(5, V, (len(lengths), t))
    mask = torch.zeros(len(lengths), t, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    for name, (config, pooling, opts) in families().items():
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        # Decoders are saved as causal LMs, as on the hub, so their LM head is in the checkpoint.
        if pooling == "last":
            model = tf.AutoModelForCausalLM.from_config(config).eval()
        else:
            model = tf.AutoModel.from_config(config).eval()
        with torch.no_grad():
            for p in model.parameters():  # larger than the default init, so errors show
                p.normal_(0.0, 0.2)
            if opts.get("bf16"):
                model = model.to(torch.bfloat16).to(torch.float32)
        pad = config.pad_token_id if getattr(config, "pad_token_id", None) is not None else 0
        padded = ids.masked_fill(mask == 0, pad)
        lm_logits = None
        with torch.no_grad():
            if pooling == "last":
                hidden = model.base_model(input_ids=padded, attention_mask=mask).last_hidden_state
                logits = model(input_ids=padded, attention_mask=mask).logits
                last = logits[torch.arange(len(lengths)), mask.sum(1) - 1]
                lm_logits = last[:, ANSWERS].double().tolist()
            else:
                hidden = model(input_ids=padded, attention_mask=mask).last_hidden_state
        if pooling == "mean":
            m = mask.unsqueeze(-1).float()
            feats = (hidden * m).sum(1) / m.sum(1)
        else:
            feats = hidden[torch.arange(len(lengths)), mask.sum(1) - 1]
        if opts.get("bf16"):
            model = model.to(torch.bfloat16)
        if "prefix" in opts:
            from safetensors.torch import save_file
            config.save_pretrained(d)
            state = {opts["prefix"] + k: v.contiguous() for k, v in model.state_dict().items()}
            save_file(state, os.path.join(d, "model.safetensors"))
        else:
            model.save_pretrained(d, max_shard_size=opts.get("shard", "50GB"))
        shutil.copy(tokenizer_json, os.path.join(d, "tokenizer.json"))
        json.dump({"ids": padded.tolist(), "mask": mask.tolist(), "pooling": pooling,
                   "features": feats.double().tolist(), "answers": ANSWERS, "lm_logits": lm_logits},
                  open(os.path.join(d, "reference.json"), "w"))


if __name__ == "__main__":
    main()
