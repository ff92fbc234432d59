//! `w2s run`: one run, or one weak-to-strong experiment, from a config and flags.

use crate::common::{runner, Common};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use w2s::config::{
    EarlyStoppingField, LossField, OneOrMany, RelabelField, RunFile, RunPlan, Switch, TrainFields,
};
use w2s::loss::Loss;

#[derive(Args)]
pub struct RunArgs {
    /// TOML config (see the README); flags override it.
    config: Option<PathBuf>,
    /// Model to train: a Hugging Face folder, a hub id, or `bow` (bag of words from scratch).
    #[arg(long)]
    model: Option<String>,
    /// Weak supervisor; makes this a weak-to-strong run. Several, comma-separated: the
    /// student learns the mean of their soft labels. [default: none, a ground-truth run]
    #[arg(long, value_delimiter = ',')]
    weak_model: Vec<String>,
    /// Strong-to-strong rounds after the weak-to-strong student: relabel train2 with the
    /// last student and train a fresh one on it, this many times. [default: 0]
    #[arg(long)]
    iterations: Option<usize>,
    /// Dataset name (`w2s datasets list`) or a task file (.toml). [default: demo]
    #[arg(long)]
    dataset: Option<String>,
    /// Folder with the dataset's raw files. [default: the Hugging Face hub's copy]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Train examples, halved into train1 (ground truth) and train2 (weak labels).
    /// [default: 20000, as the reference]
    #[arg(long)]
    n_docs: Option<usize>,
    /// Test examples. [default: 10000, as the reference]
    #[arg(long)]
    n_test_docs: Option<usize>,
    /// Seed of the splits, the formatting coin flips and initialisation. [default: 0]
    #[arg(long)]
    seed: Option<u64>,
    /// Drop examples this many tokens long or longer. [default: 1024]
    #[arg(long)]
    max_ctx: Option<usize>,
    /// The student's loss (docs/METHODS.md). [default: xent]
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Loss::NAMES))]
    loss: Option<String>,
    /// Keep the best checkpoint on held-out train examples labelled `weak` (by the
    /// supervisor) or `oracle` (ground truth: an upper bound). [default: off]
    #[arg(long)]
    early_stopping: Option<String>,
    /// Clean the weak labels with a probe on the student's features (docs/METHODS.md).
    /// [default: off]
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(w2s::config::RELABEL_NAMES))]
    relabel: Option<String>,
    /// Learning rate. [default: the reference's table (gpt2, gpt2-medium 5e-5; larger 1e-5),
    /// else 5e-5 under 500M parameters, 1e-5 above; bow 1e-2]
    #[arg(long)]
    lr: Option<f64>,
    /// Passes over the training examples. [default: 2]
    #[arg(long)]
    epochs: Option<usize>,
    /// Examples per optimizer step. [default: 32]
    #[arg(long)]
    batch_size: Option<usize>,
    /// Examples per forward pass; batch_size must be a multiple. [default: batch_size]
    #[arg(long)]
    minibatch_size: Option<usize>,
    /// Train only the head on frozen features.
    #[arg(long)]
    linear_probe: bool,
    /// A bias in the classification head (`--head-bias`); the reference's head has none.
    /// [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    head_bias: Option<bool>,
    /// Backbone weights in bf16 (head in f32): for large models on GPU.
    #[arg(long)]
    bf16: bool,
    /// Recompute each layer's activations during backpropagation: less memory, about a third
    /// more compute, the same gradients.
    #[arg(long)]
    checkpointing: bool,
    /// Mixed precision: f32 weights and optimizer state, bf16 projections and attention;
    /// `--mixed-precision=false` for f32 throughout. [default: on where bf16 is native and
    /// faster (CUDA from Ampere on, CPUs with AVX-512 BF16 or AMX), else off]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    mixed_precision: Option<bool>,
    /// Train LoRA adapters (rank 8, alpha 16, attention projections) and the head instead
    /// of the whole model; a [train.lora] table in the config sets more.
    #[arg(long)]
    lora: bool,
    /// Score " No" / " Yes" with the LM head (decoders); with --epochs 0, zero-shot. A
    /// [train.generative] table sets other answers and a question appended to each example.
    #[arg(long)]
    generative: bool,
    /// The weak supervisor's learning rate. Every training option given once (--lr, --epochs,
    /// --batch-size, --minibatch-size, --linear-probe, --bf16, --checkpointing,
    /// --mixed-precision) applies to the supervisor too, as the reference's train_simple.py
    /// does; the --weak-* flags and the `[weak]` table override. [default: --lr if given, else the weak
    /// model's own default]
    #[arg(long)]
    weak_lr: Option<f64>,
    /// The weak supervisor's epochs. [default: --epochs]
    #[arg(long)]
    weak_epochs: Option<usize>,
    /// The weak supervisor's batch size. [default: --batch-size]
    #[arg(long)]
    weak_batch_size: Option<usize>,
    /// The weak supervisor's minibatch size. [default: --minibatch-size]
    #[arg(long)]
    weak_minibatch_size: Option<usize>,
    /// Train only the weak supervisor's head, on frozen features.
    #[arg(long)]
    weak_linear_probe: bool,
    #[command(flatten)]
    common: Common,
}

