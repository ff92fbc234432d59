//! The TOML file that `w2s run` reads. Every field has a default; command-line flags
//! override the file.
//!
//! ```toml
//! dataset = "demo"          # a registered task (`w2s datasets list`)
//! # data_dir = "data/sciq"  # local copy of the raw files
//! n_docs = 2000             # train examples (halved into train1 / train2); default 20000
//! n_test_docs = 1000        # default 10000 (the reference's defaults)
//! seed = 0
//! model = "models/all-MiniLM-L6-v2"   # folder, hub id, or `bow`
//! weak_model = "bow"        # makes this a weak-to-strong run; omit for ground truth;
//!                           # a list averages several supervisors' soft labels
//! # iterations = 0          # strong-to-strong rounds after the student
//! [train]                   # training options of `model`
//! loss = "logconf"          # or a table: loss = { name = "logconf", aux_coef = 0.5, warmup_frac = 0.2 }
//! epochs = 2
//! batch_size = 32
//! minibatch_size = 32
//! # lr = 5e-5               # default: the reference's table, else by size (ModelInfo::default_lr)
//! # linear_probe = false    # train the head only, on cached features
//! # head_bias = false       # a bias in the classification head (the reference has none)
//! # bf16 = false            # backbone weights in bf16
//! # mixed_precision = false # f32 weights, bf16 matmuls (autocast)
//! # checkpointing = false   # recompute layers in the backward pass: less memory
//! # early_stopping = "weak" # or "oracle", or { labels = "weak", metric = "auroc", every = 20, val_frac = 0.2 }
//! # lora = true             # or { rank = 8, alpha = 16, targets = ["query", "value"], save = "merged" }
//! # generative = true       # score " No" / " Yes" with the LM head (decoders); epochs = 0: zero-shot
//! # generative_finetuning = true  # first finetune the LM on train1's (preferred) replies; or { epochs = 1, lr = 1e-5, replies = "both" }
//! # relabel = "knn"         # or logreg, knn_filter, logreg_filter, or { probe = { name = "knn", k = 20 }, fraction = 0.1, action = "relabel" }
//! [weak]                    # the supervisor's options where they differ: by default it takes
//!                           # [train]'s, as train_simple.py does (not loss, early_stopping,
//!                           # relabel, lora, generative, generative_finetuning)
//! epochs = 4
//! ```

