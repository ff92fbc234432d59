//! Tables for the terminal.

use crate::experiment::Outcome;

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

/// One line of a sweep report: a supervision chain (weak -> ... -> strong) and a loss,
/// aggregated over seeds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SweepRow {
    pub dataset: String,
    /// Model names from the root weak supervisor to the student.
    pub chain: Vec<String>,
    pub loss: String,
    pub seeds: Vec<u64>,
    pub weak: f64,
    pub ceiling: f64,
    pub student: f64,
    /// Mean PGR over seeds with its 95% bootstrap interval; None where ceiling <= weak.
    pub pgr: Option<(f64, f64, f64)>,
    pub agreement: f64,
    /// Parameters of the student (strong) model.
    pub strong_parameters: i64,
}

impl SweepRow {
    /// "mean [low, high]", or why there is no PGR.
    fn pgr_cell(&self) -> String {
        match self.pgr {
            Some((m, lo, hi)) => format!("{m:+.2} [{lo:+.2}, {hi:+.2}]"),
            None => "n/a (ceiling <= weak)".into(),
        }
    }
}

fn short(model: &str) -> String {
    std::path::Path::new(model)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| model.to_owned())
}

/// Aggregate stored runs into rows: every student whose root supervisor and strong ceiling
/// (same task, seed, options) are also among `runs`.
pub fn sweep_rows(runs: &[crate::experiment::RunResult]) -> Vec<SweepRow> {
    use std::collections::BTreeMap;
    let data_key = |r: &crate::experiment::RunResult| serde_json::to_string(&r.spec.data).unwrap();
    // Ground-truth accuracy by (task, seed, model): the ceiling of a student is the ground-truth
    // run of its own model.
    let mut gt: BTreeMap<(String, u64, String), f64> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.spec.is_ground_truth()) {
        gt.insert(
            (data_key(r), r.spec.seed, r.spec.model.clone()),
            r.test_accuracy,
        );
    }
    let ensemble_accuracy: BTreeMap<String, Option<f64>> = runs
        .iter()
        .filter(|r| !r.spec.co_supervisors.is_empty())
        .map(|r| (r.hash.clone(), r.supervisor_accuracy))
        .collect();
    type Key = (String, String, Vec<String>, String);
    /// (seed, weak, ceiling, student, agreement)
    type Seed = (u64, f64, f64, f64, f64);
    let mut groups: BTreeMap<Key, Vec<Seed>> = BTreeMap::new();
    let mut sizes: BTreeMap<String, i64> = BTreeMap::new();
    for r in runs.iter().filter(|r| !r.spec.is_ground_truth()) {
        let mut chain = vec![r.spec.model.clone()];
        let mut sup = r.spec.supervisor.as_deref();
        let mut root = None;
        let mut parent = &r.spec;
        while let Some(s) = sup {
            // Several supervisors show as one link, `a+b`.
            let mut link = s.model.clone();
            for c in &parent.co_supervisors {
                link = format!("{link}+{}", short(&c.model));
            }
            chain.push(link);
            root = Some((s, parent));
            parent = s;
            sup = s.supervisor.as_deref();
        }
        chain.reverse();
        let (Some((root, root_student)), dk) = (root, data_key(r)) else {
            continue;
        };
        sizes.insert(r.spec.model.clone(), r.model.parameters);
        // The weak baseline is the root supervisor's accuracy, or its ensemble's.
        let weak = if root_student.co_supervisors.is_empty() {
            gt.get(&(dk.clone(), r.spec.seed, root.model.clone()))
                .copied()
        } else {
            ensemble_accuracy
                .get(&root_student.hash())
                .copied()
                .flatten()
        };
        let ceiling = gt.get(&(dk.clone(), r.spec.seed, r.spec.model.clone()));
        if let (Some(w), Some(&c)) = (weak, ceiling) {
            // Options are part of the key: two settings of one method stay two rows.
            let options = crate::store::config_hash(&r.spec.train);
            let key = (
                r.spec.data.name.clone(),
                format!("{dk}{options}"),
                chain,
                r.spec.train.method(),
            );
            groups.entry(key).or_default().push((
                r.spec.seed,
                w,
                c,
                r.test_accuracy,
                r.supervisor_agreement.unwrap_or(f64::NAN),
            ));
        }
    }
    let mut rows: Vec<SweepRow> = groups
        .into_iter()
        .map(|((dataset, _, chain, loss), mut v)| {
            v.sort_by_key(|x| x.0);
            let n = v.len() as f64;
            let mean = |f: fn(&Seed) -> f64| v.iter().map(f).sum::<f64>() / n;
            let pgrs: Vec<f64> = v
                .iter()
                .filter_map(|x| crate::metrics::pgr(x.1, x.2, x.3))
                .collect();
            SweepRow {
                dataset,
                chain: chain.iter().map(|m| short(m)).collect(),
                loss,
                seeds: v.iter().map(|x| x.0).collect(),
                weak: mean(|x| x.1),
                ceiling: mean(|x| x.2),
                student: mean(|x| x.3),
                pgr: crate::metrics::bootstrap_ci(&pgrs, 10_000, 0),
                agreement: mean(|x| x.4),
                strong_parameters: sizes.get(chain.last().unwrap()).copied().unwrap_or(0),
            }
        })
        .collect();
    // Within a dataset and chain, methods in name order (the grouping key is not).
    rows.sort_by(|a, b| (&a.dataset, &a.chain, &a.loss).cmp(&(&b.dataset, &b.chain, &b.loss)));
    rows
}

