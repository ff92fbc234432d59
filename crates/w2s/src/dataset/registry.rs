//! Named tasks: where each dataset's files are, which split is test, and how a raw row
//! becomes a binary [`Example`], following openai/weak-to-strong's `datasets.py` where it
//! defines the task (sciq, boolq, cosmos_qa, anthropic_hh, amazon_polarity) and the paper's
//! description elsewhere. Multiple-choice tasks become one binary example per question: a
//! seeded coin flip shows either the correct answer (label 1) or a random wrong one (label 0),
//! exactly as the reference does for sciq.
//!
//! Each formatter reads both the Hugging Face hub's field layout and the original release's,
//! where they differ (see the table in `docs/DATASETS.md`).

use super::files::{self, Row};
use super::{Example, Pools};
use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

type Formatter = fn(&Row, &mut ChaCha8Rng) -> Result<Option<Example>>;

/// One registered task.
pub struct Task {
    pub name: &'static str,
    pub about: &'static str,
    /// Dataset id on the Hugging Face hub.
    pub hub: &'static str,
    /// File-name stems that hold each split, in order of preference.
    pub train: &'static [&'static str],
    pub test: &'static [&'static str],
    /// Column names for header-less TSV files of the original release.
    pub tsv_columns: Option<&'static [&'static str]>,
    pub format: Formatter,
    /// Bumped when the formatter changes what examples it makes: runs on the task retrain.
    pub version: u32,
    /// The hub repository's config (subset), whose files sit in a folder of that name.
    pub config: Option<&'static str>,
    /// Turns one record of an original release's nested layout into the hub's flat rows
    /// (MultiRC's passages, DREAM's dialogues); rows already flat pass through.
    pub expand: Option<Expander>,
    /// A test has loaded this task from real files (shared copies, or files laid out as the
    /// hub lays them out): `w2s datasets list` marks it.
    pub tested: bool,
}

type Expander = fn(Row) -> Result<Vec<Row>>;

