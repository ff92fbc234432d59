//! Binary classification examples and the experiment's splits.
//!
//! Every task, built-in or loaded from files, ends up as two pools of [`Example`]s (train and
//! test). [`Splits::new`] then follows openai/weak-to-strong: shuffle each pool with the run's
//! seed, keep `n_docs` train and `n_test_docs` test examples, and cut train into halves:
//! `train1` (ground truth, for supervisors and ceilings) and `train2` (to be weakly labelled).

pub mod demo;
pub mod files;
mod formats;
pub mod hub;
mod layout;
pub mod registry;
pub mod user;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One text with a binary label (0 or 1); or, for a pairwise task (reward modelling), a
/// context and two replies, `label` 1 where people preferred the first (`a`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// The text, or a pair's shared context.
    pub text: String,
    pub label: u8,
    /// A pair's replies `[a, b]`: the model scores (context, a) and (context, b), and the
    /// pair's logits are the difference ([`crate::model::PAIR_SEP`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replies: Option<[String; 2]>,
}

impl Example {
    /// A pairwise example: `context` with replies `a` and `b`, `label` 1 if `a` is preferred.
    pub fn pair(context: String, a: String, b: String, label: u8) -> Example {
        Example {
            text: context,
            label,
            replies: Some([a, b]),
        }
    }

    /// A preference as a pair in the order a seeded coin picks, so that position carries no
    /// signal: label 1 when the preferred reply (`good`) is shown first.
    pub fn preference(context: String, good: String, bad: String, rng: &mut ChaCha8Rng) -> Example {
        let label = rand::Rng::gen_bool(rng, 0.5) as u8;
        let (a, b) = if label == 1 { (good, bad) } else { (bad, good) };
        Example::pair(context, a, b, label)
    }
}

/// A task's raw pools before the run's seed picks from them.
#[derive(Debug, Clone)]
pub struct Pools {
    pub train: Vec<Example>,
    pub test: Vec<Example>,
}

/// The three splits of one experiment.
#[derive(Debug, Clone)]
pub struct Splits {
    pub train1: Vec<Example>,
    pub train2: Vec<Example>,
    pub test: Vec<Example>,
}

/// A shuffle that gives the same order on every machine (ChaCha8 is specified bit for bit).
pub fn seeded_shuffle<T>(items: &mut [T], seed: u64) {
    items.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
}

impl Splits {
    /// A pairwise task's splits (reward modelling): every example a context and two replies.
    pub fn pairwise(&self) -> bool {
        self.test.iter().any(|e| e.replies.is_some())
    }

    /// Shuffle the pools with `seed`, keep `n_docs` / `n_test_docs` and halve train.
    /// Asking for more than a pool holds uses all of it, with a warning.
    pub fn new(pools: Pools, n_docs: usize, n_test_docs: usize, seed: u64) -> Splits {
        let Pools {
            mut train,
            mut test,
        } = pools;
        // Distinct streams for the two pools, so that changing one size never reorders the other.
        seeded_shuffle(&mut train, seed.wrapping_mul(2));
        seeded_shuffle(&mut test, seed.wrapping_mul(2).wrapping_add(1));
        for (what, pool, n) in [
            ("train", &mut train, n_docs),
            ("test", &mut test, n_test_docs),
        ] {
            if n > pool.len() {
                tracing::warn!(
                    "asked for {n} {what} examples but the task has {}: using all of them",
                    pool.len()
                );
            }
            pool.truncate(n);
        }
        let train2 = train.split_off(train.len() / 2);
        Splits {
            train1: train,
            train2,
            test,
        }
    }
}

/// What a task name refers to, decided in one place: the built-in demo, a task file (a name
/// ending in `.toml`), or a registered task.
pub enum TaskRef<'a> {
    Demo,
    File(&'a std::path::Path),
    Registered(&'static registry::Task),
}

/// The built-in task's name.
pub const DEMO: &str = "demo";

impl TaskRef<'_> {
    /// The task `name` refers to; an unknown name is an error that lists the known ones.
    pub fn parse(name: &str) -> anyhow::Result<TaskRef<'_>> {
        Ok(if name == DEMO {
            TaskRef::Demo
        } else if name.ends_with(".toml") {
            TaskRef::File(std::path::Path::new(name))
        } else {
            TaskRef::Registered(registry::find(name)?)
        })
    }

    /// Whether every example is a context and two replies, known without reading the data.
    pub fn pairwise(&self) -> anyhow::Result<bool> {
        Ok(match self {
            TaskRef::Demo => false,
            TaskRef::File(path) => user::UserTask::read(path)?.pairwise(),
            TaskRef::Registered(task) => task.pairwise,
        })
    }

    /// The pools of the task: the demo's generated examples, a task file's data files (relative
    /// to the task file), or a registered task's files (from `data_dir`, else the hub). `seed`
    /// drives formatting coin flips; `limits` caps the rows read per split.
    pub fn load(
        &self,
        data_dir: Option<&std::path::Path>,
        seed: u64,
        limits: (usize, usize),
    ) -> anyhow::Result<Pools> {
        match self {
            TaskRef::Demo => Ok(demo::pools()),
            TaskRef::File(path) => {
                let base = path.parent().unwrap_or(std::path::Path::new("."));
                user::UserTask::read(path)?.load(base, data_dir, seed, limits)
            }
            TaskRef::Registered(task) => {
                let dir = registry::locate(task, data_dir)?;
                registry::load(task, &dir, seed, limits)
            }
        }
    }

    /// What the task is, as a hash: for the demo, its generator's version; for a registered
    /// task, its name, its formatter's version and the contents of every file in its data
    /// folder (the hub snapshot when no folder is given); for a task file, its text and the
    /// contents of the data files it names. Editing any of them changes the runs' identity.
    pub fn fingerprint(&self, data_dir: Option<&std::path::Path>) -> anyhow::Result<String> {
        use crate::store;
        match self {
            TaskRef::Demo => Ok(format!("demo-v{}", demo::VERSION)),
            TaskRef::File(path) => {
                let text = std::fs::read(path).map_err(|e| {
                    anyhow::anyhow!("cannot read task file {}: {e}", path.display())
                })?;
                let base = path.parent().unwrap_or(std::path::Path::new("."));
                let files = user::UserTask::read(path)?.files(base, data_dir)?;
                Ok(store::config_hash(&(
                    store::config_hash(&text),
                    store::files_fingerprint(base, &files)?,
                )))
            }
            TaskRef::Registered(task) => {
                let dir = registry::locate(task, data_dir)?;
                let files = store::files_under(&dir)?;
                Ok(store::config_hash(&(
                    task.name,
                    task.version,
                    store::files_fingerprint(&dir, &files)?,
                )))
            }
        }
    }
}

