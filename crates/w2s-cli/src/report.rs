//! `w2s report`: tables, medians, plots and exports of a results folder.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ReportArgs {
    /// A results folder of `w2s sweep`, `w2s run` or `w2s demo`.
    results: PathBuf,
    /// Where report.txt and runs.csv go. [default: the results folder]
    #[arg(long)]
    out: Option<PathBuf>,
    /// How runs combine into PGRs: `reference` (openai/weak-to-strong's notebook: baselines
    /// from all ground-truth runs, one PGR per student run, medians over runs), `pooled` (mean
    /// accuracies over a pair's seeds, then PGR, with 95% intervals over test examples) or
    /// `per-seed` (mean of per-seed PGRs, with intervals). docs/METHODS.md has the details.
    #[arg(long, default_value = "reference",
          value_parser = clap::builder::PossibleValuesParser::new(w2s::report::Aggregate::NAMES))]
    aggregate: String,
}

pub fn report(a: ReportArgs) -> Result<()> {
    let out = a.out.clone().unwrap_or_else(|| a.results.clone());
    let (report, table) = w2s::report::write(&a.results, &out, a.aggregate.parse()?)?;
    print!("{table}");
    println!(
        "\n{} rows; wrote report.txt, report.html, report.json, runs.csv, runs.parquet and plots/ (SVG, PNG) to {}",
        report.rows.len(),
        out.display()
    );
    Ok(())
}
