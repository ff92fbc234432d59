//! Stored runs grouped into rows: one per dataset, supervision chain (weak -> ... -> strong)
//! and method, over seeds; then the median PGR of each method. How seeds become a PGR is the
//! report's [`Aggregate`] rule: the reference's ([`super::reference`]) or one of the two
//! noise-aware rules, whose intervals resample each seed's test examples.

use super::intervals::interval_row;
use super::reference::{run_pgr, Baselines};
use super::row::{mean, pct, seed_values, why, Interval, Pgr, SeedRuns, SeedValues, SweepRow};
use super::{chain, Aggregate, ReportRun};
use crate::experiment::RunSpec;
use std::collections::{BTreeMap, HashMap};

use crate::metrics::{correct, measured_gap};

/// The mean of the seeds' diagnostics and CAPA, over the seeds that have them.
fn theory_means(seeds: &[SeedValues]) -> (Option<crate::metrics::Diagnostics>, Option<f64>) {
    use crate::metrics::Diagnostics;
    let d: Vec<&Diagnostics> = seeds
        .iter()
        .filter_map(|s| s.diagnostics.as_ref())
        .collect();
    let diagnostics = (!d.is_empty()).then(|| {
        let m = |f: fn(&Diagnostics) -> f64| mean(d.iter().map(|x| f(x)));
        Diagnostics {
            misfit_squared: m(|x| x.misfit_squared),
            gain_squared: m(|x| x.gain_squared),
            misfit_kl: m(|x| x.misfit_kl),
            gain_xent: m(|x| x.gain_xent),
            copied: m(|x| x.copied),
            corrected: m(|x| x.corrected),
            new_mistakes: m(|x| x.new_mistakes),
        }
    });
    let c: Vec<f64> = seeds.iter().filter_map(|s| s.capa).collect();
    (diagnostics, (!c.is_empty()).then(|| mean(c)))
}

/// What names a row, before its seeds are aggregated.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RowKey {
    dataset: String,
    /// The task's content, sizes and the student's options: rows never mix them.
    data_and_options: String,
    chain: Vec<String>,
    loss: String,
    sizes: (usize, usize),
    /// The label budget and the method without it.
    budget: (usize, String),
}

fn empty_row(key: RowKey, aggregate: Aggregate, strong_parameters: i64) -> SweepRow {
    SweepRow {
        dataset: key.dataset,
        n_docs: key.sizes.0,
        n_test_docs: key.sizes.1,
        chain: key.chain,
        loss: key.loss,
        aggregate,
        per_seed: Vec::new(),
        seeds: Vec::new(),
        weak: f64::NAN,
        ceiling: f64::NAN,
        student: f64::NAN,
        gap: Interval::exact(f64::NAN),
        pgr: None,
        agreement: f64::NAN,
        strong_parameters,
        left_out: Vec::new(),
        diagnostics: None,
        capa: None,
        oracle_labels: key.budget.0,
        method_without_budget: key.budget.1,
    }
}

/// The reference rule on one row: every run against the models' baselines.
fn reference_row(mut row: SweepRow, seeds: &[SeedRuns], baselines: &Baselines) -> SweepRow {
    let (weak_model, strong_model) = (row.chain[0].clone(), row.chain.last().unwrap().clone());
    row.student = mean(seeds.iter().map(|s| s.accuracy));
    row.agreement = mean(seeds.iter().map(|s| s.agreement));
    let name = row.name();
    let same = weak_model == strong_model;
    let (Some(wb), Some(sb)) = (
        baselines.get(&row.dataset, &weak_model),
        baselines.get(&row.dataset, &strong_model),
    ) else {
        for m in [&weak_model, &strong_model] {
            if baselines.get(&row.dataset, m).is_none() {
                row.left_out.push(format!(
                    "{name}: no ground-truth run of {m} on {} to take its baseline from",
                    row.dataset
                ));
            }
        }
        row.per_seed = seeds
            .iter()
            .map(|s| seed_values(s, same, Some(Err(why::NO_BASELINE))))
            .collect();
        return row;
    };
    row.weak = wb;
    row.ceiling = sb;
    // The notebook's rule has no interval; the gap's is measured over the seeds whose own
    // supervisor and ceiling are stored (the one rule of [`crate::metrics::measured_gap`]), so
    // the report can say where the notebook's PGR stands on noise.
    let pairs: Vec<crate::metrics::GapSeed> = seeds
        .iter()
        .filter_map(|s| Some((s.weak.as_deref()?, s.ceiling.as_deref()?)))
        .collect();
    row.gap = match pairs.is_empty() {
        true => Interval::exact(sb - wb),
        false => measured_gap(&pairs, &vec![true; pairs.len()]),
    };
    row.per_seed = seeds
        .iter()
        .map(|s| {
            let pgr = run_pgr(&weak_model, &strong_model, wb, sb, s.accuracy).ok_or(match same {
                true => why::SAME_MODEL,
                false => why::CEILING_NOT_ABOVE,
            });
            seed_values(s, same, Some(pgr))
        })
        .collect();
    row.seeds = row
        .per_seed
        .iter()
        .filter(|s| s.run_pgr.is_some())
        .map(|s| s.seed)
        .collect();
    let pgrs: Vec<f64> = row.per_seed.iter().filter_map(|s| s.run_pgr).collect();
    row.pgr = crate::metrics::median(&pgrs).map(|value| Pgr {
        value,
        interval: None,
    });
    if weak_model == strong_model {
        row.left_out.push(format!(
            "{name}: weak model = strong model (no gap by construction)"
        ));
    } else if sb <= wb {
        row.left_out.push(format!(
            "{name}: strong baseline {} <= weak baseline {}",
            pct(sb),
            pct(wb)
        ));
    }
    row
}

