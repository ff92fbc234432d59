//! One run of the weak-to-strong pipeline, and the experiment that ties runs together.
//!
//! A run is either
//! - **ground truth**: finetune a model on `train1` with its true labels (the weak supervisor
//!   and the strong ceiling are both such runs), or
//! - **weak-to-strong**: finetune a model on `train2` labelled with a supervisor run's soft
//!   predictions.
//!
//! Every run then predicts `test`, and `train2` when it supervises another run (a weak
//! supervisor, a bootstrapping link, a round before the last): a stored run asked to supervise
//! later that did not predict `train2` is trained again (deterministically) to predict it. Runs are stored by the hash of their [`RunSpec`]; a supervisor's spec is part of
//! its student's, so one weak supervisor serves every student that names it.

use crate::dataset::{self, Example, Splits};
use crate::generative_finetuning;
use crate::labels;
use crate::metrics;
use crate::model::{Classifier, ModelInfo};
use crate::run::cache::{cached_features, cached_tokens, tensor_sha256, TokensCache};
pub use crate::run::record::{
    is_done, stored, Analysis, Failure, Predictions, Provenance, Relabelling, RunResult, Stored,
};
use crate::store;
use crate::train::{self, StopLabels, TrainOptions, TrainSummary};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

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
    /// with `train` on `train2` labelled by the mean of `supervisors`' soft predictions.
    pub fn student(&self, train: TrainOptions, supervisors: &[RunSpec]) -> RunSpec {
        let (first, rest) = supervisors
            .split_first()
            .expect("a student has at least one supervisor");
        RunSpec {
            train,
            supervisor: Some(Box::new(first.clone())),
            co_supervisors: rest.to_vec(),
            ..self.clone()
        }
    }

    /// A strong-to-strong round: a fresh copy of this student on train2 labelled by it.
    pub fn next_round(&self) -> RunSpec {
        RunSpec {
            supervisor: Some(Box::new(self.clone())),
            co_supervisors: Vec::new(),
            ..self.clone()
        }
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

/// Where and how runs execute.
#[derive(Debug)]
pub struct Runner {
    pub results: PathBuf,
    pub device: Device,
    /// Retrain runs that are already stored (each once per `Runner`).
    pub force: bool,
    /// Train a missing supervisor first (`w2s run`); when false (sweep workers, Slurm tasks),
    /// a missing supervisor is an error naming it, so no task trains another's run.
    pub train_supervisors: bool,
    /// Predict train2 for every run given to [`Runner::run`] (a sweep worker whose run
    /// supervises another); supervisors the runner trains itself always predict it.
    pub predict_train2: bool,
    pub eval_batch_size: usize,
    /// Hashes of runs this runner has trained, so `force` retrains a supervisor only once.
    trained: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Hashes of runs already named in the log, so each gets one line however often it is asked.
    announced: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Spread predictions of the kept examples back over the split; dropped ones stay `None`.
fn scatter(ids: &[Option<Vec<i64>>], kept_probs: Vec<[f32; 2]>) -> Vec<Option<[f32; 2]>> {
    let mut probs = kept_probs.into_iter();
    ids.iter()
        .map(|x| x.as_ref().map(|_| probs.next().unwrap()))
        .collect()
}

/// Text appended to every example (generative scoring's question), or "".
fn prompt_suffix(spec: &RunSpec) -> &str {
    spec.train
        .generative
        .as_ref()
        .map_or("", |g| g.suffix.as_str())
}

/// A pairwise split's tokens ([`crate::model::TextEncoder::encode_pairs`]).
fn encode_pairs(model: &Classifier, examples: &[Example], suffix: &str) -> Result<Vec<Vec<i64>>> {
    if !suffix.is_empty() {
        bail!("generative scoring asks one question of one text; a pairwise task compares two replies: leave `generative` off");
    }
    let mut contexts = Vec::with_capacity(examples.len());
    let mut replies = Vec::with_capacity(examples.len());
    for e in examples {
        let [a, b] = e
            .replies
            .as_ref()
            .context("the task mixes pairs and single texts")?;
        contexts.push(e.text.as_str());
        replies.push([a.as_str(), b.as_str()]);
    }
    model.encoder.encode_pairs(&contexts, &replies)
}

fn kept(ids: &[Option<Vec<i64>>]) -> Vec<Vec<i64>> {
    ids.iter().flatten().cloned().collect()
}

fn one_hot(label: u8) -> [f32; 2] {
    if label == 1 {
        [0.0, 1.0]
    } else {
        [1.0, 0.0]
    }
}

/// The examples a run trains on, after dropping those too long for the model.
struct TrainingSet {
    /// `train1` (ground truth) or `train2` (weak labels).
    split: &'static str,
    /// Token ids of the whole split, `None` where too long.
    split_ids: Vec<Option<Vec<i64>>>,
    ids: Vec<Vec<i64>>,
    labels: Vec<[f32; 2]>,
    truth: Vec<u8>,
    /// Position of each example among the split's kept examples (rows of its features).
    rows: Vec<i64>,
    /// The supervisors' mean predictions (students only).
    supervision: Option<Predictions>,
}

/// Examples held out of training for early stopping.
struct HeldOut<'a> {
    ids: Vec<Vec<i64>>,
    rows: Vec<i64>,
    labels: Vec<u8>,
    options: &'a train::EarlyStopping,
}

impl TrainingSet {
    /// Early stopping holds out the last examples (the split is already shuffled), labelled
    /// by the supervisor or, for the oracle, by ground truth.
    fn hold_out<'a>(&mut self, es: &'a train::EarlyStopping) -> HeldOut<'a> {
        let n = self.ids.len();
        let n_val = ((n as f64 * es.val_frac).round() as usize).clamp(1, n - 1);
        let at = n - n_val;
        let labels = match es.labels {
            StopLabels::Weak => self.labels[at..].iter().map(metrics::hard).collect(),
            StopLabels::Oracle => self.truth[at..].to_vec(),
        };
        self.labels.truncate(at);
        self.truth.truncate(at);
        HeldOut {
            ids: self.ids.split_off(at),
            rows: self.rows.split_off(at),
            labels,
            options: es,
        }
    }

    /// The label budget: `n` training examples, drawn with `seed` (ChaCha8), get their true
    /// label in place of the weak one. After relabelling (a probe does not overrule the
    /// oracle) and after the early-stopping hold-out (the budget is for training).
    fn give_oracle_labels(&mut self, n: usize, seed: u64) -> Result<()> {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        if self.supervision.is_none() {
            bail!("oracle_labels needs weak labels: it applies to students, not ground-truth runs");
        }
        if n > self.labels.len() {
            bail!(
                "oracle_labels = {n}: the student trains on {} examples; give at most that many",
                self.labels.len()
            );
        }
        let mut order: Vec<usize> = (0..self.labels.len()).collect();
        order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
            seed ^ ORACLE_DRAW,
        ));
        for &i in &order[..n] {
            self.labels[i] = one_hot(self.truth[i]);
        }
        Ok(())
    }

    /// Keep only the examples at `keep`, with new labels.
    fn retain(&mut self, keep: &[usize], labels: Vec<[f32; 2]>) {
        self.ids = keep.iter().map(|&i| self.ids[i].clone()).collect();
        self.rows = keep.iter().map(|&i| self.rows[i]).collect();
        self.truth = keep.iter().map(|&i| self.truth[i]).collect();
        self.labels = labels;
    }
}

