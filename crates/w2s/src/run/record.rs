//! The run folder's contract: what `result.json`, `predictions.json` and `failed.json` hold,
//! and the one reuse rule ([`stored`]): a stored result is reused only if it is whole, is the
//! run its configuration describes, and checks itself against its predictions.

use crate::generative_finetuning;
use crate::labels;
use crate::metrics;
use crate::model::ModelInfo;
use crate::run::spec::RunSpec;
use crate::store;
use crate::train::TrainSummary;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::Device;

/// Per-example predictions of a run, indexed by position in the split; `None` where the
/// example was too long for the model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Predictions {
    /// Only for runs that supervise another (see the module's documentation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train2: Option<Vec<Option<[f32; 2]>>>,
    pub test: Vec<Option<[f32; 2]>>,
    /// The test split's true labels, so that reports can resample test examples.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_labels: Vec<u8>,
    /// The hash of the run these are the predictions of (a copy in another folder is caught).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

/// The stored outcome of a run (`result.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub hash: String,
    pub spec: RunSpec,
    pub model: ModelInfo,
    pub test_accuracy: f64,
    /// Share of test examples where this run predicts the same class as its supervisor.
    pub supervisor_agreement: Option<f64>,
    /// Test accuracy of the labels this run learnt from (the mean of several supervisors').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor_accuracy: Option<f64>,
    /// What relabelling did to the training labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relabelling: Option<Relabelling>,
    /// What generative finetuning did before training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generative_finetuning: Option<generative_finetuning::Summary>,
    /// Further metrics on test (AUROC, calibration, imitation of the supervisor).
    #[serde(default)]
    pub analysis: Analysis,
    pub n_train: usize,
    pub n_test: usize,
    /// Examples dropped for exceeding `max_ctx` (train, test).
    pub n_dropped: (usize, usize),
    pub training: TrainSummary,
    pub device: String,
    /// A pairwise task (reward modelling): the accuracy is pairwise accuracy, the share of
    /// pairs whose preferred reply the model scores higher.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pairwise: bool,
    /// SHA-256 of predictions.json as written: a result is only read with its own predictions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictions_sha256: Option<String>,
    /// Whether predictions.json has train2 (results before it was optional always do).
    #[serde(default = "yes")]
    pub train2_predicted: bool,
    #[serde(default)]
    pub provenance: Provenance,
}

fn yes() -> bool {
    true
}

/// A run that could not finish, and why: `failed.json` in its folder, until a result
/// replaces the folder.
/// The files of a run folder, written by the runner and read by the reuse rule, reports and
/// sweeps: the run folder's contract.
pub const RESULT_FILE: &str = "result.json";
pub const PREDICTIONS_FILE: &str = "predictions.json";
pub const CONFIG_FILE: &str = "config.json";
pub const TRAIN_LOG_FILE: &str = "train_log.jsonl";
pub const FAILED_FILE: &str = "failed.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub hash: String,
    pub folder: PathBuf,
    pub reason: String,
}

impl Failure {
    /// Record that `spec` failed; a folder that holds a valid result (a forced retrain that
    /// failed) keeps it, and only the returned record says so.
    pub fn record(spec: &RunSpec, results: &Path, reason: String) -> Result<Failure> {
        let f = Failure {
            hash: spec.hash(),
            folder: spec.dir(results),
            reason,
        };
        if !matches!(stored(&f.folder), Stored::Complete(_)) {
            store::write_json(&f.folder.join(FAILED_FILE), &f)?;
        }
        Ok(f)
    }

    /// The failure recorded in a run folder, if any.
    pub fn read(dir: &Path) -> Option<Failure> {
        store::read_json(&dir.join(FAILED_FILE)).ok()
    }
}

/// What a run folder holds, as the one reuse rule reads it ([`stored`]).
#[derive(Debug)]
pub enum Stored {
    /// A complete, valid result.
    Complete(Box<RunResult>),
    /// No result: no folder, or only a failure record.
    Missing,
    /// A result that cannot be trusted, and why: it is redone (and reports list it).
    Invalid(String),
}

