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

/// The table of runs, one row per run.
fn run_columns(runs: &[RunResult]) -> Vec<Column> {
    let text = |f: &dyn Fn(&RunResult) -> String| runs.iter().map(f).collect::<Vec<_>>();
    let int = |f: &dyn Fn(&RunResult) -> i64| runs.iter().map(f).collect::<Vec<_>>();
    let float = |f: &dyn Fn(&RunResult) -> Option<f64>| {
        runs.iter()
            .map(|r| f(r).unwrap_or(f64::NAN))
            .collect::<Vec<_>>()
    };
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
    vec![
        Column::Text("hash", text(&|r| r.hash.clone())),
        Column::Text("dataset", text(&|r| r.spec.data.short_name())),
        Column::Text("task", text(&|r| r.spec.data.name.clone())),
        Column::Bool("pairwise", runs.iter().map(|r| r.pairwise).collect()),
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
        Column::Text("model_name", text(&|r| short_name(&r.spec.model))),
        Column::Text("weak_model", text(&|r| weak(r, |m| m.to_owned()))),
        Column::Text("weak_model_name", text(&|r| weak(r, short_name))),
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
            "misfit_squared",
            float(&|r| Some(r.analysis.diagnostics?.misfit_squared)),
        ),
        Column::Float(
            "gain_squared",
            float(&|r| Some(r.analysis.diagnostics?.gain_squared)),
        ),
        Column::Float(
            "misfit_kl",
            float(&|r| Some(r.analysis.diagnostics?.misfit_kl)),
        ),
        Column::Float(
            "gain_xent",
            float(&|r| Some(r.analysis.diagnostics?.gain_xent)),
        ),
        Column::Float(
            "errors_copied",
            float(&|r| Some(r.analysis.diagnostics?.copied)),
        ),
        Column::Float(
            "errors_corrected",
            float(&|r| Some(r.analysis.diagnostics?.corrected)),
        ),
        Column::Float(
            "errors_new",
            float(&|r| Some(r.analysis.diagnostics?.new_mistakes)),
        ),
        Column::Float(
            "auroc_vs_supervisor",
            float(&|r| r.analysis.auroc_vs_supervisor),
        ),
        Column::Float("supervisor_accuracy", float(&|r| r.supervisor_accuracy)),
        Column::Int(
            "co_supervisors",
            int(&|r| r.spec.co_supervisors.len() as i64),
        ),
        Column::Text(
            "supervisor_weights",
            text(&|r| {
                let w = r.training.supervisor_weights.iter().flatten();
                w.map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(";")
            }),
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