use crate::experiment::{
    DataSpec, Experiment, RunSpec, DEFAULT_MAX_CTX, DEFAULT_N_DOCS, DEFAULT_N_TEST_DOCS,
};
use crate::generative_finetuning::GenerativeFinetuning;
use crate::labels::{Action, Probe, Relabel};
use crate::loss::Loss;
use crate::model::lora::LoraConfig;
use crate::model::ModelInfo;
use crate::train::{EarlyStopping, Generative, StopLabels, TrainOptions};
use anyhow::{Context, Result};
use clap::builder::{BoolValueParser, PossibleValuesParser, TypedValueParser};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A TOML value written as a boolean, a name or a table, read by its type so that a table's
/// own errors (an unknown key, a value of the wrong type) reach the user with their line; an
/// untagged enum would say only that nothing matched.
enum Shorthand<T> {
    Bool(bool),
    Str(String),
    Table(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Shorthand<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = Shorthand<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false, a name or a table")
            }
            fn visit_bool<E>(self, b: bool) -> std::result::Result<Self::Value, E> {
                Ok(Shorthand::Bool(b))
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<Self::Value, E> {
                Ok(Shorthand::Str(s.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                m: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(Shorthand::Table)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// The error for a shorthand of a kind a field does not take.
fn not_this<E: serde::de::Error>(key: &str, expected: &str) -> E {
    E::custom(format!("`{key}` takes {expected}"))
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum LossField {
    Name(String),
    Full(Loss),
}

impl<'de> Deserialize<'de> for LossField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match Shorthand::<Loss>::deserialize(d)? {
            Shorthand::Str(s) => Ok(LossField::Name(s)),
            Shorthand::Table(l) => Ok(LossField::Full(l)),
            Shorthand::Bool(_) => Err(not_this("loss", "a loss name or a table")),
        }
    }
}

impl LossField {
    pub fn resolve(&self) -> Result<Loss> {
        match self {
            LossField::Name(n) => Loss::from_name(n),
            LossField::Full(l) => Ok(l.clone()),
        }
    }
}

/// `early_stopping = "weak"` (or true), `"oracle"`, or a full table.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum EarlyStoppingField {
    Switch(bool),
    Labels(String),
    Full(EarlyStopping),
}

impl<'de> Deserialize<'de> for EarlyStoppingField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(match Shorthand::<EarlyStopping>::deserialize(d)? {
            Shorthand::Bool(b) => EarlyStoppingField::Switch(b),
            Shorthand::Str(s) => EarlyStoppingField::Labels(s),
            Shorthand::Table(e) => EarlyStoppingField::Full(e),
        })
    }
}

impl EarlyStoppingField {
    pub fn resolve(&self) -> Result<Option<EarlyStopping>> {
        Ok(match self {
            EarlyStoppingField::Switch(false) => None,
            EarlyStoppingField::Switch(true) => Some(EarlyStopping::default()),
            EarlyStoppingField::Labels(l) => Some(EarlyStopping {
                labels: match l.as_str() {
                    "weak" => StopLabels::Weak,
                    "oracle" => StopLabels::Oracle,
                    other => anyhow::bail!(
                        "early_stopping = \"{other}\": use \"weak\", \"oracle\", true or a table"
                    ),
                },
                ..Default::default()
            }),
            EarlyStoppingField::Full(e) => Some(e.clone()),
        })
    }
}

/// The relabelling methods by name ([`RelabelField::resolve`]).
pub const RELABEL_NAMES: [&str; 6] = [
    "knn",
    "logreg",
    "knn_eleuther",
    "knn_filter",
    "logreg_filter",
    "knn_eleuther_filter",
];

/// `relabel = "knn"` (or another of [`RELABEL_NAMES`]) or a full table.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RelabelField {
    Name(String),
    Full(Relabel),
}

impl<'de> Deserialize<'de> for RelabelField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match Shorthand::<Relabel>::deserialize(d)? {
            Shorthand::Str(s) => Ok(RelabelField::Name(s)),
            Shorthand::Table(r) => Ok(RelabelField::Full(r)),
            Shorthand::Bool(_) => Err(not_this("relabel", "a method name or a table")),
        }
    }
}

impl RelabelField {
    pub fn resolve(&self) -> Result<Relabel> {
        let name = match self {
            RelabelField::Full(r) => return Ok(r.clone()),
            RelabelField::Name(name) => name,
        };
        let (probe, action) = match name.strip_suffix("_filter") {
            Some(p) => (p, Action::Filter),
            None => (name.as_str(), Action::Relabel),
        };
        let probe = match probe {
            "knn" => Probe::Knn { k: 20 },
            "logreg" => Probe::Logreg { l2: 1e-3 },
            "knn_eleuther" => Probe::KnnEleuther {
                k: crate::labels::ELEUTHER_KNN_K,
            },
            _ => anyhow::bail!(
                "relabel = \"{name}\": use one of {} or a table",
                RELABEL_NAMES.join(", ")
            ),
        };
        // EleutherAI/w2s's relabelling replaces every label with the probe's.
        let fraction = match (&probe, action) {
            (Probe::KnnEleuther { .. }, Action::Relabel) => 1.0,
            _ => 0.1,
        };
        Ok(Relabel {
            probe,
            fraction,
            action,
        })
    }
}

/// The reference's number of passes over the training examples (`train_simple.py`).
pub const DEFAULT_EPOCHS: usize = 2;
/// The reference's examples per optimizer step.
pub const DEFAULT_BATCH_SIZE: usize = 32;
/// The options a weak supervisor cannot take: it trains on ground truth with cross-entropy.
pub const STUDENT_ONLY: [&str; 4] = ["loss", "early_stopping", "relabel", "oracle_labels"];
/// The options a supervisor does not take from `[train]` (they depend on the architecture, and
/// are not in the reference): `[weak]` sets them for it.
pub const ARCHITECTURE_ONLY: [&str; 3] = ["lora", "generative", "generative_finetuning"];