pub const TASKS: &[Task] = &[
    Task {
        name: "sciq",
        about: "science questions; correct answer vs a random distractor (coin flip)",
        hub: "allenai/sciq",
        train: &["train"],
        test: &["test"],
        tsv_columns: None,
        format: format_sciq,
        version: 1,
        config: None,
        expand: None,
        tested: true,
    },
    Task {
        name: "boolq",
        about: "yes/no questions about a Wikipedia passage; test = validation",
        hub: "google/boolq",
        train: &["train"],
        test: &["validation", "val", "valid", "dev"],
        tsv_columns: None,
        format: format_boolq,
        version: 1,
        config: None,
        expand: None,
        tested: true,
    },
    Task {
        name: "cosmos_qa",
        about: "commonsense reading comprehension, 4 choices; test = validation",
        hub: "allenai/cosmos_qa",
        train: &["train"],
        test: &["validation", "valid", "val", "dev"],
        tsv_columns: None,
        format: format_cosmos_qa,
        version: 1,
        config: None,
        expand: None,
        tested: true,
    },
    Task {
        name: "anthropic_hh",
        about: "helpful/harmless dialogues: the chosen or the rejected reply (coin flip)",
        hub: "Anthropic/hh-rlhf",
        train: &["train"],
        test: &["test"],
        tsv_columns: None,
        format: format_anthropic_hh,
        version: 1,
        config: None,
        expand: None,
        tested: true,
    },
    Task {
        name: "amazon_polarity",
        about: "Amazon review sentiment: title and content",
        hub: "fancyzhx/amazon_polarity",
        train: &["train"],
        test: &["test"],
        tsv_columns: None,
        format: format_amazon_polarity,
        version: 1,
        config: None,
        expand: None,
        tested: true,
    },
    Task {
        name: "sst2",
        about: "GLUE SST-2 movie-review sentiment; test = validation",
        hub: "stanfordnlp/sst2",
        train: &["train"],
        test: &["validation", "dev"],
        tsv_columns: None,
        format: format_sentence_label,
        version: 1,
        config: None,
        expand: None,
        tested: true,
    },
    Task {
        name: "cola",
        about: "GLUE CoLA grammatical acceptability; test = validation (in- and out-of-domain dev)",
        hub: "nyu-mll/glue",
        train: &["train"],
        test: &["validation", "dev"],
        tsv_columns: Some(&["source", "label", "judgment", "sentence"]),
        format: format_sentence_label,
        version: 1,
        config: Some("cola"),
        expand: None,
        tested: true,
    },
    Task {
        name: "piqa",
        about: "physical commonsense: goal with the right or the wrong solution (coin flip)",
        hub: "ybisk/piqa",
        train: &["train"],
        test: &["validation", "valid", "dev"],
        tsv_columns: None,
        format: format_piqa,
        version: 1,
        config: None,
        expand: None,
        tested: true,
    },
    Task {
        name: "openbookqa",
        about: "elementary science, 4 choices: correct vs a random wrong choice (coin flip)",
        hub: "allenai/openbookqa",
        train: &["train"],
        test: &["test"],
        tsv_columns: None,
        format: format_openbookqa,
        version: 1,
        config: None,
        expand: None,
        tested: true,
    },
    Task {
        name: "anli_r2",
        about: "adversarial NLI round 2: entailment (1) vs contradiction (0), neutral dropped",
        hub: "facebook/anli",
        train: &["train_r2"],
        test: &["test_r2", "dev_r2", "dev"],
        tsv_columns: None,
        format: format_anli,
        version: 1,
        config: None,
        expand: None,
        tested: true,
    },
    Task {
        name: "tweet_eval_sentiment",
        about: "tweet sentiment: positive (1) vs negative (0), neutral dropped",
        hub: "cardiffnlp/tweet_eval",
        train: &["train"],
        test: &["test"],
        tsv_columns: None,
        format: format_tweet_sentiment,
        version: 1,
        config: Some("sentiment"),
        expand: None,
        tested: true,
    },
    Task {
        name: "wic",
        about: "SuperGLUE WiC: does a word mean the same in two sentences; test = validation",
        hub: "aps/super_glue",
        train: &["train"],
        test: &["validation", "dev"],
        tsv_columns: Some(&["word", "pos", "indices", "sentence1", "sentence2"]),
        format: format_wic,
        version: 1,
        config: Some("wic"),
        expand: None,
        tested: true,
    },
    Task {
        name: "multirc",
        about: "SuperGLUE MultiRC: is this answer to a question about a passage right; test = validation",
        hub: "aps/super_glue",
        train: &["train"],
        test: &["validation", "val", "dev"],
        tsv_columns: None,
        format: format_multirc,
        version: 1,
        config: Some("multirc"),
        expand: Some(expand_multirc),
        tested: true,
    },
    Task {
        name: "mc_taco",
        about: "temporal commonsense: is this answer plausible; train = test (larger), test = validation, as EleutherAI/w2s",
        hub: "CogComp/mc_taco",
        train: &["test"],
        test: &["validation", "dev"],
        tsv_columns: Some(&["sentence", "question", "answer", "label", "category"]),
        format: format_mc_taco,
        version: 1,
        config: None,
        expand: None,
        tested: true,
    },
    Task {
        name: "dream",
        about: "dialogue reading comprehension, 3 choices: correct vs a random wrong one (coin flip)",
        hub: "dataset-org/dream",
        train: &["train"],
        test: &["test"],
        tsv_columns: None,
        format: format_dream,
        version: 1,
        config: None,
        expand: Some(expand_dream),
        tested: true,
    },
    Task {
        name: "quail",
        about: "reading comprehension, 4 choices: correct vs a random wrong one (coin flip); test = validation",
        hub: "textmachinelab/quail",
        train: &["train"],
        test: &["validation", "dev", "challenge"],
        tsv_columns: None,
        format: format_quail,
        version: 1,
        config: None,
        expand: None,
        tested: true,
    },
    Task {
        name: "paws",
        about: "PAWS paraphrase identification (labeled_final)",
        hub: "google-research-datasets/paws",
        train: &["train"],
        test: &["test"],
        tsv_columns: None,
        format: format_paws,
        version: 1,
        config: Some("labeled_final"),
        expand: None,
        tested: true,
    },
    Task {
        name: "quartz",
        about: "QuaRTz qualitative relations, 2 choices: correct or the other (coin flip)",
        hub: "allenai/quartz",
        train: &["train"],
        test: &["test"],
        tsv_columns: None,
        format: format_quartz,
        version: 1,
        config: None,
        expand: None,
        tested: true,
    },
    Task {
        name: "social_iqa",
        about: "Social IQa, 3 choices: correct vs a random wrong one (coin flip); test = validation",
        hub: "allenai/social_i_qa",
        train: &["train"],
        test: &["validation", "dev"],
        tsv_columns: None,
        format: format_social_iqa,
        version: 1,
        config: None,
        expand: None,
        tested: true,
    },
    Task {
        name: "hellaswag",
        about: "HellaSwag continuations, 4 endings: correct vs a random wrong one (coin flip); test = validation",
        hub: "Rowan/hellaswag",
        train: &["train"],
        test: &["validation", "dev"],
        tsv_columns: None,
        format: format_hellaswag,
        version: 1,
        config: None,
        expand: None,
        tested: true,
    },
    Task {
        name: "ethics_justice",
        about: "ETHICS justice: does the statement exemplify justice",
        hub: "hendrycks/ethics",
        train: &["train"],
        test: &["test"],
        tsv_columns: None,
        format: format_ethics_justice,
        version: 1,
        config: Some("justice"),
        expand: None,
        tested: true,
    },
    Task {
        name: "ethics_deontology",
        about: "ETHICS deontology: is the excuse morally valid",
        hub: "hendrycks/ethics",
        train: &["train"],
        test: &["test"],
        tsv_columns: None,
        format: format_ethics_deontology,
        version: 1,
        config: Some("deontology"),
        expand: None,
        tested: true,
    },
    Task {
        name: "ethics_virtue",
        about: "ETHICS virtue: does the behaviour match the adjective",
        hub: "hendrycks/ethics",
        train: &["train"],
        test: &["test"],
        tsv_columns: None,
        format: format_ethics_virtue,
        version: 1,
        config: Some("virtue"),
        expand: None,
        tested: true,
    },
    Task {
        name: "ethics_utilitarianism",
        about: "ETHICS utilitarianism: which of two scenarios is more pleasant (coin flip on the answer)",
        hub: "hendrycks/ethics",
        train: &["train"],
        test: &["test"],
        tsv_columns: None,
        format: format_ethics_utilitarianism,
        version: 1,
        config: Some("utilitarianism"),
        expand: None,
        tested: true,
    },
];

