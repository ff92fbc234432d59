//! GPT-NeoX (Pythia), as in Hugging Face's `GPTNeoXModel`: fused query/key/value projection
//! laid out per head, rotary embeddings on part of each head, and (by default) parallel
//! attention and MLP residuals. Variables named as in the checkpoint (`embed_in.weight`,
//! `layers.0.attention.query_key_value.weight`, ...).

use super::attention::{at_positions, attend_low, inv_freq, merge, rotate, RotaryContext};
use super::checkpoint::{self, Stack};
use super::layers::{activation, layer_norm};
use super::lora::{self, Adapters, Linear};
use serde::Deserialize;
use tch::nn::{self, Module};
use tch::Tensor;

#[derive(Debug, Clone, Deserialize)]
pub struct NeoxConfig {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub intermediate_size: i64,
    /// Share of each head that rotates (`partial_rotary_factor` in some configs).
    #[serde(default)]
    pub rotary_pct: Option<f64>,
    #[serde(default)]
    pub partial_rotary_factor: Option<f64>,
    /// Rotary base (`rope_theta` in newer configs).
    #[serde(default)]
    pub rotary_emb_base: Option<f64>,
    #[serde(default)]
    pub rope_theta: Option<f64>,
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "yes")]
    pub use_parallel_residual: bool,
    #[serde(default = "gelu")]
    pub hidden_act: String,
    pub max_position_embeddings: i64,
}

fn eps() -> f64 {
    1e-5
}
fn yes() -> bool {
    true
}
fn gelu() -> String {
    "gelu".into()
}

struct Layer {
    ln1: nn::LayerNorm,
    ln2: nn::LayerNorm,
    qkv: Linear,
    dense: Linear,
    up: Linear,
    down: Linear,
}

pub struct Neox {
    cfg: NeoxConfig,
    embed: nn::Embedding,
    layers: Vec<Layer>,
    final_norm: nn::LayerNorm,
    inv_freq: Tensor,
    rotary_dims: i64,
}

impl Neox {
    pub fn new(p: &nn::Path, cfg: &NeoxConfig, adapters: Option<&Adapters>) -> Neox {
        let h = cfg.hidden_size;
        let lin = |path: nn::Path, i, o| lora::linear(path, i, o, true, adapters);
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = p / "layers" / i;
                Layer {
                    ln1: layer_norm(&l / "input_layernorm", h, cfg.layer_norm_eps),
                    ln2: layer_norm(&l / "post_attention_layernorm", h, cfg.layer_norm_eps),
                    qkv: lin(&l / "attention" / "query_key_value", h, 3 * h),
                    dense: lin(&l / "attention" / "dense", h, h),
                    up: lin(&l / "mlp" / "dense_h_to_4h", h, cfg.intermediate_size),
                    down: lin(&l / "mlp" / "dense_4h_to_h", cfg.intermediate_size, h),
                }
            })
            .collect();
        let head_dim = h / cfg.num_attention_heads;
        let pct = cfg.rotary_pct.or(cfg.partial_rotary_factor).unwrap_or(0.25);
        let base = cfg.rope_theta.or(cfg.rotary_emb_base).unwrap_or(10000.0);
        let rotary_dims = (head_dim as f64 * pct) as i64;
        Neox {
            cfg: cfg.clone(),
            embed: nn::embedding(p / "embed_in", cfg.vocab_size, h, Default::default()),
            layers,
            final_norm: layer_norm(p / "final_layer_norm", h, cfg.layer_norm_eps),
            inv_freq: inv_freq(rotary_dims, base).to_device(p.device()),
            rotary_dims,
        }
    }

    /// Rotate the first `rotary_dims` of each head, leave the rest.
    fn rope(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
        let d = x.size()[3];
        let r = self.rotary_dims;
        let rotated = rotate(&x.narrow(3, 0, r), cos, sin);
        Tensor::cat(&[&rotated, &x.narrow(3, r, d - r)], 3)
    }

    pub fn forward(&self, ids: &Tensor, mask: &Tensor, at: Option<&Tensor>) -> Tensor {
        checkpoint::forward(self, ids, mask, at)
    }
}

impl Stack for Neox {
    type Context = RotaryContext;

    fn embed(&self, ids: &Tensor, _mask: &Tensor) -> Tensor {
        self.embed.forward(ids)
    }

    fn context(&self, mask: &Tensor, x: &Tensor) -> RotaryContext {
        RotaryContext::new(mask, &self.inv_freq, x.kind())
    }

    fn depth(&self) -> usize {
        self.layers.len()
    }

    /// A layer's output at every position, or at the positions `at` only (one per
    /// sequence): keys and values from every position, the queries and the rest at `at`.
    fn layer(&self, i: usize, x: &Tensor, ctx: &RotaryContext, at: Option<&Tensor>) -> Tensor {
        let l = &self.layers[i];
        let n = self.cfg.num_attention_heads;
        let (b, t, h) = x.size3().unwrap();
        let d = h / n;
        // The fused projection is laid out [heads, (q, k, v), head_dim].
        // Projections' outputs stay bf16 under mixed precision, as under autocast.
        let qkv = l
            .qkv
            .forward_low(&l.ln1.forward(x))
            .view([b, t, n, 3 * d])
            .permute([0, 2, 1, 3]);
        let parts = qkv.split(d, 3);
        let q = self.rope(&parts[0], &ctx.cos, &ctx.sin);
        let k = self.rope(&parts[1], &ctx.cos, &ctx.sin);
        let allowed = at.map(|at| ctx.allowed.at(at, t));
        let allowed = allowed.as_ref().unwrap_or(&ctx.allowed);
        let (x, q) = match at {
            Some(at) => (at_positions(x, 1, at), at_positions(&q, 2, at)),
            None => (x.shallow_clone(), q),
        };
        let x = &x;
        let attn = l
            .dense
            .forward(&merge(&attend_low(&q, &k, &parts[2], allowed, None)));
        let mlp = |mlp_in: &Tensor| {
            l.down.forward(&activation(
                &self.cfg.hidden_act,
                &l.up.forward_low(&l.ln2.forward(mlp_in)),
            ))
        };
        // Summed in transformers' order: with bf16 branches the order decides the rounding.
        if self.cfg.use_parallel_residual {
            mlp(x) + attn + x
        } else {
            let x = x + attn;
            mlp(&x) + x
        }
    }

    fn finish(&self, x: Tensor) -> Tensor {
        self.final_norm.forward(&x)
    }
}
