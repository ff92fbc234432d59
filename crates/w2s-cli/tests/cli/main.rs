//! The `w2s` binary as a user meets it: help, errors that say what to do, a real run.

//!
//! One binary for the crate's integration tests, so that libtorch is linked once: this file
//! (help, errors, single runs) and `sweep.rs` (sweeps and reports).

mod sweep;
mod trust;

use std::process::{Command, Output};

fn w2s(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_w2s"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The error is one line starting with `error:` (plus nothing but log lines).
fn one_line_error(o: &Output) -> String {
    assert!(!o.status.success());
    let err: Vec<String> = stderr(o)
        .lines()
        .filter(|l| l.starts_with("error"))
        .map(str::to_owned)
        .collect();
    assert_eq!(err.len(), 1, "{}", stderr(o));
    err[0].clone()
}

#[test]
fn help_explains_commands_and_options() {
    let o = w2s(&["--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    for cmd in ["demo", "run", "datasets", "bench"] {
        assert!(out.contains(cmd), "{out}");
    }
    for cmd in ["run", "demo", "sweep", "report", "bench", "exec-run"] {
        let o = w2s(&[cmd, "--help"]);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let mut lines = out.lines().peekable();
        while let Some(l) = lines.next() {
            let l = l.trim_start();
            if l.starts_with("--") && !l.contains("  ") && !l.starts_with("--help") {
                // A flag whose help is on the next line(s): it must have some.
                let next = lines.peek().map_or("", |n| n.trim());
                assert!(
                    !next.is_empty() && !next.starts_with('-'),
                    "{cmd} {l}: no help"
                );
            }
        }
    }
}

/// A switch `w2s bench` shares with `w2s run` is written the same way (`--mixed-precision`,
/// `--mixed-precision=false`); the bag of words, which PyTorch has no counterpart of, is
/// refused with the reason.
#[test]
fn bench_spells_its_switches_as_run_does() {
    let (run, bench) = (flags("run"), flags("bench"));
    let switch = |name: &str| format!("{name}[=<BOOL>]");
    let shared: Vec<_> = bench
        .iter()
        .filter(|(name, _)| {
            run.iter()
                .any(|(n, h)| n == name && h.starts_with(&switch(n)))
        })
        .collect();
    assert!(shared.len() >= 4, "{shared:?}");
    for (name, help) in shared {
        assert!(help.starts_with(&switch(name)), "bench --{name}: {help}");
    }
    let o = w2s(&["bench", "--model", "bow", "--mixed-precision=false"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no PyTorch counterpart"),
        "{}",
        stderr(&o)
    );
}

/// `w2s run --help` as (flag, help text) pairs, continuation lines joined.
fn run_flags() -> Vec<(String, String)> {
    flags("run")
}

/// `w2s CMD --help` as (flag, the line from the flag's name on) pairs, continuation lines
/// joined.
fn flags(cmd: &str) -> Vec<(String, String)> {
    let o = w2s(&[cmd, "--help"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut flags: Vec<(String, String)> = Vec::new();
    for line in out.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("--").or_else(|| t.strip_prefix("-h, --")) {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            flags.push((name, rest.to_owned()));
        } else if let Some((_, help)) = flags.last_mut() {
            help.push(' ');
            help.push_str(t);
        }
    }
    flags
}

/// Each option is defined once: every key of a run file has its flag and every flag its key
/// (but a few flags about how to run, not what), and every default `--help` prints is the one
/// the code uses.
#[test]
fn every_config_key_is_a_flag_and_every_printed_default_is_the_codes() {
    use w2s::config::{keys, RunFile, RunPlan, TrainFields, STUDENT_ONLY};
    let flags = run_flags();
    let names: std::collections::BTreeSet<String> = flags.iter().map(|f| f.0.clone()).collect();
    let flag = |key: &str| key.replace('_', "-");
    let mut expected: std::collections::BTreeSet<String> = keys::<RunFile>()
        .into_iter()
        .filter(|k| !["train", "weak"].contains(k))
        .chain(keys::<TrainFields>())
        .map(flag)
        .collect();
    expected.extend(
        keys::<TrainFields>()
            .into_iter()
            .filter(|k| !STUDENT_ONLY.contains(k))
            .map(|k| format!("weak-{}", flag(k))),
    );
    // How to run, not what: not part of a config.
    expected.extend(["threads", "force", "help"].map(String::from));
    assert_eq!(
        names, expected,
        "flags of `w2s run` against the config's keys"
    );

    // The code's defaults: an empty config resolved, for a ground-truth run and an experiment.
    let gt: RunFile = toml::from_str("model = \"bow\"").unwrap();
    let RunPlan::GroundTruth(spec) = gt.plan(false).unwrap() else {
        panic!("a ground-truth plan")
    };
    let w2s_file: RunFile = toml::from_str("model = \"bow\"\nweak_model = \"bow\"").unwrap();
    let RunPlan::WeakToStrong(exp) = w2s_file.plan(false).unwrap() else {
        panic!("an experiment")
    };
    // Every training option's default, as written in a run's config.json.
    let options = serde_json::to_value(&spec.train).unwrap();
    let code: std::collections::BTreeMap<&str, String> = [
        ("dataset", spec.data.name.clone()),
        ("n-docs", spec.data.n_docs.to_string()),
        ("n-test-docs", spec.data.n_test_docs.to_string()),
        ("seed", spec.seed.to_string()),
        ("max-ctx", spec.max_ctx.to_string()),
        ("iterations", exp.iterations.to_string()),
        ("weak-model", "none".to_owned()),
    ]
    .into_iter()
    .collect();
    // Defaults described in words (they depend on the model, the device or the machine).
    let described = [
        "lr",
        "mixed-precision",
        "data-dir",
        "results",
        "device",
        "threads",
    ];
    for (name, help) in &flags {
        let Some(at) = help.find("[default: ") else {
            continue;
        };
        let printed: String = help[at + 10..]
            .chars()
            .take_while(|c| !matches!(c, ']' | ','))
            .collect();
        let train_flags: Vec<String> = keys::<TrainFields>().into_iter().map(flag).collect();
        if let Some(student) = name
            .strip_prefix("weak-")
            .filter(|s| train_flags.iter().any(|f| f == s))
        {
            let as_student = format!("as --{student}");
            assert!(
                printed == as_student || printed.starts_with("false; --"),
                "--{name}: [default: {printed}]"
            );
        } else if described.contains(&name.as_str()) {
            assert!(
                printed.contains(' '),
                "--{name}: a word default `{printed}` not checked"
            );
        } else if let Some(want) = code.get(name.as_str()) {
            assert_eq!(&printed, want, "--{name}: help and code disagree");
        } else {
            // A training option: its resolved value, as TrainOptions writes it in config.json.
            assert!(
                train_flags.contains(name),
                "--{name} prints [default: {printed}]: add it to `code` above"
            );
            let key = name.replace('-', "_");
            let value = &options[key.as_str()];
            let ok = match value {
                // Unset (an optional method) or skipped as false: any word for nothing.
                serde_json::Value::Null | serde_json::Value::Bool(false) => {
                    ["off", "false", "0"].contains(&printed.as_str())
                }
                serde_json::Value::String(s) => printed == *s,
                // The loss, a table named by its `name`.
                serde_json::Value::Object(o) => o.get("name").is_some_and(|n| *n == *printed),
                // The minibatch is the batch unless set.
                _ if key == "minibatch_size" => {
                    printed == "batch_size" && value == &options["batch_size"]
                }
                serde_json::Value::Number(n) => printed == n.to_string(),
                serde_json::Value::Bool(true) => printed == "true",
                serde_json::Value::Array(_) => false,
            };
            assert!(
                ok,
                "--{name}: help prints [default: {printed}], the code uses {value}"
            );
        }
    }
}

#[test]
fn unknown_model_folder() {
    let e = one_line_error(&w2s(&["run", "--model", "./no/such/folder"]));
    assert!(e.contains("does not exist"), "{e}");
}

#[test]
fn broken_config_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, "model = \"bow\"\nseed = [oops\n").unwrap();
    let o = w2s(&["run", p.to_str().unwrap()]);
    assert!(!o.status.success());
    let s = stderr(&o);
    assert!(s.contains("bad.toml") && s.contains("line 2"), "{s}");
}

#[test]
fn missing_tokenizer_and_unsupported_family() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m");
    std::fs::create_dir(&m).unwrap();
    std::fs::write(
        m.join("config.json"),
        r#"{"model_type": "bert", "vocab_size": 10}"#,
    )
    .unwrap();
    let e = one_line_error(&w2s(&["run", "--model", m.to_str().unwrap()]));
    assert!(e.contains("no tokenizer.json"), "{e}");

    std::fs::write(m.join("config.json"), "{not json").unwrap();
    let e = one_line_error(&w2s(&["run", "--model", m.to_str().unwrap()]));
    assert!(
        e.contains("config.json") && e.contains("not valid JSON"),
        "{e}"
    );
}

#[test]
fn ground_truth_run_from_flags_then_reuse() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().to_str().unwrap();
    let args = [
        "run",
        "--model",
        "bow",
        "--n-docs",
        "400",
        "--n-test-docs",
        "200",
        "--results",
        results,
    ];
    let o = w2s(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("test accuracy"), "{out}");
    let again = w2s(&args);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        out,
        "a stored run is reused"
    );
}

