//! Results on disk: one folder per run, named from a hash of the run's full configuration,
//! every file written atomically (temporary file + rename), `result.json` last. A folder
//! with `result.json` is complete and is reused; one without it is an interrupted run and
//! is redone.

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// First 16 hex digits of the SHA-256 of the value's JSON form. Struct fields serialise in
/// declaration order, so equal configurations hash equally on any machine.
pub fn config_hash<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).expect("configs serialise");
    let digest = Sha256::digest(&json);
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Write `bytes` to `path` so that readers see the old file or the new one, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Write tensors as safetensors at `path`, atomically as [`write_atomic`] does.
pub fn write_safetensors(path: &Path, tensors: &[(&str, &tch::Tensor)]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .suffix(".safetensors")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tch::Tensor::write_safetensors(tensors, tmp.path())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, &serde_json::to_vec_pretty(value)?)
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: unexpected content", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct C {
        a: u32,
        b: &'static str,
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        let h = config_hash(&C { a: 1, b: "x" });
        assert_eq!(h.len(), 16);
        assert_eq!(h, config_hash(&C { a: 1, b: "x" }));
        assert_ne!(h, config_hash(&C { a: 2, b: "x" }));
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/r.json");
        write_json(&p, &vec![1, 2]).unwrap();
        write_json(&p, &vec![3]).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&p).unwrap(), vec![3]);
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }
}