/// The reuse rule, in one place for `run`, sweeps, workers and reports: a run folder's result
/// is reused only if `result.json` parses, names the folder's own run (its hash ends the
/// folder's name) and is the run its own spec describes (the hash computed again), has a sane
/// accuracy, and `predictions.json` is the file it was computed from (checksum), names the same
/// run, and gives the same accuracy, AUROC and supervisor agreement; a folder
/// that is a symbolic link, or holds one where w2s writes, is never trusted.
pub fn stored(dir: &Path) -> Stored {
    let result_path = dir.join(RESULT_FILE);
    match std::fs::symlink_metadata(dir) {
        Err(_) => return Stored::Missing,
        Ok(m) if !m.is_dir() => return Stored::Invalid("is not a folder (a link?)".into()),
        Ok(_) => {}
    }
    for name in [RESULT_FILE, PREDICTIONS_FILE, CONFIG_FILE, TRAIN_LOG_FILE] {
        if std::fs::symlink_metadata(dir.join(name)).is_ok_and(|m| m.file_type().is_symlink()) {
            return Stored::Invalid(format!("{name} is a symbolic link, which w2s never writes"));
        }
    }
    if std::fs::symlink_metadata(&result_path).is_err() {
        return Stored::Missing;
    }
    let result: RunResult = match store::read_json(&result_path) {
        Ok(r) => r,
        Err(e) => return Stored::Invalid(format!("{e:#}")),
    };
    let predictions =
        match names_its_folder(dir, &result).and_then(|_| predictions_of(dir, &result)) {
            Ok(p) => p,
            Err(why) => return Stored::Invalid(why),
        };
    let mut result = result;
    match self_check(dir, &result, &predictions) {
        Err(why) => return Stored::Invalid(why),
        // Results stored before ties counted half hold the argmax accuracy: what their
        // predictions give under today's rule replaces it, so every report reads one rule.
        Ok(Some(accuracy)) => result.test_accuracy = accuracy,
        Ok(None) => {}
    }
    if result.analysis.diagnostics.is_none() && !predictions.test_labels.is_empty() {
        if let Some(sup) = supervisor_predictions(dir, &result) {
            if sup.test.len() == predictions.test.len() {
                let mut a = result.analysis.clone();
                a.against_supervisor(&predictions.test, &sup.test, &predictions.test_labels);
                result.analysis.diagnostics = a.diagnostics;
            }
        }
    }
    Stored::Complete(Box::new(result))
}

/// A result names its own folder (its hash ends the folder's name), is the run its own spec
/// describes, and has a sane accuracy.
fn names_its_folder(dir: &Path, result: &RunResult) -> Result<(), String> {
    let folder = dir.file_name().unwrap_or_default().to_string_lossy();
    if result.hash.is_empty() || !folder.ends_with(&format!("-{}", result.hash)) {
        return Err(format!(
            "result.json is the result of run {}, not of this folder's",
            result.hash
        ));
    }
    if !(0.0..=1.0).contains(&result.test_accuracy) {
        return Err(format!(
            "test accuracy {} is not a share",
            result.test_accuracy
        ));
    }
    if result.spec.hash() != result.hash {
        return Err(format!(
            "result.json's run {} is not the run its configuration describes ({})",
            result.hash,
            result.spec.hash()
        ));
    }
    Ok(())
}

