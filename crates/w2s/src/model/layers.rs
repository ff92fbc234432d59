//! Layers that several families share.

use tch::{nn, Tensor};

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
