//! Every number w2s shows is right or absent (issue 30's probes, as tests): numbers that are
//! not finite are refused where they are given, a stored result and the caches check
//! themselves, no table prints a PGR from a gap within noise, sweeps keep the run file's
//! bounds.

use super::{minilm, run_folders, stderr, w2s};
use std::path::Path;
use std::process::Output;

/// No panic, abort or C++ exception: an error that says what is wrong, exit 1 or 2.
fn refused(o: &Output, what: &str) -> String {
    let err = stderr(o);
    assert!(!o.status.success(), "{what}: accepted\n{err}");
    assert!(
        matches!(o.status.code(), Some(1) | Some(2)),
        "{what}: {:?} {err}",
        o.status
    );
    for bad in [
        "panicked",
        "RUST_BACKTRACE",
        "terminate called",
        "Exception raised from",
    ] {
        assert!(!err.contains(bad), "{what}: {err}");
    }
    err
}

fn bow_run(results: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--model",
        "bow",
        "--n-docs",
        "200",
        "--n-test-docs",
        "100",
        "--results",
        results.to_str().unwrap(),
    ];
    args.extend(extra);
    w2s(&args)
}

#[test]
fn numbers_that_are_not_finite_or_absurd_are_refused_where_they_are_given() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r");
    for v in ["nan", "NaN", "inf", "-inf", "1e400", "1e300"] {
        for flag in ["--lr", "--weak-lr"] {
            let arg = format!("{flag}={v}");
            let err = refused(&bow_run(&results, &["--weak-model", "bow", &arg]), &arg);
            assert!(err.contains("lr") || err.contains(v), "{arg}: {err}");
        }
    }
    assert!(!results.exists(), "nothing was trained or stored");
    // In a run file: the error names the file and the line.
    let cases = [
        "[train]\nlr = nan\n",
        "[train]\nlr = inf\n",
        "[weak]\nlr = -inf\n",
        "[train]\nloss = { name = \"logconf\", aux_coef = nan }\n",
        "[train]\nloss = { name = \"window\", radius = nan }\n",
        "[train]\nloss = { name = \"product\", alpha = 1e300 }\n",
        "[train]\nearly_stopping = { labels = \"weak\", val_frac = nan }\n",
        "[train]\nlr = 1e300\n",
    ];
    for case in cases {
        let file = dir.path().join("run.toml");
        std::fs::write(
            &file,
            format!("model = \"bow\"\nweak_model = \"bow\"\nn_docs = 200\n{case}"),
        )
        .unwrap();
        let err = refused(
            &w2s(&[
                "run",
                file.to_str().unwrap(),
                "--results",
                results.to_str().unwrap(),
            ]),
            case,
        );
        assert!(
            err.contains("run.toml") || err.contains("lr = 1e300") || err.contains("at most"),
            "{case}: {err}"
        );
        if case.contains("nan") || case.contains("inf") {
            assert!(
                err.contains("line") && err.contains("finite"),
                "{case}: {err}"
            );
        }
    }
    // In a sweep's [methods.*] table.
    let sweep = dir.path().join("sweep.toml");
    std::fs::write(
        &sweep,
        "datasets = [\"demo\"]\nmodels = [\"bow\"]\nseeds = [0]\n[methods.fast]\nlr = nan\n",
    )
    .unwrap();
    let err = refused(
        &w2s(&["sweep", sweep.to_str().unwrap(), "--dry-run"]),
        "[methods] lr = nan",
    );
    assert!(
        err.contains("sweep.toml") && err.contains("line") && err.contains("finite"),
        "{err}"
    );
    assert!(!results.exists(), "nothing was trained or stored");
}