/// Training options, defined once: each field is a TOML key of `[train]` (and `[weak]`,
/// `[methods.*]`, `[model_train.*]`), a flag of `w2s run` and `w2s demo` (its doc comment is
/// the flag's help), and, unset, takes the default that [`TrainFields::resolve`] fills in.
/// `crates/w2s-cli/tests/cli/main.rs` checks that keys, flags and the defaults printed by `--help` agree.
#[derive(Debug, Clone, Default, Deserialize, Serialize, clap::Args)]
#[serde(deny_unknown_fields)]
#[command(next_help_heading = "Training ([train] in a config)")]
pub struct TrainFields {
    /// Learning rate. [default: the reference's table (gpt2, gpt2-medium 5e-5; larger 1e-5),
    /// else 5e-5 under 500M parameters, 1e-5 above; bow 1e-2]
    #[arg(long, value_parser = crate::finite::parse)]
    #[serde(default, deserialize_with = "crate::finite::deserialize_opt")]
    pub lr: Option<f64>,
    /// Passes over the training examples. [default: 2]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Examples per optimizer step. [default: 32]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Examples per forward pass; batch_size must be a multiple. [default: batch_size]
    #[arg(long)]
    pub minibatch_size: Option<usize>,
    /// The student's loss (docs/METHODS.md); in a file also a table,
    /// `{ name = "logconf", aux_coef = 0.5, warmup_frac = 0.2 }`. [default: xent]
    #[arg(long, value_parser = PossibleValuesParser::new(Loss::NAMES).map(LossField::Name))]
    pub loss: Option<LossField>,
    /// Train only the head, on frozen features. [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    pub linear_probe: Option<bool>,
    /// A bias in the classification head; the reference's head has none. [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    pub head_bias: Option<bool>,
    /// Backbone weights in bf16 (head in f32): for large models on GPU. [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    pub bf16: Option<bool>,
    /// Recompute each layer's activations during backpropagation: less memory, about a third
    /// more compute, the same gradients. [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    pub checkpointing: Option<bool>,
    /// Mixed precision: f32 weights and optimizer state, bf16 projections and attention;
    /// `--mixed-precision=false` for f32 throughout. [default: on where bf16 is native and
    /// faster (CUDA from Ampere on, CPUs with AVX-512 BF16 or AMX), else off]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    pub mixed_precision: Option<bool>,
    /// Keep the best checkpoint on held-out train examples labelled `weak` (by the
    /// supervisor) or `oracle` (ground truth: an upper bound); in a file also true or a table
    /// `{ labels = "weak", metric = "auroc", every = 20, val_frac = 0.2 }`. [default: off]
    #[arg(long, value_parser = PossibleValuesParser::new(["weak", "oracle"])
          .map(EarlyStoppingField::Labels))]
    pub early_stopping: Option<EarlyStoppingField>,
    /// Clean the weak labels with a probe on the student's features (docs/METHODS.md); in a
    /// file also a table `{ probe = { name = "knn", k = 20 }, fraction = 0.1, action =
    /// "relabel" }`. [default: off]
    #[arg(long, value_parser = PossibleValuesParser::new(RELABEL_NAMES).map(RelabelField::Name))]
    pub relabel: Option<RelabelField>,
    /// Train LoRA adapters (rank 8, alpha 16, the family's attention projections) and the head
    /// instead of the whole model; in a file also a table `{ rank = 8, alpha = 16, targets =
    /// ["query", "value"], save = "merged" }`. [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = BoolValueParser::new().map(Switch::<LoraConfig>::On))]
    pub lora: Option<Switch<LoraConfig>>,
    /// Score " No" / " Yes" with the LM head (decoders); with epochs 0, zero-shot. In a file
    /// also a table `{ answers = [" No", " Yes"], suffix = "..." }`. [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = BoolValueParser::new().map(Switch::<Generative>::On))]
    pub generative: Option<Switch<Generative>>,
    /// Before training, finetune the language model (decoders) on train1's text: a pairwise
    /// task's preferred replies (paper section 5.2.2). In a file also a table `{ epochs = 1,
    /// lr = 1e-5, replies = "both" }`. [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = BoolValueParser::new().map(Switch::<GenerativeFinetuning>::On))]
    pub generative_finetuning: Option<Switch<GenerativeFinetuning>>,
    /// A label budget: this many of the student's training examples (drawn with the seed) get
    /// their ground-truth label instead of the weak one (Mallen & Belrose 2024). [default: 0]
    #[arg(long)]
    pub oracle_labels: Option<usize>,
}

