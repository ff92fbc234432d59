"""The w2s Python package, installed from its wheel into a fresh venv (see conftest.py)."""

import csv
import json
import os
import textwrap
from pathlib import Path

import pytest

MINILM = os.environ.get("W2S_MINILM")


def test_installs_without_rust_and_runs_the_readme_line(py, work):
    assert py.command(["sh", "-c", "command -v cargo || echo none"], work).stdout.strip() == "none"
    # The check, word for word.
    p = py.run("import w2s; r = w2s.run(model='bow', dataset='demo', n_docs=600, "
               "n_test_docs=300); print(r.test_accuracy)", work)
    acc = float(p.stdout.strip().splitlines()[-1])
    assert 0.5 < acc <= 1.0, p.stdout
    # One log line per run, through Python's stderr.
    assert "bow (ground truth): trained in" in p.stderr, p.stderr
    # The `w2s` command is the program itself.
    h = py.command(["w2s", "--help"], work)
    assert h.returncode == 0 and "Usage: w2s" in h.stdout, h.stderr
    r = py.command(["w2s", "run", "--model", "bow", "--n-docs", "600", "--n-test-docs", "300"], work)
    assert r.returncode == 0, r.stderr
    # The same run: the command line reused what Python stored.
    assert "stored, test accuracy" in r.stderr, r.stderr


def test_weak_to_strong_with_minilm_and_the_runs_table(py, work):
    if not MINILM:
        pytest.skip("W2S_MINILM is not set (./dev test sets it)")
    out = py.json(f"""
        import json, w2s
        r = w2s.run(model={MINILM!r}, weak_model="bow", dataset="demo", n_docs=200,
                    n_test_docs=100, epochs=1, weak_epochs=4, max_ctx=64)
        df = w2s.runs("results")
        print(json.dumps(dict(acc=r.test_accuracy, weak=r.weak_accuracy, ceiling=r.ceiling_accuracy,
                              pgr=r.pgr, gap=r.gap, text=str(r), agreement=r.agreement,
                              method=r.method, dir=r.dir,
                              roles=[x["role"] for x in r.runs], columns=list(df.columns),
                              rows=len(df), models=sorted(set(df["model"])))))
    """, work)
    assert out["roles"] == ["weak", "ceiling", "student"]
    assert out["method"] == "xent"
    for k in ("acc", "weak", "ceiling", "agreement"):
        assert 0.0 <= out[k] <= 1.0, out
    # PGR only where the gap is measurable, the rule of `w2s run` and the reports.
    gap = out["gap"]
    assert abs(gap["value"] - (out["ceiling"] - out["weak"])) < 1e-9 and gap["lo"] <= gap["hi"], out
    if gap["lo"] > 0:
        expected = (out["acc"] - out["weak"]) / (out["ceiling"] - out["weak"])
        assert abs(out["pgr"] - expected) < 1e-9, out
    else:
        assert out["pgr"] is None and "no measurable gap" in out["text"], out
    assert Path(out["dir"], "result.json").exists()
    assert out["rows"] == 3
    # w2s.runs has the columns of the runs.csv that `w2s report` writes.
    rep = py.command(["w2s", "report", "results"], work)
    assert rep.returncode == 0, rep.stderr
    with open(work / "results" / "runs.csv", newline="") as f:
        header = next(csv.reader(f))
    assert out["columns"] == header
    assert any("all-MiniLM-L6-v2" in m for m in out["models"]), out["models"]


def test_a_dict_of_columns_and_a_datasets_dataset_are_the_same_task(py, work):
    pytest.importorskip("datasets")
    out = py.json("""
        import json, w2s, pandas as pd, datasets
        words = ["good", "great", "fine", "bad", "awful", "poor"]
        def frame(n, seed):
            return pd.DataFrame([{"text": f"a {words[(i * 5 + seed) % 6]} film",
                                  "label": int((i * 5 + seed) % 6 < 3)} for i in range(n)])
        train, test = frame(100, 0), frame(50, 1)
        common = dict(model="bow", n_docs=80, n_test_docs=40, task_name="cols", epochs=5)
        a = w2s.run(train=train, test=test, **common)
        b = w2s.run(train={"text": list(train.text), "label": train.label.to_numpy()},
                    test={"text": list(test.text), "label": list(test.label)}, **common)
        c = w2s.run(train=datasets.Dataset.from_pandas(train), test=datasets.Dataset.from_pandas(test), **common)
        try:
            w2s.run(train={"text": ["a", "b"], "label": [1]}, test=test, **common)
            ragged = None
        except ValueError as e:
            ragged = str(e)
        print(json.dumps(dict(a=a.dir, b=b.dir, c=c.dir, ragged=ragged)))
    """, work)
    assert out["a"] == out["b"] == out["c"], out
    assert "different lengths" in out["ragged"], out


