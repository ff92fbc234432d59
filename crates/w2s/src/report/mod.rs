//! What the results say: the per-seed table of `w2s demo` and `w2s run`, and for a results
//! folder the sweep report, under one of three rules ([`Aggregate`]):
//! - `rows.rs`: stored runs grouped into rows (a supervision chain and a method, over seeds),
//!   and the medians of each method;
//! - [`mod@reference`]: openai/weak-to-strong's rule (its `notebooks/Plotting.ipynb`, cell 4);
//! - `text.rs` and `html.rs`: the tables; `plots.rs`: the paper's figures and training curves;
//!   `export.rs`: `runs.csv` and `runs.parquet`.

mod export;
mod html;
mod intervals;
mod medians;
pub mod plots;
pub mod reference;
mod row;
mod rows;
mod text;
mod weights;

pub use export::{runs_csv, write_runs_parquet};
pub use html::sweep_html;
pub use medians::{DatasetMedian, MedianRow};
pub use row::{Interval, Pgr, SeedValues, SweepRow};
pub use text::{outcome_table, sweep_table};
pub use weights::{SupervisorWeight, WeightsRow};

use crate::experiment::{RunResult, RunSpec};
use crate::model::short_name;

/// A stored run as the report reads it: its folder, its result, and its test predictions
/// with the true labels (what the bootstrap over test examples resamples).
#[derive(Debug, Clone)]
pub struct ReportRun {
    pub dir: std::path::PathBuf,
    pub result: RunResult,
    pub test: Vec<Option<[f32; 2]>>,
    pub labels: Vec<u8>,
}

/// A run folder the report cannot use, and why: invalid, failed, in progress or interrupted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NotReported {
    pub folder: std::path::PathBuf,
    pub why: String,
}

/// Every valid run under `results`, with its test predictions, and the folders left out
/// with the reason (runs that failed, are being trained now, were interrupted, or hold a
/// result that is not valid): a report goes on past them and lists them.
pub fn load_runs(results: &std::path::Path) -> anyhow::Result<(Vec<ReportRun>, Vec<NotReported>)> {
    use crate::experiment::{stored, Predictions, Stored};
    let (mut runs, mut skipped) = (Vec::new(), Vec::new());
    let mut skip = |folder: &std::path::Path, why: String| {
        skipped.push(NotReported {
            folder: folder.to_path_buf(),
            why,
        })
    };
    for dir in crate::store::run_folders(results)? {
        let result = match stored(&dir) {
            Stored::Complete(r) => *r,
            Stored::Invalid(why) => {
                skip(&dir, format!("not a valid result: {why}"));
                continue;
            }
            Stored::Missing => {
                let why = match crate::experiment::Failure::read(&dir) {
                    Some(f) => format!("failed: {}", f.reason),
                    None => "no result".into(),
                };
                skip(&dir, why);
                continue;
            }
        };
        let p: Predictions =
            crate::store::read_json(&dir.join(crate::experiment::PREDICTIONS_FILE))?;
        runs.push(ReportRun {
            dir,
            result,
            test: p.test,
            labels: p.test_labels,
        });
    }
    // Runs being trained now (their lock is held) or interrupted (a staging folder left).
    for staging in crate::store::staging_folders(results)? {
        let run = crate::store::run_dir_of_staging(&staging);
        if matches!(stored(&run), Stored::Complete(_)) {
            // A retrain (--force) under way or interrupted: the stored result stands, and is
            // reported.
            continue;
        }
        let why = if crate::store::RunLock::is_held(&run) {
            "in progress: being trained now"
        } else {
            "interrupted: a staging folder without a finished run (rerun to redo it)"
        };
        skip(&run, why.into());
    }
    runs.sort_by(|a, b| a.result.hash.cmp(&b.result.hash));
    Ok((runs, skipped))
}

/// How a report turns runs into PGRs. Every table says in its heading which rule made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Aggregate {
    /// openai/weak-to-strong's `notebooks/Plotting.ipynb` (cell 4), step for step: a model's
    /// baseline is the mean accuracy of all its ground-truth runs on the dataset; one PGR per
    /// student run against the baselines; the median over every student run of a loss
    /// (pairs and seeds pooled) per dataset. No intervals, no number across datasets.
    #[default]
    Reference,
    /// Noise-aware: mean weak, ceiling and student accuracy over a pair's seeds, then PGR,
    /// with 95% intervals from resampled test examples; pairs whose gap interval reaches zero
    /// show no PGR; medians over pairs, then across datasets.
    Pooled,
    /// As `pooled`, but the mean of per-seed PGRs, over the seeds whose ceiling beats their
    /// weak model.
    PerSeed,
}

