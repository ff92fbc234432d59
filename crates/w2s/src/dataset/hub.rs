//! A dataset repository's raw files from the Hugging Face hub, through the `hf-hub` crate into
//! the standard cache (shared with Python's `datasets`/`huggingface_hub`). Uses the
//! repository's own data files that `wanted` accepts, else the hub's Parquet conversion
//! (`refs/convert/parquet`).

use anyhow::{bail, Context, Result};
use hf_hub::{Repo, RepoType};
use std::path::{Path, PathBuf};

/// The snapshot folder of dataset repository `id` holding the files `wanted` accepts
/// (downloaded once). `what` names the task in messages.
pub fn download(id: &str, what: &str, wanted: impl Fn(&Path) -> bool) -> Result<PathBuf> {
    let cache = crate::hub::cache();
    if crate::hub::offline() {
        // The folder of a previous download, if any: look for the snapshot directory.
        let cached = cache.repo(Repo::new(id.to_owned(), RepoType::Dataset));
        if let Some(dir) = cached
            .get(".w2s-complete")
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            return Ok(dir);
        }
        bail!(
            "dataset {what} ({id}) is not downloaded and HF_HUB_OFFLINE is set: pass --data-dir with its files"
        );
    }
    let api = crate::hub::api()?;
    for revision in ["main", "refs/convert/parquet"] {
        let repo = api.repo(Repo::with_revision(
            id.to_owned(),
            RepoType::Dataset,
            revision.to_owned(),
        ));
        let info = repo.info().with_context(|| {
            format!("listing the files of dataset {id} on the Hugging Face hub")
        })?;
        let files: Vec<String> = info
            .siblings
            .into_iter()
            .map(|s| s.rfilename)
            .filter(|f| wanted(Path::new(f)))
            .collect();
        if files.is_empty() {
            continue;
        }
        let mut root = None;
        for f in &files {
            tracing::info!("downloading {id}/{f}");
            let local = repo
                .get(f)
                .with_context(|| format!("downloading {id}/{f}"))?;
            // The snapshot folder is the local path minus the file's relative path.
            let depth = Path::new(f).components().count();
            root = local.ancestors().nth(depth).map(Path::to_path_buf);
        }
        let root = root.context("no files downloaded")?;
        std::fs::write(root.join(".w2s-complete"), b"")?;
        return Ok(root);
    }
    bail!("dataset {what} ({id}) on the hub has no files w2s recognises for its splits")
}
