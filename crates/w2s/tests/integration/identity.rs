//! A stored result is reused only while everything that decided it is unchanged: the task's
//! definition and data, the model's files. One process trains a run; others wait and reuse.

use crate::common;

use common::opts;
use std::path::Path;
use tch::Device;
use w2s::experiment::{DataSpec, Experiment, RunSpec, Runner};

/// A user task with its data files in `dir`.
fn user_task(dir: &Path, template: &str) -> std::path::PathBuf {
    let mut train = String::new();
    for i in 0..60 {
        let (word, label) = if i % 2 == 0 { ("good", 1) } else { ("bad", 0) };
        train += &format!("{{\"t\": \"a {word} thing {i}\", \"y\": {label}}}\n");
    }
    std::fs::write(dir.join("train.jsonl"), &train).unwrap();
    std::fs::write(dir.join("test.jsonl"), &train).unwrap();
    let toml = format!(
        "train = \"train.jsonl\"\ntest = \"test.jsonl\"\ntext = \"{template}\"\nlabel = \"y\"\n"
    );
    let path = dir.join("task.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

fn gt_hash(task: &Path, model: &str) -> String {
    let data = DataSpec::new(task.to_str().unwrap(), None, 40, 20).unwrap();
    RunSpec::ground_truth(&data, 0, 64, model, opts(1e-2, 1))
        .unwrap()
        .hash()
}

#[test]
fn editing_the_task_its_data_or_the_weights_changes_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let task = user_task(dir.path(), "{t}");
    let h = gt_hash(&task, "bow");
    assert_eq!(h, gt_hash(&task, "bow"), "same content, same run");

    user_task(dir.path(), "Review: {t}");
    let h_template = gt_hash(&task, "bow");
    assert_ne!(h, h_template, "a new template is a new task");

    let mut data = std::fs::read_to_string(dir.path().join("test.jsonl")).unwrap();
    data = data.replacen("\"y\": 1", "\"y\": 0", 1);
    std::fs::write(dir.path().join("test.jsonl"), data).unwrap();
    assert_ne!(h_template, gt_hash(&task, "bow"), "an edited data file");

    // A model folder whose weights change (same names and shapes).
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    std::fs::write(model.join("config.json"), r#"{"model_type": "bert"}"#).unwrap();
    std::fs::write(model.join("tokenizer.json"), "{}").unwrap();
    let weights = |v: f64| {
        let t = tch::Tensor::full([4, 4], v, (tch::Kind::Float, Device::Cpu));
        tch::Tensor::write_safetensors(&[("w", &t)], model.join("model.safetensors")).unwrap();
    };
    weights(1.0);
    let m = model.to_str().unwrap();
    let h_model = gt_hash(&task, m);
    weights(2.0);
    assert_ne!(h_model, gt_hash(&task, m), "edited weights");

    // Moving the task elsewhere (same content) keeps the run.
    let other = tempfile::tempdir().unwrap();
    for f in ["task.toml", "train.jsonl", "test.jsonl"] {
        std::fs::copy(dir.path().join(f), other.path().join(f)).unwrap();
    }
    assert_eq!(
        gt_hash(&task, "bow"),
        gt_hash(&other.path().join("task.toml"), "bow")
    );
}

#[test]
fn two_runners_asking_for_one_run_train_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataSpec::new("demo", None, 400, 200).unwrap();
    let spec = RunSpec::ground_truth(&data, 3, 64, "bow", opts(1e-2, 2)).unwrap();
    let a = Runner::new(dir.path().to_path_buf(), Device::Cpu, false);
    let b = Runner::new(dir.path().to_path_buf(), Device::Cpu, false);
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| a.run(&spec).unwrap());
        let tb = s.spawn(|| b.run(&spec).unwrap());
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert_eq!(a.trained_count() + b.trained_count(), 1, "trained once");
    assert_eq!(ra.test_accuracy, rb.test_accuracy);
    assert_eq!(ra.provenance.wall_seconds, rb.provenance.wall_seconds);
}

/// Bag-of-words weak and strong models on the demo task, one xent student.
fn bow_experiment() -> (DataSpec, Experiment) {
    let data = DataSpec::new("demo", None, 400, 200).unwrap();
    let exp = Experiment::per_loss(
        &data,
        0,
        64,
        ("bow", opts(1e-2, 1)),
        ("bow", opts(1e-2, 2)),
        &[w2s::loss::Loss::Xent],
    )
    .unwrap();
    (data, exp)
}

