"""Reference features from Hugging Face transformers, for w2s's parity tests.

Usage: hf_features.py MODEL_DIR POOLING TEXTS_JSON OUT_JSON
Writes {"ids": [[...]], "features": [[...]]}: token ids (padded on the right with the
tokenizer's pad id) and the pooled last hidden state per text, in float64.
"""
import json
import sys

import torch
from transformers import AutoModel, AutoTokenizer


def main():
    model_dir, pooling, texts_path, out_path = sys.argv[1:5]
    texts = json.load(open(texts_path))
    tok = AutoTokenizer.from_pretrained(model_dir)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    model = AutoModel.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    batch = tok(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    if pooling == "mean":
        feats = (hidden * mask).sum(1) / mask.sum(1)
    elif pooling == "last":
        last = batch["attention_mask"].sum(1) - 1
        feats = hidden[torch.arange(hidden.shape[0]), last]
    else:
        feats = hidden[:, 0]
    json.dump({"ids": batch["input_ids"].tolist(), "features": feats.double().tolist()}, open(out_path, "w"))


if __name__ == "__main__":
    main()
