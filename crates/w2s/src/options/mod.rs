//! The training options: what a run is trained with ([`TrainOptions`]), their bounds, the
//! method's name, and the options of a ground-truth run made from a student's; and the same
//! options as written (TOML keys and flags, [`TrainFields`] in `fields.rs`) with the defaults
//! that fill them. The vocabulary only: the loop that uses them is [`crate::train`].
//!
//! Adding a training option touches this module only: a field of [`TrainOptions`] and its bound
//! in [`TrainOptions::checked`] here, its key, flag, help and default in `fields.rs`
//! ([`TrainFields`] and [`TrainFields::resolve`]); `run/steps.rs` too if it changes the
//! backbone's features. Tests check that keys, flags, help and defaults agree.

pub mod fields;

pub use crate::labels::LearnedWeights;
use crate::loss::Loss;
use anyhow::{bail, Result};
pub use fields::{overlay, TrainFields, WeakFlags};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub lr: f64,
    pub epochs: usize,
    pub batch_size: usize,
    pub minibatch_size: usize,
    pub loss: Loss,
    /// Train only the head on frozen backbone features.
    pub linear_probe: bool,
    /// A bias in the classification head (zero at start, trained). Off by default, as in
    /// openai/weak-to-strong (`Linear(hidden, 2, bias=False)`) and EleutherAI/w2s. Runs stored
    /// before this option existed had a bias: a missing key reads as `true`, and `true` is not
    /// written, so their identity (hash) is unchanged and they stay what they were.
    #[serde(
        default = "crate::store::yes",
        skip_serializing_if = "crate::store::is_true"
    )]
    pub head_bias: bool,
    /// Backbone weights in bf16 (the head stays f32): half the memory, for large models on GPU.
    #[serde(default)]
    pub bf16: bool,
    /// Recompute each layer's forward pass during backpropagation instead of keeping its
    /// activations: less memory, about a third more compute, the same gradients (so not part
    /// of a run's identity).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub checkpointing: bool,
    /// Mixed precision: f32 weights and Adam state, projections and attention computed in
    /// bf16 (autocast's choice for matmuls), the usual setting on GPUs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mixed_precision: bool,
    /// Keep the checkpoint that scores best on a held-out part of the training split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStopping>,
    /// Relabel or drop the weak labels that a probe on the student's pretrained features
    /// disagrees with most, before training (students only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relabel: Option<crate::labels::Relabel>,
    /// Train low-rank adapters (and the head) instead of the backbone's weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<crate::model::lora::LoraConfig>,
    /// Score two answer tokens with the LM head (decoders): the head starts from their rows.
    /// With `epochs = 0`, zero-shot prompting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generative: Option<Generative>,
    /// Finetune the language model on the task's text before training (decoders; paper
    /// section 5.2.2, [`crate::generative_finetuning`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generative_finetuning: Option<GenerativeFinetuning>,
    /// A label budget (Mallen & Belrose, arXiv 2410.13215): this many of the student's training
    /// examples, drawn with the run's seed, carry their ground-truth label instead of the weak
    /// one. Students only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oracle_labels: Option<usize>,
    /// With several supervisors, learn a weight per supervisor jointly with the student
    /// (RAVEN, Jeon et al., NeurIPS 2025) instead of taking their mean. Students only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_weights: Option<LearnedWeights>,
    /// The learning rate held at `lr` for the whole run instead of the reference's cosine
    /// annealing to 0 (its `train_simple.py --lr_schedule constant`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub constant_lr: bool,
}

/// What decides a frozen backbone's features ([`TrainOptions::backbone`]): its precision, the
/// prompt appended to every text, and generative finetuning with the options that trained it.
#[derive(Debug, Serialize)]
#[allow(clippy::type_complexity)]
pub struct Backbone<'a> {
    pub bf16: bool,
    pub mixed_precision: bool,
    pub prompt_suffix: &'a str,
    pub generative_finetuning: Option<(
        &'a GenerativeFinetuning,
        f64,
        usize,
        usize,
        &'a Option<crate::model::lora::LoraConfig>,
    )>,
}

