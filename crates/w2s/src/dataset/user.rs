//! Tasks defined by users in TOML, without writing Rust:
//!
//! ```toml
//! # reviews.toml  (paths are relative to this file)
//! train = ["data/train.jsonl"]          # one file or a list; jsonl/json/csv/tsv/parquet(.gz)
//! test = "data/test.csv"
//! text = "{title}: {content}"          # a field name, or a template over fields
//! label = "stars"                      # the field holding the label
//! label_map = { "5" = 1, "4" = 1, "2" = 0, "1" = 0 }  # optional; default true/false, yes/no, 0/1
//! ```
//! Rows whose label the map does not name are an error (map them, or filter the file).

use super::files::{self, Row};
use super::{Example, Pools};
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserTask {
    train: OneOrMany,
    test: OneOrMany,
    text: String,
    label: String,
    #[serde(default)]
    label_map: BTreeMap<String, u8>,
}

impl UserTask {
    pub fn read(path: &Path) -> Result<UserTask> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read task file {}", path.display()))?;
        let task: UserTask =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if let Some((k, v)) = task.label_map.iter().find(|(_, v)| **v > 1) {
            bail!(
                "{}: label_map maps `{k}` to {v}; labels are 0 or 1",
                path.display()
            );
        }
        Ok(task)
    }

    fn example(&self, row: &Row) -> Result<Example> {
        let text = if self.text.contains('{') {
            render(&self.text, row)?
        } else {
            row.str(&self.text)?
        };
        let label = if self.label_map.is_empty() {
            row.binary(&self.label)?
        } else {
            let raw = match row.get(&self.label)? {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            *self.label_map.get(raw.trim()).with_context(|| {
                format!(
                    "{}: field `{}` has value `{raw}`, which label_map does not name (it names: {})",
                    row.at(),
                    self.label,
                    self.label_map.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })?
        };
        Ok(Example { text, label })
    }

    /// The data files the task reads, with paths relative to `base` resolved.
    pub fn files(&self, base: &Path) -> Vec<PathBuf> {
        [&self.train, &self.test]
            .into_iter()
            .flat_map(|f| match f {
                OneOrMany::One(p) => vec![base.join(p)],
                OneOrMany::Many(v) => v.iter().map(|p| base.join(p)).collect(),
            })
            .collect()
    }

    /// Read both splits; paths relative to `base` (the task file's folder).
    pub fn load(&self, base: &Path, limits: (usize, usize)) -> Result<Pools> {
        let read = |files: &OneOrMany, limit: usize, what: &str| -> Result<Vec<Example>> {
            let list = match files {
                OneOrMany::One(p) => vec![p.clone()],
                OneOrMany::Many(v) => v.clone(),
            };
            let mut out = Vec::new();
            for f in list {
                let f = base.join(f);
                let rows = files::read_rows(&f, Some(limit.saturating_sub(out.len())), None)?;
                for r in &rows {
                    out.push(self.example(r)?);
                }
            }
            if out.is_empty() {
                bail!("the {what} split of {} is empty", base.display());
            }
            Ok(out)
        };
        Ok(Pools {
            train: read(&self.train, limits.0, "train")?,
            test: read(&self.test, limits.1, "test")?,
        })
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
        let pools = task.load(d.path(), (100, 100)).unwrap();
        assert_eq!(
            pools.train[0],
            Example {
                text: "great: loved it {x}".into(),
                label: 1
            }
        );
        assert_eq!(pools.train[1].label, 0);
        assert_eq!(pools.test[0].label, 1);

        std::fs::write(d.path().join("test.csv"), "t,c,s\nok,fine,3\n").unwrap();
        let e = task.load(d.path(), (100, 100)).unwrap_err().to_string();
        assert!(
            e.contains("test.csv:2") && e.contains("`s`") && e.contains("`3`"),
            "{e}"
        );

        std::fs::write(d.path().join("test.csv"), "t,c,s\n").unwrap();
        let e = task.load(d.path(), (100, 100)).unwrap_err().to_string();
        assert!(e.contains("test split") && e.contains("empty"), "{e}");
    }
}