/// `[weak]` as flags: every option of [`TrainFields`] but [`STUDENT_ONLY`]'s, its flag named
/// `--weak-*`. clap has no prefix for a flattened group, so the flags are made from
/// `TrainFields`'s own and their values handed back to its parser: the options stay defined
/// once.
#[derive(Debug, Clone, Default)]
pub struct WeakFlags(pub TrainFields);

impl WeakFlags {
    fn options() -> impl Iterator<Item = clap::Arg> {
        let cmd = <TrainFields as clap::Args>::augment_args(clap::Command::new("weak"));
        cmd.get_arguments()
            .filter(|a| !STUDENT_ONLY.contains(&a.get_id().as_str()))
            .cloned()
            .collect::<Vec<_>>()
            .into_iter()
    }
}

impl clap::Args for WeakFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        Self::options().enumerate().fold(cmd, |cmd, (i, a)| {
            let long = a.get_long().unwrap_or_default().to_owned();
            cmd.arg(
                a.id(format!("weak_{long}"))
                    .long(format!("weak-{long}"))
                    .help(if ARCHITECTURE_ONLY.contains(&long.as_str()) {
                        format!("The weak supervisor's --{long}. [default: false; --{long} is the student's]")
                    } else {
                        format!("The weak supervisor's --{long}. [default: as --{long}]")
                    })
                    .long_help(None::<&str>)
                    .help_heading("The weak supervisor's training ([weak] in a config)")
                    .display_order(1000 + i),
            )
        })
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for WeakFlags {
    fn from_arg_matches(m: &clap::ArgMatches) -> std::result::Result<Self, clap::Error> {
        let mut argv = Vec::new();
        for a in Self::options() {
            let long = a.get_long().unwrap_or_default();
            if let Ok(Some(values)) = m.try_get_raw(&format!("weak_{long}")) {
                argv.extend(values.map(|v| format!("--{long}={}", v.to_string_lossy())));
            }
        }
        let cmd = <TrainFields as clap::Args>::augment_args(clap::Command::new("weak"))
            .no_binary_name(true);
        let fields = <TrainFields as clap::FromArgMatches>::from_arg_matches(
            &cmd.try_get_matches_from(argv)?,
        )?;
        Ok(WeakFlags(fields))
    }
    fn update_from_arg_matches(
        &mut self,
        m: &clap::ArgMatches,
    ) -> std::result::Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// The TOML keys of an options struct, in order, as its `Deserialize` derive names them (read
/// from the derive's field list: a deserializer that only listens). Tests match them against
/// the flags; front ends can offer them as names.
pub fn keys<T: serde::de::DeserializeOwned>() -> Vec<&'static str> {
    struct Listen<'a>(&'a mut &'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for Listen<'_> {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _: V,
        ) -> std::result::Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> std::result::Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(serde::de::Error::custom("listened"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Listen(&mut fields));
    fields.to_vec()
}

/// `over`'s fields where set, else `base`'s: the one merge of options from several places
/// (a file and flags, `[train]` and `[weak]`, a sweep's layers). Whole values are replaced,
/// never merged key by key: a loss table over another replaces it.
pub fn overlay<T: Serialize + serde::de::DeserializeOwned>(base: &T, over: &T) -> T {
    let to_value = |t: &T| serde_json::to_value(t).expect("options serialize to JSON");
    let (mut base, over) = (to_value(base), to_value(over));
    if let (Some(b), serde_json::Value::Object(o)) = (base.as_object_mut(), over) {
        b.extend(o.into_iter().filter(|(_, v)| !v.is_null()));
    }
    // Every field came from a valid value of T, and fields are independent.
    serde_json::from_value(base).expect("fields of two valid values make a valid value")
}

/// An option written as `true` / `false` (its defaults, or off) or as a full table.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Switch<T> {
    On(bool),
    Full(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Switch<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match Shorthand::<T>::deserialize(d)? {
            Shorthand::Bool(b) => Ok(Switch::On(b)),
            Shorthand::Table(t) => Ok(Switch::Full(t)),
            Shorthand::Str(s) => Err(serde::de::Error::custom(format!(
                "`{s}`: write true, false or a table"
            ))),
        }
    }
}

