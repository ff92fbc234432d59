//! Tasks defined by users in TOML, without writing Rust:
//!
//! ```toml
//! # reviews.toml  (paths are relative to this file)
//! train = ["data/train.jsonl"]          # one file or a list; jsonl/json/csv/tsv/parquet(.gz)
//! test = "data/test.csv"
//! text = "{title}: {content}"          # a field name, or a template over fields
//! label = "stars"                      # the field holding the label
//! label_map = { "5" = 1, "4" = 1, "2" = 0, "1" = 0 }  # optional; default true/false, yes/no, 0/1
//! drop_unmapped = true                 # optional: drop rows the map does not name (counted)
//! ```
//! Rows whose label the map does not name are an error, unless `drop_unmapped` drops them.
//!
//! A multiple-choice task becomes one binary example per question, as the reference does for
//! SciQ: a seeded coin shows the right choice (label 1) or a random wrong one (label 0), as
//! `{choice}` in the template:
//!
//! ```toml
//! train = "train.jsonl"
//! train_labels = "train-labels.lst"    # optional side file: one label per row, in `label`
//! test = "dev.jsonl"
//! test_labels = "dev-labels.lst"
//! text = "{context}\nQ: {question}\nA: {choice}"
//! choices = ["answerA", "answerB", "answerC"]  # several fields, or one list field: "endings"
//! label = "label"                      # the right choice: an index, a letter (A, B, ...), or its text
//! answer_base = 1                      # optional: indices count from 1 (default 0)
//! ```
//!
//! A pairwise task (reward modelling): `text` is the shared context, and either `chosen` and
//! `rejected` name the preferred and the other reply, or `replies` names two reply fields with
//! `label` saying whether the first is preferred (1, true, yes; `label_map` as above). A seeded
//! coin decides which reply the model sees as `a`, so position carries no signal:
//!
//! ```toml
//! train = "prefs.jsonl"
//! test = "prefs-test.jsonl"
//! text = "{prompt}"                    # the context
//! chosen = "chosen"                    # or: replies = ["response_a", "response_b"] and label
//! rejected = "rejected"
//! ```
//!
//! A dataset on the Hugging Face hub: `hub = "cardiffnlp/tweet_eval"`, `config = "irony"`, and
//! `train` / `test` name its splits (`"train"`, `"validation"`), found as for registered tasks
//! (downloaded into the cache, or under `--data-dir`).

use super::files::{self, Row};
use super::{Example, Pools};
use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

