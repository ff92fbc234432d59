//! Classifiers: a backbone (pretrained transformer or a model trained from scratch) with a
//! two-class linear head, initialised to zero as in openai/weak-to-strong.

pub mod attention;
pub mod bert;
pub mod bow;
pub mod checkpoint;
pub mod family;
pub mod gpt2;
pub mod hub;
pub mod layers;
pub mod llama;
pub mod lora;
pub mod mpnet;
pub mod neox;
pub mod tokenizer;
pub mod weights;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
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

/// What a model is, for run folders and defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ModelInfo {
    /// As the user named it: `bow`, a folder, or a hub id.
    pub name: String,
    /// `model_type` from config.json, or `bow`.
    pub family: String,
    pub parameters: i64,
    pub vocab_size: i64,
    /// Longest input the model takes (position embeddings).
    pub max_positions: usize,
    /// Layer sizes, for memory estimates; none for the bag of words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Shape>,
}

/// The sizes of a transformer that decide its activation memory, from config.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub hidden: i64,
    pub layers: i64,
    pub heads: i64,
    pub intermediate: i64,
    /// A gated MLP (SwiGLU: gate, up and their product kept), as in Llama and Qwen.
    pub gated_mlp: bool,
}

impl Shape {
    fn from_config(json: &serde_json::Value) -> Option<Shape> {
        let get = |keys: &[&str]| keys.iter().find_map(|k| json[*k].as_i64());
        let hidden = get(&["hidden_size", "n_embd", "d_model"])?;
        let family = json["model_type"].as_str().unwrap_or("");
        Some(Shape {
            hidden,
            layers: get(&["num_hidden_layers", "n_layer"])?,
            heads: get(&["num_attention_heads", "n_head"])?,
            intermediate: get(&["intermediate_size", "n_inner"]).unwrap_or(4 * hidden),
            gated_mlp: matches!(
                family,
                "llama" | "qwen2" | "qwen3" | "mistral" | "gemma" | "gemma2"
            ),
        })
    }
}

impl ModelInfo {
    /// What a model is without building it: `config.json` and the safetensors headers
    /// (parameter count). Cheap even for very large checkpoints.
    pub fn describe(name: &str) -> Result<ModelInfo> {
        if name == BOW {
            return Ok(ModelInfo {
                name: BOW.into(),
                family: BOW.into(),
                parameters: bow::BUCKETS * bow::DIM + bow::DIM * 2 + 2,
                vocab_size: bow::BUCKETS,
                max_positions: usize::MAX,
                shape: None,
            });
        }
        let dir = locate(name)?;
        let json = read_config(&dir)?;
        tokenizer::require_tokenizer(&dir)?;
        let mut parameters = 0;
        for f in weights::checkpoint_files(&dir)? {
            parameters += weights::parameter_count(&f)?;
        }
        let max = ["max_position_embeddings", "n_positions"]
            .iter()
            .find_map(|k| json[*k].as_i64())
            .unwrap_or(512);
        Ok(ModelInfo {
            name: name.to_owned(),
            family: json["model_type"].as_str().unwrap_or("").to_owned(),
            parameters,
            vocab_size: json["vocab_size"].as_i64().unwrap_or(0),
            max_positions: max as usize,
            shape: Shape::from_config(&json),
        })
    }

    /// Learning rate used when the config gives none. Models in the reference's table
    /// (`train_simple.py`'s `MODEL_CONFIGS`) get its rate, matched by the model's short name
    /// (`gpt2-medium`, `openai-community/gpt2-medium` and a folder named so alike); other
    /// models get 5e-5 under 500M parameters and 1e-5 from there (the same cut the table makes
    /// between gpt2-medium, 355M, and gpt2-large, 774M); a model trained from scratch (`bow`)
    /// 1e-2.
    pub fn default_lr(&self) -> f64 {
        if self.family == BOW {
            return 1e-2;
        }
        let name = short_name(&self.name);
        if let Some((_, lr)) = REFERENCE_LR.iter().find(|(m, _)| *m == name) {
            return *lr;
        }
        if self.parameters < 500_000_000 {
            5e-5
        } else {
            1e-5
        }
    }
}

/// A model folder's config.json, read once per load, with the rotary settings of every
/// transformers version in one form (see `normalize_rope`).
fn read_config(dir: &Path) -> Result<serde_json::Value> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{}: cannot read it; a model folder needs config.json, tokenizer.json and model.safetensors",
            path.display()
        )
    })?;
    let json = serde_json::from_str(&text)
        .with_context(|| format!("{}: not valid JSON", path.display()))?;
    Ok(normalize_rope(json))
}

