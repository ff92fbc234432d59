//! `w2s datasets`: list the registered tasks, show one, export the splits a run sees.

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum DatasetsCommand {
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

pub fn datasets(command: DatasetsCommand) -> Result<()> {
    match command {
        DatasetsCommand::List => {
            println!("{:<22} {:<7} about", "task", "tested");
            for (name, about, tested) in w2s::dataset::registry::list() {
                let mark = if tested { "yes" } else { "" };
                println!("{name:<22} {mark:<7} {about}");
            }
            println!("\ntested: a test loads the task from real files (a shared copy, or files laid out as on the hub)");
            Ok(())
        }
        DatasetsCommand::Show {
            name,
            data_dir,
            n,
            seed,
        } => {
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
                match &e.replies {
                    None => println!("\n--- label {}\n{}", e.label, e.text),
                    Some([a, b]) => println!(
                        "\n--- context\n{}\n--- reply a{}\n{a}\n--- reply b{}\n{b}",
                        e.text,
                        if e.label == 1 { " (preferred)" } else { "" },
                        if e.label == 0 { " (preferred)" } else { "" },
                    ),
                }
            }
            Ok(())
        }
        DatasetsCommand::Export {
            name,
            data_dir,
            n_docs,
            n_test_docs,
            seed,
            out,
        } => {
            let written = w2s::dataset::export_splits(
                &name,
                data_dir.as_deref(),
                (n_docs, n_test_docs),
                seed,
                &out,
            )?;
            for (path, n) in written {
                println!("{}: {n} examples", path.display());
            }
            Ok(())
        }
    }
}
