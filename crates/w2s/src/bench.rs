//! `w2s bench`: training-step time and inference throughput of a model on a fixed batch,
//! measured here and in PyTorch + transformers (`scripts/bench/bench_torch.py`) in the same
//! invocation, so that the ratio compares like with like on one machine.

use crate::loss::{soft_cross_entropy, Loss};
use crate::model::{Batch, Classifier};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// What is timed: `steps` repetitions on a batch of `batch` x `seq` tokens, with `threads`
/// CPU threads.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub batch: i64,
    pub seq: i64,
    pub steps: usize,
    pub threads: i32,
}

/// How the model trains: the same switches on both sides.
#[derive(Debug, Clone, Copy, Default)]
pub struct Setup {
    /// Recompute each layer in the backward pass (transformers' gradient checkpointing).
    pub checkpointing: bool,
    /// LoRA adapters (rank 8, alpha 16, the family's default targets; PEFT on the other side).
    pub lora: bool,
    /// Mixed precision: bf16 matmuls over f32 weights (torch.autocast on the other side).
    pub mixed_precision: bool,
    /// Backbone weights in bf16.
    pub bf16: bool,
    /// The PyTorch side's Adam with `fused=True` (w2s's Adam always runs the fused kernel).
    pub torch_fused_adam: bool,
}

