//! Raw rows from data files: JSON Lines, JSON (a list of objects), CSV/TSV (with a header, or
//! with column names given), Parquet, any of them gzipped. Every row remembers its file and
//! line (or row number) so that a bad value is reported where it is.

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One record of a data file.
#[derive(Debug, Clone)]
pub struct Row {
    pub file: Arc<PathBuf>,
    /// 1-based line (JSONL, CSV) or record number (JSON, Parquet).
    pub line: usize,
    pub fields: Map<String, Value>,
}

impl Row {
    pub fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }

    pub fn get(&self, field: &str) -> Result<&Value> {
        self.fields.get(field).with_context(|| {
            format!(
                "{}: no field `{field}` (fields here: {})",
                self.at(),
                self.field_names()
            )
        })
    }

    fn field_names(&self) -> String {
        self.fields.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    /// A text field (numbers are accepted and printed).
    pub fn str(&self, field: &str) -> Result<String> {
        match self.get(field)? {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            other => bail!(
                "{}: field `{field}` should be text, found {other}",
                self.at()
            ),
        }
    }

    /// A list of texts.
    pub fn strings(&self, field: &str) -> Result<Vec<String>> {
        serde_json::from_value(self.get(field)?.clone())
            .with_context(|| format!("{}: field `{field}` should be a list of texts", self.at()))
    }

    /// A label given as a bool, 0/1, or the strings true/false/yes/no/0/1 (any case).
    pub fn binary(&self, field: &str) -> Result<u8> {
        let v = self.get(field)?;
        let parsed = match v {
            Value::Bool(b) => Some(*b as u8),
            // 0.0 and 1.0 too: pandas writes an integer column with a missing value as floats.
            Value::Number(n) => match n.as_f64() {
                Some(0.0) => Some(0),
                Some(1.0) => Some(1),
                _ => None,
            },
            Value::String(s) => match s.trim().to_lowercase().as_str() {
                "true" | "yes" | "1" | "t" => Some(1),
                "false" | "no" | "0" | "f" => Some(0),
                _ => None,
            },
            _ => None,
        };
        parsed.with_context(|| {
            format!(
                "{}: field `{field}` has value {v}; expected a binary label (true/false, yes/no, 0/1)",
                self.at()
            )
        })
    }

    /// An integer field (numbers or numeric strings) within `0..bound`.
    pub fn index(&self, field: &str, bound: i64) -> Result<usize> {
        let v = self.get(field)?;
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if (0..bound).contains(&n) => Ok(n as usize),
            _ => bail!(
                "{}: field `{field}` has value {v}; expected an integer in 0..{bound}",
                self.at()
            ),
        }
    }
}

/// The formats w2s reads, from a file name (a trailing `.gz` is allowed on all but Parquet).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    JsonLines,
    Json,
    Csv,
    Tsv,
    Parquet,
    /// One text per line (`.txt`), as in tweet_eval's original release.
    Lines,
}

pub fn format_of(path: &Path) -> Option<Format> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let ext = name.rsplit('.').next()?;
    Some(match ext {
        "jsonl" | "ndjson" => Format::JsonLines,
        "json" => Format::Json,
        "csv" => Format::Csv,
        "tsv" => Format::Tsv,
        "parquet" => Format::Parquet,
        // WiC's release names its TSV files `*.data.txt`.
        "txt" if name.ends_with(".data.txt") => Format::Tsv,
        "txt" => Format::Lines,
        _ => return None,
    })
}

fn open(path: &Path) -> Result<Box<dyn Read>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(f)))
    } else {
        Box::new(BufReader::new(f))
    })
}

/// Read up to `limit` rows of a file. `columns` names the columns of a header-less CSV/TSV.
pub fn read_rows(path: &Path, limit: Option<usize>, columns: Option<&[&str]>) -> Result<Vec<Row>> {
    let format = format_of(path).with_context(|| {
        format!(
            "{}: unsupported file type; w2s reads .jsonl, .json, .csv, .tsv and .parquet (optionally .gz)",
            path.display()
        )
    })?;
    let file = Arc::new(path.to_path_buf());
    let limit = limit.unwrap_or(usize::MAX);
    match format {
        Format::JsonLines => read_json_lines(&file, limit),
        Format::Json => read_json(&file, limit),
        Format::Csv | Format::Tsv => read_delimited(&file, format, limit, columns),
        Format::Lines => read_lines(&file, limit),
        Format::Parquet => read_parquet(&file, limit),
    }
}