/// Mixed into the seed for the label budget's draw, so it is not the split's shuffle.
const ORACLE_DRAW: u64 = 0x0AC1E;

/// Rows `rows` of a feature matrix.
fn select(features: &Tensor, rows: &[i64]) -> Tensor {
    features.index_select(0, &Tensor::from_slice(rows).to_device(features.device()))
}

impl Runner {
    pub fn new(results: PathBuf, device: Device, force: bool) -> Runner {
        Runner {
            results,
            device,
            force,
            train_supervisors: true,
            predict_train2: false,
            eval_batch_size: 64,
            trained: Default::default(),
            announced: Default::default(),
        }
    }

    pub fn run_dir(&self, spec: &RunSpec) -> PathBuf {
        spec.dir(&self.results)
    }

    /// How many runs this runner has trained (not reused).
    pub fn trained_count(&self) -> usize {
        self.trained.lock().unwrap().len()
    }

    /// The stored result of `spec`, if a valid one exists ([`stored`]); an invalid one is
    /// named in a warning, and redone by whoever asked.
    pub fn existing(&self, spec: &RunSpec) -> Option<RunResult> {
        let dir = self.run_dir(spec);
        match stored(&dir) {
            Stored::Complete(r) => Some(*r),
            Stored::Missing => None,
            Stored::Invalid(why) => {
                tracing::warn!("{}: {why}; training it again", dir.display());
                None
            }
        }
    }

    pub fn predictions(&self, spec: &RunSpec) -> Result<Predictions> {
        store::read_json(&self.run_dir(spec).join("predictions.json"))
    }

    /// Token ids of a split, `None` for examples of `max_ctx` tokens or more (or beyond the
    /// model's positions). Tokenized once per (tokenizer, task, seed, split) and kept in
    /// `RESULTS/.tokens/`, so students, ceilings and probes of a sweep reuse them.
    fn encode(
        &self,
        spec: &RunSpec,
        model: &Classifier,
        split: &str,
        examples: &[Example],
    ) -> Result<Vec<Option<Vec<i64>>>> {
        let suffix = prompt_suffix(spec);
        let key = store::config_hash(&(
            RESULTS_FORMAT,
            &spec.model_fingerprint,
            &spec.data,
            spec.seed,
            split,
            suffix,
        ));
        let path = self.results.join(".tokens").join(format!("{key}.json"));
        let all: Vec<Vec<i64>> = match cached_tokens(&path, examples.len(), model.info.vocab_size) {
            Some(ids) => ids,
            None => {
                let ids = if examples.iter().any(|e| e.replies.is_some()) {
                    encode_pairs(model, examples, suffix)?
                } else {
                    let texts: Vec<String> = examples
                        .iter()
                        .map(|e| format!("{}{suffix}", e.text))
                        .collect();
                    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                    model.encoder.encode_all(&texts)?
                };
                let bytes = serde_json::to_vec(&ids)?;
                let cache = TokensCache {
                    sha256: store::sha256_hex(&bytes),
                    ids,
                };
                store::write_atomic(&path, &serde_json::to_vec(&cache)?)?;
                cache.ids
            }
        };
        let limit = spec.max_ctx.min(model.info.max_positions);
        Ok(all
            .into_iter()
            .map(|ids| (crate::model::longest_part(&ids) < limit).then_some(ids))
            .collect())
    }

