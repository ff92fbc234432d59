//! The sweep file (`w2s sweep CONFIG.toml`).

use crate::config::TrainFields;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `w2s sweep CONFIG.toml`.
///
/// ```toml
/// results = "results/sweep"
/// datasets = ["demo"]                        # or sciq, boolq, ... (`w2s datasets list`)
/// data_dirs = { sciq = "../shared/datasets/sciq" }
/// models = ["bow", "models/all-MiniLM-L6-v2", "models/all-mpnet-base-v2"]  # weakest first
/// losses = ["xent", "logconf"]
/// seeds = [0, 1, 2]
/// n_docs = 2000                             # default 20000, as the reference
/// n_test_docs = 1000                         # default 10000
/// bootstrap = [["bow", "models/all-MiniLM-L6-v2", "models/all-mpnet-base-v2"]]
/// ensembles = [["bow", "models/all-MiniLM-L6-v2"]]  # mean labels supervise later models
/// iterations = 0                             # strong-to-strong rounds per student
/// diagonal = true                            # also weak == strong pairs
/// [train]                                    # options for every model
/// epochs = 2
/// [methods.es_weak]                          # extra students: options over [train]
/// early_stopping = "weak"
/// [methods.knn]
/// relabel = "knn"
/// [model_train."bow"]                        # per-model overrides
/// lr = 1e-2
/// ```
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    pub results: Option<PathBuf>,
    pub datasets: Vec<String>,
    #[serde(default)]
    pub data_dirs: BTreeMap<String, PathBuf>,
    pub models: Vec<String>,
    #[serde(default = "xent")]
    pub losses: Vec<String>,
    #[serde(default = "seed0")]
    pub seeds: Vec<u64>,
    #[serde(default = "n_docs")]
    pub n_docs: usize,
    #[serde(default = "n_test_docs")]
    pub n_test_docs: usize,
    #[serde(default = "max_ctx")]
    pub max_ctx: usize,
    #[serde(default)]
    pub train: TrainFields,
    #[serde(default)]
    pub model_train: BTreeMap<String, TrainFields>,
    #[serde(default)]
    pub bootstrap: Vec<Vec<String>>,
    /// Further students per pair: a name and the options that differ from `[train]`
    /// (loss, early_stopping, relabel, ...).
    #[serde(default)]
    pub methods: BTreeMap<String, TrainFields>,
    /// Groups of weak models whose mean soft labels supervise every later model.
    #[serde(default)]
    pub ensembles: Vec<Vec<String>>,
    /// Strong-to-strong rounds after each weak-to-strong student.
    #[serde(default)]
    pub iterations: usize,
    /// Also train each model on its own ground-truth run's labels (the paper's diagonal).
    #[serde(default = "yes")]
    pub diagonal: bool,
}

fn yes() -> bool {
    true
}

fn xent() -> Vec<String> {
    vec!["xent".into()]
}
fn seed0() -> Vec<u64> {
    vec![0]
}
fn n_docs() -> usize {
    crate::experiment::DEFAULT_N_DOCS
}
fn n_test_docs() -> usize {
    crate::experiment::DEFAULT_N_TEST_DOCS
}
fn max_ctx() -> usize {
    crate::experiment::DEFAULT_MAX_CTX
}

impl SweepFile {
    pub fn read(path: &Path) -> Result<SweepFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read sweep file {}", path.display()))?;
        let f: SweepFile =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        f.checked(&path.display().to_string())
    }

    /// A sweep given as JSON (Python's `w2s.sweep(dict)`): the same keys as a file, the same
    /// checks; `origin` names it in errors.
    pub fn from_json(json: &str, origin: &str) -> Result<SweepFile> {
        let f: SweepFile =
            serde_json::from_str(json).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        f.checked(origin)
    }

    /// What a sweep must hold beyond its types: something to run, and tables that name its
    /// own models and datasets.
    fn checked(self, origin: &str) -> Result<SweepFile> {
        let f = self;
        if f.models.is_empty() || f.datasets.is_empty() || f.seeds.is_empty() {
            bail!(
                "{}: `models`, `datasets` and `seeds` must each name at least one",
                origin
            );
        }
        crate::config::check_iterations(f.iterations)
            .map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        if f.losses.is_empty() && f.methods.is_empty() {
            bail!(
                "{}: name at least one loss in `losses` or a [methods.NAME] table",
                origin
            );
        }
        if let Some(e) = f.ensembles.iter().find(|e| e.len() < 2) {
            bail!(
                "{}: the ensemble {e:?} needs at least two weak models",
                origin
            );
        }
        let models: Vec<&String> = f
            .models
            .iter()
            .chain(f.bootstrap.iter().flatten())
            .chain(f.ensembles.iter().flatten())
            .collect();
        if let Some(m) = f.model_train.keys().find(|m| !models.contains(m)) {
            bail!(
                "{}: [model_train.\"{m}\"] names no model of the sweep (models: {})",
                origin,
                f.models.join(", ")
            );
        }
        if let Some(d) = f.data_dirs.keys().find(|d| !f.datasets.contains(d)) {
            bail!(
                "{}: data_dirs names `{d}`, which is not in `datasets`",
                origin
            );
        }
        for chain in &f.bootstrap {
            if chain.len() < 2 {
                bail!("{}: a bootstrap chain needs at least two models", origin);
            }
        }
        Ok(f)
    }
}
