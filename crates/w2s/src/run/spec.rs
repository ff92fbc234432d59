//! What a run is: the task ([`DataSpec`]), the model, its options and its supervisors
//! ([`RunSpec`]). A run's identity, hashed, names its folder; the hash covers the task's and
//! the model's content, so a stored result is reused only while everything that decided it is
//! unchanged.

use crate::dataset;
use crate::model::{short_name, ModelInfo};
use crate::options::TrainOptions;
use crate::store;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Bumped whenever a change alters what a stored result means, so old folders are not reused.
/// 2: run identity from the task's and the model's content; test labels in predictions.json.
pub const RESULTS_FORMAT: u32 = 2;

/// The reference's `train_simple.py` defaults: 20000 train and 10000 test examples.
pub const DEFAULT_N_DOCS: usize = 20_000;
pub const DEFAULT_N_TEST_DOCS: usize = 10_000;
/// Longest input in tokens; longer examples are dropped, as in the reference.
pub const DEFAULT_MAX_CTX: usize = 1024;

/// Which task, and how many examples of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSpec {
    /// A registered task's name, `demo`, or a user task file (absolute path).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    pub n_docs: usize,
    pub n_test_docs: usize,
    /// What the task is: its definition and its data files' contents
    /// ([`dataset::task_fingerprint`]).
    #[serde(default)]
    pub fingerprint: String,
}

impl DataSpec {
    /// A task by name (or user task file) with its data folder, fingerprinted.
    pub fn new(
        name: &str,
        data_dir: Option<&Path>,
        n_docs: usize,
        n_test_docs: usize,
    ) -> Result<DataSpec> {
        let name = match dataset::TaskRef::parse(name)? {
            dataset::TaskRef::File(path) => {
                std::path::absolute(path)?.to_string_lossy().into_owned()
            }
            _ => name.to_owned(),
        };
        if n_docs < 4 {
            bail!(
                "n_docs = {n_docs}: too few train examples; they are halved into train1 (ground \
                 truth) and train2 (weak labels), and each half needs at least 2"
            );
        }
        if n_test_docs == 0 {
            bail!("n_test_docs = 0: a run is scored on test examples; ask for at least 1");
        }
        let data_dir = data_dir.map(std::path::absolute).transpose()?;
        let fingerprint = dataset::task_fingerprint(&name, data_dir.as_deref())?;
        Ok(DataSpec {
            name,
            data_dir,
            n_docs,
            n_test_docs,
            fingerprint,
        })
    }

    /// The task's short name for tables: a user task's file stem, else its name.
    pub fn short_name(&self) -> String {
        dataset::short_name(&self.name)
    }

    /// Whether its examples are pairs of replies (two sequences each).
    pub fn pairwise(&self) -> Result<bool> {
        dataset::TaskRef::parse(&self.name)?.pairwise()
    }
}

/// Everything that determines a run's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub format: u32,
    pub data: DataSpec,
    pub seed: u64,
    /// `bow`, an absolute model folder, or a hub id.
    pub model: String,
    /// The model's files' contents ([`crate::model::fingerprint`]).
    #[serde(default)]
    pub model_fingerprint: String,
    pub train: TrainOptions,
    /// Examples of `max_ctx` tokens or more are dropped, as in the reference.
    pub max_ctx: usize,
    /// The run whose `train2` predictions are this run's labels; none for ground truth.
    pub supervisor: Option<Box<RunSpec>>,
    /// Further supervisors: the labels are the mean of all their soft predictions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub co_supervisors: Vec<RunSpec>,
}

impl RunSpec {
    /// What the options need of the model that config.json can tell without loading it:
    /// generative finetuning needs a decoder's language model.
    pub fn check_model(&self) -> Result<()> {
        if self.train.generative_finetuning.is_none() {
            return Ok(());
        }
        let info = ModelInfo::describe(&self.model)?;
        let decoder = crate::model::family::find(&info.family)
            .is_some_and(|f| f.pooling == crate::model::Pooling::Last);
        if !decoder {
            bail!(
                "{}: generative finetuning needs a decoder with a language-model head (gpt2, llama, qwen2, gpt_neox); {} is not one",
                self.model,
                info.family
            );
        }
        Ok(())
    }

    /// A model finetuned on `train1` with ground truth: a weak supervisor or a strong ceiling.
    pub fn ground_truth(
        data: &DataSpec,
        seed: u64,
        max_ctx: usize,
        model: &str,
        train: TrainOptions,
    ) -> Result<RunSpec> {
        let model = canonical_model(model);
        Ok(RunSpec {
            format: RESULTS_FORMAT,
            data: data.clone(),
            seed,
            model_fingerprint: crate::model::fingerprint(&model)?,
            model,
            train,
            max_ctx,
            supervisor: None,
            co_supervisors: Vec::new(),
        })
    }

