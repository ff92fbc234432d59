//! What the results say: the per-seed table of `w2s demo` and `w2s run`, and for a results
//! folder the sweep report (rows per supervision chain and method, PGR aggregated over seeds
//! with intervals from resampling test examples, medians), as text, HTML, CSV and Parquet.

use crate::experiment::{Outcome, RunResult, RunSpec};
use crate::model::short_name;

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

fn pgr_cell(p: Option<f64>) -> String {
    p.map(|v| format!("{v:+.2}"))
        .unwrap_or_else(|| "n/a".into())
}

/// One row per seed plus the mean: weak, ceiling, and each student's accuracy and PGR.
pub fn outcome_table(outcomes: &[Outcome]) -> String {
    let Some(first) = outcomes.first() else {
        return String::new();
    };
    let mut header = vec!["seed".to_owned(), "weak".into(), "ceiling".into()];
    for s in &first.students {
        header.push(format!("{} acc", s.loss));
        header.push(format!("{} PGR", s.loss));
    }
    let mut rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            let mut r = vec![o.seed.to_string(), pct(o.weak), pct(o.ceiling)];
            for s in &o.students {
                r.push(pct(s.accuracy));
                r.push(pgr_cell(s.pgr));
            }
            r
        })
        .collect();
    if outcomes.len() > 1 {
        let n = outcomes.len() as f64;
        let mean = |f: &dyn Fn(&Outcome) -> f64| outcomes.iter().map(f).sum::<f64>() / n;
        let mut r = vec![
            "mean".to_owned(),
            pct(mean(&|o| o.weak)),
            pct(mean(&|o| o.ceiling)),
        ];
        for (k, _) in first.students.iter().enumerate() {
            r.push(pct(mean(&|o| o.students[k].accuracy)));
            let pgrs: Vec<f64> = outcomes.iter().filter_map(|o| o.students[k].pgr).collect();
            r.push(pgr_cell(
                (!pgrs.is_empty()).then(|| pgrs.iter().sum::<f64>() / pgrs.len() as f64),
            ));
        }
        rows.push(r);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([header[c].len()])
                .max()
                .unwrap()
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = line(&header) + "\n";
    out += &"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1));
    out += "\n";
    for r in &rows {
        out += &line(r);
        out += "\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::StudentOutcome;

    #[test]
    fn table_has_rows_and_mean() {
        let o = |seed, s| Outcome {
            seed,
            weak: 0.6,
            ceiling: 0.9,
            students: vec![StudentOutcome {
                loss: "xent".into(),
                accuracy: s,
                pgr: crate::metrics::pgr(0.6, 0.9, s),
                agreement: None,
            }],
        };
        let t = outcome_table(&[o(0, 0.75), o(1, 0.84)]);
        assert!(t.contains("xent PGR"));
        assert!(
            t.contains("+0.50") && t.contains("+0.80") && t.contains("+0.65"),
            "{t}"
        );
        assert_eq!(t.lines().count(), 5);
    }
}

/// A stored run as the report reads it: its result, and its test predictions with the true
/// labels (what the bootstrap over test examples resamples).
#[derive(Debug, Clone)]
pub struct ReportRun {
    pub result: RunResult,
    pub test: Vec<Option<[f32; 2]>>,
    pub labels: Vec<u8>,
}

/// Every complete run under `results`, with its test predictions.
pub fn load_runs(results: &std::path::Path) -> anyhow::Result<Vec<ReportRun>> {
    let mut runs = crate::store::collect::<RunResult>(results)?
        .into_iter()
        .map(|(dir, result)| {
            let p: crate::experiment::Predictions =
                crate::store::read_json(&dir.join("predictions.json"))?;
            Ok(ReportRun {
                result,
                test: p.test,
                labels: p.test_labels,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    runs.sort_by(|a, b| a.result.hash.cmp(&b.result.hash));
    Ok(runs)
}

/// How seeds are combined into one PGR per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aggregate {
    /// openai/weak-to-strong's: mean weak, ceiling and student accuracy over seeds, then PGR.
    #[default]
    Reference,
    /// The mean of per-seed PGRs, over the seeds whose ceiling beats their weak model.
    PerSeed,
}

impl std::str::FromStr for Aggregate {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Aggregate> {
        match s {
            "reference" => Ok(Aggregate::Reference),
            "per-seed" => Ok(Aggregate::PerSeed),
            _ => anyhow::bail!("unknown aggregation `{s}`: use reference or per-seed"),
        }
    }
}

/// A value with its 95% bootstrap interval (resampling test examples).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

/// One seed of a row, before aggregation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeedValues {
    pub seed: u64,
    pub weak: f64,
    pub ceiling: f64,
    pub student: f64,
    /// This seed's own PGR (None where its ceiling does not beat its weak model).
    pub pgr: Option<f64>,
}

/// One line of a sweep report: a supervision chain (weak -> ... -> strong) and a method,
/// aggregated over seeds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SweepRow {
    pub dataset: String,
    /// Train and test examples asked for.
    pub n_docs: usize,
    pub n_test_docs: usize,
    /// Model names from the root weak supervisor to the student.
    pub chain: Vec<String>,
    pub loss: String,
    pub aggregate: Aggregate,
    /// Every seed found, with its own values.
    pub per_seed: Vec<SeedValues>,
    /// The seeds the aggregate uses (per-seed aggregation leaves out seeds whose ceiling does
    /// not beat their weak model).
    pub seeds: Vec<u64>,
    /// Mean accuracies over the used seeds.
    pub weak: f64,
    pub ceiling: f64,
    pub student: f64,
    /// Ceiling minus weak accuracy, with its interval.
    pub gap: Interval,
    /// PGR with its interval; None where the gap is not clearly above noise (its interval
    /// reaches zero), or no seed has a ceiling above its weak model.
    pub pgr: Option<Interval>,
    pub agreement: f64,
    /// Parameters of the student (strong) model.
    pub strong_parameters: i64,
}

impl SweepRow {
    /// "mean [low, high]", or why there is no PGR.
    fn pgr_cell(&self) -> String {
        match self.pgr {
            Some(p) => format!("{:+.2} [{:+.2}, {:+.2}]", p.value, p.lo, p.hi),
            None => "no measurable gap".into(),
        }
    }

    fn per_seed_cell(&self) -> String {
        self.per_seed
            .iter()
            .map(|s| s.pgr.map_or("n/a".into(), |p| format!("{p:+.2}")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Why this row, or some of its seeds, are left out of the medians.
    fn left_out(&self) -> Vec<String> {
        let mut out = Vec::new();
        let name = format!("{} {}", self.chain.join(" -> "), self.loss);
        for s in &self.per_seed {
            if !self.seeds.contains(&s.seed) {
                out.push(format!(
                    "{name}, seed {}: ceiling {} <= weak {}",
                    s.seed,
                    pct(s.ceiling),
                    pct(s.weak)
                ));
            }
        }
        if self.pgr.is_none() && self.chain.first() == self.chain.last() {
            out.push(format!(
                "{name}: weak model = strong model (no gap by construction)"
            ));
        } else if self.pgr.is_none() {
            out.push(format!(
                "{name}: no measurable gap: ceiling - weak = {:+.1} points [{:+.1}, {:+.1}]",
                100.0 * self.gap.value,
                100.0 * self.gap.lo,
                100.0 * self.gap.hi
            ));
        }
        out
    }

    fn is_direct(&self) -> bool {
        self.chain.len() == 2 && self.chain[0] != self.chain[1]
    }
}

/// Resamples of the test examples for every interval.
const RESAMPLES: usize = 1000;

/// Per test example: 1 if right, 0 if wrong, None where the run dropped it.
fn correct(test: &[Option<[f32; 2]>], labels: &[u8]) -> Vec<Option<f64>> {
    test.iter()
        .zip(labels)
        .map(|(p, &l)| p.map(|p| (crate::metrics::hard(&p) == l) as u8 as f64))
        .collect()
}

/// Mean of the present values at `idx` (all positions when `idx` is None).
fn mean_at(v: &[Option<f64>], idx: Option<&[usize]>) -> f64 {
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

/// One seed's three runs on its test split, as right/wrong per example.
struct SeedRuns {
    seed: u64,
    weak: Vec<Option<f64>>,
    ceiling: Vec<Option<f64>>,
    student: Vec<Option<f64>>,
    agreement: f64,
}

/// (weak, ceiling, student) mean accuracies of each seed, on `idx[k]` for seed k (or on
/// everything).
type Accuracies = Vec<(f64, f64, f64)>;

/// Gap and PGR of one set of per-seed accuracies under `aggregate`; `used` says which seeds
/// count (per-seed aggregation).
fn gap_and_pgr(acc: &Accuracies, used: &[bool], aggregate: Aggregate) -> (f64, Option<f64>) {
    let pick: Vec<&(f64, f64, f64)> = acc.iter().zip(used).filter(|x| *x.1).map(|x| x.0).collect();
    let n = pick.len().max(1) as f64;
    let mean = |f: fn(&(f64, f64, f64)) -> f64| pick.iter().map(|x| f(x)).sum::<f64>() / n;
    let gap = mean(|x| x.1 - x.0);
    let pgr = match aggregate {
        Aggregate::Reference => crate::metrics::pgr(mean(|x| x.0), mean(|x| x.1), mean(|x| x.2)),
        Aggregate::PerSeed => {
            let v: Vec<f64> = pick
                .iter()
                .filter_map(|x| crate::metrics::pgr(x.0, x.1, x.2))
                .collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        }
    };
    (gap, pgr)
}

/// What names a row, before its seeds are aggregated.
struct RowName {
    dataset: String,
    sizes: (usize, usize),
    chain: Vec<String>,
    loss: String,
    strong_parameters: i64,
}

/// Aggregate one row's seeds: point values, then intervals from resampling each seed's test
/// examples (the same draw for its weak, ceiling and student runs), ChaCha8-seeded.
fn aggregate_row(name: RowName, seeds: &[SeedRuns], aggregate: Aggregate) -> SweepRow {
    use rand::{Rng, SeedableRng};
    let point: Accuracies = seeds
        .iter()
        .map(|s| {
            (
                mean_at(&s.weak, None),
                mean_at(&s.ceiling, None),
                mean_at(&s.student, None),
            )
        })
        .collect();
    let used: Vec<bool> = match aggregate {
        Aggregate::Reference => vec![true; seeds.len()],
        Aggregate::PerSeed => point.iter().map(|x| x.1 > x.0).collect(),
    };
    let per_seed = seeds
        .iter()
        .zip(&point)
        .map(|(s, x)| SeedValues {
            seed: s.seed,
            weak: x.0,
            ceiling: x.1,
            student: x.2,
            pgr: crate::metrics::pgr(x.0, x.1, x.2),
        })
        .collect();
    let used_seeds = seeds
        .iter()
        .zip(&used)
        .filter(|x| *x.1)
        .map(|x| x.0.seed)
        .collect();
    // The accuracies shown: over the used seeds, or over all when none is used (then there
    // is no PGR, but the row still says what the runs scored).
    let shown: Vec<bool> = if used.contains(&true) {
        used.clone()
    } else {
        vec![true; used.len()]
    };
    let n_shown = shown.iter().filter(|u| **u).count().max(1) as f64;
    let means = [0, 1, 2].map(|k| {
        point
            .iter()
            .zip(&shown)
            .filter(|x| *x.1)
            .map(|(x, _)| [x.0, x.1, x.2][k])
            .sum::<f64>()
            / n_shown
    });
    let (gap, pgr) = gap_and_pgr(&point, &used, aggregate);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let (mut gaps, mut pgrs) = (Vec::with_capacity(RESAMPLES), Vec::with_capacity(RESAMPLES));
    for _ in 0..RESAMPLES {
        let acc: Accuracies = seeds
            .iter()
            .map(|s| {
                let n = s.weak.len();
                let idx: Vec<usize> = (0..n).map(|_| rng.gen_range(0..n)).collect();
                (
                    mean_at(&s.weak, Some(&idx)),
                    mean_at(&s.ceiling, Some(&idx)),
                    mean_at(&s.student, Some(&idx)),
                )
            })
            .collect();
        let (g, p) = gap_and_pgr(&acc, &used, aggregate);
        gaps.push(g);
        pgrs.extend(p);
    }
    let interval = |value: f64, mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
        if v.is_empty() {
            Interval {
                value,
                lo: value,
                hi: value,
            }
        } else {
            Interval {
                value,
                lo: at(0.025),
                hi: at(0.975),
            }
        }
    };
    let gap = interval(gap, gaps);
    // PGR only where the gap is clearly above noise.
    let pgr = pgr.filter(|_| gap.lo > 0.0).map(|p| interval(p, pgrs));
    SweepRow {
        dataset: name.dataset,
        n_docs: name.sizes.0,
        n_test_docs: name.sizes.1,
        chain: name.chain,
        loss: name.loss,
        aggregate,
        per_seed,
        seeds: used_seeds,
        weak: means[0],
        ceiling: means[1],
        student: means[2],
        gap,
        pgr,
        agreement: seeds.iter().map(|s| s.agreement).sum::<f64>() / seeds.len().max(1) as f64,
        strong_parameters: name.strong_parameters,
    }
}

/// Aggregate stored runs into rows: every student whose root supervisors and strong ceiling
/// (same task, seed and model) are also among `runs`.
pub fn sweep_rows(runs: &[ReportRun], aggregate: Aggregate) -> Vec<SweepRow> {
    use std::collections::{BTreeMap, HashMap};
    let by_hash: HashMap<&str, &ReportRun> =
        runs.iter().map(|r| (r.result.hash.as_str(), r)).collect();
    let data_key = |s: &RunSpec| {
        format!(
            "{}/{}/{}",
            s.data.fingerprint, s.data.n_docs, s.data.n_test_docs
        )
    };
    // Ground-truth runs by (task, seed, model): the ceiling of a student is the ground-truth
    // run of its own model (the one with the student's options, if there are several).
    let mut gt: HashMap<(String, u64, String), &ReportRun> = HashMap::new();
    for r in runs.iter().filter(|r| r.result.spec.is_ground_truth()) {
        let s = &r.result.spec;
        gt.insert((data_key(s), s.seed, s.model_fingerprint.clone()), r);
    }
    type Key = (String, String, Vec<String>, String, (usize, usize));
    let mut groups: BTreeMap<Key, Vec<SeedRuns>> = BTreeMap::new();
    let mut sizes_of: HashMap<String, i64> = HashMap::new();
    for r in runs.iter().filter(|r| !r.result.spec.is_ground_truth()) {
        let spec = &r.result.spec;
        // The chain from the root supervisors to this student; several supervisors show as
        // one link, `a+b`.
        let mut chain = vec![spec.model.clone()];
        let mut root = spec;
        while let Some(sup) = root.supervisor.as_deref() {
            let names: Vec<String> = root.supervisors().map(|s| short_name(&s.model)).collect();
            chain.push(names.join("+"));
            if sup.is_ground_truth() {
                break;
            }
            root = sup;
        }
        chain.reverse();
        // The weak baseline: the root supervisors' mean predictions.
        let Some(roots) = root
            .supervisors()
            .map(|s| by_hash.get(s.hash().as_str()))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let ceiling_spec = RunSpec {
            train: spec.train.for_ground_truth(),
            supervisor: None,
            co_supervisors: Vec::new(),
            ..spec.clone()
        };
        let ceiling = by_hash
            .get(ceiling_spec.hash().as_str())
            .copied()
            .or_else(|| {
                gt.get(&(data_key(spec), spec.seed, spec.model_fingerprint.clone()))
                    .copied()
            });
        let Some(ceiling) = ceiling else { continue };
        let labels = &r.labels;
        let weak_probs: Vec<Option<[f32; 2]>> = if roots.len() == 1 {
            roots[0].test.clone()
        } else {
            let all: Vec<&[Option<[f32; 2]>]> = roots.iter().map(|x| x.test.as_slice()).collect();
            crate::labels::mean_labels(&all)
        };
        sizes_of.insert(short_name(&spec.model), r.result.model.parameters);
        let options = crate::store::config_hash(&spec.train);
        let key = (
            spec.data.short_name(),
            format!("{}{options}", data_key(spec)),
            chain.iter().map(|m| short_name(m)).collect(),
            spec.train.method(),
            (spec.data.n_docs, spec.data.n_test_docs),
        );
        groups.entry(key).or_default().push(SeedRuns {
            seed: spec.seed,
            weak: correct(&weak_probs, labels),
            ceiling: correct(&ceiling.test, labels),
            student: correct(&r.test, labels),
            agreement: r.result.supervisor_agreement.unwrap_or(f64::NAN),
        });
    }
    let mut rows: Vec<SweepRow> = groups
        .into_iter()
        .map(|((dataset, _, chain, loss, sizes), mut seeds)| {
            seeds.sort_by_key(|s| s.seed);
            let strong_parameters = sizes_of.get(chain.last().unwrap()).copied().unwrap_or(0);
            let name = RowName {
                dataset,
                sizes,
                chain,
                loss,
                strong_parameters,
            };
            aggregate_row(name, &seeds, aggregate)
        })
        .collect();
    // Within a dataset and chain, methods in name order (the grouping key is not).
    rows.sort_by(|a, b| (&a.dataset, &a.chain, &a.loss).cmp(&(&b.dataset, &b.chain, &b.loss)));
    rows
}

/// The median PGR of one method: per dataset over its direct pairs (weak model != strong
/// model) with a measurable gap, then across datasets as the median of those medians.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MedianRow {
    pub loss: String,
    /// (dataset, median, pairs it is over)
    pub per_dataset: Vec<(String, Option<f64>, usize)>,
    pub across_datasets: Option<f64>,
}

pub fn median_rows(rows: &[SweepRow]) -> Vec<MedianRow> {
    let datasets = dataset_names(rows);
    let mut losses: Vec<&str> = rows.iter().map(|r| r.loss.as_str()).collect();
    losses.sort();
    losses.dedup();
    losses
        .into_iter()
        .map(|l| {
            let per_dataset: Vec<(String, Option<f64>, usize)> = datasets
                .iter()
                .map(|d| {
                    let v: Vec<f64> = rows
                        .iter()
                        .filter(|r| r.loss == l && r.dataset == *d && r.is_direct())
                        .filter_map(|r| r.pgr.map(|p| p.value))
                        .collect();
                    (d.to_string(), crate::metrics::median(&v), v.len())
                })
                .collect();
            let medians: Vec<f64> = per_dataset.iter().filter_map(|x| x.1).collect();
            MedianRow {
                loss: l.to_owned(),
                across_datasets: crate::metrics::median(&medians),
                per_dataset,
            }
        })
        .collect()
}

fn dataset_names(rows: &[SweepRow]) -> Vec<&str> {
    let mut datasets: Vec<&str> = rows.iter().map(|r| r.dataset.as_str()).collect();
    datasets.dedup();
    datasets
}

/// A dataset's heading: its name and the sizes its rows were run at.
fn dataset_heading(rows: &[SweepRow], d: &str) -> String {
    let mut sizes: Vec<String> = rows
        .iter()
        .filter(|r| r.dataset == d)
        .map(|r| format!("{} train, {} test", r.n_docs, r.n_test_docs))
        .collect();
    sizes.sort();
    sizes.dedup();
    format!("{d} ({})", sizes.join("; "))
}

/// How the report's PGRs were computed, in one sentence.
fn method_note(aggregate: Aggregate) -> &'static str {
    match aggregate {
        Aggregate::Reference => "PGR = (student - weak) / (ceiling - weak) on accuracies averaged over seeds (openai/weak-to-strong's aggregation); 95% intervals resample test examples; rows whose ceiling - weak interval reaches 0 show no PGR and stay out of the medians.",
        Aggregate::PerSeed => "PGR = mean over seeds of (student - weak) / (ceiling - weak), over the seeds whose ceiling beats their weak model; 95% intervals resample test examples; rows whose ceiling - weak interval reaches 0 show no PGR and stay out of the medians.",
    }
}

const COLUMNS: [&str; 9] = [
    "supervision",
    "loss",
    "weak",
    "ceiling",
    "student",
    "PGR [95% CI]",
    "per-seed PGR",
    "agree",
    "seeds",
];

/// A row's cells, in [`COLUMNS`] order.
fn cells(r: &SweepRow) -> [String; 9] {
    [
        r.chain.join(" -> "),
        r.loss.clone(),
        pct(r.weak),
        pct(r.ceiling),
        pct(r.student),
        r.pgr_cell(),
        r.per_seed_cell(),
        pct(r.agreement),
        format!("{}/{}", r.seeds.len(), r.per_seed.len()),
    ]
}

/// The sweep report as text: a table per dataset with what was left out and why, then the
/// median PGR of each method per dataset and across datasets.
pub fn sweep_table(rows: &[SweepRow]) -> String {
    let mut out = String::new();
    if let Some(r) = rows.first() {
        out += &format!("{}\n", method_note(r.aggregate));
    }
    let widths = [44, 18, 6, 8, 8, 24, 16, 6, 5];
    let line = |c: &[String]| {
        let mut s = String::new();
        for (i, (cell, w)) in c.iter().zip(widths).enumerate() {
            if i < 2 || i == 5 || i == 6 {
                s += &format!("{cell:<w$} ");
            } else {
                s += &format!("{cell:>w$} ");
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    for d in dataset_names(rows) {
        out += &format!("\n## {}\n\n", dataset_heading(rows, d));
        out += &line(&COLUMNS.map(String::from));
        let mut left_out = Vec::new();
        for r in rows.iter().filter(|r| r.dataset == d) {
            out += &line(&cells(r));
            left_out.extend(r.left_out());
        }
        if !left_out.is_empty() {
            out += "\nleft out of the medians or the means:\n";
            for l in left_out {
                out += &format!("  {l}\n");
            }
        }
    }
    out += &median_text(&median_rows(rows));
    out
}

fn median_text(medians: &[MedianRow]) -> String {
    let mut out = String::from(
        "\n## median PGR (direct pairs, weak model != strong model, measurable gap)\n\n",
    );
    let Some(first) = medians.first() else {
        return out;
    };
    out += &format!("{:<18}", "loss");
    for (d, _, _) in &first.per_dataset {
        out += &format!(" {:>16}", d);
    }
    out += &format!(" {:>16}\n", "across datasets");
    for m in medians {
        out += &format!("{:<18}", m.loss);
        for (_, v, n) in &m.per_dataset {
            out += &format!(" {:>16}", median_cell(*v, *n));
        }
        out += &format!(
            " {:>16}\n",
            m.across_datasets
                .map_or("n/a".into(), |v| format!("{v:+.2}"))
        );
    }
    out
}

fn median_cell(v: Option<f64>, n: usize) -> String {
    v.map_or("n/a".into(), |v| format!("{v:+.2} ({n})"))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An HTML table from a header and rows of cells.
fn html_table(class: &str, header: &[String], rows: &[Vec<String>]) -> String {
    let mut h = format!("<table class=\"{class}\"><tr>");
    for c in header {
        h += &format!("<th>{}</th>", escape(c));
    }
    h += "</tr>\n";
    for r in rows {
        h += "<tr>";
        for c in r {
            h += &format!("<td>{}</td>", escape(c));
        }
        h += "</tr>\n";
    }
    h + "</table>\n"
}

/// A self-contained HTML report: tables per dataset, the plots' SVGs and each run's training
/// curves inline (no external files, scripts or fonts), so it opens from disk anywhere.
pub fn sweep_html(
    rows: &[SweepRow],
    svgs: &[std::path::PathBuf],
    curves: &[(String, String)],
    n_runs: usize,
) -> anyhow::Result<String> {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>w2s report</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}td:first-child,td:nth-child(2),th{text-align:left}th{background:#eee}figure{margin:1em 0}details{margin:.3em 0}</style></head><body>\n",
    );
    h += &format!("<h1>Weak-to-strong report</h1>\n<p>{n_runs} runs. ");
    if let Some(r) = rows.first() {
        h += &escape(method_note(r.aggregate));
    }
    h += "</p>\n";
    for d in dataset_names(rows) {
        h += &format!(
            "<h2 id=\"{}\">{}</h2>\n",
            escape(d),
            escape(&dataset_heading(rows, d))
        );
        let body: Vec<Vec<String>> = rows
            .iter()
            .filter(|r| r.dataset == d)
            .map(|r| {
                let mut c = cells(r).to_vec();
                c[0] = r.chain.join(" → ");
                c
            })
            .collect();
        h += &html_table("results", &COLUMNS.map(String::from), &body);
        let left_out: Vec<String> = rows
            .iter()
            .filter(|r| r.dataset == d)
            .flat_map(|r| r.left_out())
            .collect();
        if !left_out.is_empty() {
            h += "<p>Left out of the medians or the means:</p>\n<ul class=\"left-out\">";
            for l in left_out {
                h += &format!("<li>{}</li>", escape(&l));
            }
            h += "</ul>\n";
        }
        for svg in svgs.iter().filter(|p| {
            p.file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with(&format!("{d}-")))
        }) {
            let body = std::fs::read_to_string(svg)?;
            let name = svg.file_name().unwrap().to_string_lossy();
            h += &format!("<figure class=\"plot\">{body}<figcaption>{} (PNG: <a href=\"plots/{}\">{}</a>)</figcaption></figure>\n", escape(&name), escape(&name.replace(".svg", ".png")), escape(&name.replace(".svg", ".png")));
        }
    }
    let medians = median_rows(rows);
    h += "<h2 id=\"medians\">Median PGR</h2>\n<p>Direct pairs (weak model ≠ strong model) with a measurable gap: per dataset (pairs in brackets), and the median of those medians across datasets.</p>\n";
    if let Some(first) = medians.first() {
        let mut header = vec!["loss".to_owned()];
        header.extend(first.per_dataset.iter().map(|x| x.0.clone()));
        header.push("across datasets".into());
        let body: Vec<Vec<String>> = medians
            .iter()
            .map(|m| {
                let mut r = vec![m.loss.clone()];
                r.extend(m.per_dataset.iter().map(|x| median_cell(x.1, x.2)));
                r.push(
                    m.across_datasets
                        .map_or("n/a".into(), |v| format!("{v:+.2}")),
                );
                r
            })
            .collect();
        h += &html_table("medians", &header, &body);
    }
    if !curves.is_empty() {
        h += "<h2 id=\"curves\">Training curves</h2>\n<p>Loss and training accuracy per step, for every run.</p>\n";
        for (i, (name, svg)) in curves.iter().enumerate() {
            // The first run's curves open, the others one click away.
            let open = if i == 0 { " open" } else { "" };
            h += &format!(
                "<details class=\"curve\"{open}><summary>{}</summary>{svg}</details>\n",
                escape(name)
            );
        }
    }
    h += "</body></html>\n";
    Ok(h)
}

/// One column of the table of runs that CSV and Parquet exports share.
enum Column {
    Text(&'static str, Vec<String>),
    Int(&'static str, Vec<i64>),
    /// Missing values are NaN.
    Float(&'static str, Vec<f64>),
    Bool(&'static str, Vec<bool>),
}

impl Column {
    fn name(&self) -> &'static str {
        match self {
            Column::Text(n, _) | Column::Int(n, _) | Column::Float(n, _) | Column::Bool(n, _) => n,
        }
    }

    fn cell(&self, row: usize) -> String {
        match self {
            Column::Text(_, v) => v[row].clone(),
            Column::Int(_, v) => v[row].to_string(),
            Column::Float(_, v) if v[row].is_nan() => String::new(),
            Column::Float(_, v) => v[row].to_string(),
            Column::Bool(_, v) => v[row].to_string(),
        }
    }
}

/// The table of runs, one row per run.
fn run_columns(runs: &[crate::experiment::RunResult]) -> Vec<Column> {
    use crate::experiment::RunResult;
    let text = |f: &dyn Fn(&RunResult) -> String| runs.iter().map(f).collect::<Vec<_>>();
    let int = |f: &dyn Fn(&RunResult) -> i64| runs.iter().map(f).collect::<Vec<_>>();
    let float = |f: &dyn Fn(&RunResult) -> Option<f64>| {
        runs.iter()
            .map(|r| f(r).unwrap_or(f64::NAN))
            .collect::<Vec<_>>()
    };
    let root = |r: &RunResult| {
        let mut s = r.spec.supervisor.as_deref();
        while let Some(x) = s.and_then(|x| x.supervisor.as_deref()) {
            s = Some(x);
        }
        s.map(|s| s.model.clone()).unwrap_or_default()
    };
    vec![
        Column::Text("hash", text(&|r| r.hash.clone())),
        Column::Text("dataset", text(&|r| r.spec.data.short_name())),
        Column::Text("task", text(&|r| r.spec.data.name.clone())),
        Column::Int("seed", int(&|r| r.spec.seed as i64)),
        Column::Text(
            "kind",
            text(&|r| {
                if r.spec.is_ground_truth() {
                    "ground_truth"
                } else {
                    "weak_to_strong"
                }
                .into()
            }),
        ),
        Column::Text("model", text(&|r| r.spec.model.clone())),
        Column::Text(
            "supervisor",
            text(&|r| {
                r.spec
                    .supervisor
                    .as_ref()
                    .map(|s| s.model.clone())
                    .unwrap_or_default()
            }),
        ),
        Column::Text("root_supervisor", text(&root)),
        Column::Text("loss", text(&|r| r.spec.train.loss.name().into())),
        Column::Text("method", text(&|r| r.spec.train.method())),
        Column::Float("lr", float(&|r| Some(r.spec.train.lr))),
        Column::Int("epochs", int(&|r| r.spec.train.epochs as i64)),
        Column::Int("batch_size", int(&|r| r.spec.train.batch_size as i64)),
        Column::Bool(
            "linear_probe",
            runs.iter().map(|r| r.spec.train.linear_probe).collect(),
        ),
        Column::Int("n_docs", int(&|r| r.spec.data.n_docs as i64)),
        Column::Int("n_test_docs", int(&|r| r.spec.data.n_test_docs as i64)),
        Column::Float("test_accuracy", float(&|r| Some(r.test_accuracy))),
        Column::Float("supervisor_agreement", float(&|r| r.supervisor_agreement)),
        Column::Int("n_train", int(&|r| r.n_train as i64)),
        Column::Int("n_test", int(&|r| r.n_test as i64)),
        Column::Float("train_seconds", float(&|r| Some(r.training.seconds))),
        Column::Text("device", text(&|r| r.device.clone())),
        Column::Text("git_commit", text(&|r| r.provenance.git_commit.clone())),
        Column::Float("wall_seconds", float(&|r| Some(r.provenance.wall_seconds))),
        Column::Float("auroc", float(&|r| r.analysis.auroc)),
        Column::Float("ece", float(&|r| r.analysis.ece)),
        Column::Float("copied_mistakes", float(&|r| r.analysis.copied_mistakes)),
        Column::Float("kept_correct", float(&|r| r.analysis.kept_correct)),
        Column::Float(
            "auroc_vs_supervisor",
            float(&|r| r.analysis.auroc_vs_supervisor),
        ),
        Column::Float("supervisor_accuracy", float(&|r| r.supervisor_accuracy)),
        Column::Int(
            "co_supervisors",
            int(&|r| r.spec.co_supervisors.len() as i64),
        ),
        Column::Int(
            "best_step",
            int(&|r| r.training.best_step.map_or(-1, |s| s as i64)),
        ),
        Column::Int(
            "relabelled",
            int(&|r| r.relabelling.as_ref().map_or(0, |x| x.changed as i64)),
        ),
        Column::Float(
            "label_accuracy_before",
            float(&|r| r.relabelling.as_ref().map(|x| x.accuracy_before)),
        ),
        Column::Float(
            "label_accuracy_after",
            float(&|r| r.relabelling.as_ref().map(|x| x.accuracy_after)),
        ),
    ]
}

/// One CSV row per run (missing values empty): what pandas' `read_csv` reads directly.
pub fn runs_csv(runs: &[crate::experiment::RunResult]) -> anyhow::Result<String> {
    let cols = run_columns(runs);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(cols.iter().map(Column::name))?;
    for row in 0..runs.len() {
        w.write_record(cols.iter().map(|c| c.cell(row)))?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// The same table as a Parquet file (`pandas.read_parquet` reads it); missing numbers are
/// NaN, so every column is required. Written atomically.
pub fn write_runs_parquet(
    runs: &[crate::experiment::RunResult],
    path: &std::path::Path,
) -> anyhow::Result<()> {
    use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use std::sync::Arc;
    let cols = run_columns(runs);
    let fields: Vec<String> = cols
        .iter()
        .map(|c| match c {
            Column::Text(n, _) => format!("REQUIRED BYTE_ARRAY {n} (UTF8);"),
            Column::Int(n, _) => format!("REQUIRED INT64 {n};"),
            Column::Float(n, _) => format!("REQUIRED DOUBLE {n};"),
            Column::Bool(n, _) => format!("REQUIRED BOOLEAN {n};"),
        })
        .collect();
    let schema = parquet::schema::parser::parse_message_type(&format!(
        "message runs {{ {} }}",
        fields.join(" ")
    ))?;
    let props = Arc::new(WriterProperties::builder().build());
    crate::store::write_with(path, ".parquet", |tmp| {
        let file = std::fs::File::create(tmp)?;
        let mut writer = SerializedFileWriter::new(file, Arc::new(schema), props)?;
        let mut group = writer.next_row_group()?;
        let mut cols = cols.iter();
        while let Some(mut out) = group.next_column()? {
            match cols.next().expect("one column per schema field") {
                Column::Text(_, v) => {
                    let v: Vec<ByteArray> = v.iter().map(|s| ByteArray::from(s.as_str())).collect();
                    out.typed::<ByteArrayType>().write_batch(&v, None, None)?;
                }
                Column::Int(_, v) => {
                    out.typed::<Int64Type>().write_batch(v, None, None)?;
                }
                Column::Float(_, v) => {
                    out.typed::<DoubleType>().write_batch(v, None, None)?;
                }
                Column::Bool(_, v) => {
                    out.typed::<BoolType>().write_batch(v, None, None)?;
                }
            }
            out.close()?;
        }
        group.close()?;
        writer.close()?;
        Ok(())
    })
}

#[cfg(test)]
mod aggregation_tests {
    use super::*;

    /// `pattern` (1 right, 0 wrong) repeated `times` times.
    fn runs(pattern: &[u8], times: usize) -> Vec<Option<f64>> {
        (0..times)
            .flat_map(|_| pattern.iter().map(|&x| Some(x as f64)))
            .collect()
    }

    /// Two seeds; on seed 1 the ceiling (50%) is below the weak model (75%).
    fn seeds(times: usize) -> Vec<SeedRuns> {
        vec![
            SeedRuns {
                seed: 0,
                weak: runs(&[1, 1, 0, 0], times),    // 0.50
                ceiling: runs(&[1, 1, 1, 1], times), // 1.00
                student: runs(&[1, 1, 1, 0], times), // 0.75
                agreement: 0.0,
            },
            SeedRuns {
                seed: 1,
                weak: runs(&[1, 1, 1, 0], times),    // 0.75
                ceiling: runs(&[1, 1, 0, 0], times), // 0.50
                student: runs(&[1, 1, 1, 1], times), // 1.00
                agreement: 0.0,
            },
        ]
    }

    fn row(times: usize, aggregate: Aggregate) -> SweepRow {
        let name = RowName {
            dataset: "t".into(),
            sizes: (8 * times, 4 * times),
            chain: vec!["a".into(), "b".into()],
            loss: "xent".into(),
            strong_parameters: 1,
        };
        aggregate_row(name, &seeds(times), aggregate)
    }

    #[test]
    fn reference_aggregation_averages_accuracies_then_takes_pgr() {
        // By hand: weak (0.50 + 0.75) / 2 = 0.625, ceiling (1.00 + 0.50) / 2 = 0.75,
        // student (0.75 + 1.00) / 2 = 0.875; PGR = (0.875 - 0.625) / (0.75 - 0.625) = 2.0.
        let r = row(50, Aggregate::Reference);
        let (per_seed, gap, pgr) = (r.per_seed, r.gap, r.pgr);
        assert_eq!(r.seeds, [0, 1], "the reference keeps every seed");
        assert_eq!([r.weak, r.ceiling, r.student], [0.625, 0.75, 0.875]);
        assert!((gap.value - 0.125).abs() < 1e-12);
        // 200 examples per seed: the gap's interval stays above zero.
        assert!(gap.lo > 0.0 && gap.lo < 0.125 && gap.hi > 0.125, "{gap:?}");
        let pgr = pgr.expect("a measurable gap");
        assert!((pgr.value - 2.0).abs() < 1e-12 && pgr.lo < 2.0 && pgr.hi > 2.0);
        assert_eq!(per_seed[0].pgr, Some(0.5));
        assert_eq!(per_seed[1].pgr, None, "seed 1: ceiling below weak");
    }

    #[test]
    fn per_seed_aggregation_leaves_out_seeds_whose_ceiling_is_below_weak() {
        // With no seed whose ceiling beats its weak model, the row still shows the accuracies.
        let mut both_below = seeds(50);
        both_below.remove(0);
        let name = RowName {
            dataset: "t".into(),
            sizes: (8, 4),
            chain: vec!["a".into(), "b".into()],
            loss: "xent".into(),
            strong_parameters: 1,
        };
        let r = aggregate_row(name, &both_below, Aggregate::PerSeed);
        assert!(r.seeds.is_empty() && r.pgr.is_none());
        assert_eq!([r.weak, r.ceiling, r.student], [0.75, 0.5, 1.0]);
        let r = row(50, Aggregate::PerSeed);
        assert_eq!(r.seeds, [0]);
        assert_eq!([r.weak, r.ceiling, r.student], [0.5, 1.0, 0.75]);
        assert_eq!(r.gap.value, 0.5);
        assert_eq!(r.pgr.unwrap().value, 0.5);
        assert!(
            r.left_out()[0].contains("seed 1: ceiling 50.0 <= weak 75.0"),
            "{:?}",
            r.left_out()
        );
    }

    #[test]
    fn a_gap_within_noise_shows_no_pgr_and_is_listed() {
        // Four examples per seed: the same accuracies, but the gap's interval reaches zero.
        let row = row(1, Aggregate::Reference);
        assert_eq!([row.weak, row.ceiling, row.student], [0.625, 0.75, 0.875]);
        assert!(row.gap.lo <= 0.0, "{:?}", row.gap);
        assert!(row.pgr.is_none());
        assert_eq!(row.pgr_cell(), "no measurable gap");
        let why = row.left_out();
        assert!(why[0].contains("a -> b xent: no measurable gap"), "{why:?}");
        let medians = median_rows(std::slice::from_ref(&row));
        assert_eq!(medians[0].per_dataset, [("t".to_string(), None, 0)]);
        assert_eq!(medians[0].across_datasets, None);
        let text = sweep_table(&[row]);
        assert!(text.contains("left out") && text.contains("n/a"), "{text}");
    }
}
