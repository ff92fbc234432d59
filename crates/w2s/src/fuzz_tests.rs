//! Random bytes and random edits of valid files, fed to everything that reads a user's or a
//! store's files: each must give a result or an error, never a panic.

use rand::{Rng, SeedableRng};
use std::path::Path;

/// A valid text with a few random edits (replaced, inserted or deleted bytes), or random
/// bytes outright.
fn mutate(rng: &mut rand_chacha::ChaCha8Rng, valid: &str) -> Vec<u8> {
    if rng.gen_bool(0.2) {
        let n = rng.gen_range(0..200);
        return (0..n).map(|_| rng.gen()).collect();
    }
    let mut b = valid.as_bytes().to_vec();
    for _ in 0..rng.gen_range(1..6) {
        let at = rng.gen_range(0..=b.len());
        match rng.gen_range(0..3) {
            0 if at < b.len() => b[at] = rng.gen(),
            1 => {
                let pool = b"{}[]=\"\n,0-.e";
                b.insert(at, pool[rng.gen_range(0..pool.len())])
            }
            _ if at < b.len() => {
                b.remove(at);
            }
            _ => {}
        }
    }
    b
}

/// `f` on `path` must not panic.
fn no_panic(what: &str, bytes: &[u8], f: impl FnOnce() + std::panic::UnwindSafe) {
    if std::panic::catch_unwind(f).is_err() {
        panic!("{what} panicked on {:?}", String::from_utf8_lossy(bytes));
    }
}

const RUN: &str = "dataset = \"demo\"\nn_docs = 40\nseed = 1\nmodel = \"bow\"\nweak_model = [\"bow\"]\n[train]\nloss = { name = \"logconf\", aux_coef = 0.3 }\nearly_stopping = { labels = \"weak\", every = 2 }\nrelabel = { probe = { name = \"knn\", k = 3 } }\nlora = { rank = 4 }\n[weak]\nepochs = 3\n";
const SWEEP: &str = "datasets = [\"demo\"]\nmodels = [\"bow\"]\nlosses = [\"xent\"]\nseeds = [0, 1]\n[model_train.\"bow\"]\nlr = 1e-2\n[methods.es]\nearly_stopping = \"weak\"\n";
const TASK: &str = "train = \"t.jsonl\"\ntest = \"t.jsonl\"\ntext = \"text\"\nlabel = \"label\"\n";
const DATA: &str = "{\"text\": \"good film\", \"label\": 1}\n{\"text\": \"bad film\", \"label\": 0}\n{\"text\": \"fine\", \"label\": 1}\n{\"text\": \"awful\", \"label\": 0}\n";

#[test]
fn random_files_give_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let write = |p: &Path, b: &[u8]| std::fs::write(p, b).unwrap();
    for _ in 0..300 {
        let run = mutate(&mut rng, RUN);
        write(&d.join("run.toml"), &run);
        no_panic("a run file", &run, || {
            if let Ok(f) = crate::config::RunFile::read(&d.join("run.toml")) {
                let _ = f.plan(false);
            }
        });
        let sweep = mutate(&mut rng, SWEEP);
        write(&d.join("sweep.toml"), &sweep);
        no_panic("a sweep file", &sweep, || {
            if let Ok(f) = crate::sweep::SweepFile::read(&d.join("sweep.toml")) {
                let _ = crate::sweep::plan(&f, false);
            }
        });
        let (task, data) = (mutate(&mut rng, TASK), mutate(&mut rng, DATA));
        write(&d.join("task.toml"), &task);
        write(&d.join("t.jsonl"), &data);
        let name = d.join("task.toml").to_string_lossy().into_owned();
        no_panic(
            "a task file",
            &[task.as_slice(), b"\n---\n", &data].concat(),
            || {
                let _ = crate::dataset::load_pools(&name, None, 0, (100, 100));
            },
        );
    }
}

#[test]
fn random_stored_results_are_invalid_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("gt-bow-s0-4183944060dc2aa5");
    std::fs::create_dir_all(&run).unwrap();
    let result = include_str!("../tests/data/result.json");
    let predictions = include_str!("../tests/data/predictions.json");
    std::fs::write(run.join("result.json"), result).unwrap();
    std::fs::write(run.join("predictions.json"), predictions).unwrap();
    assert!(
        matches!(
            crate::experiment::stored(&run),
            crate::experiment::Stored::Complete(_)
        ),
        "{:?}",
        crate::experiment::stored(&run)
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for i in 0..300 {
        let (r, p) = if i % 2 == 0 {
            (mutate(&mut rng, result), predictions.as_bytes().to_vec())
        } else {
            (result.as_bytes().to_vec(), mutate(&mut rng, predictions))
        };
        std::fs::write(run.join("result.json"), &r).unwrap();
        std::fs::write(run.join("predictions.json"), &p).unwrap();
        no_panic(
            "a stored result",
            &[r.as_slice(), b"\n---\n", &p].concat(),
            || {
                let _ = crate::experiment::stored(&run);
            },
        );
    }
}
