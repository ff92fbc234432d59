//! The training losses of openai/weak-to-strong (`weak_to_strong/loss.py`).
//!
//! Each one is cross-entropy between the student's logits and a *target* distribution; the
//! losses differ only in the target, which never carries gradient:
//! - `xent`: the labels themselves (ground truth as one-hot, or the weak model's soft labels);
//! - `logconf` (auxiliary confidence loss, Burns et al. 2023, eq. 1): a mix of the labels and
//!   the student's own predictions hardened at a threshold that keeps the labels' class
//!   balance in the batch;
//! - `product`: labels^alpha * predictions^beta, renormalised.
//!
//! Later work added (sources in `docs/METHODS.md`):
//! - `entropy` (Reed et al. 2014's soft bootstrapping, as in EleutherAI/w2s's `entropy` loss):
//!   like `logconf` but the student's own *soft* prediction, not hardened, so the auxiliary
//!   term is the student's entropy: `(1 - c) CE(p, labels) + c H(p)`;
//!   `entropy_eleuther` is what EleutherAI/w2s's `sft.py` runs for `entropy`
//!   (`log_confidence_loss(harden=False)`): the target `(1 - c) labels + c p`, with `p`
//!   detached, so the confidence term carries no gradient;
//! - `window` (EleutherAI/w2s's confidence window): cross-entropy only on examples whose weak
//!   label lies within `radius` of 0.5 (or, with `on = "student"`, whose student prediction
//!   does, as EleutherAI/w2s does), averaged over the whole batch;
//! - `kl`: KL(labels || p), the same gradient as `xent` with a value of 0 at perfect
//!   imitation; `reverse = true` gives the mode-seeking KL(p || labels);
//! - `adaptive` (AdaptConf, Guo et al. 2024, "Vision Superalignment"): per example,
//!   `(1 - b) CE(p, labels) + b CE(p, onehot(argmax p))` with
//!   `b = exp(CE_self / T) / (exp(CE_self / T) + exp(CE_weak / T))`, where `CE_self` and
//!   `CE_weak` are the student's cross-entropy against its own and the weak label's argmax
//!   (the authors' `AdaptConf`, with `T` = their `superalignment_threshold`, 0.5). w2s scales
//!   `b` up over the first `warmup_frac` of training: the head starts at zero, so at first
//!   every argmax is class 0 and the self term pulls every example there (on the demo task
//!   the student collapsed to chance without the warm-up). `warmup_frac = 0` is the paper's.
//!
//! Except for the entropy and reverse-KL terms, the target is detached, so the trainer can
//! compute it from a no-grad pass over the whole batch and then backpropagate minibatch by
//! minibatch (see `train.rs`). [`Loss::objective`] adds the terms that carry gradient through
//! the student's own prediction.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// How the auxiliary weight of `logconf` reaches `aux_coef`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Warmup {
    /// Rises linearly from 0 to `aux_coef` over the first `warmup_frac` of training, then
    /// stays there: what the paper describes.
    #[default]
    Linear,
    /// openai/weak-to-strong's `loss.py` as released: `aux_coef * step_frac` during warm-up,
    /// then a jump to `aux_coef` (so at most `aux_coef * warmup_frac` before the jump). A known
    /// bug, kept only to reproduce the reference's numbers.
    ReferenceJump,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum Loss {
    Xent,
    Logconf {
        #[serde(default = "half", deserialize_with = "crate::finite::deserialize")]
        aux_coef: f64,
        #[serde(default = "fifth", deserialize_with = "crate::finite::deserialize")]
        warmup_frac: f64,
        #[serde(default)]
        warmup: Warmup,
    },
    Product {
        #[serde(default = "one", deserialize_with = "crate::finite::deserialize")]
        alpha: f64,
        #[serde(default = "one", deserialize_with = "crate::finite::deserialize")]
        beta: f64,
    },
    Entropy {
        #[serde(default = "half", deserialize_with = "crate::finite::deserialize")]
        aux_coef: f64,
        #[serde(default = "fifth", deserialize_with = "crate::finite::deserialize")]
        warmup_frac: f64,
        /// EleutherAI/w2s's computation (`entropy_eleuther`): the student's prediction
        /// enters the target detached, so the confidence term adds no gradient and the
        /// loss's gradient is `(1 - c)` times cross-entropy's.
        #[serde(default, skip_serializing_if = "is_false")]
        detached: bool,
    },
    Window {
        #[serde(
            default = "window_radius",
            deserialize_with = "crate::finite::deserialize"
        )]
        radius: f64,
        #[serde(default)]
        on: WindowOn,
    },
    Kl {
        #[serde(default)]
        reverse: bool,
    },
    Adaptive {
        #[serde(default = "half", deserialize_with = "crate::finite::deserialize")]
        temperature: f64,
        /// The self term's weight `b` is scaled up linearly over this share of training
        /// (0: the paper's loss from the first step). See the module notes.
        #[serde(default = "fifth", deserialize_with = "crate::finite::deserialize")]
        warmup_frac: f64,
    },
    /// A loss given as a function by a front end (Python's `w2s.run(loss=fn)`, registered
    /// with [`register_custom`]): the minibatch's whole objective, `fn(logits, labels,
    /// step_frac) -> scalar`. Its `source` text is part of the run's identity, so editing the
    /// function makes new runs; a config naming one that this process has not registered is
    /// an error.
    Custom {
        function: String,
        source: String,
    },
}