#[test]
fn no_table_prints_a_pgr_from_a_gap_within_noise() {
    let dir = tempfile::tempdir().unwrap();
    // The same model and options as supervisor and ceiling: a gap of exactly nothing.
    let o = bow_run(&dir.path().join("r"), &["--weak-model", "bow"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("no measurable gap: ceiling - weak = +0.0 points"),
        "{out}"
    );
    let last = out
        .lines()
        .find(|l| l.trim_start().starts_with('0'))
        .unwrap();
    assert!(last.ends_with("n/a"), "{out}");
}

/// Edit a stored result's JSON with `f` (valid JSON throughout).
fn edit_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[test]
fn a_stored_result_that_does_not_check_out_is_listed_and_redone() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r");
    for seed in ["0", "1"] {
        let o = bow_run(&results, &["--seed", seed]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let folders = run_folders(&results);
    assert_eq!(folders.len(), 2);
    let original = |f: &Path| std::fs::read(f.join("result.json")).unwrap();
    // What decides a result (timings aside): its accuracy, analysis and predictions.
    let outcome = |bytes: &[u8]| {
        let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        (
            v["hash"].clone(),
            v["test_accuracy"].clone(),
            v["analysis"].clone(),
            v["predictions_sha256"].clone(),
        )
    };
    let (a, b) = (original(&folders[0]), original(&folders[1]));
    let report = || {
        let o = w2s(&["report", results.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let seed_of = |f: &Path| -> String {
        let v: serde_json::Value = serde_json::from_slice(&original(f)).unwrap();
        v["spec"]["seed"].to_string()
    };
    // Each folder's seed, read before any file is edited.
    let seeds: Vec<String> = folders.iter().map(|f| seed_of(f)).collect();
    let rerun = |f: &Path| {
        let seed = &seeds[folders.iter().position(|x| x == f).unwrap()];
        let o = bow_run(&results, &["--seed", seed]);
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    // 1. An accuracy edited in result.json (valid JSON, a plausible share).
    edit_json(&folders[0].join("result.json"), |v| {
        v["test_accuracy"] = 0.99.into()
    });
    let text = report();
    assert!(
        text.contains("not a valid result") && text.contains("test accuracy 0.99"),
        "{text}"
    );
    assert!(rerun(&folders[0]).contains("training it again"));
    assert_eq!(
        outcome(&original(&folders[0])),
        outcome(&a),
        "retrained to the same result"
    );
    // 2. The AUROC edited.
    edit_json(&folders[0].join("result.json"), |v| {
        v["analysis"]["auroc"] = 0.5.into()
    });
    assert!(report().contains("AUROC"), "{}", report());
    rerun(&folders[0]);
    // 3. predictions.json with its labels flipped: no longer the file the result was made from.
    edit_json(&folders[0].join("predictions.json"), |v| {
        for l in v["test_labels"].as_array_mut().unwrap() {
            *l = (1 - l.as_u64().unwrap()).into();
        }
    });
    assert!(report().contains("checksum"), "{}", report());
    rerun(&folders[0]);
    // 4. One run's files copied into the other's folder, the hash rewritten to fit it.
    let hash = |f: &Path| {
        f.file_name()
            .unwrap()
            .to_string_lossy()
            .rsplit('-')
            .next()
            .unwrap()
            .to_owned()
    };
    let (ha, hb) = (hash(&folders[0]), hash(&folders[1]));
    for name in ["result.json", "predictions.json"] {
        let text = std::fs::read_to_string(folders[0].join(name)).unwrap();
        std::fs::write(folders[1].join(name), text.replace(&ha, &hb)).unwrap();
    }
    let text = report();
    assert!(
        text.contains("is not the run its configuration describes"),
        "{text}"
    );
    rerun(&folders[1]);
    assert_eq!(outcome(&original(&folders[1])), outcome(&b));
    assert!(!report().contains("not a valid result"));
}

/// Every `RESULTS/<hidden>/*.<ext>` cache file.
fn caches(results: &Path, hidden: &str, ext: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(results.join(hidden))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

#[test]
fn corrupt_caches_are_rebuilt_and_change_no_prediction() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r");
    let model = minilm();
    let run = |force: bool| {
        let mut args = vec![
            "run",
            "--model",
            model.to_str().unwrap(),
            "--linear-probe",
            "--lr",
            "1e-3",
            "--n-docs",
            "120",
            "--n-test-docs",
            "60",
            "--max-ctx",
            "64",
            "--results",
            results.to_str().unwrap(),
        ];
        if force {
            args.push("--force");
        }
        let o = w2s(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    run(false);
    let folder = run_folders(&results).pop().unwrap();
    let predictions = || std::fs::read(folder.join("predictions.json")).unwrap();
    let first = predictions();
    let tokens = caches(&results, ".tokens", "json");
    let features = caches(&results, ".features", "safetensors");
    assert!(!tokens.is_empty() && !features.is_empty());
    // A token id far outside the vocabulary, its checksum rewritten to match (a bug, not bit
    // rot): the range check catches it. Then a negative id with the old checksum.
    let mut cache: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&tokens[0]).unwrap()).unwrap();
    cache["ids"][0][1] = 1_000_000_000_000i64.into();
    let ids = serde_json::to_vec(&cache["ids"]).unwrap();
    cache["sha256"] = sha2::Sha256::digest(&ids)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into();
    std::fs::write(&tokens[0], serde_json::to_vec(&cache).unwrap()).unwrap();
    let text = std::fs::read_to_string(&tokens[tokens.len() - 1]).unwrap();
    std::fs::write(tokens.last().unwrap(), text.replacen("[101,", "[-5,", 1)).unwrap();
    // Every features cache with a byte of its data changed (still a valid safetensors file).
    for f in &features {
        let mut bytes = std::fs::read(f).unwrap();
        let n = bytes.len();
        bytes[n - 7] ^= 0x40;
        std::fs::write(f, bytes).unwrap();
    }
    let err = run(true);
    assert!(
        err.contains("outside the model's vocabulary") && err.contains("tokenizing again"),
        "{err}"
    );
    assert!(
        err.contains("checksum does not match") && err.contains("computing the features again"),
        "{err}"
    );
    assert_eq!(predictions(), first, "the same predictions, bit for bit");
    // Emptied rows: rebuilt too.
    std::fs::write(&tokens[0], "{\"sha256\": \"00\", \"ids\": []}").unwrap();
    assert!(run(true).contains("tokenizing again"));
    assert_eq!(predictions(), first);
}

#[test]
fn sweeps_keep_the_run_files_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = dir.path().join("sweep.toml");
    std::fs::write(
        &sweep,
        "datasets = [\"demo\"]\nmodels = [\"bow\"]\nseeds = [0]\nlosses = [\"xent\"]\niterations = 130\n",
    )
    .unwrap();
    let err = refused(
        &w2s(&["sweep", sweep.to_str().unwrap(), "--dry-run"]),
        "iterations = 130",
    );
    assert!(err.contains("at most 100"), "{err}");
    std::fs::write(&sweep, "datasets = [\"demo\"]\nmodels = [\"bow\"]\nseeds = [0]\nlosses = [\"xent\"]\nn_docs = 100\n").unwrap();
    let err = refused(
        &w2s(&["sweep", sweep.to_str().unwrap(), "--jobs", "0"]),
        "--jobs 0",
    );
    assert!(err.contains("1 or more"), "{err}");
    for bad in ["with\ttab", "per%jcent"] {
        let results = dir.path().join(bad);
        let err = refused(
            &w2s(&[
                "sweep",
                sweep.to_str().unwrap(),
                "--executor",
                "slurm",
                "--results",
                results.to_str().unwrap(),
            ]),
            bad,
        );
        assert!(err.contains("slurm executor cannot use"), "{bad}: {err}");
    }
}

#[test]
fn concurrent_sweeps_each_count_what_they_trained() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r");
    let sweep = dir.path().join("sweep.toml");
    std::fs::write(
        &sweep,
        format!("results = {results:?}\ndatasets = [\"demo\"]\nmodels = [\"bow\"]\nseeds = [0, 1, 2]\nlosses = [\"xent\"]\nn_docs = 300\nn_test_docs = 100\n"),
    )
    .unwrap();
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_w2s"))
            .args(["sweep", sweep.to_str().unwrap(), "--jobs", "1", "-v"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let counted = |c: std::process::Child| {
        let o = c.wait_with_output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "{out}{}", stderr(&o));
        let line = out
            .lines()
            .find(|l| l.starts_with("trained "))
            .unwrap()
            .to_owned();
        let nums: Vec<usize> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .take(2)
            .map(|s| s.parse().unwrap())
            .collect();
        (nums[0], nums[1])
    };
    let ((ta, ra), (tb, rb)) = (counted(a), counted(b));
    assert_eq!(
        (ta + ra, tb + rb),
        (6, 6),
        "each sweep accounts for every run"
    );
    assert_eq!(ta + tb, 6, "every run trained once in all: {ta} + {tb}");
    // Each sweep process wrote its own worker logs.
    let logs: Vec<String> = std::fs::read_dir(results.join(".sweep/logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let pids: std::collections::HashSet<&str> = logs
        .iter()
        .filter_map(|l| l.trim_end_matches(".log").rsplit('-').next())
        .collect();
    assert!(pids.len() <= 2 && logs.len() >= 6, "{logs:?}");
}
