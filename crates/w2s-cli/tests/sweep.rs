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
    let folders = std::fs::read_dir(results.join("demo")).unwrap().count();
    assert_eq!(folders, 28, "no stray or duplicate run folders");
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
            "datasets = [\"demo\"]\nmodels = [\"bow\", {:?}]\nseeds = [0]\nn_docs = 64\nn_test_docs = 32\n[train]\nepochs = 1\n[model_train.bow]\nlr = 1e30\nepochs = 4\n",
            minilm().to_str().unwrap()
        ),
    );
    let o = w2s()
        .args(["sweep", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(!o.status.success(), "{out}");
    // bow's ground truth fails (NaN loss); its two students are skipped; MiniLM's ground truth
    // and MiniLM -> MiniLM still run.
    assert!(
        out.contains("trained 2, reused 0, failed 1, skipped 2"),
        "{out}"
    );
    assert!(out.contains("loss became"), "{out}");
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
