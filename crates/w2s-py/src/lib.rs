//! `w2s._native`: the Rust side of the Python package (`python/w2s/`, which users import).
//!
//! Options cross as JSON in the TOML keys, read by the very serde definitions that read config
//! files ([`w2s::config`]), strictly (`"no"` is not a boolean, as in a file; reading Python
//! objects directly would take any truthy value as `true`). Results come back as Python
//! objects ([`returns`]): typed classes for an experiment's outcome, dicts and lists for a
//! stored record. A Python loss's
//! tensors cross as tensors (pyo3-tch): the extension runs on the libtorch of the imported
//! `torch`, so the loss's operations join the Rust model's autograd graph.
//! Long calls release the GIL; logs and progress bars are written through Python's
//! `sys.stderr`, which notebooks show (the process's own stderr they do not).

use anyhow::Context;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3_tch::PyTensor;
use returns::{plain, Outcome, Ran};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use w2s::config::{Demo, RunFile, RunPlan, TrainFields};

mod returns;
use w2s::experiment::{RunSpec, Runner};

/// A failure for Python. A Python loss's own exception, if one caused it, is raised again with
/// its traceback (w2s's account of where it happened added as a note); anything else is a
/// RuntimeError with the whole chain of causes.
fn to_py(py: Python, e: anyhow::Error) -> PyErr {
    if let Some(inner) = e.downcast_ref::<PyErr>() {
        let err = inner.clone_ref(py);
        let value = err.value(py);
        if value.hasattr("add_note").unwrap_or(false) {
            let _ = value.call_method1("add_note", (format!("w2s: {e:#}"),));
        }
        return err;
    }
    // Memory advice as the keywords that take it: `minibatch_size=4`, `lora=True`.
    let keyword = |c: &w2s::memory::Change| match c {
        w2s::memory::Change::MinibatchSize(m) => format!("minibatch_size={m}"),
        c => format!("{}=True", c.key()),
    };
    PyRuntimeError::new_err(w2s::memory::render_error(&e, keyword))
}

/// The keywords, as the Python side hands them over in JSON; an error names the key (`train.lr`)
/// and not a line and column of JSON the user never wrote.
fn from_json<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> PyResult<T> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let message = e.inner().to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m);
        match e.path().to_string().as_str() {
            "." => PyValueError::new_err(format!("{what}: {message}")),
            key => PyValueError::new_err(format!("{what}: {key}: {message}")),
        }
    })
}

/// Where and how runs are stored and trained: the CLI's `--results`, `--device`,
/// `--threads` and `--force`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Storage {
    results: PathBuf,
    device: String,
    threads: Option<i32>,
    force: bool,
}

impl Storage {
    fn runner(&self) -> anyhow::Result<Runner> {
        Runner::set_up(self.results.clone(), &self.device, self.threads, self.force)
    }
}

/// A run as Python sees it: its role, folder and stored result.
fn run_entry(runner: &Runner, role: &str, spec: &RunSpec) -> anyhow::Result<serde_json::Value> {
    let dir = runner.run_dir(spec);
    let result = runner
        .existing(spec)
        .with_context(|| format!("{} has no result after running", dir.display()))?;
    Ok(serde_json::json!({ "role": role, "dir": dir, "result": result }))
}

/// `w2s.run()`: the options of a run file (JSON), run as `w2s run` runs them.
#[pyfunction]
#[pyo3(signature = (options, storage, config=None))]
fn run(py: Python, options: &str, storage: &str, config: Option<PathBuf>) -> PyResult<Ran> {
    let keywords: RunFile = from_json("run options", options)?;
    let mut storage: Storage = from_json("storage", storage)?;
    // A run file, with the keywords over it as flags are over it on the command line; its
    // `results` applies where the call names none.
    let file = match &config {
        Some(path) => {
            let file = RunFile::read(path).map_err(|e| PyValueError::new_err(format!("{e:#}")))?;
            if keywords.results.is_none() {
                if let Some(r) = &file.results {
                    storage.results = std::path::absolute(r).unwrap_or(r.clone());
                }
            }
            file.merged(&keywords)
        }
        None => keywords,
    };
    let out = py.allow_threads(|| -> anyhow::Result<_> {
        let runner = storage.runner()?;
        Ok(
            match file.plan(w2s::device::mixed_precision_pays(runner.device))? {
                RunPlan::GroundTruth(spec) => {
                    runner.run(&spec)?;
                    (vec![run_entry(&runner, "ground_truth", &spec)?], None)
                }
                RunPlan::WeakToStrong(exp) => {
                    let outcome = exp.run(&runner)?;
                    let mut runs = Vec::new();
                    for w in &exp.weak {
                        runs.push(run_entry(&runner, "weak", w)?);
                    }
                    runs.push(run_entry(&runner, "ceiling", &exp.ceiling)?);
                    if let Some(last) = exp.last_student() {
                        runs.push(run_entry(&runner, "student", &last)?);
                    }
                    (runs, Some(outcome))
                }
            },
        )
    });
    let (runs, outcome) = out.map_err(|e| to_py(py, e))?;
    Ran::new(py, &runs, outcome.as_ref())
}

