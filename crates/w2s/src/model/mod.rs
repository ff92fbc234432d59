//! Classifiers: a backbone (pretrained transformer or a model trained from scratch) with a
//! two-class linear head, initialised to zero as in openai/weak-to-strong.

pub mod attention;
pub mod bert;
pub mod bow;
pub mod checkpoint;
pub mod family;
pub mod gpt2;
pub mod hub;
mod info;
pub mod layers;
pub mod llama;
mod lm;
pub mod lora;
pub mod mpnet;
pub mod neox;
pub mod tokenizer;
pub mod weights;

use anyhow::{bail, Context, Result};
use info::read_config;
pub use info::{fingerprint, locate, short_name, ModelInfo, Shape, REFERENCE_LR};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};
pub use tokenizer::{longest_part, pad_batch, split_pair, Batch, TextEncoder, PAIR_SEP};

/// Which position(s) of the last hidden states feed the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over non-pad tokens: what sentence encoders such as MiniLM were trained for.
    Mean,
    /// The last non-pad token, found from the attention mask (decoders; the reference's rule,
    /// without its search for token id 0).
    Last,
    /// The first token (BERT's `[CLS]`).
    First,
}

#[allow(clippy::large_enum_variant)] // one per model, never in bulk
enum Backbone {
    Bow(bow::BagOfWords),
    Bert(bert::Bert),
    Mpnet(mpnet::Mpnet),
    Gpt2(gpt2::Gpt2),
    Llama(llama::Llama),
    Neox(neox::Neox),
}

/// The bag of words trained from scratch: the model name (and family) that needs no files.
pub const BOW: &str = "bow";

pub struct Classifier {
    pub vs: nn::VarStore,
    /// config.json's `tie_word_embeddings`: the LM head is the input embeddings.
    tied_embeddings: bool,
    /// alpha / rank of the LoRA adapters, if any.
    lora_scale: Option<f64>,
    backbone: Backbone,
    head: nn::Linear,
    pub pooling: Pooling,
    pub encoder: TextEncoder,
    pub info: ModelInfo,
    /// Mixed precision: projections and attention in bf16 over f32 weights
    /// ([`layers::with_bf16_matmuls`]).
    pub mixed_precision: bool,
}

/// Name under which the head's variables live; never looked up in a checkpoint.
pub const HEAD: &str = "w2s_head";

impl Classifier {
    /// Build a classifier: `bow` trains from scratch; anything else is a Hugging Face model
    /// folder or id.
    /// `seed` initialises what is not loaded from a checkpoint (only `bow` has such weights;
    /// heads start at zero).
    pub fn load(name: &str, device: Device, seed: u64) -> Result<Classifier> {
        Self::load_with(name, device, seed, None, false)
    }

    /// [`Classifier::load`] with LoRA adapters on the configured projections, and a bias in
    /// the head if `head_bias`.
    pub fn load_with(
        name: &str,
        device: Device,
        seed: u64,
        lora: Option<&lora::LoraConfig>,
        head_bias: bool,
    ) -> Result<Classifier> {
        if name == BOW {
            if lora.is_some() {
                bail!("LoRA adapts a transformer's projections; `bow` has none (drop [train.lora] for it)");
            }
            return Ok(Self::bag_of_words(device, seed, head_bias));
        }
        let dir = locate(name)?;
        let config_path = dir.join("config.json");
        let json = read_config(&dir)?;
        let model_type = json["model_type"].as_str().unwrap_or("").to_owned();
        let fam = family::find(&model_type).with_context(|| {
            format!(
                "{}: model_type `{model_type}` is not supported; w2s knows: {}",
                config_path.display(),
                family::known()
            )
        })?;
        let adapters = lora.map(|c| lora::Adapters::new(c, fam));
        let adapters = adapters.as_ref();
        let encoder = TextEncoder::from_folder(&dir, json["eos_token_id"].as_i64())?;
        let mut vs = nn::VarStore::new(device);
        let (backbone, hidden, max_positions) =
            build_backbone(fam, &json, &config_path, &vs.root(), adapters)?;
        let family = model_type;
        let pooling = fam.pooling;
        let prefixes = fam.prefixes;
        let max_positions = max_positions.max(1) as usize;
        let head = zero_head(&vs.root(), hidden, head_bias);
        let files = weights::checkpoint_files(&dir)?;
        let checkpoint = weights::read_checkpoint(&files)?;
        weights::load_into(&mut vs, &checkpoint, prefixes, &[HEAD], &dir)?;
        if let Some(a) = adapters {
            require_adapters_matched(&vs, a, fam, &family)?;
        }
        // The model's size leaves out adapters: a LoRA run is still a run of this model.
        let parameters = vs
            .variables()
            .iter()
            .filter(|(k, _)| !lora::is_adapter(k))
            .map(|(_, t)| t.numel() as i64)
            .sum();
        Ok(Classifier {
            vs,
            tied_embeddings: json["tie_word_embeddings"].as_bool().unwrap_or(true),
            lora_scale: adapters.map(|a| a.scale),
            backbone,
            head,
            pooling,
            encoder,
            mixed_precision: false,
            info: ModelInfo {
                name: name.to_owned(),
                family,
                parameters,
                vocab_size: json["vocab_size"].as_i64().unwrap_or(0),
                max_positions,
                shape: Shape::from_config(&json),
            },
        })
    }