/// The pools of the task `name` ([`TaskRef::load`]).
pub fn load_pools(
    name: &str,
    data_dir: Option<&std::path::Path>,
    seed: u64,
    limits: (usize, usize),
) -> anyhow::Result<Pools> {
    TaskRef::parse(name)?.load(data_dir, seed, limits)
}

/// Write the splits a run of task `name` sees (train1, train2, test) into `out` as JSON lines
/// of text and label, for other tools to train on the very same examples (the end-to-end
/// benchmark against the reference does); returns each file written and its examples.
pub fn export_splits(
    name: &str,
    data_dir: Option<&std::path::Path>,
    (n_docs, n_test_docs): (usize, usize),
    seed: u64,
    out: &std::path::Path,
) -> anyhow::Result<Vec<(std::path::PathBuf, usize)>> {
    let pools = load_pools(name, data_dir, seed, (n_docs, n_test_docs))?;
    let splits = Splits::new(pools, n_docs, n_test_docs, seed);
    let mut written = Vec::new();
    for (split, examples) in [
        ("train1", &splits.train1),
        ("train2", &splits.train2),
        ("test", &splits.test),
    ] {
        let mut lines = Vec::new();
        for e in examples {
            serde_json::to_writer(
                &mut lines,
                &match &e.replies {
                    None => serde_json::json!({"text": e.text, "label": e.label}),
                    Some([a, b]) => serde_json::json!(
                        {"context": e.text, "reply_a": a, "reply_b": b, "label": e.label}
                    ),
                },
            )?;
            lines.push(b'\n');
        }
        let path = out.join(format!("{split}.jsonl"));
        crate::store::write_atomic(&path, &lines)?;
        written.push((path, examples.len()));
    }
    Ok(written)
}

/// A task's short name: a task file's stem (`tasks/sst2.toml` -> `sst2`), else the name.
pub fn short_name(name: &str) -> String {
    match TaskRef::parse(name) {
        Ok(TaskRef::File(path)) => path
            .file_stem()
            .map_or_else(|| name.to_owned(), |s| s.to_string_lossy().into_owned()),
        _ => name.to_owned(),
    }
}

/// What the task `name` is, as a hash ([`TaskRef::fingerprint`]).
pub fn task_fingerprint(name: &str, data_dir: Option<&std::path::Path>) -> anyhow::Result<String> {
    TaskRef::parse(name)?.fingerprint(data_dir)
}

/// Share of label-1 examples (NaN for an empty slice).
pub fn positive_rate(examples: &[Example]) -> f64 {
    examples.iter().filter(|e| e.label == 1).count() as f64 / examples.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize, tag: &str) -> Vec<Example> {
        (0..n)
            .map(|i| Example {
                text: format!("{tag}{i}"),
                label: (i % 2) as u8,
                replies: None,
            })
            .collect()
    }

    #[test]
    fn splits_take_sizes_and_halve_train() {
        let s = Splits::new(
            Pools {
                train: pool(100, "a"),
                test: pool(50, "b"),
            },
            40,
            20,
            3,
        );
        assert_eq!((s.train1.len(), s.train2.len(), s.test.len()), (20, 20, 20));
        let mut all: Vec<_> = s.train1.iter().chain(&s.train2).map(|e| &e.text).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 40, "train halves must not overlap");
    }

    #[test]
    fn splits_are_deterministic_and_seed_dependent() {
        let make = |seed| {
            Splits::new(
                Pools {
                    train: pool(100, "a"),
                    test: pool(50, "b"),
                },
                40,
                20,
                seed,
            )
        };
        assert_eq!(make(1).train1, make(1).train1);
        assert_ne!(make(1).train1, make(2).train1);
    }

    #[test]
    fn oversized_request_uses_everything() {
        let s = Splits::new(
            Pools {
                train: pool(10, "a"),
                test: pool(4, "b"),
            },
            1000,
            1000,
            0,
        );
        assert_eq!((s.train1.len(), s.train2.len(), s.test.len()), (5, 5, 4));
    }
}
