//! Flags every training command shares, and the runner they make.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use w2s::experiment::Runner;

#[derive(Args)]
#[command(next_help_heading = "Storage and device")]
pub struct Common {
    /// Folder where runs are stored (one sub-folder per run, reused when complete).
    /// [default: results (run), results/demo (demo), or the config's `results`]
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// auto, cpu, cuda, cuda:N or mps. [default: the config's `device`, else auto: CUDA if
    /// libtorch sees a GPU, then MPS, then the CPU]
    #[arg(long)]
    pub device: Option<String>,
    /// CPU threads for libtorch. [default: all cores]
    #[arg(long, value_parser = w2s::config::parse_threads)]
    pub threads: Option<i32>,
    /// Retrain runs even when a complete result exists.
    #[arg(long)]
    pub force: bool,
}

/// The runner of a command: its results folder and device from the flags, else the
/// config's, else the defaults; libtorch's threads set.
pub fn runner(
    common: &Common,
    file_results: Option<PathBuf>,
    file_device: Option<String>,
    default_results: &str,
) -> Result<Runner> {
    let device = common
        .device
        .clone()
        .or(file_device)
        .unwrap_or_else(|| "auto".into());
    let results = common
        .results
        .clone()
        .or(file_results)
        .unwrap_or_else(|| default_results.into());
    Runner::set_up(results, &device, common.threads, common.force)
}
