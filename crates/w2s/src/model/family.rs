//! The model families w2s builds, as data (like the dataset registry's `TASKS`): for each, the
//! `model_type`s of config.json it covers, the Rust file that builds it, where checkpoints put
//! its weights, how the head pools, PEFT's default LoRA targets and the language-model head's
//! checkpoint names.

use super::Pooling;

/// Which module builds the backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// `bert.rs`, with BERT's absolute positions.
    Bert,
    /// `bert.rs`, with RoBERTa's positions counted from `pad_token_id + 1`.
    Roberta,
    Mpnet,
    Gpt2,
    /// `llama.rs` (Llama, Mistral).
    Llama,
    /// `llama.rs` with biases on the query, key and value projections.
    Qwen2,
    Neox,
}

pub struct Family {
    /// `model_type` values of config.json.
    pub model_types: &'static [&'static str],
    pub arch: Arch,
    /// Prefixes a checkpoint may put before the backbone's own names (`bert.`, `model.`).
    pub prefixes: &'static [&'static str],
    pub pooling: Pooling,
    /// PEFT's default LoRA target modules.
    pub lora_targets: &'static [&'static str],
    /// Checkpoint names of an untied LM head, then of the input embeddings a tied one shares
    /// (decoders only).
    pub lm_head: &'static [&'static str],
    pub tied_embeddings: &'static [&'static str],
}

pub const FAMILIES: &[Family] = &[
    Family {
        model_types: &["bert"],
        arch: Arch::Bert,
        prefixes: &["bert."],
        pooling: Pooling::Mean,
        lora_targets: &["query", "value"],
        lm_head: &[],
        tied_embeddings: &[],
    },
    Family {
        model_types: &["roberta", "xlm-roberta", "camembert"],
        arch: Arch::Roberta,
        prefixes: &["roberta."],
        pooling: Pooling::Mean,
        lora_targets: &["query", "value"],
        lm_head: &[],
        tied_embeddings: &[],
    },
    Family {
        model_types: &["mpnet"],
        arch: Arch::Mpnet,
        prefixes: &["mpnet."],
        pooling: Pooling::Mean,
        lora_targets: &["q", "v"],
        lm_head: &[],
        tied_embeddings: &[],
    },
    Family {
        model_types: &["gpt2"],
        arch: Arch::Gpt2,
        prefixes: &["transformer."],
        pooling: Pooling::Last,
        lora_targets: &["c_attn"],
        lm_head: &["lm_head.weight"],
        tied_embeddings: &["wte.weight", "transformer.wte.weight"],
    },
    Family {
        model_types: &["llama", "mistral"],
        arch: Arch::Llama,
        prefixes: &["model."],
        pooling: Pooling::Last,
        lora_targets: &["q_proj", "v_proj"],
        lm_head: &["lm_head.weight"],
        tied_embeddings: &["embed_tokens.weight", "model.embed_tokens.weight"],
    },
    Family {
        model_types: &["qwen2"],
        arch: Arch::Qwen2,
        prefixes: &["model."],
        pooling: Pooling::Last,
        lora_targets: &["q_proj", "v_proj"],
        lm_head: &["lm_head.weight"],
        tied_embeddings: &["embed_tokens.weight", "model.embed_tokens.weight"],
    },
    Family {
        model_types: &["gpt_neox"],
        arch: Arch::Neox,
        prefixes: &["gpt_neox."],
        pooling: Pooling::Last,
        lora_targets: &["query_key_value"],
        lm_head: &["embed_out.weight", "gpt_neox.embed_out.weight"],
        tied_embeddings: &["embed_in.weight", "gpt_neox.embed_in.weight"],
    },
];

/// The family of a config.json `model_type`.
pub fn find(model_type: &str) -> Option<&'static Family> {
    FAMILIES
        .iter()
        .find(|f| f.model_types.contains(&model_type))
}

/// Every `model_type` w2s builds, for error messages.
pub fn known() -> String {
    FAMILIES
        .iter()
        .flat_map(|f| f.model_types)
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}
