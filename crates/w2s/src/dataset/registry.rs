//! Named tasks. Each turns a public dataset's raw rows into binary examples.

use super::Pools;
use anyhow::{bail, Result};
use std::path::Path;

/// Names `load` accepts, with a line on each.
pub fn list() -> Vec<(&'static str, &'static str)> {
    vec![(
        "demo",
        "built-in: templated sentiment with adjectives unseen in train",
    )]
}

pub fn load(name: &str, _data_dir: Option<&Path>) -> Result<Pools> {
    let known: Vec<&str> = list().iter().map(|(n, _)| *n).collect();
    bail!("unknown dataset `{name}`; known: {}", known.join(", "))
}
