//! Dataset registry: formatting on fixtures in the Hugging Face hub's field layout, and
//! loading the real copies in `../shared/datasets` (original-release layouts).

use crate::common;

use std::path::Path;
use w2s::dataset::{load_pools, positive_rate, registry, Example};

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn jsonl(rows: &[serde_json::Value]) -> String {
    rows.iter().map(|r| r.to_string() + "\n").collect()
}

#[test]
fn sciq_formats_like_the_reference_with_a_seeded_coin() {
    let d = tempfile::tempdir().unwrap();
    let row = serde_json::json!({"question": "What gas do plants absorb?", "distractor1": "oxygen",
        "distractor2": "helium", "distractor3": "neon", "correct_answer": "carbon dioxide", "support": ""});
    let rows: Vec<_> = (0..40).map(|_| row.clone()).collect();
    write(d.path(), "train.jsonl", &jsonl(&rows));
    write(d.path(), "test.jsonl", &jsonl(&rows));
    let pools = load_pools("sciq", Some(d.path()), 3, (100, 100)).unwrap();
    assert_eq!(pools.train.len(), 40);
    for e in &pools.train {
        let expected_answer = if e.label == 1 { "carbon dioxide" } else { "" };
        assert!(
            e.text.starts_with("Q: What gas do plants absorb? A: "),
            "{}",
            e.text
        );
        if e.label == 1 {
            assert!(e.text.ends_with(expected_answer));
        } else {
            assert!(
                ["oxygen", "helium", "neon"]
                    .iter()
                    .any(|d| e.text.ends_with(d)),
                "{}",
                e.text
            );
        }
    }
    let rate = positive_rate(&pools.train);
    assert!(rate > 0.2 && rate < 0.8, "coin flips, got {rate}");
    let again = load_pools("sciq", Some(d.path()), 3, (100, 100)).unwrap();
    assert_eq!(pools.train, again.train, "same seed, same coins");
    let other = load_pools("sciq", Some(d.path()), 4, (100, 100)).unwrap();
    assert_ne!(pools.train, other.train);
}

#[test]
fn boolq_cosmos_hh_amazon_hub_layouts() {
    let d = tempfile::tempdir().unwrap();
    let b = d.path().join("boolq");
    let row =
        serde_json::json!({"question": "is it wet", "passage": "Water is wet.", "answer": true});
    write(&b, "train.jsonl", &jsonl(std::slice::from_ref(&row)));
    write(&b, "validation.jsonl", &jsonl(&[row]));
    let p = load_pools("boolq", Some(&b), 0, (10, 10)).unwrap();
    assert_eq!(
        p.test[0],
        Example {
            text: "Passage: Water is wet.\nQuestion: is it wet".into(),
            label: 1,
            replies: None
        }
    );

    // cosmos_qa: a correct "None of the above choices ." is always a negative example.
    let c = d.path().join("cosmos");
    let none = serde_json::json!({"id": "1", "context": "C", "question": "Q", "answer0": "a",
        "answer1": "None of the above choices .", "answer2": "b", "answer3": "c", "label": 1});
    let normal = serde_json::json!({"id": "2", "context": "C", "question": "Q", "answer0": "a",
        "answer1": "right", "answer2": "b", "answer3": "c", "label": 1});
    write(&c, "train.jsonl", &jsonl(&vec![none.clone(); 20]));
    write(&c, "validation.jsonl", &jsonl(&vec![normal; 30]));
    let p = load_pools("cosmos_qa", Some(&c), 0, (100, 100)).unwrap();
    assert!(p
        .train
        .iter()
        .all(|e| e.label == 0 && !e.text.contains("None of the above")));
    assert!(p.train[0]
        .text
        .starts_with("Context: C\nQuestion: Q\nAnswer: "));
    for e in &p.test {
        assert_eq!(e.text.ends_with("right"), e.label == 1, "{e:?}");
    }

    let h = d.path().join("hh");
    let row = serde_json::json!({"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: go away"});
    write(
        &h,
        "harmless-base/train.jsonl",
        &jsonl(&vec![row.clone(); 10]),
    );
    write(&h, "harmless-base/test.jsonl", &jsonl(&vec![row; 10]));
    let p = load_pools("anthropic_hh", Some(&h), 0, (100, 100)).unwrap();
    for e in &p.train {
        assert_eq!(e.text.ends_with("hello"), e.label == 1);
    }
    let p = load_pools("anthropic_hh_pairs", Some(&h), 0, (100, 100)).unwrap();
    for e in &p.train {
        assert_eq!(e.text, "\n\nHuman: hi");
        let [a, _] = e.replies.as_ref().unwrap();
        assert_eq!(a == "Assistant: hello", e.label == 1);
    }

    let a = d.path().join("amazon");
    let row = serde_json::json!({"label": 0, "title": "Broke", "content": "fell apart in a day"});
    write(
        &a,
        "amazon_polarity/train-00000-of-00001.jsonl",
        &jsonl(std::slice::from_ref(&row)),
    );
    write(
        &a,
        "amazon_polarity/test-00000-of-00001.jsonl",
        &jsonl(&[row]),
    );
    let p = load_pools("amazon_polarity", Some(&a), 0, (10, 10)).unwrap();
    assert_eq!(
        p.train[0],
        Example {
            text: "Broke fell apart in a day".into(),
            label: 0,
            replies: None
        }
    );
}

