//! One run of the weak-to-strong pipeline, and the experiment that ties runs together.
//!
//! A run is either
//! - **ground truth**: finetune a model on `train1` with its true labels (the weak supervisor
//!   and the strong ceiling are both such runs), or
//! - **weak-to-strong**: finetune a model on `train2` labelled with a supervisor run's soft
//!   predictions.
//!
//! Every run then predicts `train2` (so that any run can supervise another: bootstrapping)
//! and `test`. Runs are stored by the hash of their [`RunSpec`]; a supervisor's spec is part of
//! its student's, so one weak supervisor serves every student that names it.

use crate::dataset::{self, Example, Splits};
use crate::labels;
use crate::metrics;
use crate::model::{Classifier, ModelInfo};
use crate::store;
use crate::train::{self, StopLabels, TrainOptions, TrainSummary};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

/// Bumped whenever a change alters what a stored result means, so old folders are not reused.
pub const RESULTS_FORMAT: u32 = 1;

/// Which task, and how many examples of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    pub n_docs: usize,
    pub n_test_docs: usize,
}

/// Everything that determines a run's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub format: u32,
    pub data: DataSpec,
    pub seed: u64,
    /// `bow`, an absolute model folder, or a hub id.
    pub model: String,
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
    pub fn hash(&self) -> String {
        store::config_hash(self)
    }

    pub fn is_ground_truth(&self) -> bool {
        self.supervisor.is_none()
    }

    /// A readable folder name: kind, models, loss, seed, then the hash.
    pub fn folder_name(&self) -> String {
        let short = |m: &str| {
            Path::new(m)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| m.to_owned())
                .replace(['/', '@', ' '], "_")
        };
        let kind = match &self.supervisor {
            None => format!("gt-{}", short(&self.model)),
            Some(s) => {
                let mut weak = short(&s.model);
                for c in &self.co_supervisors {
                    weak = format!("{weak}+{}", short(&c.model));
                }
                format!(
                    "w2s-{weak}-to-{}-{}",
                    short(&self.model),
                    self.train.method()
                )
            }
        };
        format!("{kind}-s{}-{}", self.seed, self.hash())
    }
}

/// Per-example predictions of a run, indexed by position in the split; `None` where the
/// example was too long for the model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Predictions {
    pub train2: Vec<Option<[f32; 2]>>,
    pub test: Vec<Option<[f32; 2]>>,
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
    /// Further metrics on test (AUROC, calibration, imitation of the supervisor).
    #[serde(default)]
    pub analysis: Analysis,
    pub n_train: usize,
    pub n_test: usize,
    /// Examples dropped for exceeding `max_ctx` (train, test).
    pub n_dropped: (usize, usize),
    pub training: TrainSummary,
    pub device: String,
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
}

/// Where and how runs execute.
#[derive(Debug)]
pub struct Runner {
    pub results: PathBuf,
    pub device: Device,
    /// Retrain runs that are already stored (each once per `Runner`).
    pub force: bool,
    pub eval_batch_size: usize,
    /// Hashes of runs this runner has trained, so `force` retrains a supervisor only once.
    trained: std::sync::Mutex<std::collections::HashSet<String>>,
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

/// A cache key that also depends on the prompt suffix, unchanged when there is none.
fn with_suffix(key: String, suffix: &str) -> String {
    if suffix.is_empty() {
        key
    } else {
        store::config_hash(&(key, suffix))
    }
}

fn kept(ids: &[Option<Vec<i64>>]) -> Vec<Vec<i64>> {
    ids.iter().flatten().cloned().collect()
}

impl Predictions {
    /// The mean of several runs' predictions (several supervisors).
    pub fn mean(all: &[Predictions]) -> Predictions {
        let train2: Vec<&[Option<[f32; 2]>]> = all.iter().map(|p| p.train2.as_slice()).collect();
        let test: Vec<&[Option<[f32; 2]>]> = all.iter().map(|p| p.test.as_slice()).collect();
        Predictions {
            train2: labels::mean_labels(&train2),
            test: labels::mean_labels(&test),
        }
    }
}

fn one_hot(label: u8) -> [f32; 2] {
    if label == 1 {
        [0.0, 1.0]
    } else {
        [1.0, 0.0]
    }
}

impl Runner {
    pub fn new(results: PathBuf, device: Device, force: bool) -> Runner {
        Runner {
            results,
            device,
            force,
            eval_batch_size: 64,
            trained: Default::default(),
        }
    }

