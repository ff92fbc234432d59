"""What a loss written in Python costs: the same ground-truth run trained with the built-in
`xent` and with the same cross-entropy written in PyTorch (`w2s.run(loss=fn)`), alternated
A B A B ... in one process, every run retrained (`force=True`); the training seconds that
each result.json records, and the ratio Python / built-in.

    python scripts/bench/bench_python_loss.py --model models/all-MiniLM-L6-v2 --repeats 3
    python scripts/bench/bench_python_loss.py --model bow --n-docs 4000 --repeats 5

Needs the w2s package (pip install target/wheels/w2s-*.whl, after ./dev wheel)."""

import argparse
import statistics
import tempfile

import torch

import w2s


def py_xent(logits, labels, step_frac):
    return -(labels * torch.log_softmax(logits, dim=-1)).sum(-1).mean()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="models/all-MiniLM-L6-v2")
    ap.add_argument("--n-docs", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    w2s.configure(progress="none")
    times = {"xent": [], "python": []}
    accs = {"xent": set(), "python": set()}
    with tempfile.TemporaryDirectory() as results:
        for _ in range(a.repeats):
            for name, loss in (("xent", "xent"), ("python", py_xent)):
                r = w2s.run(model=a.model, dataset="demo", n_docs=a.n_docs, n_test_docs=200,
                            epochs=a.epochs, batch_size=a.batch_size, loss=loss,
                            mixed_precision=False, results=results, threads=a.threads,
                            force=True)
                times[name].append(r.runs[-1]["result"]["training"]["seconds"])
                accs[name].add(round(r.test_accuracy, 6))
    steps = a.n_docs // 2 * a.epochs // a.batch_size
    b, p = statistics.median(times["xent"]), statistics.median(times["python"])
    print(f"model {a.model}, {steps} steps of {a.batch_size}, {a.repeats} runs each, "
          f"torch threads {torch.get_num_threads()}")
    print("| loss | training s (median) | all runs | test accuracy |")
    print("| --- | --- | --- | --- |")
    for name, med in (("built-in xent", b), ("Python xent", p)):
        key = "xent" if name.startswith("built") else "python"
        runs = ", ".join(f"{t:.2f}" for t in times[key])
        print(f"| {name} | {med:.2f} | {runs} | {', '.join(map(str, sorted(accs[key])))} |")
    print(f"\nPython / built-in: {p / b:.3f} ({1000 * (p - b) / max(steps, 1):+.2f} ms per step)")


if __name__ == "__main__":
    main()
