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
use crate::options::TrainOptions;
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

// Admission: a run's estimate from its options, and what would make it fit.

/// The estimated peak of training `info`'s model with `train`'s options on sequences up to
/// `seq` tokens, `trainable` parameters getting gradients. A linear probe backpropagates
/// through the head alone: its backbone runs without a graph, one layer's activations at a time.
pub fn run_estimate(
    info: &ModelInfo,
    train: &TrainOptions,
    trainable: u64,
    seq: usize,
) -> Estimate {
    let mut e = estimate(
        info,
        &Training {
            trainable,
            examples: train.minibatch_size.max(1),
            seq,
            bf16: train.bf16,
            checkpointing: if train.checkpointing {
                Checkpointing::PerLayer
            } else {
                Checkpointing::Off
            },
        },
    );
    if train.linear_probe {
        e.activations = activation_bytes(
            info,
            train.minibatch_size.max(1),
            seq,
            train.bf16,
            Checkpointing::PerLayer,
        );
    }
    e
}

/// Trainable parameters of a run of `info`'s model without building it: the head (2 x hidden
/// plus 2), plus rank x (in + out) per adapted projection (two per layer by default) with
/// LoRA, or everything.
pub fn trainable_estimate(info: &ModelInfo, train: &TrainOptions) -> u64 {
    let Some(shape) = &info.shape else {
        return info.parameters.max(0) as u64;
    };
    let head = 2 * shape.hidden as u64 + 2;
    if train.linear_probe {
        head
    } else if let Some(lora) = &train.lora {
        let targets = if lora.targets.is_empty() {
            2
        } else {
            lora.targets.len() as u64
        };
        head + shape.layers as u64 * targets * lora.rank as u64 * 2 * shape.hidden as u64
    } else {
        info.parameters.max(0) as u64
    }
}

/// A change of training options that lowers a run's peak memory. Each front end writes it in
/// its own words ([`TooBig::message`]): a flag, a keyword, a TOML key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    MinibatchSize(usize),
    Checkpointing,
    Bf16,
    Lora,
}

impl Change {
    /// The training option it sets (its TOML key and Python keyword).
    pub fn key(&self) -> &'static str {
        match self {
            Change::MinibatchSize(_) => "minibatch_size",
            Change::Checkpointing => "checkpointing",
            Change::Bf16 => "bf16",
            Change::Lora => "lora",
        }
    }

    /// The value it sets, as text: a number, or `true` for a switch.
    pub fn value(&self) -> String {
        match self {
            Change::MinibatchSize(m) => m.to_string(),
            _ => "true".into(),
        }
    }

    fn apply(&self, t: &mut TrainOptions) {
        match *self {
            Change::MinibatchSize(m) => t.minibatch_size = m,
            Change::Checkpointing => t.checkpointing = true,
            Change::Bf16 => t.bf16 = true,
            Change::Lora => t.lora = Some(Default::default()),
        }
    }
}

/// One way to make a run fit: one or two changes, and the estimated peak with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub changes: Vec<Change>,
    pub peak: u64,
}

/// The changes of options (smaller minibatches, checkpointing, bf16, LoRA, and pairs of them)
/// under which a run's estimate, by `cost`, fits in `available` bytes with a tenth kept free:
/// at most three, single changes before pairs, then the least drastic (the largest peak that
/// fits: the largest minibatch, say, rather than minibatches of one).
pub fn fixes(
    train: &TrainOptions,
    available: u64,
    cost: impl Fn(&TrainOptions) -> u64,
) -> Vec<Fix> {
    let mut halvings = Vec::new();
    let mut m = train.minibatch_size;
    while m > 1 {
        m /= 2;
        halvings.push(vec![Change::MinibatchSize(m)]);
    }
    let mut candidates = halvings.clone();
    for switch in [Change::Checkpointing, Change::Bf16, Change::Lora] {
        candidates.push(vec![switch]);
        for h in &halvings {
            candidates.push([vec![switch], h.clone()].concat());
        }
    }
    let mut out: Vec<Fix> = candidates
        .into_iter()
        .map(|changes| {
            let mut t = train.clone();
            changes.iter().for_each(|c| c.apply(&mut t));
            Fix {
                peak: cost(&t),
                changes,
            }
        })
        .filter(|f| f.peak <= available / 10 * 9)
        .collect();
    out.sort_by_key(|f| (f.changes.len(), std::cmp::Reverse(f.peak)));
    out.truncate(3);
    out
}

/// A run refused before it trains: it would not fit on its device.
#[derive(Debug, Clone)]
pub struct TooBig {
    pub model: String,
    /// The device, as people read it (and whether `W2S_MEMORY_LIMIT` caps it).
    pub device: String,
    pub available: u64,
    pub estimate: Estimate,
    pub fixes: Vec<Fix>,
}

