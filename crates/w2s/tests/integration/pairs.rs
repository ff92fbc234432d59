//! Pairwise tasks (reward modelling): a pair's logits are the difference of its two replies'
//! logits, so the two orders of a pair are exact mirror images, and a user's pairwise TOML
//! task runs weak-to-strong end to end.

use crate::common;

use tch::{Device, Tensor};
use w2s::dataset::Example;
use w2s::experiment::{DataSpec, Experiment, Runner};
use w2s::model::{pad_batch, split_pair, Classifier, PAIR_SEP};
use w2s::train::{self, Inputs};

const PAIRS: [(&str, &str, &str); 3] = [
    (
        "Human: how do I bake bread?",
        "Assistant: mix flour, water and yeast, then bake.",
        "Assistant: no.",
    ),
    (
        "Human: hi",
        "Assistant: hello! how can I help?",
        "Assistant: go away",
    ),
    (
        "Human: what is 2 + 2?",
        "Assistant: 4",
        "Assistant: I would rather not say, it is a long story",
    ),
];

/// The tokens of every pair in both orders.
fn both_orders(model: &Classifier) -> (Vec<Vec<i64>>, Vec<Vec<i64>>) {
    let contexts: Vec<&str> = PAIRS.iter().map(|p| p.0).collect();
    let ab: Vec<[&str; 2]> = PAIRS.iter().map(|p| [p.1, p.2]).collect();
    let ba: Vec<[&str; 2]> = PAIRS.iter().map(|p| [p.2, p.1]).collect();
    (
        model.encoder.encode_pairs(&contexts, &ab).unwrap(),
        model.encoder.encode_pairs(&contexts, &ba).unwrap(),
    )
}

/// A head that is not zero (it starts at zero, where every pair ties).
fn random_head(model: &Classifier) {
    tch::manual_seed(7);
    let _guard = tch::no_grad_guard();
    for (name, mut t) in model.vs.variables() {
        if name.starts_with(w2s::model::HEAD) {
            t.copy_(&(t.randn_like() * 0.5));
        }
    }
}

fn logits(model: &Classifier, ids: &[Vec<i64>]) -> Tensor {
    let seqs: Vec<&[i64]> = ids.iter().map(Vec::as_slice).collect();
    tch::no_grad(|| model.forward(&pad_batch(&seqs, model.encoder.pad_id(), Device::Cpu)))
}

fn assert_mirror(model: &Classifier, what: &str) {
    random_head(model);
    let (ab, ba) = both_orders(model);
    let (x, y) = (logits(model, &ab), logits(model, &ba));
    assert_eq!(x.size(), [3, 2], "{what}: one row of logits per pair");
    let gap = (&x + &y).abs().max().double_value(&[]);
    assert!(
        gap < 1e-5,
        "{what}: swapping the replies must negate the logits ({gap})"
    );
    assert!(
        x.abs().max().double_value(&[]) > 1e-3,
        "{what}: the scores differ"
    );
    // Rows 2i and 2i + 1 are one pair: the batch holds six sequences.
    let seqs: Vec<&[i64]> = ab.iter().map(Vec::as_slice).collect();
    let batch = pad_batch(&seqs, 0, Device::Cpu);
    assert!(batch.pairs && batch.ids.size()[0] == 6, "{what}");
}

#[test]
fn the_two_orders_of_a_pair_are_mirror_images() {
    let bow = Classifier::load_with("bow", Device::Cpu, 0, None, false).unwrap();
    assert_mirror(&bow, "bow");
    let minilm = Classifier::load_with(
        common::minilm().to_str().unwrap(),
        Device::Cpu,
        0,
        None,
        false,
    )
    .unwrap();
    assert_mirror(&minilm, "MiniLM");
    // The context is tokenised once, and each reply joined to it as the tokenizer joins a
    // text pair: what encoding (context, reply) as a pair gives.
    let (ab, _) = both_orders(&minilm);
    let w2s::model::TextEncoder::Hf { tokenizer, .. } = &minilm.encoder else {
        panic!("MiniLM has a tokenizer.json")
    };
    for (ids, (context, a, b)) in ab.iter().zip(PAIRS) {
        let (first, second) = split_pair(ids).unwrap();
        for (got, reply) in [(first, a), (second, b)] {
            let want: Vec<i64> = tokenizer
                .encode((context, reply), true)
                .unwrap()
                .get_ids()
                .iter()
                .map(|&i| i as i64)
                .collect();
            assert_eq!(got, want.as_slice());
        }
        assert_eq!(ids.iter().filter(|&&t| t == PAIR_SEP).count(), 1);
    }
}

