//! `w2s bench`: a training step and inference here and in PyTorch + transformers.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use w2s::device::parse_device;
use w2s::model::Classifier;

/// The switches take `--flag`, `--flag=true` and `--flag=false`, as `w2s run`'s do.
#[derive(Args)]
pub struct BenchArgs {
    /// Hugging Face model folder (or hub id).
    #[arg(long, default_value = "models/all-MiniLM-L6-v2")]
    model: String,
    /// Examples per batch.
    #[arg(long, default_value_t = 32)]
    batch: i64,
    /// Tokens per example.
    #[arg(long, default_value_t = 128)]
    seq: i64,
    /// Timed steps (after two warm-up steps).
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// CPU threads for both sides. [default: all cores]
    #[arg(long, value_parser = w2s::config::parse_threads)]
    threads: Option<i32>,
    /// cpu, cuda, cuda:N or mps.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Python with torch and transformers for the baseline (default: $VIRTUAL_ENV/bin/python,
    /// else python3). `--baseline none` skips it.
    #[arg(long)]
    baseline: Option<String>,
    /// Recompute each layer in the backward pass (both sides).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    checkpointing: bool,
    /// Train LoRA adapters (rank 8, alpha 16, default targets; PEFT on the PyTorch side).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    lora: bool,
    /// bf16 matmuls over f32 weights (torch.autocast on the PyTorch side).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    mixed_precision: bool,
    /// Backbone weights in bf16.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    bf16: bool,
    /// The PyTorch side's Adam with `fused=True`, the kernel w2s's Adam runs (PyTorch's CPU
    /// default is the per-tensor loop).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    torch_fused_adam: bool,
}

pub fn bench(a: BenchArgs) -> Result<()> {
    let threads = a.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() as i32)
            .unwrap_or(1)
    });
    w2s::tch::set_num_threads(threads);
    let device = parse_device(&a.device)?;
    let shape = w2s::bench::Shape {
        batch: a.batch,
        seq: a.seq,
        steps: a.steps,
        threads,
    };
    let setup = w2s::bench::Setup {
        checkpointing: a.checkpointing,
        lora: a.lora,
        mixed_precision: a.mixed_precision,
        bf16: a.bf16,
        torch_fused_adam: a.torch_fused_adam,
    };
    if a.model == w2s::model::BOW {
        anyhow::bail!(
            "w2s bench times a transformer against PyTorch + transformers; the bag of words has no \
             PyTorch counterpart: pass a model folder or hub id to --model"
        );
    }
    let dir = w2s::model::locate(&a.model)?;
    let model = load(&a, &dir, device)?;
    println!(
        "{}: {} parameters, batch {} x {} tokens, {} threads, {:?}, {setup:?}",
        a.model, model.info.parameters, a.batch, a.seq, threads, device
    );
    let estimate = estimate(&a, &model);
    println!("estimated peak memory: {estimate}");
    let ours = w2s::bench::time_w2s(&model, model.info.vocab_size, shape, setup)?;
    if device != w2s::tch::Device::Cpu {
        // Parity: the same batch's pooled features on this device and on the CPU.
        let cpu = load(&a, &dir, w2s::tch::Device::Cpu)?;
        let err = w2s::bench::parity(&model, &cpu, &shape);
        println!("features on {device:?} vs CPU: relative difference {err:.2e}");
    }
    let pooling = match model.pooling {
        w2s::model::Pooling::Last => "last",
        _ => "mean",
    };
    drop(model);
    println!(
        "{:<26} {:>12} {:>16} {:>16}",
        "", "train step", "inference", "peak memory"
    );
    row("w2s (tch)", &ours);
    if let Some(peak) = ours.peak_rss {
        println!(
            "{:<26} {:>44.2}x",
            "estimate / measured (w2s)",
            estimate.total() as f64 / peak as f64
        );
    }
    let python = match a.baseline.as_deref() {
        Some("none") => return Ok(()),
        Some(p) => PathBuf::from(p),
        None => std::env::var("VIRTUAL_ENV")
            .map(|v| PathBuf::from(v).join("bin/python"))
            .unwrap_or_else(|_| "python3".into()),
    };
    let (script, _keep) = w2s::bench::torch_script()?;
    let theirs = w2s::bench::time_pytorch(&python, &script, &dir, shape, pooling, setup, device)?;
    row("PyTorch + transformers", &theirs);
    let memory = match (ours.peak_rss, theirs.peak_rss) {
        (Some(o), Some(t)) => format!("{:.2}x", o as f64 / t as f64),
        _ => "-".into(),
    };
    println!(
        "{:<26} {:>11.2}x {:>15.2}x {:>16}",
        "w2s / PyTorch",
        ours.train_step_s / theirs.train_step_s,
        theirs.infer_examples_per_s / ours.infer_examples_per_s,
        memory
    );
    Ok(())
}

/// The benchmarked model on `device`, as `w2s run` would train it with these flags.
fn load(a: &BenchArgs, dir: &std::path::Path, device: w2s::tch::Device) -> Result<Classifier> {
    let lora = a.lora.then(w2s::model::lora::LoraConfig::default);
    let name = dir.to_str().context("model path is not UTF-8")?;
    let mut model = Classifier::load_with(name, device, 0, lora.as_ref(), false)?;
    model.set_backbone_trainable(true);
    if a.bf16 {
        model.backbone_to_bf16();
    }
    model.mixed_precision = a.mixed_precision;
    Ok(model)
}

/// The memory admission's estimate of a training step at the benchmark's shape.
fn estimate(a: &BenchArgs, model: &Classifier) -> w2s::memory::Estimate {
    w2s::memory::estimate(
        &model.info,
        &w2s::memory::Training {
            trainable: model.trainable_parameters(false),
            examples: a.batch as usize,
            seq: a.seq as usize,
            bf16: a.bf16,
            checkpointing: match a.checkpointing {
                true => w2s::memory::Checkpointing::PerLayer,
                false => w2s::memory::Checkpointing::Off,
            },
        },
    )
}

/// One line of the table: step time, inference throughput, peak memory.
fn row(name: &str, t: &w2s::bench::Timing) {
    let peak = t.peak_rss.map_or("-".into(), w2s::memory::human);
    println!(
        "{:<26} {:>10.3} s {:>11.1} ex/s {:>16}",
        name, t.train_step_s, t.infer_examples_per_s, peak
    )
}
