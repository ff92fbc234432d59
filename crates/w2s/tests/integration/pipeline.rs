//! The pipeline end to end on a small demo-sized task: weak supervisor, ceiling, students,
//! stored results, reuse, determinism.

use crate::common;

use tch::Device;
use w2s::experiment::{DataSpec, Experiment, Runner};
use w2s::loss::Loss;
use w2s::options::TrainOptions;

use common::opts;

fn data(n_docs: usize) -> DataSpec {
    DataSpec::new("demo", None, n_docs, 300).unwrap()
}

#[test]
fn weak_to_strong_on_the_demo_task_with_reuse() {
    let dir = tempfile::tempdir().unwrap();
    let minilm = common::minilm();
    let exp = Experiment::per_loss(
        &data(640),
        0,
        64,
        ("bow", opts(1e-2, 2)),
        (minilm.to_str().unwrap(), opts(1e-4, 2)),
        &[Loss::Xent, Loss::from_name("logconf").unwrap()],
    )
    .unwrap();
    let runner = Runner::new(dir.path().to_path_buf(), Device::Cpu, false);
    let outcome = exp.run(&runner).unwrap();
    assert!(outcome.ceiling > 0.8, "ceiling {}", outcome.ceiling);
    assert!(outcome.ceiling > outcome.weak + 0.1, "{outcome:?}");
    for s in &outcome.students {
        assert!(
            s.accuracy > outcome.weak,
            "{} student did not beat its supervisor: {outcome:?}",
            s.loss
        );
        assert!(s.pgr.unwrap() > 0.0);
        assert!((0.0..=1.0).contains(&s.agreement.unwrap()));
    }

    // Every run folder is complete: config, per-step log, predictions, result.
    // (Hidden folders beside them hold locks and staging.)
    let runs: Vec<_> = std::fs::read_dir(dir.path().join("demo"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(runs.len(), 4, "weak, ceiling and two students: {runs:?}");
    for r in &runs {
        for f in [
            "config.json",
            "train_log.jsonl",
            "predictions.json",
            "result.json",
        ] {
            assert!(r.join(f).exists(), "{} lacks {f}", r.display());
        }
    }
    let log = std::fs::read_to_string(runs[0].join("train_log.jsonl")).unwrap();
    assert_eq!(
        log.lines().count(),
        20,
        "320 examples x 2 epochs / 32 = 20 steps"
    );

    // A second runner reuses every stored run: same numbers, nothing rewritten.
    let stamp = |p: &std::path::Path| {
        std::fs::metadata(p.join("result.json"))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before: Vec<_> = runs.iter().map(|r| stamp(r)).collect();
    let again = exp
        .run(&Runner::new(dir.path().to_path_buf(), Device::Cpu, false))
        .unwrap();
    assert_eq!(again.students[1].accuracy, outcome.students[1].accuracy);
    let after: Vec<_> = runs.iter().map(|r| stamp(r)).collect();
    assert_eq!(before, after);

    // An interrupted run (no result.json) is redone; its supervisor is reused.
    let student_dir = runner.run_dir(&exp.students[0]);
    std::fs::remove_file(student_dir.join("result.json")).unwrap();
    let redo = Runner::new(dir.path().to_path_buf(), Device::Cpu, false);
    let r = redo.run(&exp.students[0]).unwrap();
    assert_eq!(
        r.test_accuracy, outcome.students[0].accuracy,
        "same config and seed, same result"
    );
    assert_eq!(
        stamp(&runner.run_dir(&exp.weak[0])),
        before[runs
            .iter()
            .position(|p| p == &runner.run_dir(&exp.weak[0]))
            .unwrap()]
    );
}

#[test]
fn same_seed_same_result_other_seed_other_split() {
    let run = |seed, dir: &std::path::Path| {
        let spec = Experiment::per_loss(
            &data(400),
            seed,
            64,
            ("bow", opts(1e-2, 2)),
            ("bow", opts(1e-2, 2)),
            &[],
        )
        .unwrap()
        .weak[0]
            .clone();
        let runner = Runner::new(dir.to_path_buf(), Device::Cpu, false);
        runner.run(&spec).unwrap();
        runner.predictions(&spec).unwrap().test
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = run(7, a.path());
    assert!(
        first == run(7, b.path()),
        "bitwise identical predictions for the same seed"
    );
    let c = tempfile::tempdir().unwrap();
    assert!(first != run(8, c.path()));
}

#[test]
fn config_hash_separates_runs_and_nan_loss_fails_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::new(dir.path().to_path_buf(), Device::Cpu, false);
    let a = Experiment::per_loss(
        &data(200),
        0,
        64,
        ("bow", opts(1e-2, 1)),
        ("bow", opts(1e-2, 1)),
        &[],
    )
    .unwrap()
    .weak[0]
        .clone();
    let mut b = a.clone();
    b.train.lr = 2e-2;
    assert_ne!(runner.run_dir(&a), runner.run_dir(&b));

    // An absurd learning rate blows the loss up: the run fails, naming the step, and leaves
    // no result behind to be mistaken for a finished run, only the failure's record.
    let mut bad = a.clone();
    bad.train.lr = 1e30;
    let err = runner.run(&bad).unwrap_err().to_string();
    assert!(
        (err.contains("loss became") || err.contains("diverged")) && err.contains("step"),
        "{err}"
    );
    assert!(!runner.run_dir(&bad).join("result.json").exists());
    let failed = std::fs::read_to_string(runner.run_dir(&bad).join("failed.json")).unwrap();
    assert!(
        failed.contains("diverged") || failed.contains("loss became"),
        "{failed}"
    );
}

/// Linear probes train only the head on backbone features that are computed once per
/// (model, task, seed, split) and shared by every probe: a sweep over losses reruns no backbone.
#[test]
fn linear_probe_on_cached_features() {
    let dir = tempfile::tempdir().unwrap();
    let minilm = common::minilm();
    let probe = TrainOptions {
        linear_probe: true,
        ..opts(1e-2, 4)
    };
    let exp = Experiment::per_loss(
        &data(640),
        0,
        64,
        ("bow", opts(1e-2, 2)),
        (minilm.to_str().unwrap(), probe),
        &[Loss::Xent, Loss::from_name("logconf").unwrap()],
    )
    .unwrap();
    let outcome = exp
        .run(&Runner::new(dir.path().to_path_buf(), Device::Cpu, false))
        .unwrap();
    assert!(outcome.ceiling > 0.7, "probe ceiling {outcome:?}");
    let cached: Vec<_> = std::fs::read_dir(dir.path().join(".features"))
        .unwrap()
        .collect();
    assert_eq!(
        cached.len(),
        3,
        "train1, train2 and test features of MiniLM, once each"
    );
    for s in &outcome.students {
        assert!(s.accuracy > 0.5, "{outcome:?}");
    }
}
