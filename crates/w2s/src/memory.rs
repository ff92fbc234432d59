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

/// The estimated peak of training `info`'s model with `train`'s options on sequences up to
/// `seq` tokens. A linear probe backpropagates through the head alone: its backbone runs
/// without a graph, one layer's activations at a time.
pub fn for_run(
    info: &ModelInfo,
    train: &crate::train::TrainOptions,
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
pub fn trainable_estimate(info: &ModelInfo, train: &crate::train::TrainOptions) -> u64 {
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

/// The changes of options (smaller minibatches, checkpointing, bf16, LoRA, and pairs of them)
/// under which a run's estimate, by `cost`, fits in `total` bytes, as advice.
pub fn what_would_fit(
    train: &crate::train::TrainOptions,
    total: u64,
    cost: impl Fn(&crate::train::TrainOptions) -> u64,
) -> String {
    let mut options: Vec<(String, crate::train::TrainOptions)> = Vec::new();
    let mut m = train.minibatch_size;
    while m > 1 {
        m /= 2;
        let mut t = train.clone();
        t.minibatch_size = m;
        options.push((format!("--minibatch-size {m}"), t));
    }
    type Change = fn(&mut crate::train::TrainOptions);
    let changes: [(&str, Change); 3] = [
        ("--checkpointing", |t| t.checkpointing = true),
        ("--bf16", |t| t.bf16 = true),
        ("--lora", |t| t.lora = Some(Default::default())),
    ];
    let base = options.clone();
    for (flag, change) in changes {
        let mut t = train.clone();
        change(&mut t);
        options.push((flag.to_owned(), t));
        for (b, bt) in &base {
            let mut t = bt.clone();
            change(&mut t);
            options.push((format!("{flag} {b}"), t));
        }
    }
    // A tenth kept free for everything else; single changes before pairs, then the smallest.
    let mut fits: Vec<(&String, u64)> = options
        .iter()
        .map(|(flag, t)| (flag, cost(t)))
        .filter(|(_, c)| *c <= total / 10 * 9)
        .collect();
    fits.sort_by_key(|(flag, c)| (flag.contains(' '), *c));
    let fits: Vec<String> = fits
        .iter()
        .take(3)
        .map(|(flag, c)| format!("`{flag}` (about {})", human(*c)))
        .collect();
    if fits.is_empty() {
        "No smaller minibatch, checkpointing, bf16 or LoRA makes it fit: use a device with more memory, or a smaller --max-ctx".into()
    } else {
        format!("It would fit with {}", fits.join(", or "))
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

/// Memory the device has free now: the CPU's available memory (`MemAvailable`), or the
/// GPU's free memory as CUDA reports it. `None` where it cannot be read.
pub fn free_bytes(device: tch::Device) -> Option<u64> {
    match device {
        tch::Device::Cpu => meminfo("MemAvailable:"),
        tch::Device::Cuda(i) => cuda_memory(i).map(|(free, _)| free),
        _ => None,
    }
}

/// The memory a run may use: the machine's RAM or the GPU's, or `W2S_MEMORY_LIMIT` (e.g.
/// `12GB`) where that is less: a share of a GPU that others use too, or room kept free on a
/// laptop. Runs that would need more are refused before they start.
pub fn total_bytes(device: tch::Device) -> Option<u64> {
    let device_total = match device {
        tch::Device::Cpu => meminfo("MemTotal:"),
        tch::Device::Cuda(i) => cuda_memory(i).map(|(_, total)| total),
        _ => None,
    };
    match std::env::var("W2S_MEMORY_LIMIT") {
        Ok(v) => match parse_bytes(&v) {
            Some(limit) => Some(device_total.map_or(limit, |t| t.min(limit))),
            None => {
                tracing::warn!(
                    "W2S_MEMORY_LIMIT={v:?} is not a size such as 12GB, 800MB or 2GiB: ignored"
                );
                device_total
            }
        },
        Err(_) => device_total,
    }
}

/// The device as refusals name it, saying when `W2S_MEMORY_LIMIT` caps its memory.
pub fn device_name(device: tch::Device) -> String {
    match std::env::var_os("W2S_MEMORY_LIMIT") {
        Some(_) => format!("{device:?} (capped by W2S_MEMORY_LIMIT)"),
        None => format!("{device:?}"),
    }
}

/// `12GB`, `800 MB`, `2GiB`, `1.5G` or plain bytes.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024f64.powi(2),
        "gib" => 1024f64.powi(3),
        "tib" => 1024f64.powi(4),
        _ => return None,
    };
    Some((number * scale) as u64)
}

fn meminfo(key: &str) -> Option<u64> {
    proc_bytes("/proc/meminfo", key)
}

/// A `key: N kB` line of a Linux `/proc` file, in bytes.
pub fn proc_bytes(file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// A function of the CUDA runtime that libtorch loaded, looked up by name (tch does not
/// expose these); `None` without one.
fn cuda_runtime(name: &str) -> Option<*mut libc::c_void> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: dlsym with RTLD_DEFAULT and a valid C string; a null result means absent.
    let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!f.is_null()).then_some(f)
}

/// (free, total) bytes of CUDA device `index` (`cudaMemGetInfo`).
fn cuda_memory(index: usize) -> Option<(u64, u64)> {
    type GetDevice = unsafe extern "C" fn(*mut i32) -> i32;
    type SetDevice = unsafe extern "C" fn(i32) -> i32;
    type MemGetInfo = unsafe extern "C" fn(*mut usize, *mut usize) -> i32;
    let (get, set, info) = (
        cuda_runtime("cudaGetDevice")?,
        cuda_runtime("cudaSetDevice")?,
        cuda_runtime("cudaMemGetInfo")?,
    );
    // SAFETY: the symbols are the CUDA runtime's, with these C signatures; the previous
    // device is restored.
    unsafe {
        let get: GetDevice = std::mem::transmute(get);
        let set: SetDevice = std::mem::transmute(set);
        let info: MemGetInfo = std::mem::transmute(info);
        let mut previous = 0;
        if get(&mut previous) != 0 || set(index as i32) != 0 {
            return None;
        }
        let (mut free, mut total) = (0usize, 0usize);
        let ok = info(&mut free, &mut total) == 0;
        set(previous);
        ok.then_some((free as u64, total as u64))
    }
}

/// The major compute capability of CUDA device `index` (8 for Ampere, 9 for Hopper).
pub fn cuda_capability(index: usize) -> Option<i32> {
    type GetAttribute = unsafe extern "C" fn(*mut i32, i32, i32) -> i32;
    const COMPUTE_CAPABILITY_MAJOR: i32 = 75; // cudaDevAttrComputeCapabilityMajor
    let get = cuda_runtime("cudaDeviceGetAttribute")?;
    // SAFETY: the CUDA runtime's cudaDeviceGetAttribute(int*, cudaDeviceAttr, int).
    unsafe {
        let get: GetAttribute = std::mem::transmute(get);
        let mut major = 0;
        (get(&mut major, COMPUTE_CAPABILITY_MAJOR, index as i32) == 0).then_some(major)
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
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_decimal_and_binary_units() {
        assert_eq!(parse_bytes("12GB"), Some(12_000_000_000));
        assert_eq!(parse_bytes(" 800 MB "), Some(800_000_000));
        assert_eq!(parse_bytes("2GiB"), Some(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_bytes("1.5g"), Some(1_500_000_000));
        assert_eq!(parse_bytes("4096"), Some(4096));
        assert_eq!(parse_bytes("12 apples"), None);
        assert_eq!(parse_bytes("GB"), None);
    }

    fn info(shape: Option<Shape>, parameters: i64) -> ModelInfo {
        ModelInfo {
            name: "m".into(),
            family: "llama".into(),
            parameters,
            vocab_size: 100,
            max_positions: 512,
            shape,
        }
    }

    const SHAPE: Shape = Shape {
        hidden: 64,
        layers: 3,
        heads: 4,
        intermediate: 256,
        gated_mlp: true,
    };

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

    #[test]
    fn advice_names_what_fits_single_changes_first() {
        let mut train = crate::config::TrainFields::default()
            .resolve(&info(Some(SHAPE), 1000), false)
            .unwrap();
        train.minibatch_size = 8;
        // 100 MB as it is; bf16 or LoRA halve it; nothing else helps.
        let cost = |t: &crate::train::TrainOptions| {
            if t.bf16 || t.lora.is_some() {
                50_000_000
            } else {
                100_000_000
            }
        };
        let advice = what_would_fit(&train, 80_000_000, cost);
        assert!(
            advice.starts_with("It would fit with `--bf16` (about 50 MB), or `--lora` (about 50 MB), or `--bf16 --minibatch-size 4`"),
            "{advice}"
        );
        // With a tenth kept free, 55 MB of device is too little for 50 MB.
        assert!(what_would_fit(&train, 55_000_000, cost).starts_with("No smaller minibatch"));
    }

    #[test]
    fn reads_this_machines_memory() {
        let total = total_bytes(tch::Device::Cpu).unwrap();
        let free = free_bytes(tch::Device::Cpu).unwrap();
        assert!(free <= total && total > 100 << 20, "{free} / {total}");
        assert_eq!(human(1_500_000_000), "1.5 GB");
        assert_eq!(human(312_000_000), "312 MB");
    }
}
