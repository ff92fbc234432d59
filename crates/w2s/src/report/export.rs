//! The table of runs, one row per run, as CSV (`runs.csv`) and Parquet (`runs.parquet`): what
//! pandas reads directly. Its `dataset`, `model_name`, `weak_model_name`, `method` and
//! `test_accuracy` columns are what openai/weak-to-strong's notebook reads as `ds_name`,
//! `model_size`, `weak_model_size`, `loss` and `accuracy` (see [`super::reference`]).
//! Model columns come in pairs of one form each: `model` and `weak_model` as the run was
//! given them (paths or hub names), `model_name` and `weak_model_name` short.

use super::chain;
use crate::experiment::RunResult;
use crate::model::short_name;

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

/// The columns being built, each from a function of a run.
struct Columns<'a> {
    runs: &'a [RunResult],
    out: Vec<Column>,
}

impl Columns<'_> {
    fn text(&mut self, name: &'static str, f: impl Fn(&RunResult) -> String) {
        self.out
            .push(Column::Text(name, self.runs.iter().map(f).collect()));
    }
    fn int(&mut self, name: &'static str, f: impl Fn(&RunResult) -> i64) {
        self.out
            .push(Column::Int(name, self.runs.iter().map(f).collect()));
    }
    /// `None` is written as NaN (an empty CSV cell).
    fn float(&mut self, name: &'static str, f: impl Fn(&RunResult) -> Option<f64>) {
        let v = self.runs.iter().map(|r| f(r).unwrap_or(f64::NAN));
        self.out.push(Column::Float(name, v.collect()));
    }
    fn bool(&mut self, name: &'static str, f: impl Fn(&RunResult) -> bool) {
        self.out
            .push(Column::Bool(name, self.runs.iter().map(f).collect()));
    }
}

/// The table of runs, one row per run.
fn run_columns(runs: &[RunResult]) -> Vec<Column> {
    let mut c = Columns {
        runs,
        out: Vec::new(),
    };
    identity_columns(&mut c);
    training_columns(&mut c);
    analysis_columns(&mut c);
    c.out
}

/// What the run is: task, seed, models and method.
fn identity_columns(c: &mut Columns) {
    // The root supervisors' models (`a+b` for several), as given or short: the same form as
    // `model` and `model_name`, so `weak_model != model` finds the self pairs.
    let weak = |r: &RunResult, name: fn(&str) -> String| -> String {
        if r.spec.is_ground_truth() {
            return String::new();
        }
        let (_, root) = chain(&r.spec);
        let names: Vec<String> = root.supervisors().map(|s| name(&s.model)).collect();
        names.join("+")
    };
    c.text("hash", |r| r.hash.clone());
    c.text("dataset", |r| r.spec.data.short_name());
    c.text("task", |r| r.spec.data.name.clone());
    c.bool("pairwise", |r| r.pairwise);
    c.int("seed", |r| r.spec.seed as i64);
    c.text("kind", |r| {
        match r.spec.is_ground_truth() {
            true => "ground_truth",
            false => "weak_to_strong",
        }
        .into()
    });
    c.text("model", |r| r.spec.model.clone());
    c.text("model_name", |r| short_name(&r.spec.model));
    c.text("weak_model", |r| weak(r, |m| m.to_owned()));
    c.text("weak_model_name", |r| weak(r, short_name));
    c.text("supervisor", |r| {
        let s = r.spec.supervisor.as_ref();
        s.map(|s| s.model.clone()).unwrap_or_default()
    });
    c.text("loss", |r| r.spec.train.loss.name().into());
    c.text("method", |r| r.spec.train.method());
}

/// How it was trained and scored, and where.
fn training_columns(c: &mut Columns) {
    c.float("lr", |r| Some(r.spec.train.lr));
    c.int("epochs", |r| r.spec.train.epochs as i64);
    c.int("batch_size", |r| r.spec.train.batch_size as i64);
    c.bool("linear_probe", |r| r.spec.train.linear_probe);
    c.int("n_docs", |r| r.spec.data.n_docs as i64);
    c.int("n_test_docs", |r| r.spec.data.n_test_docs as i64);
    c.float("test_accuracy", |r| Some(r.test_accuracy));
    c.float("supervisor_agreement", |r| r.supervisor_agreement);
    c.int("n_train", |r| r.n_train as i64);
    c.int("n_test", |r| r.n_test as i64);
    c.float("train_seconds", |r| Some(r.training.seconds));
    c.text("device", |r| r.device.clone());
    c.text("git_commit", |r| r.provenance.git_commit.clone());
    c.float("wall_seconds", |r| Some(r.provenance.wall_seconds));
}

/// The analyses: calibration, the theory's diagnostics, supervisors' weights, early stopping
/// and relabelling.
fn analysis_columns(c: &mut Columns) {
    c.float("auroc", |r| r.analysis.auroc);
    c.float("ece", |r| r.analysis.ece);
    c.float("copied_mistakes", |r| r.analysis.copied_mistakes);
    c.float("kept_correct", |r| r.analysis.kept_correct);
    let d = |r: &RunResult| r.analysis.diagnostics;
    c.float("misfit_squared", move |r| Some(d(r)?.misfit_squared));
    c.float("gain_squared", move |r| Some(d(r)?.gain_squared));
    c.float("misfit_kl", move |r| Some(d(r)?.misfit_kl));
    c.float("gain_xent", move |r| Some(d(r)?.gain_xent));
    c.float("errors_copied", move |r| Some(d(r)?.copied));
    c.float("errors_corrected", move |r| Some(d(r)?.corrected));
    c.float("errors_new", move |r| Some(d(r)?.new_mistakes));
    c.float("auroc_vs_supervisor", |r| r.analysis.auroc_vs_supervisor);
    c.float("supervisor_accuracy", |r| r.supervisor_accuracy);
    c.int("co_supervisors", |r| r.spec.co_supervisors.len() as i64);
    c.text("supervisor_weights", |r| {
        let w = r.training.supervisor_weights.iter().flatten();
        w.map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(";")
    });
    c.int("best_step", |r| {
        r.training.best_step.map_or(-1, |s| s as i64)
    });
    c.int("relabelled", |r| {
        r.relabelling.as_ref().map_or(0, |x| x.changed as i64)
    });
    c.float("label_accuracy_before", |r| {
        r.relabelling.as_ref().map(|x| x.accuracy_before)
    });
    c.float("label_accuracy_after", |r| {
        r.relabelling.as_ref().map(|x| x.accuracy_after)
    });
}

/// One CSV row per run (missing values empty): what pandas' `read_csv` reads directly.
pub fn runs_csv(runs: &[RunResult]) -> anyhow::Result<String> {
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
pub fn write_runs_parquet(runs: &[RunResult], path: &std::path::Path) -> anyhow::Result<()> {
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
