//! Find a model folder from a Hugging Face model id: in the local cache (the layout Python's
//! `huggingface_hub` writes, so models downloaded by either are shared), else downloaded
//! with the `hf-hub` crate unless `HF_HUB_OFFLINE=1`.

use crate::hub::{cache, offline};
use anyhow::{bail, Result};
use hf_hub::{Repo, RepoType};
use std::path::PathBuf;

/// Files a model folder needs; the weights come on top (single file or shards).
const REQUIRED: &[&str] = &["config.json", "tokenizer.json"];
const OPTIONAL: &[&str] = &["tokenizer_config.json", "special_tokens_map.json"];

/// `org/name` or `org/name@revision` to a folder holding the model's files.
pub fn resolve(id: &str) -> Result<PathBuf> {
    let (name, revision) = id.split_once('@').unwrap_or((id, "main"));
    let repo = Repo::with_revision(name.to_owned(), RepoType::Model, revision.to_owned());
    let cached = cache().repo(repo.clone());
    let weights_cached = cached.get("model.safetensors").is_some()
        || cached.get("model.safetensors.index.json").is_some();
    if let (Some(config), true) = (cached.get("config.json"), weights_cached) {
        if REQUIRED.iter().all(|f| cached.get(f).is_some()) {
            return Ok(config.parent().unwrap().to_path_buf());
        }
    }
    if offline() {
        bail!(
            "model `{id}` is not in the Hugging Face cache ({}) and HF_HUB_OFFLINE is set: \
             download it on a machine with internet, or pass a local folder to --model",
            cache().path().display()
        );
    }
    download(name, revision)
}

fn download(name: &str, revision: &str) -> Result<PathBuf> {
    let api = crate::hub::api()?;
    let repo = api.repo(Repo::with_revision(
        name.to_owned(),
        RepoType::Model,
        revision.to_owned(),
    ));
    let fail = |e: hf_hub::api::sync::ApiError| {
        anyhow::anyhow!(
            "could not fetch model `{name}` from the Hugging Face hub ({e}); check the id, \
             your network, or pass a local folder to --model"
        )
    };
    let config = repo.get("config.json").map_err(fail)?;
    for f in REQUIRED {
        repo.get(f).map_err(fail)?;
    }
    for f in OPTIONAL {
        let _ = repo.get(f); // absent for many models
    }
    match repo.get("model.safetensors") {
        Ok(_) => {}
        Err(_) => {
            let index = repo.get("model.safetensors.index.json").map_err(fail)?;
            for shard in super::weights::checkpoint_files(index.parent().unwrap())? {
                let file = shard.file_name().unwrap().to_string_lossy().into_owned();
                repo.get(&file).map_err(fail)?;
            }
        }
    }
    Ok(config.parent().unwrap().to_path_buf())
}