/// `w2s.sweep()`: a sweep file (`path`) or its keys (`keys`, JSON), run as `w2s sweep` runs
/// it ([`w2s::sweep::execute`]): `how` holds [`w2s::sweep::Execution`]'s keys (JSON), `exe` is
/// the `w2s` program the workers run. What it prints goes to Python's `sys.stdout`; returns
/// the results folder.
#[pyfunction]
#[pyo3(signature = (how, exe, path=None, keys=None, results=None))]
fn sweep(
    py: Python,
    how: &str,
    exe: PathBuf,
    path: Option<PathBuf>,
    keys: Option<&str>,
    results: Option<PathBuf>,
) -> PyResult<String> {
    let how: w2s::sweep::Execution = from_json("sweep options", how)?;
    let file = match (&path, keys) {
        (Some(p), None) => w2s::sweep::SweepFile::read(p),
        (None, Some(k)) => w2s::sweep::SweepFile::from_json(k, "the sweep"),
        _ => {
            return Err(PyValueError::new_err(
                "a sweep file's path or its keys, one of them",
            ))
        }
    }
    .map_err(|e| PyValueError::new_err(format!("{e:#}")))?;
    let results = results
        .or(file.results.clone())
        .unwrap_or_else(|| "results/sweep".into());
    py.allow_threads(|| w2s::sweep::execute(&file, &results, &exe, &how, &mut PyStream("stdout")))
        .map_err(|e| to_py(py, e))?;
    Ok(results.to_string_lossy().into_owned())
}

/// A task of rows in memory (`train=`, `test=` as JSON lines) with the task file's other keys
/// (JSON), written where the same data always lands ([`w2s::dataset::user::task_from_rows`]);
/// returns the task file's path.
#[pyfunction]
fn task_from_rows(
    train: &str,
    test: &str,
    keys: &str,
    name: &str,
    results: PathBuf,
) -> PyResult<String> {
    let keys: serde_json::Map<String, serde_json::Value> = from_json("task", keys)?;
    w2s::dataset::user::task_from_rows(train, test, &keys, name, &results)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| PyValueError::new_err(format!("{e:#}")))
}

/// `w2s.demo()`: the demo's options (JSON); the outcomes, one per seed.
#[pyfunction]
fn demo(py: Python, options: &str, storage: &str) -> PyResult<Vec<Outcome>> {
    let demo: Demo = from_json("demo options", options)?;
    let storage: Storage = from_json("storage", storage)?;
    let outcomes = py.allow_threads(|| -> anyhow::Result<_> {
        let runner = storage.runner()?;
        let experiments = demo.experiments(w2s::device::mixed_precision_pays(runner.device))?;
        experiments
            .iter()
            .map(|e| e.run(&runner))
            .collect::<anyhow::Result<Vec<_>>>()
    });
    Ok(outcomes
        .map_err(|e| to_py(py, e))?
        .iter()
        .map(Outcome::from)
        .collect())
}

/// Make `function` (a Python callable) the loss named `name` with source text `source`;
/// returns the loss as a config table (a dict) for `train.loss`.
#[pyfunction]
fn register_loss(py: Python, name: &str, source: &str, function: PyObject) -> PyResult<PyObject> {
    let function = Arc::new(function);
    let call = move |logits: &w2s::tch::Tensor, labels: &w2s::tch::Tensor, step_frac: f64| {
        Python::with_gil(|py| -> PyResult<w2s::tch::Tensor> {
            let args = (
                PyTensor(logits.shallow_clone()),
                PyTensor(labels.shallow_clone()),
                step_frac,
            );
            let value = function.call1(py, args)?;
            Ok(value.extract::<PyTensor>(py)?.0)
        })
        .map_err(|e| {
            let interrupted = Python::with_gil(|py| {
                e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py)
            });
            let e = anyhow::Error::new(e);
            match interrupted {
                true => e.context(w2s::progress::Interrupted),
                false => e,
            }
        })
    };
    let loss = w2s::loss::register_custom(name, source, Arc::new(call));
    plain(py, &loss)
}

