"""The operations of the `w2s` program, as Python functions returning Python objects.

Options are validated against the names the Rust definitions give (`w2s.keys()`), then handed
over as JSON (read strictly by the serde definitions that read config files); results come
back as Python objects (`_native.Outcome` and the stored records as dicts). Everything else
(planning, training, storing, reuse) is the same code as the command line's.
"""

import dataclasses
import difflib
import inspect
import io
import json
import math
import os
import shutil
import sys
import sysconfig
import textwrap
from typing import Any, Callable, Optional

import pandas as pd

from . import _native

_output_set = False


def configure(verbose: bool = False, progress: Optional[str] = None) -> None:
    """Where logs and progress bars go, before the first run (later calls change only the
    bars). `progress`: "terminal", "notebook" or "none"; by default "notebook" under Jupyter,
    "terminal" when stderr is a terminal, else "none". Logs (one line per run; `verbose` for
    the details) go to `sys.stderr` either way."""
    global _output_set
    if progress is None:
        if "ipykernel" in sys.modules:
            progress = "notebook"
        elif hasattr(sys.stderr, "isatty") and sys.stderr.isatty():
            progress = "terminal"
        else:
            progress = "none"
    _native.set_output(verbose, progress)
    _output_set = True


# The display handle of each progress bar drawn in a notebook, by the bar's id.
_bars: dict = {}