impl Setup {
    /// The flags `scripts/bench/bench_torch.py` takes for this setup; LoRA's targets are the
    /// family's (`model/family.rs`), passed so that the script holds no copy of the table.
    fn flags(&self, model_dir: &Path) -> Result<Vec<String>> {
        let mut flags: Vec<String> = [
            (self.checkpointing, "--checkpointing"),
            (self.mixed_precision, "--mixed-precision"),
            (self.bf16, "--bf16"),
            (self.torch_fused_adam, "--fused-adam"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| f.to_string())
        .collect();
        if self.lora {
            let name = model_dir.to_string_lossy();
            let info = crate::model::ModelInfo::describe(&name)?;
            let family = crate::model::family::find(&info.family)
                .with_context(|| format!("{name}: no LoRA targets for family {}", info.family))?;
            flags.extend(["--lora-targets".into(), family.lora_targets.join(",")]);
        }
        Ok(flags)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timing {
    pub train_step_s: f64,
    pub infer_examples_per_s: f64,
    /// Peak resident memory while training (bytes; the high-water mark is reset after the
    /// model is loaded), where the platform reports it.
    #[serde(default)]
    pub peak_rss: Option<u64>,
}

/// Reset this process's peak resident memory (Linux: `clear_refs` 5) so that it measures
/// what comes next.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// This process's peak resident memory since start or the last reset (Linux `VmHWM`).
pub fn peak_rss() -> Option<u64> {
    crate::device::proc_bytes("/proc/self/status", "VmHWM:")
}

/// The token ids both sides use: a 64-bit LCG, ids in [1000, vocab).
pub fn token_ids(batch: i64, seq: i64, vocab: i64) -> Tensor {
    let mut x: u64 = 42;
    let ids: Vec<i64> = (0..batch * seq)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            1000 + ((x >> 33) % (vocab as u64 - 1000)) as i64
        })
        .collect();
    Tensor::from_slice(&ids).view([batch, seq])
}

/// Time `steps` training steps (forward, backward, Adam) after two warm-up steps, then
/// `steps` no-grad forward passes after one warm-up, in one pass as prediction makes them. The model comes set up (LoRA, precision) by the caller.
pub fn time_w2s(model: &Classifier, vocab: i64, shape: Shape, setup: Setup) -> Result<Timing> {
    let Shape {
        batch, seq, steps, ..
    } = shape;
    let device = model.device();
    let b = Batch {
        ids: token_ids(batch, seq, vocab).to_device(device),
        mask: Tensor::ones([batch, seq], (Kind::Int64, device)),
        pairs: false,
    };
    let labels = Tensor::from_slice(&[1.0f32, 0.0])
        .view([1, 2])
        .expand([batch, 2], false)
        .to_device(device);
    let mut opt = crate::optimizer::Adam::new(&model.vs, 1e-5);
    let loss =
        |logits: &Tensor| soft_cross_entropy(logits, &Loss::Xent.target(logits, &labels, 0.0));
    let mut step = || {
        opt.zero_grad();
        if setup.checkpointing {
            let _ = model.backward_checkpointed(&b, |logits| Ok(loss(logits)));
        } else {
            loss(&model.forward(&b)).backward();
        }
        opt.step().expect("the Adam step");
    };
    reset_peak_rss();
    step();
    step();
    sync(device);
    let t = Instant::now();
    for _ in 0..steps {
        step();
    }
    sync(device);
    let train_step_s = t.elapsed().as_secs_f64() / steps as f64;
    let peak_rss = peak_rss();
    // Inference as `predict` runs it: one pass over the batches, weights cast once for
    // mixed precision (the PyTorch side: one autocast region around its loop).
    let infer_s = crate::model::layers::with_weights_cast_once(|| {
        let _ = model.forward(&b);
        sync(device);
        let t = Instant::now();
        for _ in 0..steps {
            let _ = model.forward(&b);
        }
        sync(device);
        t.elapsed().as_secs_f64()
    });
    Ok(Timing {
        train_step_s,
        infer_examples_per_s: (batch as usize * steps) as f64 / infer_s,
        peak_rss,
    })
}

/// The relative difference between two copies of a model's pooled features on the bench's
/// first example (the copies may live on different devices).
pub fn parity(a: &Classifier, b: &Classifier, shape: &Shape) -> f64 {
    let _guard = tch::no_grad_guard();
    let features = |m: &Classifier| {
        let ids = token_ids(1, shape.seq, m.info.vocab_size).to_device(m.device());
        let mask = Tensor::ones_like(&ids);
        m.features(&Batch {
            ids,
            mask,
            pairs: false,
        })
        .to_device(Device::Cpu)
        .to_kind(Kind::Double)
    };
    let (x, y) = (features(a), features(b));
    (&x - &y).norm().double_value(&[]) / y.norm().double_value(&[]).max(f64::MIN_POSITIVE)
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Run `scripts/bench/bench_torch.py` with `python` on the same model and batch.
/// The PyTorch side (`scripts/bench/bench_torch.py`), carried in the binary so that `w2s bench`
/// works wherever w2s is installed; `W2S_BENCH_TORCH` names another script.
pub const TORCH_SCRIPT: &str = include_str!("../../../scripts/bench/bench_torch.py");

/// The PyTorch side's script as a file: `W2S_BENCH_TORCH`, else [`TORCH_SCRIPT`] written to a
/// temporary file (kept while the returned guard lives).
pub fn torch_script() -> Result<(std::path::PathBuf, Option<tempfile::TempPath>)> {
    if let Some(p) = std::env::var_os("W2S_BENCH_TORCH") {
        return Ok((p.into(), None));
    }
    let mut f = tempfile::Builder::new().suffix(".py").tempfile()?;
    std::io::Write::write_all(&mut f, TORCH_SCRIPT.as_bytes())?;
    let path = f.into_temp_path();
    Ok((path.to_path_buf(), Some(path)))
}

pub fn time_pytorch(
    python: &Path,
    script: &Path,
    model_dir: &Path,
    shape: Shape,
    pooling: &str,
    setup: Setup,
    device: Device,
) -> Result<Timing> {
    let device = match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Mps => "mps".into(),
        _ => "cpu".into(),
    };
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(model_dir)
        .args([
            shape.batch.to_string(),
            shape.seq.to_string(),
            shape.steps.to_string(),
            shape.threads.to_string(),
            pooling.to_owned(),
        ])
        .args(["--device", &device])
        .args(setup.flags(model_dir)?)
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "PyTorch baseline failed ({}):\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .last()
        .context("PyTorch baseline printed nothing")?;
    Ok(serde_json::from_str(line)?)
}