pub fn find(name: &str) -> Result<&'static Task> {
    TASKS.iter().find(|t| t.name == name).with_context(|| {
        let known: Vec<&str> = TASKS.iter().map(|t| t.name).collect();
        format!(
            "unknown dataset `{name}`; known: demo, {} (or a task file ending in .toml)",
            known.join(", ")
        )
    })
}

/// Names `load` accepts, with a line on each and whether a test loads the task from real
/// files (the built-in demo is generated, so always).
pub fn list() -> Vec<(&'static str, &'static str, bool)> {
    let mut v = vec![(
        "demo",
        "built-in: templated sentiment, adjectives unseen in train",
        true,
    )];
    v.extend(TASKS.iter().map(|t| (t.name, t.about, t.tested)));
    v
}

fn coin(rng: &mut ChaCha8Rng) -> u8 {
    rng.gen_bool(0.5) as u8
}

fn format_sciq(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let label = coin(rng);
    let answer = if label == 1 {
        r.str("correct_answer")?
    } else {
        let d = ["distractor1", "distractor2", "distractor3"]
            .choose(rng)
            .unwrap();
        r.str(d)?
    };
    Ok(Some(Example {
        text: format!("Q: {} A: {answer}", r.str("question")?),
        label,
    }))
}

fn format_boolq(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    // Hub: `answer` (bool); SuperGLUE release: `label` ("true"/"false").
    let label = if r.fields.contains_key("answer") {
        r.binary("answer")?
    } else {
        r.binary("label")?
    };
    Ok(Some(Example {
        text: format!(
            "Passage: {}\nQuestion: {}",
            r.str("passage")?,
            r.str("question")?
        ),
        label,
    }))
}