/// Training on every pair shown the other way round (labels flipped with it) learns the
/// mirror image: each prediction flipped, so the same accuracy. Position carries no signal.
#[test]
fn swapping_every_pair_trains_the_mirror_image() {
    let words = ["helpful", "kind", "clear", "rude", "vague", "wrong"];
    let examples: Vec<(String, String, String, u8)> = (0..96)
        .map(|i| {
            let good = format!("a {} answer number {i}", words[i % 3]);
            let bad = format!("a {} answer number {i}", words[3 + (i * 7) % 3]);
            let label = (i % 2) as u8;
            let (a, b) = if label == 1 { (good, bad) } else { (bad, good) };
            (format!("question {i}"), a, b, label)
        })
        .collect();
    let train_on = |swap: bool| {
        let model = Classifier::load_with("bow", Device::Cpu, 0, None, false).unwrap();
        let contexts: Vec<&str> = examples.iter().map(|e| e.0.as_str()).collect();
        let replies: Vec<[&str; 2]> = examples
            .iter()
            .map(|e| match swap {
                false => [e.1.as_str(), e.2.as_str()],
                true => [e.2.as_str(), e.1.as_str()],
            })
            .collect();
        let ids = model.encoder.encode_pairs(&contexts, &replies).unwrap();
        let labels: Vec<[f32; 2]> = examples
            .iter()
            .map(|e| match (e.3 == 1) != swap {
                true => [0.0, 1.0],
                false => [1.0, 0.0],
            })
            .collect();
        let (tr, te) = ids.split_at(64);
        let mut model = model;
        let opts = common::opts(1e-2, 4);
        train::train(
            &mut model,
            Inputs::Tokens(tr),
            train::Labels::Soft(&labels[..64]),
            &opts,
            None,
            None,
            "pairs",
        )
        .unwrap();
        (
            Inputs::Tokens(te).predict(&model, 16).unwrap(),
            labels[64..].to_vec(),
        )
    };
    let (p, truth) = train_on(false);
    let (q, _) = train_on(true);
    let correct = |p: &[[f32; 2]], t: &[[f32; 2]]| {
        p.iter()
            .zip(t)
            .filter(|(p, t)| (p[1] > p[0]) == (t[1] > t[0]))
            .count()
    };
    for (a, b) in p.iter().zip(&q) {
        assert!((a[1] - b[0]).abs() < 1e-5, "{a:?} vs swapped {b:?}");
    }
    let flipped: Vec<[f32; 2]> = truth.iter().map(|t| [t[1], t[0]]).collect();
    assert_eq!(correct(&p, &truth), correct(&q, &flipped));
    assert!(
        correct(&p, &truth) > 24,
        "the words decide: it learns ({p:?})"
    );
}

