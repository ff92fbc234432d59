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
//! Because the target is detached, the trainer can compute it from a no-grad pass over the
//! whole batch and then backpropagate minibatch by minibatch (see `train.rs`).

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
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Loss {
    Xent,
    Logconf {
        #[serde(default = "half")]
        aux_coef: f64,
        #[serde(default = "fifth")]
        warmup_frac: f64,
        #[serde(default)]
        warmup: Warmup,
    },
    Product {
        #[serde(default = "one")]
        alpha: f64,
        #[serde(default = "one")]
        beta: f64,
    },
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
    /// A loss by its short name, with default parameters.
    pub fn from_name(name: &str) -> anyhow::Result<Loss> {
        Ok(match name {
            "xent" => Loss::Xent,
            "logconf" => Loss::Logconf {
                aux_coef: 0.5,
                warmup_frac: 0.2,
                warmup: Warmup::Linear,
            },
            "logconf_reference" => Loss::Logconf {
                aux_coef: 0.5,
                warmup_frac: 0.2,
                warmup: Warmup::ReferenceJump,
            },
            "product" => Loss::Product {
                alpha: 1.0,
                beta: 1.0,
            },
            other => anyhow::bail!(
                "unknown loss `{other}`: use xent, logconf, logconf_reference or product"
            ),
        })
    }

    /// Short name for tables and folder names.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::Xent => "xent",
            Loss::Logconf {
                warmup: Warmup::ReferenceJump,
                ..
            } => "logconf_reference",
            Loss::Logconf { .. } => "logconf",
            Loss::Product { .. } => "product",
        }
    }

    /// Whether the target of one example depends on other examples of the batch.
    pub fn needs_whole_batch(&self) -> bool {
        matches!(self, Loss::Logconf { .. })
    }

    /// The weight of the student's own hardened predictions at `step_frac` in [0, 1).
    pub fn aux_weight(&self, step_frac: f64) -> f64 {
        match *self {
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

    /// The detached target `[batch, 2]` for `logits` and soft `labels` (rows sum to 1).
    pub fn target(&self, logits: &Tensor, labels: &Tensor, step_frac: f64) -> Tensor {
        let _guard = tch::no_grad_guard();
        let labels = labels.to_kind(Kind::Float);
        match *self {
            Loss::Xent => labels,
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

/// The loss value for a whole batch in one go.
pub fn loss_value(loss: &Loss, logits: &Tensor, labels: &Tensor, step_frac: f64) -> Tensor {
    soft_cross_entropy(logits, &loss.target(logits, labels, step_frac))
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let got = scalar(&loss_value(&Loss::Xent, &logits, &labels, 0.0));
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
        let got = scalar(&loss_value(&loss, &t(&logits), &labels, 0.1));
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    }

    #[test]
    fn warmup_schedules() {
        let fixed = Loss::from_name("logconf").unwrap();
        assert_eq!(fixed.aux_weight(0.0), 0.0);
        assert!((fixed.aux_weight(0.1) - 0.25).abs() < 1e-12);
        assert_eq!(fixed.aux_weight(0.2), 0.5);
        assert_eq!(fixed.aux_weight(0.9), 0.5);
        let reference = Loss::from_name("logconf_reference").unwrap();
        assert!((reference.aux_weight(0.2) - 0.1).abs() < 1e-12);
        assert_eq!(
            reference.aux_weight(0.21),
            0.5,
            "the reference jumps after warm-up"
        );
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
            let a = scalar(&loss_value(&zero, &t(&logits), &t(&labels), frac));
            let b = scalar(&loss_value(&Loss::Xent, &t(&logits), &t(&labels), frac));
            prop_assert!((a - b).abs() < 1e-5);
        }

        #[test]
        fn targets_are_distributions((logits, p1) in arb_batch(), frac in 0.0f64..1.0) {
            let labels: Vec<[f32; 2]> = p1.iter().map(|p| [1.0 - p, *p]).collect();
            for name in ["xent", "logconf", "logconf_reference", "product"] {
                let target = Loss::from_name(name).unwrap().target(&t(&logits), &t(&labels), frac);
                let sums = target.sum_dim_intlist(1, false, Kind::Float);
                prop_assert!(sums.allclose(&sums.ones_like(), 1e-5, 1e-5, false), "{name}");
                prop_assert!(target.min().double_value(&[]) >= 0.0, "{name}");
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
}
