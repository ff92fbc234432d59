//! Accuracy, agreement and performance gap recovered.

/// Predicted class of a probability pair (ties go to class 0, like argmax).
pub fn hard(p: &[f32; 2]) -> u8 {
    (p[1] > p[0]) as u8
}

/// 1 if `p` predicts `label`, 0 if it predicts the other class, and 0.5 for a tie (p equal):
/// a model that cannot tell the classes (a pair whose replies score the same) is guessing, so
/// it is neither right nor wrong. The reference's argmax counts a tie as class 0 (for a pair,
/// "b preferred"); w2s differs there, and only there.
pub fn score(p: &[f32; 2], label: u8) -> f64 {
    if p[0] == p[1] {
        0.5
    } else {
        (hard(p) == label) as u8 as f64
    }
}

/// Share of examples whose predicted class equals the label, a tie counting half ([`score`]).
pub fn accuracy(probs: &[[f32; 2]], labels: &[u8]) -> f64 {
    assert_eq!(probs.len(), labels.len());
    let right: f64 = probs.iter().zip(labels).map(|(p, &l)| score(p, l)).sum();
    right / probs.len() as f64
}

/// Accuracy as results of format 2 and before stored it: a tie counted as class 0 (argmax).
/// Only for checking those results ([`crate::experiment::stored`]).
pub fn accuracy_ties_as_class_0(probs: &[[f32; 2]], labels: &[u8]) -> f64 {
    let right = probs
        .iter()
        .zip(labels)
        .filter(|(p, &l)| hard(p) == l)
        .count();
    right as f64 / probs.len().max(1) as f64
}

/// Share of examples on which two models predict the same class.
pub fn agreement(a: &[[f32; 2]], b: &[[f32; 2]]) -> f64 {
    assert_eq!(a.len(), b.len());
    let same = a.iter().zip(b).filter(|(x, y)| hard(x) == hard(y)).count();
    same as f64 / a.len() as f64
}

/// Performance gap recovered: (student - weak) / (ceiling - weak). Undefined (None) unless
/// the strong ceiling beats the weak supervisor, as in the paper.
pub fn pgr(weak: f64, ceiling: f64, student: f64) -> Option<f64> {
    (ceiling > weak).then(|| (student - weak) / (ceiling - weak))
}

/// A value with its 95% bootstrap interval (resampling test examples).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    pub fn exact(value: f64) -> Interval {
        Interval {
            value,
            lo: value,
            hi: value,
        }
    }
}

/// Resamples of the test examples for every interval.
pub const RESAMPLES: usize = 1000;

/// Per test example: 1 if right, 0 if wrong, 0.5 for a tie ([`score`]), None where the run
/// dropped it.
pub fn correct(test: &[Option<[f32; 2]>], labels: &[u8]) -> Vec<Option<f64>> {
    test.iter()
        .zip(labels)
        .map(|(p, &l)| p.map(|p| score(&p, l)))
        .collect()
}

/// Mean of the present values at `idx` (all positions when `idx` is None).
pub fn mean_at(v: &[Option<f64>], idx: Option<&[usize]>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    let mut add = |x: &Option<f64>| {
        if let Some(x) = x {
            sum += x;
            n += 1;
        }
    };
    match idx {
        Some(idx) => idx.iter().for_each(|&i| add(&v[i])),
        None => v.iter().for_each(&mut add),
    }
    sum / n.max(1) as f64
}

/// One seed's weak and ceiling runs: right/wrong per test example ([`correct`]).
pub type GapSeed<'a> = (&'a [Option<f64>], &'a [Option<f64>]);

