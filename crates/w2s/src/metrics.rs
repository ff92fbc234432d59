//! Accuracy, agreement and performance gap recovered.

/// Predicted class of a probability pair (ties go to class 0, like argmax).
pub fn hard(p: &[f32; 2]) -> u8 {
    (p[1] > p[0]) as u8
}

/// Share of examples whose predicted class equals the label.
pub fn accuracy(probs: &[[f32; 2]], labels: &[u8]) -> f64 {
    assert_eq!(probs.len(), labels.len());
    let right = probs
        .iter()
        .zip(labels)
        .filter(|(p, &l)| hard(p) == l)
        .count();
    right as f64 / probs.len() as f64
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

/// Per test example: 1 if right, 0 if wrong, None where the run dropped it.
pub fn correct(test: &[Option<[f32; 2]>], labels: &[u8]) -> Vec<Option<f64>> {
    test.iter()
        .zip(labels)
        .map(|(p, &l)| p.map(|p| (hard(&p) == l) as u8 as f64))
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
        assert_eq!(accuracy(&p, &[0, 1, 1]), 2.0 / 3.0);
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
        right[b] += (hard(p) == l) as u8 as f64;
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
