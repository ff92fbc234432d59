//! The TOML file that `w2s run` reads. Every field has a default; command-line flags
//! override the file.
//!
//! ```toml
//! dataset = "demo"          # a registered task (`w2s datasets list`)
//! # data_dir = "data/sciq"  # local copy of the raw files
//! n_docs = 2000             # train examples (halved into train1 / train2)
//! n_test_docs = 1000
//! seed = 0
//! model = "models/all-MiniLM-L6-v2"   # folder, hub id, or `bow`
//! weak_model = "bow"        # makes this a weak-to-strong run; omit for ground truth
//! [train]                   # training options of `model`
//! loss = "logconf"          # or a table: loss = { name = "logconf", aux_coef = 0.5, warmup_frac = 0.2 }
//! epochs = 2
//! batch_size = 32
//! minibatch_size = 32
//! # lr = 5e-5               # default depends on the model
//! # linear_probe = false    # train the head only, on cached features
//! # bf16 = false            # backbone weights in bf16
//! [weak]                    # training options of the supervisor, same keys
//! epochs = 4
//! ```

use crate::loss::Loss;
use crate::model::ModelInfo;
use crate::train::TrainOptions;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum LossField {
    Name(String),
    Full(Loss),
}

impl LossField {
    pub fn resolve(&self) -> Result<Loss> {
        match self {
            LossField::Name(n) => Loss::from_name(n),
            LossField::Full(l) => Ok(l.clone()),
        }
    }
}

/// Training options as written in a file, before per-model defaults fill the gaps.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrainFields {
    pub lr: Option<f64>,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub minibatch_size: Option<usize>,
    pub loss: Option<LossField>,
    pub linear_probe: Option<bool>,
    pub bf16: Option<bool>,
}

impl TrainFields {
    /// Fill the gaps: the reference's defaults (2 epochs, batch 32), the model's learning rate.
    pub fn resolve(&self, info: &ModelInfo) -> Result<TrainOptions> {
        let batch_size = self.batch_size.unwrap_or(32);
        Ok(TrainOptions {
            lr: self.lr.unwrap_or_else(|| info.default_lr()),
            epochs: self.epochs.unwrap_or(2),
            batch_size,
            minibatch_size: self.minibatch_size.unwrap_or(batch_size),
            loss: match &self.loss {
                Some(l) => l.resolve()?,
                None => Loss::Xent,
            },
            linear_probe: self.linear_probe.unwrap_or(false),
            bf16: self.bf16.unwrap_or(false),
        })
    }

    /// Values of `over` win where set.
    pub fn merged(&self, over: &TrainFields) -> TrainFields {
        TrainFields {
            lr: over.lr.or(self.lr),
            epochs: over.epochs.or(self.epochs),
            batch_size: over.batch_size.or(self.batch_size),
            minibatch_size: over.minibatch_size.or(self.minibatch_size),
            loss: over.loss.clone().or(self.loss.clone()),
            linear_probe: over.linear_probe.or(self.linear_probe),
            bf16: over.bf16.or(self.bf16),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunFile {
    pub dataset: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub n_docs: Option<usize>,
    pub n_test_docs: Option<usize>,
    pub seed: Option<u64>,
    pub max_ctx: Option<usize>,
    pub model: Option<String>,
    pub weak_model: Option<String>,
    pub results: Option<PathBuf>,
    pub device: Option<String>,
    /// Training options of `model`.
    #[serde(default)]
    pub train: TrainFields,
    /// Training options of the weak supervisor (defaults: the model's own).
    #[serde(default)]
    pub weak: TrainFields,
}

impl RunFile {
    pub fn read(path: &Path) -> Result<RunFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_tables() {
        let f: RunFile = toml::from_str(
            "model = \"bow\"\n[train]\nloss = { name = \"logconf\", aux_coef = 0.3 }\n[weak]\nepochs = 4\n",
        )
        .unwrap();
        let info = ModelInfo {
            name: "bow".into(),
            family: "bow".into(),
            parameters: 1,
            vocab_size: 10,
            max_positions: 10,
        };
        let t = f.train.resolve(&info).unwrap();
        assert_eq!(
            t.loss,
            Loss::Logconf {
                aux_coef: 0.3,
                warmup_frac: 0.2,
                warmup: crate::loss::Warmup::Linear
            }
        );
        assert_eq!(t.lr, 1e-2);
        assert_eq!(f.weak.resolve(&info).unwrap().epochs, 4);
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run.toml");
        std::fs::write(&p, "seed = 1\nepochz = 3\n").unwrap();
        let err = RunFile::read(&p).unwrap_err().to_string();
        assert!(
            err.contains("run.toml") && err.contains("epochz") && err.contains("line 2"),
            "{err}"
        );
    }
}