/// The reference's default learning rates (openai/weak-to-strong `train_simple.py`).
pub const REFERENCE_LR: &[(&str, f64)] = &[
    ("gpt2", 5e-5),
    ("gpt2-medium", 5e-5),
    ("gpt2-large", 1e-5),
    ("gpt2-xl", 1e-5),
    ("Qwen-1_8B", 1e-5),
    ("Qwen-7B", 1e-5),
    ("Qwen-14B", 1e-5),
    ("Qwen-72B", 1e-5),
];

/// The last part of a model's name or folder (`openai-community/gpt2@main` -> `gpt2`).
pub fn short_name(model: &str) -> String {
    let name = model.split('@').next().unwrap_or(model);
    Path::new(name.trim_end_matches('/'))
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_owned())
}

/// A fingerprint of a model's content: its config, tokenizer and checkpoint files
/// ([`crate::store::file_fingerprint`]); `bow` is defined by the code alone. Remembered per
/// process while the files' sizes and modification times stay the same, so planning a sweep
/// reads each checkpoint once.
pub fn fingerprint(name: &str) -> Result<String> {
    type Cache = std::collections::HashMap<String, (Vec<(u64, std::time::SystemTime)>, String)>;
    static CACHE: std::sync::Mutex<Option<Cache>> = std::sync::Mutex::new(None);
    if name == BOW {
        return Ok(format!("bow-{}-{}", bow::BUCKETS, bow::DIM));
    }
    let dir = locate(name)?;
    let mut files: Vec<PathBuf> = [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "model.safetensors.index.json",
    ]
    .iter()
    .map(|f| dir.join(f))
    .filter(|p| p.exists())
    .collect();
    files.extend(weights::checkpoint_files(&dir)?);
    let stamps = files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).with_context(|| format!("reading {}", f.display()))?;
            Ok((m.len(), m.modified()?))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut cache = CACHE.lock().unwrap();
    let cache = cache.get_or_insert_default();
    if let Some((s, fp)) = cache.get(name) {
        if *s == stamps {
            return Ok(fp.clone());
        }
    }
    let fp = crate::store::files_fingerprint(&dir, &files)?;
    cache.insert(name.to_owned(), (stamps, fp.clone()));
    Ok(fp)
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

/// Positions whose vocabulary-sized logits exist at once in [`Classifier::lm_backward`].
const LM_HEAD_CHUNK: usize = 512;

