"""PyTorch + transformers side of `w2s bench`: the same model, head, batch and optimizer.

Usage: bench_torch.py MODEL_DIR BATCH SEQ STEPS THREADS POOLING [--device D] [--checkpointing]
                      [--lora-targets M1,M2] [--mixed-precision] [--bf16]
Prints one JSON line: {"train_step_s", "infer_examples_per_s", "peak_rss", "torch"}.
Token ids are pseudo-random but the same as w2s's (seeded linear congruential sequence).
- --checkpointing: transformers' gradient checkpointing (it acts in training mode only, so the
  model is put in training mode with every dropout probability at 0, as w2s trains).
- --lora-targets: PEFT, rank 8, alpha 16, no dropout, on these modules (`w2s bench --lora` passes
  its family table's targets).
- --mixed-precision: torch.autocast to bf16 around the forward pass (f32 weights); inference
  in one autocast region around its loop, as w2s predicts (weights cast once).
- --bf16: the backbone's weights in bf16, the head in f32.
- --fused-adam: torch.optim.Adam(fused=True), the kernel w2s's Adam runs (PyTorch's CPU default
  is the per-tensor loop).
peak_rss is the process's peak resident memory (Linux VmHWM) over the training steps, reset
after loading as w2s's side does.
"""
import argparse
import json
import time

import torch
from transformers import AutoConfig, AutoModel



def ids_like_w2s(batch, seq, vocab):
    # Same sequence as w2s's bench: x <- (x * 6364136223846793005 + 1442695040888963407) mod 2^64
    x, out = 42, []
    for _ in range(batch * seq):
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append(1000 + (x >> 33) % (vocab - 1000))
    return torch.tensor(out, dtype=torch.long).view(batch, seq)


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss():
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def main():
    p = argparse.ArgumentParser()
    for name in ("model_dir", "batch", "seq", "steps", "threads", "pooling"):
        p.add_argument(name)
    p.add_argument("--device", default="cpu")
    for flag in ("--checkpointing", "--mixed-precision", "--bf16", "--fused-adam"):
        p.add_argument(flag, action="store_true")
    # LoRA on these modules (w2s passes its family table's targets, model/family.rs).
    p.add_argument("--lora-targets")
    a = p.parse_args()
    batch, seq, steps = int(a.batch), int(a.seq), int(a.steps)
    torch.set_num_threads(int(a.threads))
    device = torch.device(a.device)
    config = AutoConfig.from_pretrained(a.model_dir)
    dtype = torch.bfloat16 if a.bf16 else torch.float32
    model = AutoModel.from_pretrained(a.model_dir, dtype=dtype).to(device)
    model.eval()  # no dropout, as in w2s and the reference
    if a.checkpointing:
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.train()
    if a.lora_targets:
        from peft import LoraConfig, get_peft_model

        targets = a.lora_targets.split(",")
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=targets))
    head = torch.nn.Linear(config.hidden_size, 2).to(device)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    ids = ids_like_w2s(batch, seq, config.vocab_size).to(device)
    mask = torch.ones_like(ids)
    labels = torch.zeros(batch, 2, device=device)
    labels[:, 0] = 1.0

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.mixed_precision)

    def logits():
        with autocast():
            h = model(input_ids=ids, attention_mask=mask).last_hidden_state
        pooled = h.mean(1) if a.pooling == "mean" else h[:, -1]
        return head(pooled.float())

    params = [p for p in list(model.parameters()) + list(head.parameters()) if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-5, fused=a.fused_adam or None)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step():
        opt.zero_grad()
        loss = -(labels * torch.log_softmax(logits(), -1)).sum(-1).mean()
        loss.backward()
        opt.step()

    reset_peak_rss()
    for _ in range(2):
        step()
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    train = (time.perf_counter() - t) / steps
    peak = peak_rss()

    # Inference as a prediction loop is written: one autocast region around the batches, so
    # autocast's cache casts each weight once (nested regions inside keep it).
    with torch.no_grad(), autocast():
        logits()
        sync()
        t = time.perf_counter()
        for _ in range(steps):
            logits()
        sync()
        infer = batch * steps / (time.perf_counter() - t)
    print(json.dumps({"train_step_s": train, "infer_examples_per_s": infer, "peak_rss": peak, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
