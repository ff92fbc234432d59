//! Learned supervisor weights (RAVEN, [`crate::options::LearnedWeights`]): per student run
//! that learned them, each supervisor's final weight beside its own test accuracy, so a reader
//! sees whether the student came to trust the better supervisor.

use super::{chain, reference, ReportRun};
use crate::model::short_name;

/// One student run's learned weights.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WeightsRow {
    pub dataset: String,
    pub seed: u64,
    /// The supervision chain to the student (`a+b -> c`).
    pub chain: String,
    pub method: String,
    pub supervisors: Vec<SupervisorWeight>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SupervisorWeight {
    pub model: String,
    pub weight: f64,
    /// Its own test accuracy; none where its run is not stored here.
    pub accuracy: Option<f64>,
}

/// The rows of every stored student run with learned weights, by dataset, chain and seed.
pub fn weights_rows(runs: &[ReportRun]) -> Vec<WeightsRow> {
    let accuracy = |hash: &str| {
        runs.iter()
            .find(|r| r.result.hash == hash)
            .map(|r| r.result.test_accuracy)
    };
    let mut rows: Vec<WeightsRow> = runs
        .iter()
        .filter_map(|r| {
            let weights = r.result.training.supervisor_weights.as_ref()?;
            let spec = &r.result.spec;
            Some(WeightsRow {
                dataset: reference::dataset_label(&r.result),
                seed: spec.seed,
                chain: chain(spec).0.join(" -> "),
                method: spec.train.method(),
                supervisors: spec
                    .supervisors()
                    .zip(weights)
                    .map(|(s, &weight)| SupervisorWeight {
                        model: short_name(&s.model),
                        weight,
                        accuracy: accuracy(&s.hash()),
                    })
                    .collect(),
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        (&a.dataset, &a.chain, &a.method, a.seed).cmp(&(&b.dataset, &b.chain, &b.method, b.seed))
    });
    rows
}

/// What the text and HTML tables show of a row: dataset, seed, supervision, method, and each
/// supervisor's weight with its accuracy.
pub const WEIGHTS_COLUMNS: [&str; 5] = [
    "dataset",
    "seed",
    "supervision",
    "method",
    "weight per supervisor (its test accuracy)",
];

pub fn weights_cells(r: &WeightsRow) -> [String; 5] {
    let each: Vec<String> = r
        .supervisors
        .iter()
        .map(|s| {
            let acc = s
                .accuracy
                .map_or("not stored".into(), |a| format!("{:.1}%", 100.0 * a));
            format!("{} {:.3} ({acc})", s.model, s.weight)
        })
        .collect();
    [
        r.dataset.clone(),
        r.seed.to_string(),
        r.chain.clone(),
        r.method.clone(),
        each.join(", "),
    ]
}

/// The heading of the weights table.
pub const WEIGHTS_HEADING: &str =
    "learned supervisor weights (RAVEN, Jeon et al. 2025): each supervisor's final weight in the student's labels, and its own test accuracy";