/// The reference's schedule (`lr_schedule = "cosine_anneal"`, PyTorch's `CosineAnnealingLR`
/// over the run's steps): the learning rate annealed from `lr` along a half cosine over
/// training (`frac` = steps done / steps).
pub fn cosine_anneal(lr: f64, frac: f64) -> f64 {
    lr * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos())
}

/// Generative scoring: the answers for label 0 and label 1 (one token each), and text
/// appended to every example (the question to the model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generative {
    #[serde(default = "answers")]
    pub answers: [String; 2],
    #[serde(default)]
    pub suffix: String,
}

fn answers() -> [String; 2] {
    [" No".into(), " Yes".into()]
}

impl Default for Generative {
    fn default() -> Self {
        Generative {
            answers: answers(),
            suffix: String::new(),
        }
    }
}

impl TrainOptions {
    /// Text appended to every example (generative scoring's question), or "".
    pub fn prompt_suffix(&self) -> &str {
        self.generative.as_ref().map_or("", |g| g.suffix.as_str())
    }

    /// The options that decide a frozen backbone's features: the key of the features cache
    /// that linear probes share. An option that changes the backbone belongs here.
    pub fn backbone(&self) -> Backbone<'_> {
        Backbone {
            bf16: self.bf16,
            mixed_precision: self.mixed_precision,
            prompt_suffix: self.prompt_suffix(),
            generative_finetuning: self
                .generative_finetuning
                .as_ref()
                .map(|g| (g, self.lr, self.batch_size, self.minibatch_size, &self.lora)),
        }
    }

    /// The learning rate after `frac` of training (steps done / steps).
    pub fn lr_at(&self, frac: f64) -> f64 {
        match self.constant_lr {
            true => self.lr,
            false => cosine_anneal(self.lr, frac),
        }
    }

    /// A short name of the training method: the loss, then what else is switched on
    /// (`xent+es`, `logconf+knn`, ...). Tables and folder names use it.
    pub fn method(&self) -> String {
        let mut name = self.loss.name().to_owned();
        if let Some(es) = &self.early_stopping {
            name += match es.labels {
                StopLabels::Weak => "+es",
                StopLabels::Oracle => "+es_oracle",
            };
        }
        if let Some(r) = &self.relabel {
            name += "+";
            name += &r.name();
        }
        if self.lora.is_some() {
            name += "+lora";
        }
        if self.generative_finetuning.is_some() {
            name += "+genft";
        }
        if let Some(n) = self.oracle_labels {
            name += &format!("+oracle{n}");
        }
        if let Some(w) = &self.learned_weights {
            // Settings other than the defaults are in the name, so two rates are two rows.
            let d = LearnedWeights::default();
            name += "+raven";
            if w.lr != d.lr {
                name += &format!("_lr{}", w.lr);
            }
            if w.freeze_frac != d.freeze_frac {
                name += &format!("_freeze{}", w.freeze_frac);
            }
        }
        if self.constant_lr {
            name += "+constant_lr";
        }
        if self.generative.is_some() {
            name += if self.epochs == 0 {
                "+zero_shot"
            } else {
                "+gen"
            };
        }
        name
    }

    /// A batch cut into whole minibatches, both positive (options built in code, not read
    /// from a file, reach the training loop unchecked, so it asks again).
    pub(crate) fn check_batches(&self) -> anyhow::Result<()> {
        if self.batch_size == 0
            || self.minibatch_size == 0
            || !self.batch_size.is_multiple_of(self.minibatch_size)
        {
            bail!(
                "batch_size ({}) must be a positive multiple of minibatch_size ({})",
                self.batch_size,
                self.minibatch_size
            );
        }
        Ok(())
    }

    /// These options, if every value is in range; else an error naming the key, so that a
    /// config or flag is refused when it is read rather than failing (or training nonsense)
    /// later.
    pub fn checked(self) -> anyhow::Result<TrainOptions> {
        let t = &self;
        check_lr("lr", t.lr)?;
        if t.epochs == 0 && t.generative.is_none() {
            bail!("epochs = 0 trains nothing: a zero head predicts 50% everywhere (only generative scoring has a zero-shot model)");
        }
        if t.epochs > MAX_EPOCHS {
            bail!("epochs = {}: at most {MAX_EPOCHS}", t.epochs);
        }
        if t.batch_size > MAX_BATCH {
            bail!("batch_size = {}: at most {MAX_BATCH}", t.batch_size);
        }
        t.check_batches()?;
        t.loss.check()?;
        if let Some(es) = &t.early_stopping {
            if !(es.val_frac > 0.0 && es.val_frac < 1.0) {
                bail!(
                    "early_stopping.val_frac = {}: a share between 0 and 1",
                    es.val_frac
                );
            }
        }
        if let Some(r) = &t.relabel {
            r.check()?;
        }
        if let Some(g) = &t.generative_finetuning {
            g.check()?;
        }
        if let Some(w) = &t.learned_weights {
            check_lr("learned_weights.lr", w.lr)?;
            if !(0.0..1.0).contains(&w.freeze_frac) {
                bail!(
                    "learned_weights.freeze_frac = {}: a share of training from 0 to below 1",
                    w.freeze_frac
                );
            }
            // Both change one example's label, which the learned mixture makes anew each step.
            if t.relabel.is_some() || t.oracle_labels.is_some() {
                bail!(
                    "learned_weights does not combine with relabel or oracle_labels (yet): use one"
                );
            }
        }
        if let Some(l) = &t.lora {
            if l.rank < 1 || !(l.alpha.is_finite() && l.alpha > 0.0) {
                bail!(
                    "lora: rank ({}) must be at least 1 and alpha ({}) positive",
                    l.rank,
                    l.alpha
                );
            }
        }
        Ok(self)
    }

    /// The options for a ground-truth run (weak supervisor or ceiling) made from a student's:
    /// plain cross-entropy, nothing that needs weak labels. The ceiling is then one run that
    /// every method's student shares.
    pub fn for_ground_truth(&self) -> TrainOptions {
        TrainOptions {
            loss: crate::loss::Loss::Xent,
            early_stopping: None,
            relabel: None,
            oracle_labels: None,
            learned_weights: None,
            ..self.clone()
        }
    }

    /// The method's name without its label budget: what a plot of accuracy against the
    /// budget draws as one line.
    pub fn method_without_budget(&self) -> String {
        TrainOptions {
            oracle_labels: None,
            ..self.clone()
        }
        .method()
    }
}

