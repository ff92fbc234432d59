//! Pieces shared by the transformer families: masks, positions, rotary embeddings, and
//! attention itself (libtorch's fused scaled-dot-product attention).

use tch::{Kind, Tensor};

/// Boolean key mask `[batch, 1, 1, seq]`: true where a token may be attended to.
pub fn key_mask(mask: &Tensor) -> Tensor {
    let (b, t) = mask.size2().unwrap();
    mask.to_kind(Kind::Bool).view([b, 1, 1, t])
}

/// Boolean causal mask `[batch, 1, seq, seq]` that also hides padding keys. A padding query
/// may see itself, so that no row is empty (its output is never read).
pub fn causal_mask(mask: &Tensor) -> Tensor {
    let t = mask.size()[1];
    let device = mask.device();
    let causal = Tensor::ones([t, t], (Kind::Bool, device)).tril(0);
    let eye = Tensor::eye(t, (Kind::Bool, device));
    let keys = key_mask(mask);
    (keys.logical_and(&causal)).logical_or(&eye)
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

/// Scaled dot-product attention with a boolean mask (true = attend) and an optional
/// additive bias `[batch or 1, heads, seq, seq]`.
pub fn attend(q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor, bias: Option<&Tensor>) -> Tensor {
    match bias {
        None => Tensor::scaled_dot_product_attention(q, k, v, Some(mask), 0.0, false, None, false),
        Some(b) => {
            let neg = Tensor::full([1], f64::from(f32::MIN), (q.kind(), q.device()));
            let additive = b.to_kind(q.kind()).where_self(mask, &neg);
            Tensor::scaled_dot_product_attention(q, k, v, Some(&additive), 0.0, false, None, false)
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

/// The default rotary frequencies: base^(-2i/dims).
pub fn inv_freq(dims: i64, base: f64) -> Tensor {
    let v: Vec<f32> = (0..dims / 2)
        .map(|i| (1.0 / base.powf(2.0 * i as f64 / dims as f64)) as f32)
        .collect();
    Tensor::from_slice(&v)
}
