//! GPT-2, as in Hugging Face's `GPT2Model`. Variables are named as in the checkpoint
//! (`wte.weight`, `h.0.attn.c_attn.weight`, ...). GPT-2's `Conv1D` layers store their weight
//! as `[in, out]`, the transpose of a linear layer's ([`lora::conv1d`]).

use super::attention::{at_positions, attend_low, decoder_mask, heads, merge, positions, Mask};
use super::checkpoint::{self, Stack};
use super::layers::{activation, layer_norm};
use super::lora::{self, Adapters, Linear};
use serde::Deserialize;
use tch::nn::{self, Module};
use tch::Tensor;

#[derive(Debug, Clone, Deserialize)]
pub struct Gpt2Config {
    pub vocab_size: i64,
    pub n_embd: i64,
    pub n_layer: i64,
    pub n_head: i64,
    #[serde(default)]
    pub n_inner: Option<i64>,
    pub n_positions: i64,
    #[serde(default = "eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "act")]
    pub activation_function: String,
}

fn eps() -> f64 {
    1e-5
}
fn act() -> String {
    "gelu_new".into()
}

struct Block {
    ln_1: nn::LayerNorm,
    c_attn: Linear,
    attn_proj: Linear,
    ln_2: nn::LayerNorm,
    c_fc: Linear,
    mlp_proj: Linear,
}

pub struct Gpt2 {
    cfg: Gpt2Config,
    wte: nn::Embedding,
    wpe: nn::Embedding,
    blocks: Vec<Block>,
    ln_f: nn::LayerNorm,
}

impl Gpt2 {
    pub fn new(p: &nn::Path, cfg: &Gpt2Config, adapters: Option<&Adapters>) -> Gpt2 {
        let h = cfg.n_embd;
        let inner = cfg.n_inner.unwrap_or(4 * h);
        let eps = cfg.layer_norm_epsilon;
        let blocks = (0..cfg.n_layer)
            .map(|i| {
                let b = p / "h" / i;
                Block {
                    ln_1: layer_norm(&b / "ln_1", h, eps),
                    c_attn: lora::conv1d(&b / "attn" / "c_attn", h, 3 * h, adapters),
                    attn_proj: lora::conv1d(&b / "attn" / "c_proj", h, h, adapters),
                    ln_2: layer_norm(&b / "ln_2", h, eps),
                    c_fc: lora::conv1d(&b / "mlp" / "c_fc", h, inner, adapters),
                    mlp_proj: lora::conv1d(&b / "mlp" / "c_proj", inner, h, adapters),
                }
            })
            .collect();
        Gpt2 {
            cfg: cfg.clone(),
            wte: nn::embedding(p / "wte", cfg.vocab_size, h, Default::default()),
            wpe: nn::embedding(p / "wpe", cfg.n_positions, h, Default::default()),
            blocks,
            ln_f: layer_norm(p / "ln_f", h, eps),
        }
    }

    /// Last hidden states `[batch, seq, hidden]`. Positions count real tokens only, so a
    /// left-padded sequence gets the same states as a right-padded one.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor, at: Option<&Tensor>) -> Tensor {
        checkpoint::forward(self, ids, mask, at)
    }
}

impl Stack for Gpt2 {
    type Context = Mask;

    fn embed(&self, ids: &Tensor, mask: &Tensor) -> Tensor {
        self.wte.forward(ids) + self.wpe.forward(&positions(mask))
    }

    fn context(&self, mask: &Tensor, _x: &Tensor) -> Mask {
        decoder_mask(mask)
    }

    fn depth(&self) -> usize {
        self.blocks.len()
    }

    /// A block's output at every position, or at the positions `at` only (one per
    /// sequence): keys and values from every position, the queries and the rest at `at`.
    fn layer(&self, i: usize, x: &Tensor, allowed: &Mask, at: Option<&Tensor>) -> Tensor {
        let b = &self.blocks[i];
        // Projections' outputs stay bf16 under mixed precision, as under autocast.
        let qkv = b.c_attn.forward_low(&b.ln_1.forward(x)).chunk(3, -1);
        let (q, k, v) = (
            heads(&qkv[0], self.cfg.n_head),
            heads(&qkv[1], self.cfg.n_head),
            heads(&qkv[2], self.cfg.n_head),
        );
        let rows = at.map(|at| allowed.at(at, x.size()[1]));
        let allowed = rows.as_ref().unwrap_or(allowed);
        let (x, q) = match at {
            Some(at) => (at_positions(x, 1, at), at_positions(&q, 2, at)),
            None => (x.shallow_clone(), q),
        };
        let x = x + b
            .attn_proj
            .forward(&merge(&attend_low(&q, &k, &v, allowed, None)));
        let inner = activation(
            &self.cfg.activation_function,
            &b.c_fc.forward_low(&b.ln_2.forward(&x)),
        );
        &x + b.mlp_proj.forward(&inner)
    }

    fn finish(&self, x: Tensor) -> Tensor {
        self.ln_f.forward(&x)
    }
}