/// The one rule for "is there a gap to recover", used by `w2s run`, `w2s demo`, every report
/// rule, Python and the plots: ceiling minus weak accuracy, the mean over the `used` seeds, with
/// a 95% interval from resampling each seed's test examples (the same draw for its weak and
/// ceiling runs, ChaCha8-seeded, every seed drawn in order so the noise-aware report's PGR
/// intervals share the draws). A PGR is reported only where [`measurable`] says so.
pub fn measured_gap(seeds: &[GapSeed], used: &[bool]) -> Interval {
    use rand::{Rng, SeedableRng};
    let gap = |idx: &[Option<Vec<usize>>]| {
        let v: Vec<f64> = seeds
            .iter()
            .zip(idx)
            .zip(used)
            .filter(|x| *x.1)
            .map(|(((w, c), i), _)| mean_at(c, i.as_deref()) - mean_at(w, i.as_deref()))
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let value = gap(&vec![None; seeds.len()]);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let gaps: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let idx: Vec<Option<Vec<usize>>> = seeds
                .iter()
                .map(|(w, _)| Some((0..w.len()).map(|_| rng.gen_range(0..w.len())).collect()))
                .collect();
            gap(&idx)
        })
        .collect();
    let (lo, hi) = interval_95(gaps).unwrap_or((value, value));
    Interval { value, lo, hi }
}

/// Whether a gap is clearly above noise: its interval's low end is above zero.
pub fn measurable(gap: &Interval) -> bool {
    gap.lo > 0.0
}

