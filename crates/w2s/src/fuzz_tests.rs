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

#[test]
fn random_caches_are_rebuilt_never_used_never_panics() {
    use tch::Tensor;
    let dir = tempfile::tempdir().unwrap();
    let (tokens, features) = (dir.path().join("t.json"), dir.path().join("f.safetensors"));
    // A whole tokens cache of two sequences, as the runner writes it.
    let ids: Vec<Vec<i64>> = vec![vec![101, 7592, 102], vec![101, 102]];
    let sum = crate::store::sha256_hex(&serde_json::to_vec(&ids).unwrap());
    let valid = serde_json::json!({ "sha256": sum, "ids": ids }).to_string();
    std::fs::write(&tokens, &valid).unwrap();
    assert_eq!(
        crate::run::cache::cached_tokens(&tokens, 2, 30522),
        Some(ids.clone())
    );
    assert_eq!(
        crate::run::cache::cached_tokens(&tokens, 3, 30522),
        None,
        "rows"
    );
    assert_eq!(
        crate::run::cache::cached_tokens(&tokens, 2, 7000),
        None,
        "id range"
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    for _ in 0..300 {
        let bytes = mutate(&mut rng, &valid);
        std::fs::write(&tokens, &bytes).unwrap();
        no_panic("a tokens cache", &bytes, || {
            let got = crate::run::cache::cached_tokens(&tokens, 2, 30522);
            // Whatever it returns is the valid content: an edit is never used.
            assert!(got.is_none() || got == Some(ids.clone()), "{got:?}");
        });
    }
    // A features cache: the tensor and its checksum.
    let f = Tensor::from_slice(&[0.5f32, -1.0, 2.0, 0.25, 3.0, -0.75]).view([3, 2]);
    let sum = Tensor::from_slice(&crate::run::cache::tensor_sha256(&f));
    tch::Tensor::write_safetensors(&[("features", &f), ("sha256", &sum)], &features).unwrap();
    assert!(crate::run::cache::cached_features(&features, 3).is_some());
    assert!(
        crate::run::cache::cached_features(&features, 4).is_none(),
        "rows"
    );
    let scaled = &f * 100.0;
    tch::Tensor::write_safetensors(&[("features", &scaled), ("sha256", &sum)], &features).unwrap();
    assert!(
        crate::run::cache::cached_features(&features, 3).is_none(),
        "content"
    );
    tch::Tensor::write_safetensors(&[("features", &f), ("sha256", &sum)], &features).unwrap();
    let whole = std::fs::read(&features).unwrap();
    for _ in 0..200 {
        let mut bytes = whole.clone();
        for _ in 0..rng.gen_range(1..4) {
            let at = rng.gen_range(0..bytes.len());
            bytes[at] = rng.gen();
        }
        if rng.gen_bool(0.2) {
            bytes.truncate(rng.gen_range(0..bytes.len()));
        }
        std::fs::write(&features, &bytes).unwrap();
        no_panic("a features cache", &bytes, || {
            if let Some(got) = crate::run::cache::cached_features(&features, 3) {
                assert!(
                    bool::try_from(got.eq_tensor(&f).all()).unwrap(),
                    "an edit was used"
                );
            }
        });
    }
}

/// A result stored before ties counted half holds the argmax accuracy: it is still valid, and
/// is read with the accuracy today's rule gives its predictions; an accuracy neither rule
/// gives is not.
#[test]
fn a_result_from_before_the_tie_rule_is_read_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("gt-bow-s0-4183944060dc2aa5");
    std::fs::create_dir_all(&run).unwrap();
    let mut result: serde_json::Value =
        serde_json::from_str(include_str!("../tests/data/result.json")).unwrap();
    let mut predictions: serde_json::Value =
        serde_json::from_str(include_str!("../tests/data/predictions.json")).unwrap();
    // Example 0 (label 1) becomes a tie: argmax gives class 0, wrong; today it counts half.
    predictions["test"][0] = serde_json::json!([0.5, 0.5]);
    let probs: Vec<[f32; 2]> = serde_json::from_value(predictions["test"].clone()).unwrap();
    let labels: Vec<u8> = serde_json::from_value(predictions["test_labels"].clone()).unwrap();
    let old = crate::metrics::accuracy_ties_as_class_0(&probs, &labels);
    let new = crate::metrics::accuracy(&probs, &labels);
    assert!((new - old - 0.5 / 12.0).abs() < 1e-12, "{old} {new}");
    result["analysis"]["auroc"] = serde_json::json!(crate::metrics::auroc(&probs, &labels));
    std::fs::write(run.join("predictions.json"), predictions.to_string()).unwrap();
    for (stored, expect) in [(old, Some(new)), (new, Some(new)), (old + 1.0 / 12.0, None)] {
        result["test_accuracy"] = serde_json::json!(stored);
        std::fs::write(run.join("result.json"), result.to_string()).unwrap();
        match (crate::experiment::stored(&run), expect) {
            (crate::experiment::Stored::Complete(r), Some(want)) => {
                assert_eq!(r.test_accuracy, want)
            }
            (crate::experiment::Stored::Invalid(why), None) => {
                assert!(why.contains("test accuracy"), "{why}")
            }
            (other, _) => panic!("stored accuracy {stored}: {other:?}"),
        }
    }
}
