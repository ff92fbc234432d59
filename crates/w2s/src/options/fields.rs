//! The training options as TOML keys and flags ([`TrainFields`]), the shorthands they take
//! (`loss = "logconf"`, `early_stopping = true`, `lora = { rank = 4 }`), the defaults that
//! fill them, and what a supervisor inherits ([`TrainFields::for_supervisor`]).

use super::{EarlyStopping, Generative, LearnedWeights, StopLabels, TrainOptions};
use crate::generative_finetuning::GenerativeFinetuning;
use crate::labels::Relabel;
use crate::loss::Loss;
use crate::model::lora::LoraConfig;
use crate::model::ModelInfo;
use anyhow::Result;
use clap::builder::{BoolValueParser, PossibleValuesParser, TypedValueParser};
use serde::{Deserialize, Serialize};

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

/// `relabel = "knn"` (or another of [`Relabel::names`]) or a full table.
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
        match self {
            RelabelField::Full(r) => Ok(r.clone()),
            RelabelField::Name(name) => Relabel::from_name(name),
        }
    }
}

/// The reference's number of passes over the training examples (`train_simple.py`).
pub const DEFAULT_EPOCHS: usize = 2;
/// The reference's examples per optimizer step.
pub const DEFAULT_BATCH_SIZE: usize = 32;
/// The options a weak supervisor cannot take: it trains on ground truth with cross-entropy.
pub const STUDENT_ONLY: [&str; 5] = [
    "loss",
    "early_stopping",
    "relabel",
    "oracle_labels",
    "learned_weights",
];
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
    #[arg(long, value_parser = PossibleValuesParser::new(Loss::names()).map(LossField::Name))]
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
    #[arg(long, value_parser = PossibleValuesParser::new(Relabel::names()).map(RelabelField::Name))]
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
    /// With several supervisors, learn a weight per supervisor jointly with the student (RAVEN,
    /// docs/METHODS.md) instead of their mean; in a file also a table `{ lr = 0.1, freeze_frac
    /// = 0.5 }`. [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = BoolValueParser::new().map(Switch::<LearnedWeights>::On))]
    pub learned_weights: Option<Switch<LearnedWeights>>,
    /// Hold the learning rate at --lr for the whole run instead of the reference's cosine
    /// annealing to 0. [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    pub constant_lr: Option<bool>,
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

/// The defaults of [`TrainFields::resolve`] for a model of no known family (lr 5e-5), in
/// f32: the reference's options, for code that builds options by hand.
impl Default for TrainOptions {
    fn default() -> Self {
        TrainFields::default()
            .resolve(&ModelInfo::default(), false)
            .expect("the defaults are valid options")
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
            learned_weights: Switch::resolve(&self.learned_weights),
            constant_lr: self.constant_lr.unwrap_or(false),
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

    /// A supervisor's fields, one rule for every front end (`w2s run`, `w2s demo`, sweeps,
    /// Python): the shared options (`self`: `[train]`) without [`ARCHITECTURE_ONLY`]'s, with
    /// the supervisor's own over them (`own`: `[weak]` in a run file, `[model_train."M"]` in a
    /// sweep). As the reference's `train_simple.py` gives the weak model the student's config;
    /// LoRA, generative scoring and generative finetuning depend on the architecture (and are
    /// not in the reference), so they reach a supervisor only where its own options set them.
    /// Made a ground-truth run, this is the supervisor; the strong ceiling is instead the
    /// student's own options made ground truth ([`crate::experiment::RunSpec::ceiling`]).
    pub fn for_supervisor(&self, own: &TrainFields) -> TrainFields {
        self.without(&ARCHITECTURE_ONLY).merged(own)
    }

    /// Whether the option of TOML key `key` is set.
    pub fn is_set(&self, key: &str) -> bool {
        serde_json::to_value(self).is_ok_and(|v| !v[key].is_null())
    }
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