fn format_cosmos_qa(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let answers: Vec<String> = (0..4)
        .map(|i| r.str(&format!("answer{i}")))
        .collect::<Result<_>>()?;
    let true_answer = &answers[r.index("label", 4)?];
    // The reference's rule: when the right answer is "None of the above choices ." the example
    // is always negative (and no coin is flipped).
    let label = if true_answer.contains("None of the above choices .") {
        0
    } else {
        coin(rng)
    };
    let answer = if label == 1 {
        true_answer.clone()
    } else {
        let wrong: Vec<&String> = answers.iter().filter(|a| *a != true_answer).collect();
        match wrong.choose(rng) {
            Some(a) => (*a).clone(),
            None => bail!("{}: every answer equals the correct one", r.at()),
        }
    };
    Ok(Some(Example {
        text: format!(
            "Context: {}\nQuestion: {}\nAnswer: {answer}",
            r.str("context")?,
            r.str("question")?
        ),
        label,
    }))
}

fn format_anthropic_hh(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let label = coin(rng);
    let text = if label == 1 {
        r.str("chosen")?
    } else {
        r.str("rejected")?
    };
    Ok(Some(Example { text, label }))
}

fn format_amazon_polarity(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    Ok(Some(Example {
        text: format!("{} {}", r.str("title")?, r.str("content")?),
        label: r.binary("label")?,
    }))
}

fn format_sentence_label(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    Ok(Some(Example {
        text: r.str("sentence")?,
        label: r.binary("label")?,
    }))
}

fn format_piqa(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let right = r.index("label", 2)?;
    let label = coin(rng);
    let sol = ["sol1", "sol2"][if label == 1 { right } else { 1 - right }];
    Ok(Some(Example {
        text: format!("Goal: {}\nSolution: {}", r.str("goal")?, r.str(sol)?),
        label,
    }))
}

/// OpenBookQA choices: hub `choices = {text: [...], label: [A..D]}`, `question_stem`,
/// `answerKey`; original TSV `Question Stem`, `Choices` as "(A) .. (B) ..", `Answer Key`.
fn format_openbookqa(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let (question, choices, key) = if r.fields.contains_key("question_stem") {
        let c = r.get("choices")?;
        let texts: Vec<String> = serde_json::from_value(c["text"].clone())
            .with_context(|| format!("{}: field `choices` has no list `text`", r.at()))?;
        let labels: Vec<String> = serde_json::from_value(c["label"].clone())
            .with_context(|| format!("{}: field `choices` has no list `label`", r.at()))?;
        (
            r.str("question_stem")?,
            labels.into_iter().zip(texts).collect::<Vec<_>>(),
            r.str("answerKey")?,
        )
    } else {
        let raw = r.str("Choices")?;
        let mut parsed = Vec::new();
        for part in raw.split(" (").map(|p| p.trim_start_matches('(')) {
            let Some((letter, text)) = part.split_once(") ") else {
                bail!(
                    "{}: field `Choices` is not \"(A) .. (B) ..\": {raw}",
                    r.at()
                );
            };
            parsed.push((letter.to_owned(), text.trim().to_owned()));
        }
        (r.str("Question Stem")?, parsed, r.str("Answer Key")?)
    };
    let right = choices
        .iter()
        .position(|(l, _)| *l == key)
        .with_context(|| format!("{}: answer key `{key}` is not among the choices", r.at()))?;
    let label = coin(rng);
    let pick = if label == 1 {
        right
    } else {
        let wrong: Vec<usize> = (0..choices.len()).filter(|&i| i != right).collect();
        *wrong
            .choose(rng)
            .with_context(|| format!("{}: a single choice", r.at()))?
    };
    Ok(Some(Example {
        text: format!("Q: {question} A: {}", choices[pick].1),
        label,
    }))
}