    /// Backbone features of a split's kept examples, from `RESULTS/.features/` (if the
    /// cache is whole: [`cached_features`]) or computed
    /// and stored there (atomically). The key leaves out training options and the loss, so a
    /// probe sweep over losses and learning rates runs the backbone once per split.
    fn features(
        &self,
        spec: &RunSpec,
        model: &Classifier,
        split: &str,
        ids: &[Option<Vec<i64>>],
    ) -> Result<Tensor> {
        let key = store::config_hash(&(
            RESULTS_FORMAT,
            &spec.model_fingerprint,
            &spec.data,
            spec.seed,
            spec.max_ctx,
            split,
            spec.train.bf16,
            spec.train.mixed_precision,
            prompt_suffix(spec),
            // What decided the backbone, when generative finetuning changed it.
            spec.train.generative_finetuning.as_ref().map(|g| {
                let t = &spec.train;
                (g, t.lr, t.batch_size, t.minibatch_size, &t.lora)
            }),
        ));
        let path = self
            .results
            .join(".features")
            .join(format!("{key}.safetensors"));
        let rows = ids.iter().flatten().count() as i64;
        if let Some(f) = cached_features(&path, rows) {
            return Ok(f.to_device(model.device()));
        }
        let f = train::features(model, &kept(ids), self.eval_batch_size)?;
        let cpu = f.to_device(Device::Cpu);
        let sum = Tensor::from_slice(&tensor_sha256(&cpu));
        store::write_safetensors(&path, &[("features", &cpu), ("sha256", &sum)])?;
        Ok(f)
    }

    /// Run `spec` (and its supervisors first, if needed), or reuse a stored result; train2 is
    /// predicted when the runner's `predict_train2` says so. A lock on the run's folder makes a
    /// second process asking for the same run wait, then reuse.
    pub fn run(&self, spec: &RunSpec) -> Result<RunResult> {
        self.run_for(spec, self.predict_train2)
    }

    /// Run `spec` to supervise another run: with its train2 predictions.
    pub fn run_supervisor(&self, spec: &RunSpec) -> Result<RunResult> {
        self.run_for(spec, true)
    }

    /// The stored result of `spec` if it serves: complete, with train2 when `supervises`.
    fn reusable(&self, spec: &RunSpec, supervises: bool) -> Option<RunResult> {
        let done = self.existing(spec)?;
        if supervises && !done.train2_predicted {
            tracing::info!(
                "{} did not predict train2, which a student now needs: training it again",
                self.run_dir(spec).display()
            );
            return None;
        }
        Some(done)
    }

    /// [`Runner::run_for_or_fail`], and a failure recorded beside the run when it fails.
    fn run_for(&self, spec: &RunSpec, predict_train2: bool) -> Result<RunResult> {
        self.run_for_or_fail(spec, predict_train2).inspect_err(|e| {
            if crate::progress::is_interrupt(e) {
                return; // asked to stop: not a failure
            }
            if let Err(not) = Failure::record(spec, &self.results, format!("error: {e:#}")) {
                tracing::warn!("could not record the failure: {not:#}");
            }
        })
    }

    fn run_for_or_fail(&self, spec: &RunSpec, predict_train2: bool) -> Result<RunResult> {
        let hash = spec.hash();
        let reuse = !self.force || self.trained.lock().unwrap().contains(&hash);
        if reuse {
            if let Some(done) = self.reusable(spec, predict_train2) {
                return Ok(self.reused(spec, &hash, done));
            }
        }
        spec.check_model()?;
        for sup in spec.supervisors() {
            if self.train_supervisors {
                self.run_supervisor(sup)?;
            } else if self.existing(sup).is_none() {
                bail!(
                    "the supervisor {} has no result: it failed or has not run yet (a sweep runs \
                     supervisors first; a worker never trains another task's run)",
                    self.run_dir(sup).display()
                );
            } else if !is_done(&self.run_dir(sup), true) {
                bail!(
                    "the supervisor {} did not predict train2 (it ran as no run's supervisor); \
                     run it again with `w2s exec-run --predict-train2`, or let `w2s sweep` or \
                     `w2s run` do it",
                    self.run_dir(sup).display()
                );
            }
        }
        if spec.is_ground_truth() && spec.train.relabel.is_some() {
            bail!("relabelling needs weak labels: it applies to students, not ground-truth runs");
        }
        let dir = self.run_dir(spec);
        let _lock = store::RunLock::acquire(&dir)?;
        if reuse {
            // Another process may have finished it while this one waited for the lock.
            if let Some(done) = self.reusable(spec, predict_train2) {
                return Ok(self.reused(spec, &hash, done));
            }
        }
        let started = std::time::Instant::now();
        let result = self
            .train_and_store(spec, predict_train2, &dir)
            .inspect_err(|_| {
                // Holding the lock: the staging folder is this attempt's.
                let _ = std::fs::remove_dir_all(store::staging_dir(&dir));
            })?;
        tracing::info!(
            "{}: trained in {:.0} s, test accuracy {:.1}%",
            spec.label(),
            started.elapsed().as_secs_f64(),
            100.0 * result.test_accuracy
        );
        self.announced.lock().unwrap().insert(hash.clone());
        self.trained.lock().unwrap().insert(hash);
        Ok(result)
    }