/// The largest learning rate accepted: far above any that trains (the reference's are 1e-5 to
/// 5e-5, the bag of words' 1e-2), and small enough that the optimizer's f32 arithmetic stays
/// finite.
pub const MAX_LR: f64 = 10.0;

/// A learning rate, checked before any tensor is made: positive, finite, at most [`MAX_LR`].
pub fn check_lr(key: &str, lr: f64) -> anyhow::Result<()> {
    if !(lr.is_finite() && lr > 0.0 && lr <= MAX_LR) {
        bail!("{key} = {lr}: a learning rate must be a positive number of at most {MAX_LR}");
    }
    Ok(())
}

/// Early stopping: score every `every` steps on the last `val_frac` of the training examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopping {
    /// Steps between evaluations; 0 means ten evaluations over the run.
    #[serde(default)]
    pub every: usize,
    #[serde(default)]
    pub metric: StopMetric,
    #[serde(default)]
    pub labels: StopLabels,
    #[serde(default = "val_frac", deserialize_with = "crate::finite::deserialize")]
    pub val_frac: f64,
}

fn val_frac() -> f64 {
    0.2
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping {
            every: 0,
            metric: StopMetric::default(),
            labels: StopLabels::default(),
            val_frac: val_frac(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StopMetric {
    #[default]
    Accuracy,
    Auroc,
}

/// Which labels the validation examples carry.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StopLabels {
    /// The supervisor's (hardened) labels: usable without ground truth.
    #[default]
    Weak,
    /// Ground truth: an upper bound on what early stopping can do, not a method.
    Oracle,
}

/// Bounds that no study reaches, so that step counts never overflow.
pub const MAX_EPOCHS: usize = 100_000;
pub const MAX_BATCH: usize = 1 << 20;

/// The options of `generative_finetuning` (`true` takes these defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerativeFinetuning {
    /// Passes over the text.
    #[serde(default = "one")]
    pub epochs: usize,
    /// The learning rate; none: the run's own.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::finite::deserialize_opt"
    )]
    pub lr: Option<f64>,
    #[serde(default)]
    pub replies: Replies,
}

