//! How a raw row of each registered task becomes a binary [`Example`], following
//! openai/weak-to-strong's `datasets.py` where it defines the task (sciq, boolq, cosmos_qa,
//! anthropic_hh, amazon_polarity) and the paper's description elsewhere. Multiple-choice
//! questions become one example each: a seeded coin flip shows either the correct answer
//! (label 1) or a random wrong one (label 0), exactly as the reference does for sciq. Each
//! formatter reads both the hub's field layout and the original release's where they differ
//! (`docs/DATASETS.md`).

use super::files::Row;
use super::Example;
use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

fn coin(rng: &mut ChaCha8Rng) -> u8 {
    rng.gen_bool(0.5) as u8
}

pub(super) fn format_sciq(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
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
        replies: None,
    }))
}

pub(super) fn format_boolq(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
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
        replies: None,
    }))
}

pub(super) fn format_cosmos_qa(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
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
        replies: None,
    }))
}

pub(super) fn format_anthropic_hh(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let label = coin(rng);
    let text = if label == 1 {
        r.str("chosen")?
    } else {
        r.str("rejected")?
    };
    Ok(Some(Example {
        text,
        label,
        replies: None,
    }))
}

/// A dialogue of Anthropic's HH-RLHF as a pair (reward modelling): the conversation before
/// the last assistant turn is the context, the two last assistant turns (the chosen and the
/// rejected) are the replies, in the order a seeded coin picks (label 1: the chosen reply is
/// `a`). A row whose dialogues differ before their last turn is skipped.
pub(super) fn format_anthropic_hh_pairs(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let chosen = r.str("chosen")?;
    let rejected = r.str("rejected")?;
    let (Some((context, good)), Some((other, bad))) = (last_turn(&chosen), last_turn(&rejected))
    else {
        return Ok(None);
    };
    if context != other {
        return Ok(None);
    }
    Ok(Some(Example::preference(
        context.into(),
        good.into(),
        bad.into(),
        rng,
    )))
}

/// A transcript split before its last assistant turn: (the dialogue so far, "Assistant: ...").
fn last_turn(dialogue: &str) -> Option<(&str, &str)> {
    let at = dialogue.rfind("\n\nAssistant:")?;
    Some((&dialogue[..at], dialogue[at..].trim_start()))
}

pub(super) fn format_amazon_polarity(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    Ok(Some(Example {
        text: format!("{} {}", r.str("title")?, r.str("content")?),
        label: r.binary("label")?,
        replies: None,
    }))
}

pub(super) fn format_sentence_label(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    Ok(Some(Example {
        text: r.str("sentence")?,
        label: r.binary("label")?,
        replies: None,
    }))
}

pub(super) fn format_piqa(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let right = r.index("label", 2)?;
    let label = coin(rng);
    let sol = ["sol1", "sol2"][if label == 1 { right } else { 1 - right }];
    Ok(Some(Example {
        text: format!("Goal: {}\nSolution: {}", r.str("goal")?, r.str(sol)?),
        label,
        replies: None,
    }))
}

/// OpenBookQA choices: hub `choices = {text: [...], label: [A..D]}`, `question_stem`,
/// `answerKey`; original TSV `Question Stem`, `Choices` as "(A) .. (B) ..", `Answer Key`.
pub(super) fn format_openbookqa(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
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
        replies: None,
    }))
}

/// Hub: `premise`, `hypothesis`, `label` 0/1/2 (entailment/neutral/contradiction); original
/// release: `context`, `statement`, `gold_label` e/n/c.
pub(super) fn format_anli(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
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
        replies: None,
    }))
}

pub(super) fn format_tweet_sentiment(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let label = match r.index("label", 3)? {
        0 => 0,
        2 => 1,
        _ => return Ok(None),
    };
    Ok(Some(Example {
        text: r.str("text")?,
        label,
        replies: None,
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
    Ok(Some(Example {
        text,
        label,
        replies: None,
    }))
}

/// Hub: `word`, `sentence1`, `sentence2`, `label`; original release: the same columns in a
/// header-less TSV, labels T/F in the `*.gold.txt` beside it.
pub(super) fn format_wic(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let text = format!(
        "Sentence 1:\n{}\n\nSentence 2:\n{}\n\nQ: Does \"{}\" have the same meaning in the above sentences?",
        r.str("sentence1")?,
        r.str("sentence2")?,
        r.str("word")?
    );
    example(text, r.binary("label")?)
}

/// Hub rows: `paragraph`, `question`, `answer`, `label`.
pub(super) fn format_multirc(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
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
pub(super) fn expand_multirc(row: Row) -> Result<Vec<Row>> {
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
pub(super) fn format_mc_taco(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let text = format!(
        "{}\n\nGiven the above, {} Is the answer {}?",
        r.str("sentence")?,
        r.str("question")?,
        r.str("answer")?
    );
    example(text, r.binary("label")?)
}

/// Hub rows: `dialogue` (turns), `question`, `choice` (3), `answer` (the right choice's text).
pub(super) fn format_dream(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
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
pub(super) fn expand_dream(row: Row) -> Result<Vec<Row>> {
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
pub(super) fn format_quail(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
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

pub(super) fn format_paws(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let text = format!(
        "Sent 1: {}\nSent 2: {}\n\nQ: Are these sentences semantically equivalent?",
        r.str("sentence1")?,
        r.str("sentence2")?
    );
    example(text, r.binary("label")?)
}

/// `para`, `question`, `choices: {text, label}`, `answerKey`.
pub(super) fn format_quartz(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
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
pub(super) fn format_social_iqa(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
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
pub(super) fn format_hellaswag(r: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
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

pub(super) fn format_ethics_justice(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let text = format!(
        "Q: Does this statement exemplify justice?\n\n{}\n\nA:",
        r.str("scenario")?
    );
    example(text, r.binary("label")?)
}

pub(super) fn format_ethics_deontology(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let text = format!(
        "Q: Is the following a morally valid excuse?\n\n{}\n\n{}\n\nA:",
        r.str("scenario")?,
        r.str("excuse")?
    );
    example(text, r.binary("label")?)
}

pub(super) fn format_ethics_virtue(r: &Row, _: &mut ChaCha8Rng) -> Result<Option<Example>> {
    let text = format!(
        "Q: Does this behavior match the adjective that follows?\n\n{}\n\nA:",
        r.str("scenario")?
    );
    example(text, r.binary("label")?)
}

/// `baseline` (the more pleasant scenario) and `less_pleasant`, shown in a seeded order; the
/// coin decides whether the stated answer is the right one.
pub(super) fn format_ethics_utilitarianism(
    r: &Row,
    rng: &mut ChaCha8Rng,
) -> Result<Option<Example>> {
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