    fn bag_of_words(device: Device, seed: u64, head_bias: bool) -> Classifier {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let backbone = Backbone::Bow(bow::BagOfWords::new(&root, seed));
        let head = zero_head(&root, bow::DIM, head_bias);
        let parameters = vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum();
        Classifier {
            vs,
            tied_embeddings: false,
            lora_scale: None,
            backbone,
            head,
            pooling: Pooling::Mean,
            encoder: TextEncoder::HashedWords {
                buckets: bow::BUCKETS,
            },
            mixed_precision: false,
            info: ModelInfo {
                name: BOW.into(),
                family: BOW.into(),
                parameters,
                vocab_size: bow::BUCKETS,
                max_positions: usize::MAX,
                shape: None,
            },
        }
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Pooled features `[batch, hidden]` that the head reads.
    pub fn features(&self, batch: &Batch) -> Tensor {
        layers::with_bf16_matmuls(self.mixed_precision, || self.features_here(batch))
    }

    fn features_here(&self, batch: &Batch) -> Tensor {
        let at = self.pooled_at(batch);
        let hidden = self.hidden_states(batch, at.as_ref());
        self.pooled(&hidden, batch, at.is_some())
    }

    /// Where the head reads one position per sequence (last-token pooling, the decoders'):
    /// those positions, `[rows]`, for the last layer to be computed there only.
    fn pooled_at(&self, batch: &Batch) -> Option<Tensor> {
        (self.pooling == Pooling::Last).then(|| last_positions(&batch.mask))
    }

    /// The head's features from the last hidden states (`at_rows`: they are already the
    /// pooled rows, `[rows, 1, hidden]`).
    fn pooled(&self, hidden: &Tensor, batch: &Batch, at_rows: bool) -> Tensor {
        let pooled = if at_rows {
            hidden.squeeze_dim(1)
        } else {
            pool(hidden, &batch.mask, self.pooling)
        };
        pair_difference(pooled, batch.pairs)
    }

    /// The backbone's last hidden states `[rows, seq, hidden]` (a pair's two sequences are
    /// two rows), or `[rows, 1, hidden]` at the positions `at`.
    fn hidden_states(&self, batch: &Batch, at: Option<&Tensor>) -> Tensor {
        let (ids, mask) = (&batch.ids, &batch.mask);
        match &self.backbone {
            Backbone::Bow(m) => m.forward(ids),
            Backbone::Bert(m) => m.forward(ids, mask, at),
            Backbone::Mpnet(m) => m.forward(ids, mask, at),
            Backbone::Gpt2(m) => m.forward(ids, mask, at),
            Backbone::Llama(m) => m.forward(ids, mask, at),
            Backbone::Neox(m) => m.forward(ids, mask, at),
        }
    }

    /// Backpropagate `loss(logits)` of a batch, recomputing each transformer layer's forward
    /// pass during the backward pass instead of keeping its activations (see [`checkpoint`]).
    /// Returns the loss and the logits, both without a graph.
    pub fn backward_checkpointed(
        &self,
        batch: &Batch,
        loss: impl FnOnce(&Tensor) -> anyhow::Result<Tensor>,
    ) -> anyhow::Result<(Tensor, Tensor)> {
        let at = self.pooled_at(batch);
        let top = |hidden: &Tensor| {
            let pooled = self.pooled(hidden, batch, at.is_some());
            let logits = self.head_forward(&pooled);
            match loss(&logits) {
                Ok(value) => {
                    let out = Ok((value.detach(), logits.detach()));
                    (value, out)
                }
                // A failed loss (a custom one raised): backpropagate nothing, report it.
                Err(e) => (logits.sum(Kind::Float) * 0.0, Err(e)),
            }
        };
        layers::with_bf16_matmuls(self.mixed_precision, || {
            self.backward_through_layers(batch, at.as_ref(), top)
        })
    }

    /// [`checkpoint::backward`] on this backbone: backpropagate `top(last hidden states)`'s
    /// first value (the states at `at` if given), recomputing each layer; returns its second.
    fn backward_through_layers<T>(
        &self,
        batch: &Batch,
        at: Option<&Tensor>,
        top: impl FnOnce(&Tensor) -> (Tensor, T),
    ) -> T {
        let (ids, mask) = (&batch.ids, &batch.mask);
        match &self.backbone {
            Backbone::Bert(m) => checkpoint::backward(m, ids, mask, at, top),
            Backbone::Mpnet(m) => checkpoint::backward(m, ids, mask, at, top),
            Backbone::Gpt2(m) => checkpoint::backward(m, ids, mask, at, top),
            Backbone::Llama(m) => checkpoint::backward(m, ids, mask, at, top),
            Backbone::Neox(m) => checkpoint::backward(m, ids, mask, at, top),
            // No layers to recompute.
            Backbone::Bow(m) => {
                let (value, out) = top(&m.forward(ids));
                value.backward();
                out
            }
        }
    }

    /// Logits `[batch, 2]`, computed in f32 whatever the backbone's dtype.
    pub fn forward(&self, batch: &Batch) -> Tensor {
        self.head_forward(&self.features(batch))
    }

    /// The head alone, on pooled features (linear probes on cached features).
    pub fn head_forward(&self, features: &Tensor) -> Tensor {
        self.head.forward(&features.to_kind(Kind::Float))
    }

    /// Store the backbone's weights in bf16; the head stays f32.
    pub fn backbone_to_bf16(&mut self) {
        for (name, mut t) in self.vs.variables() {
            if !name.starts_with(HEAD) && !lora::is_adapter(&name) {
                tch::no_grad(|| t.set_data(&t.to_kind(Kind::BFloat16)));
            }
        }
    }

    /// Keep a LoRA-trained model in `dir`: `Adapters` writes the adapters and the head
    /// (`adapter_model.safetensors`, names as in w2s, plus `adapter_config.json`); `Merged`
    /// folds the adapters into the weights and writes a model folder (`model.safetensors` with
    /// the head, config and tokenizer files) that w2s loads like any other.
    pub fn save(&self, dir: &Path, what: lora::Save) -> Result<()> {
        let _guard = tch::no_grad_guard();
        let vars = self.vs.variables();
        let cpu = |t: &Tensor| t.detach().to_device(Device::Cpu);
        let write = |name: &str, mut tensors: Vec<(String, Tensor)>| -> Result<()> {
            tensors.sort_by(|a, b| a.0.cmp(&b.0));
            let refs: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
            crate::store::write_safetensors(&dir.join(name), &refs)
        };
        match what {
            lora::Save::None => return Ok(()),
            lora::Save::Adapters => {
                let out = vars
                    .iter()
                    .filter(|(k, _)| lora::is_adapter(k) || k.starts_with(HEAD))
                    .map(|(k, t)| (k.clone(), cpu(t)))
                    .collect();
                write("adapter_model.safetensors", out)?;
                let config =
                    serde_json::json!({ "base_model": self.info.name, "family": self.info.family });
                crate::store::write_json(&dir.join("adapter_config.json"), &config)?;
            }
            lora::Save::Merged => {
                let mut out = Vec::new();
                for (name, t) in &vars {
                    if lora::is_adapter(name) {
                        continue;
                    }
                    let stem = name.strip_suffix(".weight").unwrap_or(name);
                    let adapter = (
                        vars.get(&format!("{stem}.lora_A")),
                        vars.get(&format!("{stem}.lora_B")),
                    );
                    let value = match adapter {
                        // GPT-2's Conv1D stores its weight as [in, out].
                        (Some(a), Some(b)) => lora::merge(
                            t,
                            a,
                            b,
                            self.lora_scale.unwrap_or(1.0),
                            self.info.family == "gpt2",
                        ),
                        _ => t.shallow_clone(),
                    };
                    out.push((name.clone(), cpu(&value)));
                }
                write("model.safetensors", out)?;
                let source = locate(&self.info.name)?;
                for f in [
                    "config.json",
                    "tokenizer.json",
                    "tokenizer_config.json",
                    "special_tokens_map.json",
                ] {
                    if source.join(f).exists() {
                        std::fs::copy(source.join(f), dir.join(f))
                            .with_context(|| format!("copying {f} into {}", dir.display()))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether LoRA adapters were built into the backbone.
    pub fn has_adapters(&self) -> bool {
        self.vs.variables().keys().any(|k| lora::is_adapter(k))
    }

    /// Parameters that training updates: the head, plus the adapters (LoRA) or the whole
    /// backbone, unless only the head trains (`linear_probe`).
    pub fn trainable_parameters(&self, linear_probe: bool) -> u64 {
        let adapters = self.has_adapters();
        self.vs
            .variables()
            .iter()
            .filter(|(name, _)| {
                name.starts_with(HEAD) || (!linear_probe && (!adapters || lora::is_adapter(name)))
            })
            .map(|(_, t)| t.numel() as u64)
            .sum()
    }

    /// Train only the head (linear probe) or the backbone too: all of it, or only its
    /// adapters when it has LoRA adapters.
    pub fn set_backbone_trainable(&mut self, trainable: bool) {
        let adapters = self.has_adapters();
        for (name, t) in self.vs.variables() {
            if !name.starts_with(HEAD) {
                let on = trainable && (!adapters || lora::is_adapter(&name));
                let _ = t.set_requires_grad(on);
            }
        }
    }
}

/// The backbone a family's config.json describes, its hidden size and its longest input
/// (`p` is config.json's path, for errors).
fn build_backbone(
    fam: &family::Family,
    json: &serde_json::Value,
    p: &Path,
    root: &nn::Path,
    adapters: Option<&lora::Adapters>,
) -> Result<(Backbone, i64, i64)> {
    fn parse<T: serde::de::DeserializeOwned>(json: &serde_json::Value, path: &Path) -> Result<T> {
        serde_json::from_value(json.clone()).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }
    Ok(match fam.arch {
        family::Arch::Bert | family::Arch::Roberta => {
            let cfg: bert::BertConfig = parse(json, p)?;
            let roberta = fam.arch == family::Arch::Roberta;
            let offset = if roberta { cfg.pad_token_id + 1 } else { 0 };
            let m = bert::Bert::new(root, &cfg, roberta, adapters);
            let max = cfg.max_position_embeddings - offset;
            (Backbone::Bert(m), cfg.hidden_size, max)
        }
        family::Arch::Mpnet => {
            let cfg: mpnet::MpnetConfig = parse(json, p)?;
            let m = mpnet::Mpnet::new(root, &cfg, adapters);
            let max = cfg.max_position_embeddings - cfg.pad_token_id - 1;
            (Backbone::Mpnet(m), cfg.hidden_size, max)
        }
        family::Arch::Gpt2 => {
            let cfg: gpt2::Gpt2Config = parse(json, p)?;
            let m = gpt2::Gpt2::new(root, &cfg, adapters);
            (Backbone::Gpt2(m), cfg.n_embd, cfg.n_positions)
        }
        family::Arch::Llama | family::Arch::Qwen2 => {
            let cfg: llama::LlamaConfig = parse(json, p)?;
            let qwen = fam.arch == family::Arch::Qwen2;
            let m = llama::Llama::new(root, &cfg, qwen, adapters)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            (
                Backbone::Llama(m),
                cfg.hidden_size,
                cfg.max_position_embeddings,
            )
        }
        family::Arch::Neox => {
            let cfg: neox::NeoxConfig = parse(json, p)?;
            let m = neox::Neox::new(root, &cfg, adapters);
            (
                Backbone::Neox(m),
                cfg.hidden_size,
                cfg.max_position_embeddings,
            )
        }
    })
}

/// LoRA targets that name no module of the model are a mistake in the options, not a run
/// without adapters.
fn require_adapters_matched(
    vs: &nn::VarStore,
    a: &lora::Adapters,
    fam: &family::Family,
    family: &str,
) -> Result<()> {
    let n = vs
        .variables()
        .keys()
        .filter(|k| lora::is_adapter(k))
        .count();
    if n == 0 {
        bail!(
            "LoRA targets {:?} match no module of this {family} model; name modules as in its checkpoint (e.g. {:?})",
            a.targets,
            fam.lora_targets
        );
    }
    Ok(())
}

/// The classification head: `Linear(hidden, 2)` starting at zero, so every example starts at
/// p = 0.5 (the reference's `TransformerWithHead`). Without a bias unless asked, as there.
fn zero_head(root: &nn::Path, hidden: i64, bias: bool) -> nn::Linear {
    nn::linear(
        root / HEAD,
        hidden,
        2,
        nn::LinearConfig {
            ws_init: nn::Init::Const(0.0),
            bs_init: bias.then_some(nn::Init::Const(0.0)),
            bias,
        },
    )
}

/// Pool `[batch, seq, hidden]` to `[batch, hidden]` using the attention mask.
/// A pair's features: its first reply's pooled features minus its second's (rows 2i and
/// 2i + 1 of `pooled`). The head is linear and has no bias on pairwise tasks, so the pair's
/// logits are the difference of the two replies' logits: their softmax is
/// P(a preferred) = sigmoid(score(a) - score(b)) with score = logit 1 - logit 0, and swapping
/// the replies negates them exactly.
pub fn pair_difference(pooled: Tensor, pairs: bool) -> Tensor {
    if !pairs {
        return pooled;
    }
    let rows = pooled.view([-1, 2, *pooled.size().last().expect("pooled is 2-d")]);
    rows.select(1, 0) - rows.select(1, 1)
}

pub fn pool(hidden: &Tensor, mask: &Tensor, pooling: Pooling) -> Tensor {
    match pooling {
        Pooling::Mean => {
            let m = mask.to_kind(hidden.kind()).unsqueeze(-1);
            (hidden * &m).sum_dim_intlist(1, false, hidden.kind())
                / m.sum_dim_intlist(1, false, hidden.kind()).clamp_min(1.0)
        }
        Pooling::First => hidden.select(1, 0),
        Pooling::Last => attention::at_positions(hidden, 1, &last_positions(mask)).squeeze_dim(1),
    }
}

/// Index of the last 1 in each mask row `[rows]`, whichever side the padding is on: argmax of
/// position * mask.
pub fn last_positions(mask: &Tensor) -> Tensor {
    let t = mask.size()[1];
    let positions = Tensor::arange(t, (Kind::Int64, mask.device())).unsqueeze(0);
    (positions * mask).argmax(1, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_pooling_reads_last_real_token_on_either_side() {
        // hidden[b, t, 0] = 10*b + t
        let hidden = (Tensor::arange(2, (Kind::Float, Device::Cpu)).view([2, 1, 1]) * 10.0
            + Tensor::arange(4, (Kind::Float, Device::Cpu)).view([1, 4, 1]))
        .expand([2, 4, 3], false);
        let right = Tensor::from_slice(&[1i64, 1, 0, 0, 1, 1, 1, 0]).view([2, 4]);
        let left = Tensor::from_slice(&[0i64, 0, 1, 1, 0, 1, 1, 1]).view([2, 4]);
        let r = pool(&hidden, &right, Pooling::Last).select(1, 0);
        let l = pool(&hidden, &left, Pooling::Last).select(1, 0);
        assert_eq!(Vec::<f32>::try_from(r).unwrap(), vec![1.0, 12.0]);
        assert_eq!(Vec::<f32>::try_from(l).unwrap(), vec![3.0, 13.0]);
    }

    #[test]
    fn mean_pooling_ignores_padding() {
        let hidden = Tensor::from_slice(&[1.0f32, 3.0, 100.0]).view([1, 3, 1]);
        let mask = Tensor::from_slice(&[1i64, 1, 0]).view([1, 3]);
        let m = pool(&hidden, &mask, Pooling::Mean);
        assert_eq!(Vec::<f32>::try_from(m.view(-1)).unwrap(), vec![2.0]);
    }

    #[test]
    fn head_starts_at_zero_so_predictions_start_uniform() {
        let c = Classifier::load(BOW, Device::Cpu, 0).unwrap();
        let ids = c.encoder.encode_all(&["a fine day", "bad"]).unwrap();
        let refs: Vec<&[i64]> = ids.iter().map(|v| v.as_slice()).collect();
        let batch = pad_batch(&refs, c.encoder.pad_id(), Device::Cpu);
        let logits = c.forward(&batch);
        assert_eq!(logits.size(), vec![2, 2]);
        assert_eq!(logits.abs().sum(Kind::Float).double_value(&[]), 0.0);
    }

    #[test]
    fn unknown_model_folder_is_a_clear_error() {
        let err = Classifier::load("./no/such/model", Device::Cpu, 0)
            .err()
            .unwrap();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