#[test]
fn a_worker_never_trains_a_missing_supervisor_and_results_carry_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let (data, exp) = bow_experiment();
    let mut worker = Runner::new(dir.path().to_path_buf(), Device::Cpu, false);
    worker.train_supervisors = false;
    let err = worker.run(&exp.students[0]).unwrap_err().to_string();
    assert!(
        err.contains("supervisor") && err.contains("has no result") && err.contains("gt-bow"),
        "{err}"
    );
    assert!(!worker.run_dir(&exp.weak[0]).join("result.json").exists());

    // Run as no run's supervisor, it keeps no train2 predictions, and a worker says so.
    assert!(!worker.run(&exp.weak[0]).unwrap().train2_predicted);
    let err = worker.run(&exp.students[0]).unwrap_err().to_string();
    assert!(err.contains("did not predict train2"), "{err}");
    // As a sweep runs a supervisor: trained again, with train2.
    worker.predict_train2 = true;
    let r = worker.run(&exp.weak[0]).unwrap();
    assert!(r.train2_predicted);
    worker.predict_train2 = false;
    let p = &r.provenance;
    assert_eq!(p.w2s_version, env!("CARGO_PKG_VERSION"));
    assert!(p.libtorch.starts_with("2."), "{p:?}");
    assert_ne!(p.git_commit, "", "{p:?}");
    assert_eq!(p.device, "Cpu");
    assert!(p.threads >= 1 && p.wall_seconds > 0.0 && p.finished_at > 0);
    assert_eq!(p.task_fingerprint, data.fingerprint);
    assert!(
        worker.run(&exp.students[0]).is_ok(),
        "runs once its supervisor exists"
    );
}

/// Each run's TensorBoard events hold the same curves as its `train_log.jsonl`, read back by
/// TensorBoard's own reader.
#[test]
fn training_curves_read_back_with_tensorboard() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataSpec::new("demo", None, 400, 200).unwrap();
    let spec = RunSpec::ground_truth(&data, 1, 64, "bow", opts(1e-2, 2)).unwrap();
    let runner = Runner::new(dir.path().to_path_buf(), Device::Cpu, false);
    runner.run(&spec).unwrap();
    let run = runner.run_dir(&spec);
    let out = std::process::Command::new(common::python())
        .arg(common::root().join("scripts/fixtures/read_tensorboard.py"))
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let curves: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let log = std::fs::read_to_string(run.join("train_log.jsonl")).unwrap();
    let steps: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        steps.len(),
        400 / 2 * 2 / 32,
        "steps of 2 epochs over train1"
    );
    for tag in ["loss", "train_accuracy", "lr", "aux_weight"] {
        let points = curves[tag]
            .as_array()
            .unwrap_or_else(|| panic!("{tag}: {curves}"));
        assert_eq!(points.len(), steps.len(), "{tag}");
        for (p, s) in points.iter().zip(&steps) {
            assert_eq!(p[0], s["step"]);
            let (got, want) = (p[1].as_f64().unwrap(), s[tag].as_f64().unwrap());
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{tag}: {got} vs {want}"
            );
        }
    }
}

/// Only runs that supervise another predict train2; a stored run asked later to supervise is
/// trained again (to the same result) to predict it.
#[test]
fn only_supervisors_predict_train2() {
    let dir = tempfile::tempdir().unwrap();
    let (_, exp) = bow_experiment();
    let runner = Runner::new(dir.path().to_path_buf(), Device::Cpu, false);
    exp.run(&runner).unwrap();
    assert_eq!(runner.trained_count(), 3);
    let has_train2 = |spec| runner.predictions(spec).unwrap().train2.is_some();
    assert!(runner.existing(&exp.weak[0]).unwrap().train2_predicted);
    assert!(has_train2(&exp.weak[0]));
    for spec in [&exp.ceiling, &exp.students[0]] {
        assert!(!runner.existing(spec).unwrap().train2_predicted);
        assert!(!has_train2(spec));
    }
    let before = runner.existing(&exp.ceiling).unwrap();
    let again = runner.run_supervisor(&exp.ceiling).unwrap();
    assert!(again.train2_predicted && has_train2(&exp.ceiling));
    assert_eq!(again.test_accuracy, before.test_accuracy);
    // Asked again (by another process, say), it is reused.
    let other = Runner::new(dir.path().to_path_buf(), Device::Cpu, false);
    other.run_supervisor(&exp.ceiling).unwrap();
    assert_eq!(other.trained_count(), 0);
}