    pub fn run_dir(&self, spec: &RunSpec) -> PathBuf {
        self.results.join(&spec.data.name).join(spec.folder_name())
    }

    /// The stored result of `spec`, if a complete one exists.
    pub fn existing(&self, spec: &RunSpec) -> Option<RunResult> {
        let path = self.run_dir(spec).join("result.json");
        path.exists()
            .then(|| store::read_json(&path).ok())
            .flatten()
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
        let key = store::config_hash(&(RESULTS_FORMAT, &spec.model, &spec.data, spec.seed, split));
        let suffix = prompt_suffix(spec);
        let key = with_suffix(key, suffix);
        let path = self.results.join(".tokens").join(format!("{key}.json"));
        let all: Vec<Vec<i64>> = match store::read_json(&path) {
            Ok(ids) => ids,
            Err(_) => {
                let texts: Vec<String> = examples
                    .iter()
                    .map(|e| format!("{}{suffix}", e.text))
                    .collect();
                let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                let ids = model.encoder.encode_all(&texts)?;
                store::write_atomic(&path, &serde_json::to_vec(&ids)?)?;
                ids
            }
        };
        if all.len() != examples.len() {
            bail!(
                "{}: cached tokens do not match the split; delete the file",
                path.display()
            );
        }
        let limit = spec.max_ctx.min(model.info.max_positions);
        Ok(all
            .into_iter()
            .map(|ids| (ids.len() < limit).then_some(ids))
            .collect())
    }

