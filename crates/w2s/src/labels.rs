//! Working on weak labels before a student sees them: combining several supervisors (their
//! mean, or RAVEN's mixture learned during training: [`LearnedMixture`]), and
//! cleaning them with probes on the student's own pretrained activations (EleutherAI/w2s's
//! `probe.py` and `topo.py`: a strong model's features often separate the classes better than
//! the weak labels do, so examples whose weak label disagrees with its neighbours are suspect).
//!
//! Two probes predict P(class 1) for every training example from the weak labels of the
//! others, so no example vouches for itself:
//! - `knn`: the mean weak P(1) of its `k` nearest neighbours (cosine similarity);
//! - `logreg`: L2-regularised logistic regression fitted to the weak soft labels, cross-fitted
//!   over two halves (each half is predicted by the probe fitted on the other);
//! - `knn_eleuther`: EleutherAI/w2s's own kNN (Euclidean, the example among its own `k` = 50
//!   neighbours, `KnnProbeConfig` at a929af0), which by default relabels every example with the probe, as their
//!   `probe_relabel` does (`knn_eleuther_filter` drops the 10% that disagree most).
//!
//! Then the `fraction` of examples where probe and weak label differ most are relabelled with
//! the probe's P(1) (`action = "relabel"`) or left out (`action = "filter"`).

use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, nn::OptimizerConfig, Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relabel {
    pub probe: Probe,
    /// Share of the training examples to relabel or drop.
    #[serde(default = "tenth", deserialize_with = "crate::finite::deserialize")]
    pub fraction: f64,
    #[serde(default)]
    pub action: Action,
}

impl Relabel {
    /// An error naming the parameter that is out of range.
    pub fn check(&self) -> anyhow::Result<()> {
        if !(0.0..=1.0).contains(&self.fraction) {
            anyhow::bail!("relabel: fraction = {}, a share from 0 to 1", self.fraction);
        }
        match self.probe {
            Probe::Knn { k } | Probe::KnnEleuther { k } if k == 0 => {
                anyhow::bail!("relabel: k = 0 neighbours")
            }
            Probe::Logreg { l2 } if !(l2.is_finite() && l2 >= 0.0) => {
                anyhow::bail!("relabel: l2 = {l2} must be a number of at least 0")
            }
            _ => Ok(()),
        }
    }
}

fn tenth() -> f64 {
    0.1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum Probe {
    Knn {
        #[serde(default = "twenty")]
        k: usize,
    },
    Logreg {
        #[serde(default = "l2", deserialize_with = "crate::finite::deserialize")]
        l2: f64,
    },
    /// EleutherAI/w2s's `KnnProbe`: Euclidean distance, the example itself among its
    /// neighbours (it is fitted and applied on the same activations).
    KnnEleuther {
        #[serde(default = "fifty")]
        k: usize,
    },
}

fn twenty() -> usize {
    20
}
/// `KnnProbeConfig.k` in EleutherAI/w2s `w2s/probe.py` at a929af0.
pub const ELEUTHER_KNN_K: usize = 50;
fn fifty() -> usize {
    ELEUTHER_KNN_K
}
fn l2() -> f64 {
    1e-3
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    #[default]
    Relabel,
    Filter,
}

impl Relabel {
    /// The named methods with their defaults (those a table naming only the probe gets): each
    /// probe relabelling, then each dropping (`_filter`). The one table that names,
    /// defaults and [`Relabel::from_name`] read.
    pub fn presets() -> [Relabel; 6] {
        let probes = [
            Probe::Knn { k: twenty() },
            Probe::Logreg { l2: l2() },
            Probe::KnnEleuther { k: fifty() },
        ];
        [Action::Relabel, Action::Filter]
            .map(|action| {
                probes.clone().map(|probe| Relabel {
                    // EleutherAI/w2s's relabelling replaces every label with the probe's.
                    fraction: match (&probe, action) {
                        (Probe::KnnEleuther { .. }, Action::Relabel) => 1.0,
                        _ => tenth(),
                    },
                    probe,
                    action,
                })
            })
            .concat()
            .try_into()
            .expect("two actions of three probes")
    }

    /// Every name [`Relabel::from_name`] knows.
    pub fn names() -> Vec<String> {
        Relabel::presets().iter().map(Relabel::name).collect()
    }

    /// A named method (`knn`, `logreg_filter`, ...) with its defaults.
    pub fn from_name(name: &str) -> anyhow::Result<Relabel> {
        Relabel::presets()
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "relabel = \"{name}\": use one of {} or a table",
                    Relabel::names().join(", ")
                )
            })
    }

    /// `knn`, `logreg`, `knn_filter`, ...: for method names.
    pub fn name(&self) -> String {
        let probe = match self.probe {
            Probe::Knn { .. } => "knn",
            Probe::Logreg { .. } => "logreg",
            Probe::KnnEleuther { .. } => "knn_eleuther",
        };
        match self.action {
            Action::Relabel => probe.to_owned(),
            Action::Filter => format!("{probe}_filter"),
        }
    }

    /// The probe's P(1) for each example of `features` `[n, d]` given weak `labels`.
    pub fn probe_labels(&self, features: &Tensor, labels: &[[f32; 2]], seed: u64) -> Vec<f32> {
        match self.probe {
            Probe::Knn { k } => knn(features, labels, k),
            Probe::Logreg { l2 } => logreg_cross_fitted(features, labels, l2, seed),
            Probe::KnnEleuther { k } => knn_euclidean_with_self(features, labels, k),
        }
    }

    /// The cleaned labels: `None` marks an example to leave out. Also returns how many
    /// examples were changed or dropped.
    pub fn apply(&self, labels: &[[f32; 2]], probe: &[f32]) -> (Vec<Option<[f32; 2]>>, usize) {
        let n = ((labels.len() as f64) * self.fraction).round() as usize;
        let mut order: Vec<usize> = (0..labels.len()).collect();
        // Largest disagreement first; ties keep the original order (stable sort).
        order.sort_by(|&a, &b| {
            let da = (labels[a][1] - probe[a]).abs();
            let db = (labels[b][1] - probe[b]).abs();
            db.total_cmp(&da)
        });
        let mut out: Vec<Option<[f32; 2]>> = labels.iter().copied().map(Some).collect();
        for &i in order.iter().take(n) {
            out[i] = match self.action {
                Action::Relabel => Some([1.0 - probe[i], probe[i]]),
                Action::Filter => None,
            };
        }
        (out, n.min(labels.len()))
    }
}

