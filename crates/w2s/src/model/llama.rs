//! Llama-style decoders: Llama, Mistral and Qwen2 (Qwen2.5 uses it), as in Hugging Face's
//! `LlamaModel` / `Qwen2Model`: RMSNorm, rotary positions, grouped-query attention, SwiGLU.
//! Qwen2 differs only by biases on the query, key and value projections. Variables are named
//! as in the checkpoint (`embed_tokens.weight`, `layers.0.self_attn.q_proj.weight`, ...).

use super::attention::{at_positions, attend_low, heads, inv_freq, merge, rotate, RotaryContext};
use super::checkpoint::{self, Stack};
use super::lora::{self, Adapters, Linear};
use anyhow::Result;
use serde::Deserialize;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Deserialize)]
pub struct LlamaConfig {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    #[serde(default)]
    pub num_key_value_heads: Option<i64>,
    #[serde(default)]
    pub head_dim: Option<i64>,
    #[serde(default = "eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "theta")]
    pub rope_theta: f64,
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    #[serde(default = "silu")]
    pub hidden_act: String,
    pub max_position_embeddings: i64,
    /// Qwen2 has biases on q/k/v; Llama has `attention_bias` (default false).
    #[serde(default)]
    pub attention_bias: bool,
}

/// `rope_scaling` in config.json, as candle's `Llama3RopeConfig`: the variants w2s computes;
/// any other type is an error naming it. (The older key `type` is renamed `rope_type` when
/// config.json is read.)
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "rope_type", rename_all = "lowercase")]
pub enum RopeScaling {
    Default {},
    /// Llama 3's long-context rescaling of the rotary frequencies.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
}

fn eps() -> f64 {
    1e-6
}
fn theta() -> f64 {
    10000.0
}
fn silu() -> String {
    "silu".into()
}

pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    pub fn new(p: nn::Path, size: i64, eps: f64) -> RmsNorm {
        RmsNorm {
            weight: p.var("weight", &[size], nn::Init::Const(1.0)),
            eps,
        }
    }

    /// `weight * x / sqrt(mean(x^2) + eps)` over the last dimension. f32 activations (the
    /// residual stream, also under mixed precision) take libtorch's fused kernel, one pass
    /// instead of six (its gradients are tested equal to the formula's); bf16 ones are
    /// normalised in f32 and cast back before the weight, as transformers does.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let kind = x.kind();
        if kind == Kind::Float && self.weight.kind() == Kind::Float {
            return x.rms_norm([self.weight.size()[0]], Some(&self.weight), self.eps);
        }
        self.formula(x)
    }

    fn formula(&self, x: &Tensor) -> Tensor {
        let xf = x.to_kind(Kind::Float);
        let norm = &xf * (xf.square().mean_dim(-1, true, Kind::Float) + self.eps).rsqrt();
        &self.weight * norm.to_kind(x.kind())
    }
}

struct Layer {
    input_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    post_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
}

pub struct Llama {
    cfg: LlamaConfig,
    embed: nn::Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    inv_freq: Tensor,
}

/// Llama 3's long-context rescaling of the rotary frequencies (`rope_type: "llama3"`).
fn llama3_scaling(inv: &Tensor, factor: f64, low: f64, high: f64, old: f64) -> Result<Tensor> {
    let v: Vec<f32> = Vec::<f32>::try_from(inv)?
        .into_iter()
        .map(|f| {
            let wavelen = 2.0 * std::f64::consts::PI / f as f64;
            let f = f as f64;
            if wavelen < old / high {
                f
            } else if wavelen > old / low {
                f / factor
            } else {
                let smooth = (old / wavelen - low) / (high - low);
                (1.0 - smooth) * f / factor + smooth * f
            }
        } as f32)
        .collect();
    Ok(Tensor::from_slice(&v))
}