/// The sweep report as text: a table per dataset, then the median PGR of each loss across
/// datasets (direct weak -> strong pairs with a defined PGR).
pub fn sweep_table(rows: &[SweepRow]) -> String {
    let mut out = String::new();
    let mut datasets: Vec<&str> = rows.iter().map(|r| r.dataset.as_str()).collect();
    datasets.dedup();
    for d in &datasets {
        out += &format!("\n## {d}\n\n");
        out += &format!(
            "{:<44} {:<18} {:>6} {:>8} {:>8}  {:<24} {:>6} {:>5}\n",
            "supervision", "loss", "weak", "ceiling", "student", "PGR [95% CI]", "agree", "seeds"
        );
        for r in rows.iter().filter(|r| r.dataset == *d) {
            let pgr = r.pgr_cell();
            out += &format!(
                "{:<44} {:<18} {:>6} {:>8} {:>8}  {:<24} {:>6} {:>5}\n",
                r.chain.join(" -> "),
                r.loss,
                pct(r.weak),
                pct(r.ceiling),
                pct(r.student),
                pgr,
                pct(r.agreement),
                r.seeds.len()
            );
        }
    }
    let mut losses: Vec<&str> = rows.iter().map(|r| r.loss.as_str()).collect();
    losses.sort();
    losses.dedup();
    out += "\n## median PGR across datasets (direct pairs, weak model != strong model)\n\n";
    for l in losses {
        let v: Vec<f64> = rows
            .iter()
            .filter(|r| r.loss == l && r.chain.len() == 2 && r.chain[0] != r.chain[1])
            .filter_map(|r| r.pgr.map(|p| p.0))
            .collect();
        let m = crate::metrics::median(&v)
            .map(|m| format!("{m:+.2}"))
            .unwrap_or_else(|| "n/a".into());
        out += &format!("{l:<18} {m} (over {} pairs)\n", v.len());
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained HTML report: tables per dataset and the plots' SVGs inline (no external
/// files, scripts or fonts), so it opens from disk anywhere.
pub fn sweep_html(
    rows: &[SweepRow],
    svgs: &[std::path::PathBuf],
    n_runs: usize,
) -> anyhow::Result<String> {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>w2s report</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}td:first-child,td:nth-child(2),th{text-align:left}th{background:#eee}figure{margin:1em 0}</style></head><body>\n",
    );
    h += &format!("<h1>Weak-to-strong report</h1>\n<p>{n_runs} runs. PGR = (student &minus; weak) / (ceiling &minus; weak), mean over seeds with a 95% bootstrap interval.</p>\n");
    let mut datasets: Vec<&str> = rows.iter().map(|r| r.dataset.as_str()).collect();
    datasets.dedup();
    for d in &datasets {
        h += &format!("<h2 id=\"{0}\">{0}</h2>\n<table class=\"results\"><tr><th>supervision</th><th>loss</th><th>weak</th><th>ceiling</th><th>student</th><th>PGR [95% CI]</th><th>agreement</th><th>seeds</th></tr>\n", escape(d));
        for r in rows.iter().filter(|r| r.dataset == *d) {
            let pgr = r.pgr_cell();
            h += &format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&r.chain.join(" → ")),
                escape(&r.loss),
                pct(r.weak),
                pct(r.ceiling),
                pct(r.student),
                escape(&pgr),
                pct(r.agreement),
                r.seeds.len()
            );
        }
        h += "</table>\n";
        for svg in svgs.iter().filter(|p| {
            p.file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with(&format!("{d}-")))
        }) {
            let body = std::fs::read_to_string(svg)?;
            let name = svg.file_name().unwrap().to_string_lossy();
            h += &format!("<figure class=\"plot\">{body}<figcaption>{} (PNG: <a href=\"plots/{}\">{}</a>)</figcaption></figure>\n", escape(&name), escape(&name.replace(".svg", ".png")), escape(&name.replace(".svg", ".png")));
        }
    }
    h += "<h2>Median PGR across datasets</h2>\n<pre>";
    let text = sweep_table(rows);
    if let Some(i) = text.find("## median") {
        h += &escape(&text[i..]);
    }
    h += "</pre>\n</body></html>\n";
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
        Column::Text("dataset", text(&|r| r.spec.data.name.clone())),
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
    let tmp = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(std::path::Path::new(".")))?;
    let props = Arc::new(WriterProperties::builder().build());
    let mut writer = SerializedFileWriter::new(tmp.reopen()?, Arc::new(schema), props)?;
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
    tmp.persist(path)?;
    Ok(())
}
