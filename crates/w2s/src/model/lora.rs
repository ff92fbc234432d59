//! LoRA (Hu et al. 2021): a frozen weight `W` plus a trainable low-rank update,
//! `y = x W^T + b + (alpha / rank) x A^T B^T`, with `A: [rank, in]` drawn like PEFT's
//! (Kaiming-uniform) and `B: [out, rank]` at zero, so training starts from the pretrained model.
//! EleutherAI/w2s finetunes large students this way.
//!
//! Every family builds its projections with [`linear`]; the adapter is added only to the
//! modules named in `targets` (the last part of the checkpoint name: `query`, `q_proj`,
//! `c_attn`, ...). Adapter weights live beside the weight they adapt (`...query.lora_A`,
//! `...query.lora_B`) and stay in f32 when the backbone is cast to bf16.

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    #[serde(default = "rank")]
    pub rank: i64,
    #[serde(default = "alpha", deserialize_with = "crate::finite::deserialize")]
    pub alpha: f64,
    /// Module names to adapt; empty: the family's attention projections (PEFT's defaults).
    #[serde(default)]
    pub targets: Vec<String>,
    /// What the run keeps of the trained model: nothing, the adapters (and head) alone, or a
    /// model folder with the adapters merged into the weights.
    #[serde(default)]
    pub save: Save,
}

fn rank() -> i64 {
    8
}
fn alpha() -> f64 {
    16.0
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            rank: rank(),
            alpha: alpha(),
            targets: Vec::new(),
            save: Save::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Save {
    #[default]
    None,
    Adapters,
    Merged,
}

/// The adapters to build: the configuration with its targets resolved for one family.
#[derive(Debug, Clone)]
pub struct Adapters {
    pub rank: i64,
    pub scale: f64,
    pub targets: Vec<String>,
}

impl Adapters {
    pub fn new(cfg: &LoraConfig, family: &super::family::Family) -> Adapters {
        let targets = if cfg.targets.is_empty() {
            family.lora_targets.iter().map(|s| s.to_string()).collect()
        } else {
            cfg.targets.clone()
        };
        Adapters {
            rank: cfg.rank,
            scale: cfg.alpha / cfg.rank as f64,
            targets,
        }
    }
}

/// Whether a variable is an adapter's (not in any checkpoint; trained under LoRA).
pub fn is_adapter(name: &str) -> bool {
    name.ends_with(".lora_A") || name.ends_with(".lora_B")
}

/// A linear layer with an optional low-rank adapter. `transposed` weights are stored
/// `[in, out]` (GPT-2's `Conv1D`).
#[derive(Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    transposed: bool,
    adapter: Option<(Tensor, Tensor, f64)>,
}

/// A `[out, in]` linear layer at `path` (weights come from the checkpoint), adapted when its
/// name is among the targets.
pub fn linear(
    path: nn::Path,
    input: i64,
    output: i64,
    bias: bool,
    lora: Option<&Adapters>,
) -> Linear {
    build(path, input, output, bias, false, lora)
}

/// GPT-2's `Conv1D`: the weight stored as `[in, out]`.
pub fn conv1d(path: nn::Path, input: i64, output: i64, lora: Option<&Adapters>) -> Linear {
    build(path, input, output, true, true, lora)
}

fn build(
    p: nn::Path,
    input: i64,
    output: i64,
    bias: bool,
    transposed: bool,
    lora: Option<&Adapters>,
) -> Linear {
    // Zeros, not a random init: the checkpoint overwrites them, and drawing is slow.
    let shape = if transposed {
        [input, output]
    } else {
        [output, input]
    };
    let weight = p.var("weight", &shape, nn::Init::Const(0.0));
    let bias = bias.then(|| p.var("bias", &[output], nn::Init::Const(0.0)));
    let name = p.components().last().unwrap_or("").to_owned();
    let adapter = lora.filter(|a| a.targets.contains(&name)).map(|a| {
        let bound = 1.0 / (input as f64).sqrt();
        let lora_a = p.var(
            "lora_A",
            &[a.rank, input],
            nn::Init::Uniform {
                lo: -bound,
                up: bound,
            },
        );
        let lora_b = p.var("lora_B", &[output, a.rank], nn::Init::Const(0.0));
        (lora_a, lora_b, a.scale)
    });
    Linear {
        weight,
        bias,
        transposed,
        adapter,
    }
}

/// `weight + scale * B A`, in the weight's layout (`[in, out]` when `transposed`) and dtype.
pub fn merge(weight: &Tensor, a: &Tensor, b: &Tensor, scale: f64, transposed: bool) -> Tensor {
    let _guard = tch::no_grad_guard();
    let delta = b.matmul(a) * scale;
    let delta = if transposed { delta.tr() } else { delta };
    weight + delta.to_kind(weight.kind())
}

impl Linear {
    /// The weight with the adapter folded in, as `[out, in]` or `[in, out]` like the original.
    pub fn merged_weight(&self) -> Tensor {
        match &self.adapter {
            None => self.weight.shallow_clone(),
            Some((a, b, scale)) => merge(&self.weight, a, b, *scale, self.transposed),
        }
    }