/// The methods as a user switches them on: a config file with a student loss, early
/// stopping, relabelling and a strong-to-strong round, plus a flag.
#[test]
fn weak_to_strong_run_with_methods_from_a_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    std::fs::write(
        &config,
        "model = \"bow\"\nweak_model = \"bow\"\nn_docs = 600\nn_test_docs = 200\niterations = 1\n\
         [train]\nloss = \"adaptive\"\nearly_stopping = { labels = \"weak\", every = 5 }\n\
         [weak]\nepochs = 1\n",
    )
    .unwrap();
    let results = dir.path().join("results");
    let o = w2s(&[
        "run",
        config.to_str().unwrap(),
        "--relabel",
        "knn",
        "--results",
        results.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("adaptive+es+knn acc"), "{out}");
    assert!(out.contains("round 2"), "{out}");
    // Weak supervisor, ceiling, student and its second round (and the hidden folders of
    // locks and staging beside them).
    let runs = std::fs::read_dir(results.join("demo"))
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(runs, 4);
    // An unknown name is refused before anything runs, listing the names that exist.
    let o = w2s(&["run", "--model", "bow", "--relabel", "knearest"]);
    let e = one_line_error(&o);
    assert!(e.contains("knearest"), "{e}");
    assert!(stderr(&o).contains("knn, logreg"), "{}", stderr(&o));
}

