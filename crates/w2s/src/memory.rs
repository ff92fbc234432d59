//! Memory before work: what a training run will need at its peak (weights, gradients, Adam's
//! two moments, the activations that backpropagation keeps), and what the device has.
//!
//! The activation count follows Korthikanti et al. 2022 ("Reducing Activation Recomputation in
//! Large Transformer Models", section 4.1), per layer and token, without dropout masks (w2s
//! trains without dropout, as the reference does): the attention block keeps the inputs of its
//! norm and projections, Q, K, V and its output (about 10 hidden-sized vectors with the
//! residuals and norms) plus the softmax's probabilities (heads x sequence length); the MLP
//! keeps its input and 2 (GELU) or 4 (gated SwiGLU) intermediate-sized vectors. The constants
//! were checked against measured peaks (docs/MODELS.md).

use crate::model::{ModelInfo, Shape};
use std::fmt;

/// Bytes of memory that a process of libtorch and w2s holds before any model (the libraries,
/// the allocator's pools, the tokenizer): measured on CPU, about 0.4 GB.
const PROCESS_BYTES: u64 = 400 << 20;
/// Hidden-sized vectors each layer keeps per token for the backward pass.
const HIDDEN_PER_LAYER: f64 = 10.0;
/// Attention probabilities kept per head per key (the softmax output and, in the explicit
/// attention path, its input).
const SCORES_PER_HEAD: f64 = 2.0;

/// Whether each layer's forward pass is recomputed during backpropagation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpointing {
    Off,
    /// Only each layer's input is kept, and one layer's activations at a time.
    PerLayer,
}

/// What one run is expected to hold at its peak, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub weights: u64,
    pub gradients: u64,
    pub optimizer: u64,
    pub activations: u64,
    pub process: u64,
}

impl Estimate {
    pub fn total(&self) -> u64 {
        self.weights + self.gradients + self.optimizer + self.activations + self.process
    }
}

impl fmt::Display for Estimate {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{} (weights {}, gradients {}, Adam {}, activations {}, process {})",
            human(self.total()),
            human(self.weights),
            human(self.gradients),
            human(self.optimizer),
            human(self.activations),
            human(self.process)
        )
    }
}

/// How a run trains, as far as memory goes.
#[derive(Debug, Clone, Copy)]
pub struct Training {
    /// Parameters that get gradients and Adam state (all, or the head and adapters).
    pub trainable: u64,
    /// Examples whose activations are alive at once (the minibatch, or the whole batch when
    /// a whole-batch loss keeps every minibatch's graph).
    pub examples: usize,
    /// The longest sequence, in tokens.
    pub seq: usize,
    /// Backbone weights, gradients and Adam state in bf16 (2 bytes), else f32.
    pub bf16: bool,
    pub checkpointing: Checkpointing,
}

/// The estimated peak of a training run of `info`'s model.
pub fn estimate(info: &ModelInfo, training: &Training) -> Estimate {
    let width = if training.bf16 { 2 } else { 4 };
    let params = info.parameters.max(0) as u64;
    let trainable = training.trainable;
    Estimate {
        weights: params * width,
        gradients: trainable * width,
        optimizer: 2 * trainable * width,
        activations: activation_bytes(
            info,
            training.examples,
            training.seq,
            training.bf16,
            training.checkpointing,
        ),
        process: PROCESS_BYTES,
    }
}

/// Bytes of activations that backpropagating `examples` sequences of `seq` tokens keeps.
pub fn activation_bytes(
    info: &ModelInfo,
    examples: usize,
    seq: usize,
    bf16: bool,
    checkpointing: Checkpointing,
) -> u64 {
    let Some(shape) = &info.shape else {
        return 0; // bag of words: a sum of embeddings per example, nothing to speak of
    };
    let width = if bf16 { 2.0 } else { 4.0 };
    let tokens = (examples * seq) as f64;
    let one_layer = tokens * layer_elements_per_token(shape, seq) * width;
    let bytes = match checkpointing {
        Checkpointing::Off => one_layer * shape.layers as f64,
        // The saved input of every layer, plus one layer's activations while it is recomputed.
        Checkpointing::PerLayer => {
            tokens * shape.hidden as f64 * width * shape.layers as f64 + one_layer
        }
    };
    // The embeddings' output and the last hidden states (kept for pooling) in f32.
    (bytes + 2.0 * tokens * shape.hidden as f64 * 4.0) as u64
}

fn layer_elements_per_token(shape: &Shape, seq: usize) -> f64 {
    let mlp = if shape.gated_mlp { 4.0 } else { 2.0 };
    HIDDEN_PER_LAYER * shape.hidden as f64
        + mlp * shape.intermediate as f64
        + SCORES_PER_HEAD * shape.heads as f64 * seq as f64
}

/// Bytes for people: `1.5 GB`, `312 MB`.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else {
        format!("{:.0} MB", b / 1e6)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small model for estimates by hand (shared with the advice test in `train`).
    pub(crate) fn info(shape: Option<Shape>, parameters: i64) -> ModelInfo {
        ModelInfo {
            name: "m".into(),
            family: "llama".into(),
            parameters,
            vocab_size: 100,
            max_positions: 512,
            shape,
        }
    }

    pub(crate) const SHAPE: Shape = Shape {
        hidden: 64,
        layers: 3,
        heads: 4,
        intermediate: 256,
        gated_mlp: true,
    };

    #[test]
    fn bytes_for_people() {
        assert_eq!(human(1_500_000_000), "1.5 GB");
        assert_eq!(human(312_000_000), "312 MB");
    }

    #[test]
    fn counts_by_hand() {
        // Per layer and token: 10 * 64 + 4 * 256 + 2 * 4 * 16 = 1792 elements; 2 examples of 16
        // tokens, 3 layers, f32: 32 * 1792 * 3 * 4 = 688128, plus 2 * 32 * 64 * 4 = 16384.
        let m = info(Some(SHAPE), 1000);
        assert_eq!(
            activation_bytes(&m, 2, 16, false, Checkpointing::Off),
            704_512
        );
        // Checkpointed: 32 * 64 * 4 * 3 saved inputs + one layer (229376) + 16384.
        assert_eq!(
            activation_bytes(&m, 2, 16, false, Checkpointing::PerLayer),
            24_576 + 229_376 + 16_384
        );
        let e = estimate(
            &m,
            &Training {
                trainable: 1000,
                examples: 2,
                seq: 16,
                bf16: false,
                checkpointing: Checkpointing::Off,
            },
        );
        assert_eq!((e.weights, e.gradients, e.optimizer), (4000, 4000, 8000));
        assert_eq!(e.total(), 16_000 + 704_512 + PROCESS_BYTES);
        // Bag of words: no layers.
        assert_eq!(
            activation_bytes(&info(None, 10), 8, 100, false, Checkpointing::Off),
            0
        );
    }

    #[test]
    fn checkpointing_keeps_less_and_bf16_half() {
        let m = info(Some(SHAPE), 1000);
        for seq in [8, 64, 512] {
            let off = activation_bytes(&m, 4, seq, false, Checkpointing::Off);
            let on = activation_bytes(&m, 4, seq, false, Checkpointing::PerLayer);
            assert!(on < off, "{seq}: {on} >= {off}");
        }
        assert!(
            activation_bytes(&m, 4, 64, true, Checkpointing::Off)
                < activation_bytes(&m, 4, 64, false, Checkpointing::Off)
        );
    }
}