    /// A stored result taken instead of training: one log line per run and process.
    fn reused(&self, spec: &RunSpec, hash: &str, done: RunResult) -> RunResult {
        let dir = self.run_dir(spec);
        if let Err(e) = store::clear_stale_staging(&dir) {
            tracing::warn!("{e:#}");
        }
        if self.announced.lock().unwrap().insert(hash.to_owned()) {
            tracing::info!(
                "{}: stored, test accuracy {:.1}%",
                spec.label(),
                100.0 * done.test_accuracy
            );
        }
        tracing::debug!("reused {}", dir.display());
        done
    }

    /// The steps of one run, in order: data, model, training labels, hold-out, relabelling,
    /// fit and predict, analysis, then the files (`result.json` last).
    fn train_and_store(
        &self,
        spec: &RunSpec,
        predict_train2: bool,
        dir: &Path,
    ) -> Result<RunResult> {
        let started = std::time::Instant::now();
        // Everything is written into a fresh staging folder, which becomes `dir` only once
        // complete: an interruption leaves `dir` (an old result, if any) untouched.
        let run_dir = dir;
        let staging = store::fresh_staging(run_dir)?;
        let dir = staging.as_path();
        store::write_json(&dir.join("config.json"), spec)?;
        let pools = dataset::load_pools(
            &spec.data.name,
            spec.data.data_dir.as_deref(),
            spec.seed,
            (spec.data.n_docs, spec.data.n_test_docs),
        )?;
        let splits = Splits::new(pools, spec.data.n_docs, spec.data.n_test_docs, spec.seed);
        if spec.train.head_bias && splits.pairwise() {
            bail!("head_bias: a pairwise task scores a pair by the difference of two replies' logits, where a bias cancels out; leave head_bias off");
        }
        let mut model = self.load_model(spec)?;
        let mut set = self.training_set(spec, &model, &splits)?;
        self.check_memory(spec, &model, &set.ids)?;
        let generative_finetuning = match &spec.train.generative_finetuning {
            Some(g) => {
                let ids = self.encode(spec, &model, "train1", &splits.train1)?;
                let texts = generative_finetuning::texts(&splits.train1, &ids, g.replies);
                let what = short_name(&spec.model);
                Some(generative_finetuning::finetune(
                    &mut model,
                    &texts,
                    g,
                    &spec.train,
                    spec.seed,
                    &what,
                )?)
            }
            None => None,
        };
        let held_out = spec
            .train
            .early_stopping
            .as_ref()
            .map(|es| set.hold_out(es));
        let relabelling = match &spec.train.relabel {
            Some(r) => Some(self.relabel(spec, &model, &mut set, r)?),
            None => None,
        };
        if let Some(n) = spec.train.oracle_labels {
            set.give_oracle_labels(n, spec.seed)?;
        }
        let (training, predictions) = self.fit_and_predict(
            spec,
            predict_train2,
            &mut model,
            &set,
            held_out.as_ref(),
            &splits,
            dir,
        )?;
        let mut result = analyse(spec, &predictions, set.supervision.as_ref(), &splits)?;
        result.model = model.info.clone();
        result.relabelling = relabelling;
        result.generative_finetuning = generative_finetuning;
        result.n_train = set.ids.len();
        result.n_dropped.0 = set.split_ids.iter().filter(|x| x.is_none()).count();
        result.training = training;
        result.train2_predicted = predict_train2;
        result.device = format!("{:?}", self.device);
        if result.n_dropped != (0, 0) {
            tracing::warn!(
                "{}: dropped {} train and {} test examples longer than {} tokens",
                run_dir.display(),
                result.n_dropped.0,
                result.n_dropped.1,
                spec.max_ctx
            );
        }
        if let Some(l) = &spec.train.lora {
            model.save(&dir.join("model"), l.save)?;
        }
        let predictions = Predictions {
            run: Some(result.hash.clone()),
            ..predictions
        };
        let bytes = serde_json::to_vec_pretty(&predictions)?;
        store::write_atomic(&dir.join("predictions.json"), &bytes)?;
        result.predictions_sha256 = Some(store::sha256_hex(&bytes));
        result.provenance = Provenance::new(spec, self.device, started);
        store::write_json(&dir.join("result.json"), &result)?;
        // The whole folder at once; a failure recorded by an earlier attempt goes with the
        // folder it was in.
        store::publish(dir, run_dir)?;
        Ok(result)
    }

