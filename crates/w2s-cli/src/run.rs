//! `w2s run`: one run, or one weak-to-strong experiment, from a config and flags.

use crate::common::{runner, Common};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use w2s::config::{RunFile, RunPlan, WeakFlags};

#[derive(Args)]
pub struct RunArgs {
    /// TOML config (see the README); flags override it.
    config: Option<PathBuf>,
    /// The config's keys as flags (`n_docs` is --n-docs; `[train]`'s keys are flags too).
    #[command(flatten)]
    file: RunFile,
    /// `[weak]`'s keys as --weak-* flags.
    #[command(flatten)]
    weak: WeakFlags,
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
        weak: a.weak.0,
        ..a.file
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
                "{}: {} {:.2}% on {} {}",
                spec.model,
                if r.pairwise {
                    "pairwise accuracy"
                } else {
                    "test accuracy"
                },
                100.0 * r.test_accuracy,
                r.n_test,
                if r.pairwise { "test pairs" } else { "examples" },
            );
            println!("run stored in {}", runner.run_dir(&spec).display());
        }
        RunPlan::WeakToStrong(exp) => {
            let outcome = exp.run(&runner)?;
            let d = &exp.ceiling.data;
            let pairwise = runner.existing(&exp.ceiling).is_some_and(|r| r.pairwise);
            let what = if pairwise { "pairs" } else { "examples" };
            println!(
                "{}: {} train {what} (half to the supervisor), {} test {what} asked for",
                d.short_name(),
                d.n_docs,
                d.n_test_docs
            );
            if pairwise {
                println!("pairwise task: accuracy is the share of test pairs whose preferred reply the model scores higher");
            }
            print!("{}", w2s::report::outcome_table(&[outcome]));
            if let Some(last) = exp.last_student() {
                println!("student stored in {}", runner.run_dir(&last).display());
            }
        }
    }
    Ok(())
}