    /// Backbone features of a split's kept examples, from `RESULTS/.features/` or computed
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
            &spec.model,
            &spec.data,
            spec.seed,
            spec.max_ctx,
            split,
            spec.train.bf16,
        ));
        let key = with_suffix(key, prompt_suffix(spec));
        let path = self
            .results
            .join(".features")
            .join(format!("{key}.safetensors"));
        if path.exists() {
            let mut t = Tensor::read_safetensors(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            if let Some((_, f)) = t.pop() {
                return Ok(f.to_device(model.device()));
            }
        }
        let f = train::features(model, &kept(ids), self.eval_batch_size);
        store::write_safetensors(&path, &[("features", &f.to_device(Device::Cpu))])?;
        Ok(f)
    }

    /// Run `spec` (and its supervisor first, if needed), or reuse a stored result.
    pub fn run(&self, spec: &RunSpec) -> Result<RunResult> {
        let hash = spec.hash();
        if !self.force || self.trained.lock().unwrap().contains(&hash) {
            if let Some(done) = self.existing(spec) {
                tracing::debug!("reusing {}", self.run_dir(spec).display());
                return Ok(done);
            }
        }
        if let Some(sup) = &spec.supervisor {
            self.run(sup)?;
            for co in &spec.co_supervisors {
                self.run(co)?;
            }
        }
        if spec.supervisor.is_none() && spec.train.relabel.is_some() {
            bail!("relabelling needs weak labels: it applies to students, not ground-truth runs");
        }
        let dir = self.run_dir(spec);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        store::write_json(&dir.join("config.json"), spec)?;

        let pools = dataset::load_pools(
            &spec.data.name,
            spec.data.data_dir.as_deref(),
            spec.seed,
            (spec.data.n_docs, spec.data.n_test_docs),
        )?;
        let splits = Splits::new(pools, spec.data.n_docs, spec.data.n_test_docs, spec.seed);
        tch::manual_seed(spec.seed as i64);
        let mut model = Classifier::load_with(
            &spec.model,
            self.device,
            spec.seed,
            spec.train.lora.as_ref(),
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

        // Training set: train1 with ground truth, or train2 with the supervisor's labels.
        let (train_examples, sup_preds) = match &spec.supervisor {
            None => (&splits.train1, None),
            Some(sup) => {
                let mut all = vec![self.predictions(sup)?];
                for co in &spec.co_supervisors {
                    all.push(self.predictions(co)?);
                }
                (&splits.train2, Some(Predictions::mean(&all)))
            }
        };
        let train_split = if spec.is_ground_truth() {
            "train1"
        } else {
            "train2"
        };
        let train_ids = self.encode(spec, &model, train_split, train_examples)?;
        let mut ids = Vec::new();
        let mut labels = Vec::new();
        let mut truth = Vec::new();
        // Position of each training example among the split's kept (not too long) examples.
        let mut rows = Vec::new();
        let mut kept_so_far = 0;
        for (i, (tok, ex)) in train_ids.iter().zip(train_examples).enumerate() {
            let label = match &sup_preds {
                None => Some(one_hot(ex.label)),
                Some(p) => *p
                    .train2
                    .get(i)
                    .context("supervisor predictions do not cover train2")?,
            };
            if let (Some(tok), Some(label)) = (tok, label) {
                ids.push(tok.clone());
                labels.push(label);
                truth.push(ex.label);
                rows.push(kept_so_far as i64);
            }
            kept_so_far += tok.is_some() as usize;
        }
        let dropped_train = train_ids.iter().filter(|x| x.is_none()).count();
        if ids.len() < 2 {
            bail!(
                "fewer than two training examples left after dropping those over max_ctx = {}",
                spec.max_ctx
            );
        }
        // Early stopping holds out the last examples (the split is already shuffled), labelled
        // by the supervisor or, for the oracle, by ground truth.
        let mut val = None;
        if let Some(es) = &spec.train.early_stopping {
            let n_val = ((ids.len() as f64 * es.val_frac).round() as usize).clamp(1, ids.len() - 1);
            let at = ids.len() - n_val;
            let val_labels: Vec<u8> = match es.labels {
                StopLabels::Weak => labels[at..].iter().map(metrics::hard).collect(),
                StopLabels::Oracle => truth[at..].to_vec(),
            };
            val = Some((ids.split_off(at), rows.split_off(at), val_labels, es));
            labels.truncate(at);
            truth.truncate(at);
        }
        // Probe relabelling, on the student's pretrained features of its training examples.
        let mut relabelling = None;
        if let Some(r) = &spec.train.relabel {
            let all = self.features(spec, &model, train_split, &train_ids)?;
            let feats = all.index_select(0, &Tensor::from_slice(&rows).to_device(all.device()));
            let probe = r.probe_labels(&feats, &labels, spec.seed);
            let (cleaned, changed) = r.apply(&labels, &probe);
            let before = metrics::accuracy(&labels, &truth);
            let keep: Vec<usize> = (0..cleaned.len())
                .filter(|&i| cleaned[i].is_some())
                .collect();
            ids = keep.iter().map(|&i| ids[i].clone()).collect();
            rows = keep.iter().map(|&i| rows[i]).collect();
            truth = keep.iter().map(|&i| truth[i]).collect();
            labels = keep.iter().map(|&i| cleaned[i].unwrap()).collect();
            relabelling = Some(Relabelling {
                changed,
                accuracy_before: before,
                accuracy_after: metrics::accuracy(&labels, &truth),
            });
        }
        let what = match &spec.supervisor {
            None => format!("{} (ground truth)", model.info.name),
            Some(s) => format!(
                "{} <- {} ({})",
                short_name(&spec.model),
                short_name(&s.model),
                spec.train.method()
            ),
        };
        let log = dir.join("train_log.jsonl");
        let test_ids = self.encode(spec, &model, "test", &splits.test)?;
        let train2_ids = self.encode(spec, &model, "train2", &splits.train2)?;
        let b = self.eval_batch_size;
        let (training, predictions) = if spec.train.linear_probe {
            // Linear probe: the frozen backbone's features, computed once per (model, task,
            // seed, split) and shared by every probe that needs them.
            let all = self.features(spec, &model, train_split, &train_ids)?;
            let select = |rows: &[i64]| {
                all.index_select(0, &Tensor::from_slice(rows).to_device(all.device()))
            };
            let feats = select(&rows);
            let val_feats = val.as_ref().map(|v| select(&v.1));
            let validation = val
                .as_ref()
                .zip(val_feats.as_ref())
                .map(|(v, f)| train::Validation {
                    inputs: train::Inputs::Features(f),
                    labels: v.2.clone(),
                    metric: v.3.metric,
                    every: v.3.every,
                });
            let training = train::train(
                &mut model,
                train::Inputs::Features(&feats),
                &labels,
                &spec.train,
                validation.as_ref(),
                Some(&log),
                &what,
            )?;
            let test_f = self.features(spec, &model, "test", &test_ids)?;
            let train2_f = self.features(spec, &model, "train2", &train2_ids)?;
            let predictions = Predictions {
                train2: scatter(&train2_ids, train::predict_features(&model, &train2_f)),
                test: scatter(&test_ids, train::predict_features(&model, &test_f)),
            };
            (training, predictions)
        } else {
            let validation = val.as_ref().map(|v| train::Validation {
                inputs: train::Inputs::Tokens(&v.0),
                labels: v.2.clone(),
                metric: v.3.metric,
                every: v.3.every,
            });
            let training = train::train(
                &mut model,
                train::Inputs::Tokens(&ids),
                &labels,
                &spec.train,
                validation.as_ref(),
                Some(&log),
                &what,
            )?;
            let predictions = Predictions {
                train2: scatter(&train2_ids, train::predict(&model, &kept(&train2_ids), b)),
                test: scatter(&test_ids, train::predict(&model, &kept(&test_ids), b)),
            };
            (training, predictions)
        };
        let (probs, truth): (Vec<[f32; 2]>, Vec<u8>) = predictions
            .test
            .iter()
            .zip(&splits.test)
            .filter_map(|(p, e)| p.map(|p| (p, e.label)))
            .unzip();
        if probs.is_empty() {
            bail!(
                "every test example is longer than max_ctx = {}",
                spec.max_ctx
            );
        }
        let mut analysis = Analysis {
            auroc: metrics::auroc(&probs, &truth),
            ece: Some(metrics::ece(&probs, &truth, 10)),
            ..Default::default()
        };
        if let Some(sup) = &sup_preds {
            let (mut s, mut w, mut t) = (Vec::new(), Vec::new(), Vec::new());
            for ((a, b), e) in predictions.test.iter().zip(&sup.test).zip(&splits.test) {
                if let (Some(a), Some(b)) = (a, b) {
                    s.push(*a);
                    w.push(*b);
                    t.push(e.label);
                }
            }
            let sup_hard: Vec<u8> = w.iter().map(metrics::hard).collect();
            analysis.auroc_vs_supervisor = metrics::auroc(&s, &sup_hard);
            (analysis.copied_mistakes, analysis.kept_correct) = metrics::imitation(&s, &w, &t);
        }
        let supervisor_accuracy = sup_preds.as_ref().map(|sup| {
            let (p, t): (Vec<[f32; 2]>, Vec<u8>) = sup
                .test
                .iter()
                .zip(&splits.test)
                .filter_map(|(p, e)| Some(((*p)?, e.label)))
                .unzip();
            metrics::accuracy(&p, &t)
        });
        let supervisor_agreement = match &sup_preds {
            None => None,
            Some(sup) => {
                let (a, b): (Vec<_>, Vec<_>) = predictions
                    .test
                    .iter()
                    .zip(&sup.test)
                    .filter_map(|(a, b)| Some(((*a)?, (*b)?)))
                    .unzip();
                Some(metrics::agreement(&a, &b))
            }
        };
        let result = RunResult {
            hash: spec.hash(),
            spec: spec.clone(),
            model: model.info.clone(),
            test_accuracy: metrics::accuracy(&probs, &truth),
            supervisor_agreement,
            supervisor_accuracy,
            relabelling,
            analysis,
            n_train: ids.len(),
            n_test: probs.len(),
            n_dropped: (dropped_train, test_ids.len() - probs.len()),
            training,
            device: format!("{:?}", self.device),
        };
        if result.n_dropped != (0, 0) {
            tracing::warn!(
                "{}: dropped {} train and {} test examples longer than {} tokens",
                what,
                result.n_dropped.0,
                result.n_dropped.1,
                spec.max_ctx
            );
        }
        if let Some(l) = &spec.train.lora {
            model.save(&dir.join("model"), l.save)?;
        }
        store::write_json(&dir.join("predictions.json"), &predictions)?;
        store::write_json(&dir.join("result.json"), &result)?;
        self.trained.lock().unwrap().insert(hash);
        Ok(result)
    }
}