/// Hub: `premise`, `hypothesis`, `label` 0/1/2 (entailment/neutral/contradiction); original
/// release: `context`, `statement`, `gold_label` e/n/c.
fn format_anli(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let (premise, hypothesis, gold) = if r.fields.contains_key("premise") {
        let g = match r.index("label", 3)? {
            0 => "e",
            1 => "n",
            _ => "c",
        };
        (r.str("premise")?, r.str("hypothesis")?, g.to_owned())
    } else {
        (r.str("context")?, r.str("statement")?, r.str("gold_label")?)
    };
    let label = match gold.as_str() {
        "e" => 1,
        "c" => 0,
        "n" => return Ok(None),
        other => bail!(
            "{}: field `gold_label` has value `{other}`; expected e, n or c",
            r.at()
        ),
    };
    Ok(Some(Example {
        text: format!("{premise}\nHypothesis: {hypothesis}"),
        label,
    }))
}

fn format_tweet_sentiment(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let label = match r.index("label", 3)? {
        0 => 0,
        2 => 1,
        _ => return Ok(None),
    };
    Ok(Some(Example {
        text: r.str("text")?,
        label,
    }))
}

/// The seeded coin of the multiple-choice tasks: label 1 shows the right answer, label 0 a
/// random wrong one (as the reference does for sciq).
fn right_or_wrong(
    r: &Row,
    rng: &mut ChaCha8Rng,
    answers: &[String],
    right: usize,
) -> Result<(u8, String)> {
    let label = coin(rng);
    if label == 1 {
        return Ok((1, answers[right].clone()));
    }
    let wrong: Vec<&String> = answers
        .iter()
        .enumerate()
        .filter(|(i, a)| *i != right && **a != answers[right])
        .map(|(_, a)| a)
        .collect();
    match wrong.choose(rng) {
        Some(a) => Ok((0, (*a).clone())),
        None => bail!("{}: no wrong answer to show", r.at()),
    }
}

fn example(text: String, label: u8) -> Result<Option<Example>> {
    Ok(Some(Example { text, label }))
}

/// Hub: `word`, `sentence1`, `sentence2`, `label`; original release: the same columns in a
/// header-less TSV, labels T/F in the `*.gold.txt` beside it.
fn format_wic(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let text = format!(
        "Sentence 1:\n{}\n\nSentence 2:\n{}\n\nQ: Does \"{}\" have the same meaning in the above sentences?",
        r.str("sentence1")?,
        r.str("sentence2")?,
        r.str("word")?
    );
    example(text, r.binary("label")?)
}

/// Hub rows: `paragraph`, `question`, `answer`, `label`.
fn format_multirc(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let text = format!(
        "Passage:\n\n{}\n\nQ: \"{}\" Is the answer \"{}\"?",
        r.str("paragraph")?,
        r.str("question")?,
        r.str("answer")?
    );
    example(text, r.binary("label")?)
}

/// The SuperGLUE release's passage records (`passage: {text, questions: [{question,
/// answers: [{text, label}]}]}`) as the hub's one row per answer.
fn expand_multirc(row: Row) -> Result<Vec<Row>> {
    let Some(passage) = row.fields.get("passage").filter(|p| p.is_object()) else {
        return Ok(vec![row]);
    };
    let text = passage["text"].clone();
    let mut out = Vec::new();
    for q in passage["questions"].as_array().into_iter().flatten() {
        for a in q["answers"].as_array().into_iter().flatten() {
            let mut fields = serde_json::Map::new();
            fields.insert("paragraph".into(), text.clone());
            fields.insert("question".into(), q["question"].clone());
            fields.insert("answer".into(), a["text"].clone());
            fields.insert("label".into(), a["label"].clone());
            out.push(Row {
                file: row.file.clone(),
                line: row.line,
                fields,
            });
        }
    }
    Ok(out)
}

/// `sentence`, `question`, `answer`, `label` (hub 0/1, original yes/no).
fn format_mc_taco(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let text = format!(
        "{}\n\nGiven the above, {} Is the answer {}?",
        r.str("sentence")?,
        r.str("question")?,
        r.str("answer")?
    );
    example(text, r.binary("label")?)
}

/// Hub rows: `dialogue` (turns), `question`, `choice` (3), `answer` (the right choice's text).
fn format_dream(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let choices = r.strings("choice")?;
    let answer = r.str("answer")?;
    let right = choices
        .iter()
        .position(|c| *c == answer)
        .with_context(|| format!("{}: the answer is not among the choices", r.at()))?;
    let (label, shown) = right_or_wrong(r, rng, &choices, right)?;
    let text = format!(
        "{}\n\nQ: {} A: {shown}",
        r.strings("dialogue")?.join("\n"),
        r.str("question")?
    );
    example(text, label)
}

