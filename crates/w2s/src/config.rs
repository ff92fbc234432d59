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
//! # relabel = "knn"         # or logreg, knn_filter, logreg_filter, or { probe = { name = "knn", k = 20 }, fraction = 0.1, action = "relabel" }
//! [weak]                    # the supervisor's options where they differ: by default it takes
//!                           # [train]'s, as train_simple.py does (not loss, early_stopping,
//!                           # relabel, lora, generative)
//! epochs = 4
//! ```

use crate::experiment::{
    DataSpec, Experiment, RunSpec, DEFAULT_MAX_CTX, DEFAULT_N_DOCS, DEFAULT_N_TEST_DOCS,
};
use crate::labels::{Action, Probe, Relabel};
use crate::loss::Loss;
use crate::model::lora::LoraConfig;
use crate::model::ModelInfo;
use crate::train::{EarlyStopping, Generative, StopLabels, TrainOptions};
use anyhow::{Context, Result};
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
    /// A bias in the classification head; default false, as the reference.
    pub head_bias: Option<bool>,
    pub bf16: Option<bool>,
    pub checkpointing: Option<bool>,
    pub mixed_precision: Option<bool>,
    pub early_stopping: Option<EarlyStoppingField>,
    pub relabel: Option<RelabelField>,
    /// `lora = true` (rank 8, alpha 16, the family's attention projections) or a table
    /// `{ rank = 8, alpha = 16, targets = ["query", "value"], save = "merged" }`.
    pub lora: Option<Switch<LoraConfig>>,
    /// `generative = true` (answers " No" / " Yes") or `{ answers = [..], suffix = ".." }`.
    pub generative: Option<Switch<Generative>>,
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
        let batch_size = self.batch_size.unwrap_or(32);
        let bf16 = self.bf16.unwrap_or(false);
        TrainOptions {
            lr: self.lr.unwrap_or_else(|| info.default_lr()),
            epochs: self.epochs.unwrap_or(2),
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
        }
        .checked()
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
            head_bias: over.head_bias.or(self.head_bias),
            bf16: over.bf16.or(self.bf16),
            checkpointing: over.checkpointing.or(self.checkpointing),
            mixed_precision: over.mixed_precision.or(self.mixed_precision),
            early_stopping: over.early_stopping.clone().or(self.early_stopping.clone()),
            relabel: over.relabel.clone().or(self.relabel.clone()),
            lora: over.lora.clone().or(self.lora.clone()),
            generative: over.generative.clone().or(self.generative.clone()),
        }
    }
}

/// The most strong-to-strong rounds a run may ask for.
pub const MAX_ITERATIONS: usize = 100;

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

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// A run file (`w2s run run.toml`); the same fields are the command line's flags.
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
    /// One supervisor, or several whose soft labels are averaged.
    pub weak_model: Option<OneOrMany>,
    /// Strong-to-strong rounds after the weak-to-strong student.
    pub iterations: Option<usize>,
    pub results: Option<PathBuf>,
    pub device: Option<String>,
    /// Training options of `model`.
    #[serde(default)]
    pub train: TrainFields,
    /// Training options of the weak supervisor, over `train`'s ([`RunFile::supervisor_options`]).
    #[serde(default)]
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
            dataset: over.dataset.clone().or(self.dataset.clone()),
            data_dir: over.data_dir.clone().or(self.data_dir.clone()),
            n_docs: over.n_docs.or(self.n_docs),
            n_test_docs: over.n_test_docs.or(self.n_test_docs),
            seed: over.seed.or(self.seed),
            max_ctx: over.max_ctx.or(self.max_ctx),
            model: over.model.clone().or(self.model.clone()),
            weak_model: over.weak_model.clone().or(self.weak_model.clone()),
            iterations: over.iterations.or(self.iterations),
            results: over.results.clone().or(self.results.clone()),
            device: over.device.clone().or(self.device.clone()),
            train: self.train.merged(&over.train),
            weak: self.weak.merged(&over.weak),
        }
    }

    /// A supervisor's options as `train_simple.py` makes them: the student's options (`[train]`)
    /// with `[weak]` over them, then made a ground-truth run (cross-entropy, no early stopping
    /// or relabelling). A learning rate given for the student applies to the supervisor too; left
    /// out, each model takes its own default (the reference's `use_default_lr`).
    /// LoRA and generative scoring depend on the architecture (and do not exist in the
    /// reference): they stay with the student unless `[weak]` sets them.
    pub fn supervisor_options(&self, model: &str, mixed_default: bool) -> Result<TrainOptions> {
        let shared = TrainFields {
            lora: None,
            generative: None,
            ..self.train.clone()
        };
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
            self.dataset.as_deref().unwrap_or("demo"),
            self.data_dir.as_deref(),
            self.n_docs.unwrap_or(DEFAULT_N_DOCS),
            self.n_test_docs.unwrap_or(DEFAULT_N_TEST_DOCS),
        )?;
        let seed = self.seed.unwrap_or(0);
        let max_ctx = self.max_ctx.unwrap_or(DEFAULT_MAX_CTX);
        if max_ctx < 2 {
            anyhow::bail!("max_ctx = {max_ctx}: examples of max_ctx tokens or more are dropped, so every example would be");
        }
        if self.iterations.unwrap_or(0) > MAX_ITERATIONS {
            anyhow::bail!(
                "iterations = {}: at most {MAX_ITERATIONS} strong-to-strong rounds",
                self.iterations.unwrap_or(0)
            );
        }
        let strong = resolve_for(&model, &self.train, mixed_default)?;
        let weak_models = self
            .weak_model
            .clone()
            .map(OneOrMany::into_vec)
            .unwrap_or_default();
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

/// The demo's experiments, one per seed: the bag of words, trained from scratch, supervising
/// `strong` on the built-in demo task, one student per loss; `mixed_precision` as the flag
/// says, else `mixed_default` (the device's default).
pub fn demo_experiments(
    strong: &str,
    losses: &[Loss],
    sizes: (usize, usize),
    seeds: &[u64],
    mixed_precision: Option<bool>,
    mixed_default: bool,
) -> Result<Vec<Experiment>> {
    let fields = TrainFields {
        mixed_precision,
        ..Default::default()
    };
    let weak = resolve_for(crate::model::BOW, &fields, mixed_default)?;
    let strong_opts = resolve_for(strong, &fields, mixed_default)?;
    let data = DataSpec::new("demo", None, sizes.0, sizes.1)?;
    seeds
        .iter()
        .map(|&seed| {
            Experiment::per_loss(
                &data,
                seed,
                DEFAULT_MAX_CTX,
                (crate::model::BOW, weak.clone()),
                (strong, strong_opts.clone()),
                losses,
            )
        })
        .collect()
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
