//! BERT-family encoders (BERT, MiniLM, bge, ...), as in Hugging Face's `BertModel`, and
//! RoBERTa, which is BERT with positions counted from `pad_token_id + 1`. Variables are named
//! as in the checkpoint (`embeddings.word_embeddings.weight`,
//! `encoder.layer.0.attention.self.query.weight`, ...).

use super::attention::{attend_low, encoder_mask, heads, merge, Mask};
use super::checkpoint::{self, Stack};
use super::layers::{activation, layer_norm};
use super::lora::{self, Adapters, Linear};
use serde::Deserialize;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub intermediate_size: i64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub max_position_embeddings: i64,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: i64,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: i64,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> i64 {
    2
}
fn default_eps() -> f64 {
    1e-12
}

struct Embeddings {
    word: nn::Embedding,
    position: nn::Embedding,
    token_type: nn::Embedding,
    norm: nn::LayerNorm,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: nn::LayerNorm,
    intermediate: Linear,
    out: Linear,
    out_norm: nn::LayerNorm,
}

pub struct Bert {
    cfg: BertConfig,
    /// RoBERTa numbers positions from `pad_token_id + 1` over real tokens.
    roberta_positions: bool,
    embeddings: Embeddings,
    layers: Vec<Layer>,
}

impl Bert {
    pub fn new(
        p: &nn::Path,
        cfg: &BertConfig,
        roberta_positions: bool,
        adapters: Option<&Adapters>,
    ) -> Bert {
        let h = cfg.hidden_size;
        let e = p / "embeddings";
        let embeddings = Embeddings {
            word: nn::embedding(
                &e / "word_embeddings",
                cfg.vocab_size,
                h,
                Default::default(),
            ),
            position: nn::embedding(
                &e / "position_embeddings",
                cfg.max_position_embeddings,
                h,
                Default::default(),
            ),
            token_type: nn::embedding(
                &e / "token_type_embeddings",
                cfg.type_vocab_size,
                h,
                Default::default(),
            ),
            norm: layer_norm(&e / "LayerNorm", h, cfg.layer_norm_eps),
        };
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = p / "encoder" / "layer" / i;
                let a = &l / "attention";
                let lin = |path: nn::Path, i, o| lora::linear(path, i, o, true, adapters);
                Layer {
                    query: lin(&a / "self" / "query", h, h),
                    key: lin(&a / "self" / "key", h, h),
                    value: lin(&a / "self" / "value", h, h),
                    attn_out: lin(&a / "output" / "dense", h, h),
                    attn_norm: layer_norm(&a / "output" / "LayerNorm", h, cfg.layer_norm_eps),
                    intermediate: lin(&l / "intermediate" / "dense", h, cfg.intermediate_size),
                    out: lin(&l / "output" / "dense", cfg.intermediate_size, h),
                    out_norm: layer_norm(&l / "output" / "LayerNorm", h, cfg.layer_norm_eps),
                }
            })
            .collect();
        Bert {
            cfg: cfg.clone(),
            roberta_positions,
            embeddings,
            layers,
        }
    }

    pub fn hidden_size(&self) -> i64 {
        self.cfg.hidden_size
    }

    /// Last hidden states `[batch, seq, hidden]`; `mask` is 1 on tokens, 0 on padding.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor, at: Option<&Tensor>) -> Tensor {
        checkpoint::forward(self, ids, mask, at)
    }
}

impl Stack for Bert {
    type Context = Mask;

    fn embed(&self, ids: &Tensor, mask: &Tensor) -> Tensor {
        let t = ids.size()[1];
        let positions = if self.roberta_positions {
            mask.cumsum(1, Kind::Int64) * mask + self.cfg.pad_token_id
        } else {
            Tensor::arange(t, (Kind::Int64, ids.device())).unsqueeze(0)
        };
        let e = &self.embeddings;
        let xs = e.word.forward(ids)
            + e.position.forward(&positions)
            + e.token_type.forward(&ids.zeros_like());
        e.norm.forward(&xs)
    }

    fn context(&self, mask: &Tensor, _x: &Tensor) -> Mask {
        encoder_mask(mask)
    }

    fn depth(&self) -> usize {
        self.layers.len()
    }

    fn layer(&self, i: usize, xs: &Tensor, allowed: &Mask, at: Option<&Tensor>) -> Tensor {
        let layer = &self.layers[i];
        let n = self.cfg.num_attention_heads;
        // Under mixed precision, projections' outputs stay bf16 until a residual sum makes them
        // f32 again, as under autocast (`Linear::forward_low`).
        let q = heads(&layer.query.forward_low(xs), n);
        let k = heads(&layer.key.forward_low(xs), n);
        let v = heads(&layer.value.forward_low(xs), n);
        let ctx = merge(&attend_low(&q, &k, &v, allowed, None));
        let xs = layer
            .attn_norm
            .forward(&(layer.attn_out.forward(&ctx) + xs));
        let inner = activation(&self.cfg.hidden_act, &layer.intermediate.forward_low(&xs));
        let y = layer.out_norm.forward(&(layer.out.forward(&inner) + &xs));
        checkpoint::rows(y, at)
    }

    fn finish(&self, x: Tensor) -> Tensor {
        x
    }
}
