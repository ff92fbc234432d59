//! Results on disk: one folder per run, named from a hash of everything that decides the
//! run's result (options, and fingerprints of the task's and the model's files), every file
//! written atomically (temporary file + rename). A run trains in a staging folder of its own
//! and becomes its run folder, complete, in one rename ([`publish`]): a folder under its
//! run's name is always a whole run (or a `failed.json` saying why there is none), and a
//! retrain that is interrupted leaves the old result as it was. Whether a folder's result
//! may be reused is decided in one place, `experiment::stored`. A lock file per run makes a
//! second process asking for the same run wait for the first and reuse its result.
//!
//! Layout: `RESULTS/<task folder>/<run folder>/`, where the task folder is a sanitised short
//! name of the task (never a raw path) and the run folder ends with the run's hash; beside
//! the run folders, `.locks/` and `.staging/` (hidden names, which readers skip).

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// `true`, for serde defaults of options that were on before they could be switched off.
pub fn yes() -> bool {
    true
}

/// For `skip_serializing_if`: options whose old, implicit value is `true`.
pub fn is_true(b: &bool) -> bool {
    *b
}

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
    // 0666 less the umask, as any file a program creates: a colleague can read a shared
    // results folder (tempfile's own default is 0600).
    let tmp = tempfile::Builder::new()
        .suffix(suffix)
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
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