/// Mean weak P(1) over each example's `k` nearest neighbours by cosine similarity, itself
/// excluded.
pub fn knn(features: &Tensor, labels: &[[f32; 2]], k: usize) -> Vec<f32> {
    let _guard = tch::no_grad_guard();
    let n = labels.len() as i64;
    let k = (k as i64).clamp(1, (n - 1).max(1));
    let x = features.to_kind(Kind::Float);
    let x = &x / x.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12);
    let mut sim = x.matmul(&x.tr());
    let _ = sim.fill_diagonal_(f64::NEG_INFINITY, false);
    let idx = sim.topk(k, 1, true, true).1;
    neighbours_mean(&idx, labels)
}

/// The mean weak P(1) over each row of neighbour indices `idx` `[n, k]`.
fn neighbours_mean(idx: &Tensor, labels: &[[f32; 2]]) -> Vec<f32> {
    let (n, k) = idx.size2().expect("[n, k] indices");
    let p1 = Tensor::from_slice(&labels.iter().map(|l| l[1]).collect::<Vec<_>>())
        .to_device(idx.device());
    let mean = p1
        .index_select(0, &idx.view(-1))
        .view([n, k])
        .mean_dim(1, false, Kind::Float)
        .to_device(Device::Cpu);
    Vec::<f32>::try_from(mean).expect("f32 labels")
}

/// Mean weak P(1) over each example's `k` nearest neighbours by Euclidean distance, itself
/// included (EleutherAI/w2s `probe.py`'s `KnnProbe`).
pub fn knn_euclidean_with_self(features: &Tensor, labels: &[[f32; 2]], k: usize) -> Vec<f32> {
    let _guard = tch::no_grad_guard();
    let n = labels.len() as i64;
    let k = (k as i64).clamp(1, n.max(1));
    let x = features.to_kind(Kind::Float);
    let dist = Tensor::cdist(&x, &x, 2.0, None::<i64>);
    let idx = dist.topk(k, 1, false, true).1;
    neighbours_mean(&idx, labels)
}