/// The task's content and sizes, which a row's runs share.
fn data_key(s: &RunSpec) -> String {
    format!(
        "{}/{}/{}",
        s.data.fingerprint, s.data.n_docs, s.data.n_test_docs
    )
}

/// Ground-truth runs by (task, seed, model fingerprint).
type GroundTruth<'a> = HashMap<(String, u64, String), &'a ReportRun>;

/// The row a student run belongs to, and its values there: right/wrong per test example for
/// it, its root supervisors (their mean predictions) and its ceiling, where stored.
fn seed_runs(
    r: &ReportRun,
    by_hash: &HashMap<&str, &ReportRun>,
    gt: &GroundTruth,
) -> (RowKey, SeedRuns) {
    let spec = &r.result.spec;
    let (chain, root) = chain(spec);
    let labels = &r.labels;
    // The weak baseline of the noise-aware rules: the root supervisors' mean predictions.
    let weak_probs: Option<Vec<Option<[f32; 2]>>> = root
        .supervisors()
        .map(|s| by_hash.get(s.hash().as_str()))
        .collect::<Option<Vec<_>>>()
        .map(|roots| {
            if roots.len() == 1 {
                roots[0].test.clone()
            } else {
                let all: Vec<&[Option<[f32; 2]>]> =
                    roots.iter().map(|x| x.test.as_slice()).collect();
                crate::labels::mean_labels(&all)
            }
        });
    let weak = weak_probs.as_ref().map(|p| correct(p, labels));
    let ceiling_spec = spec.ceiling();
    let ceiling_run = by_hash
        .get(ceiling_spec.hash().as_str())
        .copied()
        .or_else(|| {
            gt.get(&(data_key(spec), spec.seed, spec.model_fingerprint.clone()))
                .copied()
        });
    let ceiling = ceiling_run.map(|c| correct(&c.test, labels));
    let capa = weak_probs.as_ref().zip(ceiling_run).and_then(|(w, c)| {
        let (mut a, mut b, mut y) = (Vec::new(), Vec::new(), Vec::new());
        for ((x, z), &l) in w.iter().zip(&c.test).zip(labels) {
            if let (Some(x), Some(z)) = (x, z) {
                a.push(*x);
                b.push(*z);
                y.push(l);
            }
        }
        crate::metrics::capa(&a, &b, &y)
    });
    let options = crate::store::config_hash(&spec.train);
    let key = RowKey {
        // Reports and plots say which kind of task a row is.
        dataset: super::reference::dataset_label(&r.result),
        data_and_options: format!("{}{options}", data_key(spec)),
        chain,
        loss: spec.train.method(),
        sizes: (spec.data.n_docs, spec.data.n_test_docs),
        budget: (
            spec.train.oracle_labels.unwrap_or(0),
            spec.train.method_without_budget(),
        ),
    };
    (
        key,
        SeedRuns {
            seed: spec.seed,
            accuracy: r.result.test_accuracy,
            diagnostics: r.result.analysis.diagnostics,
            capa,
            weak,
            ceiling,
            student: correct(&r.test, labels),
            agreement: r.result.supervisor_agreement.unwrap_or(f64::NAN),
        },
    )
}

