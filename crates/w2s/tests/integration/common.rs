//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A real checkpoint folder that `./dev setup` provides under `models/`, or `$env`.
fn pretrained(env: &str, folder: &str) -> PathBuf {
    let dir = std::env::var(env)
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("models").join(folder));
    assert!(
        dir.join("model.safetensors").exists(),
        "{folder} not found at {}: run `./dev setup` (or set {env})",
        dir.display()
    );
    dir
}

/// all-MiniLM-L6-v2, linked by `./dev setup` from its pip package.
pub fn minilm() -> PathBuf {
    pretrained("W2S_MINILM", "all-MiniLM-L6-v2")
}

/// all-mpnet-base-v2, unpacked by `./dev setup`.
pub fn mpnet() -> PathBuf {
    pretrained("W2S_MPNET", "all-mpnet-base-v2")
}

/// `../shared/datasets` (or `$W2S_SHARED/datasets`), the real dataset copies beside the
/// repository. Without them the test skips, saying so in one line, unless
/// `W2S_REQUIRE_SHARED` is set (CI sets it), when their absence fails it.
pub fn shared_datasets(test: &str) -> Option<PathBuf> {
    let dir = std::env::var("W2S_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("../shared"))
        .join("datasets");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("W2S_REQUIRE_SHARED").is_none(),
        "{test}: shared datasets not found at {} and W2S_REQUIRE_SHARED is set: set W2S_SHARED",
        dir.display()
    );
    // Straight to stderr, not through `eprintln!`, which the test harness captures and hides
    // for passing tests: the skip must show in a plain `cargo test`.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipping {test}: no shared datasets at {} (set W2S_SHARED to run it)",
        dir.display()
    );
    None
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
        .arg(root().join("scripts/fixtures").join(script))
        .args(args)
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Tiny random models of every family in `dir` (`scripts/fixtures/tiny_models.py`, with
/// MiniLM's tokenizer).
pub fn tiny_models(dir: &std::path::Path) {
    let tok = minilm().join("tokenizer.json");
    run_python(
        "tiny_models.py",
        &[dir.to_str().unwrap(), tok.to_str().unwrap()],
    );
}

/// Training options for test runs: batch 32 in minibatches of 16, cross-entropy, full
/// finetuning, no extra methods.
pub fn opts(lr: f64, epochs: usize) -> w2s::options::TrainOptions {
    w2s::options::TrainOptions {
        lr,
        epochs,
        minibatch_size: 16,
        ..Default::default()
    }
}

/// SmolLM2-135M-Instruct (a Llama decoder), converted by `./dev setup` from its pip package.
pub fn smollm2() -> PathBuf {
    pretrained("W2S_SMOLLM2", "SmolLM2-135M-Instruct")
}