    /// Log the run's estimated peak memory, and refuse, with what would make it fit, a run
    /// that cannot fit on its device. A pair is two sequences: it counts as two examples.
    fn check_memory(&self, spec: &RunSpec, model: &Classifier, ids: &[Vec<i64>]) -> Result<()> {
        let seq = ids
            .iter()
            .map(|s| crate::model::longest_part(s))
            .max()
            .unwrap_or(1);
        let per_example = if ids.iter().any(|s| crate::model::split_pair(s).is_some()) {
            2
        } else {
            1
        };
        let sequences = |train: &TrainOptions| TrainOptions {
            batch_size: train.batch_size * per_example,
            minibatch_size: train.minibatch_size * per_example,
            ..train.clone()
        };
        let needs = |train: &TrainOptions| {
            crate::train::memory_estimate(
                &model.info,
                &sequences(train),
                model.trainable_parameters(train.linear_probe),
                seq,
            )
        };
        let estimate = needs(&spec.train);
        tracing::debug!(
            "{}: estimated peak memory {estimate} at {seq} tokens",
            model.info.name
        );
        let Some(total) = crate::device::total_bytes(self.device) else {
            return Ok(());
        };
        if estimate.total() <= total {
            return Ok(());
        }
        let fixes = crate::train::what_would_fit(&spec.train, total, |t| {
            // Switching LoRA on: the adapters are not built yet.
            let trainable = if t.lora.is_some() && spec.train.lora.is_none() {
                crate::train::trainable_estimate(&model.info, t)
            } else {
                model.trainable_parameters(t.linear_probe)
            };
            crate::train::memory_estimate(&model.info, &sequences(t), trainable, seq).total()
        });
        bail!(
            "{}: this run needs about {} at its peak but {} has {}: {estimate}. {}",
            model.info.name,
            crate::memory::human(estimate.total()),
            crate::device::device_name(self.device),
            crate::memory::human(total),
            fixes
        )
    }

    /// The pretrained model with a zero head (or the LM head's rows for generative scoring).
    fn load_model(&self, spec: &RunSpec) -> Result<Classifier> {
        tch::manual_seed(spec.seed as i64);
        let mut model = Classifier::load_with(
            &spec.model,
            self.device,
            spec.seed,
            spec.train.lora.as_ref(),
            spec.train.head_bias,
        )?;
        if let Some(g) = &spec.train.generative {
            let answers = [
                model.encoder.answer_token(&g.answers[0])?,
                model.encoder.answer_token(&g.answers[1])?,
            ];
            model.init_head_from_lm(answers)?;
        }
        if spec.train.bf16 {
            model.backbone_to_bf16();
        }
        model.mixed_precision = spec.train.mixed_precision;
        Ok(model)
    }

    /// train1 with ground truth, or train2 with the supervisors' mean soft labels; examples
    /// too long for the model (or without a label) left out.
    fn training_set(
        &self,
        spec: &RunSpec,
        model: &Classifier,
        splits: &Splits,
    ) -> Result<TrainingSet> {
        let supervision = if spec.is_ground_truth() {
            None
        } else {
            let all: Vec<Predictions> = spec
                .supervisors()
                .map(|s| self.predictions(s))
                .collect::<Result<_>>()?;
            Some(Predictions::mean(&all))
        };
        let (split, examples, weak) = match &supervision {
            None => ("train1", &splits.train1, None),
            Some(p) => (
                "train2",
                &splits.train2,
                Some(p.train2.clone().with_context(|| {
                    format!(
                        "the supervisor of {} has no train2 predictions",
                        self.run_dir(spec).display()
                    )
                })?),
            ),
        };
        let split_ids = self.encode(spec, model, split, examples)?;
        let mut set = TrainingSet {
            split,
            ids: Vec::new(),
            labels: Vec::new(),
            truth: Vec::new(),
            rows: Vec::new(),
            split_ids: Vec::new(),
            supervision,
        };
        let mut kept_so_far = 0;
        for (i, (tok, ex)) in split_ids.iter().zip(examples).enumerate() {
            let label = match &weak {
                None => Some(one_hot(ex.label)),
                Some(p) => *p
                    .get(i)
                    .context("supervisor predictions do not cover train2")?,
            };
            if let (Some(tok), Some(label)) = (tok, label) {
                set.ids.push(tok.clone());
                set.labels.push(label);
                set.truth.push(ex.label);
                set.rows.push(kept_so_far as i64);
            }
            kept_so_far += tok.is_some() as usize;
        }
        if set.ids.len() < 2 {
            let asked = split_ids.len();
            bail!(
                "{} training examples left of the {asked} in this half of train{}",
                set.ids.len(),
                if asked >= 2 {
                    format!(
                        " after dropping those of max_ctx = {} tokens or more",
                        spec.max_ctx
                    )
                } else {
                    " (the task has too few examples for n_docs; ask for fewer or use more data)"
                        .into()
                }
            );
        }
        if weak.is_none() && set.truth.iter().all(|&l| l == set.truth[0]) {
            bail!(
                "every one of the {} ground-truth training examples has label {}: a classifier \
                 needs both classes (check the task's label field, or ask for more examples)",
                set.truth.len(),
                set.truth[0]
            );
        }
        set.split_ids = split_ids;
        Ok(set)
    }

