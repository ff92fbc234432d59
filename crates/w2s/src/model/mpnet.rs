//! MPNet encoders (all-mpnet-base-v2 and the like), as in Hugging Face's `MPNetModel`: BERT's
//! layout with RoBERTa-style positions and a T5-style relative position bias shared by all
//! layers. Variables named as in the checkpoint (`encoder.layer.0.attention.attn.q.weight`,
//! `encoder.relative_attention_bias.weight`, ...).

use super::attention::{attend_low, encoder_mask, heads, merge, Mask};
use super::checkpoint::{self, Stack};
use super::layers::{activation, layer_norm};
use super::lora::{self, Adapters, Linear};
use serde::Deserialize;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Deserialize)]
pub struct MpnetConfig {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub intermediate_size: i64,
    #[serde(default = "gelu")]
    pub hidden_act: String,
    pub max_position_embeddings: i64,
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "buckets")]
    pub relative_attention_num_buckets: i64,
    #[serde(default = "one")]
    pub pad_token_id: i64,
}

fn gelu() -> String {
    "gelu".into()
}
fn eps() -> f64 {
    1e-5
}
fn buckets() -> i64 {
    32
}
fn one() -> i64 {
    1
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    attn_norm: nn::LayerNorm,
    intermediate: Linear,
    out: Linear,
    out_norm: nn::LayerNorm,
}

pub struct Mpnet {
    cfg: MpnetConfig,
    word: nn::Embedding,
    position: nn::Embedding,
    embed_norm: nn::LayerNorm,
    layers: Vec<Layer>,
    relative_bias: nn::Embedding,
}

/// T5's bidirectional bucketing of relative positions (MPNet keeps max_distance 128).
fn relative_bucket(relative: &Tensor, num_buckets: i64) -> Tensor {
    let max_distance = 128.0;
    let half = num_buckets / 2;
    let n = -relative;
    let ret = n.lt(0).to_kind(Kind::Int64) * half;
    let n = n.abs();
    let max_exact = half / 2;
    let is_small = n.lt(max_exact);
    let large = ((n.to_kind(Kind::Float) / max_exact as f64).log()
        / (max_distance / max_exact as f64).ln()
        * (half - max_exact) as f64)
        .to_kind(Kind::Int64)
        + max_exact;
    let large = large.clamp_max(half - 1);
    ret + n.where_self(&is_small, &large)
}

impl Mpnet {
    pub fn new(p: &nn::Path, cfg: &MpnetConfig, adapters: Option<&Adapters>) -> Mpnet {
        let h = cfg.hidden_size;
        let e = p / "embeddings";
        let lin = |path: nn::Path, i, o| lora::linear(path, i, o, true, adapters);
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = p / "encoder" / "layer" / i;
                let a = &l / "attention";
                Layer {
                    q: lin(&a / "attn" / "q", h, h),
                    k: lin(&a / "attn" / "k", h, h),
                    v: lin(&a / "attn" / "v", h, h),
                    o: lin(&a / "attn" / "o", h, h),
                    attn_norm: layer_norm(&a / "LayerNorm", h, cfg.layer_norm_eps),
                    intermediate: lin(&l / "intermediate" / "dense", h, cfg.intermediate_size),
                    out: lin(&l / "output" / "dense", cfg.intermediate_size, h),
                    out_norm: layer_norm(&l / "output" / "LayerNorm", h, cfg.layer_norm_eps),
                }
            })
            .collect();
        Mpnet {
            cfg: cfg.clone(),
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
            embed_norm: layer_norm(&e / "LayerNorm", h, cfg.layer_norm_eps),
            layers,
            relative_bias: nn::embedding(
                p / "encoder" / "relative_attention_bias",
                cfg.relative_attention_num_buckets,
                cfg.num_attention_heads,
                Default::default(),
            ),
        }
    }

    pub fn forward(&self, ids: &Tensor, mask: &Tensor, at: Option<&Tensor>) -> Tensor {
        checkpoint::forward(self, ids, mask, at)
    }
}

/// What MPNet's layers share: the attention mask and the relative-position buckets.
pub struct Context {
    allowed: Mask,
    bucket: Tensor,
}

impl Stack for Mpnet {
    type Context = Context;

    fn embed(&self, ids: &Tensor, mask: &Tensor) -> Tensor {
        let positions = mask.cumsum(1, Kind::Int64) * mask + self.cfg.pad_token_id;
        self.embed_norm
            .forward(&(self.word.forward(ids) + self.position.forward(&positions)))
    }

    fn context(&self, mask: &Tensor, _x: &Tensor) -> Context {
        // Relative positions over the padded sequence, as transformers computes them.
        let t = mask.size()[1];
        let pos = Tensor::arange(t, (Kind::Int64, mask.device()));
        let relative = pos.unsqueeze(0) - pos.unsqueeze(1);
        Context {
            allowed: encoder_mask(mask),
            bucket: relative_bucket(&relative, self.cfg.relative_attention_num_buckets),
        }
    }

    fn depth(&self) -> usize {
        self.layers.len()
    }

    fn layer(&self, i: usize, x: &Tensor, ctx: &Context, at: Option<&Tensor>) -> Tensor {
        let l = &self.layers[i];
        // The bias is a lookup of a parameter: each layer looks it up itself so that a
        // recomputed layer's gradient reaches the table (a cheap gather, seq x seq x heads).
        let bias = self
            .relative_bias
            .forward(&ctx.bucket)
            .permute([2, 0, 1])
            .unsqueeze(0);
        let n = self.cfg.num_attention_heads;
        let (q, k, v) = (
            heads(&l.q.forward_low(x), n),
            heads(&l.k.forward_low(x), n),
            heads(&l.v.forward_low(x), n),
        );
        let attn = merge(&attend_low(&q, &k, &v, &ctx.allowed, Some(&bias)));
        let x = l.attn_norm.forward(&(l.o.forward(&attn) + x));
        let inner = activation(&self.cfg.hidden_act, &l.intermediate.forward_low(&x));
        let y = l.out_norm.forward(&(l.out.forward(&inner) + &x));
        checkpoint::rows(y, at)
    }

    fn finish(&self, x: Tensor) -> Tensor {
        x
    }
}