/// Where a model named on the command line lives: a folder, or a hub id resolved through
/// the Hugging Face cache.
pub fn locate(name: &str) -> Result<PathBuf> {
    let path = Path::new(name);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    if path.exists() {
        bail!("--model {name}: is a file; pass the model's folder (with config.json)");
    }
    if name.starts_with('.') || name.starts_with('/') || name.matches('/').count() > 1 {
        bail!("model folder `{name}` does not exist");
    }
    hub::resolve(name)
}

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
        let root = vs.root();
        fn parse<T: serde::de::DeserializeOwned>(
            json: &serde_json::Value,
            path: &Path,
        ) -> Result<T> {
            serde_json::from_value(json.clone())
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        let p = &config_path;
        // (backbone, hidden size, longest input)
        let (backbone, hidden, max_positions) = match fam.arch {
            family::Arch::Bert | family::Arch::Roberta => {
                let cfg: bert::BertConfig = parse(&json, p)?;
                let roberta = fam.arch == family::Arch::Roberta;
                let offset = if roberta { cfg.pad_token_id + 1 } else { 0 };
                let m = bert::Bert::new(&root, &cfg, roberta, adapters);
                let max = cfg.max_position_embeddings - offset;
                (Backbone::Bert(m), cfg.hidden_size, max)
            }
            family::Arch::Mpnet => {
                let cfg: mpnet::MpnetConfig = parse(&json, p)?;
                let m = mpnet::Mpnet::new(&root, &cfg, adapters);
                let max = cfg.max_position_embeddings - cfg.pad_token_id - 1;
                (Backbone::Mpnet(m), cfg.hidden_size, max)
            }
            family::Arch::Gpt2 => {
                let cfg: gpt2::Gpt2Config = parse(&json, p)?;
                let m = gpt2::Gpt2::new(&root, &cfg, adapters);
                (Backbone::Gpt2(m), cfg.n_embd, cfg.n_positions)
            }
            family::Arch::Llama | family::Arch::Qwen2 => {
                let cfg: llama::LlamaConfig = parse(&json, p)?;
                let qwen = fam.arch == family::Arch::Qwen2;
                let m = llama::Llama::new(&root, &cfg, qwen, adapters)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
                (
                    Backbone::Llama(m),
                    cfg.hidden_size,
                    cfg.max_position_embeddings,
                )
            }
            family::Arch::Neox => {
                let cfg: neox::NeoxConfig = parse(&json, p)?;
                let m = neox::Neox::new(&root, &cfg, adapters);
                (
                    Backbone::Neox(m),
                    cfg.hidden_size,
                    cfg.max_position_embeddings,
                )
            }
        };
        let family = model_type;
        let pooling = fam.pooling;
        let prefixes = fam.prefixes;
        let max_positions = max_positions.max(1) as usize;
        let head = zero_head(&root, hidden, head_bias);
        let files = weights::checkpoint_files(&dir)?;
        let checkpoint = weights::read_checkpoint(&files)?;
        weights::load_into(&mut vs, &checkpoint, prefixes, &[HEAD], &dir)?;
        if let Some(a) = adapters {
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
        pair_difference(
            pool(&self.hidden_states(batch), &batch.mask, self.pooling),
            batch.pairs,
        )
    }

    /// The backbone's last hidden states `[rows, seq, hidden]` (a pair's two sequences are
    /// two rows).
    fn hidden_states(&self, batch: &Batch) -> Tensor {
        match &self.backbone {
            Backbone::Bow(m) => m.forward(&batch.ids),
            Backbone::Bert(m) => m.forward(&batch.ids, &batch.mask),
            Backbone::Mpnet(m) => m.forward(&batch.ids, &batch.mask),
            Backbone::Gpt2(m) => m.forward(&batch.ids, &batch.mask),
            Backbone::Llama(m) => m.forward(&batch.ids, &batch.mask),
            Backbone::Neox(m) => m.forward(&batch.ids, &batch.mask),
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
        let top = |hidden: &Tensor| {
            let pooled = pair_difference(pool(hidden, &batch.mask, self.pooling), batch.pairs);
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
            self.backward_through_layers(batch, top)
        })
    }

    /// [`checkpoint::backward`] on this backbone: backpropagate `top(last hidden states)`'s
    /// first value, recomputing each layer; returns its second.
    fn backward_through_layers<T>(
        &self,
        batch: &Batch,
        top: impl FnOnce(&Tensor) -> (Tensor, T),
    ) -> T {
        let (ids, mask) = (&batch.ids, &batch.mask);
        match &self.backbone {
            Backbone::Bert(m) => checkpoint::backward(m, ids, mask, top),
            Backbone::Mpnet(m) => checkpoint::backward(m, ids, mask, top),
            Backbone::Gpt2(m) => checkpoint::backward(m, ids, mask, top),
            Backbone::Llama(m) => checkpoint::backward(m, ids, mask, top),
            Backbone::Neox(m) => checkpoint::backward(m, ids, mask, top),
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

    /// Start the head from the language-model head's rows for two answer tokens (label 0's,
    /// then label 1's), bias zero: the classifier's logits are then the LM's logits for the two
    /// answers at the last token, as in generative scoring (paper section 5.2.2).
    pub fn init_head_from_lm(&mut self, tokens: [i64; 2]) -> Result<()> {
        let lm = self.lm_head("generative scoring")?;
        let vocab = lm.size()[0];
        if let Some(t) = tokens.iter().find(|&&t| t < 0 || t >= vocab) {
            bail!("answer token id {t} is outside the LM head's {vocab} rows");
        }
        let rows = lm.index_select(0, &Tensor::from_slice(&tokens).to_device(lm.device()));
        tch::no_grad(|| {
            self.head
                .ws
                .copy_(&rows.to_kind(Kind::Float).to_device(self.head.ws.device()));
            if let Some(b) = &mut self.head.bs {
                let _ = b.zero_();
            }
        });
        Ok(())
    }

    /// The language-model head `[vocab, hidden]` on the model's device. Only decoders have
    /// one (`for_what` names the feature that needs it, for the error). A tied head is the
    /// backbone's own input embeddings, so that training through it updates them as
    /// transformers does; an untied one is read from the checkpoint and stays frozen (the
    /// classifier never uses it after generative finetuning, so only the backbone matters).
    pub fn lm_head(&self, for_what: &str) -> Result<Tensor> {
        if self.pooling != Pooling::Last {
            bail!(
                "{}: {for_what} needs a decoder with a language-model head (gpt2, llama, qwen2, gpt_neox); {} is an encoder",
                self.info.name,
                self.info.family
            );
        }
        let fam = family::find(&self.info.family).context("a known decoder family")?;
        if self.tied_embeddings {
            let vars = self.vs.variables();
            if let Some(t) = fam.tied_embeddings.iter().find_map(|n| vars.get(*n)) {
                return Ok(t.shallow_clone());
            }
        }
        let dir = locate(&self.info.name)?;
        let checkpoint = weights::read_checkpoint(&weights::checkpoint_files(&dir)?)?;
        let mut names: Vec<&str> = fam.lm_head.to_vec();
        if self.tied_embeddings {
            names.extend(fam.tied_embeddings);
        }
        let Some(lm) = names.iter().find_map(|n| checkpoint.get(*n)) else {
            bail!(
                "{}: no language-model head in the checkpoint (looked for {names:?}); save the model with its LM head (AutoModelForCausalLM)",
                dir.display()
            );
        };
        Ok(lm.to_device(self.device()))
    }

    /// Backpropagate the language-modelling loss of a batch of single sequences: the mean
    /// cross-entropy of predicting each token at or after its row's `starts` entry from the
    /// tokens before it (transformers' causal-LM loss with the earlier labels set to -100).
    /// Only the predicted positions go through `lm_head`, so the `[tokens, vocab]` logits
    /// are never made for the context. The gradient is of `scale` times the loss (a
    /// minibatch's share of its batch); returns the loss itself.
    pub fn lm_backward(
        &self,
        batch: &Batch,
        starts: &[usize],
        lm_head: &Tensor,
        scale: f64,
        checkpointing: bool,
    ) -> Result<f64> {
        self.lm_backward_in_chunks(batch, starts, lm_head, scale, checkpointing, LM_HEAD_CHUNK)
    }

    /// [`Classifier::lm_backward`] with the LM head run over `chunk` positions at a time (any
    /// `chunk` gives the same loss and gradients, to float rounding).
    pub fn lm_backward_in_chunks(
        &self,
        batch: &Batch,
        starts: &[usize],
        lm_head: &Tensor,
        scale: f64,
        checkpointing: bool,
        chunk: usize,
    ) -> Result<f64> {
        let (rows, positions) = lm_targets(batch, starts)?;
        let device = self.device();
        let rows_t = Tensor::from_slice(&rows).to_device(device);
        let at = Tensor::from_slice(&positions).to_device(device);
        let next = batch
            .ids
            .to_device(device)
            .index(&[Some(&rows_t), Some(&at)]);
        let top = |hidden: &Tensor| {
            // The hidden state before each target predicts it.
            let h = hidden.index(&[Some(&rows_t), Some(&(&at - 1))]);
            // The `[positions, vocabulary]` logits, their log-softmax and gradient are the
            // largest tensors of the step (SmolLM2: 49152 words, 0.6 GB each at 3000
            // positions), so the head runs over `chunk` positions at a time, each
            // chunk backpropagated at once into the head and into `h`'s gradient, which then
            // goes down the layers (Liger Kernel's fused linear cross-entropy, unfused).
            let n = positions.len() as i64;
            let h_leaf = h.detach().set_requires_grad(true);
            let mut total = Tensor::zeros([], (Kind::Float, device));
            for start in (0..n).step_by(chunk.max(1)) {
                let len = (n - start).min(chunk.max(1) as i64);
                let h_c = h_leaf.narrow(0, start, len);
                let logits = h_c
                    .matmul(&lm_head.to_kind(h_c.kind()).tr())
                    .to_kind(Kind::Float);
                let sum = logits.cross_entropy_loss::<Tensor>(
                    &next.narrow(0, start, len),
                    None,
                    tch::Reduction::Sum,
                    -100,
                    0.0,
                );
                (&sum * (scale / n as f64)).backward();
                total += sum.detach();
            }
            // A stand-in whose gradient in `h` is what the chunks left there.
            let surrogate = (&h * h_leaf.grad().to_kind(h.kind())).sum(Kind::Float);
            (surrogate, total / n as f64)
        };
        let value = layers::with_bf16_matmuls(self.mixed_precision, || {
            if checkpointing {
                self.backward_through_layers(batch, top)
            } else {
                let (loss, value) = top(&self.hidden_states(batch));
                loss.backward();
                value
            }
        });
        Ok(value.double_value(&[]))
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

/// transformers 5 writes rotary settings as one `rope_parameters` object; earlier versions
/// (and most checkpoints on the hub) use top-level `rope_theta`, `rope_scaling`,
/// `rotary_pct` / `partial_rotary_factor`. Map the new form onto the old keys.
fn normalize_rope(mut json: serde_json::Value) -> serde_json::Value {
    // Older checkpoints name the scaling's kind `type`.
    if let Some(s) = json.get_mut("rope_scaling").and_then(|s| s.as_object_mut()) {
        if !s.contains_key("rope_type") {
            if let Some(t) = s.get("type").cloned() {
                s.insert("rope_type".into(), t);
            }
        }
    }
    let Some(params) = json
        .get("rope_parameters")
        .and_then(|p| p.as_object())
        .cloned()
    else {
        return json;
    };
    let obj = json.as_object_mut().expect("config.json is an object");
    if let Some(theta) = params.get("rope_theta") {
        obj.insert("rope_theta".into(), theta.clone());
    }
    if let Some(f) = params.get("partial_rotary_factor") {
        obj.insert("partial_rotary_factor".into(), f.clone());
    }
    let kind = params
        .get("rope_type")
        .and_then(|t| t.as_str())
        .unwrap_or("default");
    if kind != "default" {
        obj.insert("rope_scaling".into(), serde_json::Value::Object(params));
    }
    json
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
        Pooling::Last => {
            // Index of the last 1 in each mask row, whichever side the padding is on:
            // argmax of position * mask.
            let t = mask.size()[1];
            let positions = Tensor::arange(t, (Kind::Int64, mask.device())).unsqueeze(0);
            let last = (positions * mask).argmax(1, false);
            let h = hidden.size()[2];
            hidden
                .gather(1, &last.view([-1, 1, 1]).expand([-1, 1, h], false), false)
                .squeeze_dim(1)
        }
    }
}

/// The (row, position) of every token the LM loss predicts: each row's real tokens from its
/// `starts` entry on (at least position 1, since the first token has nothing before it).
/// Rows are right-padded, as `pad_batch` makes them.
fn lm_targets(batch: &Batch, starts: &[usize]) -> Result<(Vec<i64>, Vec<i64>)> {
    if batch.pairs {
        bail!("the language-modelling loss reads single sequences, not pairs");
    }
    let lengths = Vec::<i64>::try_from(batch.mask.sum_dim_intlist(1, false, Kind::Int64))?;
    if lengths.len() != starts.len() {
        bail!(
            "{} start positions for {} sequences",
            starts.len(),
            lengths.len()
        );
    }
    let (mut rows, mut positions) = (Vec::new(), Vec::new());
    for (r, (&len, &start)) in lengths.iter().zip(starts).enumerate() {
        for t in (start.max(1) as i64)..len {
            rows.push(r as i64);
            positions.push(t);
        }
    }
    if rows.is_empty() {
        bail!("no token to predict in this batch (every sequence ends where its loss would start)");
    }
    Ok((rows, positions))
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

#[cfg(test)]
mod lr_tests {
    use super::*;

    fn info(name: &str, family: &str, parameters: i64) -> ModelInfo {
        ModelInfo {
            name: name.into(),
            family: family.into(),
            parameters,
            ..Default::default()
        }
    }

    #[test]
    fn default_learning_rates_follow_the_reference_table() {
        let cases = [
            // openai/weak-to-strong train_simple.py: gpt2 and gpt2-medium 5e-5, larger 1e-5.
            ("openai-community/gpt2", "gpt2", 124_000_000, 5e-5),
            ("gpt2-medium", "gpt2", 355_000_000, 5e-5),
            ("/m/gpt2-medium/", "gpt2", 355_000_000, 5e-5),
            ("openai-community/gpt2-large", "gpt2", 774_000_000, 1e-5),
            ("gpt2-xl", "gpt2", 1_500_000_000, 1e-5),
            ("Qwen/Qwen-7B@main", "qwen", 7_000_000_000, 1e-5),
            // Elsewhere by size, cut where the table cuts.
            ("EleutherAI/pythia-410m", "gpt_neox", 405_000_000, 5e-5),
            ("Qwen/Qwen2.5-0.5B", "qwen2", 494_000_000, 5e-5),
            ("meta-llama/Llama-3.2-1B", "llama", 1_236_000_000, 1e-5),
        ];
        for (name, family, parameters, lr) in cases {
            assert_eq!(info(name, family, parameters).default_lr(), lr, "{name}");
        }
        assert_eq!(info(BOW, BOW, 1).default_lr(), 1e-2);
    }
}