    /// Probe relabelling, on the student's pretrained features of its training examples.
    fn relabel(
        &self,
        spec: &RunSpec,
        model: &Classifier,
        set: &mut TrainingSet,
        r: &labels::Relabel,
    ) -> Result<Relabelling> {
        let all = self.features(spec, model, set.split, &set.split_ids)?;
        let probe = r.probe_labels(&select(&all, &set.rows), &set.labels, spec.seed);
        let (cleaned, changed) = r.apply(&set.labels, &probe);
        let before = metrics::accuracy(&set.labels, &set.truth);
        let keep: Vec<usize> = (0..cleaned.len())
            .filter(|&i| cleaned[i].is_some())
            .collect();
        set.retain(&keep, cleaned.into_iter().flatten().collect());
        Ok(Relabelling {
            changed,
            accuracy_before: before,
            accuracy_after: metrics::accuracy(&set.labels, &set.truth),
        })
    }

    /// Train on the set (the whole model, or the head on cached features for a linear probe),
    /// then predict test, and train2 when asked.
    #[allow(clippy::too_many_arguments)]
    fn fit_and_predict(
        &self,
        spec: &RunSpec,
        predict_train2: bool,
        model: &mut Classifier,
        set: &TrainingSet,
        held_out: Option<&HeldOut>,
        splits: &Splits,
        dir: &Path,
    ) -> Result<(TrainSummary, Predictions)> {
        let what = match &spec.supervisor {
            None => format!("{} (ground truth)", model.info.name),
            Some(s) => format!(
                "{} <- {} ({})",
                short_name(&spec.model),
                short_name(&s.model),
                spec.train.method()
            ),
        };
        let test_ids = self.encode(spec, model, "test", &splits.test)?;
        // A linear probe reads the frozen backbone's features, computed once per (model,
        // task, seed, split) and shared by every probe that needs them.
        let features = if spec.train.linear_probe {
            Some(self.features(spec, model, set.split, &set.split_ids)?)
        } else {
            None
        };
        let train_feats = features.as_ref().map(|f| select(f, &set.rows));
        let val_feats = features
            .as_ref()
            .zip(held_out)
            .map(|(f, h)| select(f, &h.rows));
        let inputs = match &train_feats {
            Some(f) => train::Inputs::Features(f),
            None => train::Inputs::Tokens(&set.ids),
        };
        let validation = held_out.map(|h| train::Validation {
            inputs: match &val_feats {
                Some(f) => train::Inputs::Features(f),
                None => train::Inputs::Tokens(&h.ids),
            },
            labels: h.labels.clone(),
            metric: h.options.metric,
            every: h.options.every,
        });
        let training = train::train(
            model,
            inputs,
            &set.labels,
            &spec.train,
            validation.as_ref(),
            Some(&dir.join("train_log.jsonl")),
            &what,
        )?;
        let predict = |split: &str, ids: &[Option<Vec<i64>>]| -> Result<Vec<Option<[f32; 2]>>> {
            let probs = if spec.train.linear_probe {
                train::predict_features(model, &self.features(spec, model, split, ids)?)
            } else {
                train::predict(model, &kept(ids), self.eval_batch_size)?
            };
            Ok(scatter(ids, probs))
        };
        let predictions = Predictions {
            train2: if predict_train2 {
                Some(predict(
                    "train2",
                    &self.encode(spec, model, "train2", &splits.train2)?,
                )?)
            } else {
                None
            },
            test: predict("test", &test_ids)?,
            test_labels: splits.test.iter().map(|e| e.label).collect(),
            run: None,
        };
        Ok((training, predictions))
    }
}

/// Test metrics of a run's predictions: accuracy, AUROC, calibration, and for students how
/// they relate to their supervisors. Counts and training fields are filled in by the caller.
fn analyse(
    spec: &RunSpec,
    predictions: &Predictions,
    supervision: Option<&Predictions>,
    splits: &Splits,
) -> Result<RunResult> {
    let (probs, truth): (Vec<[f32; 2]>, Vec<u8>) = predictions
        .test
        .iter()
        .zip(&splits.test)
        .filter_map(|(p, e)| p.map(|p| (p, e.label)))
        .unzip();
    if splits.test.is_empty() {
        bail!("the task has no test examples to score the run on");
    }
    if probs.is_empty() {
        bail!(
            "every test example is max_ctx = {} tokens long or longer",
            spec.max_ctx
        );
    }
    let mut analysis = Analysis {
        auroc: metrics::auroc(&probs, &truth),
        ece: Some(metrics::ece(&probs, &truth, 10)),
        ..Default::default()
    };
    let (mut supervisor_accuracy, mut supervisor_agreement) = (None, None);
    if let Some(sup) = supervision {
        let labels: Vec<u8> = splits.test.iter().map(|e| e.label).collect();
        supervisor_agreement = analysis.against_supervisor(&predictions.test, &sup.test, &labels);
        let (p, t): (Vec<[f32; 2]>, Vec<u8>) = sup
            .test
            .iter()
            .zip(&splits.test)
            .filter_map(|(p, e)| Some(((*p)?, e.label)))
            .unzip();
        supervisor_accuracy = Some(metrics::accuracy(&p, &t));
    }
    Ok(RunResult {
        hash: spec.hash(),
        spec: spec.clone(),
        model: ModelInfo::default(),
        test_accuracy: metrics::accuracy(&probs, &truth),
        supervisor_agreement,
        supervisor_accuracy,
        relabelling: None,
        generative_finetuning: None,
        analysis,
        n_train: 0,
        n_test: probs.len(),
        n_dropped: (0, predictions.test.len() - probs.len()),
        training: TrainSummary::default(),
        device: String::new(),
        train2_predicted: predictions.train2.is_some(),
        predictions_sha256: None,
        pairwise: splits.pairwise(),
        provenance: Provenance::default(),
    })
}

