"""One weak-to-strong experiment, end to end, in openai/weak-to-strong and in w2s.

Both sides do the same work on the same examples: a weak supervisor and a strong ceiling
trained on train1's ground truth (each then scores test and predicts train2, as the reference's
`train_simple.py` does for ground-truth runs), and one student per loss trained on train2 with
the weak supervisor's soft labels (each then scores test).

- reference: its own `train_model` and `eval_model_acc`, imported from the pinned copy in
  ../shared/reference/openai-weak-to-strong. The only code written here is the model adapter
  (the reference's `TransformerWithHead` wraps a causal LM; the encoders here are not one):
  the same zero-initialised linear head, on the same mean-pooled features, as w2s.
- w2s: `w2s run` once per loss in one results folder (the supervisor and ceiling are trained by
  the first and reused by the others, as the reference's sweep reuses them).

The examples come from `w2s datasets export` (w2s's split of the task, which follows the
reference's rule); the reference side tokenizes them with the same tokenizer.json through
transformers and drops the same over-long examples.

    .venv/bin/python scripts/bench/bench_e2e.py --dataset sciq --data-dir ../shared/datasets/sciq

A second reference side, `reference-bf16`, runs the same code under
`torch.autocast("cpu", dtype=torch.bfloat16)` (every stage: training and evaluation): what a
PyTorch user picks for mixed precision, the fair counterpart of w2s's default mixed precision
on a CPU with native bf16. `--sides "reference,reference-bf16,f32=target/release/w2s
--mixed-precision=false,w2s"` measures both precisions on both sides in one run.

prints a table of wall times (per stage and in total, with ratios) and accuracies, and writes
everything to OUT/DATASET/summary-*.json. The reference imports `datasets`, `torch_optimizer`
and `wandb` (never used here): `.venv/bin/pip install datasets torch-optimizer wandb` first.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from w2s_hf import pool  # noqa: E402
REFERENCE = ROOT.parent / "shared" / "reference" / "openai-weak-to-strong"
# The reference in f32, and under torch.autocast with bf16.
REFERENCE_SIDES = ("reference", "reference-bf16")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------------------------------------
# The reference side (runs in a subprocess of its own, so its wall time includes start-up).


def run_reference(args):
    import torch

    sys.path.insert(0, str(Path(args.reference)))
    import transformers.modeling_utils
    from datasets import Dataset
    from transformers import AutoModel, AutoTokenizer

    # The reference imports this (for `train_and_save_model`'s reloading, not used here); it left
    # `modeling_utils` in transformers 5.
    if not hasattr(transformers.modeling_utils, "load_sharded_checkpoint"):
        transformers.modeling_utils.load_sharded_checkpoint = None
    import weak_to_strong.logger as logger
    from weak_to_strong.eval import eval_model_acc
    from weak_to_strong.loss import logconf_loss_fn, xent_loss
    from weak_to_strong.train import train_model

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    # `reference-bf16`: the reference's own code under autocast, as a PyTorch user would run it.
    import contextlib

    def precision():
        return torch.autocast("cpu", dtype=torch.bfloat16) if args.autocast else contextlib.nullcontext()
    losses = {"xent": xent_loss(), "logconf": logconf_loss_fn()}
    stages = {}

    class EncoderWithHead(torch.nn.Module):
        """The adapter: an encoder with w2s's head (zero weights, no bias, as the reference's
        `TransformerWithHead` and w2s's default) on mean-pooled features. The reference pads with id 0 and passes no mask; a sequence ends at its last
        non-zero id (every sequence ends with [SEP] or </s>), which gives the mask."""

        def __init__(self, path):
            super().__init__()
            self.encoder = AutoModel.from_pretrained(path)
            self.score = torch.nn.Linear(self.encoder.config.hidden_size, 2, bias=False)
            torch.nn.init.zeros_(self.score.weight)

        @property
        def device(self):
            return self.score.weight.device

        def forward(self, input_ids):
            positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
            ends = (positions * (input_ids != 0)).argmax(1, keepdim=True)
            mask = (positions <= ends).long()
            hidden = self.encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
            return self.score(pool(hidden, mask, "mean"))

    def is_decoder(path):
        config = json.load(open(Path(path) / "config.json"))
        return any(a.endswith("ForCausalLM") for a in config.get("architectures", []))

    def classifier(path):
        """The reference's own `TransformerWithHead` for a decoder (last non-pad token, zero
        head), with one shim: it reads the causal LM's body as `lm.transformer` (GPT-2's name);
        Llama-style models call it `lm.model`. Encoders get the adapter above."""
        if not is_decoder(path):
            return EncoderWithHead(path)
        import transformers
        from weak_to_strong.model import TransformerWithHead

        config = transformers.AutoConfig.from_pretrained(path)
        lm_class = getattr(transformers, config.architectures[0])
        if not hasattr(lm_class, "transformer"):
            lm_class.transformer = property(lambda self: self.model)  # the shim
        return TransformerWithHead.from_pretrained(path, num_labels=2, linear_probe=False)

    def dataset(rows, tokenizer, limit, soft=None):
        out = []
        for i, r in enumerate(rows):
            ids = tokenizer(r["text"])["input_ids"]
            if len(ids) >= limit:
                continue
            label = soft[i] if soft is not None else [1.0 - r["label"], float(r["label"])]
            out.append({"txt": r["text"], "input_ids": ids, "soft_label": label, "row": i})
        return out

    def timed(name, f):
        start = time.time()
        with precision():
            value = f()
        stages[name] = stages.get(name, 0.0) + time.time() - start
        return value

    splits = {s: read_jsonl(Path(args.splits) / f"{s}.jsonl") for s in ("train1", "train2", "test")}
    accuracy = {}
    predictions = {}
    n_train = {}

    def one_run(name, model_path, train_rows, loss, predict_train2, lr, soft=None):
        tok = timed(f"{name}: load", lambda: AutoTokenizer.from_pretrained(model_path))
        limit = min(args.max_ctx, 512)
        train_ds, test_ds, train2_ds = timed(
            f"{name}: tokenize",
            lambda: (
                Dataset.from_list(dataset(train_rows, tok, limit, soft)),
                Dataset.from_list(dataset(splits["test"], tok, limit)),
                Dataset.from_list(dataset(splits["train2"], tok, limit)) if predict_train2 else None,
            ),
        )
        n_train[name] = len(train_ds)
        # The reference's per-step log (log.jsonl), as w2s writes train_log.jsonl.
        os.environ.pop("WANDB_PROJECT", None)
        logger.configure(name=name, save_path=str(Path(args.json_out).parent / Path(args.json_out).stem / name))
        torch.manual_seed(args.seed)
        model = timed(f"{name}: load", lambda: classifier(model_path))
        timed(
            f"{name}: train",
            lambda: train_model(
                model,
                train_ds,
                args.batch_size,
                lr=lr,
                loss_fn=losses[loss],
                log_every=10**9,
                eval_every=0,
                minibatch_size=args.minibatch_size,
                epochs=args.epochs,
                lr_schedule="cosine_anneal",
                optimizer_name="adam",
            ),
        )
        test = timed(f"{name}: test", lambda: eval_model_acc(model, test_ds, args.eval_batch_size))
        accuracy[name] = float(sum(test["acc"]) / len(test))
        # Each test row's predicted class, for the agreement with w2s's predictions.
        predictions[name] = {int(row): int(p) for row, p in zip(test_ds["row"], test["hard_label"])}
        if predict_train2:
            pred = timed(
                f"{name}: predict train2",
                lambda: eval_model_acc(model, train2_ds, args.eval_batch_size),
            )
            return list(zip(train2_ds["row"], pred["soft_label"]))
        return None

    # The weak labels: the supervisor's probabilities on the train2 examples it kept.
    weak = one_run("weak", args.weak, splits["train1"], "xent", True, args.weak_lr)
    labelled = [(splits["train2"][row], probs) for row, probs in weak]
    one_run("ceiling", args.strong, splits["train1"], "xent", True, args.lr)
    for loss in args.losses:
        one_run(
            f"student {loss}",
            args.strong,
            [r for r, _ in labelled],
            loss,
            False,
            args.lr,
            soft=[p for _, p in labelled],
        )
    json.dump(
        {"stages": stages, "accuracy": accuracy, "n_train": n_train, "predictions": predictions},
        open(args.json_out, "w"),
        indent=1,
    )


# ---------------------------------------------------------------------------------------------
# The w2s side.


def data_dir_flag(args):
    return ["--data-dir", args.data_dir] if args.data_dir else []


def run_w2s(args, results, binary, flags):
    stages, accuracy, n_train, predictions, wall = {}, {}, {}, {}, 0.0
    for loss in args.losses:
        w2s_loss = "logconf_reference" if loss == "logconf" else loss
        cmd = [
            binary, "run",
            "--dataset", args.dataset, *data_dir_flag(args),
            "--model", args.strong, "--weak-model", args.weak,
            "--loss", w2s_loss,
            "--n-docs", str(args.n_docs), "--n-test-docs", str(args.n_test_docs),
            "--seed", str(args.seed), "--max-ctx", str(args.max_ctx),
            "--epochs", str(args.epochs), "--weak-epochs", str(args.epochs),
            "--batch-size", str(args.batch_size), "--weak-batch-size", str(args.batch_size),
            "--minibatch-size", str(args.minibatch_size),
            "--weak-minibatch-size", str(args.minibatch_size),
            "--lr", str(args.lr), "--weak-lr", str(args.weak_lr),
            "--device", "cpu", "--threads", str(args.threads),
            "--results", str(results),
        ] + args.extra.split() + flags  # fmt: skip
        start = time.time()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall += time.time() - start
    for result in Path(results).rglob("result.json"):
        r = json.load(open(result))
        cfg = json.load(open(result.parent / "config.json"))
        if cfg.get("supervisor") is None:
            name = "weak" if cfg["model"] == args.weak else "ceiling"
        else:
            loss = cfg["train"]["loss"]
            name = "student " + (loss if isinstance(loss, str) else loss["name"])
        total = r["provenance"]["wall_seconds"]
        train = r["training"]["seconds"]
        stages[f"{name}: train"] = train
        stages[f"{name}: rest"] = total - train
        accuracy[name] = r["test_accuracy"]
        n_train[name] = r["n_train"]
        test = json.load(open(result.parent / "predictions.json"))["test"]
        predictions[name] = {i: int(p[1] > p[0]) for i, p in enumerate(test) if p is not None}
    return {"stages": stages, "accuracy": accuracy, "n_train": n_train, "wall": wall, "predictions": predictions}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-dir", help="the task's raw files (not for the built-in demo)")
    p.add_argument("--weak", default=str(ROOT / "models/all-MiniLM-L6-v2"))
    p.add_argument("--strong", default=str(ROOT / "models/all-mpnet-base-v2"))
    p.add_argument("--losses", default="xent,logconf")
    p.add_argument("--n-docs", type=int, default=600)
    p.add_argument("--n-test-docs", type=int, default=400)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--minibatch-size", type=int, default=8)
    p.add_argument("--eval-batch-size", type=int, default=32, help="the reference's (gpt2's) eval batch")
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--weak-lr", type=float, default=5e-5)
    p.add_argument("--max-ctx", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", default="", help="comma-separated seeds: each its own split and runs, then a table of both sides' accuracies per seed")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--w2s", default=str(ROOT / "target/release/w2s"))
    p.add_argument("--reference", default=str(REFERENCE))
    p.add_argument(
        "--sides", default="reference,w2s",
        help="comma-separated: reference, w2s, or NAME=BINARY (another w2s build); a w2s side may "
        "end with flags of its own after a space, e.g. 'f32=target/release/w2s --mixed-precision=false'",
    )  # fmt: skip
    p.add_argument("--out", default="/tmp/w2s-bench-e2e")
    p.add_argument("--extra", default="", help="more flags for the w2s sides' `w2s run` (e.g. --mixed-precision)")
    p.add_argument("--reuse-reference", action="store_true", help="read OUT/DATASET/reference.json instead of running the reference again")
    p.add_argument("--side", help=argparse.SUPPRESS)
    p.add_argument("--autocast", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--splits", help=argparse.SUPPRESS)
    p.add_argument("--json-out", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.losses = args.losses.split(",")
    for path in ("weak", "strong", "w2s", "data_dir", "reference"):
        if getattr(args, path) is not None:
            setattr(args, path, os.path.abspath(getattr(args, path)))
    if args.side == "reference":
        return run_reference(args)
    # A task file may be given by any path: its results go under its file name.
    if args.dataset.endswith(".toml"):
        args.dataset = os.path.abspath(args.dataset)
    args.name = Path(args.dataset).stem if args.dataset.endswith(".toml") else args.dataset
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed]
    summaries = []
    for seed in seeds:
        args.seed = seed
        summaries.append(one_seed(args, Path(args.out) / args.name / f"seed{seed}" if args.seeds else Path(args.out) / args.name))
    if args.seeds:
        print_learning_table(summaries, args)


def one_seed(args, out):
    """Both sides on one seed's split; the summary."""
    out.mkdir(parents=True, exist_ok=True)
    splits = out / "splits"
    subprocess.run(
        [args.w2s, "datasets", "export", args.dataset, *data_dir_flag(args),
         "--n-docs", str(args.n_docs), "--n-test-docs", str(args.n_test_docs),
         "--seed", str(args.seed), "--out", str(splits)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    summary = {"args": dict(vars(args)), "sides": {}}
    for side in args.sides.split(","):
        if side in REFERENCE_SIDES and args.reuse_reference:
            summary["sides"][side] = json.load(open(out / f"{side}.json"))
            continue
        if side in REFERENCE_SIDES:
            json_out = out / f"{side}.json"
            start = time.time()
            autocast = ["--autocast"] if side == "reference-bf16" else []
            subprocess.run(
                [sys.executable, __file__] + sys.argv[1:] + ["--side", "reference", "--splits", str(splits),
                 "--json-out", str(json_out), "--seed", str(args.seed), "--seeds", ""] + autocast,
                check=True,
            )  # fmt: skip
            ref = json.load(open(json_out))
            ref["wall"] = time.time() - start
            json.dump(ref, open(json_out, "w"), indent=1)
            summary["sides"][side] = ref
        else:
            # `w2s`, or `NAME=BINARY` for another build (a baseline of w2s itself), then flags.
            spec, *flags = side.split()
            name, _, binary = spec.partition("=")
            side = name
            results = out / f"results-{name}"
            subprocess.run(["rm", "-rf", str(results)], check=True)
            binary = os.path.abspath(binary) if binary else args.w2s
            summary["sides"][name] = run_w2s(args, results, binary, flags)
            summary["sides"][name]["flags"] = flags
        print(f"{side}: {summary['sides'][side]['wall']:.1f} s", flush=True)
    # One summary per set of w2s sides: `summary-w2s.json`, `summary-before-w2s.json`, ...
    names = "-".join(n for n in summary["sides"] if n not in REFERENCE_SIDES)
    json.dump(summary, open(out / f"summary-{names}.json", "w"), indent=1)
    print_table(summary, args)
    return summary


def print_learning_table(summaries, args):
    """Per seed and run, the two sides' test accuracies with 95% intervals (normal
    approximation over the test examples), and the mean difference per run."""
    others = [n for n in summaries[0]["sides"] if n not in REFERENCE_SIDES]
    if "reference" not in summaries[0]["sides"] or not others:
        return
    name = others[0]
    n = args.n_test_docs
    ci = lambda a: 1.96 * math.sqrt(max(a * (1 - a), 1e-9) / n)  # noqa: E731
    print(f"\n{args.name}: reference vs {name}, same rows per seed ({args.n_docs} train, {n} test)")
    print("| seed | run | reference | w2s | w2s - reference | same prediction |")
    print("|---|---|---|---|---|---|")
    diffs = {}
    for s in summaries:
        ref, ours = s["sides"]["reference"]["accuracy"], s["sides"][name]["accuracy"]
        for run, ra in ref.items():
            wa = ours.get(run, math.nan)
            diffs.setdefault(run, []).append(wa - ra)
            same = agreement(s["sides"]["reference"], s["sides"][name], run)
            print(f"| {s['args']['seed']} | {run} | {ra:.3f} ± {ci(ra):.3f} | {wa:.3f} ± {ci(wa):.3f} | {wa - ra:+.3f} | {same} |")
    print("\n| run | mean difference (w2s - reference) over seeds |")
    print("|---|---|")
    for run, d in diffs.items():
        print(f"| {run} | {sum(d) / len(d):+.4f} |")
    every = [x for d in diffs.values() for x in d]
    print(f"| all runs | {sum(every) / len(every):+.4f} |")


def agreement(ref, ours, run):
    """How many test rows both sides predicted, and on how many they predict the same class."""
    a = {int(k): v for k, v in ref.get("predictions", {}).get(run, {}).items()}
    b = {int(k): v for k, v in ours.get("predictions", {}).get(run, {}).items()}
    rows = a.keys() & b.keys()
    if not rows:
        return "n/a"
    same = sum(a[r] == b[r] for r in rows)
    return f"{same}/{len(rows)}"


def stage_totals(side):
    """Seconds per run (weak, ceiling, students), training and the rest."""
    runs = {}
    for key, secs in side["stages"].items():
        run, stage = key.split(": ")
        train, rest = runs.get(run, (0.0, 0.0))
        runs[run] = (train + secs, rest) if stage == "train" else (train, rest + secs)
    return runs


def print_table(summary, args):
    for ref in REFERENCE_SIDES:
        for name in summary["sides"]:
            if name not in REFERENCE_SIDES and ref in summary["sides"]:
                print_pair(summary, args, name, ref)


def print_pair(summary, args, name, ref_name="reference"):
    sides = {"reference": summary["sides"].get(ref_name), "w2s": summary["sides"][name]}
    if sides["reference"] is None:
        return
    print(f"\n{ref_name} vs {name}:")
    ref, ours = stage_totals(sides["reference"]), stage_totals(sides["w2s"])
    print(f"\n{args.name} (seed {args.seed}): n_docs {args.n_docs}, n_test {args.n_test_docs}, batch {args.batch_size}/{args.minibatch_size}, epochs {args.epochs}")
    print("| run | reference train | w2s train | ratio | reference rest | w2s rest | ratio | reference acc | w2s acc |")
    print("|---|---|---|---|---|---|---|---|---|")
    for run in ref:
        (rt, rr), (wt, wr) = ref[run], ours.get(run, (math.nan, math.nan))
        ra, wa = sides["reference"]["accuracy"][run], sides["w2s"]["accuracy"].get(run, math.nan)
        n = args.n_test_docs
        se = math.sqrt(max(ra * (1 - ra), 1e-9) / n)
        print(f"| {run} | {rt:.1f} s | {wt:.1f} s | {wt / rt:.2f}x | {rr:.1f} s | {wr:.1f} s | {wr / rr:.2f}x | {ra:.3f} | {wa:.3f} (±{1.96 * se:.3f}) |")
    rw, ww = sides["reference"]["wall"], sides["w2s"]["wall"]
    print(f"| **total wall** | | | | | | **{ww / rw:.2f}x** ({rw:.0f} s vs {ww:.0f} s) | | |")
    for run, n in sides["reference"]["n_train"].items():
        if sides["w2s"]["n_train"].get(run) != n:
            print(f"warning: {run} trained on {n} examples in the reference, {sides['w2s']['n_train'].get(run)} in w2s")


if __name__ == "__main__":
    main()