#[test]
fn bad_inputs_name_the_place() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "train.jsonl",
        "{\"question\": \"q\", \"passage\": \"p\", \"answer\": \"perhaps\"}\n",
    );
    write(
        d.path(),
        "validation.jsonl",
        "{\"question\": \"q\", \"passage\": \"p\", \"answer\": true}\n",
    );
    let e = load_pools("boolq", Some(d.path()), 0, (10, 10))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("train.jsonl:1") && e.contains("`answer`") && e.contains("perhaps"),
        "{e}"
    );

    write(
        d.path(),
        "train.jsonl",
        "{\"question\": \"q\", \"answer\": true}\n",
    );
    let e = load_pools("boolq", Some(d.path()), 0, (10, 10))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("train.jsonl:1") && e.contains("no field `passage`"),
        "{e}"
    );

    let empty = tempfile::tempdir().unwrap();
    write(empty.path(), "train.jsonl", "");
    write(
        empty.path(),
        "validation.jsonl",
        "{\"question\": \"q\", \"passage\": \"p\", \"answer\": true}\n",
    );
    let e = load_pools("boolq", Some(empty.path()), 0, (10, 10))
        .unwrap_err()
        .to_string();
    assert!(e.contains("train split") && e.contains("empty"), "{e}");

    let e = load_pools("boolq", Some(Path::new("/no/such/dir")), 0, (10, 10))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/no/such/dir"), "{e}");
    let e = load_pools("nosuchtask", None, 0, (10, 10))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown dataset") && e.contains("sciq"), "{e}");
}

/// Every task with a copy in ../shared loads from it, with sane sizes and label balance.
#[test]
fn shared_copies_load() {
    let expect: &[(&str, usize, usize)] = &[
        // (task, train examples, test examples) with n_docs / n_test_docs = 100000
        ("sciq", 11679, 1000),
        ("boolq", 1635, 1635),        // validation only here: carved in halves
        ("cosmos_qa", 1492, 1493),    // validation only here: carved
        ("anthropic_hh", 4276, 4276), // test only here: carved
        ("cola", 8551, 1043),
        ("piqa", 919, 919), // validation only: carved
        ("openbookqa", 4957, 500),
        ("tweet_eval_sentiment", 0, 0), // checked below: neutral dropped
        ("anli_r2", 0, 0),
        ("wic", 5428, 638),       // TSV + gold T/F files; test = dev
        ("multirc", 27243, 4848), // nested SuperGLUE JSONL: one example per answer
        ("mc_taco", 9442, 3783),  // train = its test split, test = dev
        ("dream", 6116, 2041),    // JSON lists: one example per question
        ("quail", 278, 278),      // challenge split only here: carved
    ];
    let Some(root) = common::shared_datasets("shared_copies_load") else {
        return;
    };
    let mut report = String::new();
    for &(name, n_train, n_test) in expect {
        let dir = root.join(name);
        let pools = load_pools(name, Some(&dir), 0, (100_000, 100_000))
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        if n_train > 0 {
            assert_eq!(
                (pools.train.len(), pools.test.len()),
                (n_train, n_test),
                "{name}"
            );
        } else {
            assert!(pools.train.len() > 100 && pools.test.len() > 100, "{name}");
        }
        let rate = positive_rate(&pools.train);
        assert!(rate > 0.05 && rate < 0.95, "{name}: label balance {rate}");
        assert!(pools.train.iter().all(|e| !e.text.is_empty()), "{name}");
        report += &format!(
            "{name}: train {} test {} positive {:.3}\n",
            pools.train.len(),
            pools.test.len(),
            rate
        );
    }
    println!("{report}");
    assert!(registry::list().len() >= 12);
}

