//! Local execution: the plan wave by wave, each run a `w2s exec-run` worker process in one of
//! `--jobs` slots, each slot with its device and thread count.

use super::Planned;
use crate::experiment::{is_done, Failure, RunSpec};
use crate::store;
use anyhow::{Context, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The spec file a worker process reads: `RESULTS/.sweep/specs/<hash>.json`.
pub fn spec_file(results: &Path, spec: &RunSpec) -> Result<PathBuf> {
    let path = results
        .join(".sweep")
        .join("specs")
        .join(format!("{}.json", spec.hash()));
    if !path.exists() {
        store::write_json(&path, spec)?;
    }
    Ok(path)
}

/// How worker processes are started.
#[derive(Debug, Clone)]
pub struct Local {
    /// The `w2s` binary.
    pub exe: PathBuf,
    pub jobs: usize,
    /// Devices handed out round-robin to job slots.
    pub devices: Vec<String>,
    /// The GPUs this process may use ([`visible_gpus`]); with the device `auto`, each slot is
    /// given one of them (round-robin) through its worker's `CUDA_VISIBLE_DEVICES`.
    pub gpus: Vec<String>,
    pub threads_per_job: i32,
    pub force: bool,
}

/// What one job slot runs on: the worker's `--device`, and the one GPU it may see.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub device: String,
    pub gpu: Option<String>,
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.gpu {
            Some(g) => write!(f, "{} (CUDA_VISIBLE_DEVICES={g})", self.device),
            None => write!(f, "{}", self.device),
        }
    }
}

impl Local {
    /// The job slots. Named devices go round-robin; `auto` alone gives every slot one of the
    /// visible GPUs (the way Slurm hands a task its GPU), so `--jobs 4` on four GPUs trains
    /// four runs side by side rather than four on the first GPU.
    pub fn slots(&self) -> Vec<Slot> {
        let auto = self.devices.is_empty() || self.devices == ["auto"];
        (0..self.jobs.max(1))
            .map(|i| match auto {
                true => Slot {
                    device: "auto".into(),
                    gpu: (!self.gpus.is_empty()).then(|| self.gpus[i % self.gpus.len()].clone()),
                },
                false => Slot {
                    device: self.devices[i % self.devices.len()].clone(),
                    gpu: None,
                },
            })
            .collect()
    }
}

/// The GPUs this process may use, as `CUDA_VISIBLE_DEVICES` names them: that variable's
/// entries when it is set (Slurm, or the user, chose them), else `0..n` for the n devices
/// libtorch sees.
pub fn visible_gpus() -> Vec<String> {
    match std::env::var("CUDA_VISIBLE_DEVICES") {
        Ok(v) => v
            .split(',')
            .map(str::trim)
            .take_while(|g| !g.is_empty() && !g.starts_with('-'))
            .map(str::to_owned)
            .collect(),
        Err(_) => (0..tch::Cuda::device_count().max(0))
            .map(|i| i.to_string())
            .collect(),
    }
}

/// The outcome of executing a plan.
#[derive(Debug, Default)]
pub struct Summary {
    pub reused: usize,
    pub trained: usize,
    pub failed: Vec<Failure>,
    pub skipped: Vec<Failure>,
}

/// Run the plan wave by wave with up to `jobs` worker processes at a time. A failed run is
/// recorded (`failed.json` in its folder) and its dependents are skipped; the rest goes on.
pub fn execute_local(
    plan: &[Planned],
    results: &Path,
    local: &Local,
    progress: &indicatif::ProgressBar,
) -> Result<Summary> {
    let mut summary = Summary::default();
    let mut failed_hashes = HashSet::new();
    let logs = results.join(".sweep").join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    for (_, wave) in super::plan::waves(plan) {
        let mut queue = to_run(
            wave,
            results,
            local,
            &mut summary,
            &mut failed_hashes,
            progress,
        );
        // Longest first, so that the wave does not end with one long run on one slot while the
        // others idle.
        queue.sort_by_cached_key(|p| std::cmp::Reverse(p.spec.cost()));
        // A fixed pool of job slots; each slot keeps its device.
        let slots = local.slots();
        let mut running: Vec<(std::process::Child, &Planned, usize, PathBuf)> = Vec::new();
        let mut free: Vec<usize> = (0..slots.len()).rev().collect();
        let mut next = 0;
        while next < queue.len() || !running.is_empty() {
            while next < queue.len() && !free.is_empty() {
                let slot = free.pop().unwrap();
                let p = queue[next];
                next += 1;
                progress.set_message(p.spec.folder_name());
                let (child, log) = spawn_worker(local, results, p, &slots[slot], &logs)?;
                running.push((child, p, slot, log));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            // A notebook's interrupt stops the sweep: its workers first (what they stored
            // stays; the next sweep resumes from there).
            if let Err(e) = crate::progress::check_interrupt() {
                for (child, ..) in &mut running {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(e);
            }
            let mut i = 0;
            while i < running.len() {
                if let Some(status) = running[i].0.try_wait()? {
                    let (_, p, slot, log) = running.swap_remove(i);
                    free.push(slot);
                    progress.inc(1);
                    if let Some(f) = finished(status, p, &log, results, &mut summary)? {
                        failed_hashes.insert(p.spec.hash());
                        summary.failed.push(f);
                    }
                } else {
                    i += 1;
                }
            }
        }
    }
    Ok(summary)
}

/// The runs of a wave that need a worker: not those already stored (unless forced), nor
/// those whose supervisor failed (skipped, saying so).
fn to_run<'a>(
    wave: &'a [Planned],
    results: &Path,
    local: &Local,
    summary: &mut Summary,
    failed_hashes: &mut HashSet<String>,
    progress: &indicatif::ProgressBar,
) -> Vec<&'a Planned> {
    let mut queue = Vec::new();
    for p in wave {
        if !local.force && is_done(&p.spec.dir(results), p.supervises) {
            summary.reused += 1;
            progress.inc(1);
            continue;
        }
        let sup_failed = p
            .spec
            .supervisor
            .iter()
            .map(|s| s.as_ref())
            .chain(&p.spec.co_supervisors)
            .any(|s| failed_hashes.contains(&s.hash()));
        if sup_failed {
            // Its own students are skipped in turn.
            failed_hashes.insert(p.spec.hash());
            summary.skipped.push(Failure {
                hash: p.spec.hash(),
                folder: p.spec.dir(results),
                reason: "its supervisor failed".into(),
            });
            progress.inc(1);
            continue;
        }
        queue.push(p);
    }
    queue
}