impl Aggregate {
    /// How this rule computes PGR, in one sentence: the heading of every table it makes.
    pub fn rule(self) -> &'static str {
        match self {
            Aggregate::Reference => "PGR by openai/weak-to-strong's rule (notebooks/Plotting.ipynb): baselines are each model's mean accuracy over all its ground-truth runs on the dataset; one PGR per student run, (student - weak baseline) / (strong baseline - weak baseline), left out where weak model = strong model or strong baseline <= weak baseline; medians over every student run of a loss (pairs and seeds pooled). No intervals; a PGR marked (noise gap) is one whose ceiling - weak gap, measured over test examples, is within noise (its 95% interval reaches 0).",
            Aggregate::Pooled => "PGR = (student - weak) / (ceiling - weak) on accuracies averaged over a pair's seeds; 95% intervals resample test examples; rows whose ceiling - weak interval reaches 0 show no PGR and stay out of the medians.",
            Aggregate::PerSeed => "PGR = mean over seeds of (student - weak) / (ceiling - weak), over the seeds whose ceiling beats their weak model; 95% intervals resample test examples; rows whose ceiling - weak interval reaches 0 show no PGR and stay out of the medians.",
        }
    }
}

/// The chain of model names from the root supervisors to `spec`'s model (several supervisors
/// show as one link, `a+b`), and the run whose supervisors are the roots.
pub fn chain(spec: &RunSpec) -> (Vec<String>, &RunSpec) {
    let mut chain = vec![short_name(&spec.model)];
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
    (chain, root)
}

/// A sweep report: its rows, the medians of each method, and the rule that made them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub aggregate: Aggregate,
    pub rule: &'static str,
    pub rows: Vec<SweepRow>,
    pub medians: Vec<MedianRow>,
    /// Run folders left out, and why.
    pub not_reported: Vec<NotReported>,
    /// Student runs that learned their supervisors' weights (RAVEN), with the weights.
    pub supervisor_weights: Vec<WeightsRow>,
}

impl Report {
    pub fn new(runs: &[ReportRun], aggregate: Aggregate) -> Report {
        Report {
            supervisor_weights: weights::weights_rows(runs),
            ..Report::from_rows(rows::sweep_rows(runs, aggregate), aggregate)
        }
    }

    /// The report of rows already made: their medians under the same rule.
    pub fn from_rows(rows: Vec<SweepRow>, aggregate: Aggregate) -> Report {
        let medians = medians::median_rows(&rows, aggregate);
        Report {
            aggregate,
            rule: aggregate.rule(),
            rows,
            medians,
            not_reported: Vec::new(),
            supervisor_weights: Vec::new(),
        }
    }
}

/// The runs in the order a reader looks for their training curves (by dataset, chain, method
/// and seed, ground-truth runs first), each with what it is in words.
fn curve_order(runs: &[ReportRun]) -> Vec<(String, &std::path::Path)> {
    let mut keyed: Vec<_> = runs
        .iter()
        .map(|r| {
            let spec = &r.result.spec;
            let dataset = reference::dataset_label(&r.result);
            let (chain, _) = chain(spec);
            let what = match spec.is_ground_truth() {
                true => format!("{} on ground truth", chain.join(" -> ")),
                false => format!("{} {}", chain.join(" -> "), spec.train.method()),
            };
            let key = (
                dataset.clone(),
                !spec.is_ground_truth(),
                chain,
                spec.train.method(),
                spec.seed,
            );
            (
                key,
                format!("{dataset}: {what}, seed {}", spec.seed),
                r.dir.as_path(),
            )
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed
        .into_iter()
        .map(|(_, name, dir)| (name, dir))
        .collect()
}

/// What `w2s report` writes into `out` for the runs under `results`: report.txt (returned as
/// well), report.json (the [`Report`]), runs.csv, runs.parquet, plots/ and report.html.
pub fn write(
    results: &std::path::Path,
    out: &std::path::Path,
    aggregate: Aggregate,
) -> anyhow::Result<(Report, String)> {
    let (runs, skipped) = load_runs(results)?;
    if runs.is_empty() {
        anyhow::bail!(
            "{}: no complete runs (folders with a valid result.json) found{}",
            results.display(),
            skipped
                .iter()
                .map(|s| format!("\n  {}: {}", s.folder.display(), s.why))
                .collect::<String>()
        );
    }
    let mut report = Report::new(&runs, aggregate);
    report.not_reported = skipped;
    let table = sweep_table(&report);
    let stored: Vec<RunResult> = runs.iter().map(|r| r.result.clone()).collect();
    crate::store::write_atomic(&out.join("report.txt"), table.as_bytes())?;
    crate::store::write_atomic(&out.join("runs.csv"), runs_csv(&stored)?.as_bytes())?;
    crate::store::write_json(&out.join("report.json"), &report)?;
    write_runs_parquet(&stored, &out.join("runs.parquet"))?;
    let svgs = plots::write_plots(&report.rows, &out.join("plots"))?;
    let curves = plots::training_curves(results, &curve_order(&runs))?;
    let html = sweep_html(&report, &svgs, &curves, runs.len())?;
    crate::store::write_atomic(&out.join("report.html"), html.as_bytes())?;
    Ok((report, table))
}
