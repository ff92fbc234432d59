//! Dataset registry: formatting on fixtures in the Hugging Face hub's field layout, and
//! loading the real copies in `../shared/datasets` (original-release layouts).

mod common;

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
            label: 1
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
            label: 0
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
