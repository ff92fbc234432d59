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

impl TextEncoder {
    /// Pairwise examples' tokens, `[context + reply a, PAIR_SEP, context + reply b]` each: a
    /// context is tokenised once, and each reply joined to it as the tokenizer joins a text
    /// pair (BERT's `[CLS] context [SEP] reply [SEP]`; a plain concatenation where the
    /// tokenizer adds nothing, as GPT-2's).
    pub fn encode_pairs(&self, contexts: &[&str], replies: &[[&str; 2]]) -> Result<Vec<Vec<i64>>> {
        assert_eq!(contexts.len(), replies.len());
        let flat: Vec<&str> = replies.iter().flatten().copied().collect();
        let join = |a: Vec<i64>, b: Vec<i64>| {
            let mut ids = a;
            ids.push(PAIR_SEP);
            ids.extend(b);
            ids
        };
        match self {
            TextEncoder::Hf { tokenizer, .. } => {
                let err = |e| anyhow::anyhow!("tokenizing: {e}");
                let ctx = tokenizer
                    .encode_batch(contexts.to_vec(), false)
                    .map_err(err)?;
                let rep = tokenizer.encode_batch(flat, false).map_err(err)?;
                let with = |c: &tokenizers::Encoding, r: &tokenizers::Encoding| {
                    let e = tokenizer
                        .post_process(c.clone(), Some(r.clone()), true)
                        .map_err(err)?;
                    Ok::<_, anyhow::Error>(e.get_ids().iter().map(|&i| i as i64).collect())
                };
                ctx.iter()
                    .zip(rep.chunks(2))
                    .map(|(c, r)| Ok(join(with(c, &r[0])?, with(c, &r[1])?)))
                    .collect()
            }
            TextEncoder::HashedWords { buckets } => Ok(contexts
                .iter()
                .zip(replies)
                .map(|(c, [a, b])| {
                    let c = hashed_words(c, *buckets);
                    let with = |r: &str| [c.clone(), hashed_words(r, *buckets)].concat();
                    join(with(a), with(b))
                })
                .collect()),
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
    /// Rows 2i and 2i + 1 are the two replies of pair i (a pairwise task): the classifier
    /// returns one row of logits per pair, the difference of the two.
    pub pairs: bool,
}

/// In the one token sequence that each example is (in caches, splits and batches), the
/// border between a pairwise example's two sequences: reply a's tokens (after the context),
/// this, then reply b's. Never a token id.
pub const PAIR_SEP: i64 = -1;

/// A pairwise example's two sequences, or `None` for an ordinary one.
pub fn split_pair(ids: &[i64]) -> Option<(&[i64], &[i64])> {
    let i = ids.iter().position(|&t| t == PAIR_SEP)?;
    Some((&ids[..i], &ids[i + 1..]))
}

/// The longest sequence of an example: a pair's longer reply sequence.
pub fn longest_part(ids: &[i64]) -> usize {
    split_pair(ids).map_or(ids.len(), |(a, b)| a.len().max(b.len()))
}

/// Pad on the right with `pad_id`. The mask, not the pad id, tells models where text ends.
/// Pairs (sequences holding [`PAIR_SEP`]) become two rows each; a batch is all pairs or none.
pub fn pad_batch(seqs: &[&[i64]], pad_id: i64, device: Device) -> Batch {
    let split: Vec<_> = seqs.iter().filter_map(|s| split_pair(s)).collect();
    if !split.is_empty() {
        assert_eq!(
            split.len(),
            seqs.len(),
            "a batch mixes pairs and single texts"
        );
        let rows: Vec<&[i64]> = split.iter().flat_map(|&(a, b)| [a, b]).collect();
        return Batch {
            pairs: true,
            ..pad_batch(&rows, pad_id, device)
        };
    }
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
        pairs: false,
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
