//! Pieces shared by the transformer families: masks, positions, rotary embeddings, and
//! attention itself (libtorch's fused scaled-dot-product attention).

use tch::{Kind, Tensor};

/// Which keys each query may attend to.
pub enum Mask {
    /// Every key (no padding in the batch): lets libtorch pick its fastest kernel.
    All,
    /// Causal, no padding: libtorch's own causal path.
    Causal,
    /// Boolean `[batch, 1, 1 or seq, seq]`, true where attending is allowed.
    Allowed(Tensor),
}

fn no_padding(mask: &Tensor) -> bool {
    mask.min().int64_value(&[]) == 1
}

/// Encoders: padding keys hidden.
pub fn encoder_mask(mask: &Tensor) -> Mask {
    if no_padding(mask) {
        return Mask::All;
    }
    let (b, t) = mask.size2().unwrap();
    Mask::Allowed(mask.to_kind(Kind::Bool).view([b, 1, 1, t]))
}

/// Decoders: causal, padding keys hidden. A padding query may see itself, so that no row is
/// empty (its output is never read).
pub fn decoder_mask(mask: &Tensor) -> Mask {
    if no_padding(mask) {
        return Mask::Causal;
    }
    let (b, t) = mask.size2().unwrap();
    let device = mask.device();
    let causal = Tensor::ones([t, t], (Kind::Bool, device)).tril(0);
    let eye = Tensor::eye(t, (Kind::Bool, device));
    let keys = mask.to_kind(Kind::Bool).view([b, 1, 1, t]);
    Mask::Allowed(keys.logical_and(&causal).logical_or(&eye))
}

impl Mask {
    /// The rows of this mask for one query per sequence, at positions `at` (`[batch]`): what
    /// a layer computed at those positions only (`Stack::layer` with `at`) attends with.
    pub fn at(&self, at: &Tensor, keys: i64) -> Mask {
        match self {
            Mask::All => Mask::All,
            // Causal: the query at position p sees the keys up to p.
            Mask::Causal => {
                let key = Tensor::arange(keys, (Kind::Int64, at.device())).view([1, 1, 1, -1]);
                Mask::Allowed(key.le_tensor(&at.view([-1, 1, 1, 1])))
            }
            Mask::Allowed(m) => Mask::Allowed(at_positions(m, 2, at)),
        }
    }
}

/// `x`'s entries at one position per sequence along dimension `dim` (`at`: `[batch]`, the
/// batch being dimension 0): `x`'s shape with 1 at `dim`.
pub fn at_positions(x: &Tensor, dim: i64, at: &Tensor) -> Tensor {
    let mut shape = x.size();
    let mut view = vec![1i64; shape.len()];
    view[0] = -1;
    shape[dim as usize] = 1;
    x.gather(
        dim,
        &at.view(view.as_slice()).expand(shape.as_slice(), false),
        false,
    )
}

/// Position of each token counted over real tokens only (0 for padding), so that left and
/// right padding give a sequence the same positions.
pub fn positions(mask: &Tensor) -> Tensor {
    (mask.cumsum(1, Kind::Int64) - 1).clamp_min(0)
}

/// Split `[batch, seq, heads * dim]` into `[batch, heads, seq, dim]`.
pub fn heads(x: &Tensor, n: i64) -> Tensor {
    let (b, t, h) = x.size3().unwrap();
    x.view([b, t, n, h / n]).transpose(1, 2)
}

/// Merge `[batch, heads, seq, dim]` back into `[batch, seq, heads * dim]`.
pub fn merge(x: &Tensor) -> Tensor {
    let (b, n, t, d) = x.size4().unwrap();
    x.transpose(1, 2).contiguous().view([b, t, n * d])
}

/// Scaled dot-product attention under `mask`, with an optional additive bias
/// `[batch or 1, heads, seq, seq]`. `k` and `v` may have fewer heads than `q` (grouped-query
/// attention: each key/value head serves `q`'s heads / its heads): without an explicit mask
/// the fused kernel shares them (`enable_gqa`), as transformers' SDPA path does; with one, they
/// are repeated first, as transformers' `repeat_kv`.
pub fn attend(q: &Tensor, k: &Tensor, v: &Tensor, mask: &Mask, bias: Option<&Tensor>) -> Tensor {
    attend_low(q, k, v, mask, bias).to_kind(q.kind())
}

