//! `w2s demo`: the built-in experiment and its table.

use crate::common::{runner, Common};
use anyhow::Result;
use clap::Args;
use std::path::Path;
use w2s::config::TrainFields;
use w2s::loss::Loss;

#[derive(Args)]
pub struct DemoArgs {
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
    /// Training options of both models, as for `w2s run` (a learning rate given here applies
    /// to the bag of words too).
    #[command(flatten)]
    train: TrainFields,
    #[command(flatten)]
    common: Common,
}

pub fn demo(a: DemoArgs) -> Result<()> {
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
    let experiments = w2s::config::demo_experiments(
        &strong,
        &losses,
        (a.n_docs, a.n_test_docs),
        &a.seeds,
        &a.train,
        mixed,
    )?;
    let start = std::time::Instant::now();
    let outcomes = experiments
        .iter()
        .map(|e| e.run(&runner))
        .collect::<Result<Vec<_>>>()?;
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