/// Logistic regression of the soft weak labels on standardised features, fitted on one half
/// and applied to the other, both ways.
pub fn logreg_cross_fitted(features: &Tensor, labels: &[[f32; 2]], l2: f64, seed: u64) -> Vec<f32> {
    let n = labels.len();
    let x = features.to_kind(Kind::Float).to_device(Device::Cpu);
    let mean = x.mean_dim(0, true, Kind::Float);
    let std = x.std_dim(0, false, true).clamp_min(1e-6);
    let x = (x - mean) / std;
    // Halves by a seeded permutation, so that neither half is biased by the split's order.
    let mut order: Vec<usize> = (0..n).collect();
    {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed));
    }
    let (a, b) = order.split_at(n / 2);
    let mut out = vec![0.5f32; n];
    for (fit, apply) in [(a, b), (b, a)] {
        if fit.is_empty() || apply.is_empty() {
            continue;
        }
        let rows = |idx: &[usize]| {
            let i: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
            x.index_select(0, &Tensor::from_slice(&i))
        };
        let targets: Vec<f32> = fit.iter().map(|&i| labels[i][1]).collect();
        let w = fit_logreg(&rows(fit), &Tensor::from_slice(&targets), l2);
        let p = tch::no_grad(|| w.forward(&rows(apply)).sigmoid().view(-1));
        for (&i, v) in apply.iter().zip(Vec::<f32>::try_from(p).expect("f32")) {
            out[i] = v;
        }
    }
    out
}

/// Full-batch Adam on the mean binary cross-entropy against soft targets plus `l2 |w|^2`.
fn fit_logreg(x: &Tensor, y: &Tensor, l2: f64) -> nn::Linear {
    let vs = nn::VarStore::new(Device::Cpu);
    let d = x.size()[1];
    let lin = nn::linear(
        vs.root(),
        d,
        1,
        nn::LinearConfig {
            ws_init: nn::Init::Const(0.0),
            ..Default::default()
        },
    );
    // Adam with a decaying step converges on this convex problem in a few hundred steps.
    let mut opt = nn::Adam::default().build(&vs, 0.1).expect("optimizer");
    for step in 0..300 {
        opt.set_lr(0.1 / (1.0 + step as f64 / 50.0));
        let logits = lin.forward(x).view(-1);
        let loss =
            logits.binary_cross_entropy_with_logits::<Tensor>(y, None, None, tch::Reduction::Mean)
                + lin.ws.square().sum(Kind::Float) * l2;
        opt.backward_step(&loss);
    }
    lin
}

/// The mean of several supervisors' soft labels; `None` where any of them has none.
pub fn mean_labels(sets: &[&[Option<[f32; 2]>]]) -> Vec<Option<[f32; 2]>> {
    let n = sets.first().map_or(0, |s| s.len());
    (0..n)
        .map(|i| {
            let mut sum = [0f32; 2];
            for s in sets {
                let p = s.get(i).copied().flatten()?;
                sum[0] += p[0];
                sum[1] += p[1];
            }
            let k = sets.len() as f32;
            Some([sum[0] / k, sum[1] / k])
        })
        .collect()
}

/// RAVEN's learned mixture of supervisors ([`LearnedWeights`]): the labels of
/// a batch are `softmax(sum_k w_k log p_k)` (mlbio-epfl/raven's `Ensemble.forward`, which
/// mixes the supervisors' logits; for two classes `log p` is a logit), with `w` on the simplex.
/// The student's loss reaches `w` through the labels; [`LearnedMixture::step`] moves it.
pub struct LearnedMixture {
    /// `[n, K, 2]`: each training example's log-probabilities under each supervisor.
    log_probs: Tensor,
    /// `[K]`, on the simplex.
    weights: Tensor,
    lr: f64,
    freeze_frac: f64,
}

/// Below this a weight is clamped, so a supervisor can come back (RAVEN's `clamp(min=1e-6)`).
const WEIGHT_FLOOR: f64 = 1e-6;
/// Keeps `log p` finite for a supervisor that is certain.
const PROB_FLOOR: f64 = 1e-6;

impl LearnedMixture {
    /// `each[k][i]`: supervisor `k`'s soft label of training example `i`; uniform weights.
    pub fn new(each: &[Vec<[f32; 2]>], options: &LearnedWeights, device: Device) -> Self {
        let k = each.len();
        let n = each.first().map_or(0, Vec::len);
        let flat: Vec<f32> = (0..n)
            .flat_map(|i| each.iter().flat_map(move |s| s[i]))
            .collect();
        let log_probs = Tensor::from_slice(&flat)
            .view([n as i64, k as i64, 2])
            .clamp_min(PROB_FLOOR)
            .log()
            .to_device(device);
        LearnedMixture {
            log_probs,
            weights: Tensor::full([k as i64], 1.0 / k as f64, (Kind::Float, device))
                .set_requires_grad(true),
            lr: options.lr,
            freeze_frac: options.freeze_frac,
        }
    }