/// Whose confidence decides which examples the `window` loss keeps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WindowOn {
    /// The weak label's: train only where the supervisor is unsure.
    #[default]
    Weak,
    /// The student's current prediction (EleutherAI/w2s's `confidence_window_loss`).
    Student,
}

fn window_radius() -> f64 {
    0.15
}

/// Labels are clamped here before taking logs (reverse KL against hard labels).
const LOG_FLOOR: f64 = 1e-6;

fn is_false(b: &bool) -> bool {
    !b
}

fn half() -> f64 {
    0.5
}
fn fifth() -> f64 {
    0.2
}
fn one() -> f64 {
    1.0
}

impl Loss {
    /// The named losses with their default parameters (those a table naming only the loss
    /// gets): the one table that names, defaults and [`Loss::from_name`] read.
    pub fn presets() -> [Loss; 10] {
        [
            Loss::Xent,
            Loss::Logconf {
                aux_coef: half(),
                warmup_frac: fifth(),
                warmup: Warmup::Linear,
            },
            // The reference's `logconf_loss_fn` defaults: warmup_frac = 0.1.
            Loss::Logconf {
                aux_coef: half(),
                warmup_frac: 0.1,
                warmup: Warmup::ReferenceJump,
            },
            Loss::Product {
                alpha: one(),
                beta: one(),
            },
            Loss::Entropy {
                aux_coef: half(),
                warmup_frac: fifth(),
                detached: false,
            },
            Loss::Entropy {
                aux_coef: half(),
                warmup_frac: fifth(),
                detached: true,
            },
            Loss::Window {
                radius: window_radius(),
                on: WindowOn::Weak,
            },
            Loss::Kl { reverse: false },
            Loss::Kl { reverse: true },
            Loss::Adaptive {
                temperature: half(),
                warmup_frac: fifth(),
            },
        ]
    }

