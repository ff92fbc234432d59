//! The caches under `RESULTS/.tokens` and `RESULTS/.features`, checked before use: a cache
//! that is not whole (its checksum, shape, id range or values) is computed again, never used.

use crate::store;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::Tensor;

/// A tokens cache file: a split's token ids and the SHA-256 of their JSON.
#[derive(Serialize, Deserialize)]
pub(crate) struct TokensCache {
    pub sha256: String,
    pub ids: Vec<Vec<i64>>,
}

/// The token ids cached at `path`, if the file is whole: its checksum holds, it has one
/// sequence per example, and every id is one the model has (or the pair separator). Anything
/// else (an older layout, bit rot, a partial copy) is rebuilt, with a warning.
pub(crate) fn cached_tokens(path: &Path, examples: usize, vocab: i64) -> Option<Vec<Vec<i64>>> {
    let bytes = std::fs::read(path).ok()?;
    let why = match serde_json::from_slice::<TokensCache>(&bytes) {
        Err(e) => format!("not a tokens cache ({e})"),
        Ok(c)
            if serde_json::to_vec(&c.ids)
                .map(|b| store::sha256_hex(&b))
                .ok()
                != Some(c.sha256.clone()) =>
        {
            "its checksum does not match its content".into()
        }
        Ok(c) if c.ids.len() != examples => {
            format!("{} sequences for {examples} examples", c.ids.len())
        }
        Ok(c) => match c.ids.iter().flatten().find(|&&id| {
            id != crate::model::PAIR_SEP && !(0..vocab.max(1)).contains(&id) && vocab > 0
        }) {
            Some(id) => format!("token id {id} is outside the model's vocabulary of {vocab}"),
            None => return Some(c.ids),
        },
    };
    tracing::warn!("{}: {why}; tokenizing again", path.display());
    None
}

/// SHA-256 of a CPU tensor's bytes (its shape and kind included).
pub(crate) fn tensor_sha256(t: &Tensor) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(format!("{:?}{:?}", t.size(), t.kind()).as_bytes());
    let flat = t.contiguous().view(-1).to_kind(tch::Kind::Float);
    let v = Vec::<f32>::try_from(&flat).unwrap_or_default();
    for x in v {
        h.update(x.to_le_bytes());
    }
    h.finalize().to_vec()
}

/// The features cached at `path`, if the file is whole: `rows` rows, finite, and its
/// checksum holds; else None (rebuilt, with a warning where a file was there).
pub(crate) fn cached_features(path: &Path, rows: i64) -> Option<Tensor> {
    if !path.exists() {
        return None;
    }
    let why = match Tensor::read_safetensors(path) {
        Err(e) => format!("not a features cache ({e})"),
        Ok(t) => {
            let get = |name: &str| t.iter().find(|(n, _)| n == name).map(|(_, t)| t);
            match (get("features"), get("sha256")) {
                (Some(f), Some(sum)) => {
                    let sum = Vec::<u8>::try_from(sum).unwrap_or_default();
                    if f.dim() != 2 || f.size()[0] != rows {
                        format!("features of shape {:?} for {rows} examples", f.size())
                    } else if tensor_sha256(f) != sum {
                        "its checksum does not match its content".into()
                    } else if !bool::try_from(f.isfinite().all()).unwrap_or(false) {
                        "it holds values that are not finite".into()
                    } else {
                        return Some(f.shallow_clone());
                    }
                }
                _ => "it lacks its features or their checksum".into(),
            }
        }
    };
    tracing::warn!("{}: {why}; computing the features again", path.display());
    None
}
