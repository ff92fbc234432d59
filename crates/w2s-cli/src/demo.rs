//! `w2s demo`: the built-in experiment and its table.

use crate::common::{runner, Common};
use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct DemoArgs {
    #[command(flatten)]
    demo: w2s::config::Demo,
    #[command(flatten)]
    common: Common,
}

pub fn demo(a: DemoArgs) -> Result<()> {
    let runner = runner(&a.common, None, None, "results/demo")?;
    let mixed = w2s::device::mixed_precision_pays(runner.device);
    let experiments = a.demo.experiments(mixed)?;
    let start = std::time::Instant::now();
    let outcomes = experiments
        .iter()
        .map(|e| e.run(&runner))
        .collect::<Result<Vec<_>>>()?;
    let table = w2s::report::outcome_table(&outcomes);
    // The model as the user named it (the runs store its absolute folder).
    println!(
        "\nweak: bag of words trained from scratch; strong: {}",
        a.demo.strong
    );
    println!(
        "test accuracy (%) and PGR on the demo task ({} train, {} test)\n",
        a.demo.n_docs, a.demo.n_test_docs
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
