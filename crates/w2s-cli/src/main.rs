//! `w2s`: the command-line program. A thin layer over the `w2s` library: parse flags, fill
//! defaults, call the library, print.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use w2s::config::{
    resolve_for, EarlyStoppingField, LossField, OneOrMany, RelabelField, RunFile, RunPlan, Switch,
    TrainFields,
};
use w2s::device::parse_device;
use w2s::experiment::{DataSpec, Experiment, Runner, DEFAULT_MAX_CTX};
use w2s::loss::Loss;
use w2s::model::Classifier;
use w2s::train::TrainOptions;

#[derive(Parser)]
#[command(
    name = "w2s",
    version,
    about = "Weak-to-strong generalization experiments: train a weak supervisor, label data with it, \
             finetune a strong student on those labels, and measure the performance gap recovered."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a complete weak-to-strong experiment on the built-in demo task and print the table.
    Demo(DemoArgs),
    /// One ground-truth run, or (with --weak-model) a weak-to-strong run with its supervisor
    /// and strong ceiling, from a TOML config plus flags.
    Run(Box<RunArgs>),
    /// The registered datasets: `list`, or `show NAME` for examples, sizes and balance.
    #[command(subcommand)]
    Datasets(DatasetsCommand),
    /// Plan and run a grid of experiments from a TOML file (see the README); resumable.
    Sweep(SweepArgs),
    /// Tables (accuracy, PGR with 95% intervals from resampling test examples, per-seed PGR,
    /// agreement), medians, plots, an HTML page and a CSV of every run in a results folder.
    Report(ReportArgs),
    /// Run one stored run spec (what sweep workers and Slurm tasks call).
    #[command(hide = true)]
    ExecRun(ExecArgs),
    /// Time a training step and inference of a model here and in PyTorch + transformers
    /// on the same batch, and print the ratio.
    Bench(BenchArgs),
}

#[derive(Args)]
struct SweepArgs {
    /// The sweep file.
    config: PathBuf,
    /// Print the plan (what would run, what is reused) and stop.
    #[arg(long)]
    dry_run: bool,
    /// Runs at a time on this machine.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Devices for the job slots, comma-separated (e.g. cuda:0,cuda:1), given out round-robin;
    /// on Slurm the first, for every task (`auto` uses the GPU Slurm gives the task).
    /// `auto`: CUDA if libtorch sees a GPU, then MPS, then the CPU.
    #[arg(long, value_delimiter = ',', default_value = "auto")]
    device: Vec<String>,
    /// CPU threads per run. [default: cores / jobs]
    #[arg(long, value_parser = w2s::config::parse_threads)]
    threads: Option<i32>,
    /// local, or slurm (submits job arrays with sbatch and returns).
    #[arg(long, default_value = "local")]
    executor: String,
    /// Extra #SBATCH lines for the slurm executor, e.g. --sbatch=--gres=gpu:1
    #[arg(long)]
    sbatch: Vec<String>,
    /// Results folder. [default: the file's `results`, else results/sweep]
    #[arg(long)]
    results: Option<PathBuf>,
    /// Retrain runs that are already complete.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct ReportArgs {
    /// A results folder of `w2s sweep`, `w2s run` or `w2s demo`.
    results: PathBuf,
    /// Where report.txt and runs.csv go. [default: the results folder]
    #[arg(long)]
    out: Option<PathBuf>,
    /// How runs combine into PGRs: `reference` (openai/weak-to-strong's notebook: baselines
    /// from all ground-truth runs, one PGR per student run, medians over runs), `pooled` (mean
    /// accuracies over a pair's seeds, then PGR, with 95% intervals over test examples) or
    /// `per-seed` (mean of per-seed PGRs, with intervals). docs/METHODS.md has the details.
    #[arg(long, default_value = "reference",
          value_parser = clap::builder::PossibleValuesParser::new(w2s::report::Aggregate::NAMES))]
    aggregate: String,
}

#[derive(Args)]
struct ExecArgs {
    /// The run spec (JSON) that `w2s sweep` wrote.
    spec: PathBuf,
    /// The sweep's results folder.
    #[arg(long)]
    results: PathBuf,
    /// auto, cpu, cuda, cuda:N or mps.
    #[arg(long, default_value = "auto")]
    device: String,
    /// CPU threads for libtorch. [default: all cores]
    #[arg(long, value_parser = w2s::config::parse_threads)]
    threads: Option<i32>,
    /// Retrain the run even when a complete result exists.
    #[arg(long)]
    force: bool,
    /// Predict train2 too: the sweep sets it for runs that supervise others.
    #[arg(long)]
    predict_train2: bool,
}