#[test]
fn datasets_list_and_show() {
    let o = w2s(&["datasets", "list"]);
    let out = String::from_utf8_lossy(&o.stdout);
    for t in [
        "demo",
        "sciq",
        "boolq",
        "cosmos_qa",
        "anthropic_hh",
        "amazon_polarity",
    ] {
        assert!(out.contains(t), "{out}");
    }
    let o = w2s(&["datasets", "show", "demo", "--n", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("train: 20000 examples") && out.contains("--- label"),
        "{out}"
    );
}

fn minilm() -> std::path::PathBuf {
    std::env::var("W2S_MINILM")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../models/all-MiniLM-L6-v2")
        })
}

/// A run that cannot fit is refused before it trains, with options that would fit; taking
/// the advice, it runs. The device is made small with `W2S_MEMORY_LIMIT`.
#[test]
fn a_run_too_big_for_its_device_is_refused_with_what_would_fit() {
    let dir = tempfile::tempdir().unwrap();
    let model = minilm();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_w2s"))
            .args(["run", "--model", model.to_str().unwrap(), "--results"])
            .arg(dir.path())
            .args(["--n-docs", "64", "--n-test-docs", "32", "--epochs", "1"])
            .args(extra)
            .env("W2S_MEMORY_LIMIT", "700MB")
            .output()
            .unwrap()
    };
    let refused = run(&[]);
    let err = one_line_error(&refused);
    assert!(
        err.contains("needs about")
            && err.contains("Cpu (capped by W2S_MEMORY_LIMIT) has 700 MB")
            && err.contains("It would fit with `--lora`"),
        "{err}"
    );
    let results: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.ends_with("result.json"))
        .collect();
    assert!(results.is_empty(), "a refused run stores no result");
    let with_lora = run(&["--lora"]);
    assert!(with_lora.status.success(), "{}", stderr(&with_lora));
}