    /// The output in the matmul's kind: bf16 under mixed precision, as autocast leaves it, for
    /// a layer whose output feeds elementwise work and another projection (a gated MLP).
    pub fn forward_low(&self, x: &Tensor) -> Tensor {
        let kind = super::layers::matmul_kind(x);
        if kind == x.kind() {
            return self.forward(x);
        }
        self.forward(&x.to_kind(kind))
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Tensor {
        let kind = super::layers::matmul_kind(x);
        let cast = |t: &Tensor| super::layers::weight_as(t, kind);
        let y = if self.transposed {
            let y = x.to_kind(kind).matmul(&cast(&self.weight));
            match &self.bias {
                Some(b) => y + cast(b),
                None => y,
            }
        } else {
            x.to_kind(kind)
                .linear(&cast(&self.weight), self.bias.as_ref().map(cast).as_ref())
        }
        .to_kind(x.kind());
        match &self.adapter {
            None => y,
            Some((a, b, scale)) => {
                // The adapter runs in f32 whatever the backbone's dtype.
                let low = x.to_kind(Kind::Float).matmul(&a.tr()).matmul(&b.tr()) * *scale;
                y + low.to_kind(x.kind())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// Within one prediction pass a weight is cast to bf16 once and the layer's output is the
    /// same as casting it per call; outside, each call casts (and training's graph records it).
    #[test]
    fn a_prediction_pass_casts_each_weight_once_with_the_same_output() {
        use super::super::layers::{weight_as, with_bf16_matmuls, with_weights_cast_once};
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut l = linear(vs.root() / "dense", 8, 4, true, None);
        tch::no_grad(|| {
            l.weight
                .copy_(&Tensor::randn([4, 8], (Kind::Float, Device::Cpu)))
        });
        let x = Tensor::randn([3, 8], (Kind::Float, Device::Cpu));
        let per_call = tch::no_grad(|| with_bf16_matmuls(true, || l.forward(&x)));
        let (once, same_copy) = with_weights_cast_once(|| {
            let a = weight_as(&l.weight, Kind::BFloat16);
            let b = weight_as(&l.weight, Kind::BFloat16);
            let y = with_bf16_matmuls(true, || l.forward(&x));
            (y, a.data_ptr() == b.data_ptr())
        });
        assert!(same_copy, "one cast copy per weight in a pass");
        assert_eq!(once.kind(), Kind::Float);
        assert!(once.equal(&per_call), "{once} vs {per_call}");
        let (a, b) = (
            weight_as(&l.weight, Kind::BFloat16),
            weight_as(&l.weight, Kind::BFloat16),
        );
        assert_ne!(
            a.data_ptr(),
            b.data_ptr(),
            "outside a pass, a fresh cast each call"
        );
        assert!(
            a.requires_grad(),
            "the cast is in the graph, so gradients reach the weight"
        );
    }

    #[test]
    fn adapter_starts_as_identity_and_merges_exactly() {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = Adapters {
            rank: 2,
            scale: 4.0,
            targets: vec!["query".into()],
        };
        let q = linear(vs.root() / "query", 3, 4, true, Some(&cfg));
        let k = linear(vs.root() / "key", 3, 4, true, Some(&cfg));
        let names: Vec<String> = vs.variables().into_keys().collect();
        assert!(names.contains(&"query.lora_A".to_string()));
        assert!(
            !names.iter().any(|n| n.starts_with("key.lora")),
            "{names:?}"
        );
        tch::no_grad(|| {
            q.weight
                .shallow_clone()
                .copy_(&Tensor::randn([4, 3], (Kind::Float, Device::Cpu)));
        });
        let x = Tensor::randn([5, 3], (Kind::Float, Device::Cpu));
        let plain = x.matmul(&q.weight.tr()) + q.bias.as_ref().unwrap();
        assert!(
            q.forward(&x).allclose(&plain, 1e-6, 1e-6, false),
            "B = 0 at the start"
        );
        // With B set, the forward equals a plain layer with the merged weight.
        let (_, b, _) = q.adapter.as_ref().unwrap();
        tch::no_grad(|| {
            b.shallow_clone()
                .copy_(&Tensor::randn([4, 2], (Kind::Float, Device::Cpu)));
        });
        let merged = x.matmul(&q.merged_weight().tr()) + q.bias.as_ref().unwrap();
        assert!(q.forward(&x).allclose(&merged, 1e-5, 1e-5, false));
        assert!(!q.forward(&x).allclose(&plain, 1e-3, 1e-3, false));
        assert!(k.adapter.is_none());
        // Conv1D layout: the same maths on the transposed weight.
        let c = conv1d(
            vs.root() / "c_attn",
            3,
            4,
            Some(&Adapters {
                targets: vec!["c_attn".into()],
                ..cfg
            }),
        );
        let (_, cb, _) = c.adapter.as_ref().unwrap();
        tch::no_grad(|| {
            cb.shallow_clone()
                .copy_(&Tensor::randn([4, 2], (Kind::Float, Device::Cpu)));
        });
        let merged = x.matmul(&c.merged_weight()) + c.bias.as_ref().unwrap();
        assert!(c.forward(&x).allclose(&merged, 1e-5, 1e-5, false));
    }
}