/// Group stored runs into rows: every student run, with its root supervisors and its ceiling
/// (same task, seed and model) where those are stored too.
pub(super) fn sweep_rows(runs: &[ReportRun], aggregate: Aggregate) -> Vec<SweepRow> {
    let by_hash: HashMap<&str, &ReportRun> =
        runs.iter().map(|r| (r.result.hash.as_str(), r)).collect();
    // Ground-truth runs by (task, seed, model): the ceiling of a student is the ground-truth
    // run of its own model (the one with the student's options, if there are several).
    let mut gt: GroundTruth = HashMap::new();
    for r in runs.iter().filter(|r| r.result.spec.is_ground_truth()) {
        let s = &r.result.spec;
        gt.insert((data_key(s), s.seed, s.model_fingerprint.clone()), r);
    }
    let mut groups: BTreeMap<RowKey, Vec<SeedRuns>> = BTreeMap::new();
    let mut sizes_of: HashMap<String, i64> = HashMap::new();
    for r in runs.iter().filter(|r| !r.result.spec.is_ground_truth()) {
        let (key, seed_runs) = seed_runs(r, &by_hash, &gt);
        sizes_of.insert(key.chain.last().unwrap().clone(), r.result.model.parameters);
        groups.entry(key).or_default().push(seed_runs);
    }
    let results: Vec<&crate::experiment::RunResult> = runs.iter().map(|r| &r.result).collect();
    let baselines = Baselines::new(results);
    let mut rows: Vec<SweepRow> = groups
        .into_iter()
        // Every row is kept, even where no seed has its supervisor and ceiling stored (a
        // noise-aware rule then has nothing to compute): the row and its left-out lines say
        // why, instead of the pair silently missing from the table.
        .map(|(key, mut seeds)| {
            seeds.sort_by_key(|s| s.seed);
            let params = sizes_of
                .get(key.chain.last().unwrap())
                .copied()
                .unwrap_or(0);
            let row = empty_row(key, aggregate, params);
            let mut row = match aggregate {
                Aggregate::Reference => reference_row(row, &seeds, &baselines),
                _ => interval_row(row, &seeds, aggregate),
            };
            (row.diagnostics, row.capa) = theory_means(&row.per_seed);
            row
        })
        .collect();
    // Within a dataset and chain, methods in name order (the grouping key is not).
    rows.sort_by(|a, b| (&a.dataset, &a.chain, &a.loss).cmp(&(&b.dataset, &b.chain, &b.loss)));
    rows
}

#[cfg(test)]
mod tests {
    use super::super::medians::{median_rows, DatasetMedian};
    use super::*;
    use crate::metrics::mean_at;

    /// `pattern` (1 right, 0 wrong) repeated `times` times.
    fn runs(pattern: &[u8], times: usize) -> Vec<Option<f64>> {
        (0..times)
            .flat_map(|_| pattern.iter().map(|&x| Some(x as f64)))
            .collect()
    }

    fn seed(seed: u64, weak: &[u8], ceiling: &[u8], student: &[u8], times: usize) -> SeedRuns {
        let student = runs(student, times);
        SeedRuns {
            seed,
            accuracy: mean_at(&student, None),
            diagnostics: None,
            capa: None,
            weak: Some(runs(weak, times)),
            ceiling: Some(runs(ceiling, times)),
            student,
            agreement: 0.0,
        }
    }

    /// Two seeds; on seed 1 the ceiling (50%) is below the weak model (75%).
    fn seeds(times: usize) -> Vec<SeedRuns> {
        vec![
            seed(0, &[1, 1, 0, 0], &[1, 1, 1, 1], &[1, 1, 1, 0], times),
            seed(1, &[1, 1, 1, 0], &[1, 1, 0, 0], &[1, 1, 1, 1], times),
        ]
    }

    fn key(chain: &[&str], loss: &str) -> RowKey {
        RowKey {
            dataset: "t".into(),
            data_and_options: String::new(),
            chain: chain.iter().map(|s| s.to_string()).collect(),
            loss: loss.into(),
            sizes: (8, 4),
            budget: (0, loss.into()),
        }
    }

    fn row(times: usize, aggregate: Aggregate) -> SweepRow {
        interval_row(
            empty_row(key(&["a", "b"], "xent"), aggregate, 1),
            &seeds(times),
            aggregate,
        )
    }