    /// The same model and task as `self` (a ground-truth run, usually the ceiling), trained
    /// with `train` on `train2` labelled by the mean of `supervisors`' soft predictions (or
    /// their learned mixture). One supervisor's learned weight is 1, its labels as they are:
    /// `learned_weights` is dropped there, so such a student is the plain one (one run).
    pub fn student(&self, mut train: TrainOptions, supervisors: &[RunSpec]) -> RunSpec {
        let (first, rest) = supervisors
            .split_first()
            .expect("a student has at least one supervisor");
        if rest.is_empty() {
            train.learned_weights = None;
        }
        RunSpec {
            train,
            supervisor: Some(Box::new(first.clone())),
            co_supervisors: rest.to_vec(),
            ..self.clone()
        }
    }

    /// The strong ceiling a student is measured against: its model on the same task and seed,
    /// trained with its options made ground truth ([`TrainOptions::for_ground_truth`]). The one
    /// rule that `Experiment`, sweeps and reports share; for a ground-truth run, itself.
    pub fn ceiling(&self) -> RunSpec {
        RunSpec {
            train: self.train.for_ground_truth(),
            supervisor: None,
            co_supervisors: Vec::new(),
            ..self.clone()
        }
    }

    /// A strong-to-strong round: a fresh copy of this student on train2 labelled by it.
    pub fn next_round(&self) -> RunSpec {
        self.student(self.train.clone(), std::slice::from_ref(self))
    }

    /// What decides the result, hashed into the run's name: the task's and the model's
    /// fingerprints rather than their paths (moving a folder does not retrain; editing one does).
    fn identity(&self) -> serde_json::Value {
        let or = |fp: &str, fallback: String| {
            if fp.is_empty() {
                fallback
            } else {
                fp.to_owned()
            }
        };
        serde_json::json!({
            "format": self.format,
            "task": or(&self.data.fingerprint, format!("{:?}", (&self.data.name, &self.data.data_dir))),
            "n_docs": self.data.n_docs,
            "n_test_docs": self.data.n_test_docs,
            "seed": self.seed,
            "model": or(&self.model_fingerprint, self.model.clone()),
            // Checkpointing changes memory, not results.
            "train": TrainOptions { checkpointing: false, ..self.train.clone() },
            "max_ctx": self.max_ctx,
            "supervisor": self.supervisor.as_ref().map(|s| s.identity()),
            "co_supervisors": self.co_supervisors.iter().map(RunSpec::identity).collect::<Vec<_>>(),
        })
    }

    pub fn hash(&self) -> String {
        store::config_hash(&self.identity())
    }

    /// A rough measure of the work a run is, for scheduling longest first: parameters x
    /// training examples x epochs (a linear probe trains the head only, but runs the backbone
    /// over the data once).
    pub fn cost(&self) -> u64 {
        let params = ModelInfo::describe(&self.model)
            .map(|i| i.parameters.max(1) as u64)
            .unwrap_or(1);
        let passes = if self.train.linear_probe {
            1
        } else {
            self.train.epochs.max(1) as u64
        };
        params * (self.data.n_docs / 2).max(1) as u64 * passes
    }

    pub fn is_ground_truth(&self) -> bool {
        self.supervisor.is_none()
    }

    /// The supervisors whose mean labels this run learns from (none for ground truth).
    pub fn supervisors(&self) -> impl Iterator<Item = &RunSpec> {
        self.supervisor
            .as_deref()
            .into_iter()
            .chain(&self.co_supervisors)
    }

    /// This run's folder under `results` ([`store::run_dir`]).
    pub fn dir(&self, results: &Path) -> PathBuf {
        store::run_dir(results, &self.data.short_name(), &self.folder_name())
    }

    /// The supervisors' short names (none for a ground-truth run).
    fn supervisor_names(&self) -> Vec<String> {
        self.supervisors().map(|s| short_name(&s.model)).collect()
    }

    /// The run in a few words for a log line: `demo seed 0: bow (ground truth)`,
    /// `demo seed 0: bow -> all-MiniLM-L6-v2, xent`.
    pub fn label(&self) -> String {
        let model = short_name(&self.model);
        let what = match self.is_ground_truth() {
            true => format!("{model} (ground truth)"),
            false => format!(
                "{} -> {model}, {}",
                self.supervisor_names().join(" + "),
                self.train.method()
            ),
        };
        format!("{} seed {}: {what}", self.data.short_name(), self.seed)
    }

    /// A readable folder name: kind, models, loss, seed, then the hash.
    pub fn folder_name(&self) -> String {
        let model = short_name(&self.model);
        let kind = match self.is_ground_truth() {
            true => format!("gt-{model}"),
            false => format!(
                "w2s-{}-to-{model}-{}",
                self.supervisor_names().join("+"),
                self.train.method()
            ),
        };
        store::folder_safe(&format!("{kind}-s{}-{}", self.seed, self.hash()))
    }
}

/// The canonical name under which a model is stored: absolute for folders, as given otherwise.
pub fn canonical_model(name: &str) -> String {
    // `absolute`, not `canonicalize`: a symlinked folder keeps its readable name.
    match std::path::absolute(name) {
        Ok(p) if p.is_dir() => p.to_string_lossy().into_owned(),
        _ => name.to_owned(),
    }
}
