//! A sweep from start to end, the one way `w2s sweep` and Python's `w2s.sweep()` run it: plan,
//! say what is reused, then run here or submit to Slurm, and print the report. How it runs
//! ([`Execution`]) is what the command's flags and Python's keywords say, under one set of names.

use super::{Local, SweepFile, TaskSettings};
use crate::device::parse_device;
use anyhow::Result;
use serde::Deserialize;
use std::io::Write;
use std::path::Path;

/// Where the runs train.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Executor {
    /// Here, `jobs` runs at a time, with a progress bar; a table at the end.
    #[default]
    Local,
    /// Submit one Slurm job array per supervision depth with sbatch, and return.
    Slurm,
}

/// How a sweep runs (not what: that is the sweep file).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Execution {
    /// Runs at a time on this machine.
    pub jobs: usize,
    /// Devices of the job slots, given out round-robin; on Slurm the first, for every task.
    pub devices: Vec<String>,
    /// CPU threads per run; none: cores / jobs.
    pub threads: Option<i32>,
    pub executor: Executor,
    /// Extra #SBATCH lines for the slurm executor.
    pub sbatch: Vec<String>,
    /// Retrain runs that are already complete.
    pub force: bool,
    /// Print the plan and stop.
    pub dry_run: bool,
}

impl Default for Execution {
    fn default() -> Self {
        Execution {
            jobs: 1,
            devices: vec!["auto".into()],
            threads: None,
            executor: Executor::Local,
            sbatch: Vec::new(),
            force: false,
            dry_run: false,
        }
    }
}

/// Plan `file` into `results` and run it as `how` says; `exe` is the `w2s` program the workers
/// and Slurm tasks run. What a user reads goes to `out`; a failed run fails the sweep at the
/// end, after every other run and the report.
pub fn execute(
    file: &SweepFile,
    results: &Path,
    exe: &Path,
    how: &Execution,
    out: &mut dyn Write,
) -> Result<()> {
    if how.jobs == 0 {
        anyhow::bail!("jobs = 0: run at least one job at a time");
    }
    let results = std::path::absolute(results)?;
    // The default precision is the first device's, decided here: on Slurm, where the tasks'
    // GPUs are not visible from this machine, a file or flag should say `mixed_precision`.
    let first = how.devices.first().map_or("auto", String::as_str);
    let device = parse_device(first)?;
    let mixed = crate::device::mixed_precision_pays(device);
    let plan = super::plan(file, mixed)?;
    let done = plan
        .iter()
        .filter(|p| crate::experiment::is_done(&p.spec.dir(&results), p.supervises))
        .count();
    writeln!(
        out,
        "{} runs planned in {}: {} complete (reused), {} to run",
        plan.len(),
        results.display(),
        done,
        plan.len() - done
    )?;
    writeln!(
        out,
        "precision where the file does not say: {}",
        match mixed {
            true => format!("mixed (bf16 matmuls are native on {device:?})"),
            false => format!("f32 (bf16 is not native on {device:?})"),
        }
    )?;
    if how.dry_run {
        for line in super::plan::dry_run(&plan, &results, device)? {
            writeln!(out, "{line}")?;
        }
        return Ok(());
    }
    match how.executor {
        Executor::Slurm => {
            let task = TaskSettings {
                device: first.to_owned(),
                threads: how.threads,
                force: how.force,
            };
            let ids = super::submit_slurm(&plan, &results, exe, &how.sbatch, &task)?;
            writeln!(out, "submitted Slurm job arrays {} (one per supervision depth); rerun the sweep to resubmit what is missing", ids.join(", "))?;
            Ok(())
        }
        Executor::Local => run_here(&plan, &results, exe, how, out),
    }
}

/// The plan on this machine, `jobs` workers at a time, then the report's table.
fn run_here(
    plan: &[super::Planned],
    results: &Path,
    exe: &Path,
    how: &Execution,
    out: &mut dyn Write,
) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let local = Local {
        exe: exe.to_path_buf(),
        jobs: how.jobs,
        devices: how.devices.clone(),
        gpus: super::local::visible_gpus(),
        threads_per_job: how
            .threads
            .unwrap_or_else(|| (cores / how.jobs).max(1) as i32),
        force: how.force,
    };
    let slots: Vec<String> = local.slots().iter().map(|s| s.to_string()).collect();
    writeln!(
        out,
        "job slots: {}; {} CPU threads each",
        slots.join(", "),
        local.threads_per_job
    )?;
    let bar = crate::progress::bar(
        plan.len() as u64,
        "sweep [{bar:30}] {pos}/{len} runs {elapsed} {msg}",
    );
    let start = std::time::Instant::now();
    let summary = super::execute_local(plan, results, &local, &bar)?;
    bar.finish_and_clear();
    writeln!(
        out,
        "trained {}, reused {}, failed {}, skipped {} in {:.0} s",
        summary.trained,
        summary.reused,
        summary.failed.len(),
        summary.skipped.len(),
        start.elapsed().as_secs_f64()
    )?;
    for f in summary.failed.iter().chain(&summary.skipped) {
        writeln!(out, "  FAILED {}: {}", f.folder.display(), f.reason)?;
    }
    let (runs, skipped) = crate::report::load_runs(results)?;
    let mut report = crate::report::Report::new(&runs, crate::report::Aggregate::default());
    report.not_reported = skipped;
    write!(out, "{}", crate::report::sweep_table(&report))?;
    if !summary.failed.is_empty() {
        anyhow::bail!("{} run(s) failed; see above", summary.failed.len());
    }
    Ok(())
}