/// `--mixed-precision=false` means f32 for every run of the experiment, supervisor included.
#[test]
fn f32_asked_for_is_f32_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let model = minilm();
    let o = Command::new(env!("CARGO_BIN_EXE_w2s"))
        .args(["run", "--model", model.to_str().unwrap()])
        .args(["--weak-model", model.to_str().unwrap(), "--results"])
        .arg(dir.path())
        .args(["--n-docs", "64", "--n-test-docs", "32", "--epochs", "1"])
        .args(["--weak-epochs", "2", "--mixed-precision=false"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // Written with a space, the value would be read as a config file's name.
    let spaced = w2s(&["run", "--model", "bow", "--mixed-precision", "false"]);
    assert!(
        one_line_error(&spaced).contains("--mixed-precision=false"),
        "{}",
        stderr(&spaced)
    );
    let configs: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.ends_with("config.json") && p.to_string_lossy().contains("/demo/"))
        .collect();
    assert_eq!(configs.len(), 3, "weak, ceiling, student: {configs:?}");
    for c in configs {
        let text = std::fs::read_to_string(&c).unwrap();
        assert!(
            !text.contains("\"mixed_precision\": true"),
            "{}",
            c.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A hub id resolves through the Hugging Face cache layout (refs/main -> snapshots/<sha>)
/// with downloads forbidden; a missing id says what to do.
#[test]
fn hub_id_from_the_local_cache_offline() {
    let cache = tempfile::tempdir().unwrap();
    let repo = cache.path().join("models--acme--minilm");
    let snap = repo.join("snapshots/0123abcd");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "0123abcd").unwrap();
    for f in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        std::os::unix::fs::symlink(minilm().join(f).canonicalize().unwrap(), snap.join(f)).unwrap();
    }
    let results = tempfile::tempdir().unwrap();
    let run = |model: &str| {
        Command::new(env!("CARGO_BIN_EXE_w2s"))
            .args([
                "run",
                "--model",
                model,
                "--n-docs",
                "64",
                "--n-test-docs",
                "32",
                "--epochs",
                "1",
            ])
            .args(["--results", results.path().to_str().unwrap()])
            .env("HF_HUB_CACHE", cache.path())
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .unwrap()
    };
    let o = run("acme/minilm");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("test accuracy"));
    let e = one_line_error(&run("acme/nothere"));
    assert!(
        e.contains("HF_HUB_OFFLINE") && e.contains("acme/nothere"),
        "{e}"
    );
}

/// A multiple-choice dataset of one's own (context, question, three answers; the right one's
/// number in a side `.lst` file) becomes a task without a converter and runs end to end.
#[test]
fn multiple_choice_user_task_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let (mut rows, mut labels) = (String::new(), String::new());
    let colours = ["red", "green", "blue"];
    for i in 0..300 {
        let right = i % 3;
        rows += &format!(
            "{{\"context\": \"The ball number {i} is {}.\", \"question\": \"What colour is the ball?\", \"answers\": [\"red\", \"green\", \"blue\"]}}\n",
            colours[right]
        );
        labels += &format!("{right}\n");
    }
    std::fs::write(dir.path().join("balls.jsonl"), rows).unwrap();
    std::fs::write(dir.path().join("balls-labels.lst"), labels).unwrap();
    let task = dir.path().join("balls.toml");
    std::fs::write(
        &task,
        "train = \"balls.jsonl\"\ntrain_labels = \"balls-labels.lst\"\ntest = \"balls.jsonl\"\ntest_labels = \"balls-labels.lst\"\ntext = \"{context} Q: {question} A: {choice}\"\nchoices = \"answers\"\nlabel = \"right\"\n",
    )
    .unwrap();
    let o = w2s(&["datasets", "show", task.to_str().unwrap(), "--n", "2"]);
    let shown = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        shown.contains("train: 300 examples") && shown.contains("Q: What colour is the ball? A: "),
        "{shown}"
    );
    let results = dir.path().join("results");
    let o = w2s(&[
        "run",
        "--dataset",
        task.to_str().unwrap(),
        "--model",
        "bow",
        "--weak-model",
        "bow",
        "--n-docs",
        "300",
        "--n-test-docs",
        "300",
        "--results",
        results.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains("balls: 300 train") && out.contains("xent acc"),
        "{out}"
    );
    assert!(results.join("balls").is_dir());
}

