//! What belongs to a run beside its recipe (`experiment.rs`): the run folder's contract and
//! reuse rule (`record.rs`), and the checked caches its steps read (`cache.rs`).

pub mod cache;
pub mod record;