fn short_name(model: &str) -> String {
    Path::new(model)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| model.to_owned())
}

/// The canonical name under which a model is hashed: absolute for folders, as given otherwise.
pub fn canonical_model(name: &str) -> String {
    // `absolute`, not `canonicalize`: a symlinked folder keeps its readable name.
    match std::path::absolute(name) {
        Ok(p) if p.is_dir() => p.to_string_lossy().into_owned(),
        _ => name.to_owned(),
    }
}

/// One weak-to-strong experiment: a weak supervisor, a strong ceiling, and a student per loss.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub weak: RunSpec,
    pub ceiling: RunSpec,
    pub students: Vec<RunSpec>,
}

/// The outcome of an [`Experiment`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub seed: u64,
    pub weak: f64,
    pub ceiling: f64,
    /// (loss name, student accuracy, PGR, agreement with the supervisor)
    pub students: Vec<StudentOutcome>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudentOutcome {
    pub loss: String,
    pub accuracy: f64,
    pub pgr: Option<f64>,
    pub agreement: Option<f64>,
}

impl Experiment {
    /// Build the runs of one experiment from a weak and a strong model and their options:
    /// one student per loss, with the rest of the strong model's options. Ground-truth runs
    /// drop what only students use (see [`TrainOptions::for_ground_truth`]).
    pub fn new(
        data: DataSpec,
        seed: u64,
        max_ctx: usize,
        weak: (&str, TrainOptions),
        strong: (&str, TrainOptions),
        losses: &[crate::loss::Loss],
    ) -> Experiment {
        let student_options: Vec<TrainOptions> = losses
            .iter()
            .map(|loss| TrainOptions {
                loss: loss.clone(),
                ..strong.1.clone()
            })
            .collect();
        Experiment::with_students(data, seed, max_ctx, weak, strong, &student_options)
    }