    /// A loss by its short name, with default parameters.
    pub fn from_name(name: &str) -> anyhow::Result<Loss> {
        Loss::presets()
            .into_iter()
            .find(|l| l.name() == name)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown loss `{name}`: use one of {}",
                    Loss::names().join(", ")
                )
            })
    }

    /// Every name [`Loss::from_name`] knows.
    pub fn names() -> [&'static str; 10] {
        Loss::presets().map(|l| l.preset_name().expect("presets are not custom"))
    }

    /// The name of a built-in loss (none for a custom one): the variant, and the switch that
    /// makes a second method of it.
    fn preset_name(&self) -> Option<&'static str> {
        Some(match self {
            Loss::Custom { .. } => return None,
            Loss::Xent => "xent",
            Loss::Logconf {
                warmup: Warmup::ReferenceJump,
                ..
            } => "logconf_reference",
            Loss::Logconf { .. } => "logconf",
            Loss::Product { .. } => "product",
            Loss::Entropy { detached: true, .. } => "entropy_eleuther",
            Loss::Entropy { .. } => "entropy",
            Loss::Window { .. } => "window",
            Loss::Kl { reverse: false } => "kl",
            Loss::Kl { reverse: true } => "reverse_kl",
            Loss::Adaptive { .. } => "adaptive",
        })
    }

    /// Short name for tables and folder names (a custom loss's function name).
    pub fn name(&self) -> &str {
        match self {
            Loss::Custom { function, .. } => function,
            builtin => builtin.preset_name().expect("a built-in loss has a name"),
        }
    }

    /// Whether the target of one example depends on other examples of the batch.
    pub fn needs_whole_batch(&self) -> bool {
        matches!(self, Loss::Logconf { .. })
    }

    /// The weight of the student's own (hardened) predictions at `step_frac` in [0, 1).
    pub fn aux_weight(&self, step_frac: f64) -> f64 {
        match *self {
            Loss::Entropy {
                aux_coef,
                warmup_frac,
                ..
            } if warmup_frac > 0.0 => aux_coef * (step_frac / warmup_frac).min(1.0),
            Loss::Entropy { aux_coef, .. } => aux_coef,
            Loss::Adaptive { warmup_frac, .. } if warmup_frac > 0.0 => {
                (step_frac / warmup_frac).min(1.0)
            }
            Loss::Adaptive { .. } => 1.0,
            Loss::Logconf {
                aux_coef,
                warmup_frac,
                warmup,
            } => match warmup {
                Warmup::Linear if warmup_frac > 0.0 => {
                    aux_coef * (step_frac / warmup_frac).min(1.0)
                }
                Warmup::Linear => aux_coef,
                Warmup::ReferenceJump if step_frac > warmup_frac => aux_coef,
                Warmup::ReferenceJump => aux_coef * step_frac,
            },
            _ => 0.0,
        }
    }

    /// The detached target `[batch, 2]` for `logits` and soft `labels`. Rows sum to 1, except
    /// `entropy`'s (to `1 - c`: its other part is the entropy term of [`Loss::objective`]) and
    /// `window`'s rows outside the window (to 0).
    pub fn target(&self, logits: &Tensor, labels: &Tensor, step_frac: f64) -> Tensor {
        let _guard = tch::no_grad_guard();
        let labels = labels.to_kind(Kind::Float);
        match *self {
            Loss::Xent | Loss::Kl { .. } | Loss::Custom { .. } => labels,
            // EleutherAI/w2s: `labels (1 - c) + p.detach() c`, the student's soft prediction.
            Loss::Entropy { detached: true, .. } => {
                let c = self.aux_weight(step_frac);
                labels * (1.0 - c) + logits.detach().softmax(-1, Kind::Float) * c
            }
            Loss::Entropy { .. } => labels * (1.0 - self.aux_weight(step_frac)),
            Loss::Window { radius, on } => {
                let p1 = match on {
                    WindowOn::Weak => labels.select(1, 1),
                    WindowOn::Student => logits.detach().softmax(-1, Kind::Float).select(1, 1),
                };
                let inside = (p1 - 0.5).abs().lt(radius).to_kind(Kind::Float);
                labels * inside.unsqueeze(1)
            }
            Loss::Adaptive { temperature, .. } => {
                let logp = logits.detach().log_softmax(-1, Kind::Float);
                let own = logp.argmax(1, true);
                let weak = labels.argmax(1, true);
                let ce_self = -logp.gather(1, &own, false);
                let ce_weak = -logp.gather(1, &weak, false);
                // exp(a/T) / (exp(a/T) + exp(b/T)) = sigmoid((a - b) / T), without overflow.
                let b = ((ce_self - ce_weak) / temperature).sigmoid() * self.aux_weight(step_frac);
                let hardened = logp.zeros_like().scatter_value(1, &own, 1.0);
                &labels * (1.0 - &b) + hardened * b
            }
            Loss::Logconf { .. } => {
                let coef = self.aux_weight(step_frac);
                let preds = logits.detach().softmax(-1, Kind::Float);
                let p0 = preds.select(1, 0);
                // Threshold on P(class 0) at the quantile equal to the labels' share of
                // class 1, so that the hardened predictions keep the labels' balance.
                let share1 = labels.select(1, 1).mean(Kind::Float).double_value(&[]);
                let threshold = p0.quantile_scalar(share1, None, false, "linear");
                let is0 = p0.ge_tensor(&threshold).to_kind(Kind::Float);
                let hardened = Tensor::stack(&[&is0, &(1.0 - &is0)], 1);
                labels * (1.0 - coef) + hardened * coef
            }
            Loss::Product { alpha, beta } => {
                let preds = logits.detach().softmax(-1, Kind::Float);
                let t = preds.pow_tensor_scalar(beta) * labels.pow_tensor_scalar(alpha);
                let total = t.sum_dim_intlist(1, true, Kind::Float);
                t / total
            }
        }
    }
}

/// Mean cross-entropy of `logits` against a soft `target`.
pub fn soft_cross_entropy(logits: &Tensor, target: &Tensor) -> Tensor {
    -(target * logits.log_softmax(-1, Kind::Float))
        .sum_dim_intlist(1, false, Kind::Float)
        .mean(Kind::Float)
}