def test_a_dataframe_is_a_task_and_its_content_its_identity(py, work):
    out = py.json("""
        import json, w2s, pandas as pd
        words = ["good", "great", "fine", "bad", "awful", "poor"]
        def frame(n, seed):
            nouns = ["film", "plot", "cast", "score", "ending"]
            rows = [{"text": f"a {words[(i * 7 + seed) % 6]} {nouns[i % 5]}, truly {words[(i * 7 + seed) % 6]}",
                     "label": int((i * 7 + seed) % 6 < 3)} for i in range(n)]
            return pd.DataFrame(rows)
        train, test = frame(120, 0), frame(60, 1)
        a = w2s.run(model="bow", train=train, test=test, n_docs=100, n_test_docs=50,
                    task_name="films", epochs=20)
        again = w2s.run(model="bow", train=train, test=test, n_docs=100, n_test_docs=50,
                        task_name="films", epochs=20)
        edited = train.copy()
        edited.loc[0, "text"] = "a different first review"
        b = w2s.run(model="bow", train=edited, test=test, n_docs=100, n_test_docs=50,
                    task_name="films", epochs=20)
        # Multiple choice, from a list of dicts, as a TOML task's choices and answer.
        mc = [{"question": f"{words[i % 6]} means?", "choices": ["positive", "negative"],
               "answer": i % 6 // 3} for i in range(80)]
        c = w2s.run(model="bow", train=mc, test=mc[:40], n_docs=60, n_test_docs=40, epochs=8)
        df = w2s.runs("results")
        print(json.dumps(dict(a=a.dir, again=again.dir, b=b.dir, acc=a.test_accuracy,
                              c=c.test_accuracy, tasks=sorted(set(df["dataset"])))))
    """, work)
    assert out["a"] == out["again"]
    assert out["a"] != out["b"], "an edited DataFrame must be another task"
    assert out["acc"] > 0.8, out  # the words decide the label
    assert 0.0 <= out["c"] <= 1.0
    assert "films" in out["tasks"], out["tasks"]
    tasks = list((work / "results" / ".tasks").iterdir())
    assert len(tasks) == 3, tasks  # two film tasks and the multiple-choice one


XENT = """
def py_xent(logits, labels, step_frac):
    return -(labels * torch.log_softmax(logits, dim=-1)).sum(-1).mean()
"""

# openai/weak-to-strong's `logconf_loss_fn` (weak_to_strong/loss.py), warm-up jump and all.
LOGCONF = """
def py_logconf_reference(logits, labels, step_frac, warmup_frac=0.1, aux_coef=0.5):
    logits, labels = logits.float(), labels.float()
    coef = aux_coef * step_frac if step_frac <= warmup_frac else aux_coef
    preds = torch.softmax(logits.detach(), dim=-1)
    threshold = torch.quantile(preds[:, 0], labels.mean(0)[1])
    strong = torch.stack([(preds[:, 0] >= threshold), (preds[:, 0] < threshold)], 1).float()
    target = labels * (1 - coef) + strong * coef
    return torch.nn.functional.cross_entropy(logits, target)
"""