/// The choices of a multiple-choice task: several fields, or one field holding a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Choices {
    Field(String),
    Fields(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserTask {
    /// A dataset repository on the Hugging Face hub; `train` and `test` then name its splits.
    #[serde(default)]
    hub: Option<String>,
    /// The repository's config (subset): its files' folder.
    #[serde(default)]
    config: Option<String>,
    train: OneOrMany,
    test: OneOrMany,
    /// Side files with one label per row (aligned with the split's files).
    #[serde(default)]
    train_labels: Option<OneOrMany>,
    #[serde(default)]
    test_labels: Option<OneOrMany>,
    /// The text's field or template; for a pairwise task the shared context, which may be
    /// left out (replies without a prompt).
    #[serde(default)]
    text: String,
    /// The column names of a CSV/TSV file without a header row, in order.
    #[serde(default)]
    columns: Option<Vec<String>>,
    /// The label field; a pairwise task with `chosen` and `rejected` has none.
    #[serde(default)]
    label: String,
    #[serde(default)]
    label_map: BTreeMap<String, u8>,
    /// Pairwise: the fields of the preferred and the other reply.
    #[serde(default)]
    chosen: Option<String>,
    #[serde(default)]
    rejected: Option<String>,
    /// Pairwise: the fields of two replies, `label` 1 where the first is preferred.
    #[serde(default)]
    replies: Option<[String; 2]>,
    #[serde(default)]
    drop_unmapped: bool,
    #[serde(default)]
    choices: Option<Choices>,
    #[serde(default)]
    answer_base: usize,
}

/// `path`, or `path.gz` where only the gzipped copy exists (a task file naming `t.jsonl`
/// reads `t.jsonl.gz`).
fn or_gz(path: PathBuf) -> PathBuf {
    let mut gz = path.clone().into_os_string();
    gz.push(".gz");
    let gz = PathBuf::from(gz);
    match !path.exists() && gz.is_file() {
        true => gz,
        false => path,
    }
}

fn paths(files: &OneOrMany) -> Vec<PathBuf> {
    match files {
        OneOrMany::One(p) => vec![p.clone()],
        OneOrMany::Many(v) => v.clone(),
    }
}

impl UserTask {
    /// Every example a context and two replies: `chosen`/`rejected`, or `replies` and a label.
    pub fn pairwise(&self) -> bool {
        self.chosen.is_some() || self.replies.is_some()
    }

    pub fn read(path: &Path) -> Result<UserTask> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read task file {}", path.display()))?;
        let mut task: UserTask =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        task.infer_columns(path.parent().unwrap_or(Path::new(".")))?;
        let pairwise = task.chosen.is_some() || task.rejected.is_some();
        if pairwise && (task.chosen.is_none() || task.rejected.is_none()) {
            bail!(
                "{}: a pairwise task names both `chosen` and `rejected`",
                path.display()
            );
        }
        if pairwise && (task.replies.is_some() || task.choices.is_some()) {
            bail!(
                "{}: `chosen`/`rejected`, `replies` and `choices` are three kinds of task: use one",
                path.display()
            );
        }
        if task.text.is_empty() && !pairwise && task.replies.is_none() {
            bail!(
                "{}: missing key `text` (the field holding the example's text, or a template such as \"{{question}} {{answer}}\")",
                path.display()
            );
        }
        if !pairwise && task.label.is_empty() {
            bail!(
                "{}: missing key `label` (the field holding the label{})",
                path.display(),
                if task.replies.is_some() {
                    ": 1 where the first reply is preferred"
                } else {
                    ""
                }
            );
        }
        if let Some((k, v)) = task.label_map.iter().find(|(_, v)| **v > 1) {
            bail!(
                "{}: label_map maps `{k}` to {v}; labels are 0 or 1",
                path.display()
            );
        }
        Ok(task)
    }

    /// The columns a task reads where it does not name them, from the column names of its
    /// first train row: the one rule for task files and Python's data. Preference rows
    /// (`chosen` and `rejected` columns): those replies, the context in `context`, `prompt` or
    /// `text`; multiple choice (a `choices` column and no `label`): the right one in `answer`,
    /// the text `{question}\n{choice}` (or `{choice}`); otherwise `text` and `label`. A hub
    /// task, or one naming its columns, is read as written.
    fn infer_columns(&mut self, base: &Path) -> Result<()> {
        let named = !self.text.is_empty() && (!self.label.is_empty() || self.pairwise());
        if named || self.hub.is_some() || self.replies.is_some() {
            return Ok(());
        }
        let Some(first) = paths(&self.train).first().map(|p| or_gz(base.join(p))) else {
            return Ok(());
        };
        let header: Option<Vec<&str>> = self
            .columns
            .as_ref()
            .map(|c| c.iter().map(String::as_str).collect());
        let Ok(rows) = files::read_rows(&first, Some(1), header.as_deref()) else {
            return Ok(()); // read again, with its error, when the task loads
        };
        let Some(row) = rows.first() else {
            return Ok(());
        };
        let has = |c: &str| row.fields.contains_key(c);
        // A key is filled only with a column the rows have: otherwise the check below names
        // the missing key.
        let fill = |field: &mut String, value: &str, column: &str| {
            if field.is_empty() && has(column) {
                *field = value.to_owned();
            }
        };
        if has("chosen") && has("rejected") && self.choices.is_none() {
            self.chosen.get_or_insert_with(|| "chosen".into());
            self.rejected.get_or_insert_with(|| "rejected".into());
            if let Some(c) = ["context", "prompt", "text"].into_iter().find(|c| has(c)) {
                fill(&mut self.text, c, c);
            }
        } else if has("choices") && !has("label") || self.choices.is_some() {
            self.choices.get_or_insert(Choices::Field("choices".into()));
            fill(&mut self.label, "answer", "answer");
            if self.text.is_empty() {
                self.text = match has("question") {
                    true => "{question}\n{choice}".into(),
                    false => "{choice}".into(),
                };
            }
        } else if !self.pairwise() {
            fill(&mut self.text, "text", "text");
            fill(&mut self.label, "label", "label");
        }
        Ok(())
    }

    /// A row's example; `None` for a row that `drop_unmapped` drops.
    fn example(&self, row: &Row, rng: &mut ChaCha8Rng) -> Result<Option<Example>> {
        if let Some(choices) = &self.choices {
            return self.choice_example(row, choices, rng).map(Some);
        }
        if let (Some(chosen), Some(rejected)) = (&self.chosen, &self.rejected) {
            let (good, bad) = (row.str(chosen)?, row.str(rejected)?);
            return Ok(Some(Example::preference(self.render(row)?, good, bad, rng)));
        }
        let Some(label) = self.label(row)? else {
            return Ok(None);
        };
        if let Some([a, b]) = &self.replies {
            let (a, b) = (row.str(a)?, row.str(b)?);
            let (good, bad) = if label == 1 { (a, b) } else { (b, a) };
            return Ok(Some(Example::preference(self.render(row)?, good, bad, rng)));
        }
        Ok(Some(Example {
            text: self.render(row)?,
            label,
            replies: None,
        }))
    }

    /// A row's label; `None` for a row that `drop_unmapped` drops.
    fn label(&self, row: &Row) -> Result<Option<u8>> {
        Ok(Some(if self.label_map.is_empty() {
            row.binary(&self.label)?
        } else {
            let raw = raw_text(row.get(&self.label)?);
            match self.label_map.get(raw.trim()) {
                Some(l) => *l,
                None if self.drop_unmapped => return Ok(None),
                None => bail!(
                    "{}: field `{}` has value `{raw}`, which label_map does not name (it names: {}; \
                     drop_unmapped = true drops such rows)",
                    row.at(),
                    self.label,
                    self.label_map.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            }
        }))
    }

    fn render(&self, row: &Row) -> Result<String> {
        if self.text.is_empty() {
            return Ok(String::new()); // a pairwise task without a context
        }
        if self.text.contains('{') {
            render(&self.text, row)
        } else {
            row.str(&self.text)
        }
    }

    /// One binary example of a multiple-choice row: the seeded coin shows the right choice
    /// (label 1) or a random wrong one (label 0) as `{choice}`.
    fn choice_example(
        &self,
        row: &Row,
        choices: &Choices,
        rng: &mut ChaCha8Rng,
    ) -> Result<Example> {
        let options: Vec<String> = match choices {
            Choices::Field(f) => row.strings(f)?,
            Choices::Fields(fs) => fs.iter().map(|f| row.str(f)).collect::<Result<_>>()?,
        };
        if options.len() < 2 {
            bail!("{}: fewer than two choices", row.at());
        }
        let answer = raw_text(row.get(&self.label)?);
        let right = self
            .right_choice(answer.trim(), &options)
            .with_context(|| {
                format!(
                "{}: field `{}` = `{answer}` names none of the {} choices (an index from {}, a \
                 letter, or a choice's text)",
                row.at(),
                self.label,
                options.len(),
                self.answer_base
            )
            })?;
        let label = rng.gen_bool(0.5) as u8;
        let shown = if label == 1 {
            right
        } else {
            let wrong: Vec<usize> = (0..options.len()).filter(|&i| i != right).collect();
            *wrong.choose(rng).expect("two choices or more")
        };
        let mut with_choice = row.clone();
        with_choice.fields.insert(
            "choice".into(),
            serde_json::Value::String(options[shown].clone()),
        );
        Ok(Example {
            text: self.render(&with_choice)?,
            label,
            replies: None,
        })
    }

    /// The right choice's position from an index (counted from `answer_base`), a letter, or
    /// the choice's own text.
    fn right_choice(&self, answer: &str, options: &[String]) -> Option<usize> {
        if let Ok(i) = answer.parse::<usize>() {
            return i
                .checked_sub(self.answer_base)
                .filter(|&i| i < options.len());
        }
        let mut chars = answer.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            if c.is_ascii_alphabetic() && options.len() <= 26 {
                let i = (c.to_ascii_uppercase() as u8 - b'A') as usize;
                return (i < options.len()).then_some(i);
            }
        }
        options.iter().position(|o| o.trim() == answer)
    }

    /// The train and test data files: paths relative to `base` (the task file's folder), or
    /// for a hub dataset the files of the named splits in its snapshot (or `data_dir`).
    fn split_files(&self, base: &Path, data_dir: Option<&Path>) -> Result<[Vec<PathBuf>; 2]> {
        let Some(repo) = &self.hub else {
            let resolve =
                |f: &OneOrMany| paths(f).into_iter().map(|p| or_gz(base.join(p))).collect();
            return Ok([resolve(&self.train), resolve(&self.test)]);
        };
        let names = |f: &OneOrMany| -> Vec<String> {
            paths(f)
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect()
        };
        let (train, test) = (names(&self.train), names(&self.test));
        let config = self.config.as_deref();
        let dir = match data_dir {
            Some(d) => d.to_path_buf(),
            None => super::hub::download(repo, repo, |f| {
                super::layout::in_config(f, config)
                    && train
                        .iter()
                        .chain(&test)
                        .any(|a| super::layout::in_split(f, a))
            })?,
        };
        let dir = super::layout::config_folder(dir, config);
        let find = |aliases: &[String]| -> Result<Vec<PathBuf>> {
            let a: Vec<&str> = aliases.iter().map(String::as_str).collect();
            let found = super::layout::split_files(&dir, &a);
            if found.is_empty() {
                bail!("{}: no files for split {a:?} of {repo}", dir.display());
            }
            Ok(found)
        };
        Ok([find(&train)?, find(&test)?])
    }

    /// The data and label files the task reads.
    pub fn files(&self, base: &Path, data_dir: Option<&Path>) -> Result<Vec<PathBuf>> {
        let [train, test] = self.split_files(base, data_dir)?;
        let labels = [self.train_labels.as_ref(), self.test_labels.as_ref()]
            .into_iter()
            .flatten()
            .flat_map(paths)
            .map(|p| base.join(p));
        Ok(train.into_iter().chain(test).chain(labels).collect())
    }

    /// Read both splits; paths relative to `base` (the task file's folder); `seed` drives
    /// the multiple-choice coin.
    pub fn load(
        &self,
        base: &Path,
        data_dir: Option<&Path>,
        seed: u64,
        limits: (usize, usize),
    ) -> Result<Pools> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let [train_files, test_files] = self.split_files(base, data_dir)?;
        let mut read = |files: &[PathBuf],
                        labels: Option<&OneOrMany>,
                        limit: usize,
                        what: &str|
         -> Result<Vec<Example>> {
            let labels = labels.map(paths);
            if let Some(l) = &labels {
                if l.len() != files.len() {
                    bail!(
                        "{what}_labels names {} files for {} data files; give one per data file",
                        l.len(),
                        files.len()
                    );
                }
            }
            let (mut out, mut dropped) = (Vec::new(), 0);
            for (k, f) in files.iter().enumerate() {
                // With side labels every row is read, so that the two files line up.
                let cap = labels.is_none().then(|| limit.saturating_sub(out.len()));
                let columns: Option<Vec<&str>> = self
                    .columns
                    .as_ref()
                    .map(|c| c.iter().map(String::as_str).collect());
                let mut rows = files::read_rows(f, cap, columns.as_deref())?;
                if let Some(l) = &labels {
                    files::attach_labels_as(&mut rows, &base.join(&l[k]), &self.label)?;
                }
                for r in &rows {
                    if out.len() >= limit {
                        break;
                    }
                    match self.example(r, &mut rng)? {
                        Some(e) => out.push(e),
                        None => dropped += 1,
                    }
                }
            }
            if dropped > 0 {
                tracing::warn!(
                    "{}: dropped {dropped} {what} rows whose `{}` label_map does not name",
                    base.display(),
                    self.label
                );
            }
            if out.is_empty() {
                bail!("the {what} split of {} is empty", base.display());
            }
            Ok(out)
        };
        Ok(Pools {
            train: read(&train_files, self.train_labels.as_ref(), limits.0, "train")?,
            test: read(&test_files, self.test_labels.as_ref(), limits.1, "test")?,
        })
    }
}

