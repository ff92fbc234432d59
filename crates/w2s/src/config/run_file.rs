//! The run file (`w2s run run.toml`, Python's `w2s.run`) and what it plans: one ground-truth
//! run or a weak-to-strong experiment.

use super::*;
use crate::experiment::{
    DataSpec, Experiment, RunSpec, DEFAULT_MAX_CTX, DEFAULT_N_DOCS, DEFAULT_N_TEST_DOCS,
};
use crate::plan::{Planner, Setting, Students};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `weak_model = "bow"` or `weak_model = ["bow", "models/all-MiniLM-L6-v2"]`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(Option::<OneOrMany>::deserialize(d)?.map(|o| match o {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    }))
}

/// The dataset a run uses when none is named.
pub const DEFAULT_DATASET: &str = crate::dataset::DEMO;

/// A run file (`w2s run run.toml`), defined once: each field is a TOML key and a flag of
/// `w2s run` (its doc comment is the flag's help); flags override the file
/// ([`RunFile::merged`]).
#[derive(Debug, Clone, Default, Deserialize, Serialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct RunFile {
    /// Dataset name (`w2s datasets list`) or a task file (.toml). [default: demo]
    #[arg(long)]
    pub dataset: Option<String>,
    /// Folder with the dataset's raw files. [default: the Hugging Face hub's copy]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Train examples, halved into train1 (ground truth) and train2 (weak labels).
    /// [default: 20000, as the reference]
    #[arg(long)]
    pub n_docs: Option<usize>,
    /// Test examples. [default: 10000, as the reference]
    #[arg(long)]
    pub n_test_docs: Option<usize>,
    /// Seed of the splits, the formatting coin flips and initialisation. [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Drop examples this many tokens long or longer. [default: 1024]
    #[arg(long)]
    pub max_ctx: Option<usize>,
    /// Model to train: a Hugging Face folder, a hub id, or `bow` (bag of words from scratch).
    #[arg(long)]
    pub model: Option<String>,
    /// Weak supervisor; makes this a weak-to-strong run. Several, comma-separated (a list in
    /// a file): the student learns the mean of their soft labels. [default: none, a
    /// ground-truth run]
    #[arg(long, value_delimiter = ',')]
    #[serde(default, deserialize_with = "one_or_many")]
    pub weak_model: Option<Vec<String>>,
    /// Strong-to-strong rounds after the weak-to-strong student: relabel train2 with the
    /// last student and train a fresh one on it, this many times. [default: 0]
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Where runs are stored; the flag is `--results`, shared by every training command.
    #[arg(skip)]
    pub results: Option<PathBuf>,
    /// The device; the flag is `--device`, shared by every training command.
    #[arg(skip)]
    pub device: Option<String>,
    /// Training options of `model`.
    #[serde(default)]
    #[command(flatten)]
    pub train: TrainFields,
    /// Training options of the weak supervisor, over `train`'s ([`RunFile::plan`]);
    /// the flags are [`WeakFlags`].
    #[serde(default)]
    #[arg(skip)]
    pub weak: TrainFields,
}

/// What a run file asks for: one ground-truth run, or a weak-to-strong experiment.
pub enum RunPlan {
    GroundTruth(RunSpec),
    WeakToStrong(Experiment),
}

impl RunFile {
    pub fn read(path: &Path) -> Result<RunFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Values of `over` (command-line flags) win where set.
    pub fn merged(&self, over: &RunFile) -> RunFile {
        RunFile {
            train: self.train.merged(&over.train),
            weak: self.weak.merged(&over.weak),
            ..overlay(self, over)
        }
    }

    /// The runs this file describes, with the reference's defaults where it is silent, built
    /// by the one plan builder ([`Planner`]). Every option of `[train]` applies to the
    /// supervisors too (as openai/weak-to-strong's `train_simple.py` copies its config to the
    /// weak model), except those only a student can use (loss, early stopping, relabelling)
    /// and the architecture's own (LoRA, generative scoring and finetuning, not in the
    /// reference); `[weak]` overrides for the supervisors. A learning rate given for the
    /// student applies to the supervisor too; left out, each model takes its own default (the
    /// reference's `use_default_lr`).
    pub fn plan(&self, mixed_default: bool) -> Result<RunPlan> {
        let model = self.model.clone().context(
            "no model given: pass --model <folder, hub id or bow> or set `model` in the config",
        )?;
        let at = Setting {
            data: DataSpec::new(
                self.dataset.as_deref().unwrap_or(DEFAULT_DATASET),
                self.data_dir.as_deref(),
                self.n_docs.unwrap_or(DEFAULT_N_DOCS),
                self.n_test_docs.unwrap_or(DEFAULT_N_TEST_DOCS),
            )?,
            seed: self.seed.unwrap_or(0),
            max_ctx: self.max_ctx.unwrap_or(DEFAULT_MAX_CTX),
        };
        if at.max_ctx < 2 {
            anyhow::bail!("max_ctx = {}: examples of max_ctx tokens or more are dropped, so every example would be", at.max_ctx);
        }
        check_iterations(self.iterations.unwrap_or(0))?;
        let weak_models = self.weak_model.clone().unwrap_or_default();
        let planner = Planner::new(
            std::iter::once(model.as_str()).chain(weak_models.iter().map(String::as_str)),
            mixed_default,
        )?;
        if weak_models.is_empty() {
            // A ground-truth run takes the options as given (a loss or early stopping applies;
            // relabelling fails: there are no weak labels).
            let train = planner.options(&model, &self.train)?;
            return Ok(RunPlan::GroundTruth(
                planner.ground_truth(&at, &model, train)?,
            ));
        }
        if let Some(key) = STUDENT_ONLY.iter().find(|k| self.weak.is_set(k)) {
            anyhow::bail!(
                "[weak] sets `{key}`: a supervisor trains on ground truth with xent; \
                 `{key}` belongs in [train]"
            );
        }
        let supervisors: Vec<(&str, &TrainFields)> = weak_models
            .iter()
            .map(|m| (m.as_str(), &self.weak))
            .collect();
        let mut exp = planner.experiment(
            &at,
            &self.train,
            &supervisors,
            (&model, &self.train),
            &Students::default(),
        )?;
        exp.iterations = self.iterations.unwrap_or(0);
        Ok(RunPlan::WeakToStrong(exp))
    }
}