    #[test]
    fn pooled_averages_accuracies_then_takes_pgr() {
        // By hand: weak (0.50 + 0.75) / 2 = 0.625, ceiling (1.00 + 0.50) / 2 = 0.75,
        // student (0.75 + 1.00) / 2 = 0.875; PGR = (0.875 - 0.625) / (0.75 - 0.625) = 2.0.
        let r = row(50, Aggregate::Pooled);
        assert_eq!(r.seeds, [0, 1], "every seed");
        assert_eq!([r.weak, r.ceiling, r.student], [0.625, 0.75, 0.875]);
        assert!((r.gap.value - 0.125).abs() < 1e-12);
        // 200 examples per seed: the gap's interval stays above zero.
        assert!(
            r.gap.lo > 0.0 && r.gap.lo < 0.125 && r.gap.hi > 0.125,
            "{:?}",
            r.gap
        );
        let pgr = r.pgr.expect("a measurable gap");
        let (lo, hi) = pgr.interval.unwrap();
        assert!((pgr.value - 2.0).abs() < 1e-12 && lo < 2.0 && hi > 2.0);
        assert_eq!(r.per_seed[0].seed_pgr, Some(0.5));
        assert_eq!(r.per_seed[0].weak, Some(0.5));
        assert_eq!(r.per_seed[0].ceiling, Some(1.0));
        assert_eq!(r.per_seed[1].seed_pgr, None, "seed 1: ceiling below weak");
        assert_eq!(r.per_seed[1].no_pgr, Some(why::CEILING_NOT_ABOVE));
        assert!(
            r.per_seed.iter().all(|s| s.run_pgr.is_none()),
            "the reference's only"
        );
    }

    #[test]
    fn per_seed_leaves_out_seeds_whose_ceiling_is_below_weak() {
        // With no seed whose ceiling beats its weak model, the row still shows the accuracies.
        let mut both_below = seeds(50);
        both_below.remove(0);
        let agg = Aggregate::PerSeed;
        let r = interval_row(
            empty_row(key(&["a", "b"], "xent"), agg, 1),
            &both_below,
            agg,
        );
        assert!(r.seeds.is_empty() && r.pgr.is_none());
        assert_eq!([r.weak, r.ceiling, r.student], [0.75, 0.5, 1.0]);
        let r = row(50, Aggregate::PerSeed);
        assert_eq!(r.seeds, [0]);
        assert_eq!([r.weak, r.ceiling, r.student], [0.5, 1.0, 0.75]);
        assert_eq!(r.gap.value, 0.5);
        assert_eq!(r.pgr.unwrap().value, 0.5);
        assert!(
            r.left_out[0].contains("seed 1: ceiling 50.0 <= weak 75.0"),
            "{:?}",
            r.left_out
        );
    }

    #[test]
    fn a_gap_within_noise_shows_no_pgr_and_is_listed() {
        // Four examples per seed: the same accuracies, but the gap's interval reaches zero.
        let row = row(1, Aggregate::Pooled);
        assert_eq!([row.weak, row.ceiling, row.student], [0.625, 0.75, 0.875]);
        assert!(row.gap.lo <= 0.0, "{:?}", row.gap);
        assert!(row.pgr.is_none());
        assert!(
            row.left_out[0].contains("a -> b xent: no measurable gap"),
            "{:?}",
            row.left_out
        );
        let medians = median_rows(std::slice::from_ref(&row), Aggregate::Pooled);
        assert_eq!(
            medians[0].per_dataset,
            [DatasetMedian {
                dataset: "t".into(),
                pgr: None,
                count: 0,
                no_pgr: Some(why::ALL_LEFT_OUT),
            }]
        );
        assert_eq!(medians[0].across_datasets, None);
        let report = super::super::Report::from_rows(vec![row], Aggregate::Pooled);
        let text = super::super::sweep_table(&report);
        assert!(
            text.contains("left out") && text.contains("no measurable gap"),
            "{text}"
        );
    }

    /// A student run of the reference rule: only its accuracy counts.
    fn student(seed: u64, accuracy: f64) -> SeedRuns {
        SeedRuns {
            seed,
            accuracy,
            diagnostics: None,
            capa: None,
            weak: None,
            ceiling: None,
            student: Vec::new(),
            agreement: 0.0,
        }
    }