/// Rows of a user's preference data, and the task file around them.
fn write_task(dir: &std::path::Path, name: &str, keys: &str) -> String {
    for (file, rows) in [("prefs.jsonl", 0..400), ("prefs-test.jsonl", 400..600)] {
        std::fs::write(dir.join(file), rows.map(row).collect::<String>()).unwrap();
    }
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!("train = \"prefs.jsonl\"\ntest = \"prefs-test.jsonl\"\ntext = \"prompt\"\n{keys}"),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

/// Row `i` of the preference data, as a JSON line. Test rows from 400 on use, every other
/// one, synonyms that no train row has: a bag of words cannot score those, a pretrained model
/// can, so the ceiling beats the weak model.
fn row(i: usize) -> String {
    let topic = ["bread", "tea", "maps", "bikes"][i % 4];
    let (goods, bads) = if i >= 400 && i % 2 == 1 {
        (
            ["careful", "courteous", "correct"],
            ["rude", "careless", "wrong"],
        )
    } else {
        (
            ["thorough", "polite", "accurate"],
            ["curt", "sloppy", "mistaken"],
        )
    };
    let (good, bad) = (goods[(i / 2) % 3], bads[(i / 6) % 3]);
    let reply = |w: &str| format!("Assistant: a {w} reply about {topic}");
    let (first, second) = if i.is_multiple_of(2) {
        (good, bad)
    } else {
        (bad, good)
    };
    let row = serde_json::json!({
        "prompt": format!("Human: tell me about {topic} ({i})"),
        "chosen": reply(good),
        "rejected": reply(bad),
        // The same preferences, as two reply fields and whether the first won.
        "first": reply(first),
        "second": reply(second),
        "first_won": i.is_multiple_of(2),
    });
    format!("{row}\n")
}

#[test]
fn a_user_pairwise_task_runs_weak_to_strong_and_the_order_of_its_fields_does_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    let tasks = [
        write_task(dir.path(), "chosen", "chosen = \"chosen\"\nrejected = \"rejected\"\n"),
        write_task(dir.path(), "replies", "replies = [\"first\", \"second\"]\nlabel = \"first_won\"\n"),
        // Every pair's fields the other way round, and the label with them.
        write_task(
            dir.path(),
            "swapped",
            "replies = [\"second\", \"first\"]\nlabel = \"first_won\"\nlabel_map = { \"true\" = 0, \"false\" = 1 }\n",
        ),
    ];
    let runner = Runner::new(dir.path().join("results"), Device::Cpu, false);
    let minilm = common::minilm().to_str().unwrap().to_owned();
    let probe = w2s::options::TrainOptions {
        linear_probe: true,
        ..common::opts(1e-2, 8)
    };
    let outcomes: Vec<_> = tasks
        .iter()
        .map(|task| {
            let data = DataSpec::new(task, None, 300, 100).unwrap();
            let exp = Experiment::per_loss(
                &data,
                0,
                64,
                ("bow", common::opts(1e-2, 2)),
                // A linear probe on MiniLM's features: the replies' feature difference.
                (minilm.as_str(), probe.clone()),
                &[w2s::loss::Loss::Xent],
            )
            .unwrap();
            let outcome = exp.run(&runner).unwrap();
            let student = runner.existing(&exp.students[0]).unwrap();
            assert!(student.pairwise, "stored as a pairwise run");
            outcome
        })
        .collect();
    let first = &outcomes[0];
    assert!(first.ceiling > first.weak, "{first:?}");
    assert!(first.students[0].pgr.is_some(), "{first:?}");
    for o in &outcomes[1..] {
        assert_eq!(
            (o.weak, o.ceiling, o.students[0].accuracy, o.students[0].pgr),
            (
                first.weak,
                first.ceiling,
                first.students[0].accuracy,
                first.students[0].pgr
            ),
            "the same preferences, however the file lays them out"
        );
    }
    // The report names the kind of task.
    let (report, table) = w2s::report::write(
        &dir.path().join("results"),
        &dir.path().join("report"),
        w2s::report::Aggregate::default(),
    )
    .unwrap();
    assert!(table.contains("(pairwise)"), "{table}");
    assert!(!report.rows.is_empty());
    let csv = std::fs::read_to_string(dir.path().join("report/runs.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains("pairwise"));
}

#[test]
fn a_pairwise_task_file_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let half = write_task(dir.path(), "half", "chosen = \"chosen\"\n");
    let err = DataSpec::new(&half, None, 300, 100)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("half.toml") && err.contains("rejected"),
        "{err}"
    );
    let no_label = write_task(dir.path(), "nolabel", "replies = [\"first\", \"second\"]\n");
    let err = DataSpec::new(&no_label, None, 300, 100)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("label") && err.contains("first reply"),
        "{err}"
    );
    // A pairwise example is a context and two replies.
    let e = Example::pair("c".into(), "a".into(), "b".into(), 1);
    assert_eq!(e.replies.as_ref().unwrap()[0], "a");
}

