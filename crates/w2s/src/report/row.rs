//! What one row of a report holds: a supervision chain and a method over seeds
//! ([`SweepRow`]), each seed's values ([`SeedValues`]) and its runs' right/wrong answers
//! ([`SeedRuns`]), and the few words a cell gives for a missing PGR ([`why`]). The rules that
//! fill a row are `rows.rs` (the reference's) and `intervals.rs` (the noise-aware ones).

use super::Aggregate;
use crate::metrics::mean_at;
pub use crate::metrics::Interval;

/// A row's PGR: a value, and its 95% interval under the noise-aware rules.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Pgr {
    pub value: f64,
    pub interval: Option<(f64, f64)>,
}

/// One student run of a row. Each field has one meaning under every rule: `weak` and
/// `ceiling` are this seed's own runs, `seed_pgr` is against them, and `run_pgr` is the
/// reference rule's, against the row's baselines (the row's `weak` and `ceiling` there).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeedValues {
    pub seed: u64,
    /// Test accuracy of this seed's root supervisors (their mean prediction) and of its
    /// ceiling (the student's model on ground truth, same seed); None where not stored.
    pub weak: Option<f64>,
    pub ceiling: Option<f64>,
    pub student: f64,
    /// (student - weak) / (ceiling - weak) on this seed's own runs; None where one is not
    /// stored, the weak model is the strong one, or the ceiling does not beat the weak model.
    pub seed_pgr: Option<f64>,
    /// Under the reference rule only: (student - weak baseline) / (strong baseline - weak
    /// baseline), the notebook's PGR of this run; None where the notebook leaves it out.
    pub run_pgr: Option<f64>,
    /// Why the PGR this row's rule uses for this run ([`SeedValues::pgr`]) is missing, in a
    /// few words (the table's cell).
    pub no_pgr: Option<&'static str>,
    /// The student against its supervisor on test: misfit, gain, error decomposition.
    pub diagnostics: Option<crate::metrics::Diagnostics>,
    /// CAPA between this seed's root supervisors and its ceiling ([`crate::metrics::capa`]).
    pub capa: Option<f64>,
}

/// The few words a cell gives for a missing PGR.
pub mod why {
    pub const SAME_MODEL: &str = "same model";
    pub const CEILING_NOT_ABOVE: &str = "ceiling<=weak";
    pub const NOT_STORED: &str = "not stored";
    pub const NO_BASELINE: &str = "no baseline";
    pub const NO_MEASURABLE_GAP: &str = "no measurable gap";
    /// A median's: no pair of two different models of this loss on the dataset.
    pub const NO_DIRECT_PAIR: &str = "no direct pair";
    /// A median's: every pair or run left out (the dataset's left-out lines say why).
    pub const ALL_LEFT_OUT: &str = "all left out";
}

impl SeedValues {
    /// The PGR of this run under `aggregate`: `run_pgr` under the reference rule, else
    /// `seed_pgr`.
    pub fn pgr(&self, aggregate: Aggregate) -> Option<f64> {
        match aggregate {
            Aggregate::Reference => self.run_pgr,
            _ => self.seed_pgr,
        }
    }
}

/// This seed's own PGR, or why it has none.
fn seed_pgr(
    same_model: bool,
    weak: Option<f64>,
    ceiling: Option<f64>,
    student: f64,
) -> Result<f64, &'static str> {
    let (Some(w), Some(c)) = (weak, ceiling) else {
        return Err(why::NOT_STORED);
    };
    if same_model {
        return Err(why::SAME_MODEL);
    }
    crate::metrics::pgr(w, c, student).ok_or(why::CEILING_NOT_ABOVE)
}

/// One line of a sweep report: a supervision chain and a method, over seeds.
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
    /// Every student run found, with its own values.
    pub per_seed: Vec<SeedValues>,
    /// The seeds the row's PGR uses.
    pub seeds: Vec<u64>,
    /// The weak and ceiling accuracies the PGR used (means over the used seeds, or the
    /// baselines), and the students' mean.
    pub weak: f64,
    pub ceiling: f64,
    pub student: f64,
    /// Ceiling minus weak accuracy, with its interval.
    pub gap: Interval,
    /// The row's PGR: under the reference rule the median of its runs' PGRs; else from the
    /// seeds' accuracies, None where the gap is not clearly above noise.
    pub pgr: Option<Pgr>,
    pub agreement: f64,
    /// Parameters of the student (strong) model.
    pub strong_parameters: i64,
    /// Why this row, or some of its runs, are left out of the medians.
    pub left_out: Vec<String>,
    /// Means over the seeds that have them: the theory's diagnostics and CAPA.
    pub diagnostics: Option<crate::metrics::Diagnostics>,
    pub capa: Option<f64>,
    /// The student's label budget (`oracle_labels`, 0 for none) and its method without it:
    /// rows that differ only in the budget are one line of the labels figure.
    pub oracle_labels: usize,
    pub method_without_budget: String,
}

impl SweepRow {
    /// Weak model != strong model, one link: the rows the medians are over.
    pub fn is_direct(&self) -> bool {
        self.chain.len() == 2 && self.chain[0] != self.chain[1]
    }

    pub(super) fn name(&self) -> String {
        format!("{} {}", self.chain.join(" -> "), self.loss)
    }
}

/// One student run of a row: right/wrong per test example for it and, where stored, for its
/// root supervisors and its ceiling.
pub(super) struct SeedRuns {
    pub(super) seed: u64,
    pub(super) accuracy: f64,
    pub(super) diagnostics: Option<crate::metrics::Diagnostics>,
    pub(super) capa: Option<f64>,
    pub(super) weak: Option<Vec<Option<f64>>>,
    pub(super) ceiling: Option<Vec<Option<f64>>>,
    pub(super) student: Vec<Option<f64>>,
    pub(super) agreement: f64,
}

/// (weak, ceiling, student) mean accuracies of each seed.
pub(super) type Accuracies = Vec<(f64, f64, f64)>;

/// A student run's values: its own weak and ceiling, and the reference rule's PGR (or why
/// there is none) where `run_pgr` is given.
pub(super) fn seed_values(
    s: &SeedRuns,
    same_model: bool,
    run_pgr: Option<Result<f64, &'static str>>,
) -> SeedValues {
    let own = |v: &Option<Vec<Option<f64>>>| v.as_deref().map(|v| mean_at(v, None));
    let (weak, ceiling) = (own(&s.weak), own(&s.ceiling));
    let seed = seed_pgr(same_model, weak, ceiling, s.accuracy);
    let no_pgr = match &run_pgr {
        Some(r) => r.err(),
        None => seed.err(),
    };
    SeedValues {
        seed: s.seed,
        weak,
        ceiling,
        student: s.accuracy,
        seed_pgr: seed.ok(),
        run_pgr: run_pgr.and_then(Result::ok),
        no_pgr,
        diagnostics: s.diagnostics,
        capa: s.capa,
    }
}

pub(super) fn mean(v: impl IntoIterator<Item = f64>) -> f64 {
    let (s, n) = v
        .into_iter()
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n.max(1) as f64
}

pub(super) fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}