/// A worker (a sweep slot or a Slurm array task) asked for a student whose supervisor has no
/// result trains nothing: it fails naming the supervisor and records why beside the run.
#[test]
fn a_worker_with_a_missing_supervisor_fails_and_records_it() {
    use w2s::plan::{Planner, Setting};
    let dir = tempfile::tempdir().unwrap();
    let at = Setting {
        data: w2s::experiment::DataSpec::new("demo", None, 200, 100).unwrap(),
        seed: 0,
        max_ctx: 64,
    };
    let none = Default::default();
    let exp = Planner::new(["bow"], false)
        .unwrap()
        .experiment(
            &at,
            &none,
            &[("bow", &none)],
            ("bow", &none),
            &Default::default(),
        )
        .unwrap();
    let spec = dir.path().join("student.json");
    w2s::store::write_json(&spec, &exp.students[0]).unwrap();
    let results = dir.path().join("results");
    let o = w2s(&[
        "exec-run",
        "--results",
        results.to_str().unwrap(),
        spec.to_str().unwrap(),
    ]);
    let e = one_line_error(&o);
    assert!(
        e.contains("supervisor") && e.contains("gt-bow") && e.contains("has no result"),
        "{e}"
    );
    let folder = exp.students[0].dir(&results);
    let failed = std::fs::read_to_string(folder.join("failed.json")).unwrap();
    assert!(failed.contains("has no result"), "{failed}");
    assert!(!exp.weak[0].dir(&results).join("result.json").exists());
}

