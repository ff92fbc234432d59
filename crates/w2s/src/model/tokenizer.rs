//! Text to token ids, and batches of token ids to padded tensors.

use anyhow::{bail, Context, Result};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Turns text into token ids for one model.
pub enum TextEncoder {
    /// A Hugging Face `tokenizer.json`, through the `tokenizers` crate.
    Hf {
        tokenizer: Box<tokenizers::Tokenizer>,
        pad_id: i64,
    },
    /// Lower-cased words hashed into `buckets` ids: what a model trained from scratch
    /// needs, with no files at all.
    HashedWords { buckets: i64 },
}

impl TextEncoder {
    /// Load `tokenizer.json` from a model folder. Models without a pad token (GPT-2) pad
    /// with `fallback_pad` (the EOS id): the pad id never reaches the model's output, since
    /// pooling reads the attention mask.
    pub fn from_folder(dir: &Path, fallback_pad: Option<i64>) -> Result<TextEncoder> {
        let path = dir.join("tokenizer.json");
        require_tokenizer(dir)?;
        let mut tokenizer = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        // We truncate nothing (long examples are dropped, as in the reference) and pad
        // ourselves per batch.
        tokenizer
            .with_truncation(None)
            .map_err(anyhow::Error::msg)?;
        tokenizer.with_padding(None);
        let pad_id = pad_token_id(dir, &tokenizer)
            .or(fallback_pad)
            .with_context(|| {
                format!(
                    "{}: the tokenizer has no pad token and the model config names no eos token",
                    dir.display()
                )
            })?;
        Ok(TextEncoder::Hf {
            tokenizer: Box::new(tokenizer),
            pad_id,
        })
    }

    pub fn pad_id(&self) -> i64 {
        match self {
            TextEncoder::Hf { pad_id, .. } => *pad_id,
            TextEncoder::HashedWords { .. } => 0,
        }
    }

    /// The id of an answer that must be exactly one token (no special tokens added), e.g.
    /// `" Yes"` for GPT-2 style tokenizers.
    pub fn answer_token(&self, answer: &str) -> Result<i64> {
        let TextEncoder::Hf { tokenizer, .. } = self else {
            anyhow::bail!("generative scoring needs a model with a tokenizer");
        };
        let enc = tokenizer
            .encode(answer, false)
            .map_err(|e| anyhow::anyhow!("tokenizing {answer:?}: {e}"))?;
        match enc.get_ids() {
            [id] => Ok(*id as i64),
            _ => anyhow::bail!(
                "answer {answer:?} is {} tokens {:?}; pick answers that are one token each",
                enc.get_ids().len(),
                enc.get_tokens()
            ),
        }
    }

    /// Token ids of many texts (in parallel for Hugging Face tokenizers).
    pub fn encode_all(&self, texts: &[&str]) -> Result<Vec<Vec<i64>>> {
        match self {
            TextEncoder::Hf { tokenizer, .. } => {
                let encodings = tokenizer
                    .encode_batch(texts.to_vec(), true)
                    .map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
                Ok(encodings
                    .iter()
                    .map(|e| e.get_ids().iter().map(|&i| i as i64).collect())
                    .collect())
            }
            TextEncoder::HashedWords { buckets } => {
                Ok(texts.iter().map(|t| hashed_words(t, *buckets)).collect())
            }
        }
    }
}

/// A model folder must carry `tokenizer.json`.
pub fn require_tokenizer(dir: &Path) -> Result<()> {
    if !dir.join("tokenizer.json").exists() {
        bail!(
            "no tokenizer.json in {}: w2s needs the fast-tokenizer file that Hugging Face \
             model folders carry (save it with `AutoTokenizer.from_pretrained(...).save_pretrained(dir)`)",
            dir.display()
        );
    }
    Ok(())
}

/// The pad id as `tokenizer_config.json` / `special_tokens_map.json` or the tokenizer's own
/// padding settings name it.
fn pad_token_id(dir: &Path, tokenizer: &tokenizers::Tokenizer) -> Option<i64> {
    for file in ["tokenizer_config.json", "special_tokens_map.json"] {
        let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
            continue;
        };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let token = match &json["pad_token"] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => {
                o.get("content").and_then(|c| c.as_str()).map(str::to_owned)
            }
            _ => None,
        };
        if let Some(id) = token.and_then(|t| tokenizer.token_to_id(&t)) {
            return Some(id as i64);
        }
    }
    ["[PAD]", "<pad>", "<|pad|>"]
        .iter()
        .find_map(|t| tokenizer.token_to_id(t))
        .map(|id| id as i64)
}

/// Hashing trick over lower-cased alphanumeric words (FNV-1a: stable across machines and
/// Rust versions, unlike `std`'s `DefaultHasher`). Id 0 is reserved for padding.
fn hashed_words(text: &str, buckets: i64) -> Vec<i64> {
    let ids: Vec<i64> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in w.to_lowercase().bytes() {
                h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
            }
            1 + (h % (buckets as u64 - 1)) as i64
        })
        .collect();
    if ids.is_empty() {
        vec![1] // an empty text still needs one position to pool over
    } else {
        ids
    }
}

/// A padded batch: ids and attention mask, both `[batch, longest]` int64 on `device`.
pub struct Batch {
    pub ids: Tensor,
    pub mask: Tensor,
}

/// Pad on the right with `pad_id`. The mask, not the pad id, tells models where text ends.
pub fn pad_batch(seqs: &[&[i64]], pad_id: i64, device: Device) -> Batch {
    let longest = seqs.iter().map(|s| s.len()).max().unwrap_or(1).max(1);
    let mut ids = Vec::with_capacity(seqs.len() * longest);
    let mut mask = Vec::with_capacity(seqs.len() * longest);
    for s in seqs {
        ids.extend_from_slice(s);
        ids.extend(std::iter::repeat_n(pad_id, longest - s.len()));
        mask.extend(std::iter::repeat_n(1i64, s.len()));
        mask.extend(std::iter::repeat_n(0i64, longest - s.len()));
    }
    let shape = [seqs.len() as i64, longest as i64];
    Batch {
        ids: Tensor::from_slice(&ids).view(shape).to_device(device),
        mask: Tensor::from_slice(&mask)
            .view(shape)
            .to_kind(Kind::Int64)
            .to_device(device),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_words_are_stable_and_case_blind() {
        let a = hashed_words("The movie, was GOOD.", 1 << 16);
        let b = hashed_words("the movie was good", 1 << 16);
        assert_eq!(a, b);
        assert_eq!(a.len(), 4);
        assert!(a.iter().all(|&i| (1..1 << 16).contains(&i)));
        assert_eq!(hashed_words("", 100), vec![1]);
    }

    #[test]
    fn padding_builds_mask() {
        let b = pad_batch(&[&[5, 6, 7], &[8]], 0, Device::Cpu);
        assert_eq!(b.ids.size(), vec![2, 3]);
        assert_eq!(
            Vec::<i64>::try_from(b.mask.view(-1)).unwrap(),
            vec![1, 1, 1, 1, 0, 0]
        );
        assert_eq!(
            Vec::<i64>::try_from(b.ids.view(-1)).unwrap(),
            vec![5, 6, 7, 8, 0, 0]
        );
    }
}
