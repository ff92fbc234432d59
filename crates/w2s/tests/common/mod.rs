//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The real all-MiniLM-L6-v2 folder that `./dev setup` links (or `W2S_MINILM`).
pub fn minilm() -> PathBuf {
    let dir = std::env::var("W2S_MINILM")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("models/all-MiniLM-L6-v2"));
    assert!(
        dir.join("model.safetensors").exists(),
        "MiniLM not found at {}: run `./dev setup` (or set W2S_MINILM)",
        dir.display()
    );
    dir
}

/// The real all-mpnet-base-v2 folder that `./dev setup` unpacks (or `W2S_MPNET`).
pub fn mpnet() -> PathBuf {
    let dir = std::env::var("W2S_MPNET")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("models/all-mpnet-base-v2"));
    assert!(
        dir.join("model.safetensors").exists(),
        "MPNet not found at {}: run `./dev setup` (or set W2S_MPNET)",
        dir.display()
    );
    dir
}

/// The Python of the project's virtual environment (torch + transformers).
pub fn python() -> PathBuf {
    match std::env::var("VIRTUAL_ENV") {
        Ok(v) => PathBuf::from(v).join("bin/python"),
        Err(_) => root().join(".venv/bin/python"),
    }
}

/// Run a Python script of `scripts/` with arguments; panics with its stderr on failure.
pub fn run_python(script: &str, args: &[&str]) {
    let out = std::process::Command::new(python())
        .arg(root().join("scripts").join(script))
        .args(args)
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