/// The original release's `[turns, [{question, choice, answer}], id]` records as hub rows.
fn expand_dream(row: Row) -> Result<Vec<Row>> {
    let (Some(turns), Some(questions)) = (row.fields.get("0"), row.fields.get("1")) else {
        return Ok(vec![row]);
    };
    let mut out = Vec::new();
    for q in questions.as_array().into_iter().flatten() {
        let mut fields = serde_json::Map::new();
        fields.insert("dialogue".into(), turns.clone());
        for k in ["question", "choice", "answer"] {
            fields.insert(k.into(), q[k].clone());
        }
        out.push(Row {
            file: row.file.clone(),
            line: row.line,
            fields,
        });
    }
    Ok(out)
}

/// `context`, `question`, `answers` (4), `correct_answer_id` (hub and the release's JSONL).
fn format_quail(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let answers = r.strings("answers")?;
    let right = r.index("correct_answer_id", answers.len() as i64)?;
    let (label, shown) = right_or_wrong(r, rng, &answers, right)?;
    let text = format!(
        "Passage:\n\n{}\n\nQ: \"{}\" Is the answer \"{shown}\"?",
        r.str("context")?,
        r.str("question")?
    );
    example(text, label)
}

fn format_paws(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let text = format!(
        "Sent 1: {}\nSent 2: {}\n\nQ: Are these sentences semantically equivalent?",
        r.str("sentence1")?,
        r.str("sentence2")?
    );
    example(text, r.binary("label")?)
}

/// `para`, `question`, `choices: {text, label}`, `answerKey`.
fn format_quartz(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let c = r.get("choices")?;
    let texts: Vec<String> = serde_json::from_value(c["text"].clone())
        .with_context(|| format!("{}: field `choices` has no list `text`", r.at()))?;
    let letters: Vec<String> = serde_json::from_value(c["label"].clone())
        .with_context(|| format!("{}: field `choices` has no list `label`", r.at()))?;
    let key = r.str("answerKey")?;
    let right = letters
        .iter()
        .position(|l| *l == key)
        .with_context(|| format!("{}: answer key `{key}` is not among the choices", r.at()))?;
    let (label, shown) = right_or_wrong(r, rng, &texts, right)?;
    let text = format!(
        "Passage:\n{}\n\nQ: \"{}\" Is the answer \"{shown}\"?",
        r.str("para")?,
        r.str("question")?
    );
    example(text, label)
}

/// `context`, `question`, `answerA`..`answerC`, `label` "1".."3".
fn format_social_iqa(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let answers: Vec<String> = ["answerA", "answerB", "answerC"]
        .iter()
        .map(|k| r.str(k))
        .collect::<Result<_>>()?;
    let n = r.index("label", 4)?;
    if n == 0 {
        bail!("{}: field `label` is 0; expected 1, 2 or 3", r.at());
    }
    let (label, shown) = right_or_wrong(r, rng, &answers, n - 1)?;
    let text = format!(
        "Context:\n{}\n\nQuestion: \"{}\"\n\nChoices:\n{}\n\nIs the answer \"{shown}\"?",
        r.str("context")?,
        r.str("question")?,
        answers.join("\n")
    );
    example(text, label)
}

/// `ctx`, `endings` (4), `label` (the right ending's index).
fn format_hellaswag(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let endings = r.strings("endings")?;
    let right = r.index("label", endings.len() as i64)?;
    let (label, shown) = right_or_wrong(r, rng, &endings, right)?;
    let text = format!(
        "Context:\n{}\n\nContinuations:\n\n{}\n\nQ: Is \"{shown}\" the best continuation?",
        r.str("ctx")?,
        endings.join("\n")
    );
    example(text, label)
}

fn format_ethics_justice(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let text = format!(
        "Q: Does this statement exemplify justice?\n\n{}\n\nA:",
        r.str("scenario")?
    );
    example(text, r.binary("label")?)
}

