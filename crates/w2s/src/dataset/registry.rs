//! Named tasks as data: each is a hub id, the files of its splits, and a formatter
//! (`formats.rs`) that makes a binary [`Example`] of a raw row; `layout.rs` finds the files.

use super::files::{self, Row};
use super::formats::*;
use super::layout::{config_folder, in_config, in_split, split_files, stem};
use super::{Example, Pools};
use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

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
    /// Every example is a context and two replies (reward modelling).
    pub pairwise: bool,
}

type Expander = fn(Row) -> Result<Vec<Row>>;

/// A task as most are: splits in files named `train` and `test`, CSV / JSON / Parquet rows
/// with their field names, one hub repository without configs, version 1, loaded from real
/// files by a test. The methods below set what differs.
const fn task(
    name: &'static str,
    hub: &'static str,
    format: Formatter,
    about: &'static str,
) -> Task {
    Task {
        name,
        about,
        hub,
        train: &["train"],
        test: &["test"],
        tsv_columns: None,
        format,
        version: 1,
        config: None,
        expand: None,
        tested: true,
        pairwise: false,
    }
}

impl Task {
    /// File-name stems of the train split, in order of preference.
    const fn train(mut self, stems: &'static [&'static str]) -> Task {
        self.train = stems;
        self
    }
    /// File-name stems of the test split, in order of preference.
    const fn test(mut self, stems: &'static [&'static str]) -> Task {
        self.test = stems;
        self
    }
    /// The original release's header-less TSV columns.
    const fn tsv(mut self, columns: &'static [&'static str]) -> Task {
        self.tsv_columns = Some(columns);
        self
    }
    /// The hub repository's config (subset).
    const fn config(mut self, config: &'static str) -> Task {
        self.config = Some(config);
        self
    }
    /// Every example a context and two replies.
    const fn pairs(mut self) -> Task {
        self.pairwise = true;
        self
    }
    /// Flattens the original release's nested records.
    const fn expand(mut self, expander: Expander) -> Task {
        self.expand = Some(expander);
        self
    }
}

/// The registered tasks: name, hub id, formatter, one line on each.
pub const TASKS: &[Task] = &[
    task("sciq", "allenai/sciq", format_sciq, "science questions; correct answer vs a random distractor (coin flip)"),
    task("boolq", "google/boolq", format_boolq, "yes/no questions about a Wikipedia passage; test = validation")
        .test(&["validation", "val", "valid", "dev"]),
    task("cosmos_qa", "allenai/cosmos_qa", format_cosmos_qa, "commonsense reading comprehension, 4 choices; test = validation")
        .test(&["validation", "valid", "val", "dev"]),
    task("anthropic_hh", "Anthropic/hh-rlhf", format_anthropic_hh, "helpful/harmless dialogues: the chosen or the rejected reply (coin flip)"),
    task("anthropic_hh_pairs", "Anthropic/hh-rlhf", format_anthropic_hh_pairs, "pairwise (reward model): which of the two last assistant replies people chose")
        .pairs(),
    task("amazon_polarity", "fancyzhx/amazon_polarity", format_amazon_polarity, "Amazon review sentiment: title and content"),
    task("sst2", "stanfordnlp/sst2", format_sentence_label, "GLUE SST-2 movie-review sentiment; test = validation")
        .test(&["validation", "dev"]),
    task("cola", "nyu-mll/glue", format_sentence_label, "GLUE CoLA grammatical acceptability; test = validation (in- and out-of-domain dev)")
        .test(&["validation", "dev"])
        .tsv(&["source", "label", "judgment", "sentence"])
        .config("cola"),
    task("piqa", "ybisk/piqa", format_piqa, "physical commonsense: goal with the right or the wrong solution (coin flip)")
        .test(&["validation", "valid", "dev"]),
    task("openbookqa", "allenai/openbookqa", format_openbookqa, "elementary science, 4 choices: correct vs a random wrong choice (coin flip)"),
    task("anli_r2", "facebook/anli", format_anli, "adversarial NLI round 2: entailment (1) vs contradiction (0), neutral dropped")
        .train(&["train_r2"])
        .test(&["test_r2", "dev_r2", "dev"]),
    task("tweet_eval_sentiment", "cardiffnlp/tweet_eval", format_tweet_sentiment, "tweet sentiment: positive (1) vs negative (0), neutral dropped")
        .config("sentiment"),
    task("wic", "aps/super_glue", format_wic, "SuperGLUE WiC: does a word mean the same in two sentences; test = validation")
        .test(&["validation", "dev"])
        .tsv(&["word", "pos", "indices", "sentence1", "sentence2"])
        .config("wic"),
    task("multirc", "aps/super_glue", format_multirc, "SuperGLUE MultiRC: is this answer to a question about a passage right; test = validation")
        .test(&["validation", "val", "dev"])
        .config("multirc")
        .expand(expand_multirc),
    task("mc_taco", "CogComp/mc_taco", format_mc_taco, "temporal commonsense: is this answer plausible; train = test (larger), test = validation, as EleutherAI/w2s")
        .train(&["test"])
        .test(&["validation", "dev"])
        .tsv(&["sentence", "question", "answer", "label", "category"]),
    task("dream", "dataset-org/dream", format_dream, "dialogue reading comprehension, 3 choices: correct vs a random wrong one (coin flip)")
        .expand(expand_dream),
    task("quail", "textmachinelab/quail", format_quail, "reading comprehension, 4 choices: correct vs a random wrong one (coin flip); test = validation")
        .test(&["validation", "dev", "challenge"]),
    task("paws", "google-research-datasets/paws", format_paws, "PAWS paraphrase identification (labeled_final)")
        .config("labeled_final"),
    task("quartz", "allenai/quartz", format_quartz, "QuaRTz qualitative relations, 2 choices: correct or the other (coin flip)"),
    task("social_iqa", "allenai/social_i_qa", format_social_iqa, "Social IQa, 3 choices: correct vs a random wrong one (coin flip); test = validation")
        .test(&["validation", "dev"]),
    task("hellaswag", "Rowan/hellaswag", format_hellaswag, "HellaSwag continuations, 4 endings: correct vs a random wrong one (coin flip); test = validation")
        .test(&["validation", "dev"]),
    task("ethics_justice", "hendrycks/ethics", format_ethics_justice, "ETHICS justice: does the statement exemplify justice")
        .config("justice"),
    task("ethics_deontology", "hendrycks/ethics", format_ethics_deontology, "ETHICS deontology: is the excuse morally valid")
        .config("deontology"),
    task("ethics_virtue", "hendrycks/ethics", format_ethics_virtue, "ETHICS virtue: does the behaviour match the adjective")
        .config("virtue"),
    task("ethics_utilitarianism", "hendrycks/ethics", format_ethics_utilitarianism, "ETHICS utilitarianism: which of two scenarios is more pleasant (coin flip on the answer)")
        .config("utilitarianism"),
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
        super::DEMO,
        "built-in: templated sentiment, adjectives unseen in train",
        true,
    )];
    v.extend(TASKS.iter().map(|t| (t.name, t.about, t.tested)));
    v
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
            "{}: no train split in {}; carving train and test halves out of its test split ({}: {} examples)",
            task.name,
            dir.display(),
            test_files.iter().map(|f| stem(f.as_path())).collect::<Vec<_>>().join(", "),
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
