//! `w2s sweep` and `w2s report` end to end: plan, resume after SIGKILL, failures.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn w2s() -> Command {
    Command::new(env!("CARGO_BIN_EXE_w2s"))
}

fn minilm() -> PathBuf {
    std::env::var("W2S_MINILM")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2")
        })
}

/// A sweep file in `dir` whose results go to `dir/res`: the text after `results = ...`.
fn sweep_file(dir: &Path, rest: &str) -> (PathBuf, PathBuf) {
    let results = dir.join("res");
    let cfg = dir.join("sweep.toml");
    std::fs::write(&cfg, format!("results = {results:?}\n{rest}")).unwrap();
    (results, cfg)
}

fn complete_runs(results: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(d) = std::fs::read_dir(results.join("demo")) {
        for e in d.flatten() {
            if e.path().join("result.json").exists() {
                v.push(e.path());
            }
        }
    }
    v
}

#[test]
fn killed_sweep_resumes_with_nothing_lost_or_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let (results, cfg) = sweep_file(
        dir.path(),
        "datasets = [\"demo\"]\nmodels = [\"bow\"]\nlosses = [\"xent\", \"logconf\", \"product\"]\nseeds = [0, 1, 2, 3]\nn_docs = 3000\nn_test_docs = 500\nbootstrap = [[\"bow\", \"bow\", \"bow\"]]\n",
    );
    let plan = w2s()
        .args(["sweep", cfg.to_str().unwrap(), "--dry-run"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&plan.stdout).into_owned();
    // 4 seeds x (1 ground truth + 3 losses x (1 direct + 1 second link)) = 28 runs
    assert!(text.starts_with("28 runs planned"), "{text}");

    // Start the sweep and SIGKILL it mid-way; its workers die with it (parent-death signal).
    let mut child = w2s()
        .args(["sweep", cfg.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while complete_runs(&results).len() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the sweep made no progress"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL, to this process only
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500)); // let the kernel reap the workers
    let before = complete_runs(&results).len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        complete_runs(&results).len(),
        before,
        "a worker outlived the killed sweep"
    );
    assert!(
        before < 28,
        "killed too late to test anything ({before} runs done)"
    );

    let again = w2s()
        .args(["sweep", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(
        again.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        out.contains(&format!("reused {before}")) || out.contains("reused"),
        "{out}"
    );
    let runs = complete_runs(&results);
    assert_eq!(runs.len(), 28, "every run exactly once");
    let folders = std::fs::read_dir(results.join("demo"))
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(folders, 28, "no stray or duplicate run folders");
    // Nothing half-done is left behind: the staging folder of the killed runs was cleared
    // when they were redone.
    let staging = results.join("demo/.staging");
    let left = std::fs::read_dir(&staging).map_or(0, |d| d.count());
    assert_eq!(left, 0, "staging left behind");
    for r in &runs {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(r.join("result.json")).unwrap()).unwrap();
        assert!(v["test_accuracy"].as_f64().is_some());
        serde_json::from_str::<serde_json::Value>(
            &std::fs::read_to_string(r.join("predictions.json")).unwrap(),
        )
        .unwrap();
    }

    let report = w2s()
        .args(["report", results.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(report.status.success());
    let csv = std::fs::read_to_string(results.join("runs.csv")).unwrap();
    assert_eq!(csv.lines().count(), 29, "header + one row per run");
    // The Parquet export holds the same rows (read back with w2s's own Parquet reader).
    let rows = w2s_parquet_rows(&results.join("runs.parquet"));
    assert_eq!(rows, 28);
    let table = String::from_utf8_lossy(&report.stdout);
    assert!(
        table.contains("bow -> bow -> bow") && table.contains("product"),
        "{table}"
    );
}

#[test]
fn a_failing_run_is_recorded_and_the_sweep_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (results, cfg) = sweep_file(
        dir.path(),
        &format!(
            "datasets = [\"demo\"]\nmodels = [\"bow\", {:?}]\nseeds = [0]\nn_docs = 64\nn_test_docs = 32\n[train]\nepochs = 1\n[model_train.bow]\nlr = 10\nepochs = 4\n",
            minilm().to_str().unwrap()
        ),
    );
    let o = w2s()
        .args(["sweep", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(!o.status.success(), "{out}");
    // bow's ground truth fails (its loss diverges); its two students are skipped; MiniLM's ground truth
    // and MiniLM -> MiniLM still run.
    assert!(
        out.contains("trained 2, reused 0, failed 1, skipped 2"),
        "{out}"
    );
    assert!(
        out.contains("loss became") || out.contains("diverged"),
        "{out}"
    );
    let failed: Vec<_> = std::fs::read_dir(results.join("demo"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("failed.json").exists())
        .collect();
    assert_eq!(failed.len(), 1);
}

/// Count rows of a Parquet file through `w2s datasets show` on a user task that reads it.
fn w2s_parquet_rows(path: &Path) -> usize {
    let dir = path.parent().unwrap();
    let task = dir.join("runs-task.toml");
    std::fs::write(&task, "train = \"runs.parquet\"\ntest = \"runs.parquet\"\ntext = \"{model} {loss}\"\nlabel = \"linear_probe\"\n").unwrap();
    let o = w2s()
        .args(["datasets", "show", task.to_str().unwrap(), "--n", "0"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let n = out
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap();
    n.parse().unwrap()
}

/// A user task `NAME.toml` in `dir` with its data beside it.
fn user_task(dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut rows = String::new();
    for i in 0..200 {
        let (word, label) = if i % 2 == 0 {
            ("great", 1)
        } else {
            ("awful", 0)
        };
        rows += &format!("{{\"text\": \"an {word} film, number {i}\", \"label\": {label}}}\n");
    }
    std::fs::write(dir.join(format!("{name}.jsonl")), &rows).unwrap();
    let task = dir.join(format!("{name}.toml"));
    std::fs::write(
        &task,
        format!("train = \"{name}.jsonl\"\ntest = \"{name}.jsonl\"\ntext = \"text\"\nlabel = \"label\"\n"),
    )
    .unwrap();
    task
}

/// A pairwise user task (`chosen`/`rejected` replies to a prompt) in `dir`: a polite reply is
/// preferred; test pairs use synonyms that train pairs never show, so a bag of words is weak.
fn pair_task(dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let row = |i: usize| {
        let topic = ["bread", "tea", "maps", "bikes"][i % 4];
        let (goods, bads) = match i >= 200 && i % 2 == 1 {
            true => (["careful", "courteous"], ["rude", "careless"]),
            false => (["thorough", "polite"], ["curt", "sloppy"]),
        };
        let reply = |w: &str| format!("Assistant: a {w} reply about {topic}");
        let row = serde_json::json!({
            "prompt": format!("Human: tell me about {topic} ({i})"),
            "chosen": reply(goods[i / 2 % 2]),
            "rejected": reply(bads[i / 4 % 2]),
        });
        format!("{row}\n")
    };
    std::fs::write(
        dir.join(format!("{name}.jsonl")),
        (0..200).map(row).collect::<String>(),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{name}-test.jsonl")),
        (200..300).map(row).collect::<String>(),
    )
    .unwrap();
    let task = dir.join(format!("{name}.toml"));
    std::fs::write(
        &task,
        format!("train = \"{name}.jsonl\"\ntest = \"{name}-test.jsonl\"\ntext = \"prompt\"\nchosen = \"chosen\"\nrejected = \"rejected\"\n"),
    )
    .unwrap();
    task
}

/// Run a command that must succeed; its standard output.
fn succeed(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(
                    e.path()
                        .strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out
}

#[test]
fn user_tasks_at_nested_parent_and_absolute_paths_are_stored_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    user_task(&work.join("tasks"), "nested");
    user_task(&dir.path().join("other"), "parent");
    let absolute = user_task(&dir.path().join("abs"), "absolute");
    let before = files_under(dir.path());
    std::fs::write(
        work.join("sweep.toml"),
        format!(
            "results = \"res\"\ndatasets = [\"tasks/nested.toml\", \"../other/parent.toml\", {:?}]\nmodels = [\"bow\"]\nseeds = [0, 1]\nn_docs = 200\nn_test_docs = 100\n",
            absolute.to_str().unwrap()
        ),
    )
    .unwrap();
    let text = succeed(w2s().current_dir(&work).args(["sweep", "sweep.toml"]));
    for name in ["nested", "parent", "absolute"] {
        assert!(
            text.contains(&format!("## {name} (200 train, 100 test)")),
            "{name} missing from the summary:\n{text}"
        );
        assert!(work.join("res").join(name).is_dir());
    }
    // Nothing was written outside the results folder.
    let mut after: Vec<String> = files_under(dir.path())
        .into_iter()
        .filter(|f| !f.starts_with("work/res/") && f != "work/sweep.toml")
        .collect();
    after.sort();
    let mut before = before;
    before.sort();
    assert_eq!(after, before);

    let text = succeed(w2s().current_dir(&work).args(["report", "res"]));
    for name in ["nested", "parent", "absolute"] {
        assert!(text.contains(&format!("## {name}")), "{text}");
        assert!(work.join(format!("res/plots/{name}-accuracy.svg")).exists());
    }
    let html = std::fs::read_to_string(work.join("res/report.html")).unwrap();
    assert!(html.contains("<h2 id=\"absolute\">") && html.contains("Training curves"));

    // A single run of the same task by its absolute path lands beside the sweep's runs.
    let text = succeed(
        w2s()
            .current_dir(dir.path())
            .args([
                "run",
                "--model",
                "bow",
                "--dataset",
                absolute.to_str().unwrap(),
            ])
            .args([
                "--n-docs",
                "200",
                "--n-test-docs",
                "100",
                "--seed",
                "0",
                "--epochs",
                "1",
            ])
            .arg("--results")
            .arg(work.join("res")),
    );
    assert!(
        text.contains(&format!(
            "{}/absolute/gt-bow-s0-",
            work.join("res").display()
        )),
        "{text}"
    );
}

#[test]
fn each_job_slot_gets_one_of_the_visible_gpus() {
    // No GPU here: the workers fall back to the CPU, but each was started seeing only its
    // slot's GPU, as its result's provenance records.
    let dir = tempfile::tempdir().unwrap();
    let (results, cfg) = sweep_file(
        dir.path(),
        "datasets = [\"demo\"]\nmodels = [\"bow\"]\nseeds = [0, 1]\nn_docs = 200\nn_test_docs = 50\n",
    );
    let out = succeed(
        w2s()
            .args(["sweep", cfg.to_str().unwrap(), "--jobs", "2"])
            .env("CUDA_VISIBLE_DEVICES", "3,5"),
    );
    assert!(
        out.contains("job slots: auto (CUDA_VISIBLE_DEVICES=3), auto (CUDA_VISIBLE_DEVICES=5)"),
        "{out}"
    );
    let mut seen: Vec<String> = complete_runs(&results)
        .iter()
        .map(|r| {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(r.join("result.json")).unwrap())
                    .unwrap();
            v["provenance"]["cuda_visible_devices"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["3", "5"], "both slots ran, each on its own GPU");
}

/// Cell 4 of openai/weak-to-strong's `notebooks/Plotting.ipynb` (the copy at
/// ../shared/reference/openai-weak-to-strong, commit 6b450f2), copied verbatim from its first
/// line to the `pgr_results` median, with the plotting lines dropped (and `PLOT_ALL_SEEDS`
/// False, so only `seed = None`). The lines before it read w2s's `runs.csv` under the
/// notebook's column names; the line after prints the medians as JSON.
const NOTEBOOK: &str = r#"
import json, sys
import pandas as pd
df = pd.read_csv(sys.argv[1])
df = df.drop(columns=["loss"]).rename(columns={
    "dataset": "ds_name", "model_name": "model_size", "weak_model_name": "weak_model_size",
    "test_accuracy": "accuracy", "method": "loss"})
out = {}

datasets = df.ds_name.unique()
for dataset in datasets:
    cur_df = df[(df.ds_name == dataset)].copy()
    base_accuracies = cur_df[cur_df['weak_model_size'].isna()].groupby('model_size').agg({'accuracy': 'mean', 'seed': 'count'}).sort_values('accuracy')
    base_accuracy_lookup = base_accuracies['accuracy'].to_dict()
    base_accuracies = base_accuracies.reset_index()

    cur_df['strong_model_accuracy'] = cur_df['model_size'].apply(lambda x: base_accuracy_lookup[x])
    cur_df.loc[~cur_df['weak_model_size'].isna(), 'weak_model_accuracy'] = cur_df.loc[~cur_df['weak_model_size'].isna(), 'weak_model_size'].apply(lambda x: base_accuracy_lookup[x])

    # Exclude cases where the weak model is better than the strong model from PGR calculation.
    valid_pgr_index = (
        (~cur_df['weak_model_size'].isna()) & 
        (cur_df['weak_model_size'] != cur_df['model_size']) & 
        (cur_df['strong_model_accuracy'] > cur_df['weak_model_accuracy'])
    )
    cur_df.loc[valid_pgr_index, 'pgr'] = (cur_df.loc[valid_pgr_index, 'accuracy'] - cur_df.loc[valid_pgr_index, 'weak_model_accuracy']) / (cur_df.loc[valid_pgr_index, 'strong_model_accuracy'] - cur_df.loc[valid_pgr_index, 'weak_model_accuracy'])

    cur_df.loc[cur_df['weak_model_size'].isna(), "weak_model_size"] = "ground truth"

    for seed in [None]:
        plot_df = cur_df.copy().sort_values(['strong_model_accuracy']).sort_values(['loss'], ascending=False)
        if seed is not None:
            plot_df = plot_df[plot_df['seed'] == seed]

        pgr_results = plot_df[~plot_df['pgr'].isna()].groupby(['loss']).aggregate({"pgr": "median"})

        out[dataset] = pgr_results['pgr'].to_dict()
print(json.dumps(out))
"#;

/// The Python that has pandas: the project's venv (./dev makes it), else `python3`.
fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

#[test]
fn the_reference_notebook_on_runs_csv_gives_the_report_medians() {
    let dir = tempfile::tempdir().unwrap();
    // A binary task and a pairwise one (reward modelling), whose ground-truth runs the
    // report must find as the notebook does.
    let task = pair_task(&dir.path().join("tasks"), "prefs");
    // Two datasets, two models (MiniLM as a linear probe on cached features, for speed), three
    // seeds, two losses, and the diagonal (weak == strong, which both leave out). Seeds make the ceilings and students differ, so the baselines'
    // pooling over seeds and the median over runs both matter.
    let (results, cfg) = sweep_file(
        dir.path(),
        &format!(
            "datasets = [\"demo\", {task:?}]\nmodels = [\"bow\", {:?}]\nlosses = [\"xent\", \"logconf\"]\nseeds = [0, 1, 2]\nn_docs = 160\nn_test_docs = 100\nmax_ctx = 64\n[train]\nlinear_probe = true\nlr = 1e-3\nepochs = 4\n[model_train.\"bow\"]\nlinear_probe = false\nlr = 1e-2\nepochs = 4\n",
            minilm().to_str().unwrap()
        ),
    );
    succeed(w2s().args(["sweep", cfg.to_str().unwrap(), "--jobs", "1"]));
    succeed(w2s().args(["report", results.to_str().unwrap()]));
    let notebook = dir.path().join("notebook.py");
    std::fs::write(&notebook, NOTEBOOK).unwrap();
    let out = Command::new(python())
        .arg(&notebook)
        .arg(results.join("runs.csv"))
        .output()
        .expect("python with pandas (./dev setup installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["aggregate"], "reference");
    // Every (dataset, loss) median of w2s, keyed as the notebook keys them.
    let mut ours = std::collections::BTreeMap::new();
    for m in report["medians"].as_array().unwrap() {
        for d in m["per_dataset"].as_array().unwrap() {
            if let Some(v) = d["pgr"].as_f64() {
                // The report marks a pairwise task's name; runs.csv, as the notebook reads
                // it, has the task's name and a `pairwise` column.
                let name = d["dataset"].as_str().unwrap();
                ours.insert(
                    (
                        name.trim_end_matches(" (pairwise)").to_owned(),
                        m["loss"].as_str().unwrap().to_owned(),
                    ),
                    v,
                );
            }
        }
    }
    let mut theirs = std::collections::BTreeMap::new();
    for (dataset, losses) in expected.as_object().unwrap() {
        for (loss, v) in losses.as_object().unwrap() {
            theirs.insert((dataset.clone(), loss.clone()), v.as_f64().unwrap());
        }
    }
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "the same (dataset, loss) medians"
    );
    assert!(
        ours.keys().any(|(d, _)| d == "prefs") && ours.keys().any(|(d, _)| d == "demo"),
        "a median for the pairwise task and for the demo: {ours:?}"
    );
    for (k, v) in &ours {
        assert!(
            (v - theirs[k]).abs() < 1e-9,
            "{k:?}: w2s {v}, notebook {}",
            theirs[k]
        );
    }
    // And the runs' PGRs differ, so the pooling and the median had something to decide.
    let mut pgrs: Vec<f64> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["per_seed"].as_array().unwrap().clone())
        .filter_map(|s| s["run_pgr"].as_f64())
        .collect();
    pgrs.sort_by(f64::total_cmp);
    pgrs.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    assert!(pgrs.len() >= 3, "{pgrs:?}");
}

/// A label budget in a sweep: students with 50 and 200 true labels among their 200 weak ones,
/// one asking for more than it has (fails with the reason, the sweep goes on), and the report's
/// figure of accuracy against the budget.
#[test]
fn oracle_labels_in_a_sweep_and_its_figure() {
    let dir = tempfile::tempdir().unwrap();
    let (results, cfg) = sweep_file(
        dir.path(),
        "datasets = [\"demo\"]\nmodels = [\"bow\"]\nlosses = [\"xent\"]\nseeds = [0, 1]\nn_docs = 400\nn_test_docs = 200\n[methods.b50]\noracle_labels = 50\n[methods.all]\noracle_labels = 200\n[methods.too_many]\noracle_labels = 201\n",
    );
    let out = w2s()
        .args(["sweep", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a run failed, so the sweep says so: {text}"
    );
    assert!(
        text.contains("oracle_labels = 201: the student trains on 200 examples"),
        "{text}"
    );
    succeed(w2s().args(["report", results.to_str().unwrap()]));
    let csv = std::fs::read_to_string(results.join("runs.csv")).unwrap();
    assert!(
        csv.contains("xent+oracle50") && csv.contains("xent+oracle200"),
        "{csv}"
    );
    let svg = std::fs::read_to_string(results.join("plots/demo-labels.svg")).unwrap();
    assert!(
        svg.contains("student accuracy against its label budget"),
        "{svg}"
    );
    // The budget is the student's: supervisors and ceilings are the plain ground-truth runs.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("report.json")).unwrap())
            .unwrap();
    let mut budgets: Vec<u64> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["oracle_labels"].as_u64().unwrap())
        .collect();
    budgets.sort();
    assert_eq!(budgets, [0, 50, 200], "{report}");
    // Ground-truth runs: 2 seeds; students: 2 seeds x 3 methods that ran.
    let gt = std::fs::read_dir(results.join("demo"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("gt-"))
        .count();
    assert_eq!(gt, 2);
}

fn mpnet() -> PathBuf {
    std::env::var("W2S_MPNET")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-mpnet-base-v2")
        })
}

/// Learned supervisor weights (RAVEN) in a sweep: two supervisors (the bag of words and a
/// MiniLM probe) teach an MPNet probe by their mean and by learned weights; the learned run
/// stores its weights (on the simplex, one per supervisor, moved from uniform), logs them per
/// step, and the report shows them beside each supervisor's own accuracy. A single supervisor
/// with learned weights is the plain student (one run, not two).
#[test]
fn learned_supervisor_weights_in_a_sweep_and_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let (m, p) = (minilm(), mpnet());
    let (m, p) = (m.to_str().unwrap(), p.to_str().unwrap());
    let (results, cfg) = sweep_file(
        dir.path(),
        &format!(
            "datasets = [\"demo\"]\nmodels = [\"bow\", {m:?}, {p:?}]\nensembles = [[\"bow\", {m:?}]]\n\
             losses = [\"xent\"]\nseeds = [0]\nn_docs = 400\nn_test_docs = 200\ndiagonal = false\n\
             [train]\nlinear_probe = true\nlr = 1e-2\nepochs = 4\n[model_train.\"bow\"]\nlinear_probe = false\n\
             [methods.raven]\nlearned_weights = {{ lr = 0.5, freeze_frac = 0.25 }}\n"
        ),
    );
    succeed(w2s().args(["sweep", cfg.to_str().unwrap()]));
    let results_of = |needle: &str| -> Vec<serde_json::Value> {
        complete_runs(&results)
            .iter()
            .filter(|d| d.file_name().unwrap().to_string_lossy().contains(needle))
            .map(|d| {
                serde_json::from_str(&std::fs::read_to_string(d.join("result.json")).unwrap())
                    .unwrap()
            })
            .collect()
    };
    // 3 ground-truth runs, 3 single-supervisor students (their `raven` is the plain one),
    // and the ensemble's two students.
    assert_eq!(complete_runs(&results).len(), 8);
    let raven = results_of("+raven");
    assert_eq!(raven.len(), 1, "only the ensemble's student learns weights");
    let w: Vec<f64> = raven[0]["training"]["supervisor_weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(w.len(), 2);
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{w:?}");
    assert!(
        w.iter().all(|&x| x > 0.0) && (w[0] - 0.5).abs() > 1e-4,
        "the weights moved: {w:?}"
    );
    let plain = results_of("w2s-bow+all-MiniLM-L6-v2-to-all-mpnet-base-v2-xent-");
    assert_eq!(plain.len(), 1);
    assert!(plain[0]["training"].get("supervisor_weights").is_none());
    let dir_of = complete_runs(&results)
        .into_iter()
        .find(|d| d.file_name().unwrap().to_string_lossy().contains("+raven"))
        .unwrap();
    let log = std::fs::read_to_string(dir_of.join("train_log.jsonl")).unwrap();
    assert!(
        log.lines().all(|l| l.contains("\"supervisor_weights\":[")),
        "{log}"
    );
    let text = succeed(w2s().args(["report", results.to_str().unwrap()]));
    let report = std::fs::read_to_string(results.join("report.txt")).unwrap();
    assert!(
        report.contains("learned supervisor weights (RAVEN")
            && report.contains(&format!("bow {:.3} (", w[0])),
        "{text}\n{report}"
    );
    let csv = std::fs::read_to_string(results.join("runs.csv")).unwrap();
    assert!(
        csv.contains("supervisor_weights") && csv.contains(&format!("{:.4};{:.4}", w[0], w[1])),
        "{csv}"
    );
    let html = std::fs::read_to_string(results.join("report.html")).unwrap();
    assert!(html.contains("Learned supervisor weights"));
}