/// `anthropic_hh_pairs` from the shared copy of HH-RLHF: every example a context and two
/// final assistant replies, the chosen one first in about half of them, carved as
/// `anthropic_hh` is.
#[test]
fn anthropic_hh_pairs_from_the_shared_copy() {
    let Some(root) = common::shared_datasets("anthropic_hh_pairs_from_the_shared_copy") else {
        return;
    };
    let dir = root.join("anthropic_hh");
    let pools = load_pools("anthropic_hh_pairs", Some(&dir), 0, (100_000, 100_000)).unwrap();
    let single = load_pools("anthropic_hh", Some(&dir), 0, (100_000, 100_000)).unwrap();
    let all = pools.train.len() + pools.test.len();
    // The few dialogues whose two transcripts differ before the last turn are skipped.
    let whole = single.train.len() + single.test.len();
    assert!(all <= whole && all > whole - 100, "{all} of {whole}");
    let rate = positive_rate(&pools.train);
    assert!((0.45..0.55).contains(&rate), "chosen shown first in {rate}");
    for e in pools.train.iter().take(200) {
        let [a, b] = e.replies.as_ref().expect("a pair");
        assert!(
            a.starts_with("Assistant:") && b.starts_with("Assistant:"),
            "{a} / {b}"
        );
        assert!(e.text.contains("Human:") && !e.text.ends_with("Assistant:"));
    }
}

/// Hub-layout files (`<config>/<split>.jsonl`, field names as on the hub) for `task`.
fn hub_task(
    root: &Path,
    task: &str,
    config: Option<&str>,
    rows: &[serde_json::Value],
) -> std::path::PathBuf {
    let dir = root.join(task);
    let sub = config.map_or(dir.clone(), |c| dir.join(c));
    let t = registry::find(task).unwrap();
    write(&sub, &format!("{}.jsonl", t.train[0]), &jsonl(rows));
    write(&sub, &format!("{}.jsonl", t.test[0]), &jsonl(rows));
    dir
}

/// (task, config, row, a text piece every example has, the right answer if multiple choice)
type Case = (
    &'static str,
    Option<&'static str>,
    serde_json::Value,
    &'static str,
    Option<&'static str>,
);

