//! Copy a checkpoint's tensors into a model's variables, by name, with errors that name the
//! missing or mis-shaped tensor.
//!
//! Handles single-file and sharded (`model.safetensors.index.json`) safetensors, any float
//! dtype on disk (bf16 and f16 are converted to the model's dtype), checkpoints saved with or
//! without the architecture prefix (`bert.`, `transformer.`, `model.`), and the old
//! `LayerNorm.gamma/beta` names.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::Tensor;

/// The safetensors files of a model folder, in shard order.
pub fn checkpoint_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.exists() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let text = std::fs::read_to_string(&index)?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not valid JSON", index.display()))?;
        let map = json["weight_map"]
            .as_object()
            .with_context(|| format!("{}: no \"weight_map\" object", index.display()))?;
        let mut files: Vec<String> = map
            .values()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        files.sort();
        files.dedup();
        return Ok(files.into_iter().map(|f| dir.join(f)).collect());
    }
    if dir.join("pytorch_model.bin").exists() {
        bail!(
            "{} holds only pytorch_model.bin; w2s reads safetensors. Convert it once with \
             `python -c \"from transformers import AutoModel; AutoModel.from_pretrained('{0}').save_pretrained('{0}', safe_serialization=True)\"`",
            dir.display()
        );
    }
    bail!(
        "no model.safetensors or model.safetensors.index.json in {}",
        dir.display()
    )
}

/// Number of values in a safetensors file, from its header alone.
pub fn parameter_count(file: &Path) -> Result<i64> {
    use std::io::Read;
    let mut f =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len)?;
    let n = u64::from_le_bytes(len);
    if n > 100_000_000 {
        bail!("{}: not a safetensors file", file.display());
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header)?;
    let json: serde_json::Value = serde_json::from_slice(&header)
        .with_context(|| format!("{}: unreadable safetensors header", file.display()))?;
    let total = json
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| *k != "__metadata__")
                .filter_map(|(_, v)| v["shape"].as_array())
                .map(|s| s.iter().filter_map(|d| d.as_i64()).product::<i64>())
                .sum()
        })
        .unwrap_or(0);
    Ok(total)
}

/// Read every tensor of the checkpoint files into memory (on CPU).
pub fn read_checkpoint(files: &[PathBuf]) -> Result<HashMap<String, Tensor>> {
    let mut all = HashMap::new();
    for f in files {
        let tensors = Tensor::read_safetensors(f)
            .with_context(|| format!("reading weights from {}", f.display()))?;
        all.extend(tensors);
    }
    Ok(all)
}

fn candidates(name: &str, prefixes: &[&str]) -> Vec<String> {
    let mut names = vec![name.to_owned()];
    if let Some(stem) = name.strip_suffix("LayerNorm.weight") {
        names.push(format!("{stem}LayerNorm.gamma"));
    }
    if let Some(stem) = name.strip_suffix("LayerNorm.bias") {
        names.push(format!("{stem}LayerNorm.beta"));
    }
    let bare = names.clone();
    for p in prefixes {
        names.extend(bare.iter().map(|n| format!("{p}{n}")));
    }
    names
}

/// Fill every variable of `vs` whose name does not start with one of `skip` (the
/// classification head, which starts at zero) from `checkpoint`.
pub fn load_into(
    vs: &mut VarStore,
    checkpoint: &HashMap<String, Tensor>,
    prefixes: &[&str],
    skip: &[&str],
    origin: &Path,
) -> Result<()> {
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    tch::no_grad(|| -> Result<()> {
        for name in names {
            // Adapters are new weights, never in a pretrained checkpoint.
            if skip.iter().any(|s| name.starts_with(s)) || super::lora::is_adapter(name) {
                continue;
            }
            let mut var = vars[name].shallow_clone();
            let found = candidates(name, prefixes)
                .into_iter()
                .find_map(|n| checkpoint.get(&n));
            let Some(src) = found else {
                bail!(
                    "{}: the checkpoint has no tensor `{name}` (nor with a prefix {prefixes:?}); \
                     is this the architecture its config.json says?",
                    origin.display()
                );
            };
            if src.size() != var.size() {
                bail!(
                    "{}: tensor `{name}` has shape {:?} in the checkpoint but the model built from \
                     config.json expects {:?}",
                    origin.display(),
                    src.size(),
                    var.size()
                );
            }
            var.copy_(&src.to_kind(var.kind()).to_device(var.device()));
        }
        Ok(())
    })
}