/// The folders of every run under a results folder (complete or not: `experiment::stored`
/// says), in folder order; hidden names (locks, staging, caches) skipped.
pub fn run_folders(results: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let datasets = std::fs::read_dir(results)
        .with_context(|| format!("{}: no such results folder", results.display()))?;
    for d in datasets.flatten() {
        if is_hidden(&d.path()) || !d.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let runs = std::fs::read_dir(d.path())
            .with_context(|| format!("listing {}", d.path().display()))?;
        for run in runs.flatten() {
            // A link is never a run folder: w2s does not create them.
            if !is_hidden(&run.path()) && run.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(run.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn is_hidden(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// Where a run trains before it is published: `<task folder>/.staging/<run folder>`.
pub fn staging_dir(run_dir: &Path) -> PathBuf {
    beside(run_dir, ".staging", "")
}

/// `<task folder>/<hidden>/<run folder><suffix>`.
fn beside(run_dir: &Path, hidden: &str, suffix: &str) -> PathBuf {
    let name = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let parent = run_dir.parent().unwrap_or(Path::new("."));
    parent
        .join(hidden)
        .join(format!("{}{suffix}", name.unwrap_or_default()))
}

/// The staging folders under a results folder (runs in progress or interrupted).
pub fn staging_folders(results: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let Ok(datasets) = std::fs::read_dir(results) else {
        return Ok(out);
    };
    for d in datasets.flatten() {
        let Ok(runs) = std::fs::read_dir(d.path().join(".staging")) else {
            continue;
        };
        out.extend(
            runs.flatten()
                .map(|r| r.path())
                .filter(|p| p.extension().is_none_or(|e| e != "old")),
        );
    }
    out.sort();
    Ok(out)
}

/// The run folder a staging folder will become.
pub fn run_dir_of_staging(staging: &Path) -> PathBuf {
    let task = staging
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    task.join(staging.file_name().unwrap_or_default())
}

/// A fresh, empty staging folder for `run_dir` (whatever an interrupted attempt left there is
/// removed first, links included, never followed). Call it holding the run's lock.
pub fn fresh_staging(run_dir: &Path) -> Result<PathBuf> {
    let staging = staging_dir(run_dir);
    remove_all(&staging)?;
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    Ok(staging)
}

/// Remove what an interrupted attempt at `run_dir` left in its staging folder, if no process
/// is training it now (its lock is free: taken for the moment of the removal). Called when a
/// complete result is reused, so an interrupted `--force` leaves nothing behind for long.
pub fn clear_stale_staging(run_dir: &Path) -> Result<()> {
    let staging = staging_dir(run_dir);
    if std::fs::symlink_metadata(&staging).is_err() {
        return Ok(());
    }
    match RunLock::try_acquire(run_dir) {
        Some(_lock) => remove_all(&staging),
        None => Ok(()),
    }
}

/// Remove a file, link or folder if there is one (links themselves, not what they point to).
fn remove_all(p: &Path) -> Result<()> {
    match std::fs::symlink_metadata(p) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => {
            std::fs::remove_dir_all(p).with_context(|| format!("removing {}", p.display()))
        }
        Ok(_) => std::fs::remove_file(p).with_context(|| format!("removing {}", p.display())),
    }
}

/// Make the complete run in `staging` the run folder `run_dir`, in one step: exchanged with
/// the old folder (Linux `renameat2(RENAME_EXCHANGE)`), which is then removed; renamed into
/// place when there is none. Where the exchange is not supported, the old folder is moved
/// aside first: an interruption between the two renames then leaves no folder under the
/// run's name (the run is redone), never a mixed one.
pub fn publish(staging: &Path, run_dir: &Path) -> Result<()> {
    let what = || format!("publishing {} as {}", staging.display(), run_dir.display());
    if std::fs::symlink_metadata(run_dir).is_err() {
        return std::fs::rename(staging, run_dir).with_context(what);
    }
    if exchange(staging, run_dir).is_err() {
        let aside = beside(run_dir, ".staging", ".old");
        remove_all(&aside)?;
        std::fs::rename(run_dir, &aside).with_context(what)?;
        std::fs::rename(staging, run_dir).with_context(what)?;
        return remove_all(&aside);
    }
    // `staging` now holds the old run.
    remove_all(staging)
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c =
        |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: two valid NUL-terminated paths, relative to the working directory.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// Files up to this size are hashed whole without a cache; larger ones are hashed whole once
/// per version (see [`file_fingerprint`]), or sampled where asked.
const WHOLE_FILE: u64 = 64 << 20;
const SAMPLES: u64 = 64;
const SAMPLE: u64 = 1 << 20;

/// `W2S_SAMPLED_FINGERPRINTS=1`: fingerprint files over 64 MiB by samples instead of their
/// whole content (for checkpoints of hundreds of GB on a slow disk); an edit confined to
/// unsampled bytes then goes unnoticed.
pub const SAMPLED_ENV: &str = "W2S_SAMPLED_FINGERPRINTS";

/// A content fingerprint of one file: hex SHA-256 of its size and all its bytes. A file over
/// 64 MiB (a checkpoint) is read whole once per version: the fingerprint is remembered in the
/// cache folder ([`cache_dir`]) under its path, size, modification time, inode and device, so
/// later runs cost no read until the file changes. With [`SAMPLED_ENV`] set, such files are
/// fingerprinted by their size, first and last MiB and 62 evenly spaced MiB between (what
/// w2s did before it hashed whole files; runs stored that way keep their names).
pub fn file_fingerprint(path: &Path) -> Result<String> {
    let sampled = std::env::var(SAMPLED_ENV).is_ok_and(|v| crate::hub::is_true(&v));
    fingerprint_with(path, cache_dir().as_deref(), sampled)
}

fn fingerprint_with(path: &Path, cache: Option<&Path>, sampled: bool) -> Result<String> {
    let f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let meta = f
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?;
    let size = meta.len();
    if size <= WHOLE_FILE {
        return whole_fingerprint(f, path, size);
    }
    if sampled {
        return sampled_fingerprint(f, path, size);
    }
    let entry = cache.map(|c| {
        use std::os::unix::fs::MetadataExt;
        let key = format!(
            "{}\0{size}\0{}.{}\0{}\0{}",
            std::path::absolute(path)
                .unwrap_or(path.to_path_buf())
                .display(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ino(),
            meta.dev()
        );
        c.join("fingerprints").join(sha256_hex(key.as_bytes()))
    });
    if let Some(Ok(fp)) = entry.as_ref().map(std::fs::read_to_string) {
        if fp.len() == 64 && fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(fp);
        }
    }
    tracing::info!(
        "fingerprinting {} ({} MB, once per version of the file)",
        path.display(),
        size >> 20
    );
    let fp = whole_fingerprint(f, path, size)?;
    if let Some(entry) = entry {
        // A cache that cannot be written only costs a read next time.
        let _ = std::fs::create_dir_all(entry.parent().unwrap_or(Path::new(".")))
            .map_err(anyhow::Error::from)
            .and_then(|_| write_atomic(&entry, fp.as_bytes()))
            .inspect_err(|e| tracing::debug!("fingerprint cache: {e:#}"));
    }
    Ok(fp)
}

fn whole_fingerprint(mut f: std::fs::File, path: &Path, size: u64) -> Result<String> {
    let mut h = Sha256::new();
    h.update(size.to_le_bytes());
    std::io::copy(&mut f, &mut h).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex(&h.finalize()))
}

fn sampled_fingerprint(mut f: std::fs::File, path: &Path, size: u64) -> Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut h = Sha256::new();
    h.update(size.to_le_bytes());
    let mut buf = vec![0u8; SAMPLE as usize];
    for i in 0..SAMPLES {
        let at = (size - SAMPLE) / (SAMPLES - 1) * i;
        f.seek(SeekFrom::Start(at))?;
        f.read_exact(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        h.update(&buf);
    }
    Ok(hex(&h.finalize()))
}

/// w2s's own cache folder (file fingerprints): `W2S_CACHE`, else `$XDG_CACHE_HOME/w2s`, else
/// `~/.cache/w2s`; None where none is known.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("W2S_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("w2s")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("w2s")))
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
    /// Lock the run folder `dir` (through `<task folder>/.locks/<run folder>.lock`, outside it,
    /// so that the folder itself can be replaced while locked), waiting (with a message) while
    /// another process holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock> {
        let path = beside(dir, ".locks", ".lock");
        let parent = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
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

    /// The lock of `dir` if no other process holds it now (never waits); None otherwise or
    /// where the lock file cannot be opened.
    pub fn try_acquire(dir: &Path) -> Option<RunLock> {
        let path = beside(dir, ".locks", ".lock");
        let file = std::fs::OpenOptions::new().write(true).open(&path).ok()?;
        file.try_lock().ok()?;
        Some(RunLock { _file: file })
    }

    /// Whether some process holds `dir`'s lock now (a run in progress), without waiting.
    pub fn is_held(dir: &Path) -> bool {
        let path = beside(dir, ".locks", ".lock");
        let Ok(file) = std::fs::OpenOptions::new().read(true).open(&path) else {
            return false;
        };
        matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }
}

/// Hex SHA-256 of some bytes: the checksum a result keeps of its predictions and caches keep
/// of their content.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
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

    #[test]
    fn a_large_file_is_fingerprinted_whole_once_per_version() {
        use std::io::{Seek, SeekFrom, Write};
        let dir = tempfile::tempdir().unwrap();
        let (file, cache) = (
            dir.path().join("model.safetensors"),
            dir.path().join("cache"),
        );
        let bytes = vec![7u8; (WHOLE_FILE + (3 << 20)) as usize];
        std::fs::write(&file, &bytes).unwrap();
        let first = fingerprint_with(&file, Some(&cache), false).unwrap();
        assert_eq!(first, {
            let mut h = Sha256::new();
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(&bytes);
            hex(&h.finalize())
        });
        let entries = || {
            std::fs::read_dir(cache.join("fingerprints"))
                .unwrap()
                .count()
        };
        assert_eq!(entries(), 1, "remembered");
        assert_eq!(fingerprint_with(&file, Some(&cache), false).unwrap(), first);
        let sampled = fingerprint_with(&file, Some(&cache), true).unwrap();
        // 4000 bytes overwritten between two samples: the sampled fingerprint misses it, the
        // whole one does not (the MiniLM edit that changed accuracy 83.3% -> 53.0%).
        let step = (bytes.len() as u64 - SAMPLE) / (SAMPLES - 1);
        let at = 3 * step - 5000; // after sample 2's last byte, before sample 3
        assert!(at > 2 * step + SAMPLE);
        let mut f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&[1u8; 4000]).unwrap();
        drop(f);
        assert_eq!(
            fingerprint_with(&file, Some(&cache), true).unwrap(),
            sampled
        );
        let edited = fingerprint_with(&file, Some(&cache), false).unwrap();
        assert_ne!(edited, first, "the edit is seen (new mtime, new entry)");
        assert_eq!(
            fingerprint_with(&file, None, false).unwrap(),
            edited,
            "no cache: the same"
        );
    }

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
        let run = dir.path().join("task").join("run-1");
        assert!(!RunLock::is_held(&run));
        let held = RunLock::acquire(&run).unwrap();
        assert!(
            !run.exists(),
            "the lock lives beside the run folder, not in it"
        );
        let f = std::fs::File::open(dir.path().join("task/.locks/run-1.lock")).unwrap();
        assert!(
            f.try_lock().is_err(),
            "a second open file must not get the lock"
        );
        assert!(RunLock::is_held(&run));
        drop(held);
        assert!(f.try_lock().is_ok());
    }

    #[test]
    fn publishing_replaces_a_run_folder_whole() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("task").join("run-1");
        let write = |d: &Path, text: &str| {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("result.json"), text).unwrap();
        };
        // The first time: renamed into place.
        let staging = fresh_staging(&run).unwrap();
        write(&staging, "one");
        std::fs::write(staging.join("only-in-one"), "").unwrap();
        publish(&staging, &run).unwrap();
        assert_eq!(
            std::fs::read_to_string(run.join("result.json")).unwrap(),
            "one"
        );
        // A retrain: the old folder is replaced as a whole, nothing of it left.
        let staging = fresh_staging(&run).unwrap();
        assert!(
            std::fs::read_dir(&staging).unwrap().next().is_none(),
            "fresh"
        );
        write(&staging, "two");
        publish(&staging, &run).unwrap();
        assert_eq!(
            std::fs::read_to_string(run.join("result.json")).unwrap(),
            "two"
        );
        assert!(!run.join("only-in-one").exists());
        assert!(!staging.exists(), "the old run is gone");
        assert_eq!(run_dir_of_staging(&staging_dir(&run)), run);
        // A link left where staging goes is removed, not followed.
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep"), "").unwrap();
        std::os::unix::fs::symlink(&outside, staging_dir(&run)).unwrap();
        let staging = fresh_staging(&run).unwrap();
        assert!(outside.join("keep").exists());
        assert!(!std::fs::symlink_metadata(&staging)
            .unwrap()
            .file_type()
            .is_symlink());
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
