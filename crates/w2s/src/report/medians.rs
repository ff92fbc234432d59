//! The methods table: each method's median PGR per dataset over its direct pairs, and across
//! datasets.

use super::row::why;
use super::{Aggregate, SweepRow};

/// The median PGR of one method on one dataset, and how many values it is over (student runs
/// under the reference rule, pairs under the others).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DatasetMedian {
    pub dataset: String,
    pub pgr: Option<f64>,
    pub count: usize,
    /// Why there is no median, in a few words.
    pub no_pgr: Option<&'static str>,
}

/// The median PGR of one method per dataset over its direct pairs (weak model != strong
/// model), and under the noise-aware rules the median of those medians across datasets.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MedianRow {
    pub loss: String,
    pub per_dataset: Vec<DatasetMedian>,
    pub across_datasets: Option<f64>,
}

pub(super) fn median_rows(rows: &[SweepRow], aggregate: Aggregate) -> Vec<MedianRow> {
    let datasets = dataset_names(rows);
    let mut losses: Vec<&str> = rows.iter().map(|r| r.loss.as_str()).collect();
    losses.sort();
    losses.dedup();
    losses
        .into_iter()
        .map(|l| {
            let per_dataset: Vec<DatasetMedian> = datasets
                .iter()
                .map(|d| {
                    let direct: Vec<&SweepRow> = rows
                        .iter()
                        .filter(|r| r.loss == l && r.dataset == *d && r.is_direct())
                        .collect();
                    // The reference pools every student run; the others take one PGR a pair.
                    let v: Vec<f64> = match aggregate {
                        Aggregate::Reference => direct
                            .iter()
                            .flat_map(|r| r.per_seed.iter().filter_map(|s| s.run_pgr))
                            .collect(),
                        _ => direct
                            .iter()
                            .filter_map(|r| r.pgr.map(|p| p.value))
                            .collect(),
                    };
                    let pgr = crate::metrics::median(&v);
                    DatasetMedian {
                        dataset: d.to_string(),
                        pgr,
                        count: v.len(),
                        no_pgr: match (pgr, direct.is_empty()) {
                            (Some(_), _) => None,
                            (None, true) => Some(why::NO_DIRECT_PAIR),
                            (None, false) => Some(why::ALL_LEFT_OUT),
                        },
                    }
                })
                .collect();
            let medians: Vec<f64> = per_dataset.iter().filter_map(|x| x.pgr).collect();
            MedianRow {
                loss: l.to_owned(),
                across_datasets: match aggregate {
                    Aggregate::Reference => None,
                    _ => crate::metrics::median(&medians),
                },
                per_dataset,
            }
        })
        .collect()
}

/// The datasets of `rows`, in their order.
pub(super) fn dataset_names(rows: &[SweepRow]) -> Vec<&str> {
    let mut datasets: Vec<&str> = rows.iter().map(|r| r.dataset.as_str()).collect();
    datasets.dedup();
    datasets
}
