//! The experiment that ties runs together: weak supervisors, the strong ceiling and the
//! students, run in order, and their outcome (accuracies, the gap, PGR).
//!
//! A run is either
//! - **ground truth**: finetune a model on `train1` with its true labels (the weak supervisor
//!   and the strong ceiling are both such runs), or
//! - **weak-to-strong**: finetune a model on `train2` labelled with a supervisor run's soft
//!   predictions.
//!
//! Every run then predicts `test`, and `train2` when it supervises another run (a weak
//! supervisor, a bootstrapping link, a round before the last): a stored run asked to supervise
//! later that did not predict `train2` is trained again (deterministically) to predict it.
//! Runs are stored by the hash of their [`RunSpec`] (`run/spec.rs`); a supervisor's spec is
//! part of its student's, so one weak supervisor serves every student that names it. How a run
//! executes is `run/runner.rs` and `run/steps.rs`; this module re-exports what callers name.

use crate::metrics;
use crate::options::TrainOptions;
pub use crate::run::record::{
    is_done, stored, Analysis, Failure, Predictions, Provenance, Relabelling, RunResult, Stored,
    CONFIG_FILE, FAILED_FILE, PREDICTIONS_FILE, RESULT_FILE, TRAIN_LOG_FILE,
};
pub use crate::run::runner::Runner;
pub use crate::run::spec::{
    canonical_model, DataSpec, RunSpec, DEFAULT_MAX_CTX, DEFAULT_N_DOCS, DEFAULT_N_TEST_DOCS,
    RESULTS_FORMAT,
};
use anyhow::Result;
use serde::{Deserialize, Serialize};

/// One weak-to-strong experiment: weak supervisors (one, or several whose mean labels
/// supervise), a strong ceiling, one student per set of options, and `iterations`
/// strong-to-strong rounds after each student. `w2s run` and `w2s demo` run one.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub weak: Vec<RunSpec>,
    pub ceiling: RunSpec,
    pub students: Vec<RunSpec>,
    pub iterations: usize,
}

/// The outcome of an [`Experiment`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub seed: u64,
    /// Test accuracy of the supervision: the weak model's, or its ensemble's.
    pub weak: f64,
    pub ceiling: f64,
    pub students: Vec<StudentOutcome>,
    /// Ceiling minus weak accuracy with its 95% interval ([`metrics::measured_gap`]); the
    /// students' PGR is None unless it is [`metrics::measurable`].
    pub gap: metrics::Interval,
    /// Right/wrong per test example of the supervision and of the ceiling, so that a table
    /// over several seeds measures their pooled gap by the same rule.
    #[serde(skip)]
    pub test_correct: (Vec<Option<f64>>, Vec<Option<f64>>),
}

impl Outcome {
    /// An outcome from its accuracies and per-example correctness: the gap measured, and each
    /// student's PGR where it is measurable.
    pub fn new(
        seed: u64,
        (weak, ceiling): (f64, f64),
        mut students: Vec<StudentOutcome>,
        test_correct: (Vec<Option<f64>>, Vec<Option<f64>>),
    ) -> Outcome {
        let mut o = Outcome {
            seed,
            weak,
            ceiling,
            students: Vec::new(),
            gap: metrics::Interval::exact(ceiling - weak),
            test_correct,
        };
        o.gap = Outcome::pooled_gap(std::slice::from_ref(&o));
        for s in &mut students {
            s.pgr = metrics::pgr(weak, ceiling, s.accuracy).filter(|_| metrics::measurable(&o.gap));
        }
        o.students = students;
        o
    }