fn format_ethics_deontology(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let text = format!(
        "Q: Is the following a morally valid excuse?\n\n{}\n\n{}\n\nA:",
        r.str("scenario")?,
        r.str("excuse")?
    );
    example(text, r.binary("label")?)
}

fn format_ethics_virtue(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let text = format!(
        "Q: Does this behavior match the adjective that follows?\n\n{}\n\nA:",
        r.str("scenario")?
    );
    example(text, r.binary("label")?)
}

/// `baseline` (the more pleasant scenario) and `less_pleasant`, shown in a seeded order; the
/// coin decides whether the stated answer is the right one.
fn format_ethics_utilitarianism(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let label = coin(rng);
    let mut pair = [r.str("baseline")?, r.str("less_pleasant")?];
    let swapped = rng.gen_bool(0.5);
    if swapped {
        pair.swap(0, 1);
    }
    let right = if swapped { 2 } else { 1 };
    let stated = if label == 1 { right } else { 3 - right };
    let text = format!(
        "Which is more pleasant?\n1) {}\n2) {} A: {stated}",
        pair[0], pair[1]
    );
    example(text, label)
}

/// The file stem without format and compression extensions.
fn stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name).to_owned();
    match name.rsplit_once('.') {
        Some((s, _)) => s.to_owned(),
        None => name,
    }
}

/// Whether a data file belongs to split `alias`: `train.jsonl`, `train-00000-of-00002.parquet`
/// (hub shards), `harmless-base_test.jsonl.gz`, `in_domain_dev.tsv`, `val_text.txt`,
/// `data/train/...`. Label side-files never count.
pub fn in_split(relative: &Path, alias: &str) -> bool {
    if files::format_of(relative).is_none() {
        return false;
    }
    let s = stem(relative);
    if s.ends_with("_labels") || s.ends_with("-labels") || s == "mapping" {
        return false;
    }
    s == alias
        || s == format!("{alias}.data")
        || s.starts_with(&format!("{alias}-"))
        || s.starts_with(&format!("{alias}_"))
        || s.ends_with(&format!("_{alias}"))
        || relative
            .parent()
            .is_some_and(|p| p.file_name().is_some_and(|d| d == alias))
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && depth < 3 {
                walk(&p, depth + 1, out);
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, 0, &mut out);
    out.sort();
    out
}