@pytest.mark.parametrize("builtin,source,name", [
    ("xent", XENT, "py_xent"),
    ("logconf_reference", LOGCONF, "py_logconf_reference"),
])
def test_a_python_loss_trains_the_same_student_as_the_builtin(py, work, builtin, source, name):
    script = "import json, os, torch, w2s\n" + source + textwrap.dedent(f"""
        common = dict(model="bow", weak_model="bow", dataset="demo", n_docs=400,
                      n_test_docs=200, epochs=3, weak_epochs=1)
        a = w2s.run(loss={builtin!r}, **common)
        b = w2s.run(loss={name}, **common)
        curve = lambda r: [json.loads(l)["loss"] for l in open(os.path.join(r.dir, "train_log.jsonl"))]
        print(json.dumps(dict(a=a.test_accuracy, b=b.test_accuracy, ca=curve(a), cb=curve(b),
                              da=a.dir, db=b.dir, method=b.method)))
    """)
    out = py.json(script, work)
    assert out["method"] == name
    assert out["da"] != out["db"]
    assert out["a"] == out["b"], out
    assert len(out["ca"]) == len(out["cb"]) > 10
    worst = max(abs(x - y) for x, y in zip(out["ca"], out["cb"]))
    assert worst < 1e-5, f"loss curves differ by {worst}"


def test_a_failing_python_loss_raises_its_exception_and_touches_nothing_stored(py, work):
    p = py.run("""
        import json, os, pathlib, w2s
        common = dict(model="bow", weak_model="bow", dataset="demo", n_docs=200, n_test_docs=100)
        ok = w2s.run(**common)
        stored = {str(p): p.read_bytes() for p in pathlib.Path("results").rglob("*.json")}

        class Boom(Exception):
            pass

        def exploding(logits, labels, step_frac):
            if step_frac > 0.3:
                raise Boom("the loss gave up")
            return -(labels * logits.log_softmax(-1)).sum(-1).mean()

        try:
            w2s.run(loss=exploding, **common)
        except Boom as e:
            caught = "".join(__import__("traceback").format_exception(e))
        else:
            raise SystemExit("no exception")
        after = {str(p): p.read_bytes() for p in pathlib.Path("results").rglob("*.json")}
        failed = [p for p in after if p.endswith("failed.json")]
        unchanged = all(after[p] == b for p, b in stored.items())
        new = sorted(set(after) - set(stored))
        print(json.dumps(dict(caught=caught, failed=failed, unchanged=unchanged, new=new,
                              reason=json.loads(after[failed[0]])["reason"] if failed else None)))
    """, work)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert "in exploding" in out["caught"] and "the loss gave up" in out["caught"], out["caught"]
    assert out["unchanged"], "stored results changed"
    assert len(out["failed"]) == 1 and out["new"] == out["failed"], out
    assert "the loss gave up" in out["reason"]


def test_a_python_loss_without_a_gradient_is_an_error_with_its_reason(py, work):
    out = py.json("""
        import json, pathlib, torch, w2s

        def cut_off(logits, labels, step_frac):
            return torch.tensor(0.5)  # a new tensor: no gradient reaches the model

        try:
            w2s.run(model="bow", dataset="demo", n_docs=200, n_test_docs=100, loss=cut_off)
        except Exception as e:
            kind, text = type(e).__name__, str(e)
        failed = [str(p) for p in pathlib.Path("results").rglob("failed.json")]
        staging = [str(p) for p in pathlib.Path("results").rglob(".staging/*")]
        print(json.dumps(dict(kind=kind, text=text, failed=failed, staging=staging)))
    """, work)
    assert out["kind"] != "PanicException" and "does not depend on `logits`" in out["text"], out
    assert len(out["failed"]) == 1 and out["staging"] == [], out


def test_numbers_that_are_not_finite_are_refused_naming_the_keyword(py, work):
    out = py.json("""
        import json, math, w2s
        errors = {}
        for key, value in (("lr", float("nan")), ("weak_lr", math.inf), ("loss", dict(name="logconf", aux_coef=float("nan")))):
            try:
                w2s.run(model="bow", weak_model="bow", n_docs=200, **{key: value})
            except ValueError as e:
                errors[key] = str(e)
        print(json.dumps(errors))
    """, work)
    assert "lr = nan" in out["lr"] and "finite" in out["lr"], out
    assert "lr = inf" in out["weak_lr"], out
    assert "aux_coef = nan" in out["loss"], out


