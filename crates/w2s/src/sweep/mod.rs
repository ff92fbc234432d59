//! Sweeps: a grid of runs declared once (models from weakest to strongest, datasets, losses,
//! seeds, bootstrapping chains), planned into waves by supervision depth, and executed by
//! `w2s` processes, locally (`--jobs N`) or as Slurm job arrays. Every run is the same stored,
//! hashed run that `w2s run` makes, so an interrupted sweep resumes by skipping complete runs.
//!
//! - [`mod@execute`]: a sweep from start to end, as the command and Python run it;
//! - [`mod@file`]: the sweep file's format;
//! - [`plan`](mod@plan): every run it implies, in dependency order;
//! - [`local`]: worker processes on this machine;
//! - [`slurm`]: one job array per supervision depth.

pub mod execute;
pub mod file;
pub mod local;
pub mod plan;
pub mod slurm;

pub use crate::experiment::Failure;
pub use execute::{execute, Execution, Executor};
pub use file::SweepFile;
pub use local::{execute_local, spec_file, Local, Summary};
pub use plan::{plan, Planned, Role};
pub use slurm::{submit_slurm, TaskSettings};

/// The first word of the line a worker (`w2s exec-run`) prints when it trained its run.
pub const WORKER_TRAINED: &str = "trained";
/// ... and when it found the run stored (another process trained it meanwhile).
pub const WORKER_STORED: &str = "stored";
