//! Where a task's files are: the data folder (given, or the hub's copy in the cache), a hub
//! config's sub-folder, and which files hold a split, by name (`train.jsonl`,
//! `data/train-00000-of-00002.parquet`, `in_domain_dev.tsv`, ...).

use super::files;
use std::path::{Path, PathBuf};

/// The file stem without format and compression extensions.
pub(super) fn stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name).to_owned();
    match name.rsplit_once('.') {
        Some((s, _)) => s.to_owned(),
        None => name,
    }
}

/// Whether a data file belongs to split `alias`: `train.jsonl`, `train-00000-of-00002.parquet`
/// (hub shards), `harmless-base_test.jsonl.gz`, `in_domain_dev.tsv`, `val_text.txt`,
/// `data/train/...`. Label side-files never count.
pub fn in_split(relative: &Path, alias: &str) -> bool {
    if files::format_of(relative).is_none() {
        return false;
    }
    let s = stem(relative);
    if s.ends_with("_labels") || s.ends_with("-labels") || s == "mapping" {
        return false;
    }
    s == alias
        || s == format!("{alias}.data")
        || s.starts_with(&format!("{alias}-"))
        || s.starts_with(&format!("{alias}_"))
        || s.ends_with(&format!("_{alias}"))
        || relative
            .parent()
            .is_some_and(|p| p.file_name().is_some_and(|d| d == alias))
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && depth < 3 {
                walk(&p, depth + 1, out);
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, 0, &mut out);
    out.sort();
    out
}

/// The files of the first alias that has any.
pub fn split_files(dir: &Path, aliases: &[&str]) -> Vec<PathBuf> {
    let all = data_files(dir);
    for a in aliases {
        let found: Vec<PathBuf> = all
            .iter()
            .filter(|p| in_split(p.strip_prefix(dir).unwrap_or(p), a))
            .cloned()
            .collect();
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

/// `dir/<config>` where that folder exists (a multi-config repository), else `dir`.
pub fn config_folder(dir: PathBuf, config: Option<&str>) -> PathBuf {
    match config.map(|c| dir.join(c)) {
        Some(sub) if sub.is_dir() => sub,
        _ => dir,
    }
}

/// Whether a hub file belongs to `config`: some folder on its path has that name (the hub's
/// Parquet conversion puts each config's files in `<config>/`, repositories in `data/<config>/`
/// or `<config>/`).
pub fn in_config(relative: &Path, config: Option<&str>) -> bool {
    let Some(config) = config else { return true };
    relative
        .parent()
        .is_some_and(|p| p.components().any(|c| c.as_os_str() == config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_file_names() {
        for (f, a) in [
            ("train.jsonl", "train"),
            ("data/train-00000-of-00002.parquet", "train"),
            ("harmless-base_test.jsonl.gz", "test"),
            ("in_domain_dev.tsv", "dev"),
            ("val_text.txt", "val"),
            ("plain_text/train_r2-00000-of-00001.parquet", "train_r2"),
            ("ANLI_analysis_r2_dev.csv", "dev"),
            ("harmless-base/test.jsonl.gz", "test"),
        ] {
            assert!(in_split(Path::new(f), a), "{f} should be {a}");
        }
        for (f, a) in [
            ("val_labels.txt", "val"),
            ("valid-labels.lst", "valid"),
            ("train.json", "test"),
            ("README.md", "train"),
            ("mapping.txt", "test"),
            ("contest.jsonl", "test"),
        ] {
            assert!(!in_split(Path::new(f), a), "{f} should not be {a}");
        }
    }
}