pub fn run(a: RunArgs) -> Result<()> {
    let file = match &a.config {
        // `--mixed-precision false`: the value was taken for the config file.
        Some(p) if !p.exists() && matches!(p.to_str(), Some("true" | "false")) => anyhow::bail!(
            "there is no config file `{}`: a flag's true or false goes after `=`, as in \
             --mixed-precision={}",
            p.display(),
            p.display()
        ),
        Some(p) => RunFile::read(p)?,
        None => RunFile::default(),
    };
    let flags = RunFile {
        dataset: a.dataset,
        data_dir: a.data_dir,
        n_docs: a.n_docs,
        n_test_docs: a.n_test_docs,
        seed: a.seed,
        max_ctx: a.max_ctx,
        model: a.model,
        weak_model: (!a.weak_model.is_empty()).then_some(OneOrMany::Many(a.weak_model)),
        iterations: a.iterations,
        results: None,
        device: None,
        train: TrainFields {
            lr: a.lr,
            epochs: a.epochs,
            batch_size: a.batch_size,
            minibatch_size: a.minibatch_size,
            loss: a.loss.map(LossField::Name),
            linear_probe: a.linear_probe.then_some(true),
            head_bias: a.head_bias,
            bf16: a.bf16.then_some(true),
            checkpointing: a.checkpointing.then_some(true),
            mixed_precision: a.mixed_precision,
            early_stopping: a.early_stopping.map(EarlyStoppingField::Labels),
            relabel: a.relabel.map(RelabelField::Name),
            lora: a.lora.then_some(Switch::On(true)),
            generative: a.generative.then_some(Switch::On(true)),
        },
        weak: TrainFields {
            lr: a.weak_lr,
            epochs: a.weak_epochs,
            batch_size: a.weak_batch_size,
            minibatch_size: a.weak_minibatch_size,
            linear_probe: a.weak_linear_probe.then_some(true),
            ..Default::default()
        },
    };
    let file = file.merged(&flags);
    let runner = runner(
        &a.common,
        file.results.clone(),
        file.device.clone(),
        "results",
    )?;
    match file.plan(w2s::device::mixed_precision_pays(runner.device))? {
        RunPlan::GroundTruth(spec) => {
            let r = runner.run(&spec)?;
            println!(
                "{}: test accuracy {:.2}% on {} examples",
                spec.model,
                100.0 * r.test_accuracy,
                r.n_test
            );
            println!("run stored in {}", runner.run_dir(&spec).display());
        }
        RunPlan::WeakToStrong(exp) => {
            let outcome = exp.run(&runner)?;
            let d = &exp.ceiling.data;
            println!(
                "{}: {} train (half to the supervisor), {} test examples asked for",
                d.short_name(),
                d.n_docs,
                d.n_test_docs
            );
            print!("{}", w2s::report::outcome_table(&[outcome]));
            if let Some(last) = exp.last_student() {
                println!("student stored in {}", runner.run_dir(&last).display());
            }
        }
    }
    Ok(())
}
