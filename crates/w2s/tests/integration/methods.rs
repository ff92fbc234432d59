//! Each method beyond naive finetuning, end to end on the small demo task: the weak
//! supervisor is a bag of words, the student a linear probe on real MiniLM features (fast,
//! and the features are what the relabelling probes use).

use crate::common;

use tch::Device;
use w2s::experiment::{DataSpec, Experiment, Predictions, RunSpec, Runner};
use w2s::labels::{Action, Probe, Relabel};
use w2s::loss::Loss;
use w2s::metrics;
use w2s::options::{EarlyStopping, StopLabels, StopMetric, TrainOptions};

use common::opts;

fn probe() -> TrainOptions {
    TrainOptions {
        linear_probe: true,
        ..opts(1e-2, 4)
    }
}

fn experiment(students: &[TrainOptions]) -> Experiment {
    let minilm = common::minilm();
    Experiment::new(
        &DataSpec::new("demo", None, 640, 300).unwrap(),
        0,
        64,
        &[("bow", opts(1e-2, 2))],
        (minilm.to_str().unwrap(), probe()),
        students,
    )
    .unwrap()
}

#[test]
fn every_loss_trains_a_student() {
    let dir = tempfile::tempdir().unwrap();
    let students: Vec<TrainOptions> = Loss::names()
        .iter()
        .map(|n| TrainOptions {
            loss: Loss::from_name(n).unwrap(),
            ..probe()
        })
        .collect();
    let exp = experiment(&students);
    let outcome = exp
        .run(&Runner::new(dir.path().to_path_buf(), Device::Cpu, false))
        .unwrap();
    assert_eq!(outcome.students.len(), Loss::names().len());
    let mut folders: Vec<String> = std::fs::read_dir(dir.path().join("demo"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    for (s, name) in outcome.students.iter().zip(Loss::names()) {
        assert_eq!(s.loss, name);
        // Losses that lean on the student's own predictions (product, entropy) can lock in a
        // weak start on this tiny task; every student must still be a working classifier.
        assert!(
            s.accuracy > 0.45 && s.agreement.unwrap() > 0.5,
            "{name} student is broken: {outcome:?}"
        );
        assert!(
            folders.iter().any(|f| f.contains(&format!("-{name}-s0-"))),
            "{name}: {folders:?}"
        );
    }
    // kl has xent's gradient: the same student. The confidence losses beat the supervisor.
    let by_name = |n: &str| {
        outcome
            .students
            .iter()
            .find(|s| s.loss == n)
            .unwrap()
            .accuracy
    };
    assert_eq!(by_name("kl"), by_name("xent"));
    for n in ["xent", "logconf", "adaptive"] {
        assert!(by_name(n) > outcome.weak, "{n}: {outcome:?}");
    }
}

#[test]
fn early_stopping_keeps_the_best_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::new(dir.path().to_path_buf(), Device::Cpu, false);
    let es = |labels| TrainOptions {
        early_stopping: Some(EarlyStopping {
            every: 2,
            metric: StopMetric::Accuracy,
            labels,
            val_frac: 0.25,
        }),
        ..probe()
    };
    let exp = experiment(&[es(StopLabels::Weak), es(StopLabels::Oracle)]);
    let outcome = exp.run(&runner).unwrap();
    assert_eq!(outcome.students[0].loss, "xent+es");
    assert_eq!(outcome.students[1].loss, "xent+es_oracle");
    let mut best = Vec::new();
    for s in &exp.students {
        let r = runner.run(s).unwrap();
        assert_eq!(r.n_train, 240, "a quarter of train2's 320 held out");
        // 240 x 4 epochs / 32 = 30 steps, scored every 2.
        let log = std::fs::read_to_string(runner.run_dir(s).join("train_log.jsonl")).unwrap();
        let scores: Vec<(usize, f64)> = log
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter_map(|v| Some((v["step"].as_u64()? as usize + 1, v["validation"].as_f64()?)))
            .collect();
        assert_eq!(scores.len(), 15);
        let max = scores.iter().map(|s| s.1).fold(f64::MIN, f64::max);
        let first_best = scores.iter().find(|s| s.1 == max).unwrap().0;
        assert_eq!(r.training.best_score, Some(max));
        assert_eq!(r.training.best_step, Some(first_best));
        best.push(max);
    }
    // The same student scored against weak and against true labels: it imitates its
    // supervisor, so it scores higher against the weak labels than against the truth.
    assert!(best[0] > best[1], "{best:?}");
}

/// With the checkpoint restored, the model scores on validation what early stopping logged.
#[test]
fn the_restored_checkpoint_is_the_best_one() {
    let mut model = w2s::model::Classifier::load("bow", Device::Cpu, 0).unwrap();
    let texts: Vec<String> = (0..96)
        .map(|i| {
            if i % 2 == 0 {
                format!("good great film {i}")
            } else {
                format!("bad awful film {i}")
            }
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ids = model.encoder.encode_all(&refs).unwrap();
    // Noisy training labels (every fifth flipped); clean validation labels.
    let labels: Vec<[f32; 2]> = (0..64)
        .map(|i| {
            let y = (i % 2 == 1) ^ (i % 5 == 0);
            if y {
                [0.0, 1.0]
            } else {
                [1.0, 0.0]
            }
        })
        .collect();
    let val_labels: Vec<u8> = (64..96).map(|i| (i % 2) as u8).collect();
    let validation = w2s::train::Validation {
        inputs: w2s::train::Inputs::Tokens(&ids[64..]),
        labels: val_labels.clone(),
        metric: StopMetric::Auroc,
        every: 1,
    };
    let summary = w2s::train::train(
        &mut model,
        w2s::train::Inputs::Tokens(&ids[..64]),
        w2s::train::Labels::Soft(&labels),
        &TrainOptions {
            batch_size: 8,
            minibatch_size: 8,
            ..opts(0.5, 6)
        },
        Some(&validation),
        None,
        "test",
    )
    .unwrap();
    let probs = w2s::train::predict(&model, &ids[64..], 16).unwrap();
    let score = metrics::auroc(&probs, &val_labels).unwrap();
    assert_eq!(Some(score), summary.best_score, "{summary:?}");
    assert!(summary.best_step.unwrap() >= 1 && summary.best_step.unwrap() <= summary.steps);
}

#[test]
fn probe_relabelling_cleans_weak_labels() {
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::new(dir.path().to_path_buf(), Device::Cpu, false);
    let relabel = |kind, action| TrainOptions {
        relabel: Some(Relabel {
            probe: kind,
            fraction: 0.2,
            action,
        }),
        ..probe()
    };
    let exp = experiment(&[
        relabel(Probe::Knn { k: 10 }, Action::Relabel),
        relabel(Probe::Logreg { l2: 1e-3 }, Action::Relabel),
        relabel(Probe::Knn { k: 10 }, Action::Filter),
    ]);
    let outcome = exp.run(&runner).unwrap();
    let names: Vec<&str> = outcome.students.iter().map(|s| s.loss.as_str()).collect();
    assert_eq!(names, ["xent+knn", "xent+logreg", "xent+knn_filter"]);
    for (s, spec) in outcome.students.iter().zip(&exp.students) {
        let r = runner.run(spec).unwrap();
        let stats = r.relabelling.clone().unwrap();
        assert_eq!(stats.changed, 64, "a fifth of 320");
        // Whether the labels got better is a finding, not a property (docs/METHODS.md).
        eprintln!("{}: {stats:?}", s.loss);
        assert!(stats.accuracy_after > 0.5 && stats.accuracy_before > 0.5);
        let expected_n = if s.loss.ends_with("filter") { 256 } else { 320 };
        assert_eq!(r.n_train, expected_n);
    }
    // A ground-truth run cannot be relabelled: there is nothing weak to clean.
    let mut bad = exp.ceiling.clone();
    bad.train.relabel = exp.students[0].train.relabel.clone();
    let err = runner.run(&bad).unwrap_err().to_string();
    assert!(err.contains("relabelling needs weak labels"), "{err}");
}

#[test]
fn several_supervisors_and_strong_to_strong_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::new(dir.path().to_path_buf(), Device::Cpu, false);
    let exp = experiment(&[probe()]);
    exp.run(&runner).unwrap();
    // A second bag of words, trained longer: a different supervisor of the same kind.
    let mut ensemble = exp.students[0].clone();
    let co = RunSpec {
        train: opts(1e-2, 4),
        ..exp.weak[0].clone()
    };
    ensemble.co_supervisors.push(co.clone());
    let r = runner.run(&ensemble).unwrap();
    assert!(runner
        .run_dir(&ensemble)
        .to_string_lossy()
        .contains("w2s-bow+bow-to-"));
    // The labels were the mean of both supervisors' predictions; its test accuracy is stored.
    let mean = Predictions::mean(&[
        runner.predictions(&exp.weak[0]).unwrap(),
        runner.predictions(&co).unwrap(),
    ]);
    let test = w2s::dataset::Splits::new(
        w2s::dataset::load_pools("demo", None, 0, (640, 300)).unwrap(),
        640,
        300,
        0,
    )
    .test;
    let (p, t): (Vec<[f32; 2]>, Vec<u8>) = mean
        .test
        .iter()
        .zip(&test)
        .filter_map(|(p, e)| Some(((*p)?, e.label)))
        .unzip();
    assert_eq!(r.supervisor_accuracy, Some(metrics::accuracy(&p, &t)));

    // Strong-to-strong: the student relabels train2 for a fresh copy of itself.
    let round2 = RunSpec {
        supervisor: Some(Box::new(exp.students[0].clone())),
        ..exp.students[0].clone()
    };
    let r2 = runner.run(&round2).unwrap();
    let first = runner.run(&exp.students[0]).unwrap();
    assert_eq!(r2.supervisor_accuracy, Some(first.test_accuracy));
    assert!(r2.test_accuracy > 0.55, "{}", r2.test_accuracy);
}

/// A LoRA student finetunes MiniLM through its adapters and keeps a merged model folder whose
/// weights (with the stored head) reproduce the run's predictions.
#[test]
fn lora_student_saves_a_merged_model() {
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::new(dir.path().to_path_buf(), Device::Cpu, false);
    let lora = TrainOptions {
        lora: Some(w2s::model::lora::LoraConfig {
            save: w2s::model::lora::Save::Merged,
            ..Default::default()
        }),
        ..opts(1e-3, 2)
    };
    let exp = experiment(&[lora]);
    let outcome = exp.run(&runner).unwrap();
    assert_eq!(outcome.students[0].loss, "xent+lora");
    assert!(outcome.students[0].accuracy > 0.55, "{outcome:?}");

    let student = &exp.students[0];
    let folder = runner.run_dir(student).join("model");
    let merged = w2s::model::Classifier::load(folder.to_str().unwrap(), Device::Cpu, 0).unwrap();
    let saved = tch::Tensor::read_safetensors(folder.join("model.safetensors")).unwrap();
    let get = |n: &str| {
        saved
            .iter()
            .find(|(k, _)| k == n)
            .map(|x| x.1.shallow_clone())
    };
    // The head has no bias by default, as the reference's.
    let (w, b) = (get("w2s_head.weight").unwrap(), get("w2s_head.bias"));
    assert!(b.is_none(), "no head bias unless asked for");
    let test = w2s::dataset::Splits::new(
        w2s::dataset::load_pools("demo", None, 0, (640, 300)).unwrap(),
        640,
        300,
        0,
    )
    .test;
    let texts: Vec<&str> = test.iter().take(16).map(|e| e.text.as_str()).collect();
    let ids = merged.encoder.encode_all(&texts).unwrap();
    let feats = w2s::train::features(&merged, &ids, 16).unwrap();
    let probs = tch::no_grad(|| {
        feats
            .linear::<tch::Tensor>(&w, None)
            .softmax(-1, tch::Kind::Float)
    });
    let probs = Vec::<f32>::try_from(probs.view(-1)).unwrap();
    let stored = runner.predictions(student).unwrap().test;
    for (i, p) in stored.iter().take(16).enumerate() {
        let p = p.unwrap();
        assert!(
            (p[1] - probs[2 * i + 1]).abs() < 1e-4,
            "{i}: {p:?} vs {}",
            probs[2 * i + 1]
        );
    }
}

/// Generative scoring needs a decoder's LM head (parity with transformers' causal LMs is in
/// `families.rs`); with no epochs, the model is used as loaded.
#[test]
fn generative_scoring_needs_a_decoder_and_zero_epochs_train_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::new(dir.path().to_path_buf(), Device::Cpu, false);
    let zero_shot = TrainOptions {
        generative: Some(w2s::options::Generative {
            answers: [" bad".into(), " good".into()],
            suffix: " Is it good?".into(),
        }),
        ..opts(1e-4, 0)
    };
    assert_eq!(zero_shot.method(), "xent+zero_shot");
    let exp = experiment(&[zero_shot]);
    let err = runner.run(&exp.students[0]).unwrap_err().to_string();
    assert!(err.contains("needs a decoder"), "{err}");

    let mut model = w2s::model::Classifier::load("bow", Device::Cpu, 0).unwrap();
    let ids = model.encoder.encode_all(&["a b", "c d"]).unwrap();
    let before = w2s::train::predict(&model, &ids, 2).unwrap();
    let summary = w2s::train::train(
        &mut model,
        w2s::train::Inputs::Tokens(&ids),
        w2s::train::Labels::Soft(&[[1.0, 0.0], [0.0, 1.0]]),
        &TrainOptions {
            batch_size: 2,
            minibatch_size: 2,
            ..opts(1e-2, 0)
        },
        None,
        None,
        "zero-shot",
    )
    .unwrap();
    assert_eq!(summary.steps, 0);
    assert_eq!(w2s::train::predict(&model, &ids, 2).unwrap(), before);
}
