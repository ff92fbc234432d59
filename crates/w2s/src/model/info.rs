//! What a model is before it is built: its description from config.json and the checkpoint's
//! headers, its default learning rate, its content fingerprint, and where its folder is.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use super::{bow, hub, tokenizer, weights, BOW};
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
    pub(super) fn from_config(json: &serde_json::Value) -> Option<Shape> {
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
pub(super) fn read_config(dir: &Path) -> Result<serde_json::Value> {
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
