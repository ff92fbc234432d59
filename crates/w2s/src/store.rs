//! Results on disk: one folder per run, named from a hash of everything that decides the
//! run's result (options, and fingerprints of the task's and the model's files), every file
//! written atomically (temporary file + rename), `result.json` last. A folder with
//! `result.json` is complete and is reused; one without it is an interrupted run and is
//! redone. A lock file per run folder makes a second process asking for the same run wait
//! for the first and reuse its result.
//!
//! Layout: `RESULTS/<task folder>/<run folder>/`, where the task folder is a sanitised short
//! name of the task (never a raw path) and the run folder ends with the run's hash.

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// First 16 hex digits of the SHA-256 of the value's JSON form. Struct fields serialise in
/// declaration order, so equal configurations hash equally on any machine.
pub fn config_hash<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).expect("configs serialise");
    let digest = Sha256::digest(&json);
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Write `path` atomically: `fill` writes a temporary file beside it (named with `suffix`,
/// for writers that look at the extension), which is synced and renamed over `path`, so
/// readers see the old file or the new one, never half. The one way files are written here.
pub fn write_with(path: &Path, suffix: &str, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .suffix(suffix)
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    fill(tmp.path()).with_context(|| format!("writing {}", path.display()))?;
    std::fs::File::open(tmp.path())?.sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Write `bytes` to `path` atomically (see [`write_with`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, "", |tmp| Ok(std::fs::write(tmp, bytes)?))
}

/// Write tensors as safetensors at `path`, atomically.
pub fn write_safetensors(path: &Path, tensors: &[(&str, &tch::Tensor)]) -> Result<()> {
    write_with(path, ".safetensors", |tmp| {
        Ok(tch::Tensor::write_safetensors(tensors, tmp)?)
    })
}

/// A run's folder: `RESULTS/<task folder>/<run folder>`, the task's name made safe as one
/// path component whatever it is (a user task's path gives its file stem).
pub fn run_dir(results: &Path, task: &str, run: &str) -> PathBuf {
    results.join(folder_safe(task)).join(run)
}

/// Whether a run folder holds a stored result (`result.json` is written last).
pub fn is_complete(run_dir: &Path) -> bool {
    run_dir.join("result.json").exists()
}

/// Every complete run under a results folder: its folder and its `result.json`, in folder
/// order.
pub fn collect<T: DeserializeOwned>(results: &Path) -> Result<Vec<(PathBuf, T)>> {
    let mut out = Vec::new();
    let datasets = std::fs::read_dir(results)
        .with_context(|| format!("{}: no such results folder", results.display()))?;
    for d in datasets.flatten() {
        if d.file_name().to_string_lossy().starts_with('.') || !d.path().is_dir() {
            continue;
        }
        for run in std::fs::read_dir(d.path())?.flatten() {
            if is_complete(&run.path()) {
                out.push((run.path(), read_json(&run.path().join("result.json"))?));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Files up to this size are hashed whole; larger ones by their size and samples.
const WHOLE_FILE: u64 = 64 << 20;
const SAMPLES: u64 = 64;
const SAMPLE: u64 = 1 << 20;

/// A content fingerprint of one file (hex SHA-256). Files up to 64 MiB are hashed whole;
/// larger ones (checkpoints, big data files) by their size, their first and last MiB and 62
/// evenly spaced MiB between: cheap for an 8B checkpoint, and any retrained or replaced
/// checkpoint changes every sample. An edit confined to unsampled bytes goes unnoticed.
pub fn file_fingerprint(path: &Path) -> Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let size = f.metadata()?.len();
    let mut h = Sha256::new();
    h.update(size.to_le_bytes());
    if size <= WHOLE_FILE {
        std::io::copy(&mut f, &mut h).with_context(|| format!("reading {}", path.display()))?;
    } else {
        let mut buf = vec![0u8; SAMPLE as usize];
        for i in 0..SAMPLES {
            let at = (size - SAMPLE) / (SAMPLES - 1) * i;
            f.seek(SeekFrom::Start(at))?;
            f.read_exact(&mut buf)
                .with_context(|| format!("reading {}", path.display()))?;
            h.update(&buf);
        }
    }
    Ok(hex(&h.finalize()))
}

/// A fingerprint of several files (each by [`file_fingerprint`]) and their names relative to
/// `base`, so renaming a file inside the set changes it too.
pub fn files_fingerprint(base: &Path, files: &[PathBuf]) -> Result<String> {
    let mut h = Sha256::new();
    for f in files {
        let name = f.strip_prefix(base).unwrap_or(f);
        h.update(name.to_string_lossy().as_bytes());
        h.update([0]);
        h.update(file_fingerprint(f)?.as_bytes());
    }
    Ok(hex(&h.finalize()))
}

/// Every regular file under `dir` (recursively, following links, hidden names skipped), sorted.
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let p = e?.path();
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A name safe as one folder: letters, digits, `.`, `_`, `-` and `+` kept, anything else `_`; never
/// empty, never hidden, never `..`.
pub fn folder_safe(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

/// An exclusive lock on a run folder, held while the run trains; released on drop (or when
/// the process dies). `flock` also works across the nodes of an NFS-mounted results folder
/// (Linux emulates it with NFS byte-range locks).
pub struct RunLock {
    _file: std::fs::File,
}

impl RunLock {
    /// Lock `dir/.lock`, waiting (with a message) while another process holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                tracing::info!(
                    "{}: another process is training this run; waiting for it",
                    dir.display()
                );
                file.lock()
                    .with_context(|| format!("locking {}", path.display()))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
        Ok(RunLock { _file: file })
    }
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
    fn fingerprints_follow_content() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        std::fs::write(&a, "one").unwrap();
        let f1 = file_fingerprint(&a).unwrap();
        std::fs::write(&a, "two").unwrap();
        assert_ne!(f1, file_fingerprint(&a).unwrap());
        let set = files_under(dir.path()).unwrap();
        let s1 = files_fingerprint(dir.path(), &set).unwrap();
        std::fs::rename(&a, dir.path().join("b.txt")).unwrap();
        let set = files_under(dir.path()).unwrap();
        assert_ne!(s1, files_fingerprint(dir.path(), &set).unwrap());
        // A large file: sampled, and still sensitive to an edit inside a sample.
        let big = dir.path().join("big.bin");
        let mut bytes = vec![7u8; (WHOLE_FILE + 5 * SAMPLE) as usize];
        std::fs::write(&big, &bytes).unwrap();
        let b1 = file_fingerprint(&big).unwrap();
        bytes[10] = 8;
        std::fs::write(&big, &bytes).unwrap();
        assert_ne!(b1, file_fingerprint(&big).unwrap());
    }

    #[test]
    fn folder_names_are_safe() {
        assert_eq!(folder_safe("sciq"), "sciq");
        assert_eq!(folder_safe("../x/y z"), "_.._x_y_z");
        assert_eq!(folder_safe(".."), "_..");
        assert_eq!(folder_safe(""), "_");
    }

    #[test]
    fn lock_excludes_a_second_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = RunLock::acquire(dir.path()).unwrap();
        let f = std::fs::File::open(dir.path().join(".lock")).unwrap();
        assert!(
            f.try_lock().is_err(),
            "a second open file must not get the lock"
        );
        drop(held);
        assert!(f.try_lock().is_ok());
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
