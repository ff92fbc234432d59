//! The Slurm executor: one job array per supervision depth, from the template
//! `slurm.sbatch` beside this file.

use super::{spec_file, Planned};
use crate::experiment::is_done;
use crate::store;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// The batch script of one wave; `{name}` placeholders are filled by [`fill`].
const TEMPLATE: &str = include_str!("slurm.sbatch");

/// `template` with each `{key}` replaced by its value, in one pass (a value that contains
/// another placeholder's name stays as it is).
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out += &rest[..open];
        let after = &rest[open + 1..];
        match after.find('}').and_then(|close| {
            values
                .iter()
                .find(|(k, _)| *k == &after[..close])
                .map(|x| (close, x))
        }) {
            Some((close, (_, v))) => {
                out += v;
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out + rest
}

/// A value for an `#SBATCH` line: one line, double-quoted (sbatch reads quotes in its
/// directives), or the submission is refused with the reason.
fn directive_value(what: &str, value: &str) -> Result<String> {
    if value.contains(['\n', '\r', '"']) {
        bail!(
            "{what} {value:?} cannot be written into an #SBATCH line (it holds a newline or a double \
             quote); choose a results folder without them"
        );
    }
    Ok(format!("\"{value}\""))
}

/// A word for the shell, single-quoted.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// How each array task runs: the device (`auto` takes the GPU Slurm hands the task through
/// `CUDA_VISIBLE_DEVICES`, e.g. with `--sbatch=--gres=gpu:1`) and libtorch's CPU threads.
#[derive(Debug, Clone)]
pub struct TaskSettings {
    pub device: String,
    pub threads: Option<i32>,
    pub force: bool,
}

/// Slurm: one job array per depth, each depending (`afterany`) on the previous one so that
/// students start after their supervisors and one failure does not block the rest. Every
/// task runs `w2s exec-run` on one spec. Returns the submitted job ids.
pub fn submit_slurm(
    plan: &[Planned],
    results: &Path,
    exe: &Path,
    extra_sbatch: &[String],
    task: &TaskSettings,
) -> Result<Vec<String>> {
    let dir = results.join(".sweep").join("slurm");
    check_paths(results, extra_sbatch)?;
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("creating {}", dir.join("logs").display()))?;
    let mut ids: Vec<String> = Vec::new();
    for (depth, wave) in super::plan::waves(plan) {
        let todo: Vec<&Planned> = wave
            .iter()
            .filter(|p| task.force || !is_done(&p.spec.dir(results), p.supervises))
            .collect();
        if todo.is_empty() {
            continue;
        }
        let list = dir.join(format!("wave{depth}.txt"));
        let specs: Vec<String> = todo
            .iter()
            .map(|p| {
                // The spec file, a tab, and the worker's extra flag (runs that supervise).
                let flag = if p.supervises { "--predict-train2" } else { "" };
                spec_file(results, &p.spec).map(|s| format!("{}\t{flag}", s.display()))
            })
            .collect::<Result<_>>()?;
        store::write_atomic(&list, (specs.join("\n") + "\n").as_bytes())?;
        let script = dir.join(format!("wave{depth}.sbatch"));
        let wave = Wave {
            depth,
            tasks: todo.len(),
            list: &list,
            logs: &dir.join("logs"),
        };
        let body = wave.script(results, exe, extra_sbatch, task)?;
        store::write_atomic(&script, body.as_bytes())?;
        ids.push(sbatch(&script, ids.last())?);
    }
    Ok(ids)
}

/// The task list separates a spec's path from its flag with a tab, and Slurm expands `%`
/// in #SBATCH --output: a results path with either would break every task; an #SBATCH line
/// cannot hold a newline.
fn check_paths(results: &Path, extra_sbatch: &[String]) -> Result<()> {
    let shown = results.display().to_string();
    if shown.contains(['\t', '%', '\n', '\r']) {
        bail!(
            "results folder {shown:?}: the slurm executor cannot use a path holding a tab, a \
             newline or `%` (Slurm expands it in log names); choose another --results folder"
        );
    }
    for a in extra_sbatch {
        if a.contains(['\n', '\r']) {
            bail!("--sbatch {a:?}: an option for an #SBATCH line cannot hold a newline");
        }
    }
    Ok(())
}