/// The CSV of `runs.csv` for the runs under `results` (`w2s.runs()`).
#[pyfunction]
fn runs_csv(py: Python, results: &str) -> PyResult<String> {
    py.allow_threads(|| -> anyhow::Result<String> {
        let (runs, _) = w2s::report::load_runs(Path::new(results))?;
        let stored: Vec<_> = runs.into_iter().map(|r| r.result).collect();
        w2s::report::runs_csv(&stored)
    })
    .map_err(|e| to_py(py, e))
}

/// `w2s report`: writes the report's files into `out`; returns the table's text.
#[pyfunction]
#[pyo3(signature = (results, out, aggregate=None))]
fn report(py: Python, results: &str, out: &str, aggregate: Option<&str>) -> PyResult<String> {
    use clap::ValueEnum;
    let parsed = match aggregate {
        None => Ok(w2s::report::Aggregate::default()),
        Some(a) => w2s::report::Aggregate::from_str(a, false),
    };
    let aggregate = parsed.map_err(|_| {
        let names: Vec<String> = w2s::report::Aggregate::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_owned()))
            .collect();
        PyValueError::new_err(format!(
            "aggregate = {:?}: use one of {}",
            aggregate.unwrap_or_default(),
            names.join(", ")
        ))
    })?;
    py.allow_threads(|| w2s::report::write(Path::new(results), Path::new(out), aggregate))
        .map(|(_, table)| table)
        .map_err(|e| to_py(py, e))
}

/// The registered tasks: `[{name, about, tested}]`.
#[pyfunction]
fn datasets_list(py: Python) -> PyResult<PyObject> {
    let list: Vec<_> = w2s::dataset::registry::list()
        .into_iter()
        .map(|(name, about, tested)| serde_json::json!({"name": name, "about": about, "tested": tested}))
        .collect();
    plain(py, &list)
}

/// A task's split sizes, label balance and first `n` train examples.
#[pyfunction]
#[pyo3(signature = (name, data_dir=None, n=3, seed=0))]
fn datasets_show(
    py: Python,
    name: &str,
    data_dir: Option<PathBuf>,
    n: usize,
    seed: u64,
) -> PyResult<PyObject> {
    let pools = py
        .allow_threads(|| {
            w2s::dataset::load_pools(name, data_dir.as_deref(), seed, (usize::MAX, usize::MAX))
        })
        .map_err(|e| to_py(py, e))?;
    let split = |pool: &[w2s::dataset::Example]| serde_json::json!({"n": pool.len(), "positive_rate": w2s::dataset::positive_rate(pool)});
    let examples: Vec<_> = pools
        .train
        .iter()
        .take(n)
        .map(|e| serde_json::to_value(e).unwrap_or_default())
        .collect();
    plain(
        py,
        &serde_json::json!({
            "name": name,
            "train": split(&pools.train),
            "test": split(&pools.test),
            "examples": examples,
        }),
    )
}

/// The option names, from the serde definitions: a run file's keys, `[train]`'s, the demo's.
#[pyfunction]
fn keys(py: Python) -> PyResult<PyObject> {
    use w2s::config::keys;
    plain(
        py,
        &serde_json::json!({
            "run": keys::<RunFile>(),
            "train": keys::<TrainFields>(),
            "demo": keys::<Demo>(),
        }),
    )
}

/// The `w2s` program itself, as the package's `w2s` command runs it; `exe` is that command,
/// for the workers a sweep starts. Returns the exit code. The process is the command's own,
/// so it takes the binary's allocator setting ([`w2s::device::keep_freed_host_memory`]).
#[pyfunction]
fn cli(py: Python, argv: Vec<String>, exe: PathBuf) -> i32 {
    let _ = w2s::device::keep_freed_host_memory();
    py.allow_threads(|| w2s_cli::main(argv.into_iter().map(Into::into), exe))
}

/// A Python call w2s makes while it runs (a log line, a progress bar) may be where a pending
/// Ctrl-C or kernel interrupt is raised, as KeyboardInterrupt; such an error is dropped there,
/// so the interrupt is raised again for the run's next check ([`set_output`]) to stop it.
/// Without this a notebook's stop button was swallowed by the progress bar's redraw.
fn keep_interrupt(py: Python, e: &PyErr) {
    if e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
        // SAFETY: called with the GIL held; it only sets the interpreter's SIGINT flag.
        unsafe { pyo3::ffi::PyErr_SetInterrupt() };
    }
}

/// Python's `sys.stderr`, as a byte sink for logs.
/// Python's `sys.stdout` or `sys.stderr` (as notebooks show them), as a byte sink.
struct PyStream(&'static str);

impl PyStream {
    /// Logs and progress bars.
    fn stderr() -> PyStream {
        PyStream("stderr")
    }

    fn get<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("sys")?.getattr(self.0)
    }
}

