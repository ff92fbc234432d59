//! w2s: weak-to-strong generalization experiments (Burns et al., 2023) on libtorch.
//!
//! Read in this order: [`dataset`] (examples and splits), [`model`] (backbones with a
//! zero-initialised two-class head), [`loss`], [`train`] (the loop), [`labels`] (combining
//! and cleaning weak labels), [`experiment`] (runs and how they feed each other), [`metrics`], [`store`] (results on disk), [`report`].

pub mod bench;
pub mod config;
pub mod dataset;
pub mod experiment;
pub mod labels;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod plots;
pub mod report;
pub mod store;
pub mod sweep;
pub mod train;

pub use tch;