/// Start `w2s exec-run` for one run on `slot`, its output into a log of its own (one per run
/// and sweep process: concurrent sweeps never share one).
fn spawn_worker(
    local: &Local,
    results: &Path,
    p: &Planned,
    slot: &Slot,
    logs: &Path,
) -> Result<(std::process::Child, PathBuf)> {
    let spec_path = spec_file(results, &p.spec)?;
    let log = logs.join(format!("{}-{}.log", p.spec.hash(), std::process::id()));
    let log_file =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut cmd = Command::new(&local.exe);
    cmd.args(["exec-run", "--results"])
        .arg(results)
        .arg("--device")
        .arg(&slot.device)
        .arg("--threads")
        .arg(local.threads_per_job.to_string())
        .arg(&spec_path)
        .stdout(
            log_file
                .try_clone()
                .with_context(|| format!("opening {}", log.display()))?,
        )
        .stderr(log_file);
    if local.force {
        cmd.arg("--force");
    }
    if p.supervises {
        cmd.arg("--predict-train2");
    }
    if let Some(gpu) = &slot.gpu {
        cmd.env("CUDA_VISIBLE_DEVICES", gpu);
    }
    die_with_parent(&mut cmd);
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", local.exe.display()))?;
    Ok((child, log))
}

/// A worker has exited: count its run as trained or reused, or return its failure (recorded in
/// the run's folder) with the last error line of its log.
fn finished(
    status: std::process::ExitStatus,
    p: &Planned,
    log: &Path,
    results: &Path,
    summary: &mut Summary,
) -> Result<Option<Failure>> {
    let tail = std::fs::read_to_string(log).unwrap_or_default();
    if status.success() && is_done(&p.spec.dir(results), p.supervises) {
        // Trained by this worker, or by another process meanwhile.
        match tail.lines().any(|l| l.starts_with(super::WORKER_TRAINED)) {
            true => summary.trained += 1,
            false => summary.reused += 1,
        }
        return Ok(None);
    }
    let reason = tail
        .lines()
        .rev()
        .find(|l| l.starts_with("error"))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("worker exited with {status}; log: {}", log.display()));
    Ok(Some(Failure::record(&p.spec, results, reason)?))
}

/// Workers die with the sweep, however it dies (SIGINT, SIGKILL, a crash): a rerun then never
/// races an orphan for the same run. Linux's parent-death signal; elsewhere workers finish
/// their run (their writes are atomic either way).
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(devices: &[&str], gpus: &[&str], jobs: usize) -> Local {
        Local {
            exe: "w2s".into(),
            jobs,
            devices: devices.iter().map(|d| d.to_string()).collect(),
            gpus: gpus.iter().map(|g| g.to_string()).collect(),
            threads_per_job: 1,
            force: false,
        }
    }

    fn shown(l: &Local) -> Vec<String> {
        l.slots().iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn auto_gives_each_slot_one_visible_gpu() {
        assert_eq!(
            shown(&local(&["auto"], &["3", "5"], 3)),
            [
                "auto (CUDA_VISIBLE_DEVICES=3)",
                "auto (CUDA_VISIBLE_DEVICES=5)",
                "auto (CUDA_VISIBLE_DEVICES=3)"
            ]
        );
        // No GPU: every slot decides for itself (the CPU).
        assert_eq!(shown(&local(&["auto"], &[], 2)), ["auto", "auto"]);
    }

    #[test]
    fn named_devices_go_round_robin_untouched() {
        assert_eq!(
            shown(&local(&["cuda:1", "cpu"], &["0", "1"], 3)),
            ["cuda:1", "cpu", "cuda:1"]
        );
    }
}