def test_options_are_the_toml_keys_and_mistakes_are_named(py, work):
    out = py.json("""
        import json, w2s
        k = w2s.keys()
        errors = {}
        for bad in (dict(modle="bow"), dict(model="bow", learning_rate=1e-3), dict(model="bow", weak_los="x")):
            try:
                w2s.run(**bad)
            except ValueError as e:
                errors[[k for k in bad if k != "model"][0]] = str(e)
        ds = w2s.datasets.list()
        show = w2s.datasets.show("demo", n=2)
        print(json.dumps(dict(keys=k, errors=errors, names=list(ds["name"]), show=show)))
    """, work)
    assert {"model", "weak_model", "dataset", "n_docs", "train", "weak"} <= set(out["keys"]["run"])
    assert {"lr", "loss", "epochs", "early_stopping"} <= set(out["keys"]["train"])
    assert "did you mean model" in out["errors"]["modle"]
    assert "learning_rate" in out["errors"]["learning_rate"]
    assert "sciq" in out["names"] and "boolq" in out["names"]
    assert len(out["show"]["examples"]) == 2 and out["show"]["train"]["n"] > 0


def test_demo_and_report_return_tables(py, work):
    out = py.json("""
        import json, w2s
        df = w2s.demo(strong="bow", seeds=[0], n_docs=200, n_test_docs=100, losses=["xent", "logconf"])
        rep = w2s.report("results/demo")
        print(json.dumps(dict(cols=list(df.columns), losses=list(df["loss"]), text=rep.text,
                              html=rep.html, runs=len(rep.runs))))
    """, work)
    assert out["cols"] == ["seed", "loss", "weak", "ceiling", "student", "pgr", "agreement"]
    assert out["losses"] == ["xent", "logconf"]
    assert "xent" in out["text"] and Path(out["html"]).exists()
    # bow supervising bow: the supervisor is the ceiling (one run), and two students.
    assert out["runs"] == 3


def test_a_sweep_from_a_dict_runs_in_worker_processes_and_resumes(py, work):
    out = py.json("""
        import json, w2s
        grid = {"datasets": ["demo"], "models": ["bow"], "losses": ["xent", "logconf"],
                "seeds": [0, 1], "n_docs": 200, "n_test_docs": 100,
                "train": {"epochs": 2}}
        df = w2s.sweep(grid, results="sweep results", jobs=2)
        again = w2s.sweep(grid, results="sweep results", jobs=2)
        print(json.dumps(dict(rows=len(df), again=len(again), losses=sorted(set(df["loss"])))))
    """, work)
    # bow -> bow per seed: one ground-truth run and two students.
    assert out["rows"] == 6 and out["again"] == 6, out
    assert out["losses"] == ["logconf", "xent"]
    logs = list((work / "sweep results" / ".sweep" / "logs").iterdir())
    assert logs, "the workers' logs"


def test_python_the_command_line_and_a_sweep_make_the_same_runs(py, work):
    """One rule from options to runs in every front end: the same experiment through w2s.run,
    `w2s run` and w2s.sweep is the same runs, so each reuses what the others stored."""
    out = py.json("""
        import json, os, subprocess, w2s
        w2s.run(model="bow", weak_model="bow", dataset="demo", n_docs=200, n_test_docs=100,
                epochs=1, loss="logconf", constant_lr=True, results="python")
        subprocess.run(["w2s", "run", "--model", "bow", "--weak-model", "bow", "--n-docs", "200",
                        "--n-test-docs", "100", "--epochs", "1", "--loss", "logconf",
                        "--constant-lr", "--results", "cli"], check=True, capture_output=True)
        w2s.sweep({"datasets": ["demo"], "models": ["bow"], "losses": ["logconf"], "n_docs": 200,
                   "n_test_docs": 100, "train": {"epochs": 1, "constant_lr": True}},
                  results="sweep")
        print(json.dumps({d: sorted(f for f in os.listdir(os.path.join(d, "demo"))
                                    if not f.startswith("."))
                          for d in ("python", "cli", "sweep")}))
    """, work)
    assert out["python"] == out["cli"] == out["sweep"], out
    # The supervisor (the ceiling too: xent, same options) and the student.
    assert len(out["python"]) == 2 and any("logconf+constant_lr" in f for f in out["python"]), out


