//! `w2s exec-run`: one stored run spec, as sweep workers and Slurm tasks run it.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use w2s::experiment::Runner;

#[derive(Args)]
pub struct ExecArgs {
    /// The run spec (JSON) that `w2s sweep` wrote.
    spec: PathBuf,
    /// The sweep's results folder.
    #[arg(long)]
    results: PathBuf,
    /// auto, cpu, cuda, cuda:N or mps.
    #[arg(long, default_value = "auto")]
    device: String,
    /// CPU threads for libtorch. [default: all cores]
    #[arg(long, value_parser = w2s::config::parse_threads)]
    threads: Option<i32>,
    /// Retrain the run even when a complete result exists.
    #[arg(long)]
    force: bool,
    /// Predict train2 too: the sweep sets it for runs that supervise others.
    #[arg(long)]
    predict_train2: bool,
}

/// Run the spec (its supervisors must be stored); a failure is recorded beside the run by the
/// runner (failed.json), so a Slurm task's failure, or its skip for a missing supervisor, is on
/// disk with its reason.
pub fn exec_run(a: ExecArgs) -> Result<()> {
    let spec: w2s::experiment::RunSpec = w2s::store::read_json(&a.spec)?;
    let mut runner = Runner::set_up(a.results, &a.device, a.threads, a.force)?;
    runner.train_supervisors = false;
    runner.predict_train2 = a.predict_train2;
    let r = runner.run(&spec)?;
    // The sweep reads this line to count what this worker trained (another process may
    // have trained the run while this one waited for its lock).
    let how = match runner.trained_count() {
        0 => w2s::sweep::WORKER_STORED,
        _ => w2s::sweep::WORKER_TRAINED,
    };
    println!("{how} {}: test accuracy {:.4}", r.hash, r.test_accuracy);
    Ok(())
}