/// The files of the first alias that has any.
pub fn split_files(dir: &Path, aliases: &[&str]) -> Vec<PathBuf> {
    let all = data_files(dir);
    for a in aliases {
        let found: Vec<PathBuf> = all
            .iter()
            .filter(|p| in_split(p.strip_prefix(dir).unwrap_or(p), a))
            .cloned()
            .collect();
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

/// Read a split's rows (at most `limit`) and format them with a ChaCha8 stream seeded by
/// `seed`, in file order, as the reference formats with `Random(seed)`.
fn read_split(
    task: &Task,
    files: &[PathBuf],
    limit: Option<usize>,
    seed: u64,
) -> Result<Vec<Example>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for f in files {
        let remaining = limit.map(|l| l.saturating_sub(out.len()));
        if remaining == Some(0) {
            break;
        }
        let tsv = files::format_of(f) == Some(files::Format::Tsv);
        let columns = task.tsv_columns.filter(|_| tsv && !has_header(f));
        // Filters (anli's neutral, tweet neutral) drop rows, so read without a row limit
        // there and stop on the example count instead.
        let mut rows = files::read_rows(f, None, columns)?;
        if let Some(labels) = files::sibling_labels(f) {
            files::attach_labels(&mut rows, &labels)?;
        }
        if let Some(expand) = task.expand {
            rows = rows
                .into_iter()
                .map(expand)
                .collect::<Result<Vec<_>>>()?
                .concat();
        }
        for row in &rows {
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
            if let Some(ex) = (task.format)(row, &mut rng)? {
                out.push(ex);
            }
        }
    }
    Ok(out)
}

/// Whether a TSV file's first line is a header naming one of the task's columns.
fn has_header(path: &Path) -> bool {
    use std::io::BufRead;
    let first = std::fs::File::open(path)
        .ok()
        .and_then(|f| std::io::BufReader::new(f).lines().next()?.ok())
        .unwrap_or_default();
    first.split('\t').any(|c| c == "sentence" || c == "label")
}

/// Where a task's raw files are: `data_dir`, or the hub's copy in the Hugging Face cache.
/// With a config, only that config's folder (`<dir>/<config>/`) where the folder holds several,
/// as hub repositories like `nyu-mll/glue` do.
pub fn locate(task: &Task, data_dir: Option<&Path>) -> Result<PathBuf> {
    let dir = match data_dir {
        Some(d) if d.is_dir() => d.to_path_buf(),
        Some(d) => bail!("--data-dir {}: no such folder", d.display()),
        None => super::hub::download(task.hub, task.name, |f| {
            in_config(f, task.config) && task.train.iter().chain(task.test).any(|a| in_split(f, a))
        })?,
    };
    Ok(config_folder(dir, task.config))
}

/// `dir/<config>` where that folder exists (a multi-config repository), else `dir`.
pub fn config_folder(dir: PathBuf, config: Option<&str>) -> PathBuf {
    match config.map(|c| dir.join(c)) {
        Some(sub) if sub.is_dir() => sub,
        _ => dir,
    }
}

/// Whether a hub file belongs to `config`: some folder on its path has that name (the hub's
/// Parquet conversion puts each config's files in `<config>/`, repositories in `data/<config>/`
/// or `<config>/`).
pub fn in_config(relative: &Path, config: Option<&str>) -> bool {
    let Some(config) = config else { return true };
    relative
        .parent()
        .is_some_and(|p| p.components().any(|c| c.as_os_str() == config))
}

/// The pools of a task. `limits` (train, test) caps how many rows are read, as the reference
/// takes the first `n_docs` rows of each split. Where the folder has no train split (several
/// of the shared copies hold only a validation split), train and test are carved as halves of
/// the test split, shuffled with a fixed seed so the test half is the same for every run seed;
/// a warning says so.
pub fn load(task: &Task, dir: &Path, seed: u64, limits: (usize, usize)) -> Result<Pools> {
    let train_files = split_files(dir, task.train);
    let test_files = split_files(dir, task.test);
    if test_files.is_empty() {
        bail!(
            "{}: no files for the test split of {} (looked for names like {}.jsonl / .json / .csv / .tsv / .parquet)",
            dir.display(),
            task.name,
            task.test.join(", ")
        );
    }
    let pools = if train_files.is_empty() {
        let mut all = read_split(task, &test_files, None, seed)?;
        tracing::warn!(
            "{}: no train split in {}; carving train and test halves out of its {} split ({} examples)",
            task.name,
            dir.display(),
            stem(&test_files[0]),
            all.len()
        );
        super::seeded_shuffle(&mut all, 0x0ca7_5eed);
        let test = all.split_off(all.len() / 2);
        Pools { train: all, test }
    } else {
        Pools {
            train: read_split(task, &train_files, Some(limits.0), seed)?,
            test: read_split(task, &test_files, Some(limits.1), seed)?,
        }
    };
    for (what, pool) in [("train", &pools.train), ("test", &pools.test)] {
        if pool.is_empty() {
            bail!(
                "{}: the {what} split of {} is empty",
                dir.display(),
                task.name
            );
        }
    }
    Ok(pools)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_file_names() {
        for (f, a) in [
            ("train.jsonl", "train"),
            ("data/train-00000-of-00002.parquet", "train"),
            ("harmless-base_test.jsonl.gz", "test"),
            ("in_domain_dev.tsv", "dev"),
            ("val_text.txt", "val"),
            ("plain_text/train_r2-00000-of-00001.parquet", "train_r2"),
            ("ANLI_analysis_r2_dev.csv", "dev"),
            ("harmless-base/test.jsonl.gz", "test"),
        ] {
            assert!(in_split(Path::new(f), a), "{f} should be {a}");
        }
        for (f, a) in [
            ("val_labels.txt", "val"),
            ("valid-labels.lst", "valid"),
            ("train.json", "test"),
            ("README.md", "train"),
            ("mapping.txt", "test"),
            ("contest.jsonl", "test"),
        ] {
            assert!(!in_split(Path::new(f), a), "{f} should not be {a}");
        }
    }
}