#[derive(Subcommand)]
enum DatasetsCommand {
    /// Every registered task, one line each.
    List,
    /// A few formatted examples, split sizes and label balance of a task.
    Show {
        /// Task name, or a user task file (.toml).
        name: String,
        /// Folder with the raw files (default: the Hugging Face hub's copy).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Examples to print.
        #[arg(long, default_value_t = 3)]
        n: usize,
        /// Seed for the formatting coin flips.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Write the splits a run sees (train1, train2, test) as JSON lines of text and label,
    /// for other tools to train on the very same examples.
    Export {
        /// Task name, or a user task file (.toml).
        name: String,
        /// Folder with the raw files (default: the Hugging Face hub's copy).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Train examples, halved into train1 and train2.
        #[arg(long, default_value_t = w2s::experiment::DEFAULT_N_DOCS)]
        n_docs: usize,
        /// Test examples.
        #[arg(long, default_value_t = w2s::experiment::DEFAULT_N_TEST_DOCS)]
        n_test_docs: usize,
        /// Seed of the splits and the formatting coin flips.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Folder to write train1.jsonl, train2.jsonl and test.jsonl into.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Args)]
struct BenchArgs {
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
    #[arg(long)]
    checkpointing: bool,
    /// Train LoRA adapters (rank 8, alpha 16, default targets; PEFT on the PyTorch side).
    #[arg(long)]
    lora: bool,
    /// bf16 matmuls over f32 weights (torch.autocast on the PyTorch side).
    #[arg(long)]
    mixed_precision: bool,
    /// Backbone weights in bf16.
    #[arg(long)]
    bf16: bool,
}

#[derive(Args)]
struct Common {
    /// Folder where runs are stored (one sub-folder per run, reused when complete).
    /// [default: results (run), results/demo (demo), or the config's `results`]
    #[arg(long)]
    results: Option<PathBuf>,
    /// auto, cpu, cuda, cuda:N or mps. [default: the config's `device`, else auto: CUDA if
    /// libtorch sees a GPU, then MPS, then the CPU]
    #[arg(long)]
    device: Option<String>,
    /// CPU threads for libtorch. [default: all cores]
    #[arg(long, value_parser = w2s::config::parse_threads)]
    threads: Option<i32>,
    /// Retrain runs even when a complete result exists.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct DemoArgs {
    /// Seeds to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    seeds: Vec<u64>,
    /// The strong model: a Hugging Face folder or id.
    #[arg(long, default_value = "models/all-MiniLM-L6-v2")]
    strong: String,
    /// Train examples (half to the weak supervisor, half weakly labelled).
    #[arg(long, default_value_t = 2000)]
    n_docs: usize,
    /// Test examples.
    #[arg(long, default_value_t = 1000)]
    n_test_docs: usize,
    /// Losses for the students, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "xent,logconf",
          value_parser = clap::builder::PossibleValuesParser::new(Loss::NAMES))]
    losses: Vec<String>,
    /// Mixed precision for MiniLM; `--mixed-precision=false` for f32 throughout.
    /// [default: on where bf16 is native, as for `w2s run`]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    mixed_precision: Option<bool>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct RunArgs {
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
    /// does; the --weak-* flags and [weak] override. [default: --lr if given, else the weak
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

fn main() {
    // Die quietly when stdout is a closed pipe (`w2s report | head`), as command-line tools do.
    // SAFETY: restoring the default disposition of a signal at startup, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .without_time()
        // Colour only on a terminal, never with NO_COLOR (https://no-color.org).
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = real_main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    match Cli::parse().command {
        Command::Demo(a) => demo(a),
        Command::Run(a) => run(*a),
        Command::Bench(a) => bench(a),
        Command::Sweep(a) => sweep(a),
        Command::Report(a) => report(a),
        Command::ExecRun(a) => {
            if let Some(t) = a.threads {
                w2s::tch::set_num_threads(t);
            }
            let spec: w2s::experiment::RunSpec = w2s::store::read_json(&a.spec)?;
            let mut runner = Runner::new(a.results, parse_device(&a.device)?, a.force);
            runner.train_supervisors = false;
            runner.predict_train2 = a.predict_train2;
            match runner.run(&spec) {
                Ok(r) => {
                    println!("{}: test accuracy {:.4}", r.hash, r.test_accuracy);
                    Ok(())
                }
                // The runner recorded the failure beside the run (failed.json), so a Slurm
                // task's failure, or its skip for a missing supervisor, is on disk with its reason.
                Err(e) => Err(e),
            }
        }
        Command::Datasets(DatasetsCommand::List) => {
            println!("{:<22} {:<7} about", "task", "tested");
            for (name, about, tested) in w2s::dataset::registry::list() {
                let mark = if tested { "yes" } else { "" };
                println!("{name:<22} {mark:<7} {about}");
            }
            println!("\ntested: a test loads the task from real files (a shared copy, or files laid out as on the hub)");
            Ok(())
        }
        Command::Datasets(DatasetsCommand::Show {
            name,
            data_dir,
            n,
            seed,
        }) => {
            let pools = w2s::dataset::load_pools(
                &name,
                data_dir.as_deref(),
                seed,
                (usize::MAX, usize::MAX),
            )?;
            for (split, pool) in [("train", &pools.train), ("test", &pools.test)] {
                println!(
                    "{split}: {} examples, {:.1}% label 1",
                    pool.len(),
                    100.0 * w2s::dataset::positive_rate(pool)
                );
            }
            for e in pools.train.iter().take(n) {
                println!("\n--- label {}\n{}", e.label, e.text);
            }
            Ok(())
        }
        Command::Datasets(DatasetsCommand::Export {
            name,
            data_dir,
            n_docs,
            n_test_docs,
            seed,
            out,
        }) => {
            let pools =
                w2s::dataset::load_pools(&name, data_dir.as_deref(), seed, (n_docs, n_test_docs))?;
            let splits = w2s::dataset::Splits::new(pools, n_docs, n_test_docs, seed);
            for (split, examples) in [
                ("train1", &splits.train1),
                ("train2", &splits.train2),
                ("test", &splits.test),
            ] {
                let mut lines = Vec::new();
                for e in examples {
                    serde_json::to_writer(
                        &mut lines,
                        &serde_json::json!({"text": e.text, "label": e.label}),
                    )?;
                    lines.push(b'\n');
                }
                let path = out.join(format!("{split}.jsonl"));
                w2s::store::write_atomic(&path, &lines)?;
                println!("{}: {} examples", path.display(), examples.len());
            }
            Ok(())
        }
    }
}

fn runner(
    common: &Common,
    file_results: Option<PathBuf>,
    file_device: Option<String>,
    default_results: &str,
) -> Result<Runner> {
    if let Some(t) = common.threads {
        w2s::tch::set_num_threads(t);
    }
    let device = common
        .device
        .clone()
        .or(file_device)
        .unwrap_or_else(|| "auto".into());
    Ok(Runner::new(
        common
            .results
            .clone()
            .or(file_results)
            .unwrap_or_else(|| default_results.into()),
        parse_device(&device)?,
        common.force,
    ))
}

fn demo(a: DemoArgs) -> Result<()> {
    let runner = runner(&a.common, None, None, "results/demo")?;
    let strong = if Path::new(&a.strong).is_dir() || a.strong != "models/all-MiniLM-L6-v2" {
        a.strong.clone()
    } else {
        tracing::warn!(
            "models/all-MiniLM-L6-v2 not found (run ./dev setup); trying the Hugging Face hub"
        );
        "sentence-transformers/all-MiniLM-L6-v2".into()
    };
    let losses: Vec<Loss> = a
        .losses
        .iter()
        .map(|l| Loss::from_name(l))
        .collect::<Result<_>>()?;
    let mixed = w2s::device::mixed_precision_pays(runner.device);
    let fields = TrainFields {
        mixed_precision: a.mixed_precision,
        ..Default::default()
    };
    let weak_opts = resolve_for("bow", &fields, mixed)?;
    let strong_opts = resolve_for(&strong, &fields, mixed)?;
    let students: Vec<TrainOptions> = losses
        .into_iter()
        .map(|loss| TrainOptions {
            loss,
            ..strong_opts.clone()
        })
        .collect();
    let data = DataSpec::new("demo", None, a.n_docs, a.n_test_docs)?;
    let start = std::time::Instant::now();
    let mut outcomes = Vec::new();
    for &seed in &a.seeds {
        let exp = Experiment::new(
            &data,
            seed,
            DEFAULT_MAX_CTX,
            &[("bow", weak_opts.clone())],
            (&strong, strong_opts.clone()),
            &students,
        )?;
        outcomes.push(exp.run(&runner)?);
    }
    let table = w2s::report::outcome_table(&outcomes);
    println!("\nweak: bag of words trained from scratch; strong: {strong}");
    println!(
        "test accuracy (%) and PGR on the demo task ({} train, {} test)\n",
        a.n_docs, a.n_test_docs
    );
    print!("{table}");
    println!(
        "\n{:.0} s; runs stored in {}",
        start.elapsed().as_secs_f64(),
        runner.results.display()
    );
    w2s::store::write_atomic(&runner.results.join("summary.txt"), table.as_bytes())?;
    w2s::store::write_json(&runner.results.join("summary.json"), &outcomes)?;
    Ok(())
}

fn run(a: RunArgs) -> Result<()> {
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

fn bench(a: BenchArgs) -> Result<()> {
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
    };
    let dir = w2s::model::locate(&a.model)?;
    let lora = a.lora.then(w2s::model::lora::LoraConfig::default);
    let mut model = Classifier::load_with(
        dir.to_str().context("model path is not UTF-8")?,
        device,
        0,
        lora.as_ref(),
        false,
    )?;
    model.set_backbone_trainable(true);
    if a.bf16 {
        model.backbone_to_bf16();
    }
    model.mixed_precision = a.mixed_precision;
    println!(
        "{}: {} parameters, batch {} x {} tokens, {} threads, {:?}, {setup:?}",
        a.model, model.info.parameters, a.batch, a.seq, threads, device
    );
    let estimate = w2s::memory::estimate(
        &model.info,
        &w2s::memory::Training {
            trainable: model.trainable_parameters(false),
            examples: a.batch as usize,
            seq: a.seq as usize,
            bf16: a.bf16,
            checkpointing: if a.checkpointing {
                w2s::memory::Checkpointing::PerLayer
            } else {
                w2s::memory::Checkpointing::Off
            },
        },
    );
    println!("estimated peak memory: {estimate}");
    let ours = w2s::bench::time_w2s(&model, model.info.vocab_size, shape, setup)?;
    if device != w2s::tch::Device::Cpu {
        // Parity: the same batch's pooled features on this device and on the CPU.
        let cpu = Classifier::load_with(
            dir.to_str().context("model path is not UTF-8")?,
            w2s::tch::Device::Cpu,
            0,
            lora.as_ref(),
            false,
        )?;
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
    let row = |name: &str, t: &w2s::bench::Timing| {
        let peak = t.peak_rss.map_or("-".into(), w2s::memory::human);
        println!(
            "{:<26} {:>10.3} s {:>11.1} ex/s {:>16}",
            name, t.train_step_s, t.infer_examples_per_s, peak
        )
    };
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
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench_torch.py");
    let script = std::env::var_os("W2S_BENCH_TORCH").map_or(script, PathBuf::from);
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

fn sweep(a: SweepArgs) -> Result<()> {
    use w2s::sweep;
    let file = sweep::SweepFile::read(&a.config)?;
    let results = a
        .results
        .clone()
        .or(file.results.clone())
        .unwrap_or_else(|| "results/sweep".into());
    let results = std::path::absolute(&results)?;
    // The default precision is the first device's, decided here: on Slurm, where the tasks'
    // GPUs are not visible from this machine, a file or flag should say `mixed_precision`.
    let device = parse_device(a.device.first().map_or("auto", String::as_str))?;
    let mixed = w2s::device::mixed_precision_pays(device);
    let plan = sweep::plan(&file, mixed)?;
    let done = plan
        .iter()
        .filter(|p| w2s::experiment::is_done(&p.spec.dir(&results), p.supervises))
        .count();
    println!(
        "{} runs planned in {}: {} complete (reused), {} to run",
        plan.len(),
        results.display(),
        done,
        plan.len() - done
    );
    println!(
        "precision where the file does not say: {}",
        match mixed {
            true => format!("mixed (bf16 matmuls are native on {device:?})"),
            false => format!("f32 (bf16 is not native on {device:?})"),
        }
    );
    if a.dry_run {
        // Memory at the longest sequences the runs allow (their data is not read here).
        let total = w2s::device::total_bytes(device);
        let mut infos = std::collections::HashMap::new();
        for p in &plan {
            let state = if w2s::experiment::is_done(&p.spec.dir(&results), p.supervises) {
                "done"
            } else {
                "todo"
            };
            if !infos.contains_key(&p.spec.model) {
                infos.insert(
                    p.spec.model.clone(),
                    w2s::model::ModelInfo::describe(&p.spec.model)?,
                );
            }
            let info = &infos[&p.spec.model];
            let seq = p.spec.max_ctx.min(info.max_positions);
            let need = |t: &w2s::train::TrainOptions| {
                w2s::train::memory_estimate(info, t, w2s::train::trainable_estimate(info, t), seq)
            };
            let estimate = need(&p.spec.train);
            println!(
                "  [{state}] depth {} {}: at most {} at {seq} tokens",
                p.depth,
                p.spec.folder_name(),
                w2s::memory::human(estimate.total())
            );
            if let Some(total) = total.filter(|t| estimate.total() > *t) {
                println!(
                    "      does not fit on {} ({}): {estimate}. {}",
                    w2s::device::device_name(device),
                    w2s::memory::human(total),
                    w2s::train::what_would_fit(&p.spec.train, total, |t| need(t).total())
                );
            }
        }
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    match a.executor.as_str() {
        "slurm" => {
            let task = sweep::TaskSettings {
                device: a.device.first().cloned().unwrap_or_else(|| "auto".into()),
                threads: a.threads,
                force: a.force,
            };
            let ids = sweep::submit_slurm(&plan, &results, &exe, &a.sbatch, &task)?;
            println!("submitted Slurm job arrays {} (one per supervision depth); rerun `w2s sweep` to resubmit what is missing", ids.join(", "));
            Ok(())
        }
        "local" => {
            let cores = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            let local = sweep::Local {
                exe,
                jobs: a.jobs.max(1),
                devices: a.device.clone(),
                gpus: sweep::local::visible_gpus(),
                threads_per_job: a
                    .threads
                    .unwrap_or_else(|| (cores / a.jobs.max(1)).max(1) as i32),
                force: a.force,
            };
            let slots: Vec<String> = local.slots().iter().map(|s| s.to_string()).collect();
            println!(
                "job slots: {}; {} CPU threads each",
                slots.join(", "),
                local.threads_per_job
            );
            let bar = indicatif::ProgressBar::new(plan.len() as u64).with_style(
                indicatif::ProgressStyle::with_template(
                    "sweep [{bar:30}] {pos}/{len} runs {elapsed} {msg}",
                )
                .unwrap()
                .progress_chars("=> "),
            );
            let start = std::time::Instant::now();
            let summary = sweep::execute_local(&plan, &results, &local, &bar)?;
            bar.finish_and_clear();
            println!(
                "trained {}, reused {}, failed {}, skipped {} in {:.0} s",
                summary.trained,
                summary.reused,
                summary.failed.len(),
                summary.skipped.len(),
                start.elapsed().as_secs_f64()
            );
            for f in summary.failed.iter().chain(&summary.skipped) {
                println!("  FAILED {}: {}", f.folder.display(), f.reason);
            }
            let (runs, skipped) = w2s::report::load_runs(&results)?;
            let mut report = w2s::report::Report::new(&runs, w2s::report::Aggregate::default());
            report.not_reported = skipped;
            print!("{}", w2s::report::sweep_table(&report));
            if !summary.failed.is_empty() {
                anyhow::bail!("{} run(s) failed; see above", summary.failed.len());
            }
            Ok(())
        }
        other => anyhow::bail!("unknown executor `{other}`: use local or slurm"),
    }
}

fn report(a: ReportArgs) -> Result<()> {
    let out = a.out.clone().unwrap_or_else(|| a.results.clone());
    let (report, table) = w2s::report::write(&a.results, &out, a.aggregate.parse()?)?;
    print!("{table}");
    println!(
        "\n{} rows; wrote report.txt, report.html, report.json, runs.csv, runs.parquet and plots/ (SVG, PNG) to {}",
        report.rows.len(),
        out.display()
    );
    Ok(())
}