impl Loss {
    /// An error naming the parameter that is out of range.
    pub fn check(&self) -> anyhow::Result<()> {
        let share = |key: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "loss {}: {key} = {v}, a share from 0 to 1",
                    self.name()
                ))
            }
        };
        // Exponents and temperatures past 100 only overflow f32.
        let positive = |key: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v <= 100.0 {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "loss {}: {key} = {v} must be positive, at most 100",
                    self.name()
                ))
            }
        };
        match *self {
            Loss::Xent | Loss::Kl { .. } => Ok(()),
            Loss::Custom { .. } => custom(self).map(|_| ()),
            Loss::Logconf {
                aux_coef,
                warmup_frac,
                ..
            }
            | Loss::Entropy {
                aux_coef,
                warmup_frac,
                ..
            } => share("aux_coef", aux_coef).and(share("warmup_frac", warmup_frac)),
            Loss::Product { alpha, beta } => positive("alpha", alpha).and(positive("beta", beta)),
            Loss::Window { radius, .. } => {
                if radius > 0.0 && radius <= 0.5 {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!(
                        "loss window: radius = {radius}, from 0 (excluded) to 0.5"
                    ))
                }
            }
            Loss::Adaptive {
                temperature,
                warmup_frac,
            } => positive("temperature", temperature).and(share("warmup_frac", warmup_frac)),
        }
    }

    /// The mean loss of a minibatch, given its `target` from [`Loss::target`] (possibly
    /// computed over the whole batch) and its `labels`. Only a custom loss can fail (its
    /// function raised, or returned something other than a scalar).
    pub fn objective(
        &self,
        logits: &Tensor,
        target: &Tensor,
        labels: &Tensor,
        step_frac: f64,
    ) -> anyhow::Result<Tensor> {
        if let Loss::Custom { function, .. } = self {
            let value = custom(self)?(logits, labels, step_frac)?;
            if value.numel() != 1 {
                anyhow::bail!(
                    "loss `{function}` returned a tensor of shape {:?}; it must return a scalar",
                    value.size()
                );
            }
            // A value cut off from the logits (a new tensor, `.item()`, `.detach()`) has no
            // gradient: training could not go on, and libtorch would abort on backward.
            if logits.requires_grad() && !value.requires_grad() {
                anyhow::bail!(
                    "loss `{function}` returned a tensor that does not depend on `logits` (it has no gradient); compute it from `logits` with torch operations"
                );
            }
            return Ok(value.reshape([]).to_kind(Kind::Float));
        }
        let ce = soft_cross_entropy(logits, target);
        Ok(match *self {
            // The student's own entropy: CE(p, p) with the gradient flowing through both.
            Loss::Entropy {
                detached: false, ..
            } => {
                let logp = logits.log_softmax(-1, Kind::Float);
                let entropy = -(logp.exp() * &logp)
                    .sum_dim_intlist(1, false, Kind::Float)
                    .mean(Kind::Float);
                ce + entropy * self.aux_weight(step_frac)
            }
            // KL(labels || p) = CE(p, labels) - H(labels): same gradient, 0 at imitation.
            Loss::Kl { reverse: false } => {
                let labels = labels.to_kind(Kind::Float);
                let h = -(labels.clamp_min(LOG_FLOOR).log() * &labels)
                    .sum_dim_intlist(1, false, Kind::Float)
                    .mean(Kind::Float);
                ce - h
            }
            // KL(p || labels) = sum p (log p - log labels).
            Loss::Kl { reverse: true } => {
                let logp = logits.log_softmax(-1, Kind::Float);
                let logq = labels.to_kind(Kind::Float).clamp_min(LOG_FLOOR).log();
                (logp.exp() * (&logp - logq))
                    .sum_dim_intlist(1, false, Kind::Float)
                    .mean(Kind::Float)
            }
            _ => ce,
        })
    }
}

/// The loss value for a whole batch in one go.
pub fn loss_value(
    loss: &Loss,
    logits: &Tensor,
    labels: &Tensor,
    step_frac: f64,
) -> anyhow::Result<Tensor> {
    let target = loss.target(logits, labels, step_frac);
    loss.objective(logits, &target, labels, step_frac)
}

/// A custom loss's function: logits `[batch, 2]` (with gradient), soft labels `[batch, 2]`,
/// the share of training done; returns the minibatch's mean loss.
pub type LossFn = dyn Fn(&Tensor, &Tensor, f64) -> anyhow::Result<Tensor> + Send + Sync;

/// Custom losses registered in this process, by (function name, source).
type Registry = std::collections::HashMap<(String, String), std::sync::Arc<LossFn>>;
static CUSTOM: std::sync::Mutex<Option<Registry>> = std::sync::Mutex::new(None);

/// Make `f` usable as the loss named `function` whose text is `source`; the returned loss goes
/// into [`crate::options::TrainOptions`] like a built-in one. Registering the same name and
/// source again replaces the function (a notebook cell run twice).
pub fn register_custom(function: &str, source: &str, f: std::sync::Arc<LossFn>) -> Loss {
    let key = (function.to_owned(), source.to_owned());
    CUSTOM
        .lock()
        .unwrap()
        .get_or_insert_with(Default::default)
        .insert(key, f);
    Loss::Custom {
        function: function.to_owned(),
        source: source.to_owned(),
    }
}