/// The folder's predictions, if they are the file its result was computed from and match it.
fn predictions_of(dir: &Path, result: &RunResult) -> Result<Predictions, String> {
    let path = dir.join(PREDICTIONS_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    if let Some(sum) = &result.predictions_sha256 {
        if store::sha256_hex(&bytes) != *sum {
            return Err(
                "predictions.json is not the file its result.json was computed from (checksum)"
                    .into(),
            );
        }
    }
    let predictions: Predictions =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let kept = predictions.test.iter().filter(|p| p.is_some()).count();
    if kept != result.n_test
        || (!predictions.test_labels.is_empty()
            && predictions.test_labels.len() != predictions.test.len())
        || (result.train2_predicted && predictions.train2.is_none())
        || predictions.run.as_ref().is_some_and(|r| *r != result.hash)
    {
        return Err("predictions.json does not match result.json".into());
    }
    Ok(predictions)
}

/// A stored result checks itself: its test accuracy, AUROC and agreement with its supervisor
/// are computed again from the predictions (its own, and its supervisors' beside it) and the
/// true labels, and must equal what result.json says.
/// Returns the test accuracy under today's tie rule ([`metrics::accuracy`]) where the stored
/// one was computed by the older rule ([`metrics::accuracy_ties_as_class_0`]).
fn self_check(
    dir: &Path,
    result: &RunResult,
    predictions: &Predictions,
) -> Result<Option<f64>, String> {
    if predictions.test_labels.is_empty() {
        return Ok(None); // results from before test labels were kept
    }
    let (probs, truth): (Vec<[f32; 2]>, Vec<u8>) = predictions
        .test
        .iter()
        .zip(&predictions.test_labels)
        .filter_map(|(p, &l)| Some(((*p)?, l)))
        .unzip();
    let same = |a: f64, b: f64| (a - b).abs() <= 1e-9;
    let accuracy = metrics::accuracy(&probs, &truth);
    let updated = if probs.is_empty() {
        None
    } else if same(accuracy, result.test_accuracy) {
        Some(None)
    } else if same(
        metrics::accuracy_ties_as_class_0(&probs, &truth),
        result.test_accuracy,
    ) {
        Some(Some(accuracy))
    } else {
        None
    };
    let Some(updated) = updated else {
        return Err(format!(
            "result.json's test accuracy {} is not what its predictions give",
            result.test_accuracy
        ));
    };
    let auroc = metrics::auroc(&probs, &truth);
    if auroc.is_some() != result.analysis.auroc.is_some()
        || auroc
            .zip(result.analysis.auroc)
            .is_some_and(|(a, b)| !same(a, b))
    {
        return Err("result.json's AUROC is not what its predictions give".into());
    }
    // Agreement with the supervisors whose results are stored beside this one.
    if let (Some(sup), Some(agreement)) = (
        supervisor_predictions(dir, result),
        result.supervisor_agreement,
    ) {
        let (a, b): (Vec<[f32; 2]>, Vec<[f32; 2]>) = predictions
            .test
            .iter()
            .zip(&sup.test)
            .filter_map(|(a, b)| Some(((*a)?, (*b)?)))
            .unzip();
        if sup.test.len() == predictions.test.len() && !same(metrics::agreement(&a, &b), agreement)
        {
            return Err(format!(
                "result.json's agreement with its supervisor {agreement} is not what the stored predictions give"
            ));
        }
    }
    Ok(updated)
}

/// The test predictions of `result`'s supervisors stored beside `dir` (their mean, for
/// several), if all are there.
fn supervisor_predictions(dir: &Path, result: &RunResult) -> Option<Predictions> {
    let task = dir.parent()?;
    let sups: Vec<Predictions> = result
        .spec
        .supervisors()
        .map(|s| store::read_json(&task.join(s.folder_name()).join(PREDICTIONS_FILE)).ok())
        .collect::<Option<_>>()?;
    match sups.len() {
        0 => None,
        1 => sups.into_iter().next(),
        _ => Some(Predictions::mean(&sups)),
    }
}

/// Whether the run folder `dir` holds a result that serves: valid ([`stored`]), and with
/// train2 predictions when `supervises`.
pub fn is_done(dir: &Path, supervises: bool) -> bool {
    match stored(dir) {
        Stored::Complete(r) => !supervises || r.train2_predicted,
        _ => false,
    }
}

/// The effect of probe relabelling on the training labels, measured against ground truth.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Relabelling {
    /// Examples relabelled or dropped.
    pub changed: usize,
    /// Accuracy of the hardened training labels before and after (over the kept examples).
    pub accuracy_before: f64,
    pub accuracy_after: f64,
}