/// A run stored before `head_bias` existed (every head had a bias; its lock file inside the
/// run folder, as the old layout kept it) keeps its hash and is found and reused as what it
/// was: a run with a head bias. The default run (no bias) is another run.
#[test]
fn a_run_stored_by_the_previous_layout_is_found_and_reused() {
    let stored: w2s::experiment::RunResult =
        serde_json::from_str(include_str!("../data/result.json")).unwrap();
    let spec = stored.spec.clone();
    assert!(
        spec.train.head_bias,
        "a missing head_bias reads as the old behaviour"
    );
    assert_eq!(
        spec.hash(),
        stored.hash,
        "the hash did not change when the code moved"
    );
    assert_eq!(stored.hash, "4183944060dc2aa5");
    let dir = tempfile::tempdir().unwrap();
    let folder = spec.dir(dir.path());
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("result.json"),
        include_str!("../data/result.json"),
    )
    .unwrap();
    std::fs::write(
        folder.join("predictions.json"),
        include_str!("../data/predictions.json"),
    )
    .unwrap();
    std::fs::write(folder.join(".lock"), "").unwrap();
    let runner = Runner::new(dir.path().to_path_buf(), Device::Cpu, false);
    let again = runner.run(&spec).unwrap();
    assert_eq!(runner.trained_count(), 0, "reused, not retrained");
    assert_eq!(again.test_accuracy, stored.test_accuracy);
    let default = RunSpec {
        train: w2s::options::TrainOptions {
            head_bias: false,
            ..spec.train.clone()
        },
        ..spec.clone()
    };
    assert_ne!(default.hash(), spec.hash(), "no bias is another run");
}

/// One experiment is one set of runs whichever front end plans it: a run file (`w2s run`, and
/// the demo and Python, which plan through it) and a sweep name the supervisor, the ceiling and
/// the student alike, also with an architecture-only option in `[train]` (LoRA: the student's
/// and its ceiling's, not the supervisor's, in both) and the supervisor's own options
/// (`[weak]` in a run file, `[model_train."bow"]` in a sweep).
#[test]
fn the_same_experiment_through_a_run_file_and_a_sweep_is_the_same_runs() {
    let minilm = common::minilm();
    let m = minilm.to_str().unwrap();
    let cases = [
        ("epochs = 1\nlr = 1e-4\n", ""),
        ("epochs = 1\nlora = true\n", ""),
        ("epochs = 1\nlora = { rank = 4 }\n", "epochs = 3\n"),
    ];
    for (train, weak) in cases {
        let run_file: w2s::config::RunFile = toml::from_str(&format!(
            "model = {m:?}\nweak_model = \"bow\"\nn_docs = 40\nn_test_docs = 20\n\
             [train]\n{train}[weak]\n{weak}"
        ))
        .unwrap();
        let sweep_file: w2s::sweep::SweepFile = toml::from_str(&format!(
            "datasets = [\"demo\"]\nmodels = [\"bow\", {m:?}]\nn_docs = 40\nn_test_docs = 20\n\
             [train]\n{train}[model_train.\"bow\"]\n{weak}"
        ))
        .unwrap();
        let w2s::config::RunPlan::WeakToStrong(exp) = run_file.plan(false).unwrap() else {
            panic!("a weak model makes a weak-to-strong plan");
        };
        let swept: std::collections::HashSet<String> = w2s::sweep::plan::plan(&sweep_file, false)
            .unwrap()
            .iter()
            .map(|p| p.spec.hash())
            .collect();
        for spec in exp.runs() {
            assert!(
                swept.contains(&spec.hash()),
                "[train] {train:?}, [weak] {weak:?}: {} is planned by the run file, not the sweep",
                spec.label()
            );
        }
        let lora = train.contains("lora");
        assert!(
            exp.weak[0].train.lora.is_none(),
            "{train}: a supervisor without LoRA"
        );
        assert_eq!(
            exp.ceiling.train.lora.is_some(),
            lora,
            "{train}: the ceiling as the student"
        );
        assert_eq!(exp.students[0].ceiling(), exp.ceiling);
        assert_eq!(
            exp.weak[0].train.epochs,
            if weak.is_empty() { 1 } else { 3 }
        );
    }
}