    /// Training examples.
    pub fn len(&self) -> usize {
        self.log_probs.size()[0] as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the weights move at this point of training (`frac` = steps done / steps).
    pub fn learning(&self, frac: f64) -> bool {
        frac >= self.freeze_frac
    }

    /// The labels `[rows, 2]` of training examples `rows`; they carry the weights' gradient
    /// while `learning`.
    pub fn labels(&self, rows: &[usize], learning: bool) -> Tensor {
        let index = Tensor::from_slice(&rows.iter().map(|&i| i as i64).collect::<Vec<_>>())
            .to_device(self.log_probs.device());
        let mixed = |w: &Tensor| {
            (self.log_probs.index_select(0, &index) * w.view([1, -1, 1]))
                .sum_dim_intlist(1, false, Kind::Float)
                .softmax(-1, Kind::Float)
        };
        if learning {
            mixed(&self.weights)
        } else {
            tch::no_grad(|| mixed(&self.weights))
        }
    }

    /// One step of gradient descent on the weights with the gradient the step's backward
    /// passes left, then back onto the simplex.
    pub fn step(&mut self) {
        let grad = self.weights.grad();
        if !grad.defined() {
            return;
        }
        tch::no_grad(|| {
            let moved = (&self.weights - grad * self.lr).clamp_min(WEIGHT_FLOOR);
            let normalised = &moved / moved.sum(Kind::Float);
            self.weights.copy_(&normalised);
        });
        self.weights.zero_grad();
    }

    /// The weights now, one per supervisor.
    pub fn weights(&self) -> Vec<f64> {
        Vec::<f64>::try_from(
            self.weights
                .detach()
                .to_kind(Kind::Double)
                .to_device(Device::Cpu),
        )
        .expect("weights are a vector")
    }
}

/// RAVEN's adaptive weighting (Jeon, Sobotka, Choi, Brbic, "Weak-to-Strong Generalization under
/// Distribution Shifts", NeurIPS 2025, arXiv 2510.21332; mlbio-epfl/raven's `Ensemble`): the
/// student's labels are `softmax(sum_k w_k log p_k)` over the supervisors' soft predictions
/// `p_k`, with `w` on the simplex, uniform at first, frozen for the first `freeze_frac` of
/// training, then moved by plain gradient descent on the student's own loss (rate `lr`) and
/// put back on the simplex (clamped at 1e-6, renormalised) after every step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnedWeights {
    #[serde(
        default = "weights_lr",
        deserialize_with = "crate::finite::deserialize"
    )]
    pub lr: f64,
    #[serde(default = "half", deserialize_with = "crate::finite::deserialize")]
    pub freeze_frac: f64,
}

/// RAVEN's configurations set the rate per experiment; w2s's default moves the weights by
/// about one unit over a demo-sized run.
fn weights_lr() -> f64 {
    0.1
}
/// RAVEN's `ensemble_weights_freeze_first_frac_of_epochs` in its configurations.
fn half() -> f64 {
    0.5
}