use crate::model::short_name;

/// The canonical name under which a model is stored: absolute for folders, as given otherwise.
pub fn canonical_model(name: &str) -> String {
    // `absolute`, not `canonicalize`: a symlinked folder keeps its readable name.
    match std::path::absolute(name) {
        Ok(p) if p.is_dir() => p.to_string_lossy().into_owned(),
        _ => name.to_owned(),
    }
}

/// One weak-to-strong experiment: weak supervisors (one, or several whose mean labels
/// supervise), a strong ceiling, one student per set of options, and `iterations`
/// strong-to-strong rounds after each student. `w2s run` and `w2s demo` run one.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub weak: Vec<RunSpec>,
    pub ceiling: RunSpec,
    pub students: Vec<RunSpec>,
    pub iterations: usize,
}

/// The outcome of an [`Experiment`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub seed: u64,
    /// Test accuracy of the supervision: the weak model's, or its ensemble's.
    pub weak: f64,
    pub ceiling: f64,
    pub students: Vec<StudentOutcome>,
    /// Ceiling minus weak accuracy with its 95% interval ([`metrics::measured_gap`]); the
    /// students' PGR is None unless it is [`metrics::measurable`].
    pub gap: metrics::Interval,
    /// Right/wrong per test example of the supervision and of the ceiling, so that a table
    /// over several seeds measures their pooled gap by the same rule.
    #[serde(skip)]
    pub test_correct: (Vec<Option<f64>>, Vec<Option<f64>>),
}

impl Outcome {
    /// An outcome from its accuracies and per-example correctness: the gap measured, and each
    /// student's PGR where it is measurable.
    pub fn new(
        seed: u64,
        (weak, ceiling): (f64, f64),
        mut students: Vec<StudentOutcome>,
        test_correct: (Vec<Option<f64>>, Vec<Option<f64>>),
    ) -> Outcome {
        let mut o = Outcome {
            seed,
            weak,
            ceiling,
            students: Vec::new(),
            gap: metrics::Interval::exact(ceiling - weak),
            test_correct,
        };
        o.gap = Outcome::pooled_gap(std::slice::from_ref(&o));
        for s in &mut students {
            s.pgr = metrics::pgr(weak, ceiling, s.accuracy).filter(|_| metrics::measurable(&o.gap));
        }
        o.students = students;
        o
    }