impl TooBig {
    /// The refusal, each change written by `spell` (`--lora` for the command line,
    /// `lora=True` for Python).
    pub fn message(&self, spell: impl Fn(&Change) -> String) -> String {
        let advice = if self.fixes.is_empty() {
            "No smaller minibatch, checkpointing, bf16 or LoRA makes it fit: use a device with \
             more memory, or a smaller max_ctx"
                .to_owned()
        } else {
            let ways: Vec<String> = self
                .fixes
                .iter()
                .map(|f| {
                    let words: Vec<String> = f.changes.iter().map(&spell).collect();
                    format!("`{}` (about {})", words.join(" "), human(f.peak))
                })
                .collect();
            format!("It would fit with {}", ways.join(", or "))
        };
        format!(
            "{}: this run needs about {} at its peak but {} has {}: {}. {advice}",
            self.model,
            human(self.estimate.total()),
            self.device,
            human(self.available),
            self.estimate
        )
    }
}

/// Written as the TOML keys of a run or sweep file (what `failed.json` and sweep reports show).
impl fmt::Display for TooBig {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.message(|c| format!("{} = {}", c.key(), c.value())))
    }
}

impl std::error::Error for TooBig {}

/// An error's chain of causes as `{e:#}` writes it (`outer: inner`), a [`TooBig`] among them
/// written with `spell`: how each front end puts the advice in its own words.
pub fn render_error(e: &anyhow::Error, spell: impl Fn(&Change) -> String) -> String {
    e.chain()
        .map(|cause| match cause.downcast_ref::<TooBig>() {
            Some(too_big) => too_big.message(&spell),
            None => cause.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ")
}

/// What a run asks of memory: its model, options, the longest sequence, and how many sequences
/// one example is (2 for a pair of replies).
pub struct Demand<'a> {
    pub info: &'a ModelInfo,
    pub train: &'a TrainOptions,
    pub seq: usize,
    pub per_example: usize,
}

impl Demand<'_> {
    /// The estimate with `train`'s options, `trainable` counting what would get gradients.
    fn estimate(&self, train: &TrainOptions, trainable: &dyn Fn(&TrainOptions) -> u64) -> Estimate {
        let sequences = TrainOptions {
            batch_size: train.batch_size * self.per_example,
            minibatch_size: train.minibatch_size * self.per_example,
            ..train.clone()
        };
        run_estimate(self.info, &sequences, trainable(train), self.seq)
    }

    /// Memory admission, one rule for every front end: the run's estimated peak if it fits in
    /// `available` bytes (or nothing is known of the device), else [`TooBig`] with the changes
    /// that would make it fit.
    pub fn admit(
        &self,
        device: tch::Device,
        trainable: &dyn Fn(&TrainOptions) -> u64,
    ) -> Result<Estimate, TooBig> {
        let estimate = self.estimate(self.train, trainable);
        let Some(available) = crate::device::total_bytes(device) else {
            return Ok(estimate);
        };
        if estimate.total() <= available {
            return Ok(estimate);
        }
        Err(TooBig {
            model: self.info.name.clone(),
            device: crate::device::device_name(device),
            available,
            estimate,
            fixes: fixes(self.train, available, |t| {
                self.estimate(t, trainable).total()
            }),
        })
    }
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

    /// A small model for estimates by hand.
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

    /// Two examples of 16 tokens, 1000 trainable parameters, f32.
    const SMALL: Training = Training {
        trainable: 1000,
        examples: 2,
        seq: 16,
        bf16: false,
        checkpointing: Checkpointing::Off,
    };

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
        let e = estimate(&m, &SMALL);
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

    #[test]
    fn advice_names_what_fits_single_changes_first() {
        let mut train = crate::config::TrainFields::default()
            .resolve(&info(Some(SHAPE), 1000), false)
            .unwrap();
        train.minibatch_size = 8;
        // 100 MB as it is; bf16 or LoRA halve it; nothing else helps.
        let cost = |t: &TrainOptions| {
            if t.bf16 || t.lora.is_some() {
                50_000_000
            } else {
                100_000_000
            }
        };
        let found = fixes(&train, 80_000_000, cost);
        let changes: Vec<&[Change]> = found.iter().map(|f| f.changes.as_slice()).collect();
        assert_eq!(
            changes,
            [
                &[Change::Bf16][..],
                &[Change::Lora],
                &[Change::Bf16, Change::MinibatchSize(4)]
            ]
        );
        let refusal = TooBig {
            model: "m".into(),
            device: "Cpu".into(),
            available: 80_000_000,
            estimate: estimate(&info(Some(SHAPE), 1000), &SMALL),
            fixes: found,
        };
        let flags = refusal.message(|c| match c {
            Change::MinibatchSize(m) => format!("--minibatch-size {m}"),
            c => format!("--{}", c.key()),
        });
        assert!(
            flags.contains("It would fit with `--bf16` (about 50 MB), or `--lora` (about 50 MB), or `--bf16 --minibatch-size 4`"),
            "{flags}"
        );
        assert!(
            refusal.to_string().contains("`bf16 = true` (about 50 MB)"),
            "{refusal}"
        );
        // With a tenth kept free, 55 MB of device is too little for 50 MB.
        assert!(fixes(&train, 55_000_000, cost).is_empty());
    }
}
