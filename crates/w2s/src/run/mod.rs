//! A run beside the experiment that ties runs together (`experiment.rs`): what it is and how
//! it is named (`spec.rs`), the run folder's contract and reuse rule (`record.rs`), where and
//! how it executes (`runner.rs`), the recipe's steps (`steps.rs`), and the checked caches
//! those steps read (`cache.rs`).

pub mod cache;
pub mod record;
pub mod runner;
pub mod spec;
mod steps;