def _progress(bar: int, line: str, done: bool) -> None:
    """Draw a progress bar's line in a notebook: one output per bar, updated in place, so a
    saved notebook holds the bar's last state rather than every redraw. Outside IPython, a
    line on sys.stderr."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        sys.stderr.write("\r" + line + ("\n" if done else ""))
        return
    data = {"text/plain": line}
    handle = _bars.get(bar)
    if handle is None:
        _bars[bar] = display(data, raw=True, display_id=True)
    else:
        handle.update(data, raw=True)
    if done:
        _bars.pop(bar, None)


def _setup() -> None:
    if not _output_set:
        configure()


def keys() -> dict:
    """The option names: `run` (a run file's keys, `w2s.run`'s keyword arguments), `train`
    (`[train]`'s, also accepted at the top level, and as `weak_*` for the supervisor) and
    `demo` (`w2s.demo`'s)."""
    return _native.keys()


def _unknown(name: str, known: list, what: str) -> ValueError:
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return ValueError(f"{what} has no option `{name}`{hint} (the options: {', '.join(known)})")


# ---------------------------------------------------------------------------------------------
# Losses written in Python


def _loss_source(fn: Callable) -> str:
    """The text that identifies a Python loss: its source, else (no source file: a function
    typed into a REPL) its bytecode and constants."""
    try:
        return textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        code = fn.__code__
        return f"# no source; bytecode of {fn.__qualname__}\n{code.co_code.hex()}\n{code.co_consts!r}"


def _loss_table(fn: Callable) -> dict:
    if not callable(fn):
        raise TypeError(f"loss = {fn!r}: a loss is a name, a table (dict) or a function")
    name = getattr(fn, "__name__", type(fn).__name__)
    return _native.register_loss(name, _loss_source(fn), fn)


# ---------------------------------------------------------------------------------------------
# Datasets given as DataFrames or lists of dicts


def _is_columns(value) -> bool:
    """A dict of columns (`{"text": [...], "label": [...]}`): every value a sequence. Training
    options never are (their values are numbers, names or tables)."""
    return (isinstance(value, dict) and bool(value)
            and all(isinstance(v, (list, tuple)) or hasattr(v, "tolist") for v in value.values()))


def _jsonl(rows, split: str) -> str:
    # A Hugging Face `datasets.Dataset`, or a dict of columns: as a DataFrame.
    if hasattr(rows, "to_pandas") and not isinstance(rows, pd.DataFrame):
        rows = rows.to_pandas()
    elif _is_columns(rows):
        lengths = {k: len(v) for k, v in rows.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"{split}: the columns have different lengths: {lengths}")
        rows = pd.DataFrame({k: list(v) for k, v in rows.items()})
    if isinstance(rows, pd.DataFrame):
        if rows.empty:
            raise ValueError(f"{split}: the DataFrame has no rows")
        return rows.to_json(orient="records", lines=True, force_ascii=False).strip() + "\n"
    if isinstance(rows, (list, tuple)):
        if not rows:
            raise ValueError(f"{split}: the list has no rows")
        out = []
        for i, r in enumerate(rows):
            if not isinstance(r, dict):
                raise TypeError(f"{split}[{i}] is a {type(r).__name__}; rows are dicts")
            out.append(json.dumps(r, ensure_ascii=False, default=_plain))
        return "\n".join(out) + "\n"
    raise TypeError(f"{split} = {type(rows).__name__}: give a pandas DataFrame, a datasets.Dataset, a dict of columns or a list of dicts")


def _plain(x):
    if hasattr(x, "item"):  # numpy scalars
        return x.item()
    if hasattr(x, "tolist"):  # numpy arrays (a `choices` column)
        return x.tolist()
    raise TypeError(f"cannot store {type(x).__name__} {x!r} in a row")


def _task_file(train, test, task: Optional[dict], name: Optional[str], results: str) -> str:
    """The data as a task file beside its two JSON-lines files, written by w2s where the same
    data always lands (`results/.tasks/<hash>/`); the task file's keys not given in `task` are
    read from the rows' columns by the rule task files follow (docs/PYTHON.md)."""
    train_text, test_text = _jsonl(train, "train"), _jsonl(test, "test")
    return _native.task_from_rows(train_text, test_text, json.dumps(dict(task or {})),
                                  name or "python_task", os.path.abspath(results))


# ---------------------------------------------------------------------------------------------
# Runs


@dataclasses.dataclass
class RunResult:
    """What `w2s.run` returns. For a weak-to-strong run, `test_accuracy` is the student's and
    `weak_accuracy`, `ceiling_accuracy`, `pgr` and `agreement` (with its supervisor) are set,
    and `gap`: ceiling minus weak accuracy with its 95% interval over test examples
    (`{"value", "lo", "hi"}`); `pgr` is None where that interval reaches 0 (no measurable gap,
    the rule of `w2s run` and the reports); for a ground-truth run only `test_accuracy`. `runs` lists every run involved (role, folder,
    and its result.json as a dict); `dir` is the folder of the run whose accuracy this is."""

    test_accuracy: float
    dir: str
    weak_accuracy: Optional[float] = None
    ceiling_accuracy: Optional[float] = None
    pgr: Optional[float] = None
    agreement: Optional[float] = None
    method: Optional[str] = None
    gap: Optional[dict] = None
    runs: list = dataclasses.field(default_factory=list, repr=False)

    @property
    def predictions(self) -> pd.DataFrame:
        """The test predictions of this run (the student's, for a weak-to-strong run): one row
        per test example with its true `label`, `p1` (the probability of label 1; NaN where the
        example was dropped for its length), `predicted` and `correct` (1.0 or 0.0; 0.5 for a tie,
        p1 = 0.5, as the accuracy counts it); for a weak-to-strong
        run also each supervisor's `p1` as `weak_p1` (the mean of several)."""
        def test_p1(folder):
            with open(os.path.join(folder, "predictions.json")) as f:
                p = json.load(f)
            return [math.nan if x is None else x[1] for x in p["test"]], p.get("test_labels", [])

        p1, labels = test_p1(self.dir)
        df = pd.DataFrame({"label": labels or [None] * len(p1), "p1": p1})
        df["predicted"] = (df["p1"] > 0.5).astype("Int64").where(df["p1"].notna())
        df["correct"] = (df["predicted"] == df["label"]).astype(float).where(df["p1"].notna())
        df.loc[df["p1"] == 0.5, "correct"] = 0.5  # a tie counts half, as in test_accuracy
        weak = [test_p1(r["dir"])[0] for r in self.runs if r.get("role") == "weak"]
        if weak:
            df["weak_p1"] = pd.DataFrame(weak).mean(axis=0, skipna=False).to_numpy()
        df.index.name = "example"
        return df

    def __str__(self) -> str:
        if self.weak_accuracy is None:
            return f"test accuracy {100 * self.test_accuracy:.1f}% ({self.dir})"
        if self.pgr is not None:
            pgr = f"{self.pgr:.3f}"
        elif self.gap is not None:
            g = self.gap
            pgr = (
                f"n/a (no measurable gap: ceiling - weak = {100 * g['value']:+.1f} points "
                f"[{100 * g['lo']:+.1f}, {100 * g['hi']:+.1f}])"
            )
        else:
            pgr = "n/a"
        return (
            f"weak {100 * self.weak_accuracy:.1f}%, ceiling {100 * self.ceiling_accuracy:.1f}%, "
            f"student ({self.method}) {100 * self.test_accuracy:.1f}%, PGR {pgr}"
        )


def _storage(results: str, device: str, threads: Optional[int], force: bool) -> str:
    return json.dumps(dict(results=results, device=device, threads=threads, force=bool(force)))


def _run_options(options: dict, what: str = "w2s.run") -> dict:
    """Keyword arguments to a run file's table: run keys as they are, `[train]` keys into
    `train`, `weak_<key>` into `weak`."""
    k = keys()
    run_keys, train_keys = k["run"], k["train"]
    out: dict = {}
    train: dict = {}
    weak: dict = {}
    for key, value in options.items():
        if key == "train":
            if not isinstance(value, dict):
                raise TypeError("train = a DataFrame or list goes with test = (the task's data)")
            train.update(value)
        elif key == "weak":
            weak.update(value)
        elif key in run_keys:
            out[key] = value
        elif key in train_keys:
            train[key] = value
        elif key.startswith("weak_") and key[5:] in train_keys:
            weak[key[5:]] = value
        else:
            raise _unknown(key, run_keys + train_keys + [f"weak_{t}" for t in train_keys], what)
    for table in (train, weak):
        for key in table:
            if key not in train_keys:
                raise _unknown(key, train_keys, f"{what}'s [train] / [weak]")
    if callable(train.get("loss")):
        train["loss"] = _loss_table(train["loss"])
    if isinstance(out.get("weak_model"), str):
        out["weak_model"] = [out["weak_model"]]
    for key in ("data_dir", "results", "dataset", "model"):
        if isinstance(out.get(key), os.PathLike):
            out[key] = os.fspath(out[key])
    if isinstance(out.get("weak_model"), list):
        out["weak_model"] = [os.fspath(m) for m in out["weak_model"]]
    out["train"], out["weak"] = train, weak
    return out


def _finite(value: Any, key: str) -> None:
    """NaN and infinity are errors where they are given, as in a run file."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{key} = {value}: a number w2s can use must be finite")
    if isinstance(value, dict):
        for k, v in value.items():
            _finite(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, (list, tuple)):
        for v in value:
            _finite(v, key)


def run(
    config=None,
    *,
    train=None,
    test=None,
    task: Optional[dict] = None,
    task_name: Optional[str] = None,
    threads: Optional[int] = None,
    force: bool = False,
    report_to: Optional[str] = None,
    **options: Any,
) -> RunResult:
    """One run, or a weak-to-strong experiment (with `weak_model`), as `w2s run` does it.

    `report_to="wandb"` logs every run involved to Weights & Biases when it is done (see
    `_to_wandb`); `report_to=None` (default) logs nowhere but the run folders.

    Keyword arguments are a run file's keys (`model`, `weak_model`, `dataset`, `n_docs`, ...,
    `results` (default "results"), `device` (default "auto")), `[train]`'s keys (`lr`, `loss`,
    `epochs`, ...; or `train={...}`), and `[weak]`'s as `weak_lr=...` (or `weak={...}`).
    `loss` may be a Python function `(logits, labels, step_frac) -> scalar tensor`.
    `train=` and `test=` may be DataFrames, `datasets.Dataset`s, dicts of columns or lists of
    dicts (columns `text` and `label`, or
    `choices` and `answer`), with `task={...}` for a task file's other keys (a `text`
    template, `label_map`, ...). `threads`: libtorch's CPU threads; `force`: retrain.
    Stored runs are reused exactly as by the command line. `config`: a run file (TOML, as
    `w2s run run.toml`), with the keyword arguments over it as flags are over it; its
    `results` applies unless `results=` is given.
    """
    _setup()
    if config is not None:
        config = os.fspath(config)
        if not os.path.isfile(config):
            raise FileNotFoundError(f"w2s.run: no run file at {config}")
    if isinstance(train, dict) and not _is_columns(train):
        options["train"] = train  # training options, as `[train]`
        train = None
    if (train is None) != (test is None):
        raise ValueError("give both train= and test= (the task's data), or neither")
    # Absolute, so that the folders in the result stay right after a change of directory.
    results = os.path.abspath(os.fspath(options.get("results") or "results"))
    device = options.pop("device", None) or "auto"
    if train is not None:
        if options.get("dataset") is not None:
            raise ValueError("dataset= and train=/test= both name the task: give one")
        options["dataset"] = _task_file(train, test, task, task_name, results)
    elif task is not None:
        raise ValueError("task= describes the data of train= and test=")
    given_results = options.get("results") is not None
    opts = _run_options(options)
    _finite(opts, "")
    if given_results or config is None:
        opts["results"] = results
    else:
        opts.pop("results", None)
    storage = _storage(results, device, threads, force)
    if report_to not in (None, "wandb"):
        raise ValueError(f'report_to = {report_to!r}: use "wandb" or None')
    out = _native.run(json.dumps(opts), storage, config)
    runs, outcome = out.runs, out.outcome
    last = runs[-1]
    if report_to == "wandb":
        _to_wandb(runs, outcome)
    if outcome is None:
        return RunResult(test_accuracy=last["result"]["test_accuracy"], dir=last["dir"], runs=runs)
    student = outcome.students[-1]
    g = outcome.gap
    return RunResult(
        test_accuracy=student.accuracy,
        dir=last["dir"],
        weak_accuracy=outcome.weak,
        ceiling_accuracy=outcome.ceiling,
        pgr=student.pgr,
        agreement=student.agreement,
        method=student.loss,
        gap=dict(value=g.value, lo=g.lo, hi=g.hi),
        runs=runs,
    )


def _to_wandb(runs: list, outcome: Optional["_native.Outcome"]) -> None:
    """Each run of an experiment as one Weights & Biases run: its id the w2s run's hash (a run
    logged again, reused from the store, updates its W&B run instead of adding one), its
    config the run's specification, its history the steps of `train_log.jsonl`, its summary
    the test metrics and, for the students, the experiment's weak and ceiling accuracy and PGR.
    The project is $WANDB_PROJECT (default "w2s"); the runs of one experiment share a group.
    $WANDB_MODE=offline logs to local files (`wandb sync` uploads them later)."""
    try:
        import wandb
    except ImportError:
        raise ImportError('report_to="wandb" needs the wandb package: pip install wandb') from None
    group = runs[-1]["result"]["hash"]
    seen = set()
    for r in runs:
        result = r["result"]
        if result["hash"] in seen:  # one run in two roles (weak model = strong model)
            continue
        seen.add(result["hash"])
        spec = result["spec"]
        summary = {"test_accuracy": result["test_accuracy"], "auroc": result["analysis"].get("auroc")}
        if r.get("role") == "student" and outcome is not None:
            s = outcome.students[-1]
            summary.update(weak_accuracy=outcome.weak, ceiling_accuracy=outcome.ceiling,
                           pgr=s.pgr, agreement=result.get("supervisor_agreement"))
        diagnostics = result["analysis"].get("diagnostics")
        if diagnostics:
            summary.update(diagnostics)
        run = wandb.init(project=os.environ.get("WANDB_PROJECT", "w2s"), id=result["hash"],
                         name=os.path.basename(r["dir"]), group=group, job_type=r.get("role"),
                         resume="allow", reinit="finish_previous",
                         config={"model": spec["model"], "dataset": spec["data"]["name"],
                                 "seed": spec["seed"], "train": spec["train"], "dir": r["dir"]})
        log = os.path.join(r["dir"], "train_log.jsonl")
        if os.path.exists(log) and run.step == 0:
            with open(log) as f:
                for line in f:
                    step = json.loads(line)
                    run.log({k: v for k, v in step.items() if k != "step"}, step=step["step"])
        run.summary.update({k: v for k, v in summary.items() if v is not None})
        run.finish()


def demo(
    *,
    results: str = "results/demo",
    device: str = "auto",
    threads: Optional[int] = None,
    force: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """The demo experiment (`w2s demo`): the bag of words supervising `strong` on the built-in
    task, one student per loss in `losses`, per seed in `seeds`. Returns one row per seed and
    loss: weak, ceiling and student accuracy, PGR, agreement."""
    _setup()
    k = keys()
    demo_keys, train_keys = k["demo"], k["train"]
    opts: dict = {}
    train: dict = dict(options.pop("train", None) or {})
    for key, value in options.items():
        if key in demo_keys:
            opts[key] = value
        elif key in train_keys:
            train[key] = value
        else:
            raise _unknown(key, demo_keys + train_keys, "w2s.demo")
    for key in ("seeds", "losses"):
        if isinstance(opts.get(key), (int, str)):
            opts[key] = [opts[key]]
    if "strong" in opts:
        opts["strong"] = os.fspath(opts["strong"])
    opts["train"] = train
    _finite(opts, "")
    results = os.path.abspath(os.fspath(results))
    outcomes = _native.demo(json.dumps(opts), _storage(results, device, threads, force))
    rows = [
        {
            "seed": o.seed,
            "loss": s.loss,
            "weak": o.weak,
            "ceiling": o.ceiling,
            "student": s.accuracy,
            "pgr": s.pgr,
            "agreement": s.agreement,
        }
        for o in outcomes
        for s in o.students
    ]
    return pd.DataFrame(rows, columns=["seed", "loss", "weak", "ceiling", "student", "pgr", "agreement"])


# ---------------------------------------------------------------------------------------------
# Sweeps, runs tables and reports


def runs(results) -> pd.DataFrame:
    """Every complete run under `results` (a folder of `w2s run`, `demo` or `sweep`), one row
    each, with the columns of `runs.csv` (`w2s report` writes the same table)."""
    _setup()
    text = _native.runs_csv(os.fspath(results))
    if text.count("\n") <= 1:
        return pd.DataFrame(columns=text.strip().split(",") if text.strip() else [])
    return pd.read_csv(io.StringIO(text))


def _exe() -> str:
    """The `w2s` command of this installation: what a sweep's workers run."""
    script = os.path.join(sysconfig.get_path("scripts"), "w2s")
    if os.access(script, os.X_OK):
        return script
    found = shutil.which("w2s")
    if found:
        return found
    raise RuntimeError("w2s.sweep: the `w2s` command of this installation was not found (pip puts "
                       f"it in {sysconfig.get_path('scripts')}); a sweep's workers run it")