/// A field's value as text (strings as they are, numbers and booleans printed).
fn raw_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Fill `{field}` placeholders from a row; `{{` and `}}` are literal braces.
fn render(template: &str, row: &Row) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let c = rest.as_bytes()[i];
        if rest[i + 1..].starts_with(c as char) {
            out.push(c as char);
            rest = &rest[i + 2..];
            continue;
        }
        if c == b'}' {
            bail!("text template `{template}`: unmatched `}}`");
        }
        let end = rest[i..]
            .find('}')
            .with_context(|| format!("text template `{template}`: unclosed `{{`"))?;
        out.push_str(&row.str(&rest[i + 1..i + end])?);
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A task made of rows in memory (Python's `train=` and `test=`, as JSON lines) and the task
/// file's other keys (`keys`, as JSON): written as a task file `NAME.toml` beside `train.jsonl`
/// and `test.jsonl` in `RESULTS/.tasks/<hash of the three>/`, so the same data always lands in
/// the same folder and any change is another task (as for any task file: its text and data are
/// its identity). Written whole in a private folder, then renamed into place: a second process
/// writing the same task finds it complete or makes it itself. Returns the task file's path.
pub fn task_from_rows(
    train: &str,
    test: &str,
    keys: &serde_json::Map<String, serde_json::Value>,
    name: &str,
    results: &Path,
) -> Result<PathBuf> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("task name {name:?}: letters, digits, - and _ only");
    }
    if let Some(k) = ["train", "test"]
        .into_iter()
        .find(|k| keys.contains_key(*k))
    {
        bail!("task = {{{k:?}: ...}}: the data is given as `{k}=`");
    }
    let mut doc = serde_json::Map::new();
    doc.insert("train".into(), "train.jsonl".into());
    doc.insert("test".into(), "test.jsonl".into());
    doc.extend(keys.clone());
    let table = toml::Table::try_from(&doc).context("the task's keys as TOML")?;
    let toml_text = format!("# written by w2s from Python data\n{table}");
    let parts = [toml_text.as_str(), train, test].map(|p| crate::store::sha256_hex(p.as_bytes()));
    let hash = crate::store::sha256_hex(parts.concat().as_bytes());
    let tasks = std::path::absolute(results)?.join(".tasks");
    let folder = tasks.join(&hash[..20]);
    let path = folder.join(format!("{name}.toml"));
    if path.is_file() {
        return Ok(path);
    }
    let tmp = tasks.join(format!(".tmp-{}-{}", &hash[..20], std::process::id()));
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    for (file, text) in [
        ("train.jsonl", train),
        ("test.jsonl", test),
        (&format!("{name}.toml"), &toml_text),
    ] {
        std::fs::write(tmp.join(file), text)
            .with_context(|| format!("writing {}", tmp.join(file).display()))?;
    }
    if std::fs::rename(&tmp, &folder).is_err() {
        // Another process put the same task there first (or a task of another name there).
        if !path.is_file() {
            std::fs::rename(tmp.join(format!("{name}.toml")), &path)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_task_end_to_end_and_errors() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("train.jsonl"), "{\"t\": \"great\", \"c\": \"loved it\", \"s\": 5}\n{\"t\": \"bad\", \"c\": \"meh\", \"s\": 1}\n").unwrap();
        std::fs::write(d.path().join("test.csv"), "t,c,s\nok,fine,5\n").unwrap();
        let toml = "train = \"train.jsonl\"\ntest = \"test.csv\"\ntext = \"{t}: {c} {{x}}\"\nlabel = \"s\"\nlabel_map = { \"5\" = 1, \"1\" = 0 }\n";
        std::fs::write(d.path().join("task.toml"), toml).unwrap();
        let task = UserTask::read(&d.path().join("task.toml")).unwrap();
        let pools = task.load(d.path(), None, 0, (100, 100)).unwrap();
        assert_eq!(
            pools.train[0],
            Example {
                text: "great: loved it {x}".into(),
                label: 1,
                replies: None
            }
        );
        assert_eq!(pools.train[1].label, 0);
        assert_eq!(pools.test[0].label, 1);

        std::fs::write(d.path().join("test.csv"), "t,c,s\nok,fine,3\n").unwrap();
        let e = task
            .load(d.path(), None, 0, (100, 100))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("test.csv:2") && e.contains("`s`") && e.contains("`3`"),
            "{e}"
        );

        std::fs::write(d.path().join("test.csv"), "t,c,s\n").unwrap();
        let e = task
            .load(d.path(), None, 0, (100, 100))
            .unwrap_err()
            .to_string();
        assert!(e.contains("test split") && e.contains("empty"), "{e}");
    }

    #[test]
    fn headerless_csv_gzipped_files_and_pairs_without_a_context() {
        use std::io::Write;
        let d = tempfile::tempdir().unwrap();
        // ETHICS utilitarianism ships so: two scenarios a row, no header, the first preferred.
        std::fs::write(
            d.path().join("util.csv"),
            "I ate a cake.,I dropped a cake.\nI won.,I lost.\n",
        )
        .unwrap();
        // The test file exists only gzipped; the task names the plain file.
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(d.path().join("util-test.csv.gz")).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(b"I smiled.,I frowned.\n").unwrap();
        gz.finish().unwrap();
        let toml = "train = \"util.csv\"\ntest = \"util-test.csv\"\ncolumns = [\"better\", \"worse\"]\nchosen = \"better\"\nrejected = \"worse\"\n";
        std::fs::write(d.path().join("task.toml"), toml).unwrap();
        let task = UserTask::read(&d.path().join("task.toml")).unwrap();
        let pools = task.load(d.path(), None, 0, (100, 100)).unwrap();
        assert_eq!((pools.train.len(), pools.test.len()), (2, 1));
        for e in pools.train.iter().chain(&pools.test) {
            assert_eq!(e.text, "", "no context, and no literal braces");
            let r = e.replies.as_ref().unwrap();
            let preferred = if e.label == 1 { &r[0] } else { &r[1] };
            assert!(
                ["I ate a cake.", "I won.", "I smiled."].contains(&preferred.as_str()),
                "{e:?}"
            );
        }
        // A task that is not pairwise still needs its text.
        std::fs::write(
            d.path().join("bad.toml"),
            "train = \"util.csv\"\ntest = \"util.csv\"\nlabel = \"x\"\n",
        )
        .unwrap();
        let e = UserTask::read(&d.path().join("bad.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad.toml") && e.contains("missing key `text`"),
            "{e}"
        );
    }

    #[test]
    fn multiple_choice_side_labels_and_dropped_rows() {
        let d = tempfile::tempdir().unwrap();
        let mut rows = String::new();
        let mut labels = String::new();
        for i in 0..40 {
            rows += &format!(
                "{{\"q\": \"question {i}\", \"a\": \"red\", \"b\": \"green\", \"c\": \"blue\", \"opts\": [\"red\", \"green\", \"blue\"]}}\n"
            );
            labels += "2\n"; // 1-based: green
        }
        std::fs::write(d.path().join("q.jsonl"), &rows).unwrap();
        std::fs::write(d.path().join("q-labels.lst"), &labels).unwrap();
        let task = |extra: &str| -> UserTask {
            let t = format!(
                "train = \"q.jsonl\"\ntest = \"q.jsonl\"\ntrain_labels = \"q-labels.lst\"\ntest_labels = \"q-labels.lst\"\ntext = \"{{q}}? {{choice}}\"\nlabel = \"answer\"\n{extra}"
            );
            toml::from_str(&t).unwrap()
        };
        for extra in [
            "choices = [\"a\", \"b\", \"c\"]\nanswer_base = 1\n",
            "choices = \"opts\"\nanswer_base = 1\n",
        ] {
            let pools = task(extra).load(d.path(), None, 7, (100, 100)).unwrap();
            assert_eq!(pools.train.len(), 40);
            for e in &pools.train {
                assert_eq!(e.text.ends_with("? green"), e.label == 1, "{}", e.text);
            }
            let rate = super::super::positive_rate(&pools.train);
            assert!(rate > 0.2 && rate < 0.8, "{rate}");
        }
        // The answer as a letter, as the choice's text, as a 0-based index.
        let t = task("choices = [\"a\", \"b\", \"c\"]\n");
        let opts: Vec<String> = ["red", "green", "blue"].map(String::from).to_vec();
        assert_eq!(t.right_choice("B", &opts), Some(1));
        assert_eq!(t.right_choice("blue", &opts), Some(2));
        assert_eq!(t.right_choice("0", &opts), Some(0));
        assert_eq!(t.right_choice("3", &opts), None);
        assert_eq!(t.right_choice("purple", &opts), None);

        // Binary labels through a map; rows it does not name are dropped and counted.
        std::fs::write(
            d.path().join("s.csv"),
            "t,y\ngood,pos\nbad,neg\nmeh,neutral\n",
        )
        .unwrap();
        let t: UserTask = toml::from_str(
            "train = \"s.csv\"\ntest = \"s.csv\"\ntext = \"t\"\nlabel = \"y\"\nlabel_map = { pos = 1, neg = 0 }\ndrop_unmapped = true\n",
        )
        .unwrap();
        let pools = t.load(d.path(), None, 0, (100, 100)).unwrap();
        assert_eq!(pools.train.len(), 2);
        std::fs::write(d.path().join("short.lst"), "1\n").unwrap();
        let t = task("choices = \"opts\"\n");
        let t = UserTask {
            train_labels: Some(OneOrMany::One("short.lst".into())),
            ..t
        };
        let e = t
            .load(d.path(), None, 0, (100, 100))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("short.lst") && e.contains("1 labels for 40 rows"),
            "{e}"
        );
    }

    /// Unnamed columns are read from the rows, the one rule for task files and Python's data;
    /// rows in memory become a task folder named by its content.
    #[test]
    fn columns_from_the_rows_and_tasks_from_rows() {
        let d = tempfile::tempdir().unwrap();
        let plain: String = (0..20)
            .map(|i| format!("{{\"text\": \"row {i}\", \"label\": {}}}\n", i % 2))
            .collect();
        let prefs: String = (0..20)
            .map(|i| {
                format!("{{\"prompt\": \"q{i}\", \"chosen\": \"good\", \"rejected\": \"bad\"}}\n")
            })
            .collect();
        let keys = serde_json::Map::new();
        let task = task_from_rows(&plain, &plain, &keys, "plain", d.path()).unwrap();
        let again = task_from_rows(&plain, &plain, &keys, "plain", d.path()).unwrap();
        assert_eq!(task, again, "the same data, the same task file");
        let t = UserTask::read(&task).unwrap();
        assert_eq!((t.text.as_str(), t.label.as_str()), ("text", "label"));
        let pools = t.load(task.parent().unwrap(), None, 0, (100, 100)).unwrap();
        assert_eq!(pools.train.len(), 20);
        let p = UserTask::read(&task_from_rows(&prefs, &prefs, &keys, "prefs", d.path()).unwrap())
            .unwrap();
        assert!(p.pairwise() && p.text == "prompt" && p.chosen.as_deref() == Some("chosen"));
        let other = task_from_rows(
            &plain.replace("row 3", "row three"),
            &plain,
            &keys,
            "plain",
            d.path(),
        )
        .unwrap();
        assert_ne!(other.parent(), task.parent(), "other data, another task");
        let mut bad = serde_json::Map::new();
        bad.insert("train".into(), "x.jsonl".into());
        assert!(task_from_rows(&plain, &plain, &bad, "t", d.path())
            .unwrap_err()
            .to_string()
            .contains("train="));
        assert!(task_from_rows(&plain, &plain, &keys, "a/b", d.path()).is_err());
        // Rows without the columns: the task file names the missing key.
        let e = task_from_rows(
            "{\"body\": \"x\", \"y\": 1}\n",
            "{\"body\": \"x\", \"y\": 1}\n",
            &keys,
            "t",
            d.path(),
        )
        .and_then(|p| UserTask::read(&p))
        .unwrap_err()
        .to_string();
        assert!(e.contains("missing key `text`"), "{e}");
    }
}
