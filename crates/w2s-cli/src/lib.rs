//! `w2s`: the command-line program, a thin layer over the `w2s` library. This file only
//! dispatches; each command's flags and printing are in a file of its own. It is a library
//! too, so that the Python package's `w2s` command is this very program ([`main`]).

mod bench;
mod common;
mod datasets;
mod demo;
mod exec_run;
mod report;
mod run;
mod sweep;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
    /// Log the details too (memory estimates, reused folders, ...): the `debug` level, as
    /// RUST_LOG=debug. By default, one line per run.
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run a complete weak-to-strong experiment on the built-in demo task and print the table.
    Demo(Box<demo::DemoArgs>),
    /// One ground-truth run, or (with --weak-model) a weak-to-strong run with its supervisor
    /// and strong ceiling, from a TOML config plus flags.
    Run(Box<run::RunArgs>),
    /// The registered datasets: `list`, or `show NAME` for examples, sizes and balance.
    #[command(subcommand)]
    Datasets(datasets::DatasetsCommand),
    /// Plan and run a grid of experiments from a TOML file (see the README); resumable.
    Sweep(sweep::SweepArgs),
    /// Tables (accuracy, PGR with 95% intervals from resampling test examples, per-seed PGR,
    /// agreement), medians, plots, an HTML page and a CSV of every run in a results folder.
    Report(report::ReportArgs),
    /// Run one stored run spec (what sweep workers and Slurm tasks call).
    #[command(hide = true)]
    ExecRun(exec_run::ExecArgs),
    /// Time a training step and inference of a model here and in PyTorch + transformers
    /// on the same batch, and print the ratio.
    Bench(bench::BenchArgs),
}

/// The program: parse `args` (the first is the program's name), set up logging, run the
/// command; returns the exit code. `exe` is the `w2s` program that sweep workers and Slurm
/// tasks start (this binary, or the Python package's `w2s` script).
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>, exe: std::path::PathBuf) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    // Colour only on a terminal, never with NO_COLOR (https://no-color.org).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    init_logging(cli.verbose, ansi, std::io::stderr);
    match real_main(cli, exe) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", w2s::memory::render_error(&e, flag));
            1
        }
    }
}

/// A memory advice's change as the flag of `w2s run` that makes it.
fn flag(change: &w2s::memory::Change) -> String {
    match change {
        w2s::memory::Change::MinibatchSize(m) => format!("--minibatch-size {m}"),
        c => format!("--{}", c.key()),
    }
}

/// Log lines to `writer`: one per run, or the details too when `verbose` (RUST_LOG, if set,
/// decides instead). A second call in one process (Python calling the program again) keeps
/// the first's logger.
pub fn init_logging<W>(verbose: bool, ansi: bool, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let level = if verbose { "info,w2s=debug" } else { "info" };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_target(false)
        .without_time()
        .with_ansi(ansi)
        .with_writer(writer)
        .try_init();
}

fn real_main(cli: Cli, exe: std::path::PathBuf) -> Result<()> {
    match cli.command {
        Command::Demo(a) => demo::demo(*a),
        Command::Run(a) => run::run(*a),
        Command::Bench(a) => bench::bench(a),
        Command::Sweep(a) => sweep::sweep(a, exe),
        Command::Report(a) => report::report(a),
        Command::ExecRun(a) => exec_run::exec_run(a),
        Command::Datasets(c) => datasets::datasets(c),
    }
}