/// The paper's tasks without a shared copy, each loaded from files laid out and named as on
/// the hub; multiple-choice ones show the right answer exactly when the label is 1.
#[test]
fn paper_tasks_load_from_hub_layouts() {
    use serde_json::json;
    let d = tempfile::tempdir().unwrap();
    let n = 40;
    let many =
        |v: serde_json::Value| -> Vec<serde_json::Value> { (0..n).map(|_| v.clone()).collect() };
    // (task, config, row, a text piece every example has, the right answer if multiple choice)
    let cases: Vec<Case> = vec![
        (
            "paws",
            Some("labeled_final"),
            json!({"id": 1, "sentence1": "A cat sat.", "sentence2": "A cat was sitting.", "label": 1}),
            "semantically equivalent",
            None,
        ),
        (
            "quartz",
            None,
            json!({"id": "q", "question": "More heat makes water?", "choices": {"text": ["warmer", "colder"], "label": ["A", "B"]}, "answerKey": "A", "para": "Heat warms things.", "para_id": "p"}),
            "Heat warms things.",
            Some("\"warmer\""),
        ),
        (
            "social_iqa",
            None,
            json!({"context": "Sam helped Ann.", "question": "How does Ann feel?", "answerA": "grateful", "answerB": "angry", "answerC": "bored", "label": "1"}),
            "Sam helped Ann.",
            Some("Is the answer \"grateful\""),
        ),
        (
            "hellaswag",
            None,
            json!({"ind": 1, "activity_label": "x", "ctx": "He opens the door", "endings": ["and walks in.", "and flies.", "and melts.", "and sings."], "source_id": "s", "split": "train", "split_type": "indomain", "label": "0"}),
            "He opens the door",
            Some("Is \"and walks in.\""),
        ),
        (
            "ethics_justice",
            Some("justice"),
            json!({"label": 1, "scenario": "I paid him because he did the work."}),
            "exemplify justice",
            None,
        ),
        (
            "ethics_deontology",
            Some("deontology"),
            json!({"label": 0, "scenario": "Can you feed the dog?", "excuse": "No, the dog is a cat."}),
            "morally valid excuse",
            None,
        ),
        (
            "ethics_virtue",
            Some("virtue"),
            json!({"label": 1, "scenario": "She gave away her lunch. [SEP] generous"}),
            "match the adjective",
            None,
        ),
        (
            "ethics_utilitarianism",
            Some("utilitarianism"),
            json!({"baseline": "I won a prize.", "less_pleasant": "I lost my keys."}),
            "Which is more pleasant?",
            None,
        ),
    ];
    for (task, config, row, piece, right) in cases {
        let dir = hub_task(d.path(), task, config, &many(row.clone()));
        let pools =
            load_pools(task, Some(&dir), 0, (100, 100)).unwrap_or_else(|e| panic!("{task}: {e:#}"));
        assert_eq!((pools.train.len(), pools.test.len()), (n, n), "{task}");
        for e in &pools.train {
            assert!(e.text.contains(piece), "{task}: {}", e.text);
            match right {
                Some(r) => assert_eq!(
                    e.text.contains(r),
                    e.label == 1,
                    "{task}: {} (label {})",
                    e.text,
                    e.label
                ),
                None if row.get("label").is_some() => {
                    assert_eq!(e.label as i64, row["label"].as_i64().unwrap(), "{task}")
                }
                None => {}
            }
        }
        if right.is_some() || task == "ethics_utilitarianism" {
            let rate = positive_rate(&pools.train);
            assert!(
                rate > 0.0 && rate < 1.0,
                "{task}: the coin never flipped ({rate})"
            );
        }
    }
    // Utilitarianism: the stated answer names the pleasant scenario exactly when label is 1.
    let dir = d.path().join("ethics_utilitarianism");
    for e in load_pools("ethics_utilitarianism", Some(&dir), 5, (100, 100))
        .unwrap()
        .train
    {
        let first_is_pleasant = e.text.contains("1) I won a prize.");
        let says_first = e.text.ends_with("A: 1");
        assert_eq!(first_is_pleasant == says_first, e.label == 1, "{}", e.text);
    }
}