/// The registered function of a custom loss.
fn custom(loss: &Loss) -> anyhow::Result<std::sync::Arc<LossFn>> {
    let Loss::Custom { function, source } = loss else {
        anyhow::bail!("loss {} is built in", loss.name());
    };
    let registry = CUSTOM.lock().unwrap();
    registry
        .as_ref()
        .and_then(|r| r.get(&(function.clone(), source.clone())))
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "loss `{function}` is a function given from Python (w2s.run(loss=...)), and this \
                 process has none of that name and text: run it from Python, in one process \
                 (sweeps and `w2s exec-run` start new ones)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A preset is what a table naming only its loss gives: its defaults are the table's.
    #[test]
    fn presets_are_the_tables_defaults() {
        for preset in Loss::presets() {
            let tag = serde_json::to_value(&preset).unwrap()["name"].clone();
            let table: Loss = serde_json::from_value(serde_json::json!({ "name": tag })).unwrap();
            let named = Loss::from_name(preset.name()).unwrap();
            assert_eq!(named, preset);
            // (`logconf_reference`, `entropy_eleuther` and `reverse_kl` are switches of their
            // variant: a table names them by the variant and the switch)
            if preset.name() == tag.as_str().unwrap() {
                assert_eq!(table, preset, "{tag}");
            }
        }
        assert!(Loss::from_name("nope")
            .unwrap_err()
            .to_string()
            .contains("xent, logconf"));
    }
    use proptest::prelude::*;

    fn t(rows: &[[f32; 2]]) -> Tensor {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_slice(&flat).view([rows.len() as i64, 2])
    }
    fn scalar(x: &Tensor) -> f64 {
        x.double_value(&[])
    }

    #[test]
    fn xent_matches_hand_computation() {
        // logits (0, ln 3): p = (1/4, 3/4); label (0.2, 0.8)
        let logits = t(&[[0.0, 3f32.ln()]]);
        let labels = t(&[[0.2, 0.8]]);
        let expected = -(0.2 * 0.25f64.ln() + 0.8 * 0.75f64.ln());
        let got = scalar(&loss_value(&Loss::Xent, &logits, &labels, 0.0).unwrap());
        assert!((got - expected).abs() < 1e-6);
    }

    #[test]
    fn logconf_matches_hand_computation() {
        // Four examples, labels have class-1 share 0.5, so the threshold is the median of
        // P(class 0) = (0.9, 0.6, 0.3, 0.2): linear quantile 0.5 -> 0.45. Hardened
        // predictions: class 0 for the first two, class 1 for the last two.
        let p0 = [0.9f64, 0.6, 0.3, 0.2];
        let logits: Vec<[f32; 2]> = p0
            .iter()
            .map(|p| [(p / (1.0 - p)).ln() as f32, 0.0])
            .collect();
        let labels = t(&[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]);
        let loss = Loss::from_name("logconf").unwrap();
        // step_frac 0.1 is halfway through the 0.2 warm-up: weight 0.25.
        let a = 0.25;
        let hard = [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]];
        let lab = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]];
        let mut expected = 0.0;
        for i in 0..4 {
            let p = [p0[i], 1.0 - p0[i]];
            for c in 0..2 {
                let target = (1.0 - a) * lab[i][c] + a * hard[i][c];
                expected -= target * p[c].ln();
            }
        }
        expected /= 4.0;
        let got = scalar(&loss_value(&loss, &t(&logits), &labels, 0.1).unwrap());
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    }

    #[test]
    fn warmup_schedules() {
        let fixed = Loss::from_name("logconf").unwrap();
        assert_eq!(fixed.aux_weight(0.0), 0.0);
        assert!((fixed.aux_weight(0.1) - 0.25).abs() < 1e-12);
        assert_eq!(fixed.aux_weight(0.2), 0.5);
        assert_eq!(fixed.aux_weight(0.9), 0.5);
        // openai/weak-to-strong `logconf_loss_fn(aux_coef=0.5, warmup_frac=0.1)`:
        // `coef = 1.0 if step_frac > 0.1 else step_frac; coef *= 0.5`, evaluated by hand.
        let reference = Loss::from_name("logconf_reference").unwrap();
        for (step_frac, coef) in [
            (0.0, 0.0),
            (0.05, 0.025),
            (0.1, 0.05),
            (0.100001, 0.5),
            (0.2, 0.5),
            (0.9, 0.5),
        ] {
            let got = reference.aux_weight(step_frac);
            assert!(
                (got - coef).abs() < 1e-12,
                "at {step_frac}: {got} vs {coef}"
            );
        }
    }

    #[test]
    fn product_matches_hand_computation() {
        // p = (0.25, 0.75), label = (0.5, 0.5): target = p itself; label (0.8, 0.2):
        // (0.2, 0.15) / 0.35.
        let logits = t(&[[0.0, 3f32.ln()], [0.0, 3f32.ln()]]);
        let labels = t(&[[0.5, 0.5], [0.8, 0.2]]);
        let target = Loss::from_name("product")
            .unwrap()
            .target(&logits, &labels, 0.0);
        let v = Vec::<f32>::try_from(target.view(-1)).unwrap();
        let expected = [0.25, 0.75, 0.2 / 0.35, 0.15 / 0.35];
        for (g, e) in v.iter().zip(expected) {
            assert!((g - e).abs() < 1e-6, "{v:?}");
        }
    }

    #[test]
    fn gradient_is_softmax_minus_target() {
        let logits = t(&[[0.3, -0.2], [1.0, 2.0]]).set_requires_grad(true);
        let labels = t(&[[0.7, 0.3], [0.1, 0.9]]);
        let loss = Loss::from_name("logconf").unwrap();
        let target = loss.target(&logits, &labels, 0.5);
        soft_cross_entropy(&logits, &target).backward();
        let expected = (logits.detach().softmax(-1, Kind::Float) - target) / 2.0;
        assert!(logits.grad().allclose(&expected, 1e-5, 1e-6, false));
    }

    /// p = (1/4, 3/4) for every row.
    fn quarter(n: usize) -> Tensor {
        t(&vec![[0.0, 3f32.ln()]; n])
    }

    #[test]
    fn entropy_matches_hand_computation() {
        // (1 - c) CE + c H(p) with c = 0.25 (halfway through the warm-up).
        let labels = t(&[[0.2, 0.8]]);
        let ce = -(0.2 * 0.25f64.ln() + 0.8 * 0.75f64.ln());
        let h = -(0.25 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
        let loss = Loss::from_name("entropy").unwrap();
        let got = scalar(&loss_value(&loss, &quarter(1), &labels, 0.1).unwrap());
        assert!((got - (0.75 * ce + 0.25 * h)).abs() < 1e-6, "{got}");
        // Gradient: (1 - c)(p - y) + c dH/dz, with dH/dz_i = -p_i (log p_i + H).
        let logits = quarter(1).set_requires_grad(true);
        loss_value(&loss, &logits, &labels, 0.1).unwrap().backward();
        let g = Vec::<f32>::try_from(logits.grad().view(-1)).unwrap();
        let p = [0.25f64, 0.75];
        let y = [0.2f64, 0.8];
        for i in 0..2 {
            let expected = 0.75 * (p[i] - y[i]) + 0.25 * (-p[i] * (p[i].ln() + h));
            assert!((g[i] as f64 - expected).abs() < 1e-6, "{g:?}");
        }
    }

    #[test]
    fn entropy_eleuther_has_a_detached_confidence_term() {
        // EleutherAI/w2s: target = (1 - c) y + c p with p detached, c = 0.25; value
        // CE(p, target) = (1 - c) CE(p, y) + c H(p), the same value as `entropy`...
        let labels = t(&[[0.2, 0.8]]);
        let ce = -(0.2 * 0.25f64.ln() + 0.8 * 0.75f64.ln());
        let h = -(0.25 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
        let loss = Loss::from_name("entropy_eleuther").unwrap();
        assert_eq!(loss.name(), "entropy_eleuther");
        let got = scalar(&loss_value(&loss, &quarter(1), &labels, 0.1).unwrap());
        assert!((got - (0.75 * ce + 0.25 * h)).abs() < 1e-6, "{got}");
        // ...but the gradient is p - target = (1 - c)(p - y): no entropy term.
        let logits = quarter(1).set_requires_grad(true);
        loss_value(&loss, &logits, &labels, 0.1).unwrap().backward();
        let g = Vec::<f32>::try_from(logits.grad().view(-1)).unwrap();
        for (i, (p, y)) in [(0.25f64, 0.2f64), (0.75, 0.8)].iter().enumerate() {
            assert!((g[i] as f64 - 0.75 * (p - y)).abs() < 1e-6, "{g:?}");
        }
    }

    #[test]
    fn window_keeps_only_uncertain_labels() {
        // Label P(1) = 0.4 is within 0.15 of 0.5, 0.1 is not; the mean is over both rows.
        let labels = t(&[[0.6, 0.4], [0.9, 0.1]]);
        let expected = -(0.6 * 0.25f64.ln() + 0.4 * 0.75f64.ln()) / 2.0;
        let got = scalar(
            &loss_value(
                &Loss::from_name("window").unwrap(),
                &quarter(2),
                &labels,
                0.0,
            )
            .unwrap(),
        );
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
        // On the student's confidence (P(1) = 0.75, outside the window): nothing to learn.
        let on_student = Loss::Window {
            radius: 0.15,
            on: WindowOn::Student,
        };
        assert_eq!(
            scalar(&loss_value(&on_student, &quarter(2), &labels, 0.0).unwrap()),
            0.0
        );
        let wide = Loss::Window {
            radius: 0.3,
            on: WindowOn::Student,
        };
        assert!(scalar(&loss_value(&wide, &quarter(2), &labels, 0.0).unwrap()) > 0.0);
    }

    #[test]
    fn kl_matches_hand_computation() {
        let labels = t(&[[0.2, 0.8]]);
        let forward = 0.2 * (0.2f64 / 0.25).ln() + 0.8 * (0.8f64 / 0.75).ln();
        let reverse = 0.25 * (0.25f64 / 0.2).ln() + 0.75 * (0.75f64 / 0.8).ln();
        let f = scalar(
            &loss_value(&Loss::from_name("kl").unwrap(), &quarter(1), &labels, 0.0).unwrap(),
        );
        let r = scalar(
            &loss_value(
                &Loss::from_name("reverse_kl").unwrap(),
                &quarter(1),
                &labels,
                0.0,
            )
            .unwrap(),
        );
        assert!((f - forward).abs() < 1e-6, "{f} vs {forward}");
        assert!((r - reverse).abs() < 1e-6, "{r} vs {reverse}");
        // Forward KL has xent's gradient.
        let a = quarter(1).set_requires_grad(true);
        loss_value(&Loss::from_name("kl").unwrap(), &a, &labels, 0.0)
            .unwrap()
            .backward();
        let b = quarter(1).set_requires_grad(true);
        loss_value(&Loss::Xent, &b, &labels, 0.0)
            .unwrap()
            .backward();
        assert!(a.grad().allclose(&b.grad(), 1e-6, 1e-7, false));
    }

    #[test]
    fn adaptive_matches_hand_computation() {
        // p = (0.25, 0.75), weak label (0.8, 0.2): the student's argmax is 1, the weak one 0.
        // CE_self = -ln 0.75, CE_weak = -ln 0.25, T = 0.5.
        let (ce_self, ce_weak) = (-(0.75f64.ln()), -(0.25f64.ln()));
        let b = (ce_self / 0.5).exp() / ((ce_self / 0.5).exp() + (ce_weak / 0.5).exp());
        let target = [(1.0 - b) * 0.8, (1.0 - b) * 0.2 + b];
        let expected = -(target[0] * 0.25f64.ln() + target[1] * 0.75f64.ln());
        let labels = t(&[[0.8, 0.2]]);
        let adaptive = Loss::from_name("adaptive").unwrap();
        let got = scalar(&loss_value(&adaptive, &quarter(1), &labels, 0.5).unwrap());
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
        // Halfway through the warm-up, b is halved; at the start, the target is the label.
        let half_b = (1.0 - b / 2.0) * 0.8;
        let v = Vec::<f32>::try_from(adaptive.target(&quarter(1), &labels, 0.1).view(-1)).unwrap();
        assert!((v[0] as f64 - half_b).abs() < 1e-6, "{v:?}");
        let v = Vec::<f32>::try_from(adaptive.target(&quarter(1), &labels, 0.0).view(-1)).unwrap();
        assert_eq!(v, [0.8, 0.2]);
        // Where student and supervisor agree, b = 1/2 and the target is (label + onehot) / 2.
        let agree = adaptive.target(&quarter(1), &t(&[[0.4, 0.6]]), 0.5);
        let v = Vec::<f32>::try_from(agree.view(-1)).unwrap();
        assert!(
            (v[0] - 0.2).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6,
            "{v:?}"
        );
    }

    fn arb_batch() -> impl Strategy<Value = (Vec<[f32; 2]>, Vec<f32>)> {
        (2usize..12).prop_flat_map(|n| {
            (
                prop::collection::vec(prop::array::uniform2(-5.0f32..5.0), n),
                prop::collection::vec(0.0f32..1.0, n),
            )
        })
    }

    proptest! {
        #[test]
        fn logconf_with_zero_coef_is_xent((logits, p1) in arb_batch(), frac in 0.0f64..1.0) {
            let labels: Vec<[f32; 2]> = p1.iter().map(|p| [1.0 - p, *p]).collect();
            let zero = Loss::Logconf { aux_coef: 0.0, warmup_frac: 0.2, warmup: Warmup::Linear };
            let a = scalar(&loss_value(&zero, &t(&logits), &t(&labels), frac).unwrap());
            let b = scalar(&loss_value(&Loss::Xent, &t(&logits), &t(&labels), frac).unwrap());
            prop_assert!((a - b).abs() < 1e-5);
        }

        #[test]
        fn targets_are_distributions((logits, p1) in arb_batch(), frac in 0.0f64..1.0) {
            let labels: Vec<[f32; 2]> = p1.iter().map(|p| [1.0 - p, *p]).collect();
            for name in Loss::names() {
                let loss = Loss::from_name(name).unwrap();
                let target = loss.target(&t(&logits), &t(&labels), frac);
                let sums = Vec::<f32>::try_from(target.sum_dim_intlist(1, false, Kind::Float)).unwrap();
                for (s, p) in sums.iter().zip(&p1) {
                    let expected = match name {
                        "entropy" => 1.0 - loss.aux_weight(frac),
                        "window" if (p - 0.5).abs() >= 0.15 => 0.0,
                        _ => 1.0,
                    };
                    prop_assert!((*s as f64 - expected).abs() < 1e-5, "{name}: {s} vs {expected}");
                }
                prop_assert!(target.min().double_value(&[]) >= 0.0, "{name}");
            }
        }

        #[test]
        fn losses_are_finite_and_kl_is_nonnegative((logits, p1) in arb_batch(), frac in 0.0f64..1.0) {
            let labels: Vec<[f32; 2]> = p1.iter().map(|p| [1.0 - p, *p]).collect();
            for name in Loss::names() {
                let v = scalar(&loss_value(&Loss::from_name(name).unwrap(), &t(&logits), &t(&labels), frac).unwrap());
                prop_assert!(v.is_finite(), "{name}: {v}");
                if name.ends_with("kl") {
                    prop_assert!(v >= -1e-5, "{name}: {v}");
                }
            }
        }

        #[test]
        fn logconf_hardening_keeps_label_balance((logits, _p) in arb_batch(), k in 0usize..12) {
            // Hard labels with k ones: the hardened predictions (weight 1, no warm-up) put
            // the same number in class 1, give or take one from the quantile's interpolation.
            let n = logits.len();
            let k = k.min(n);
            let labels: Vec<[f32; 2]> =
                (0..n).map(|i| if i < k { [0.0, 1.0] } else { [1.0, 0.0] }).collect();
            let full = Loss::Logconf { aux_coef: 1.0, warmup_frac: 0.0, warmup: Warmup::Linear };
            let target = full.target(&t(&logits), &t(&labels), 0.5);
            let p0 = Vec::<f32>::try_from(t(&logits).softmax(-1, Kind::Float).select(1, 0)).unwrap();
            let mut distinct = p0.clone();
            distinct.sort_by(f32::total_cmp);
            distinct.dedup();
            prop_assume!(distinct.len() == n, "ties between predictions make the count ambiguous");
            let ones = target.select(1, 1).sum(Kind::Float).double_value(&[]);
            prop_assert!((ones - k as f64).abs() <= 1.0 + 1e-9, "{ones} vs {k}");
        }
    }

    #[test]
    fn a_custom_loss_is_its_function_and_unregistered_is_an_error() {
        let logits = t(&[[0.3, -0.2], [1.0, 0.5]]);
        let labels = t(&[[0.2, 0.8], [0.9, 0.1]]);
        // A registered function is the objective, whatever the target.
        let doubled = register_custom(
            "doubled_xent",
            "2 * xent",
            std::sync::Arc::new(|l: &Tensor, y: &Tensor, _| Ok(soft_cross_entropy(l, y) * 2.0)),
        );
        assert_eq!(doubled.name(), "doubled_xent");
        let got = scalar(&loss_value(&doubled, &logits, &labels, 0.5).unwrap());
        let xent = scalar(&loss_value(&Loss::Xent, &logits, &labels, 0.5).unwrap());
        assert!((got - 2.0 * xent).abs() < 1e-6, "{got} vs 2 x {xent}");
        // Its error is the run's error; a non-scalar is refused.
        let failing = register_custom(
            "failing",
            "raise",
            std::sync::Arc::new(|_: &Tensor, _: &Tensor, _| anyhow::bail!("it raised")),
        );
        let err = loss_value(&failing, &logits, &labels, 0.0).unwrap_err();
        assert_eq!(err.to_string(), "it raised");
        let rows = register_custom(
            "per_row",
            "no mean",
            std::sync::Arc::new(|l: &Tensor, _: &Tensor, _| {
                Ok(l.sum_dim_intlist(1, false, Kind::Float))
            }),
        );
        let err = loss_value(&rows, &logits, &labels, 0.0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("per_row") && err.contains("scalar"), "{err}");
        // Same name, other source: not the registered function (a config naming an edited
        // function, or one from another process).
        let other = Loss::Custom {
            function: "doubled_xent".into(),
            source: "3 * xent".into(),
        };
        let err = other.check().unwrap_err().to_string();
        assert!(
            err.contains("doubled_xent") && err.contains("Python"),
            "{err}"
        );
        // Its source is part of its identity as a config value.
        let json = serde_json::to_value(&doubled).unwrap();
        assert_eq!(json["name"], "custom");
        assert_eq!(json["source"], "2 * xent");
    }
}