def sweep(
    config,
    *,
    results=None,
    jobs: int = 1,
    device=None,
    threads: Optional[int] = None,
    executor: str = "local",
    sbatch=(),
    force: bool = False,
    dry_run: bool = False,
) -> pd.DataFrame:
    """Run a sweep, as `w2s sweep` does (the same code): `config` is a sweep file's path, or a
    dict of its keys (see the README). The runs train in worker processes (resumable; a failed
    run does not stop the rest, and fails the call at the end); what the sweep prints is shown
    here, and an interrupt stops it with its workers. Returns `w2s.runs(results)`. Python
    losses and Python data are for `w2s.run`: a sweep's workers are other processes."""
    _setup()
    how = dict(jobs=jobs, devices=[device] if isinstance(device, str) else list(device or ["auto"]),
               threads=threads, executor=executor, sbatch=list(sbatch), force=force, dry_run=dry_run)
    where = None if results is None else os.fspath(results)
    if isinstance(config, dict):
        results = _native.sweep(json.dumps(how), _exe(), keys=json.dumps(config), results=where)
    else:
        results = _native.sweep(json.dumps(how), _exe(), path=os.fspath(config), results=where)
    return runs(results) if not dry_run else pd.DataFrame()


@dataclasses.dataclass
class Report:
    """What `w2s.report` wrote: the tables' text (also in `folder/report.txt`), the runs as a
    DataFrame (`runs.csv`), and the paths of the HTML page and plots."""

    text: str
    folder: str
    runs: pd.DataFrame = dataclasses.field(repr=False)

    @property
    def html(self) -> str:
        return os.path.join(self.folder, "report.html")

    @property
    def plots(self) -> str:
        return os.path.join(self.folder, "plots")

    def __str__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(self.text)}</pre>"


def report(results, out=None, aggregate: Optional[str] = None) -> Report:
    """`w2s report`: tables (accuracy, PGR with intervals, per-seed PGR), plots, an HTML page
    and runs.csv / runs.parquet for the runs under `results`, written to `out` (default: the
    results folder). `aggregate`: "reference", "pooled" or "per-seed" (docs/METHODS.md)."""
    _setup()
    results = os.path.abspath(os.fspath(results))
    out = os.path.abspath(os.fspath(out)) if out is not None else results
    text = _native.report(results, out, aggregate)
    return Report(text=text, folder=out, runs=pd.read_csv(os.path.join(out, "runs.csv")))