fn one() -> usize {
    1
}

impl Default for GenerativeFinetuning {
    fn default() -> Self {
        GenerativeFinetuning {
            epochs: one(),
            lr: None,
            replies: Replies::default(),
        }
    }
}

/// Which replies of a pairwise task the language model is finetuned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Replies {
    /// The one people preferred (the paper's).
    #[default]
    Preferred,
    /// Both: no preference information at all.
    Both,
}

impl GenerativeFinetuning {
    pub fn check(&self) -> Result<()> {
        if self.epochs == 0 || self.epochs > MAX_EPOCHS {
            bail!(
                "generative_finetuning.epochs = {}: between 1 and {}",
                self.epochs,
                MAX_EPOCHS
            );
        }
        if let Some(lr) = self.lr {
            check_lr("generative_finetuning.lr", lr)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> TrainOptions {
        crate::config::TrainFields::default()
            .resolve(&crate::model::ModelInfo::describe("bow").unwrap(), false)
            .unwrap()
    }

    /// The reference's two schedules, by hand: cosine from `lr` through `lr / 2` half way to 0
    /// (PyTorch's `CosineAnnealingLR` over the run's steps), or constant; off is not written
    /// into a run's options, so runs stored before the option keep their identity.
    #[test]
    fn constant_or_cosine_learning_rate() {
        let mut t = TrainOptions { lr: 0.2, ..plain() };
        assert_eq!(t.lr_at(0.0), 0.2);
        assert!((t.lr_at(0.5) - 0.1).abs() < 1e-12 && t.lr_at(1.0).abs() < 1e-12);
        assert!(!serde_json::to_string(&t).unwrap().contains("constant_lr"));
        assert_eq!(t.method(), "xent");
        t.constant_lr = true;
        assert_eq!((t.lr_at(0.0), t.lr_at(0.7)), (0.2, 0.2));
        assert_eq!(t.method(), "xent+constant_lr");
    }

    /// Learned weights name the method, with any setting that is not the default, and are
    /// refused beside the options that rewrite single labels; a ground-truth run drops them.
    #[test]
    fn learned_weights_name_check_and_ground_truth() {
        let mut t = plain();
        t.learned_weights = Some(LearnedWeights::default());
        assert_eq!(t.method(), "xent+raven");
        t.learned_weights = Some(LearnedWeights {
            lr: 1.0,
            freeze_frac: 0.25,
        });
        assert_eq!(t.method(), "xent+raven_lr1_freeze0.25");
        assert!(t.clone().checked().is_ok());
        assert!(t.for_ground_truth().learned_weights.is_none());
        let budget = TrainOptions {
            oracle_labels: Some(5),
            ..t.clone()
        };
        assert!(budget
            .checked()
            .unwrap_err()
            .to_string()
            .contains("oracle_labels"));
        t.learned_weights = Some(LearnedWeights {
            lr: 0.1,
            freeze_frac: 1.0,
        });
        assert!(t
            .checked()
            .unwrap_err()
            .to_string()
            .contains("freeze_frac = 1"));
    }
}
