//! The runner: where runs execute and the policy around each one. A stored run is reused
//! when its record checks out ([`crate::run::record::stored`]); else the run folder is locked,
//! its supervisors run first (or, in a sweep worker, must already be stored), and the run is
//! trained in a staging folder and published whole ([`crate::store`]). The recipe's steps
//! (tokens, features, the training set, training and prediction) are in `steps.rs`.

use crate::dataset::{self, Splits};
use crate::generative_finetuning;
use crate::model::short_name;
use crate::model::Classifier;
use crate::options::TrainOptions;
use crate::run::record::{is_done, Failure, Predictions, Provenance, RunResult};
use crate::run::record::{stored, Stored};
use crate::run::record::{CONFIG_FILE, PREDICTIONS_FILE, RESULT_FILE};
use crate::run::spec::RunSpec;
use crate::store;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use tch::Device;

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
    pub(super) trained: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Hashes of runs already named in the log, so each gets one line however often it is asked.
    pub(super) announced: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Runner {
    /// The runner every front end makes (`w2s run`, `w2s demo`, sweep workers, Python):
    /// results in `results`, on `device` (`auto`, `cpu`, `cuda:N`, `mps`), libtorch's threads
    /// set where `threads` says (checked: 1 to [`crate::config::MAX_THREADS`]), `force` to
    /// retrain complete runs.
    pub fn set_up(
        results: PathBuf,
        device: &str,
        threads: Option<i32>,
        force: bool,
    ) -> Result<Runner> {
        if let Some(t) = threads {
            crate::config::parse_threads(&t.to_string()).map_err(anyhow::Error::msg)?;
            tch::set_num_threads(t);
        }
        let device = crate::device::parse_device(device)?;
        Ok(Runner::new(results, device, force))
    }

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
        store::read_json(&self.run_dir(spec).join(PREDICTIONS_FILE))
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
    pub(super) fn reusable(&self, spec: &RunSpec, supervises: bool) -> Option<RunResult> {
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
    pub(super) fn run_for(&self, spec: &RunSpec, predict_train2: bool) -> Result<RunResult> {
        self.run_for_or_fail(spec, predict_train2).inspect_err(|e| {
            if crate::progress::is_interrupt(e) {
                return; // asked to stop: not a failure
            }
            if let Err(not) = Failure::record(spec, &self.results, format!("error: {e:#}")) {
                tracing::warn!("could not record the failure: {not:#}");
            }
        })
    }

    pub(super) fn run_for_or_fail(
        &self,
        spec: &RunSpec,
        predict_train2: bool,
    ) -> Result<RunResult> {
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
    pub(super) fn reused(&self, spec: &RunSpec, hash: &str, done: RunResult) -> RunResult {
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
    pub(super) fn train_and_store(
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
        store::write_json(&dir.join(CONFIG_FILE), spec)?;
        let splits = splits(spec)?;
        let mut model = self.load_model(spec)?;
        let mut set = self.training_set(spec, &model, &splits)?;
        self.check_memory(spec, &model, &set.ids)?;
        let generative_finetuning = match &spec.train.generative_finetuning {
            Some(g) => Some(self.finetune_lm(spec, &mut model, &splits, g)?),
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
        let mut result = Self::analyse(spec, &predictions, set.supervision.as_ref(), &splits)?;
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
        store::write_atomic(&dir.join(PREDICTIONS_FILE), &bytes)?;
        result.predictions_sha256 = Some(store::sha256_hex(&bytes));
        result.provenance = Provenance::new(spec, self.device, started);
        store::write_json(&dir.join(RESULT_FILE), &result)?;
        // The whole folder at once; a failure recorded by an earlier attempt goes with the
        // folder it was in.
        store::publish(dir, run_dir)?;
        Ok(result)
    }

    /// Generative finetuning: the language model trained on train1's text before the
    /// classifier (paper section 5.2.2).
    fn finetune_lm(
        &self,
        spec: &RunSpec,
        model: &mut Classifier,
        splits: &Splits,
        g: &crate::options::GenerativeFinetuning,
    ) -> Result<generative_finetuning::Summary> {
        let ids = self.encode(spec, model, "train1", &splits.train1)?;
        let texts = generative_finetuning::texts(&splits.train1, &ids, g.replies);
        let what = short_name(&spec.model);
        generative_finetuning::finetune(model, &texts, g, &spec.train, spec.seed, &what)
    }

    /// Log the run's estimated peak memory, and refuse ([`crate::memory::TooBig`], with what
    /// would make it fit) a run that cannot fit on its device. A pair is two sequences.
    pub(super) fn check_memory(
        &self,
        spec: &RunSpec,
        model: &Classifier,
        ids: &[Vec<i64>],
    ) -> Result<()> {
        let demand = crate::memory::Demand {
            info: &model.info,
            train: &spec.train,
            seq: ids
                .iter()
                .map(|s| crate::model::longest_part(s))
                .max()
                .unwrap_or(1),
            per_example: if ids.iter().any(|s| crate::model::split_pair(s).is_some()) {
                2
            } else {
                1
            },
        };
        let trainable = |t: &TrainOptions| {
            // Switching LoRA on: the adapters are not built yet.
            if t.lora.is_some() && spec.train.lora.is_none() {
                crate::memory::trainable_estimate(&model.info, t)
            } else {
                model.trainable_parameters(t.linear_probe)
            }
        };
        let estimate = demand.admit(self.device, &trainable)?;
        tracing::debug!(
            "{}: estimated peak memory {estimate} at {} tokens",
            model.info.name,
            demand.seq
        );
        // Generative finetuning first trains the language model itself (a linear probe's run
        // too), one sequence per text, `minibatch_size` at a time: admitted on its own.
        if spec.train.generative_finetuning.is_some() {
            let lm = TrainOptions {
                linear_probe: false,
                ..spec.train.clone()
            };
            let phase = crate::memory::Demand {
                train: &lm,
                per_example: 1,
                ..demand
            };
            let estimate = phase
                .admit(self.device, &trainable)
                .map_err(|e| anyhow::Error::new(e).context("generative finetuning"))?;
            tracing::debug!(
                "{}: generative finetuning: estimated peak memory {estimate}",
                model.info.name
            );
        }
        Ok(())
    }

    /// The pretrained model with a zero head (or the LM head's rows for generative scoring).
    pub(super) fn load_model(&self, spec: &RunSpec) -> Result<Classifier> {
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
}

/// The run's train1, train2 and test, drawn from the task's pools with its seed.
fn splits(spec: &RunSpec) -> Result<Splits> {
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
    Ok(splits)
}
