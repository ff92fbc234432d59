"""PyTorch + transformers side of `w2s bench`: the same model, head, batch and optimizer.

Usage: bench_torch.py MODEL_DIR BATCH SEQ STEPS THREADS POOLING
Prints one JSON line: {"train_step_s": ..., "infer_examples_per_s": ..., "torch": version}.
Token ids are pseudo-random but the same as w2s's (seeded linear congruential sequence).
"""
import json
import sys
import time

import torch
from transformers import AutoModel, AutoConfig


def ids_like_w2s(batch, seq, vocab):
    # Same sequence as w2s's bench: x <- (x * 6364136223846793005 + 1442695040888963407) mod 2^64
    x, out = 42, []
    for _ in range(batch * seq):
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append(1000 + (x >> 33) % (vocab - 1000))
    return torch.tensor(out, dtype=torch.long).view(batch, seq)


def main():
    model_dir, batch, seq, steps, threads, pooling = sys.argv[1:7]
    batch, seq, steps, threads = int(batch), int(seq), int(steps), int(threads)
    torch.set_num_threads(threads)
    config = AutoConfig.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, torch_dtype=torch.float32)
    model.eval()  # no dropout, as in w2s and the reference
    head = torch.nn.Linear(config.hidden_size, 2)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    ids = ids_like_w2s(batch, seq, config.vocab_size)
    mask = torch.ones_like(ids)
    labels = torch.zeros(batch, 2)
    labels[:, 0] = 1.0

    def logits():
        h = model(input_ids=ids, attention_mask=mask).last_hidden_state
        pooled = h.mean(1) if pooling == "mean" else h[:, -1]
        return head(pooled)

    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-5)

    def step():
        opt.zero_grad()
        loss = -(labels * torch.log_softmax(logits(), -1)).sum(-1).mean()
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    train = (time.perf_counter() - t) / steps

    with torch.no_grad():
        logits()
        t = time.perf_counter()
        for _ in range(steps):
            logits()
        infer = batch * steps / (time.perf_counter() - t)
    print(json.dumps({"train_step_s": train, "infer_examples_per_s": infer, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
