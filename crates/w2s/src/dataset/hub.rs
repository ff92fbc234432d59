//! A registered task's raw files from the Hugging Face hub, through the `hf-hub` crate into
//! the standard cache (shared with Python's `datasets`/`huggingface_hub`). Uses the dataset
//! repository's own data files where they match the task's splits, else the hub's Parquet
//! conversion (`refs/convert/parquet`).

use super::registry::{in_split, Task};
use anyhow::{bail, Context, Result};
use hf_hub::{Repo, RepoType};
use std::path::{Path, PathBuf};

pub fn download(task: &Task) -> Result<PathBuf> {
    let cache = crate::model::hub::cache();
    let offline = matches!(
        std::env::var("HF_HUB_OFFLINE").as_deref(),
        Ok("1") | Ok("true") | Ok("TRUE")
    );
    if offline {
        // The folder of a previous download, if any: look for the snapshot directory.
        let repo = cache.repo(Repo::new(task.hub.to_owned(), RepoType::Dataset));
        if let Some(dir) = repo
            .get(".w2s-complete")
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            return Ok(dir);
        }
        bail!(
            "dataset {} ({}) is not downloaded and HF_HUB_OFFLINE is set: pass --data-dir with its files",
            task.name,
            task.hub
        );
    }
    let api = hf_hub::api::sync::ApiBuilder::from_cache(cache.clone()).build()?;
    let wanted = |f: &str| {
        let p = Path::new(f);
        task.train.iter().chain(task.test).any(|a| in_split(p, a))
    };
    for revision in ["main", "refs/convert/parquet"] {
        let repo = api.repo(Repo::with_revision(
            task.hub.to_owned(),
            RepoType::Dataset,
            revision.to_owned(),
        ));
        let info = repo.info().with_context(|| {
            format!(
                "listing the files of dataset {} on the Hugging Face hub",
                task.hub
            )
        })?;
        let files: Vec<String> = info
            .siblings
            .into_iter()
            .map(|s| s.rfilename)
            .filter(|f| wanted(f))
            .collect();
        if files.is_empty() {
            continue;
        }
        let mut root = None;
        for f in &files {
            tracing::info!("downloading {}/{f}", task.hub);
            let local = repo
                .get(f)
                .with_context(|| format!("downloading {}/{f}", task.hub))?;
            // The snapshot folder is the local path minus the file's relative path.
            let depth = Path::new(f).components().count();
            root = local.ancestors().nth(depth).map(Path::to_path_buf);
        }
        let root = root.context("no files downloaded")?;
        std::fs::write(root.join(".w2s-complete"), b"")?;
        return Ok(root);
    }
    bail!(
        "dataset {} on the hub has no files w2s recognises for splits {:?} / {:?}",
        task.hub,
        task.train,
        task.test
    )
}