/// Generative finetuning (paper section 5.2.2) on a tiny GPT-2 with a real tokenizer: the
/// language model learns the preferred replies of train1 (its loss falls), the ceiling and
/// the student start reward training from the same finetuned model, the method is named in
/// the tables, and an encoder is refused with the reason.
#[test]
fn generative_finetuning_trains_the_language_model_first() {
    use w2s::generative_finetuning::{GenerativeFinetuning, Replies};
    let dir = tempfile::tempdir().unwrap();
    common::tiny_models(dir.path());
    let gpt2 = dir.path().join("gpt2_text");
    let task = write_task(
        dir.path(),
        "prefs",
        "chosen = \"chosen\"\nrejected = \"rejected\"\n",
    );
    let data = DataSpec::new(&task, None, 200, 60).unwrap();
    let runner = Runner::new(dir.path().join("results"), Device::Cpu, false);
    let strong = |replies| w2s::options::TrainOptions {
        generative_finetuning: Some(GenerativeFinetuning {
            epochs: 3,
            lr: Some(3e-3),
            replies,
        }),
        ..common::opts(1e-3, 2)
    };
    let experiment = |model: &str, train| {
        Experiment::per_loss(
            &data,
            0,
            64,
            ("bow", common::opts(1e-2, 2)),
            (model, train),
            &[w2s::loss::Loss::Xent],
        )
        .unwrap()
    };
    let exp = experiment(gpt2.to_str().unwrap(), strong(Replies::Preferred));
    exp.run(&runner).unwrap();
    let student = runner.existing(&exp.students[0]).unwrap();
    let ceiling = runner.existing(&exp.ceiling).unwrap();
    let lm = student
        .generative_finetuning
        .clone()
        .expect("the student's LM step is recorded");
    assert!(
        lm.last_epoch_loss < lm.first_step_loss - 0.1,
        "the language model learns the replies: {lm:?}"
    );
    // 100 train1 pairs, one preferred reply each, batches of 32 for 3 epochs.
    assert_eq!((lm.sequences, lm.steps), (100, 12), "{lm:?}");
    let c = ceiling
        .generative_finetuning
        .clone()
        .expect("the ceiling's too");
    assert_eq!(
        (c.first_step_loss, c.last_epoch_loss),
        (lm.first_step_loss, lm.last_epoch_loss),
        "ceiling and student finetune the same model on the same text"
    );
    assert_eq!(exp.students[0].train.method(), "xent+genft");
    assert!(
        runner
            .existing(&exp.weak[0])
            .unwrap()
            .generative_finetuning
            .is_none(),
        "the weak supervisor (a bag of words) does not take it"
    );
    // Both replies: twice the text.
    let both = experiment(gpt2.to_str().unwrap(), strong(Replies::Both));
    both.run(&runner).unwrap();
    let lm = runner
        .existing(&both.ceiling)
        .unwrap()
        .generative_finetuning
        .unwrap();
    assert_eq!(lm.sequences, 200);
    // An encoder has no language model to finetune: refused before its supervisor (one that
    // has not run yet) trains.
    let minilm = common::minilm();
    let exp = Experiment::per_loss(
        &data,
        0,
        64,
        ("bow", common::opts(1e-2, 3)),
        (minilm.to_str().unwrap(), strong(Replies::Preferred)),
        &[w2s::loss::Loss::Xent],
    )
    .unwrap();
    let err = format!("{:#}", exp.run(&runner).unwrap_err());
    assert!(
        err.contains("generative finetuning needs a decoder") && err.contains("bert is not one"),
        "{err}"
    );
    assert!(
        runner.existing(&exp.weak[0]).is_none(),
        "the supervisor was not trained for nothing"
    );
}