    #[test]
    fn reference_pools_every_student_run_of_a_dataset() {
        // The second worked case: baselines weak .6, middle .7, strong .8; students
        // weak->strong .62/.78 and middle->strong .73/.735. PGRs .1, .9, .3, .35: the
        // notebook's median is .325 (medians of pair means would give .4125).
        let mut b = Baselines::default();
        for (m, acc) in [("weak", 0.6), ("middle", 0.7), ("strong", 0.8)] {
            b.add("t", m, acc);
        }
        let agg = Aggregate::Reference;
        let rows: Vec<SweepRow> = [
            (["weak", "strong"], [0.62, 0.78]),
            (["middle", "strong"], [0.73, 0.735]),
        ]
        .iter()
        .map(|(chain, acc)| {
            let seeds = [student(0, acc[0]), student(1, acc[1])];
            reference_row(empty_row(key(chain, "xent"), agg, 1), &seeds, &b)
        })
        .collect();
        assert!(
            (rows[0].pgr.unwrap().value - 0.5).abs() < 1e-9,
            "median of .1 and .9"
        );
        let m = median_rows(&rows, agg);
        assert!(
            (m[0].per_dataset[0].pgr.unwrap() - 0.325).abs() < 1e-9,
            "{m:?}"
        );
        assert_eq!(m[0].per_dataset[0].count, 4);
        assert_eq!(
            m[0].across_datasets, None,
            "the notebook has no number across datasets"
        );
    }

    #[test]
    fn per_seed_values_have_one_meaning_under_every_rule() {
        // Seed 0 by hand: its own weak 0.50, ceiling 1.00, student 0.75, so seed_pgr 0.5;
        // against baselines weak 0.5, strong 0.8: run_pgr (0.75 - 0.5) / 0.3 = 0.8333.
        let mut b = Baselines::default();
        b.add("t", "a", 0.5);
        b.add("t", "b", 0.8);
        let agg = Aggregate::Reference;
        let r = reference_row(
            empty_row(key(&["a", "b"], "xent"), agg, 1),
            &seeds(1)[..1],
            &b,
        );
        let s = &r.per_seed[0];
        assert_eq!((s.weak, s.ceiling, s.student), (Some(0.5), Some(1.0), 0.75));
        assert_eq!(s.seed_pgr, Some(0.5));
        assert!((s.run_pgr.unwrap() - 0.25 / 0.3).abs() < 1e-12);
        assert_eq!(s.pgr(agg), s.run_pgr);
        assert_eq!(
            (r.weak, r.ceiling),
            (0.5, 0.8),
            "the row's are the baselines"
        );
        // The same seed under a noise-aware rule: the same own values, no run_pgr.
        let p = interval_row(
            empty_row(key(&["a", "b"], "xent"), Aggregate::Pooled, 1),
            &seeds(1)[..1],
            Aggregate::Pooled,
        );
        let q = &p.per_seed[0];
        assert_eq!(
            (q.weak, q.ceiling, q.seed_pgr, q.run_pgr),
            (Some(0.5), Some(1.0), Some(0.5), None)
        );
        // A seed whose supervisor is not stored is still listed, saying so.
        let mut lost = seeds(1);
        lost[1].weak = None;
        let p = interval_row(
            empty_row(key(&["a", "b"], "xent"), Aggregate::Pooled, 1),
            &lost,
            Aggregate::Pooled,
        );
        assert_eq!(p.per_seed.len(), 2);
        assert_eq!(
            (p.per_seed[1].weak, p.per_seed[1].no_pgr),
            (None, Some(why::NOT_STORED))
        );
        assert_eq!(p.seeds, [0]);
    }

    #[test]
    fn reference_leaves_out_what_the_notebook_leaves_out() {
        let mut b = Baselines::default();
        b.add("t", "a", 0.8);
        b.add("t", "b", 0.7);
        let agg = Aggregate::Reference;
        let below = reference_row(
            empty_row(key(&["a", "b"], "xent"), agg, 1),
            &[student(0, 0.9)],
            &b,
        );
        assert!(below.pgr.is_none() && below.seeds.is_empty());
        assert!(below.left_out[0].contains("strong baseline 70.0 <= weak baseline 80.0"));
        let same = reference_row(
            empty_row(key(&["a", "a"], "xent"), agg, 1),
            &[student(0, 0.9)],
            &b,
        );
        assert!(same.pgr.is_none() && same.left_out[0].contains("weak model = strong model"));
        let none = reference_row(
            empty_row(key(&["a+c", "b"], "xent"), agg, 1),
            &[student(0, 0.9)],
            &b,
        );
        assert!(
            none.left_out[0].contains("no ground-truth run of a+c"),
            "{:?}",
            none.left_out
        );
        let m = median_rows(&[below, same, none], agg);
        assert_eq!(m[0].per_dataset[0].count, 0);
    }
}