/// [`attend`] with the output left in the matmul's kind (bf16 under mixed precision, as
/// autocast leaves it), for the output projection to read without a cast.
pub fn attend_low(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Mask,
    bias: Option<&Tensor>,
) -> Tensor {
    let kind = super::layers::matmul_kind(q);
    if kind != q.kind() {
        let (cq, ck, cv) = (q.to_kind(kind), k.to_kind(kind), v.to_kind(kind));
        return attend_low(&cq, &ck, &cv, mask, bias);
    }
    let groups = q.size()[1] / k.size()[1];
    let shared = groups > 1 && bias.is_none() && !matches!(mask, Mask::Allowed(_));
    if groups > 1 && !shared {
        let (k, v) = (
            k.repeat_interleave_self_int(groups, 1, None),
            v.repeat_interleave_self_int(groups, 1, None),
        );
        return attend(q, &k, &v, mask, bias);
    }
    let sdpa = |m: Option<&Tensor>, causal: bool| {
        Tensor::scaled_dot_product_attention(q, k, v, m, 0.0, causal, None, shared)
    };
    // Scores (or a bias) with the keys `mask` forbids pushed to the lowest float.
    let hide = |t: Tensor| match mask {
        Mask::Allowed(m) => {
            let neg = Tensor::full([1], f64::from(f32::MIN), (q.kind(), q.device()));
            t.where_self(m, &neg)
        }
        Mask::Causal => unreachable!("no causal model has a position bias"),
        Mask::All => t,
    };
    match (mask, bias) {
        (Mask::All, None) => sdpa(None, false),
        (Mask::Causal, None) => sdpa(None, true),
        (Mask::Allowed(m), None) => sdpa(Some(m), false),
        // A position bias without gradients (prediction, features): the fused kernel, with
        // the bias and the padding as one float mask, is faster here (docs/BENCHMARKS.md).
        (_, Some(b)) if !q.requires_grad() && !b.requires_grad() => {
            sdpa(Some(&hide(b.to_kind(q.kind()))), false)
        }
        // In training, explicit attention: libtorch's fused kernels take a float mask only
        // through their slower generic path, whose backward pass costs more.
        (_, Some(b)) => {
            let scale = 1.0 / (q.size()[3] as f64).sqrt();
            let scores = q.matmul(&k.transpose(-2, -1)) * scale + b.to_kind(q.kind());
            hide(scores).softmax(-1, q.kind()).matmul(v)
        }
    }
}

/// What the layers of a rotary decoder (Llama, Qwen2, GPT-NeoX) share: the causal mask and
/// the rotary tables of the batch's positions.
pub struct RotaryContext {
    pub allowed: Mask,
    pub cos: Tensor,
    pub sin: Tensor,
}

impl RotaryContext {
    pub fn new(mask: &Tensor, inv_freq: &Tensor, kind: Kind) -> RotaryContext {
        let (cos, sin) = rotary_tables(&positions(mask), inv_freq, kind);
        RotaryContext {
            allowed: decoder_mask(mask),
            cos,
            sin,
        }
    }

    /// The context of one query per sequence, at positions `at` (`[batch]`).
    pub fn at(&self, at: &Tensor) -> RotaryContext {
        RotaryContext {
            allowed: self.allowed.at(at, self.cos.size()[2]),
            cos: at_positions(&self.cos, 2, at),
            sin: at_positions(&self.sin, 2, at),
        }
    }
}

/// Rotary position embedding tables for `positions` `[batch, seq]`: cos and sin of shape
/// `[batch, 1, seq, dims]`, with the frequencies `inv_freq` (`dims / 2` of them) repeated
/// twice, for the "rotate half" layout Llama, Qwen2 and GPT-NeoX use.
pub fn rotary_tables(positions: &Tensor, inv_freq: &Tensor, kind: Kind) -> (Tensor, Tensor) {
    let angles = positions.to_kind(Kind::Float).unsqueeze(-1) * inv_freq.unsqueeze(0).unsqueeze(0);
    let emb = Tensor::cat(&[&angles, &angles], -1).unsqueeze(1);
    (emb.cos().to_kind(kind), emb.sin().to_kind(kind))
}

/// Apply rotary embeddings to `x` `[batch, heads, seq, dims]` (all of its last dimension).
pub fn rotate(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
    let half = x.size()[3] / 2;
    let x1 = x.narrow(3, 0, half);
    let x2 = x.narrow(3, half, half);
    let rotated = Tensor::cat(&[&(-&x2), &x1], 3);
    x * cos + rotated * sin
}

/// The default rotary frequencies, 1 / base^(2i/dims), computed in f32 with transformers'
/// operations: computed in f64 instead, a third of them differ in the last bit, and under
/// mixed precision such a difference at position 300 changes what bf16 rounds to.
pub fn inv_freq(dims: i64, base: f64) -> Tensor {
    let exponent = Tensor::arange_start_step(0, dims, 2, (Kind::Int64, tch::Device::Cpu))
        .to_kind(Kind::Float)
        / dims as f64;
    Tensor::pow_scalar(base, &exponent).reciprocal()
}
