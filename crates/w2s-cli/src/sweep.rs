//! `w2s sweep`: plan a grid of runs, print the plan, run it here or submit it to Slurm.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct SweepArgs {
    /// The sweep file.
    config: PathBuf,
    /// Print the plan (what would run, what is reused) and stop.
    #[arg(long)]
    dry_run: bool,
    /// Runs at a time on this machine (at least 1).
    #[arg(long, default_value_t = 1, value_parser = parse_jobs)]
    jobs: usize,
    /// Devices for the job slots, comma-separated (e.g. cuda:0,cuda:1), given out round-robin;
    /// on Slurm the first, for every task (`auto` uses the GPU Slurm gives the task).
    /// `auto`: CUDA if libtorch sees a GPU, then MPS, then the CPU.
    #[arg(long, value_delimiter = ',', default_value = "auto")]
    device: Vec<String>,
    /// CPU threads per run. [default: cores / jobs]
    #[arg(long, value_parser = w2s::config::parse_threads)]
    threads: Option<i32>,
    /// Where the runs train.
    #[arg(long, value_enum, default_value_t)]
    executor: w2s::sweep::Executor,
    /// Extra #SBATCH lines for the slurm executor, e.g. --sbatch=--gres=gpu:1
    #[arg(long)]
    sbatch: Vec<String>,
    /// Results folder. [default: the file's `results`, else results/sweep]
    #[arg(long)]
    results: Option<PathBuf>,
    /// Retrain runs that are already complete.
    #[arg(long)]
    force: bool,
}

pub fn sweep(a: SweepArgs, exe: PathBuf) -> Result<()> {
    let file = w2s::sweep::SweepFile::read(&a.config)?;
    let results = a
        .results
        .clone()
        .or(file.results.clone())
        .unwrap_or_else(|| "results/sweep".into());
    let how = w2s::sweep::Execution {
        jobs: a.jobs,
        devices: a.device,
        threads: a.threads,
        executor: a.executor,
        sbatch: a.sbatch,
        force: a.force,
        dry_run: a.dry_run,
    };
    w2s::sweep::execute(&file, &results, &exe, &how, &mut std::io::stdout())
}

fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}`: give how many runs at a time, 1 or more")),
    }
}