/// A hub repository with several configs (`nyu-mll/glue`: `cola/`, `sst2/`, ...): a task reads
/// only its own config's files. zstd-compressed Parquet (polars' default) reads too.
#[test]
fn configs_pick_their_folder_and_zstd_parquet_reads() {
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use std::sync::Arc;
    let d = tempfile::tempdir().unwrap();
    let glue = d.path().join("glue");
    let parquet = |path: &Path, sentences: &[&str], labels: &[i64]| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let schema = Arc::new(
            parquet::schema::parser::parse_message_type(
                "message m { REQUIRED BYTE_ARRAY sentence (UTF8); REQUIRED INT64 label; }",
            )
            .unwrap(),
        );
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let file = std::fs::File::create(path).unwrap();
        let mut w = SerializedFileWriter::new(file, schema, Arc::new(props)).unwrap();
        let mut g = w.next_row_group().unwrap();
        let mut c = g.next_column().unwrap().unwrap();
        let v: Vec<ByteArray> = sentences.iter().map(|s| ByteArray::from(*s)).collect();
        c.typed::<ByteArrayType>()
            .write_batch(&v, None, None)
            .unwrap();
        c.close().unwrap();
        let mut c = g.next_column().unwrap().unwrap();
        c.typed::<Int64Type>()
            .write_batch(labels, None, None)
            .unwrap();
        c.close().unwrap();
        g.close().unwrap();
        w.close().unwrap();
    };
    for split in ["train", "validation"] {
        let f = format!("{split}-00000-of-00001.parquet");
        parquet(
            &glue.join("cola").join(&f),
            &["The book was read.", "Book the read was."],
            &[1, 0],
        );
        parquet(
            &glue.join("sst2").join(&f),
            &["a joyous film", "a dull film", "fine"],
            &[1, 0, 1],
        );
    }
    let cola = load_pools("cola", Some(&glue), 0, (100, 100)).unwrap();
    assert_eq!(
        (cola.train.len(), cola.test.len()),
        (2, 2),
        "only cola's files"
    );
    assert_eq!(cola.train[0].text, "The book was read.");
    let sst2 = load_pools("sst2", Some(&glue.join("sst2")), 0, (100, 100)).unwrap();
    assert_eq!(sst2.train.len(), 3);
}

/// `w2s datasets list` marks the tasks a test has loaded from real files; this file's tests
/// load every registered task, so every task must be marked.
#[test]
fn every_registered_task_is_loaded_by_a_test() {
    let tested = [
        "sciq",
        "boolq",
        "cosmos_qa",
        "anthropic_hh",
        "anthropic_hh_pairs",
        "amazon_polarity",
        "sst2",
        "cola",
        "piqa",
        "openbookqa",
        "anli_r2",
        "tweet_eval_sentiment",
        "wic",
        "multirc",
        "mc_taco",
        "dream",
        "quail",
        "paws",
        "quartz",
        "social_iqa",
        "hellaswag",
        "ethics_justice",
        "ethics_deontology",
        "ethics_virtue",
        "ethics_utilitarianism",
    ];
    for t in registry::TASKS {
        assert_eq!(t.tested, tested.contains(&t.name), "{}", t.name);
    }
    assert!(registry::TASKS.len() >= 20);
}

/// A user task naming a hub dataset, its config and its splits, read from files laid out as
/// the hub lays out a multi-config repository.
#[test]
fn user_task_from_a_hub_dataset_and_config() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("tweet_eval");
    let rows = |label: i64| -> String {
        (0..10)
            .map(|i| {
                format!(
                    "{{\"text\": \"tweet {i}\", \"label\": {}}}\n",
                    (i + label) % 2
                )
            })
            .collect()
    };
    write(&repo, "irony/train-00000-of-00001.jsonl", &rows(0));
    write(&repo, "irony/validation-00000-of-00001.jsonl", &rows(1));
    write(
        &repo,
        "emoji/train-00000-of-00001.jsonl",
        "{\"text\": \"x\", \"label\": 7}\n",
    );
    let task = d.path().join("irony.toml");
    std::fs::write(
        &task,
        "hub = \"cardiffnlp/tweet_eval\"\nconfig = \"irony\"\ntrain = \"train\"\ntest = \"validation\"\ntext = \"text\"\nlabel = \"label\"\n",
    )
    .unwrap();
    let pools = load_pools(task.to_str().unwrap(), Some(&repo), 0, (100, 100)).unwrap();
    assert_eq!((pools.train.len(), pools.test.len()), (10, 10));
    assert_eq!(
        pools.train[1],
        Example {
            text: "tweet 1".into(),
            label: 1,
            replies: None
        }
    );
    assert_eq!(
        pools.test[1].label, 0,
        "the validation split is the test split"
    );
}