def test_the_native_stubs_name_every_native_function_and_class(py, work):
    out = py.json("""
        import json, os, re, w2s
        from w2s import _native
        here = os.path.dirname(w2s.__file__)
        stub = open(os.path.join(here, "_native.pyi")).read()
        names = [n for n in dir(_native) if not n.startswith("_")]
        classes = sorted(n for n in names if isinstance(getattr(_native, n), type))
        functions = sorted(n for n in names if callable(getattr(_native, n)) and n not in classes)
        # Each class's attributes, as the stub's properties of that class.
        def block(c):
            rest = stub.split(f"class {c}:", 1)[1]
            return re.split(r"^(?:class|def) ", rest, flags=re.M)[0]
        attributes = {c: sorted(a for a in dir(getattr(_native, c)) if not a.startswith("_"))
                      for c in classes if f"class {c}:" in stub}
        print(json.dumps(dict(
            functions=functions, classes=classes, typed=os.path.exists(os.path.join(here, "py.typed")),
            stubbed=sorted(n for n in functions if f"def {n}(" in stub),
            stubbed_classes=sorted(attributes),
            attributes=attributes,
            stubbed_attributes={c: sorted(a for a in attributes[c] if f"def {a}(self)" in block(c))
                                for c in attributes})))
    """, work)
    assert out["functions"] and out["stubbed"] == out["functions"] and out["typed"], out
    assert "Outcome" in out["classes"] and out["stubbed_classes"] == out["classes"], out
    assert out["attributes"]["Outcome"] and out["stubbed_attributes"] == out["attributes"], out


def test_progress_bars_reach_a_notebook_through_sys_stderr(py, work):
    out = py.json("""
        import io, json, sys, w2s
        captured = io.StringIO()
        real, sys.stderr = sys.stderr, captured
        try:
            w2s.configure(progress="notebook")
            w2s.run(model="bow", dataset="demo", n_docs=2000, n_test_docs=100, epochs=3)
        finally:
            sys.stderr = real
        text = captured.getvalue()
        print(json.dumps(dict(text=text)))
    """, work)
    text = out["text"]
    # The bar redraws its line with a carriage return (what Jupyter honours), and the run's
    # log line comes the same way.
    assert "\r" in text and "] 1/93" in text, text[:500]
    assert "trained in" in text


def test_an_interrupt_stops_the_run_at_its_next_step_and_keeps_what_was_stored(py, work):
    out = py.json("""
        import _thread, json, pathlib, threading, time, w2s
        common = dict(model="bow", dataset="demo", n_test_docs=100)
        w2s.run(n_docs=200, **common)
        before = sorted(str(p) for p in pathlib.Path("results").rglob("result.json"))
        # What a notebook's interrupt button or Ctrl-C does: SIGINT's flag in the main thread.
        threading.Timer(3.0, _thread.interrupt_main).start()
        start = time.time()
        try:
            w2s.run(n_docs=20000, epochs=20, **common)
        except KeyboardInterrupt:
            stopped = time.time() - start
        else:
            raise SystemExit("not interrupted")
        after = sorted(str(p) for p in pathlib.Path("results").rglob("result.json"))
        staging = [str(p) for p in pathlib.Path("results").rglob("*")
                   if ".staging" in p.parts and p.is_file()]
        print(json.dumps(dict(stopped=stopped, same=before == after, staging=staging)))
    """, work)
    assert out["stopped"] < 30, out  # 20 epochs of 10000 examples would take minutes
    assert out["same"] and not out["staging"], out


def test_preference_rows_are_a_pairwise_task(py, work):
    out = py.json("""
        import json, w2s, pandas as pd
        good, bad = ["clear", "kind", "exact"], ["vague", "rude", "wrong"]
        rows = [{"prompt": f"Human: question {i}", "chosen": f"Assistant: a {good[i % 3]} answer",
                 "rejected": f"Assistant: a {bad[(i // 3) % 3]} answer"} for i in range(160)]
        r = w2s.run(model="bow", train=pd.DataFrame(rows[:120]), test=rows[120:],
                    n_docs=100, n_test_docs=40, epochs=8, task_name="prefs")
        df = w2s.runs("results")
        print(json.dumps(dict(acc=r.test_accuracy, pairwise=bool(df["pairwise"].iloc[0]),
                              pairwise_result=r.runs[0]["result"].get("pairwise"))))
    """, work)
    assert out["pairwise"] and out["pairwise_result"], out
    assert out["acc"] > 0.9, out


