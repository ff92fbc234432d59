//! Layers that several families share.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use tch::{nn, Kind, Tensor};

/// A weight's address, shape and the kind it is cast to: two views of one tensor can share
/// an address.
type CastKey = (usize, Vec<i64>, Kind);

thread_local! {
    static BF16_MATMULS: Cell<bool> = const { Cell::new(false) };
    /// Weights cast for matmuls within [`with_weights_cast_once`].
    static CAST_WEIGHTS: RefCell<Option<HashMap<CastKey, Tensor>>> =
        const { RefCell::new(None) };
}

/// Mixed precision: run `f` with every projection and attention product of f32 models
/// computed in bf16 (inputs and weights cast, the result cast back to f32), as PyTorch's
/// autocast does for matmuls; norms, softmax, residuals, the master weights and Adam's state
/// stay f32. The casts are recorded by autograd, so gradients reach the f32 weights.
pub fn with_bf16_matmuls<T>(on: bool, f: impl FnOnce() -> T) -> T {
    let before = BF16_MATMULS.with(|c| c.replace(on));
    let out = f();
    BF16_MATMULS.with(|c| c.set(before));
    out
}

/// The kind matmuls of an `x` should run in: bf16 under [`with_bf16_matmuls`] for f32
/// inputs, else `x`'s own.
pub fn matmul_kind(x: &Tensor) -> Kind {
    if x.kind() == Kind::Float && BF16_MATMULS.with(Cell::get) {
        Kind::BFloat16
    } else {
        x.kind()
    }
}

/// Run `f`, a pass without gradients over many batches (prediction, features), casting each
/// weight for bf16 matmuls once instead of once per batch: what PyTorch's autocast cache does
/// for a loop inside one `autocast` region. Gradients are off inside, so no weight changes
/// while its cast copy is in use; the copies (half the f32 weights' size) go at the end.
pub fn with_weights_cast_once<T>(f: impl FnOnce() -> T) -> T {
    let _no_grad = tch::no_grad_guard();
    let before = CAST_WEIGHTS.with(|c| c.replace(Some(HashMap::new())));
    let out = f();
    CAST_WEIGHTS.with(|c| c.replace(before));
    out
}

/// `weight` in `kind` for a matmul: its cast copy, made once within
/// [`with_weights_cast_once`], else cast now (the autograd graph records the cast).
pub fn weight_as(weight: &Tensor, kind: Kind) -> Tensor {
    if weight.kind() == kind {
        return weight.shallow_clone();
    }
    CAST_WEIGHTS.with(|c| match c.borrow_mut().as_mut() {
        Some(cache) => cache
            .entry((weight.data_ptr() as usize, weight.size(), kind))
            .or_insert_with(|| weight.to_kind(kind))
            .shallow_clone(),
        None => weight.to_kind(kind),
    })
}

/// The activation functions Hugging Face configs name.
pub fn activation(name: &str, xs: &Tensor) -> Tensor {
    match name {
        "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => xs.gelu("tanh"),
        "relu" => xs.relu(),
        "silu" | "swish" => xs.silu(),
        _ => xs.gelu("none"),
    }
}

/// A LayerNorm over the last dimension with the checkpoint's `eps`.
pub fn layer_norm(p: nn::Path, size: i64, eps: f64) -> nn::LayerNorm {
    nn::layer_norm(
        p,
        vec![size],
        nn::LayerNormConfig {
            eps,
            ..Default::default()
        },
    )
}