impl std::io::Write for PyStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Python::with_gil(|py| {
            if let Ok(err) = self.get(py) {
                if let Err(e) = err.call_method1("write", (String::from_utf8_lossy(buf),)) {
                    keep_interrupt(py, &e);
                }
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Python::with_gil(|py| {
            if let Ok(err) = self.get(py) {
                if let Err(e) = err.call_method0("flush") {
                    keep_interrupt(py, &e);
                }
            }
        });
        Ok(())
    }
}

/// The parts of `indicatif::TermLike` shared by the one-line terminals below: 100 columns, and
/// no cursor to move (a bar is one line).
macro_rules! one_line_term {
    () => {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
    };
}

/// A one-line terminal on `sys.stderr` for progress bars: a carriage return starts the line
/// again, which terminals honour.
#[derive(Debug)]
struct PyTerm {
    /// A real terminal also gets the escape that clears the rest of the line.
    tty: bool,
}

impl indicatif::TermLike for PyTerm {
    one_line_term!();
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        std::io::Write::write_all(&mut PyStream::stderr(), format!("{s}\n").as_bytes())
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        std::io::Write::write_all(&mut PyStream::stderr(), s.as_bytes())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        let clear = if self.tty { "\r\x1b[2K" } else { "\r" };
        std::io::Write::write_all(&mut PyStream::stderr(), clear.as_bytes())
    }
    fn flush(&self) -> std::io::Result<()> {
        std::io::Write::flush(&mut PyStream::stderr())
    }
}

/// Progress bars in a notebook: each bar is one output that is updated in place (IPython's
/// `display` with a display id, through `w2s._api._progress`), rather than a stream of
/// carriage-return redraws, which a saved notebook keeps as one output per redraw.
#[derive(Debug)]
struct NotebookTerm {
    /// Which bar this is, for the display handle that shows it.
    id: u64,
    /// The line being drawn since the last clear.
    line: std::sync::Mutex<String>,
}

impl NotebookTerm {
    fn new() -> NotebookTerm {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        NotebookTerm {
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            line: Default::default(),
        }
    }

    fn show(&self, line: &str, done: bool) {
        Python::with_gil(|py| {
            let shown = py
                .import("w2s._api")
                .and_then(|m| m.getattr("_progress"))
                .and_then(|f| f.call1((self.id, line, done)));
            if let Err(e) = shown {
                keep_interrupt(py, &e);
                if !e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
                    e.print(py);
                }
            }
        });
    }
}

impl indicatif::TermLike for NotebookTerm {
    one_line_term!();
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.show(s, true);
        Ok(())
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.line.lock().unwrap().push_str(s);
        Ok(())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.line.lock().unwrap().clear();
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        let line = self.line.lock().unwrap().clone();
        if !line.is_empty() {
            self.show(&line, false);
        }
        Ok(())
    }
}

/// Logs (one line per run; `verbose` for the details) and progress bars through `sys.stderr`;
/// `progress` is "terminal", "notebook" or "none". Ctrl-C (a notebook's interrupt) stops a
/// run at its next training step, as a KeyboardInterrupt.
#[pyfunction]
fn set_output(verbose: bool, progress: &str) -> PyResult<()> {
    w2s_cli::init_logging(verbose, false, PyStream::stderr);
    w2s::progress::set_interrupt_check(Box::new(|| {
        Python::with_gil(|py| py.check_signals()).map_err(anyhow::Error::new)
    }));
    let tty = match progress {
        "terminal" => true,
        "notebook" => {
            w2s::progress::set_target(Box::new(|| {
                indicatif::ProgressDrawTarget::term_like_with_hz(Box::new(NotebookTerm::new()), 4)
            }));
            return Ok(());
        }
        "none" => {
            w2s::progress::set_target(Box::new(indicatif::ProgressDrawTarget::hidden));
            return Ok(());
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "progress = {other:?}: use \"terminal\", \"notebook\" or \"none\""
            )))
        }
    };
    w2s::progress::set_target(Box::new(move || {
        indicatif::ProgressDrawTarget::term_like_with_hz(Box::new(PyTerm { tty }), 4)
    }));
    Ok(())
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(demo, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(task_from_rows, m)?)?;
    m.add_function(wrap_pyfunction!(register_loss, m)?)?;
    m.add_function(wrap_pyfunction!(runs_csv, m)?)?;
    m.add_function(wrap_pyfunction!(report, m)?)?;
    m.add_function(wrap_pyfunction!(datasets_list, m)?)?;
    m.add_function(wrap_pyfunction!(datasets_show, m)?)?;
    m.add_function(wrap_pyfunction!(keys, m)?)?;
    m.add_function(wrap_pyfunction!(cli, m)?)?;
    m.add_function(wrap_pyfunction!(set_output, m)?)?;
    returns::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