def test_a_run_file_with_keywords_over_it_and_the_predictions_table(py, work):
    (work / "run.toml").write_text(textwrap.dedent("""
        model = "bow"
        weak_model = "bow"
        n_docs = 300
        n_test_docs = 120
        results = "from-file"
        [train]
        epochs = 3
    """))
    out = py.json("""
        import json, w2s
        r = w2s.run("run.toml", seed=1)
        p = r.predictions
        errors = {}
        try:
            w2s.run("run.toml", lr="1e-3")
        except ValueError as e:
            errors["lr"] = str(e)
        print(json.dumps(dict(dir=r.dir, seed=r.runs[-1]["result"]["spec"]["seed"],
                              epochs=r.runs[-1]["result"]["spec"]["train"]["epochs"],
                              columns=list(p.columns), rows=len(p),
                              accuracy=float(p["correct"].mean()), test_accuracy=r.test_accuracy,
                              errors=errors)))
    """, work)
    assert "/from-file/" in out["dir"], out
    assert out["seed"] == 1 and out["epochs"] == 3, out
    assert out["columns"] == ["label", "p1", "predicted", "correct", "weak_p1"], out
    assert out["rows"] == 120 and abs(out["accuracy"] - out["test_accuracy"]) < 1e-9, out
    assert "train.lr" in out["errors"]["lr"] and "line 1 column" not in out["errors"]["lr"], out


def test_labels_written_as_floats_are_binary_labels(py, work):
    out = py.json("""
        import json, pandas as pd, w2s
        rows = [{"text": f"a {'great' if i % 2 else 'awful'} film {i}", "label": float(i % 2)} for i in range(200)]
        df = pd.DataFrame(rows)
        r = w2s.run(model="bow", train=df, test=df, n_docs=200, n_test_docs=100)
        print(json.dumps(dict(acc=r.test_accuracy)))
    """, work)
    assert out["acc"] > 0.9, out


def test_report_to_wandb_logs_each_run_offline(py, work):
    pytest.importorskip("wandb")
    out = py.json("""
        import glob, json, os, w2s
        os.environ.update(WANDB_MODE="offline", WANDB_DIR=os.getcwd(), WANDB_SILENT="true")
        r = w2s.run(model="bow", weak_model="bow", dataset="demo", n_docs=300, n_test_docs=100,
                    epochs=2, report_to="wandb")
        runs = sorted(glob.glob("wandb/offline-run-*"))
        # What each offline run holds (its records, which `wandb sync` uploads): the keys logged.
        logged = [[k for k in ("test_accuracy", "misfit_squared", "train_accuracy", "pgr")
                   if k.encode() in open(f, "rb").read()]
                  for f in sorted(glob.glob("wandb/offline-run-*/run-*.wandb"))]
        try:
            w2s.run(model="bow", dataset="demo", n_docs=300, n_test_docs=100, report_to="mlflow")
            bad = None
        except ValueError as e:
            bad = str(e)
        print(json.dumps(dict(runs=[os.path.basename(p) for p in runs], logged=logged,
                              hashes=[x["result"]["hash"] for x in r.runs], pgr=r.pgr, bad=bad)))
    """, work)
    # bow -> bow: the weak run is the ceiling; with the student, two W&B runs, by hash.
    assert len(out["runs"]) == 2, out
    assert all(any(h in name for name in out["runs"]) for h in out["hashes"]), out
    assert ["test_accuracy", "train_accuracy"] in out["logged"], out
    assert ["test_accuracy", "misfit_squared", "train_accuracy", "pgr"] in out["logged"] or \
        ["test_accuracy", "misfit_squared", "train_accuracy"] in out["logged"], out
    assert "report_to" in out["bad"], out
