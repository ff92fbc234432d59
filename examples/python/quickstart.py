"""A small weak-to-strong study from Python: the bag of words (trained from scratch)
supervising MiniLM (a linear probe on its features) on the built-in demo task, with two built-in
losses and one written here, over three seeds; then the runs as a DataFrame and a PGR plot.

    pip install target/wheels/w2s-*.whl matplotlib   # or: ./dev setup, then use .venv's python
    python examples/python/quickstart.py

Run from the repository root (the MiniLM folder is models/all-MiniLM-L6-v2, made by
./dev setup; elsewhere pass a Hugging Face id or folder as STRONG). Runs are stored under
results/quickstart and reused: a second run of this script trains nothing.
"""

import os
import sys

import matplotlib

matplotlib.use("Agg")  # a file, not a window
import matplotlib.pyplot as plt
import pandas as pd
import torch

import w2s

STRONG = sys.argv[1] if len(sys.argv) > 1 else "models/all-MiniLM-L6-v2"
RESULTS = "results/quickstart"


def confident_xent(logits, labels, step_frac):
    """Cross-entropy against the weak labels, sharpened as training goes on: a loss of one's
    own, three lines of PyTorch, differentiated through the Rust model."""
    temperature = 1.0 - 0.5 * step_frac
    target = torch.softmax(torch.log(labels.clamp_min(1e-6)) / temperature, dim=-1)
    return -(target * torch.log_softmax(logits, dim=-1)).sum(-1).mean()


rows = []
for seed in (0, 1, 2):
    for loss in ("xent", "logconf", confident_xent):
        r = w2s.run(
            dataset="demo", n_docs=1000, n_test_docs=500, seed=seed,
            weak_model="bow", weak_linear_probe=False, weak_lr=1e-2, weak_epochs=2,
            model=STRONG, linear_probe=True, lr=1e-3, epochs=4,
            loss=loss, results=RESULTS,
        )
        print(f"seed {seed}: {r}")
        rows.append(dict(seed=seed, loss=r.method, weak=r.weak_accuracy,
                         ceiling=r.ceiling_accuracy, student=r.test_accuracy, pgr=r.pgr))

study = pd.DataFrame(rows)
print(study.groupby("loss")[["weak", "ceiling", "student", "pgr"]].mean().round(3))

# Every stored run, with the columns of runs.csv.
runs = w2s.runs(RESULTS)
print(f"\n{len(runs)} runs stored in {RESULTS}; columns: {', '.join(runs.columns[:8])}, ...")

fig, ax = plt.subplots(figsize=(5, 3.5))
means = study.groupby("loss")["pgr"].agg(["mean", "min", "max"])
ax.bar(means.index, means["mean"], yerr=[means["mean"] - means["min"], means["max"] - means["mean"]],
       capsize=4, color="#4c72b0")
ax.axhline(0, color="black", linewidth=0.8)
ax.set_ylabel("PGR (mean, min-max over seeds)")
ax.set_title(f"bow -> {os.path.basename(STRONG.rstrip('/'))}, demo task")
fig.tight_layout()
out = os.path.join(RESULTS, "quickstart-pgr.png")
fig.savefig(out, dpi=120)
print(f"plot: {out}")