impl Default for LearnedWeights {
    fn default() -> Self {
        LearnedWeights {
            lr: weights_lr(),
            freeze_frac: half(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand: two supervisors, weights 1/2 each; example 0 has p1 = 0.9 and 0.5, so its
    /// label is softmax(0.5 log[0.1, 0.9] + 0.5 log[0.5, 0.5]) = sqrt(.05), sqrt(.45)
    /// renormalised = [0.25, 0.75]. A gradient that favours the first supervisor moves its
    /// weight up, and the weights stay on the simplex.
    #[test]
    fn the_learned_mixture_by_hand() {
        let each = vec![vec![[0.1, 0.9], [0.8, 0.2]], vec![[0.5, 0.5], [0.5, 0.5]]];
        let options = LearnedWeights {
            lr: 1.0,
            freeze_frac: 0.5,
        };
        let mut m = LearnedMixture::new(&each, &options, Device::Cpu);
        let l = Vec::<f32>::try_from(m.labels(&[0], false).view([-1])).unwrap();
        assert!(
            (l[0] - 0.25).abs() < 1e-5 && (l[1] - 0.75).abs() < 1e-5,
            "{l:?}"
        );
        assert!(!m.learning(0.4) && m.learning(0.5));
        // Cross-entropy against a student sure of class 1 on example 0: lower when the label
        // is surer of class 1, which the first supervisor is.
        let labels = m.labels(&[0], true);
        let loss = -(labels.select(1, 1) * 0.999f64.ln() + labels.select(1, 0) * 0.001f64.ln())
            .sum(Kind::Float);
        loss.backward();
        m.step();
        let w = m.weights();
        assert!(w[0] > 0.5 && w[1] < 0.5, "{w:?}");
        assert!((w[0] + w[1] - 1.0).abs() < 1e-6, "{w:?}");
        // Frozen labels carry no gradient and a step without one changes nothing.
        let _ = m.labels(&[1], false);
        m.step();
        assert_eq!(m.weights(), w);
    }

    /// Two clusters along the first axis; the weak labels of cluster 1 are right except
    /// for two flipped examples.
    fn clusters() -> (Tensor, Vec<[f32; 2]>, Vec<u8>) {
        let mut feats = Vec::new();
        let mut truth = Vec::new();
        for i in 0..40 {
            let c = (i % 2) as f32;
            feats.extend([
                2.0 * c - 1.0 + 0.01 * i as f32,
                0.3 * ((i * 7 % 5) as f32 - 2.0),
            ]);
            truth.push(c as u8);
        }
        let mut labels: Vec<[f32; 2]> = truth
            .iter()
            .map(|&t| if t == 1 { [0.2, 0.8] } else { [0.8, 0.2] })
            .collect();
        labels[3] = [0.9, 0.1]; // a class-1 example labelled 0
        labels[4] = [0.1, 0.9]; // a class-0 example labelled 1
        (Tensor::from_slice(&feats).view([40, 2]), labels, truth)
    }

    #[test]
    fn knn_averages_neighbours_excluding_self() {
        // Points on a line; labels 1 only for the first point: its neighbours see it, it
        // does not see itself.
        let f = Tensor::from_slice(&[1.0f32, 0.0, 0.9, 0.1, 0.0, 1.0, 0.1, 0.9]).view([4, 2]);
        let labels = [[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]];
        let p = knn(&f, &labels, 1);
        assert_eq!(p, vec![0.0, 1.0, 0.0, 0.0]);
        let p2 = knn(&f, &labels, 2);
        assert_eq!(p2[0], 0.0);
        assert_eq!(p2[1], 0.5);
    }

    #[test]
    fn eleuther_knn_counts_the_example_itself_by_euclidean_distance() {
        // Points 0, 1, 5, 6 on a line; only the first is labelled 1. With k = 1 each point
        // is its own nearest neighbour; with k = 2 point 0 averages itself and point 1.
        let f = Tensor::from_slice(&[0.0f32, 1.0, 5.0, 6.0]).view([4, 1]);
        let labels = [[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]];
        assert_eq!(
            knn_euclidean_with_self(&f, &labels, 1),
            vec![1.0, 0.0, 0.0, 0.0]
        );
        assert_eq!(
            knn_euclidean_with_self(&f, &labels, 2),
            vec![0.5, 0.5, 0.0, 0.0]
        );
        // Relabelling by name replaces every label, as EleutherAI/w2s does.
        let r = crate::config::RelabelField::Name("knn_eleuther".into())
            .resolve()
            .unwrap();
        assert_eq!((r.name().as_str(), r.fraction), ("knn_eleuther", 1.0));
        // Every name the command line offers parses, and names itself back.
        for name in Relabel::names() {
            let r = crate::config::RelabelField::Name(name.clone())
                .resolve()
                .unwrap();
            assert_eq!(r.name(), name);
        }
    }

    #[test]
    fn probes_find_and_fix_the_flipped_labels() {
        let (f, labels, truth) = clusters();
        for probe in [Probe::Knn { k: 5 }, Probe::Logreg { l2: 1e-3 }] {
            let r = Relabel {
                probe: probe.clone(),
                fraction: 0.05,
                action: Action::Relabel,
            };
            let p = r.probe_labels(&f, &labels, 0);
            let (fixed, changed) = r.apply(&labels, &p);
            assert_eq!(changed, 2);
            for i in [3, 4] {
                let l = fixed[i].unwrap();
                assert_eq!((l[1] > 0.5) as u8, truth[i], "{probe:?} example {i}: {l:?}");
            }
            let filter = Relabel {
                action: Action::Filter,
                ..r
            };
            let (kept, dropped) = filter.apply(&labels, &p);
            assert_eq!(dropped, 2);
            assert!(kept[3].is_none() && kept[4].is_none(), "{probe:?}");
            assert_eq!(kept.iter().flatten().count(), 38);
        }
    }

    #[test]
    fn mean_of_supervisors() {
        let a = [Some([0.2, 0.8]), Some([1.0, 0.0]), None];
        let b = [Some([0.6, 0.4]), Some([0.0, 1.0]), Some([0.5, 0.5])];
        let m = mean_labels(&[&a, &b]);
        assert_eq!(m[0], Some([0.4, 0.6]));
        assert_eq!(m[1], Some([0.5, 0.5]));
        assert_eq!(m[2], None);
    }
}
