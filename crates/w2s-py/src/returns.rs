//! What the native calls return, as Python objects: an experiment's outcome as classes with
//! typed, read-only attributes (`Outcome`, `Student`, `Gap`), a run's stored record as the
//! dicts and lists of its JSON (`pythonize`), so nothing is parsed again on the Python side.
//! The classes mirror [`w2s::experiment::Outcome`]; `_native.pyi` types them.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// Ceiling minus weak accuracy with its 95% interval ([`w2s::metrics::Interval`]).
#[pyclass(frozen, get_all, module = "w2s._native")]
#[derive(Clone)]
pub struct Gap {
    value: f64,
    lo: f64,
    hi: f64,
}

/// One student of an experiment ([`w2s::experiment::StudentOutcome`]): `pgr` is None where
/// the gap is not measurable.
#[pyclass(frozen, get_all, module = "w2s._native")]
#[derive(Clone)]
pub struct Student {
    loss: String,
    accuracy: f64,
    pgr: Option<f64>,
    agreement: Option<f64>,
}

/// An experiment's outcome ([`w2s::experiment::Outcome`]).
#[pyclass(frozen, get_all, module = "w2s._native")]
#[derive(Clone)]
pub struct Outcome {
    seed: u64,
    weak: f64,
    ceiling: f64,
    students: Vec<Student>,
    gap: Gap,
}

impl From<&w2s::experiment::Outcome> for Outcome {
    fn from(o: &w2s::experiment::Outcome) -> Outcome {
        Outcome {
            seed: o.seed,
            weak: o.weak,
            ceiling: o.ceiling,
            students: o
                .students
                .iter()
                .map(|s| Student {
                    loss: s.loss.clone(),
                    accuracy: s.accuracy,
                    pgr: s.pgr,
                    agreement: s.agreement,
                })
                .collect(),
            gap: Gap {
                value: o.gap.value,
                lo: o.gap.lo,
                hi: o.gap.hi,
            },
        }
    }
}

#[pymethods]
impl Gap {
    fn __repr__(&self) -> String {
        format!("Gap(value={}, lo={}, hi={})", self.value, self.lo, self.hi)
    }
}

#[pymethods]
impl Student {
    fn __repr__(&self) -> String {
        format!(
            "Student(loss={:?}, accuracy={}, pgr={:?}, agreement={:?})",
            self.loss, self.accuracy, self.pgr, self.agreement
        )
    }
}

#[pymethods]
impl Outcome {
    fn __repr__(&self) -> String {
        format!(
            "Outcome(seed={}, weak={}, ceiling={}, {} students)",
            self.seed,
            self.weak,
            self.ceiling,
            self.students.len()
        )
    }
}

/// What `run` returns: every run involved (`{"role", "dir", "result"}`, the result as its
/// result.json reads), and the outcome of a weak-to-strong experiment (None for a ground-truth
/// run).
#[pyclass(frozen, get_all, module = "w2s._native")]
pub struct Ran {
    runs: PyObject,
    outcome: Option<Outcome>,
}

impl Ran {
    pub fn new(
        py: Python,
        runs: &[serde_json::Value],
        outcome: Option<&w2s::experiment::Outcome>,
    ) -> PyResult<Ran> {
        Ok(Ran {
            runs: plain(py, &runs)?,
            outcome: outcome.map(Outcome::from),
        })
    }
}

/// A serializable value as Python's dicts, lists, numbers and strings.
pub fn plain<T: serde::Serialize>(py: Python, value: &T) -> PyResult<PyObject> {
    pythonize::pythonize(py, value)
        .map(Bound::unbind)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Gap>()?;
    m.add_class::<Student>()?;
    m.add_class::<Outcome>()?;
    m.add_class::<Ran>()
}