    /// As [`Experiment::new`], with each student's options given in full.
    pub fn with_students(
        data: DataSpec,
        seed: u64,
        max_ctx: usize,
        weak: (&str, TrainOptions),
        strong: (&str, TrainOptions),
        students: &[TrainOptions],
    ) -> Experiment {
        let gt = |model: &str, train: TrainOptions| RunSpec {
            format: RESULTS_FORMAT,
            data: data.clone(),
            seed,
            model: canonical_model(model),
            train,
            max_ctx,
            supervisor: None,
            co_supervisors: Vec::new(),
        };
        let weak_spec = gt(
            weak.0,
            TrainOptions {
                relabel: None,
                ..weak.1
            },
        );
        let ceiling = gt(strong.0, strong.1.for_ground_truth());
        let students = students
            .iter()
            .map(|train| RunSpec {
                train: train.clone(),
                supervisor: Some(Box::new(weak_spec.clone())),
                ..ceiling.clone()
            })
            .collect();
        Experiment {
            weak: weak_spec,
            ceiling,
            students,
        }
    }

    pub fn run(&self, runner: &Runner) -> Result<Outcome> {
        let weak = runner.run(&self.weak)?.test_accuracy;
        let ceiling = runner.run(&self.ceiling)?.test_accuracy;
        let mut students = Vec::new();
        for s in &self.students {
            let r = runner.run(s)?;
            students.push(StudentOutcome {
                loss: s.train.method(),
                accuracy: r.test_accuracy,
                pgr: metrics::pgr(weak, ceiling, r.test_accuracy),
                agreement: r.supervisor_agreement,
            });
        }
        Ok(Outcome {
            seed: self.weak.seed,
            weak,
            ceiling,
            students,
        })
    }
}