/// Metrics beyond accuracy, on the test split.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Analysis {
    pub auroc: Option<f64>,
    /// Expected calibration error, 10 bins.
    pub ece: Option<f64>,
    /// AUROC of this run's P(1) against the supervisor's hard labels.
    pub auroc_vs_supervisor: Option<f64>,
    /// Of the supervisor's test mistakes, the share this run repeats.
    pub copied_mistakes: Option<f64>,
    /// Of the supervisor's correct test answers, the share this run keeps.
    pub kept_correct: Option<f64>,
    /// Misfit, gain and the error decomposition against the supervisor (students only).
    /// Results stored before these existed get them when read ([`stored`]), from their
    /// predictions and their supervisors' beside them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<metrics::Diagnostics>,
}

impl Analysis {
    /// The student's relation to its supervisor on test, over the examples both kept:
    /// agreement, imitation, AUROC against its hard labels and the theory's [`Diagnostics`].
    /// Returns the agreement.
    ///
    /// [`Diagnostics`]: metrics::Diagnostics
    pub fn against_supervisor(
        &mut self,
        student: &[Option<[f32; 2]>],
        supervisor: &[Option<[f32; 2]>],
        labels: &[u8],
    ) -> Option<f64> {
        let (mut s, mut w, mut t) = (Vec::new(), Vec::new(), Vec::new());
        for ((a, b), &l) in student.iter().zip(supervisor).zip(labels) {
            if let (Some(a), Some(b)) = (a, b) {
                s.push(*a);
                w.push(*b);
                t.push(l);
            }
        }
        if s.is_empty() {
            return None;
        }
        let sup_hard: Vec<u8> = w.iter().map(metrics::hard).collect();
        self.auroc_vs_supervisor = metrics::auroc(&s, &sup_hard);
        (self.copied_mistakes, self.kept_correct) = metrics::imitation(&s, &w, &t);
        self.diagnostics = metrics::diagnostics(&s, &w, &t);
        Some(metrics::agreement(&s, &w))
    }
}

/// How and where a result was computed, for `result.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Provenance {
    pub w2s_version: String,
    /// The commit w2s was built from (`unknown` outside a git checkout; `+dirty` with
    /// uncommitted changes).
    pub git_commit: String,
    pub libtorch: String,
    pub device: String,
    /// The GPUs the process was allowed to see, when `CUDA_VISIBLE_DEVICES` said (a sweep's
    /// job slot or a Slurm task): which physical card `Cuda(0)` was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_visible_devices: Option<String>,
    pub threads: i32,
    pub model_fingerprint: String,
    pub task_fingerprint: String,
    /// Seconds from loading the data to writing the result.
    pub wall_seconds: f64,
    /// Unix time when the run finished.
    pub finished_at: u64,
}

impl Provenance {
    pub(crate) fn new(spec: &RunSpec, device: Device, started: std::time::Instant) -> Provenance {
        Provenance {
            w2s_version: env!("CARGO_PKG_VERSION").into(),
            git_commit: option_env!("W2S_GIT_COMMIT").unwrap_or("unknown").into(),
            libtorch: option_env!("W2S_LIBTORCH_VERSION")
                .unwrap_or("unknown")
                .into(),
            device: format!("{device:?}"),
            cuda_visible_devices: std::env::var("CUDA_VISIBLE_DEVICES").ok(),
            threads: tch::get_num_threads(),
            model_fingerprint: spec.model_fingerprint.clone(),
            task_fingerprint: spec.data.fingerprint.clone(),
            wall_seconds: started.elapsed().as_secs_f64(),
            finished_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }
}

impl Predictions {
    /// The mean of several runs' predictions (several supervisors).
    pub fn mean(all: &[Predictions]) -> Predictions {
        let train2: Option<Vec<&[Option<[f32; 2]>]>> =
            all.iter().map(|p| p.train2.as_deref()).collect();
        let test: Vec<&[Option<[f32; 2]>]> = all.iter().map(|p| p.test.as_slice()).collect();
        Predictions {
            train2: train2.map(|t| labels::mean_labels(&t)),
            test: labels::mean_labels(&test),
            test_labels: all
                .first()
                .map(|p| p.test_labels.clone())
                .unwrap_or_default(),
            run: None,
        }
    }
}
