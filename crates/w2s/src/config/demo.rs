//! The demo's options: the flags of `w2s demo` and the keywords of Python's `w2s.demo()`.

use super::*;
use crate::experiment::{DataSpec, Experiment, DEFAULT_MAX_CTX};
use crate::loss::Loss;
use crate::plan::{Planner, Setting, Students};
use anyhow::Result;
use clap::builder::PossibleValuesParser;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The demo's strong model when none is given: the folder `./dev setup` makes.
pub const DEMO_STRONG: &str = "models/all-MiniLM-L6-v2";
// Lists as the flags take them (clap prints a list default with spaces, which the flag refuses).
const DEMO_SEEDS: &str = "0,1,2";
const DEMO_LOSSES: &str = "xent,logconf";
const DEMO_N_DOCS: usize = 2000;
const DEMO_N_TEST_DOCS: usize = 1000;

/// The demo's options, defined once: the flags of `w2s demo` and the keyword arguments of the
/// Python package's `w2s.demo()`.
#[derive(Debug, Clone, Deserialize, Serialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Demo {
    /// Seeds to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = DEMO_SEEDS)]
    #[serde(default = "demo_seeds")]
    pub seeds: Vec<u64>,
    /// The strong model: a Hugging Face folder or id.
    #[arg(long, default_value = DEMO_STRONG)]
    #[serde(default = "demo_strong")]
    pub strong: String,
    /// Train examples (half to the weak supervisor, half weakly labelled).
    #[arg(long, default_value_t = DEMO_N_DOCS)]
    #[serde(default = "demo_n_docs")]
    pub n_docs: usize,
    /// Test examples.
    #[arg(long, default_value_t = DEMO_N_TEST_DOCS)]
    #[serde(default = "demo_n_test_docs")]
    pub n_test_docs: usize,
    /// Losses for the students, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = DEMO_LOSSES,
          value_parser = PossibleValuesParser::new(Loss::names()))]
    #[serde(default = "demo_losses")]
    pub losses: Vec<String>,
    /// Training options of both models, as for `w2s run` (a learning rate given here applies
    /// to the bag of words too).
    #[command(flatten)]
    #[serde(default)]
    pub train: TrainFields,
}

fn demo_seeds() -> Vec<u64> {
    DEMO_SEEDS.split(',').map(|s| s.parse().unwrap()).collect()
}
fn demo_strong() -> String {
    DEMO_STRONG.into()
}
fn demo_n_docs() -> usize {
    DEMO_N_DOCS
}
fn demo_n_test_docs() -> usize {
    DEMO_N_TEST_DOCS
}
fn demo_losses() -> Vec<String> {
    DEMO_LOSSES.split(',').map(String::from).collect()
}

impl Default for Demo {
    fn default() -> Demo {
        serde_json::from_value(serde_json::json!({})).expect("every field has a default")
    }
}

impl Demo {
    /// The strong model to load: as given, except that the default folder, when `./dev setup`
    /// has not made it, becomes its Hugging Face id.
    pub fn strong_model(&self) -> String {
        if self.strong == DEMO_STRONG && !Path::new(DEMO_STRONG).is_dir() {
            tracing::warn!(
                "{DEMO_STRONG} not found (run ./dev setup); trying the Hugging Face hub"
            );
            return "sentence-transformers/all-MiniLM-L6-v2".into();
        }
        self.strong.clone()
    }

    /// The experiments, one per seed: the bag of words, trained from scratch, supervising
    /// the strong model on the built-in demo task, one student per loss; `train` applies to
    /// both models as in `w2s run`, unset options take their defaults on the device
    /// (`mixed_default`: whether mixed precision pays there).
    pub fn experiments(&self, mixed_default: bool) -> Result<Vec<Experiment>> {
        if self.train.is_set("loss") {
            anyhow::bail!("the demo trains one student per loss: name them with `losses`");
        }
        let students = Students {
            losses: self
                .losses
                .iter()
                .map(|l| Loss::from_name(l))
                .collect::<Result<Vec<_>>>()?,
            methods: Vec::new(),
        };
        let strong = self.strong_model();
        let bow = crate::model::BOW;
        let planner = Planner::new([bow, strong.as_str()], mixed_default)?;
        let data = DataSpec::new(DEFAULT_DATASET, None, self.n_docs, self.n_test_docs)?;
        self.seeds
            .iter()
            .map(|&seed| {
                let at = Setting {
                    data: data.clone(),
                    seed,
                    max_ctx: DEFAULT_MAX_CTX,
                };
                planner.experiment(
                    &at,
                    &self.train,
                    &[(bow, &TrainFields::default())],
                    (&strong, &self.train),
                    &students,
                )
            })
            .collect()
    }
}