impl<T: Default + Clone> Switch<T> {
    pub fn resolve(field: &Option<Switch<T>>) -> Option<T> {
        match field {
            None | Some(Switch::On(false)) => None,
            Some(Switch::On(true)) => Some(T::default()),
            Some(Switch::Full(t)) => Some(t.clone()),
        }
    }
}

impl TrainFields {
    /// Fill the gaps: the reference's defaults (2 epochs, batch 32), the model's learning rate,
    /// and mixed precision where `mixed_default` says it pays on the device
    /// ([`crate::device::mixed_precision_pays`]; not for the bag of words or bf16 weights, where
    /// it changes nothing).
    pub fn resolve(&self, info: &ModelInfo, mixed_default: bool) -> Result<TrainOptions> {
        let batch_size = self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE);
        let bf16 = self.bf16.unwrap_or(false);
        TrainOptions {
            lr: self.lr.unwrap_or_else(|| info.default_lr()),
            epochs: self.epochs.unwrap_or(DEFAULT_EPOCHS),
            batch_size,
            minibatch_size: self.minibatch_size.unwrap_or(batch_size),
            loss: match &self.loss {
                Some(l) => l.resolve()?,
                None => Loss::Xent,
            },
            linear_probe: self.linear_probe.unwrap_or(false),
            head_bias: self.head_bias.unwrap_or(false),
            bf16,
            checkpointing: self.checkpointing.unwrap_or(false),
            mixed_precision: self
                .mixed_precision
                .unwrap_or(mixed_default && info.family != crate::model::BOW && !bf16),
            early_stopping: match &self.early_stopping {
                Some(e) => e.resolve()?,
                None => None,
            },
            relabel: self.relabel.as_ref().map(|r| r.resolve()).transpose()?,
            lora: Switch::resolve(&self.lora),
            generative: Switch::resolve(&self.generative),
            generative_finetuning: Switch::resolve(&self.generative_finetuning),
            // 0 is no budget: the same run as none, so the same name.
            oracle_labels: self.oracle_labels.filter(|&n| n > 0),
        }
        .checked()
    }

    /// Values of `over` win where set.
    pub fn merged(&self, over: &TrainFields) -> TrainFields {
        overlay(self, over)
    }

    /// These options unset (by TOML key).
    pub fn without(&self, keys: &[&str]) -> TrainFields {
        let mut v = serde_json::to_value(self).expect("options serialize to JSON");
        for k in keys {
            v[*k] = serde_json::Value::Null;
        }
        serde_json::from_value(v).expect("unsetting an option leaves valid options")
    }

    /// Whether the option of TOML key `key` is set.
    pub fn is_set(&self, key: &str) -> bool {
        serde_json::to_value(self).is_ok_and(|v| !v[key].is_null())
    }
}

/// The most strong-to-strong rounds a run may ask for.
pub const MAX_ITERATIONS: usize = 100;

