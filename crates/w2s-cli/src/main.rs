//! `w2s`: the command-line program. A thin layer over the `w2s` library: parse flags, fill
//! defaults, call the library, print.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use w2s::config::{LossField, RunFile, TrainFields};
use w2s::experiment::{DataSpec, Experiment, Runner};
use w2s::loss::Loss;
use w2s::model::{parse_device, Classifier};

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
    Run(RunArgs),
    /// List the registered datasets.
    Datasets,
}

#[derive(Args)]
struct Common {
    /// Folder where runs are stored (one sub-folder per run, reused when complete).
    #[arg(long)]
    results: Option<PathBuf>,
    /// cpu, cuda, cuda:N or mps.
    #[arg(long)]
    device: Option<String>,
    /// CPU threads for libtorch (default: all cores).
    #[arg(long)]
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
    #[arg(long, default_value_t = 1000)]
    n_test_docs: usize,
    /// Losses for the students, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "xent,logconf")]
    losses: Vec<String>,
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
    /// Weak supervisor; makes this a weak-to-strong run.
    #[arg(long)]
    weak_model: Option<String>,
    /// Dataset name (`w2s datasets`).
    #[arg(long)]
    dataset: Option<String>,
    /// Folder with the dataset's raw files.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long)]
    n_docs: Option<usize>,
    #[arg(long)]
    n_test_docs: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    /// Drop examples longer than this many tokens.
    #[arg(long)]
    max_ctx: Option<usize>,
    /// xent, logconf, logconf_reference or product.
    #[arg(long)]
    loss: Option<String>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    /// Examples per forward pass; batch_size must be a multiple.
    #[arg(long)]
    minibatch_size: Option<usize>,
    /// Train only the head on frozen features.
    #[arg(long)]
    linear_probe: bool,
    #[command(flatten)]
    common: Common,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .without_time()
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
        Command::Run(a) => run(a),
        Command::Datasets => {
            for (name, about) in w2s::dataset::registry::list() {
                println!("{name:<20} {about}");
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
        .unwrap_or_else(|| "cpu".into());
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

/// Per-model training options: load the model's metadata once for its defaults.
fn resolve_train(
    model: &str,
    fields: &TrainFields,
    device: w2s::tch::Device,
) -> Result<w2s::train::TrainOptions> {
    let info = Classifier::load(model, device, 0)
        .with_context(|| format!("loading model `{model}`"))?
        .info;
    fields.resolve(&info)
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
    let weak_opts = resolve_train("bow", &TrainFields::default(), runner.device)?;
    let strong_opts = resolve_train(&strong, &TrainFields::default(), runner.device)?;
    let data = DataSpec {
        name: "demo".into(),
        data_dir: None,
        n_docs: a.n_docs,
        n_test_docs: a.n_test_docs,
    };
    let start = std::time::Instant::now();
    let mut outcomes = Vec::new();
    for &seed in &a.seeds {
        let exp = Experiment::new(
            data.clone(),
            seed,
            1024,
            ("bow", weak_opts.clone()),
            (&strong, strong_opts.clone()),
            &losses,
        );
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
        Some(p) => RunFile::read(p)?,
        None => RunFile::default(),
    };
    let runner = runner(
        &a.common,
        file.results.clone(),
        file.device.clone(),
        "results",
    )?;
    let flags = TrainFields {
        lr: a.lr,
        epochs: a.epochs,
        batch_size: a.batch_size,
        minibatch_size: a.minibatch_size,
        loss: a.loss.clone().map(LossField::Name),
        linear_probe: a.linear_probe.then_some(true),
    };
    let train = file.train().merged(&flags);
    let model = a.model.or(file.model.clone()).context(
        "no model given: pass --model <folder, hub id or bow> or set `model` in the config",
    )?;
    let data = DataSpec {
        name: a
            .dataset
            .or(file.dataset.clone())
            .unwrap_or_else(|| "demo".into()),
        data_dir: a.data_dir.or(file.data_dir.clone()),
        n_docs: a.n_docs.or(file.n_docs).unwrap_or(2000),
        n_test_docs: a.n_test_docs.or(file.n_test_docs).unwrap_or(1000),
    };
    let seed = a.seed.or(file.seed).unwrap_or(0);
    let max_ctx = a.max_ctx.or(file.max_ctx).unwrap_or(1024);
    let strong_opts = resolve_train(&model, &train, runner.device)?;
    match a.weak_model.or(file.weak_model.clone()) {
        None => {
            let spec = Experiment::new(
                data,
                seed,
                max_ctx,
                (&model, strong_opts.clone()),
                (&model, strong_opts),
                &[],
            )
            .weak;
            let r = runner.run(&spec)?;
            println!(
                "{}: test accuracy {:.2}% on {} examples",
                model,
                100.0 * r.test_accuracy,
                r.n_test
            );
            println!("run stored in {}", runner.run_dir(&spec).display());
        }
        Some(weak) => {
            // The supervisor trains with its own defaults unless [weak] says otherwise;
            // the loss applies to the student only.
            let weak_fields = TrainFields {
                loss: None,
                ..file.weak.clone()
            };
            let weak_opts = resolve_train(&weak, &weak_fields, runner.device)?;
            let exp = Experiment::new(
                data,
                seed,
                max_ctx,
                (&weak, weak_opts),
                (&model, strong_opts.clone()),
                std::slice::from_ref(&strong_opts.loss),
            );
            let outcome = exp.run(&runner)?;
            print!("{}", w2s::report::outcome_table(&[outcome]));
            println!(
                "student stored in {}",
                runner.run_dir(&exp.students[0]).display()
            );
        }
    }
    Ok(())
}