/// A JSON value as a row: an object's fields, or a list's items as fields "0", "1", ... (a
/// record written as a list, as DREAM's `[turns, questions, id]`).
fn json_row(v: Value, file: &Arc<PathBuf>, line: usize) -> Result<Row> {
    let fields = match v {
        Value::Object(fields) => fields,
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        other => bail!(
            "{}:{line}: expected a JSON object, found {}",
            file.display(),
            kind(&other)
        ),
    };
    Ok(Row {
        file: file.clone(),
        line,
        fields,
    })
}

fn read_json_lines(file: &Arc<PathBuf>, limit: usize) -> Result<Vec<Row>> {
    let path = file.as_path();
    let mut rows = Vec::new();
    for (i, line) in BufReader::new(open(path)?).lines().enumerate() {
        if rows.len() >= limit {
            break;
        }
        let line = line.with_context(|| format!("{}:{}: cannot read", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not valid JSON", path.display(), i + 1))?;
        rows.push(json_row(v, file, i + 1)?);
    }
    Ok(rows)
}

fn read_json(file: &Arc<PathBuf>, limit: usize) -> Result<Vec<Row>> {
    let path = file.as_path();
    let v: Value = serde_json::from_reader(open(path)?)
        .with_context(|| format!("{}: not valid JSON", path.display()))?;
    let Value::Array(items) = v else {
        bail!(
            "{}: expected a JSON list of records, found {}",
            path.display(),
            kind(&v)
        );
    };
    items
        .into_iter()
        .take(limit)
        .enumerate()
        .map(|(i, item)| json_row(item, file, i + 1))
        .collect()
}

fn read_delimited(
    file: &Arc<PathBuf>,
    format: Format,
    limit: usize,
    columns: Option<&[&str]>,
) -> Result<Vec<Row>> {
    let path = file.as_path();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(if format == Format::Tsv { b'\t' } else { b',' })
        .has_headers(columns.is_none())
        .flexible(false)
        .quoting(format == Format::Csv)
        .from_reader(open(path)?);
    let header: Vec<String> = match columns {
        Some(c) => c.iter().map(|s| s.to_string()).collect(),
        None => reader
            .headers()
            .with_context(|| format!("{}: cannot read the header", path.display()))?
            .iter()
            .map(str::to_owned)
            .collect(),
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        if rows.len() >= limit {
            break;
        }
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            anyhow::anyhow!("{}:{line}: {e}", path.display())
        })?;
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        if record.len() != header.len() {
            bail!(
                "{}:{line}: {} columns, expected {}",
                path.display(),
                record.len(),
                header.len()
            );
        }
        let fields = header
            .iter()
            .zip(record.iter())
            .map(|(k, v)| (k.clone(), Value::String(v.to_owned())))
            .collect();
        rows.push(Row {
            file: file.clone(),
            line,
            fields,
        });
    }
    Ok(rows)
}

/// One row a line, its text in the field `text`.
fn read_lines(file: &Arc<PathBuf>, limit: usize) -> Result<Vec<Row>> {
    let path = file.as_path();
    let mut rows = Vec::new();
    for (i, line) in BufReader::new(open(path)?).lines().enumerate().take(limit) {
        let line = line.with_context(|| format!("{}:{}: cannot read", path.display(), i + 1))?;
        let mut fields = Map::new();
        fields.insert("text".into(), Value::String(line));
        rows.push(Row {
            file: file.clone(),
            line: i + 1,
            fields,
        });
    }
    Ok(rows)
}

fn read_parquet(file: &Arc<PathBuf>, limit: usize) -> Result<Vec<Row>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let path = file.as_path();
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = SerializedFileReader::new(f)
        .with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
    let mut rows = Vec::new();
    for (i, row) in reader.get_row_iter(None)?.enumerate() {
        if rows.len() >= limit {
            break;
        }
        let row = row.with_context(|| format!("{}: row {}", path.display(), i + 1))?;
        rows.push(json_row(row.to_json_value(), file, i + 1)?);
    }
    Ok(rows)
}