/// `iterations`, in a run file or a sweep file: at most [`MAX_ITERATIONS`] rounds.
pub fn check_iterations(n: usize) -> Result<()> {
    if n > MAX_ITERATIONS {
        anyhow::bail!("iterations = {n}: at most {MAX_ITERATIONS} strong-to-strong rounds");
    }
    Ok(())
}

/// The most CPU threads a run may ask for: more than any machine has cores, fewer than makes
/// libtorch's thread pool overflow its stack.
pub const MAX_THREADS: i32 = 1024;

/// `--threads`: a whole number from 1 to [`MAX_THREADS`].
pub fn parse_threads(s: &str) -> std::result::Result<i32, String> {
    match s.parse::<i32>() {
        Ok(t) if (1..=MAX_THREADS).contains(&t) => Ok(t),
        _ => Err(format!(
            "`{s}`: give a whole number of threads from 1 to {MAX_THREADS}"
        )),
    }
}

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
    /// Training options of the weak supervisor, over `train`'s ([`RunFile::supervisor_options`]);
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

/// Per-model training options: the model's metadata read once for its defaults.
pub fn resolve_for(model: &str, fields: &TrainFields, mixed_default: bool) -> Result<TrainOptions> {
    let info = ModelInfo::describe(model).with_context(|| format!("model `{model}`"))?;
    fields.resolve(&info, mixed_default)
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

    /// A supervisor's options as `train_simple.py` makes them: the student's options (`[train]`)
    /// with `[weak]` over them, then made a ground-truth run (cross-entropy, no early stopping
    /// or relabelling). A learning rate given for the student applies to the supervisor too; left
    /// out, each model takes its own default (the reference's `use_default_lr`).
    /// LoRA and generative scoring depend on the architecture (and do not exist in the
    /// reference): they stay with the student unless `[weak]` sets them.
    pub fn supervisor_options(&self, model: &str, mixed_default: bool) -> Result<TrainOptions> {
        let shared = self.train.without(&ARCHITECTURE_ONLY);
        if let Some(key) = STUDENT_ONLY.iter().find(|k| self.weak.is_set(k)) {
            anyhow::bail!(
                "[weak] sets `{key}`: a supervisor trains on ground truth with xent; \
                 `{key}` belongs in [train]"
            );
        }
        let fields = shared.merged(&self.weak);
        Ok(resolve_for(model, &fields, mixed_default)?.for_ground_truth())
    }

    /// The runs this file describes, with the reference's defaults where it is silent.
    /// Every option of `[train]` applies to the supervisors too (as openai/weak-to-strong's
    /// `train_simple.py` copies its config to the weak model), except those only a student can
    /// use (loss, early stopping, relabelling); `[weak]` overrides for the supervisors.
    pub fn plan(&self, mixed_default: bool) -> Result<RunPlan> {
        let model = self.model.clone().context(
            "no model given: pass --model <folder, hub id or bow> or set `model` in the config",
        )?;
        let data = DataSpec::new(
            self.dataset.as_deref().unwrap_or(DEFAULT_DATASET),
            self.data_dir.as_deref(),
            self.n_docs.unwrap_or(DEFAULT_N_DOCS),
            self.n_test_docs.unwrap_or(DEFAULT_N_TEST_DOCS),
        )?;
        let seed = self.seed.unwrap_or(0);
        let max_ctx = self.max_ctx.unwrap_or(DEFAULT_MAX_CTX);
        if max_ctx < 2 {
            anyhow::bail!("max_ctx = {max_ctx}: examples of max_ctx tokens or more are dropped, so every example would be");
        }
        check_iterations(self.iterations.unwrap_or(0))?;
        let strong = resolve_for(&model, &self.train, mixed_default)?;
        let weak_models = self.weak_model.clone().unwrap_or_default();
        if weak_models.is_empty() {
            // A ground-truth run takes the options as given (a loss or early stopping applies;
            // relabelling fails: there are no weak labels).
            return Ok(RunPlan::GroundTruth(RunSpec::ground_truth(
                &data, seed, max_ctx, &model, strong,
            )?));
        }
        let weak = weak_models
            .iter()
            .map(|m| Ok((m.as_str(), self.supervisor_options(m, mixed_default)?)))
            .collect::<Result<Vec<_>>>()?;
        let mut exp = Experiment::new(
            &data,
            seed,
            max_ctx,
            &weak,
            (&model, strong.clone()),
            std::slice::from_ref(&strong),
        )?;
        exp.iterations = self.iterations.unwrap_or(0);
        Ok(RunPlan::WeakToStrong(exp))
    }
}

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
          value_parser = PossibleValuesParser::new(Loss::NAMES))]
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
        let losses = self
            .losses
            .iter()
            .map(|l| Loss::from_name(l))
            .collect::<Result<Vec<_>>>()?;
        let strong = self.strong_model();
        let file = RunFile {
            train: self.train.clone(),
            ..Default::default()
        };
        let weak = file.supervisor_options(crate::model::BOW, mixed_default)?;
        let strong_opts = resolve_for(&strong, &self.train, mixed_default)?;
        let data = DataSpec::new(DEFAULT_DATASET, None, self.n_docs, self.n_test_docs)?;
        self.seeds
            .iter()
            .map(|&seed| {
                Experiment::per_loss(
                    &data,
                    seed,
                    DEFAULT_MAX_CTX,
                    (crate::model::BOW, weak.clone()),
                    (&strong, strong_opts.clone()),
                    &losses,
                )
            })
            .collect()
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
            name: crate::model::BOW.into(),
            family: crate::model::BOW.into(),
            parameters: 1,
            vocab_size: 10,
            max_positions: 10,
            shape: None,
        };
        let t = f.train.resolve(&info, false).unwrap();
        assert_eq!(
            t.loss,
            Loss::Logconf {
                aux_coef: 0.3,
                warmup_frac: 0.2,
                warmup: crate::loss::Warmup::Linear
            }
        );
        assert_eq!(t.lr, 1e-2);
        assert_eq!(f.weak.resolve(&info, false).unwrap().epochs, 4);
    }

    #[test]
    fn mixed_precision_is_the_default_only_where_it_pays_and_changes_something() {
        let info = |family: &str| ModelInfo {
            name: "m".into(),
            family: family.into(),
            parameters: 1,
            vocab_size: 10,
            max_positions: 10,
            shape: None,
        };
        let mixed = |fields: &TrainFields, family: &str, pays: bool| {
            fields.resolve(&info(family), pays).unwrap().mixed_precision
        };
        let silent = TrainFields::default();
        assert!(mixed(&silent, "bert", true));
        assert!(!mixed(&silent, "bert", false));
        assert!(
            !mixed(&silent, crate::model::BOW, true),
            "nothing to compute in bf16"
        );
        let bf16 = TrainFields {
            bf16: Some(true),
            ..Default::default()
        };
        assert!(!mixed(&bf16, "llama", true), "bf16 weights: already bf16");
        let off = TrainFields {
            mixed_precision: Some(false),
            ..Default::default()
        };
        assert!(!mixed(&off, "bert", true), "the user's word wins");
        let on = TrainFields {
            mixed_precision: Some(true),
            ..Default::default()
        };
        assert!(mixed(&on, "bert", false));
    }

    #[test]
    fn the_supervisor_takes_the_students_options_as_the_reference_does() {
        let f: RunFile = toml::from_str(
            "model = \"bow\"\nweak_model = \"bow\"\n[train]\nepochs = 3\nlr = 0.5\nhead_bias = true\nloss = \"logconf\"\nearly_stopping = \"weak\"\n[weak]\nbatch_size = 16\n",
        )
        .unwrap();
        let RunPlan::WeakToStrong(exp) = f.plan(false).unwrap() else {
            panic!("a weak-to-strong plan")
        };
        let w = &exp.weak[0].train;
        assert_eq!(
            (w.epochs, w.lr, w.batch_size, w.head_bias),
            (3, 0.5, 16, true)
        );
        assert_eq!(
            w.loss,
            Loss::Xent,
            "a supervisor trains on ground truth with xent"
        );
        assert!(w.early_stopping.is_none());
        let s = &exp.students[0].train;
        assert_eq!((s.epochs, s.batch_size, s.loss.name()), (3, 32, "logconf"));
        // Silent about the learning rate: each model its own default.
        let f: RunFile =
            toml::from_str("model = \"bow\"\nweak_model = \"bow\"\n[train]\nepochs = 3\n").unwrap();
        let RunPlan::WeakToStrong(exp) = f.plan(false).unwrap() else {
            panic!("a weak-to-strong plan")
        };
        assert_eq!((exp.weak[0].train.lr, exp.weak[0].train.epochs), (1e-2, 3));
        assert!(
            !exp.weak[0].train.head_bias,
            "no head bias by default, as the reference"
        );
    }

    #[test]
    fn keys_are_the_fields_as_serde_names_them() {
        let train = keys::<TrainFields>();
        assert_eq!(train.len(), 16);
        assert_eq!(train[..2], ["lr", "epochs"]);
        assert!(keys::<RunFile>().contains(&"weak_model"));
    }

    #[test]
    fn overlay_replaces_set_fields_whole() {
        let base: TrainFields =
            toml::from_str("lr = 0.1\nepochs = 3\nloss = { name = \"logconf\", aux_coef = 0.3 }\n")
                .unwrap();
        let over: TrainFields = toml::from_str("epochs = 5\nloss = \"product\"\n").unwrap();
        let m = base.merged(&over);
        assert_eq!((m.lr, m.epochs), (Some(0.1), Some(5)));
        assert_eq!(m.loss.unwrap().resolve().unwrap().name(), "product");
        // A value that is not exactly representable in decimal survives the merge bit for bit
        // (it is part of a run's identity).
        let lr = 1.0 / 3.0 * 1e-4;
        let m = TrainFields {
            lr: Some(lr),
            ..Default::default()
        }
        .merged(&TrainFields::default());
        assert_eq!(m.lr.unwrap().to_bits(), lr.to_bits());
        let without = base.without(&["loss"]);
        assert!(without.loss.is_none() && without.lr == Some(0.1));
    }

    #[test]
    fn weak_flags_are_train_fields_under_another_name() {
        use clap::{Args, FromArgMatches};
        let cmd = || WeakFlags::augment_args(clap::Command::new("run").no_binary_name(true));
        let m = cmd()
            .try_get_matches_from(["--weak-epochs", "3", "--weak-lora", "--weak-lr=0.5"])
            .unwrap();
        let WeakFlags(f) = WeakFlags::from_arg_matches(&m).unwrap();
        assert_eq!((f.epochs, f.lr), (Some(3), Some(0.5)));
        assert!(matches!(f.lora, Some(Switch::On(true))));
        assert!(f.batch_size.is_none() && f.head_bias.is_none());
        // A supervisor has no loss, and a bad value is refused where it is given.
        assert!(cmd().try_get_matches_from(["--weak-loss", "xent"]).is_err());
        assert!(cmd()
            .try_get_matches_from(["--weak-epochs", "two"])
            .is_err());
    }

    #[test]
    fn the_weak_table_refuses_what_only_a_student_takes() {
        let f: RunFile =
            toml::from_str("model = \"bow\"\nweak_model = \"bow\"\n[weak]\nloss = \"logconf\"\n")
                .unwrap();
        let err = f.plan(false).err().unwrap().to_string();
        assert!(err.contains("[weak] sets `loss`"), "{err}");
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

    #[test]
    fn the_demo_defaults_are_the_same_for_flags_and_keys() {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            demo: Demo,
        }
        let flags = <Flags as clap::Parser>::parse_from(["demo"]).demo;
        let keys = Demo::default();
        assert_eq!(
            serde_json::to_value(&flags).unwrap(),
            serde_json::to_value(&keys).unwrap()
        );
        assert_eq!(keys.seeds, [0, 1, 2]);
        assert_eq!(keys.losses, ["xent", "logconf"]);
        assert_eq!(keys.strong, DEMO_STRONG);
    }
}
