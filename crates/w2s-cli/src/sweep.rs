//! `w2s sweep`: plan a grid of runs, print the plan, run it here or submit it to Slurm.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use w2s::device::parse_device;

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
    executor: Executor,
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

#[derive(Clone, Copy, Default, clap::ValueEnum)]
enum Executor {
    /// Here, `--jobs` runs at a time, with a progress bar; a table at the end.
    #[default]
    Local,
    /// Submit one Slurm job array per supervision depth with sbatch, and return.
    Slurm,
}

pub fn sweep(a: SweepArgs, exe: PathBuf) -> Result<()> {
    use w2s::sweep;
    let file = sweep::SweepFile::read(&a.config)?;
    let results = a
        .results
        .clone()
        .or(file.results.clone())
        .unwrap_or_else(|| "results/sweep".into());
    let results = std::path::absolute(&results)?;
    // The default precision is the first device's, decided here: on Slurm, where the tasks'
    // GPUs are not visible from this machine, a file or flag should say `mixed_precision`.
    let device = parse_device(a.device.first().map_or("auto", String::as_str))?;
    let mixed = w2s::device::mixed_precision_pays(device);
    let plan = sweep::plan(&file, mixed)?;
    let done = plan
        .iter()
        .filter(|p| w2s::experiment::is_done(&p.spec.dir(&results), p.supervises))
        .count();
    println!(
        "{} runs planned in {}: {} complete (reused), {} to run",
        plan.len(),
        results.display(),
        done,
        plan.len() - done
    );
    println!(
        "precision where the file does not say: {}",
        match mixed {
            true => format!("mixed (bf16 matmuls are native on {device:?})"),
            false => format!("f32 (bf16 is not native on {device:?})"),
        }
    );
    if a.dry_run {
        for line in sweep::plan::dry_run(&plan, &results, device)? {
            println!("{line}");
        }
        return Ok(());
    }
    match a.executor {
        Executor::Slurm => {
            let task = sweep::TaskSettings {
                device: a.device.first().cloned().unwrap_or_else(|| "auto".into()),
                threads: a.threads,
                force: a.force,
            };
            let ids = sweep::submit_slurm(&plan, &results, &exe, &a.sbatch, &task)?;
            println!("submitted Slurm job arrays {} (one per supervision depth); rerun `w2s sweep` to resubmit what is missing", ids.join(", "));
            Ok(())
        }
        Executor::Local => run_local(&a, exe, &plan, &results),
    }
}

/// Run the plan here, `--jobs` workers at a time, then print the report.
fn run_local(
    a: &SweepArgs,
    exe: PathBuf,
    plan: &[w2s::sweep::Planned],
    results: &std::path::Path,
) -> Result<()> {
    use w2s::sweep;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let local = sweep::Local {
        exe,
        jobs: a.jobs,
        devices: a.device.clone(),
        gpus: sweep::local::visible_gpus(),
        threads_per_job: a.threads.unwrap_or_else(|| (cores / a.jobs).max(1) as i32),
        force: a.force,
    };
    let slots: Vec<String> = local.slots().iter().map(|s| s.to_string()).collect();
    println!(
        "job slots: {}; {} CPU threads each",
        slots.join(", "),
        local.threads_per_job
    );
    let bar = w2s::progress::bar(
        plan.len() as u64,
        "sweep [{bar:30}] {pos}/{len} runs {elapsed} {msg}",
    );
    let start = std::time::Instant::now();
    let summary = sweep::execute_local(plan, results, &local, &bar)?;
    bar.finish_and_clear();
    println!(
        "trained {}, reused {}, failed {}, skipped {} in {:.0} s",
        summary.trained,
        summary.reused,
        summary.failed.len(),
        summary.skipped.len(),
        start.elapsed().as_secs_f64()
    );
    for f in summary.failed.iter().chain(&summary.skipped) {
        println!("  FAILED {}: {}", f.folder.display(), f.reason);
    }
    let (runs, skipped) = w2s::report::load_runs(results)?;
    let mut report = w2s::report::Report::new(&runs, w2s::report::Aggregate::default());
    report.not_reported = skipped;
    print!("{}", w2s::report::sweep_table(&report));
    if !summary.failed.is_empty() {
        anyhow::bail!("{} run(s) failed; see above", summary.failed.len());
    }
    Ok(())
}

/// `--jobs`: at least one run at a time.
fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}`: give how many runs at a time, 1 or more")),
    }
}
