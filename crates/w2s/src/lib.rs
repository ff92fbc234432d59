//! w2s: weak-to-strong generalization experiments (Burns et al., 2023) on libtorch.
//!
//! Read in this order: [`dataset`] (examples, splits, registered and user tasks), [`model`]
//! (backbones with a zero-initialised two-class head, one file per family), [`loss`],
//! [`train`] (the loop; [`tensorboard`] writes its curves), [`labels`] (combining and cleaning
//! weak labels), [`device`] (devices and their memory), [`memory`] (estimates before work),
//! [`progress`] (bars), [`experiment`] (runs, and how they feed each other), [`store`] (results on
//! disk, named by content), [`config`] (run files), [`sweep`] (grids of runs, local and on
//! Slurm), [`metrics`], [`report`] (tables and figures), [`mod@bench`].

pub mod bench;
pub mod config;
pub mod dataset;
pub mod device;
pub mod experiment;
pub mod finite;
pub mod generative_finetuning;
pub mod hub;
pub mod labels;
pub mod loss;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod optimizer;
pub mod options;
pub mod plan;
pub mod progress;
pub mod report;
pub mod run;
pub mod store;
pub mod sweep;
pub mod tensorboard;
pub mod train;

pub use tch;

#[cfg(test)]
mod fuzz_tests;