/// One wave's job array: `tasks` runs listed in `list`, logs into `logs`.
struct Wave<'a> {
    depth: usize,
    tasks: usize,
    list: &'a Path,
    logs: &'a Path,
}

impl Wave<'_> {
    /// The sbatch script of the wave, from [`TEMPLATE`].
    fn script(
        &self,
        results: &Path,
        exe: &Path,
        extra_sbatch: &[String],
        task: &TaskSettings,
    ) -> Result<String> {
        let depth = self.depth;
        let extra: String = extra_sbatch
            .iter()
            .map(|a| format!("#SBATCH {a}\n"))
            .collect();
        let output = self.logs.join(format!("wave{depth}-%a.out"));
        let threads = task
            .threads
            .map_or(String::new(), |t| format!(" --threads {t}"));
        Ok(fill(
            TEMPLATE,
            &[
                ("depth", depth.to_string()),
                ("last", (self.tasks - 1).to_string()),
                (
                    "output",
                    directive_value("the results folder", &output.display().to_string())?,
                ),
                ("extra", extra),
                ("list", shell_quote(&self.list.display().to_string())),
                ("exe", shell_quote(&exe.display().to_string())),
                ("results", shell_quote(&results.display().to_string())),
                ("device", shell_quote(&task.device)),
                ("threads", threads),
                ("force", if task.force { " --force" } else { "" }.into()),
            ],
        ))
    }
}

/// Submit `script`, after job `after` ends if given; returns the job id.
fn sbatch(script: &Path, after: Option<&String>) -> Result<String> {
    let mut cmd = Command::new("sbatch");
    cmd.arg("--parsable");
    if let Some(prev) = after {
        cmd.arg(format!("--dependency=afterany:{prev}"));
    }
    let out = cmd
        .arg(script)
        .output()
        .context("running sbatch (is Slurm installed?)")?;
    if !out.status.success() {
        bail!(
            "sbatch {}: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    Ok(stdout.trim().split(';').next().unwrap_or("").to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_fills_every_placeholder_and_quotes_paths() {
        let body = fill(
            TEMPLATE,
            &[
                ("depth", "1".into()),
                ("last", "4".into()),
                (
                    "output",
                    directive_value("r", "/r/my runs/logs/wave1-%a.out").unwrap(),
                ),
                ("extra", "#SBATCH --gres=gpu:1\n".into()),
                ("list", shell_quote("/r/wave1.txt")),
                ("exe", shell_quote("/opt/my w2s/w2s")),
                ("results", shell_quote("/r/it's")),
                ("device", shell_quote("auto")),
                ("threads", " --threads 8".into()),
                ("force", String::new()),
            ],
        );
        assert!(
            !body.contains("{exe}") && !body.contains("{output}"),
            "{body}"
        );
        assert!(body.contains("#SBATCH --array=0-4") && body.contains("#SBATCH --gres=gpu:1"));
        assert!(
            body.contains("#SBATCH --output=\"/r/my runs/logs/wave1-%a.out\""),
            "{body}"
        );
        assert!(
            body.contains(
                "exec '/opt/my w2s/w2s' exec-run --results '/r/it'\\''s' --device 'auto' --threads 8 ${FLAGS:+\"$FLAGS\"} \"$SPEC\""
            ),
            "{body}"
        );
    }

    #[test]
    fn a_hostile_results_path_is_refused_not_written_into_the_script() {
        let err = directive_value("the results folder", "/r/x\n#SBATCH --wrap=rm").unwrap_err();
        assert!(err.to_string().contains("newline"), "{err}");
        assert!(directive_value("r", "/r/a\"b").is_err());
        // A value naming another placeholder is not filled again.
        assert_eq!(
            fill("{a} {b}", &[("a", "{b}".into()), ("b", "x".into())]),
            "{b} x"
        );
        assert_eq!(
            fill("${FLAGS:+x} {a", &[("a", "1".into())]),
            "${FLAGS:+x} {a"
        );
    }
}