    /// The gap of several seeds' outcomes by the one rule ([`metrics::measured_gap`]); the
    /// mean point gap where a stored result predates test labels.
    pub fn pooled_gap(outcomes: &[Outcome]) -> metrics::Interval {
        if outcomes.iter().any(|o| o.test_correct.0.is_empty()) {
            let n = outcomes.len().max(1) as f64;
            return metrics::Interval::exact(
                outcomes.iter().map(|o| o.ceiling - o.weak).sum::<f64>() / n,
            );
        }
        let seeds: Vec<metrics::GapSeed> = outcomes
            .iter()
            .map(|o| (o.test_correct.0.as_slice(), o.test_correct.1.as_slice()))
            .collect();
        metrics::measured_gap(&seeds, &vec![true; seeds.len()])
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudentOutcome {
    /// The method's name (`xent`, `logconf+es`, ...), with the round after the first.
    pub loss: String,
    pub accuracy: f64,
    pub pgr: Option<f64>,
    pub agreement: Option<f64>,
}

impl Experiment {
    /// The runs of one experiment: each weak model (with its options) trained on ground
    /// truth, the strong model's ceiling, and one student per entry of `students`. Ground-truth
    /// runs drop what only students use (see [`TrainOptions::for_ground_truth`]), so every
    /// method shares them.
    pub fn new(
        data: &DataSpec,
        seed: u64,
        max_ctx: usize,
        weak: &[(&str, TrainOptions)],
        strong: (&str, TrainOptions),
        students: &[TrainOptions],
    ) -> Result<Experiment> {
        let weak = weak
            .iter()
            .map(|(m, o)| RunSpec::ground_truth(data, seed, max_ctx, m, o.for_ground_truth()))
            .collect::<Result<Vec<_>>>()?;
        let ceiling =
            RunSpec::ground_truth(data, seed, max_ctx, strong.0, strong.1.for_ground_truth())?;
        let students = students
            .iter()
            .map(|train| ceiling.student(train.clone(), &weak))
            .collect();
        Ok(Experiment {
            weak,
            ceiling,
            students,
            iterations: 0,
        })
    }

    /// One student per loss, each with the rest of the strong model's options.
    pub fn per_loss(
        data: &DataSpec,
        seed: u64,
        max_ctx: usize,
        weak: (&str, TrainOptions),
        strong: (&str, TrainOptions),
        losses: &[crate::loss::Loss],
    ) -> Result<Experiment> {
        let students: Vec<TrainOptions> = losses
            .iter()
            .map(|loss| TrainOptions {
                loss: loss.clone(),
                ..strong.1.clone()
            })
            .collect();
        Experiment::new(data, seed, max_ctx, &[weak], strong, &students)
    }

    /// Every run, supervisors first.
    pub fn runs(&self) -> Vec<RunSpec> {
        let mut out = self.weak.clone();
        out.push(self.ceiling.clone());
        for s in &self.students {
            let mut last = s.clone();
            out.push(last.clone());
            for _ in 0..self.iterations {
                last = last.next_round();
                out.push(last.clone());
            }
        }
        out
    }

    pub fn run(&self, runner: &Runner) -> Result<Outcome> {
        // What the strong model's options need of it, before any supervisor trains.
        for spec in self.students.iter().chain([&self.ceiling]) {
            spec.check_model()?;
        }
        let mut weak = runner.run_supervisor(&self.weak[0])?.test_accuracy;
        for w in &self.weak[1..] {
            runner.run_supervisor(w)?;
        }
        let ceiling = runner.run(&self.ceiling)?.test_accuracy;
        let mut students = Vec::new();
        for s in &self.students {
            let mut spec = s.clone();
            for round in 0..=self.iterations {
                // A round before the last supervises the next.
                let r = if round < self.iterations {
                    runner.run_supervisor(&spec)?
                } else {
                    runner.run(&spec)?
                };
                if round == 0 && self.weak.len() > 1 {
                    // The supervisor of record is the ensemble: its accuracy is the baseline.
                    weak = r.supervisor_accuracy.unwrap_or(weak);
                }
                let loss = match round {
                    0 => spec.train.method(),
                    n => format!("{} round {}", spec.train.method(), n + 1),
                };
                students.push(StudentOutcome {
                    loss,
                    accuracy: r.test_accuracy,
                    pgr: None,
                    agreement: r.supervisor_agreement,
                });
                spec = spec.next_round();
            }
        }
        // The supervision the gap is measured from: the weak model, or the ensemble's mean.
        let supervision = self
            .weak
            .iter()
            .map(|w| runner.predictions(w))
            .collect::<Result<Vec<_>>>()?;
        let supervision = match supervision.len() {
            1 => supervision.into_iter().next().unwrap(),
            _ => Predictions::mean(&supervision),
        };
        let ceiling_predictions = runner.predictions(&self.ceiling)?;
        let labels = &ceiling_predictions.test_labels;
        let test_correct = (
            metrics::correct(&supervision.test, labels),
            metrics::correct(&ceiling_predictions.test, labels),
        );
        Ok(Outcome::new(
            self.ceiling.seed,
            (weak, ceiling),
            students,
            test_correct,
        ))
    }

    /// The last round of the first student: where `w2s run` says the result is stored.
    pub fn last_student(&self) -> Option<RunSpec> {
        let mut s = self.students.first()?.clone();
        for _ in 0..self.iterations {
            s = s.next_round();
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(weak: &[f32], truth: &[u8]) -> TrainingSet {
        TrainingSet {
            split: "train2",
            split_ids: Vec::new(),
            ids: vec![vec![1]; weak.len()],
            labels: weak.iter().map(|&p| [1.0 - p, p]).collect(),
            truth: truth.to_vec(),
            rows: (0..weak.len() as i64).collect(),
            supervision: Some(Predictions::default()),
        }
    }

    #[test]
    fn a_label_budget_replaces_that_many_weak_labels_by_the_truth() {
        let weak = [0.6, 0.7, 0.2, 0.9, 0.4, 0.55, 0.3, 0.8];
        let truth = [0, 0, 1, 1, 0, 1, 1, 0];
        let mut s = set(&weak, &truth);
        s.give_oracle_labels(3, 7).unwrap();
        let changed: Vec<usize> = (0..8)
            .filter(|&i| s.labels[i] != [1.0 - weak[i], weak[i]])
            .collect();
        assert_eq!(changed.len(), 3, "{:?}", s.labels);
        for &i in &changed {
            assert_eq!(s.labels[i], one_hot(truth[i]));
        }
        // The same seed draws the same examples; the whole budget makes every label true.
        let mut again = set(&weak, &truth);
        again.give_oracle_labels(3, 7).unwrap();
        assert_eq!(again.labels, s.labels);
        let mut all = set(&weak, &truth);
        all.give_oracle_labels(8, 7).unwrap();
        assert!((0..8).all(|i| all.labels[i] == one_hot(truth[i])));
        let err = set(&weak, &truth).give_oracle_labels(9, 7).unwrap_err();
        assert!(format!("{err}").contains("at most that many"), "{err}");
        let mut gt = set(&weak, &truth);
        gt.supervision = None;
        assert!(gt.give_oracle_labels(1, 7).is_err());
    }
}