/// The binary links libtorch's CUDA half whenever the libtorch it was built against has one:
/// without it libtorch sees no GPU (the linker drops a library nothing calls by name).
#[test]
fn the_binary_links_libtorch_cuda_when_libtorch_has_it() {
    let exe = env!("CARGO_BIN_EXE_w2s");
    let out = Command::new("readelf")
        .args(["-d", exe])
        .output()
        .expect("readelf (binutils) on PATH");
    let text = String::from_utf8_lossy(&out.stdout);
    let needed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next())
        .collect();
    let libtorch = text
        .lines()
        .filter(|l| l.contains("(RUNPATH)") || l.contains("(RPATH)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next())
        .flat_map(|paths| paths.split(':'))
        .map(std::path::PathBuf::from)
        .find(|d| d.join("libtorch_cpu.so").exists())
        .expect("libtorch's folder in the binary's run path");
    assert!(needed.contains(&"libtorch_cpu.so"), "{needed:?}");
    let has_cuda = libtorch.join("libtorch_cuda.so").exists();
    assert_eq!(
        needed.contains(&"libtorch_cuda.so"),
        has_cuda,
        "libtorch at {} {} libtorch_cuda.so; the binary needs {needed:?}",
        libtorch.display(),
        if has_cuda { "has" } else { "has no" }
    );
}

/// An option given once applies to supervisor and student, as the reference's
/// train_simple.py copies its config to the weak model; `--weak-*` overrides.
#[test]
fn options_given_once_apply_to_the_supervisor_too() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--model",
            "bow",
            "--weak-model",
            "bow",
            "--loss",
            "logconf",
            "--n-docs",
            "200",
            "--n-test-docs",
            "100",
            "--epochs",
            "3",
            "--lr",
            "0.02",
            "--results",
            results,
        ];
        args.extend(extra);
        let o = w2s(&args);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    // (epochs, lr, loss) of every stored run's config, supervisors and students.
    let configs = || {
        let mut v: Vec<(u64, f64, String, bool)> = walk(dir.path())
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|f| f == "config.json"))
            .map(|p| {
                let c: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
                let t = &c["train"];
                let loss = t["loss"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| t["loss"]["name"].as_str().unwrap().into());
                (
                    t["epochs"].as_u64().unwrap(),
                    t["lr"].as_f64().unwrap(),
                    loss,
                    c["supervisor"].is_null(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v
    };
    run(&[]);
    assert_eq!(
        configs(),
        [
            (3, 0.02, "logconf".into(), false),
            (3, 0.02, "xent".into(), true)
        ],
        "the supervisor (and ceiling, the same run here) trained 3 epochs at lr 0.02 with xent"
    );
    run(&["--weak-epochs", "1"]);
    let c = configs();
    assert!(c.contains(&(1, 0.02, "xent".into(), true)), "{c:?}");
    assert!(c.contains(&(3, 0.02, "logconf".into(), false)), "{c:?}");
}

/// The run folders under a results folder (hidden ones, locks and staging, left out).
fn run_folders(results: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for task in std::fs::read_dir(results).unwrap().flatten() {
        if task.file_name().to_string_lossy().starts_with('.') || !task.path().is_dir() {
            continue;
        }
        for run in std::fs::read_dir(task.path()).unwrap().flatten() {
            if !run.file_name().to_string_lossy().starts_with('.') && run.path().is_dir() {
                v.push(run.path());
            }
        }
    }
    v.sort();
    v
}

/// `kill -9` during `--force`: the old result stays, intact and reused.
#[test]
fn an_interrupted_forced_retrain_keeps_the_old_result() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r");
    let args = |force: bool| {
        let mut a = vec![
            "run",
            "--model",
            "bow",
            "--dataset",
            "demo",
            "--n-docs",
            "600",
            "--n-test-docs",
            "300",
            "--epochs",
            "400",
            "--results",
            results.to_str().unwrap(),
        ];
        if force {
            a.push("--force");
        }
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let first = Command::new(env!("CARGO_BIN_EXE_w2s"))
        .args(args(false))
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    let folder = run_folders(&results).pop().unwrap();
    let before = std::fs::read(folder.join("result.json")).unwrap();
    let log_before = std::fs::read(folder.join("train_log.jsonl")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_w2s"))
        .args(args(true))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it mid-training: once its staging folder has logged a few steps.
    let staging = folder
        .parent()
        .unwrap()
        .join(".staging")
        .join(folder.file_name().unwrap());
    let start = std::time::Instant::now();
    while std::fs::read_to_string(staging.join("train_log.jsonl")).map_or(0, |t| t.lines().count())
        < 5
    {
        assert!(
            start.elapsed().as_secs() < 120,
            "the retrain never started training"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the retrain finished before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read(folder.join("result.json")).unwrap(), before);
    assert_eq!(
        std::fs::read(folder.join("train_log.jsonl")).unwrap(),
        log_before,
        "the old log, not a mix"
    );
    // The old result is reported as it is: an interrupted retrain is no interrupted run.
    assert!(
        staging.exists(),
        "the killed retrain left its staging folder"
    );
    let out = dir.path().join("report");
    let o = w2s(&[
        "report",
        results.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        !text.contains("interrupted") && !text.contains("not in this report"),
        "{text}"
    );
    // Run again without --force: the old result is reused as it is, and the interrupted
    // retrain's staging folder is cleared.
    let again = Command::new(env!("CARGO_BIN_EXE_w2s"))
        .args(args(false))
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(again.stdout, first.stdout);
    assert_eq!(std::fs::read(folder.join("result.json")).unwrap(), before);
    assert!(!staging.exists(), "the stale staging folder is cleared");
}

/// Corrupt stored results are redone (run and sweep alike), and a report goes on past them.
#[test]
fn a_corrupt_result_is_redone_and_a_report_lists_it() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r");
    let cfg = dir.path().join("sweep.toml");
    std::fs::write(
        &cfg,
        format!(
            "results = {results:?}\ndatasets = [\"demo\"]\nmodels = [\"bow\"]\nseeds = [0, 1]\nn_docs = 200\nn_test_docs = 100\n"
        ),
    )
    .unwrap();
    let sweep = || {
        let o = w2s(&["sweep", cfg.to_str().unwrap(), "--jobs", "1"]);
        assert!(
            o.status.success(),
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(&o)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    sweep();
    let folders = run_folders(&results);
    assert_eq!(folders.len(), 4, "{folders:?}");
    std::fs::write(folders[0].join("result.json"), "").unwrap();
    std::fs::write(folders[1].join("predictions.json"), "{\"test\": [").unwrap();
    let o = w2s(&["report", results.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("not a valid result") && text.contains(&*folders[0].to_string_lossy()),
        "{text}"
    );
    assert!(text.contains(&*folders[1].to_string_lossy()), "{text}");
    let redo = sweep();
    assert!(redo.contains("trained 2, reused 2"), "{redo}");
    let o = w2s(&["report", results.to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("not a valid result"));
    // A crafted dataset name inside a stored result names no file outside the report.
    for f in run_folders(&results)
        .iter()
        .filter(|f| f.join("result.json").is_file())
    {
        let path = f.join("result.json");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("\"name\": \"demo\"", "\"name\": \"../../evil\""),
        )
        .unwrap();
    }
    let out = dir.path().join("out");
    let o = w2s(&[
        "report",
        results.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plots: Vec<String> = std::fs::read_dir(out.join("plots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        plots.iter().any(|p| p.contains("evil") && !p.contains('/')),
        "{plots:?}"
    );
    for outside in [
        dir.path().to_path_buf(),
        dir.path().parent().unwrap().to_path_buf(),
    ] {
        let evil = std::fs::read_dir(outside)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("evil"));
        assert!(!evil, "a plot was written outside the report folder");
    }
}

/// Files a run writes honour the umask, so a colleague can read a shared results folder; a
/// link planted where a run writes is not written through.
#[test]
fn stored_runs_are_readable_by_others_and_links_are_not_followed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let results = dir.path().join("r");
    let run = |extra: &str| {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask 022; exec \"$0\" run --model bow --n-docs 200 --n-test-docs 100 --results {} {extra}",
                results.display()
            ))
            .arg(env!("CARGO_BIN_EXE_w2s"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    };
    run("");
    let folder = run_folders(&results).pop().unwrap();
    for name in [
        "result.json",
        "predictions.json",
        "config.json",
        "train_log.jsonl",
    ] {
        let mode = std::fs::metadata(folder.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o644, "{name}");
    }
    let mode = std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755);
    // As another user (where this test runs as root, as CI does): the report reads it all.
    // That user must be able to reach the binary and libtorch at all: not where the checkout
    // sits below a private folder (`mktemp -d` makes them 0700).
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_w2s"));
    let private = exe
        .ancestors()
        .skip(1)
        .find(|a| std::fs::metadata(a).is_ok_and(|m| m.permissions().mode() & 0o001 == 0));
    if let Some(p) = private {
        eprintln!(
            "skipping the check as another user: {} is private (mode without o+x)",
            p.display()
        );
    } else if unsafe { libc::geteuid() } == 0
        && Command::new("setpriv").arg("--help").output().is_ok()
    {
        let out = tempfile::tempdir().unwrap();
        std::fs::set_permissions(out.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let o = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                env!("CARGO_BIN_EXE_w2s"),
                "report",
            ])
            .arg(&results)
            .arg("--out")
            .arg(out.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "as nobody: {}", stderr(&o));
        assert!(out.path().join("report.html").exists());
    }
    // A link where the run's log goes, pointing outside: the retrain replaces it, and the
    // file it pointed to is untouched.
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, "mine").unwrap();
    std::fs::remove_file(folder.join("train_log.jsonl")).unwrap();
    std::os::unix::fs::symlink(&outside, folder.join("train_log.jsonl")).unwrap();
    run("");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "mine");
    let log = std::fs::symlink_metadata(folder.join("train_log.jsonl")).unwrap();
    assert!(
        log.file_type().is_file(),
        "the stored run has its own log again"
    );
}

/// No panic or C++ exception reaches the user for any value of any numeric flag: an error
/// naming the problem, or a correct run.
#[test]
fn absurd_flag_values_give_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().to_str().unwrap();
    let flags = [
        "--n-docs",
        "--n-test-docs",
        "--seed",
        "--max-ctx",
        "--lr",
        "--epochs",
        "--batch-size",
        "--minibatch-size",
        "--iterations",
        "--threads",
        "--weak-lr",
        "--weak-epochs",
        "--weak-batch-size",
        "--weak-minibatch-size",
        "--device",
    ];
    let values = [
        "0",
        "-1",
        "nan",
        "inf",
        "-inf",
        "1e400",
        "1e20",
        "abc",
        "",
        "99999999999999999999999",
        "mps",
        "cuda:7",
    ];
    for flag in flags {
        for value in values {
            let arg = format!("{flag}={value}");
            let mut child = Command::new(env!("CARGO_BIN_EXE_w2s"))
                .args([
                    "run",
                    "--model",
                    "bow",
                    "--weak-model",
                    "bow",
                    "--n-docs",
                    "40",
                    "--n-test-docs",
                    "20",
                    "--results",
                    results,
                    &arg,
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let start = std::time::Instant::now();
            while child.try_wait().unwrap().is_none() {
                if start.elapsed().as_secs() > 60 {
                    child.kill().unwrap();
                    panic!("{arg}: still running after 60 s");
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let o = child.wait_with_output().unwrap();
            let err = stderr(&o);
            for bad in [
                "panicked",
                "RUST_BACKTRACE",
                "terminate called",
                "libc++abi",
                "Exception raised from",
            ] {
                assert!(!err.contains(bad), "{arg}: {err}");
            }
            assert!(o.status.success() || err.contains("error"), "{arg}: {err}");
            if !o.status.success() {
                assert!(
                    matches!(o.status.code(), Some(1) | Some(2)),
                    "{arg}: {:?} {err}",
                    o.status
                );
            }
        }
    }
}

/// Values out of range and unknown keys in a config are refused, naming them.
#[test]
fn config_values_are_checked_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[train]\nloss = { name = \"logconf\", aux_coeff = 0.9 }\n",
            "aux_coeff",
        ),
        (
            "[train]\nloss = { name = \"logconf\", aux_coef = -5 }\n",
            "aux_coef = -5",
        ),
        (
            "[train]\nloss = { name = \"logconf\", warmup_frac = 7 }\n",
            "warmup_frac = 7",
        ),
        (
            "[train]\nrelabel = { probe = { name = \"knn\", kk = 3 } }\n",
            "kk",
        ),
        ("[train]\nlora = { rank = 8, alphaa = 3 }\n", "alphaa"),
        (
            "[train]\nearly_stopping = { val_frac = 2.0 }\n",
            "val_frac = 2",
        ),
        ("[train]\nepochs = 0\n", "epochs = 0"),
        ("[train]\nlr = -1.0\n", "lr = -1"),
    ];
    for (i, (body, needle)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("c{i}.toml"));
        std::fs::write(&path, format!("model = \"bow\"\n{body}")).unwrap();
        let o = w2s(&[
            "run",
            path.to_str().unwrap(),
            "--results",
            dir.path().to_str().unwrap(),
        ]);
        // One error naming the key and value; an unknown key is a parse error naming the
        // file and its line (the snippet below the first line).
        let first = one_line_error(&o);
        assert!(stderr(&o).contains(needle), "{body}: {}", stderr(&o));
        if !needle.contains('=') {
            assert!(
                first.contains(&*path.to_string_lossy()) && first.contains("line 3"),
                "{body}: {first}"
            );
        }
    }
    // A sweep's per-model table must name a model of the sweep.
    let sweep = dir.path().join("s.toml");
    std::fs::write(
        &sweep,
        "datasets = [\"demo\"]\nmodels = [\"bow\"]\n[model_train.\"bwo\"]\nlr = 1e-2\n",
    )
    .unwrap();
    let err = one_line_error(&w2s(&["sweep", sweep.to_str().unwrap(), "--dry-run"]));
    assert!(
        err.contains("bwo") && err.contains("names no model"),
        "{err}"
    );
}

/// Broken runs fail with the real reason instead of being stored.
#[test]
fn broken_runs_fail_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut a = vec!["run", "--model", "bow", "--results", r];
        a.extend(extra);
        one_line_error(&w2s(&a))
    };
    let small = ["--n-docs", "200", "--n-test-docs", "100"];
    assert!(run(&[&small[..], &["--lr", "10"]].concat()).contains("diverged"));
    let err = run(&["--n-docs", "200", "--n-test-docs", "0"]);
    assert!(
        err.contains("n_test_docs = 0") && !err.contains("max_ctx"),
        "{err}"
    );
    let err = run(&["--n-docs", "3", "--n-test-docs", "100"]);
    assert!(
        err.contains("n_docs = 3") && !err.contains("max_ctx"),
        "{err}"
    );
    // Nothing was stored for them; their failures are recorded and listed.
    let o = w2s(&["report", r]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned() + &stderr(&o);
    assert!(text.contains("diverged"), "{text}");
    // A single-class training set.
    let data = dir.path().join("one.jsonl");
    std::fs::write(
        &data,
        (0..60)
            .map(|i| format!("{{\"text\": \"row {i}\", \"label\": 1}}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let task = dir.path().join("one.toml");
    std::fs::write(
        &task,
        "train = \"one.jsonl\"\ntest = \"one.jsonl\"\ntext = \"text\"\nlabel = \"label\"\n",
    )
    .unwrap();
    let err = run(&[
        "--dataset",
        task.to_str().unwrap(),
        "--n-docs",
        "40",
        "--n-test-docs",
        "20",
    ]);
    assert!(!err.contains("max_ctx"), "{err}");
    assert!(err.contains("both classes"), "{err}");
}