    /// The gap of several seeds' outcomes by the one rule ([`metrics::measured_gap`]); the
    /// mean point gap where a stored result predates test labels.
    pub fn pooled_gap(outcomes: &[Outcome]) -> metrics::Interval {
        if outcomes.iter().any(|o| o.test_correct.0.is_empty()) {
            let n = outcomes.len().max(1) as f64;
            return metrics::Interval::exact(
                outcomes.iter().map(|o| o.ceiling - o.weak).sum::<f64>() / n,
            );
        }
        let seeds: Vec<metrics::GapSeed> = outcomes
            .iter()
            .map(|o| (o.test_correct.0.as_slice(), o.test_correct.1.as_slice()))
            .collect();
        metrics::measured_gap(&seeds, &vec![true; seeds.len()])
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudentOutcome {
    /// The method's name (`xent`, `logconf+es`, ...), with the round after the first.
    pub loss: String,
    pub accuracy: f64,
    pub pgr: Option<f64>,
    pub agreement: Option<f64>,
}

impl Experiment {
    /// The runs of one experiment: each weak model (with its options) trained on ground
    /// truth, the strong model's ceiling, and one student per entry of `students`. Ground-truth
    /// runs drop what only students use (see [`TrainOptions::for_ground_truth`]), so every
    /// method shares them.
    pub fn new(
        data: &DataSpec,
        seed: u64,
        max_ctx: usize,
        weak: &[(&str, TrainOptions)],
        strong: (&str, TrainOptions),
        students: &[TrainOptions],
    ) -> Result<Experiment> {
        let weak = weak
            .iter()
            .map(|(m, o)| RunSpec::ground_truth(data, seed, max_ctx, m, o.for_ground_truth()))
            .collect::<Result<Vec<_>>>()?;
        let ceiling = RunSpec::ground_truth(data, seed, max_ctx, strong.0, strong.1)?.ceiling();
        let students = students
            .iter()
            .map(|train| ceiling.student(train.clone(), &weak))
            .collect();
        Ok(Experiment {
            weak,
            ceiling,
            students,
            iterations: 0,
        })
    }

    /// One student per loss, each with the rest of the strong model's options.
    pub fn per_loss(
        data: &DataSpec,
        seed: u64,
        max_ctx: usize,
        weak: (&str, TrainOptions),
        strong: (&str, TrainOptions),
        losses: &[crate::loss::Loss],
    ) -> Result<Experiment> {
        let students: Vec<TrainOptions> = losses
            .iter()
            .map(|loss| TrainOptions {
                loss: loss.clone(),
                ..strong.1.clone()
            })
            .collect();
        Experiment::new(data, seed, max_ctx, &[weak], strong, &students)
    }

    /// Every run, supervisors first.
    pub fn runs(&self) -> Vec<RunSpec> {
        let mut out = self.weak.clone();
        out.push(self.ceiling.clone());
        for s in &self.students {
            let mut last = s.clone();
            out.push(last.clone());
            for _ in 0..self.iterations {
                last = last.next_round();
                out.push(last.clone());
            }
        }
        out
    }

    pub fn run(&self, runner: &Runner) -> Result<Outcome> {
        // What the strong model's options need of it, before any supervisor trains.
        for spec in self.students.iter().chain([&self.ceiling]) {
            spec.check_model()?;
        }
        let mut weak = runner.run_supervisor(&self.weak[0])?.test_accuracy;
        for w in &self.weak[1..] {
            runner.run_supervisor(w)?;
        }
        let ceiling = runner.run(&self.ceiling)?.test_accuracy;
        let mut students = Vec::new();
        for s in &self.students {
            let mut spec = s.clone();
            for round in 0..=self.iterations {
                // A round before the last supervises the next.
                let r = if round < self.iterations {
                    runner.run_supervisor(&spec)?
                } else {
                    runner.run(&spec)?
                };
                if round == 0 && self.weak.len() > 1 {
                    // The supervisor of record is the ensemble: its accuracy is the baseline.
                    weak = r.supervisor_accuracy.unwrap_or(weak);
                }
                let loss = match round {
                    0 => spec.train.method(),
                    n => format!("{} round {}", spec.train.method(), n + 1),
                };
                students.push(StudentOutcome {
                    loss,
                    accuracy: r.test_accuracy,
                    pgr: None,
                    agreement: r.supervisor_agreement,
                });
                spec = spec.next_round();
            }
        }
        // The supervision the gap is measured from: the weak model, or the ensemble's mean.
        let supervision = self
            .weak
            .iter()
            .map(|w| runner.predictions(w))
            .collect::<Result<Vec<_>>>()?;
        let supervision = match supervision.len() {
            1 => supervision.into_iter().next().unwrap(),
            _ => Predictions::mean(&supervision),
        };
        let ceiling_predictions = runner.predictions(&self.ceiling)?;
        let labels = &ceiling_predictions.test_labels;
        let test_correct = (
            metrics::correct(&supervision.test, labels),
            metrics::correct(&ceiling_predictions.test, labels),
        );
        Ok(Outcome::new(
            self.ceiling.seed,
            (weak, ceiling),
            students,
            test_correct,
        ))
    }

    /// The last round of the first student: where `w2s run` says the result is stored.
    pub fn last_student(&self) -> Option<RunSpec> {
        let mut s = self.students.first()?.clone();
        for _ in 0..self.iterations {
            s = s.next_round();
        }
        Some(s)
    }
}
