//! openai/weak-to-strong's PGR, as its `notebooks/Plotting.ipynb` (cell 4) computes it, per
//! dataset:
//! 1. a model's baseline = the mean test accuracy over all its ground-truth runs on the dataset
//!    (every seed, whatever options those runs carry);
//! 2. one PGR per student run: (student - weak baseline) / (strong baseline - weak baseline);
//! 3. left out: weak model == strong model, and strong baseline <= weak baseline;
//! 4. per loss, the median over all remaining student runs (pairs and seeds pooled).
//!
//! Models are named as in the report's chains (the folder's last component), datasets by their
//! short name, as the notebook names them by `model_size` and `ds_name`. A test runs the
//! notebook's own pandas code on `runs.csv` and checks `report.json` against it.

use crate::experiment::RunResult;
use crate::model::short_name;
use std::collections::HashMap;

/// The dataset a run's row and baselines are filed under: the task's short name, marked
/// "(pairwise)" for a pairwise task so that reports say which kind of accuracy they show. One
/// function for rows and baselines, so a row always finds its own ground-truth runs.
pub fn dataset_label(r: &RunResult) -> String {
    match r.pairwise {
        true => format!("{} (pairwise)", r.spec.data.short_name()),
        false => r.spec.data.short_name(),
    }
}

/// Each model's baseline accuracy per dataset: the mean over its ground-truth runs.
#[derive(Debug, Default)]
pub struct Baselines(HashMap<(String, String), (f64, usize)>);

impl Baselines {
    pub fn new<'a>(runs: impl IntoIterator<Item = &'a RunResult>) -> Baselines {
        let mut b = Baselines::default();
        for r in runs.into_iter().filter(|r| r.spec.is_ground_truth()) {
            b.add(
                &dataset_label(r),
                &short_name(&r.spec.model),
                r.test_accuracy,
            );
        }
        b
    }

    /// Count one ground-truth run of `model` on `dataset`.
    pub fn add(&mut self, dataset: &str, model: &str, accuracy: f64) {
        let e = self
            .0
            .entry((dataset.to_owned(), model.to_owned()))
            .or_default();
        e.0 += accuracy;
        e.1 += 1;
    }

    /// The mean accuracy of `model`'s ground-truth runs on `dataset`, if it has any.
    pub fn get(&self, dataset: &str, model: &str) -> Option<f64> {
        self.0
            .get(&(dataset.to_owned(), model.to_owned()))
            .map(|(sum, n)| sum / *n as f64)
    }
}

/// One student run's PGR against the baselines (step 2), None where step 3 leaves it out.
pub fn run_pgr(
    weak_model: &str,
    strong_model: &str,
    weak_baseline: f64,
    strong_baseline: f64,
    student: f64,
) -> Option<f64> {
    if weak_model == strong_model {
        return None;
    }
    crate::metrics::pgr(weak_baseline, strong_baseline, student)
}

/// The rule on one pair's seeds (`w2s run`, `w2s demo`): the baselines are the mean weak and
/// ceiling accuracies over the seeds; returns each seed's PGR against them and their median.
pub fn seeds_pgr(
    weak: &[f64],
    ceiling: &[f64],
    students: &[f64],
) -> (Vec<Option<f64>>, Option<f64>) {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (w, c) = (mean(weak), mean(ceiling));
    let per_seed: Vec<Option<f64>> = students
        .iter()
        .map(|&s| crate::metrics::pgr(w, c, s))
        .collect();
    let kept: Vec<f64> = per_seed.iter().flatten().copied().collect();
    (per_seed, crate::metrics::median(&kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn one_pair_three_seeds_as_the_notebook() {
        // The first worked case: weak .60/.62/.64, ceiling .80/.70/.90, student
        // .70/.66/.80. Baselines .62 and .80; PGRs .08/.18, .04/.18, .18/.18.
        let (per_seed, median) = seeds_pgr(
            &[0.60, 0.62, 0.64],
            &[0.80, 0.70, 0.90],
            &[0.70, 0.66, 0.80],
        );
        assert!(close(per_seed[0], 0.08 / 0.18), "{per_seed:?}");
        assert!(close(per_seed[1], 0.04 / 0.18));
        assert!(close(per_seed[2], 1.0));
        assert!(close(median, 0.444_444_444_444_444_4), "{median:?}");
    }

    #[test]
    fn left_out_as_the_notebook() {
        assert_eq!(
            run_pgr("a", "a", 0.6, 0.8, 0.7),
            None,
            "weak model = strong model"
        );
        assert_eq!(run_pgr("a", "b", 0.8, 0.8, 0.9), None, "no gap");
        assert_eq!(run_pgr("a", "b", 0.8, 0.7, 0.9), None, "strong below weak");
        assert!(close(run_pgr("a", "b", 0.6, 0.8, 0.5), -0.5));
        let (per_seed, median) = seeds_pgr(&[0.7, 0.7], &[0.6, 0.6], &[0.8, 0.9]);
        assert_eq!((per_seed, median), (vec![None, None], None));
    }
}
