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
    /// How runs combine into PGRs (docs/METHODS.md has the details).
    #[arg(long, value_enum, default_value_t)]
    aggregate: w2s::report::Aggregate,
}

pub fn report(a: ReportArgs) -> Result<()> {
    let out = a.out.clone().unwrap_or_else(|| a.results.clone());
    let (report, table) = w2s::report::write(&a.results, &out, a.aggregate)?;
    print!("{table}");
    println!(
        "\n{} rows; wrote report.txt, report.html, report.json, runs.csv, runs.parquet and plots/ (SVG, PNG) to {}",
        report.rows.len(),
        out.display()
    );
    Ok(())
}