impl Llama {
    pub fn new(
        p: &nn::Path,
        cfg: &LlamaConfig,
        qkv_bias: bool,
        adapters: Option<&Adapters>,
    ) -> Result<Llama> {
        let h = cfg.hidden_size;
        let n = cfg.num_attention_heads;
        let kv = cfg.num_key_value_heads.unwrap_or(n);
        let d = cfg.head_dim.unwrap_or(h / n);
        let bias = qkv_bias || cfg.attention_bias;
        let lin = |path: nn::Path, i, o, bias| lora::linear(path, i, o, bias, adapters);
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = p / "layers" / i;
                let a = &l / "self_attn";
                let m = &l / "mlp";
                Layer {
                    input_norm: RmsNorm::new(&l / "input_layernorm", h, cfg.rms_norm_eps),
                    q: lin(&a / "q_proj", h, n * d, bias),
                    k: lin(&a / "k_proj", h, kv * d, bias),
                    v: lin(&a / "v_proj", h, kv * d, bias),
                    o: lin(&a / "o_proj", n * d, h, cfg.attention_bias),
                    post_norm: RmsNorm::new(&l / "post_attention_layernorm", h, cfg.rms_norm_eps),
                    gate: lin(&m / "gate_proj", h, cfg.intermediate_size, false),
                    up: lin(&m / "up_proj", h, cfg.intermediate_size, false),
                    down: lin(&m / "down_proj", cfg.intermediate_size, h, false),
                }
            })
            .collect();
        let mut inv = inv_freq(d, cfg.rope_theta);
        if let Some(RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        }) = cfg.rope_scaling
        {
            inv = llama3_scaling(
                &inv,
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            )?;
        }
        Ok(Llama {
            cfg: cfg.clone(),
            embed: nn::embedding(p / "embed_tokens", cfg.vocab_size, h, Default::default()),
            layers,
            norm: RmsNorm::new(p / "norm", h, cfg.rms_norm_eps),
            inv_freq: inv.to_device(p.device()),
        })
    }

    /// Last hidden states `[batch, seq, hidden]` (or at `at`: [`checkpoint::forward`]),
    /// positions counted over real tokens.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor, at: Option<&Tensor>) -> Tensor {
        checkpoint::forward(self, ids, mask, at)
    }
}

impl Stack for Llama {
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
    /// sequence): keys and values from every position, the rest from those rows.
    fn layer(&self, i: usize, x: &Tensor, ctx: &RotaryContext, at: Option<&Tensor>) -> Tensor {
        let l = &self.layers[i];
        let n = self.cfg.num_attention_heads;
        let kv = self.cfg.num_key_value_heads.unwrap_or(n);
        let hnorm = l.input_norm.forward(x);
        let k = rotate(&heads(&l.k.forward_low(&hnorm), kv), &ctx.cos, &ctx.sin);
        // Grouped-query attention: each key/value head serves n / kv query heads (`attend`).
        let v = heads(&l.v.forward_low(&hnorm), kv);
        let rows = at.map(|at| ctx.at(at));
        let ctx = rows.as_ref().unwrap_or(ctx);
        let (x, hnorm) = match at {
            Some(at) => (at_positions(x, 1, at), at_positions(&hnorm, 1, at)),
            None => (x.shallow_clone(), hnorm),
        };
        let q = rotate(&heads(&l.q.forward_low(&hnorm), n), &ctx.cos, &ctx.sin);
        let x = x + l
            .o
            .forward(&merge(&attend_low(&q, &k, &v, &ctx.allowed, None)));
        let hnorm = l.post_norm.forward(&x);
        let act = super::layers::activation(&self.cfg.hidden_act, &l.gate.forward_low(&hnorm));
        &x + l.down.forward(&(act * l.up.forward_low(&hnorm)))
    }

    fn finish(&self, x: Tensor) -> Tensor {
        self.norm.forward(&x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// The fused kernel gives the formula's values and gradients (the input's and the weight's):
    /// a norm that dropped a gradient would train silently wrong.
    #[test]
    fn the_fused_rms_norm_equals_the_formula_with_its_gradients() {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut norm = RmsNorm::new(vs.root() / "norm", 16, 1e-5);
        tch::no_grad(|| {
            norm.weight
                .copy_(&Tensor::randn([16], (Kind::Float, Device::Cpu)))
        });
        let x0 = Tensor::randn([3, 5, 16], (Kind::Float, Device::Cpu));
        let up = Tensor::randn([3, 5, 16], (Kind::Float, Device::Cpu));
        let value_and_grads = |formula: bool| {
            let x = x0.copy().set_requires_grad(true);
            norm.weight.shallow_clone().zero_grad();
            let y = if formula {
                norm.formula(&x)
            } else {
                norm.forward(&x)
            };
            (&y * &up).sum(Kind::Float).backward();
            (y.detach(), x.grad().copy(), norm.weight.grad().copy())
        };
        let (fused, fx, fw) = value_and_grads(false);
        let (formula, gx, gw) = value_and_grads(true);
        assert!(fused.allclose(&formula, 1e-5, 1e-6, false));
        assert!(gw.abs().sum(Kind::Float).double_value(&[]) > 0.0);
        assert!(fx.allclose(&gx, 1e-4, 1e-5, false), "{fx} vs {gx}");
        assert!(fw.allclose(&gw, 1e-4, 1e-5, false), "{fw} vs {gw}");
    }
}