/// A label file beside a data file, one label a line, as some original releases ship them:
/// `valid.jsonl` + `valid-labels.lst` (PIQA), `val_text.txt` + `val_labels.txt` (tweet_eval).
pub fn sibling_labels(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let stem = name.split('.').next()?.to_owned();
    let candidates = [
        format!("{stem}-labels.lst"),
        // WiC's release: `train.data.txt` beside `train.gold.txt`.
        format!("{stem}.gold.txt"),
        stem.strip_suffix("_text")
            .map(|s| format!("{s}_labels.txt"))
            .unwrap_or_default(),
    ];
    candidates
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| path.with_file_name(c))
        .find(|p| p.exists())
}

/// Put the lines of `labels` into each row's `label` field; the counts must agree.
pub fn attach_labels(rows: &mut [Row], labels: &Path) -> Result<()> {
    attach_labels_as(rows, labels, "label")
}

/// Put the lines of `labels` into each row's `field`; there must be a line per row.
pub fn attach_labels_as(rows: &mut [Row], labels: &Path, field: &str) -> Result<()> {
    let text = std::fs::read_to_string(labels)
        .with_context(|| format!("cannot read {}", labels.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() < rows.len() {
        bail!(
            "{} has {} labels for {} rows of {}",
            labels.display(),
            lines.len(),
            rows.len(),
            rows[0].file.display()
        );
    }
    for (row, l) in rows.iter_mut().zip(lines) {
        row.fields
            .insert(field.into(), Value::String(l.trim().to_owned()));
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_each_format() {
        let d = tempfile::tempdir().unwrap();
        let jl = write(d.path(), "a.jsonl", "{\"x\": \"1\"}\n\n{\"x\": \"2\"}\n");
        assert_eq!(read_rows(&jl, None, None).unwrap().len(), 2);
        let js = write(d.path(), "a.json", "[{\"x\": 1}, {\"x\": 2}, {\"x\": 3}]");
        assert_eq!(read_rows(&js, Some(2), None).unwrap().len(), 2);
        let csv = write(d.path(), "a.csv", "x,y\n\"a, b\",1\nc,0\n");
        let rows = read_rows(&csv, None, None).unwrap();
        assert_eq!(rows[0].str("x").unwrap(), "a, b");
        assert_eq!(rows[1].binary("y").unwrap(), 0);
        assert_eq!(rows[1].line, 3);
        let tsv = write(d.path(), "a.tsv", "s1\t1\tit \"is\" fine\n");
        let rows = read_rows(&tsv, None, Some(&["src", "label", "text"])).unwrap();
        assert_eq!(rows[0].str("text").unwrap(), "it \"is\" fine");
        let gz = d.path().join("b.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::default(),
        );
        enc.write_all(b"{\"x\": true}\n").unwrap();
        enc.finish().unwrap();
        assert_eq!(
            read_rows(&gz, None, None).unwrap()[0].binary("x").unwrap(),
            1
        );
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let d = tempfile::tempdir().unwrap();
        let bad = write(d.path(), "bad.jsonl", "{\"x\": 1}\n{\"x\": \n");
        let e = read_rows(&bad, None, None).unwrap_err().to_string();
        assert!(
            e.contains("bad.jsonl:2") && e.contains("not valid JSON"),
            "{e}"
        );

        let rows = read_rows(
            &write(d.path(), "r.jsonl", "{\"label\": \"maybe\"}\n"),
            None,
            None,
        )
        .unwrap();
        let e = rows[0].binary("label").unwrap_err().to_string();
        assert!(
            e.contains("r.jsonl:1") && e.contains("`label`") && e.contains("maybe"),
            "{e}"
        );
        let e = rows[0].str("question").unwrap_err().to_string();
        assert!(
            e.contains("r.jsonl:1") && e.contains("no field `question`"),
            "{e}"
        );

        let e = read_rows(&write(d.path(), "x.xlsx", ""), None, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.xlsx") && e.contains("unsupported file type"),
            "{e}"
        );

        let ragged = write(d.path(), "r.csv", "a,b\n1,2\n3\n");
        let e = read_rows(&ragged, None, None).unwrap_err().to_string();
        assert!(e.contains("r.csv:3"), "{e}");
    }
}