/// "no measurable gap: ceiling - weak = +0.2 points [-1.5, +1.9]": why a PGR is not shown.
pub fn no_gap_reason(gap: &Interval) -> String {
    format!(
        "no measurable gap: ceiling - weak = {:+.1} points [{:+.1}, {:+.1}]",
        100.0 * gap.value,
        100.0 * gap.lo,
        100.0 * gap.hi
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_gap_is_measurable_only_when_clearly_above_noise() {
        // 1000 test examples: ceiling right on 80%, weak on 60% (paired): clearly a gap.
        let n = 1000;
        let weak: Vec<Option<f64>> = (0..n).map(|i| Some((i % 10 < 6) as u8 as f64)).collect();
        let ceiling: Vec<Option<f64>> = (0..n).map(|i| Some((i % 10 < 8) as u8 as f64)).collect();
        let g = measured_gap(&[(&weak, &ceiling)], &[true]);
        assert!((g.value - 0.2).abs() < 1e-12, "{g:?}");
        assert!(measurable(&g) && g.lo < 0.2 && g.hi > 0.2, "{g:?}");
        // A 0.1-point gap on 1000 examples is noise: the ceiling is right on two examples
        // the weak model gets wrong, and wrong on one it gets right.
        let ceiling: Vec<Option<f64>> = (0..n)
            .map(|i| {
                Some(if [0, 6, 7].contains(&i) {
                    1.0 - weak[i].unwrap()
                } else {
                    weak[i].unwrap()
                })
            })
            .collect();
        let g = measured_gap(&[(&weak, &ceiling)], &[true]);
        assert!((g.value - 0.001).abs() < 1e-12, "{g:?}");
        assert!(!measurable(&g), "{g:?}");
        assert!(no_gap_reason(&g).starts_with("no measurable gap: ceiling - weak = +0.1 points ["));
        // Seeds not used do not count; dropped examples (None) are left out of the means.
        let dropped = vec![None; n];
        let g = measured_gap(&[(&weak, &dropped), (&weak, &weak)], &[false, true]);
        assert_eq!(g, Interval::exact(0.0));
    }

    #[test]
    fn accuracy_and_agreement() {
        let p = [[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]];
        // By hand: right, right, and a tie counting half: 2.5 / 3.
        assert_eq!(accuracy(&p, &[0, 1, 1]), 2.5 / 3.0);
        assert_eq!(
            accuracy(&p, &[0, 1, 0]),
            2.5 / 3.0,
            "a tie is half whatever the label"
        );
        assert_eq!(accuracy_ties_as_class_0(&p, &[0, 1, 1]), 2.0 / 3.0);
        assert_eq!(accuracy_ties_as_class_0(&p, &[0, 1, 0]), 1.0);
        let test = [Some([0.5, 0.5]), None, Some([0.3, 0.7])];
        assert_eq!(correct(&test, &[1, 0, 0]), [Some(0.5), None, Some(0.0)]);
        assert_eq!(
            agreement(&p, &[[0.6, 0.4], [0.6, 0.4], [0.7, 0.3]]),
            2.0 / 3.0
        );
    }

    #[test]
    fn pgr_cases() {
        assert_eq!(pgr(0.5, 0.75, 0.625), Some(0.5));
        assert_eq!(pgr(0.5, 0.75, 0.375), Some(-0.5));
        assert_eq!(pgr(0.6, 0.9, 0.9), Some(1.0));
        assert_eq!(pgr(0.6, 0.9, 0.6), Some(0.0));
        assert_eq!(pgr(0.7, 0.7, 0.8), None);
        assert_eq!(pgr(0.8, 0.7, 0.8), None);
    }

    proptest! {
        #[test]
        fn pgr_is_affine_in_student(w in 0.0f64..1.0, gap in 0.01f64..1.0, s in 0.0f64..1.0) {
            let c = w + gap;
            let v = pgr(w, c, s).unwrap();
            prop_assert!((w + v * (c - w) - s).abs() < 1e-9);
            prop_assert_eq!(v > 0.0, s > w);
        }
    }
}

/// Mean and 95% percentile-bootstrap confidence interval of `values` (resampled with
/// replacement `resamples` times, ChaCha8 seeded so reports are reproducible).
pub fn bootstrap_ci(values: &[f64], resamples: usize, seed: u64) -> Option<(f64, f64, f64)> {
    use rand::{Rng, SeedableRng};
    if values.is_empty() {
        return None;
    }
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| values[rng.gen_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    let (lo, hi) = interval_95(means)?;
    Some((mean, lo, hi))
}

/// The 2.5% and 97.5% points of resampled values (nearest rank); None for none. The one
/// percentile routine: bootstrap intervals here and in the report use it.
pub fn interval_95(mut values: Vec<f64>) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let last = values.len() - 1;
    let at = |q: f64| values[((q * last as f64).round() as usize).min(last)];
    Some((at(0.025), at(0.975)))
}

/// Median (mean of the two middle values for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

#[cfg(test)]
mod ci_tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bootstrap_cases() {
        assert_eq!(
            bootstrap_ci(&[0.3, 0.3, 0.3], 1000, 0),
            Some((0.3, 0.3, 0.3))
        );
        assert_eq!(bootstrap_ci(&[], 1000, 0), None);
        // Two values: resampled means are 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4, so the
        // 2.5% and 97.5% points are the extremes.
        let (m, lo, hi) = bootstrap_ci(&[0.0, 1.0], 10_000, 1).unwrap();
        assert_eq!((m, lo, hi), (0.5, 0.0, 1.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    proptest! {
        #[test]
        fn interval_contains_mean_within_range(v in prop::collection::vec(-1.0f64..1.0, 1..8), seed in 0u64..100) {
            let (m, lo, hi) = bootstrap_ci(&v, 500, seed).unwrap();
            let (min, max) = v.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            prop_assert!(min - 1e-12 <= lo && lo <= hi && hi <= max + 1e-12);
            prop_assert!(lo <= m + 1e-12 && m <= hi + 1e-12 || v.len() <= 2);
        }
    }
}

/// Area under the ROC curve of P(class 1) against binary labels (Mann-Whitney U with
/// average ranks for ties). None when only one class is present.
pub fn auroc(probs: &[[f32; 2]], labels: &[u8]) -> Option<f64> {
    let mut scored: Vec<(f32, u8)> = probs
        .iter()
        .map(|p| p[1])
        .zip(labels.iter().copied())
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pos = labels.iter().filter(|&&l| l == 1).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < scored.len() {
        let mut j = i;
        while j < scored.len() && scored[j].0 == scored[i].0 {
            j += 1;
        }
        let avg_rank = (i + j + 1) as f64 / 2.0; // ranks i+1..=j
        rank_sum += avg_rank * scored[i..j].iter().filter(|s| s.1 == 1).count() as f64;
        i = j;
    }
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// Expected calibration error over `bins` equal-width bins of confidence (the predicted
/// class's probability).
pub fn ece(probs: &[[f32; 2]], labels: &[u8], bins: usize) -> f64 {
    let mut count = vec![0usize; bins];
    let mut conf = vec![0f64; bins];
    let mut right = vec![0f64; bins];
    for (p, &l) in probs.iter().zip(labels) {
        let c = p[0].max(p[1]) as f64;
        let b = ((c * bins as f64) as usize).min(bins - 1);
        count[b] += 1;
        conf[b] += c;
        right[b] += score(p, l);
    }
    let n = probs.len() as f64;
    (0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| (right[b] - conf[b]).abs() / n)
        .sum()
}

/// The paper's imitation analysis on test: of the supervisor's mistakes, the share the student
/// makes too (copied); of its correct answers, the share the student keeps.
pub fn imitation(
    student: &[[f32; 2]],
    supervisor: &[[f32; 2]],
    labels: &[u8],
) -> (Option<f64>, Option<f64>) {
    let (mut wrong, mut copied, mut right, mut kept) = (0usize, 0usize, 0usize, 0usize);
    for ((s, w), &l) in student.iter().zip(supervisor).zip(labels) {
        if hard(w) != l {
            wrong += 1;
            copied += (hard(s) == hard(w)) as usize;
        } else {
            right += 1;
            kept += (hard(s) == l) as usize;
        }
    }
    let share = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
    (share(copied, wrong), share(kept, right))
}

#[cfg(test)]
mod analysis_tests {
    use super::*;

    fn p(x: f32) -> [f32; 2] {
        [1.0 - x, x]
    }

    #[test]
    fn auroc_cases() {
        assert_eq!(
            auroc(&[p(0.9), p(0.8), p(0.2), p(0.1)], &[1, 1, 0, 0]),
            Some(1.0)
        );
        assert_eq!(
            auroc(&[p(0.1), p(0.2), p(0.8), p(0.9)], &[1, 1, 0, 0]),
            Some(0.0)
        );
        assert_eq!(auroc(&[p(0.5), p(0.5)], &[1, 0]), Some(0.5));
        // one inversion out of 2 x 2 pairs
        assert_eq!(
            auroc(&[p(0.9), p(0.3), p(0.4), p(0.1)], &[1, 1, 0, 0]),
            Some(0.75)
        );
        assert_eq!(auroc(&[p(0.9)], &[1]), None);
    }

    #[test]
    fn ece_cases() {
        // Confident and right: confidence 1.0, accuracy 1.0.
        assert!(ece(&[p(1.0), p(0.0)], &[1, 0], 10).abs() < 1e-9);
        // Always 0.8 confident, right half of the time: |0.5 - 0.8| = 0.3.
        let e = ece(&[p(0.8), p(0.8), p(0.8), p(0.8)], &[1, 1, 0, 0], 10);
        assert!((e - 0.3).abs() < 1e-6, "{e}");
    }

    #[test]
    fn imitation_cases() {
        // truth 1 1 0 0; supervisor right, wrong, right, wrong; student copies one of two
        // mistakes and keeps one of two right answers.
        let truth = [1, 1, 0, 0];
        let sup = [p(0.9), p(0.1), p(0.1), p(0.9)];
        let student = [p(0.9), p(0.2), p(0.9), p(0.1)];
        assert_eq!(imitation(&student, &sup, &truth), (Some(0.5), Some(0.5)));
    }
}

/// What the theory of weak-to-strong generalization measures of a student against its
/// supervisor, from their test predictions (both models' P(1) and the true labels); the
/// population quantities of the papers, estimated on the held-out test split.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Diagnostics {
    /// Misfit, squared: mean (p_student - p_supervisor)^2. Charikar, Pabbaraju & Shiragur
    /// (NeurIPS 2024, arXiv 2405.15116, Theorem 1): with a convex strong class that holds the
    /// target, gain_squared >= misfit_squared, and the two are close in their experiments.
    pub misfit_squared: f64,
    /// Gain, squared: the supervisor's Brier score minus the student's, mean (p_w - y)^2 -
    /// mean (p_s - y)^2.
    pub gain_squared: f64,
    /// Misfit, KL: mean KL(p_supervisor || p_student), the divergence that cross-entropy on
    /// soft weak labels minimises; the misfit of Mulgund & Pabbaraju (arXiv 2501.19105) for
    /// cross-entropy, a Bregman divergence.
    pub misfit_kl: f64,
    /// Gain, cross-entropy: the supervisor's mean -ln p(label) minus the student's.
    pub gain_xent: f64,
    /// The error decomposition, as shares of the test examples (a tie counts half, as in
    /// [`score`]): both wrong (the student copies the mistake), the supervisor wrong and the
    /// student right (corrects it), the supervisor right and the student wrong (a new
    /// mistake). student error = copied + new; supervisor error = copied + corrected; so the
    /// student's accuracy minus the supervisor's = corrected - new.
    pub copied: f64,
    pub corrected: f64,
    pub new_mistakes: f64,
}

/// Probabilities are clamped this far from 0 and 1 in logarithms (float32's resolution near 1).
const LOG_EPS: f64 = 1e-7;

fn ln_clamped(p: f64) -> f64 {
    p.clamp(LOG_EPS, 1.0 - LOG_EPS).ln()
}

/// [`Diagnostics`] of `student` against `supervisor` on examples with `labels`; None without
/// examples.
pub fn diagnostics(
    student: &[[f32; 2]],
    supervisor: &[[f32; 2]],
    labels: &[u8],
) -> Option<Diagnostics> {
    let n = labels.len();
    if n == 0 || student.len() != n || supervisor.len() != n {
        return None;
    }
    let mut d = Diagnostics::default();
    for ((s, w), &y) in student.iter().zip(supervisor).zip(labels) {
        let (ps, pw, y1) = (s[1] as f64, w[1] as f64, y as f64);
        d.misfit_squared += (ps - pw).powi(2);
        d.gain_squared += (pw - y1).powi(2) - (ps - y1).powi(2);
        d.misfit_kl += pw * (ln_clamped(pw) - ln_clamped(ps))
            + (1.0 - pw) * (ln_clamped(1.0 - pw) - ln_clamped(1.0 - ps));
        let ln_label = |p: f64| ln_clamped(if y == 1 { p } else { 1.0 - p });
        d.gain_xent += ln_label(ps) - ln_label(pw);
        let (rs, rw) = (score(s, y), score(w, y));
        d.copied += (1.0 - rw) * (1.0 - rs);
        d.corrected += (1.0 - rw) * rs;
        d.new_mistakes += rw * (1.0 - rs);
    }
    let n = n as f64;
    for v in [
        &mut d.misfit_squared,
        &mut d.gain_squared,
        &mut d.misfit_kl,
        &mut d.gain_xent,
        &mut d.copied,
        &mut d.corrected,
        &mut d.new_mistakes,
    ] {
        *v /= n;
    }
    Some(d)
}

/// Chance-adjusted probabilistic agreement (CAPA, kappa_p; Goel et al. 2025, "Great Models
/// Think Alike and this Undermines AI Oversight", arXiv 2502.04313), for two classes: observed
/// agreement c_obs = mean over examples of p_a(1) p_b(1) + p_a(0) p_b(0); chance agreement of
/// two independent models with their mean probabilities on the true class, q_a and q_b:
/// c_exp = q_a q_b + (1 - q_a)(1 - q_b); kappa_p = (c_obs - c_exp) / (1 - c_exp). 1 when the
/// two err alike beyond what their accuracies imply, 0 when independently. None without
/// examples or where c_exp = 1 (both always right).
pub fn capa(a: &[[f32; 2]], b: &[[f32; 2]], labels: &[u8]) -> Option<f64> {
    let n = labels.len();
    if n == 0 || a.len() != n || b.len() != n {
        return None;
    }
    let (mut obs, mut qa, mut qb) = (0.0, 0.0, 0.0);
    for ((x, z), &y) in a.iter().zip(b).zip(labels) {
        let (x1, z1) = (x[1] as f64, z[1] as f64);
        obs += x1 * z1 + (1.0 - x1) * (1.0 - z1);
        qa += if y == 1 { x1 } else { 1.0 - x1 };
        qb += if y == 1 { z1 } else { 1.0 - z1 };
    }
    let n = n as f64;
    let (obs, qa, qb) = (obs / n, qa / n, qb / n);
    let exp = qa * qb + (1.0 - qa) * (1.0 - qb);
    (exp < 1.0 - 1e-12).then(|| (obs - exp) / (1.0 - exp))
}

/// Pearson's correlation of paired values; None with fewer than 3 pairs or no spread.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    if n < 3 || y.len() != n {
        return None;
    }
    let (mx, my) = (
        x.iter().sum::<f64>() / n as f64,
        y.iter().sum::<f64>() / n as f64,
    );
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

#[cfg(test)]
mod theory_tests {
    use super::*;

    fn p(x: f32) -> [f32; 2] {
        [1.0 - x, x]
    }

    #[test]
    fn diagnostics_by_hand() {
        // Three examples, labels 1, 0, 1; supervisor P(1) .8, .6, .4; student .9, .2, .7.
        // misfit^2 = (.01 + .16 + .09) / 3 = .26 / 3.
        // Brier: supervisor (.04 + .36 + .36) / 3 = .76 / 3, student (.01 + .04 + .09) / 3 =
        // .14 / 3; gain^2 = .62 / 3.
        // Hard: supervisor right, wrong, wrong; student right, right, right: copied 0,
        // corrected 2/3, new 0.
        let d = diagnostics(
            &[p(0.9), p(0.2), p(0.7)],
            &[p(0.8), p(0.6), p(0.4)],
            &[1, 0, 1],
        )
        .unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        assert!(close(d.misfit_squared, 0.26 / 3.0), "{d:?}");
        assert!(close(d.gain_squared, 0.62 / 3.0), "{d:?}");
        assert!(
            close(d.copied, 0.0) && close(d.corrected, 2.0 / 3.0) && close(d.new_mistakes, 0.0)
        );
        // KL(.8 || .9) = .8 ln(.8/.9) + .2 ln(.2/.1), and so on; xent gain from -ln p(label).
        let kl = |w: f64, s: f64| w * (w / s).ln() + (1.0 - w) * ((1.0 - w) / (1.0 - s)).ln();
        assert!(close(
            d.misfit_kl,
            (kl(0.8, 0.9) + kl(0.6, 0.2) + kl(0.4, 0.7)) / 3.0
        ));
        let ce = |a: f64, b: f64, c: f64| -(a.ln() + b.ln() + c.ln()) / 3.0;
        assert!(close(d.gain_xent, ce(0.8, 0.4, 0.4) - ce(0.9, 0.8, 0.7)));
        // A student equal to its supervisor: no misfit, no gain, only copies and keeps.
        let same = diagnostics(&[p(0.8), p(0.3)], &[p(0.8), p(0.3)], &[0, 0]).unwrap();
        assert_eq!((same.misfit_squared, same.gain_squared), (0.0, 0.0));
        assert!(close(same.misfit_kl, 0.0) && close(same.copied, 0.5) && same.corrected == 0.0);
    }

    #[test]
    fn capa_by_hand() {
        // Labels 1, 1; a: .9, .6 (q_a = .75); b: .8, .2 (q_b = .5).
        // c_obs = (.72 + .02 + .12 + .32) / 2 = .59; c_exp = .375 + .125 = .5; kappa = .18.
        let k = capa(&[p(0.9), p(0.6)], &[p(0.8), p(0.2)], &[1, 1]).unwrap();
        assert!((k - 0.18).abs() < 1e-6, "{k}");
        // Two models that are always right and sure: no chance-free agreement to measure.
        assert_eq!(capa(&[p(1.0)], &[p(1.0)], &[1]), None);
        // Identical hard mistakes: kappa 1.
        let k = capa(&[p(1.0), p(0.0)], &[p(1.0), p(0.0)], &[1, 1]).unwrap();
        assert!((k - 1.0).abs() < 1e-9, "{k}");
    }

    #[test]
    fn pearson_by_hand() {
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(pearson(&[1.0, 2.0], &[1.0, 2.0]), None);
    }

    proptest::proptest! {
        #[test]
        fn decomposition_adds_up(xs in proptest::collection::vec((0.0f32..1.0, 0.0f32..1.0, 0u8..2), 1..40)) {
            let s: Vec<[f32; 2]> = xs.iter().map(|x| p(x.0)).collect();
            let w: Vec<[f32; 2]> = xs.iter().map(|x| p(x.1)).collect();
            let y: Vec<u8> = xs.iter().map(|x| x.2).collect();
            let d = diagnostics(&s, &w, &y).unwrap();
            // accuracy(student) - accuracy(supervisor) = corrected - new.
            let gain = accuracy(&s, &y) - accuracy(&w, &y);
            proptest::prop_assert!((gain - (d.corrected - d.new_mistakes)).abs() < 1e-9);
            proptest::prop_assert!((1.0 - accuracy(&w, &y) - d.copied - d.corrected).abs() < 1e-9);
            proptest::prop_assert!(d.misfit_squared >= 0.0 && d.misfit_kl >= -1e-9);
        }
    }
}
