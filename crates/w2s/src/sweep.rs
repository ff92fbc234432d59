//! Sweeps: a grid of runs declared once (models from weakest to strongest, datasets, losses,
//! seeds, bootstrapping chains), planned into waves by supervision depth, and executed by
//! `w2s` processes, locally (`--jobs N`) or as Slurm job arrays. Every run is the same stored,
//! hashed run that `w2s run` makes, so an interrupted sweep resumes by skipping complete runs.

use crate::config::TrainFields;
use crate::experiment::{DataSpec, RunSpec};
use crate::model::ModelInfo;
use crate::store;
use crate::store::{is_complete, run_dir};
use crate::train::TrainOptions;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `w2s sweep CONFIG.toml`.
///
/// ```toml
/// results = "results/sweep"
/// datasets = ["demo"]                        # or sciq, boolq, ... (`w2s datasets list`)
/// data_dirs = { sciq = "../shared/datasets/sciq" }
/// models = ["bow", "models/all-MiniLM-L6-v2", "models/all-mpnet-base-v2"]  # weakest first
/// losses = ["xent", "logconf"]
/// seeds = [0, 1, 2]
/// n_docs = 2000                             # default 20000, as the reference
/// n_test_docs = 1000                         # default 10000
/// bootstrap = [["bow", "models/all-MiniLM-L6-v2", "models/all-mpnet-base-v2"]]
/// ensembles = [["bow", "models/all-MiniLM-L6-v2"]]  # mean labels supervise later models
/// iterations = 0                             # strong-to-strong rounds per student
/// diagonal = true                            # also weak == strong pairs
/// [train]                                    # options for every model
/// epochs = 2
/// [methods.es_weak]                          # extra students: options over [train]
/// early_stopping = "weak"
/// [methods.knn]
/// relabel = "knn"
/// [model_train."bow"]                        # per-model overrides
/// lr = 1e-2
/// ```
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    pub results: Option<PathBuf>,
    pub datasets: Vec<String>,
    #[serde(default)]
    pub data_dirs: BTreeMap<String, PathBuf>,
    pub models: Vec<String>,
    #[serde(default = "xent")]
    pub losses: Vec<String>,
    #[serde(default = "seed0")]
    pub seeds: Vec<u64>,
    #[serde(default = "n_docs")]
    pub n_docs: usize,
    #[serde(default = "n_test_docs")]
    pub n_test_docs: usize,
    #[serde(default = "max_ctx")]
    pub max_ctx: usize,
    #[serde(default)]
    pub train: TrainFields,
    #[serde(default)]
    pub model_train: BTreeMap<String, TrainFields>,
    #[serde(default)]
    pub bootstrap: Vec<Vec<String>>,
    /// Further students per pair: a name and the options that differ from `[train]`
    /// (loss, early_stopping, relabel, ...).
    #[serde(default)]
    pub methods: BTreeMap<String, TrainFields>,
    /// Groups of weak models whose mean soft labels supervise every later model.
    #[serde(default)]
    pub ensembles: Vec<Vec<String>>,
    /// Strong-to-strong rounds after each weak-to-strong student.
    #[serde(default)]
    pub iterations: usize,
    /// Also train each model on its own ground-truth run's labels (the paper's diagonal).
    #[serde(default = "yes")]
    pub diagonal: bool,
}

fn yes() -> bool {
    true
}

fn xent() -> Vec<String> {
    vec!["xent".into()]
}
fn seed0() -> Vec<u64> {
    vec![0]
}
fn n_docs() -> usize {
    crate::experiment::DEFAULT_N_DOCS
}
fn n_test_docs() -> usize {
    crate::experiment::DEFAULT_N_TEST_DOCS
}
fn max_ctx() -> usize {
    crate::experiment::DEFAULT_MAX_CTX
}

impl SweepFile {
    pub fn read(path: &Path) -> Result<SweepFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read sweep file {}", path.display()))?;
        let f: SweepFile =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if f.models.is_empty() || f.datasets.is_empty() || f.seeds.is_empty() {
            bail!(
                "{}: `models`, `datasets` and `seeds` must each name at least one",
                path.display()
            );
        }
        if f.losses.is_empty() && f.methods.is_empty() {
            bail!(
                "{}: name at least one loss in `losses` or a [methods.NAME] table",
                path.display()
            );
        }
        if let Some(e) = f.ensembles.iter().find(|e| e.len() < 2) {
            bail!(
                "{}: the ensemble {e:?} needs at least two weak models",
                path.display()
            );
        }
        for chain in &f.bootstrap {
            if chain.len() < 2 {
                bail!(
                    "{}: a bootstrap chain needs at least two models",
                    path.display()
                );
            }
        }
        Ok(f)
    }
}

/// What a planned run is, for progress lines and reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Role {
    GroundTruth,
    Student,
    /// A link of a bootstrapping chain (index in `bootstrap`, link number from 1).
    Bootstrap {
        chain: usize,
        link: usize,
    },
    /// A strong-to-strong round: the student relabels train2 for a fresh copy of itself.
    Iteration {
        round: usize,
    },
}

#[derive(Debug, Clone)]
pub struct Planned {
    pub spec: RunSpec,
    pub role: Role,
    /// 0 for ground truth, else 1 + the supervisor's depth: runs of one depth are independent.
    pub depth: usize,
}

/// Every run of the sweep, deduplicated by hash, in dependency order (by depth).
pub fn plan(file: &SweepFile) -> Result<Vec<Planned>> {
    let mut infos: HashMap<&str, ModelInfo> = HashMap::new();
    for m in file
        .models
        .iter()
        .chain(file.bootstrap.iter().flatten())
        .chain(file.ensembles.iter().flatten())
    {
        if !infos.contains_key(m.as_str()) {
            infos.insert(
                m,
                ModelInfo::describe(m).with_context(|| format!("model `{m}`"))?,
            );
        }
    }
    let fields = |model: &str| -> TrainFields {
        match file.model_train.get(model) {
            Some(over) => file.train.merged(over),
            None => file.train.clone(),
        }
    };
    let ground_truth_options = |model: &str| -> Result<TrainOptions> {
        Ok(fields(model).resolve(&infos[model])?.for_ground_truth())
    };
    // The students' options: one per loss, then one per method.
    let student_options = |model: &str| -> Result<Vec<TrainOptions>> {
        let mut out = Vec::new();
        for loss in &file.losses {
            let mut o = fields(model).resolve(&infos[model])?;
            o.loss = crate::loss::Loss::from_name(loss)?;
            out.push(o);
        }
        for (name, over) in &file.methods {
            let o = fields(model)
                .merged(over)
                .resolve(&infos[model])
                .with_context(|| format!("method `{name}`"))?;
            out.push(o);
        }
        Ok(out)
    };
    let mut out: Vec<Planned> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut push = |spec: RunSpec, role: Role, depth: usize, out: &mut Vec<Planned>| {
        if seen.insert(spec.hash()) {
            out.push(Planned { spec, role, depth });
        }
    };
    for dataset in &file.datasets {
        let data = DataSpec::new(
            dataset,
            file.data_dirs.get(dataset).map(PathBuf::as_path),
            file.n_docs,
            file.n_test_docs,
        )
        .with_context(|| format!("dataset `{dataset}`"))?;
        for &seed in &file.seeds {
            let gt = |model: &str| -> Result<RunSpec> {
                RunSpec::ground_truth(
                    &data,
                    seed,
                    file.max_ctx,
                    model,
                    ground_truth_options(model)?,
                )
            };
            let models_in_use = file
                .models
                .iter()
                .chain(file.bootstrap.iter().flatten())
                .chain(file.ensembles.iter().flatten());
            for m in models_in_use {
                push(gt(m)?, Role::GroundTruth, 0, &mut out);
            }
            // Every (weak, strong) pair with the weak model no larger than the strong one,
            // each student followed by `iterations` strong-to-strong rounds.
            for (i, weak) in file.models.iter().enumerate() {
                let first = if file.diagonal { i } else { i + 1 };
                for strong in &file.models[first..] {
                    for train in student_options(strong)? {
                        let mut spec = gt(strong)?.student(train, &[gt(weak)?]);
                        push(spec.clone(), Role::Student, 1, &mut out);
                        for round in 1..=file.iterations {
                            spec = spec.next_round();
                            push(spec.clone(), Role::Iteration { round }, 1 + round, &mut out);
                        }
                    }
                }
            }
            // Ensembles supervise every model listed after their last member.
            for members in &file.ensembles {
                let after = members
                    .iter()
                    .filter_map(|m| file.models.iter().position(|x| x == m))
                    .max()
                    .map_or(0, |p| p + 1);
                let supervisors: Vec<RunSpec> =
                    members.iter().map(|m| gt(m)).collect::<Result<_>>()?;
                for strong in &file.models[after..] {
                    for train in student_options(strong)? {
                        push(
                            gt(strong)?.student(train, &supervisors),
                            Role::Student,
                            1,
                            &mut out,
                        );
                    }
                }
            }
            // Bootstrapping: each student option is carried down its own chain.
            for (c, chain) in file.bootstrap.iter().enumerate() {
                // The previous link's student, per option (none yet: the root supervisor).
                let mut previous: Vec<RunSpec> = Vec::new();
                for (link, m) in chain.iter().enumerate().skip(1) {
                    let mut this_link = Vec::new();
                    for (v, train) in student_options(m)?.into_iter().enumerate() {
                        let sup = match previous.get(v) {
                            Some(s) => s.clone(),
                            None => gt(&chain[0])?,
                        };
                        let spec = gt(m)?.student(train, &[sup]);
                        let role = if link == 1 {
                            Role::Student
                        } else {
                            Role::Bootstrap { chain: c, link }
                        };
                        push(spec.clone(), role, link, &mut out);
                        this_link.push(spec);
                    }
                    previous = this_link;
                }
            }
        }
    }
    out.sort_by_key(|p| p.depth);
    Ok(out)
}

/// A run that could not finish, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub hash: String,
    pub folder: PathBuf,
    pub reason: String,
}

/// The spec file a worker process reads: `RESULTS/.sweep/specs/<hash>.json`.
pub fn spec_file(results: &Path, spec: &RunSpec) -> Result<PathBuf> {
    let path = results
        .join(".sweep")
        .join("specs")
        .join(format!("{}.json", spec.hash()));
    if !path.exists() {
        store::write_json(&path, spec)?;
    }
    Ok(path)
}

/// How worker processes are started.
#[derive(Debug, Clone)]
pub struct Local {
    /// The `w2s` binary.
    pub exe: PathBuf,
    pub jobs: usize,
    /// Devices handed out round-robin to job slots.
    pub devices: Vec<String>,
    pub threads_per_job: i32,
    pub force: bool,
}

/// The outcome of executing a plan.
#[derive(Debug, Default)]
pub struct Summary {
    pub reused: usize,
    pub trained: usize,
    pub failed: Vec<Failure>,
    pub skipped: Vec<Failure>,
}

/// Run the plan wave by wave with up to `jobs` worker processes at a time. A failed run is
/// recorded (`failed.json` in its folder) and its dependents are skipped; the rest goes on.
pub fn execute_local(
    plan: &[Planned],
    results: &Path,
    local: &Local,
    progress: &indicatif::ProgressBar,
) -> Result<Summary> {
    let mut summary = Summary::default();
    let mut failed_hashes = std::collections::HashSet::new();
    let logs = results.join(".sweep").join("logs");
    std::fs::create_dir_all(&logs)?;
    let max_depth = plan.iter().map(|p| p.depth).max().unwrap_or(0);
    for depth in 0..=max_depth {
        let mut queue: Vec<&Planned> = Vec::new();
        for p in plan.iter().filter(|p| p.depth == depth) {
            if !local.force && is_complete(results, &p.spec) {
                summary.reused += 1;
                progress.inc(1);
                continue;
            }
            let sup_failed = p
                .spec
                .supervisor
                .iter()
                .map(|s| s.as_ref())
                .chain(&p.spec.co_supervisors)
                .any(|s| failed_hashes.contains(&s.hash()));
            if sup_failed {
                failed_hashes.insert(p.spec.hash());
                summary.skipped.push(Failure {
                    hash: p.spec.hash(),
                    folder: run_dir(results, &p.spec),
                    reason: "its supervisor failed".into(),
                });
                progress.inc(1);
                continue;
            }
            queue.push(p);
        }
        // A fixed pool of job slots; each slot keeps its device.
        let mut running: Vec<(std::process::Child, &Planned, usize, PathBuf)> = Vec::new();
        let mut free: Vec<usize> = (0..local.jobs.max(1)).rev().collect();
        let mut next = 0;
        while next < queue.len() || !running.is_empty() {
            while next < queue.len() && !free.is_empty() {
                let slot = free.pop().unwrap();
                let p = queue[next];
                next += 1;
                let spec_path = spec_file(results, &p.spec)?;
                let log = logs.join(format!("{}.log", p.spec.hash()));
                let device = &local.devices[slot % local.devices.len()];
                let mut cmd = Command::new(&local.exe);
                cmd.args(["exec-run", "--results"])
                    .arg(results)
                    .arg("--device")
                    .arg(device)
                    .arg("--threads")
                    .arg(local.threads_per_job.to_string())
                    .arg(&spec_path)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::fs::File::create(&log)?);
                if local.force {
                    cmd.arg("--force");
                }
                die_with_parent(&mut cmd);
                progress.set_message(p.spec.folder_name());
                running.push((
                    cmd.spawn()
                        .with_context(|| format!("starting {}", local.exe.display()))?,
                    p,
                    slot,
                    log,
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            let mut i = 0;
            while i < running.len() {
                if let Some(status) = running[i].0.try_wait()? {
                    let (_, p, slot, log) = running.swap_remove(i);
                    free.push(slot);
                    progress.inc(1);
                    if status.success() && is_complete(results, &p.spec) {
                        summary.trained += 1;
                    } else {
                        let tail = std::fs::read_to_string(&log).unwrap_or_default();
                        let reason = tail
                            .lines()
                            .rev()
                            .find(|l| l.starts_with("error"))
                            .map(str::to_owned)
                            .unwrap_or_else(|| {
                                format!("worker exited with {status}; log: {}", log.display())
                            });
                        let f = Failure {
                            hash: p.spec.hash(),
                            folder: run_dir(results, &p.spec),
                            reason,
                        };
                        store::write_json(&f.folder.join("failed.json"), &f)?;
                        failed_hashes.insert(p.spec.hash());
                        summary.failed.push(f);
                    }
                } else {
                    i += 1;
                }
            }
        }
    }
    Ok(summary)
}

/// Workers die with the sweep, however it dies (SIGINT, SIGKILL, a crash): a rerun then never
/// races an orphan for the same run. Linux's parent-death signal; elsewhere workers finish
/// their run (their writes are atomic either way).
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// Slurm: one job array per depth, each depending (`afterany`) on the previous one so that
/// students start after their supervisors and one failure does not block the rest. Every
/// task runs `w2s exec-run` on one spec. Returns the submitted job ids.
pub fn submit_slurm(
    plan: &[Planned],
    results: &Path,
    exe: &Path,
    extra_sbatch: &[String],
    force: bool,
) -> Result<Vec<String>> {
    let dir = results.join(".sweep").join("slurm");
    std::fs::create_dir_all(dir.join("logs"))?;
    let max_depth = plan.iter().map(|p| p.depth).max().unwrap_or(0);
    let mut ids: Vec<String> = Vec::new();
    for depth in 0..=max_depth {
        let todo: Vec<&Planned> = plan
            .iter()
            .filter(|p| p.depth == depth && (force || !is_complete(results, &p.spec)))
            .collect();
        if todo.is_empty() {
            continue;
        }
        let list = dir.join(format!("wave{depth}.txt"));
        let specs: Vec<String> = todo
            .iter()
            .map(|p| spec_file(results, &p.spec).map(|s| s.display().to_string()))
            .collect::<Result<_>>()?;
        store::write_atomic(&list, (specs.join("\n") + "\n").as_bytes())?;
        let script = dir.join(format!("wave{depth}.sbatch"));
        let force_flag = if force { " --force" } else { "" };
        let body = format!(
            "#!/bin/bash\n#SBATCH --job-name=w2s-wave{depth}\n#SBATCH --array=0-{last}\n#SBATCH --output={logs}/wave{depth}-%a.out\n{extra}\nset -euo pipefail\nSPEC=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {list})\nexec {exe} exec-run --results {results}{force_flag} \"$SPEC\"\n",
            last = todo.len() - 1,
            logs = dir.join("logs").display(),
            extra = extra_sbatch.iter().map(|a| format!("#SBATCH {a}\n")).collect::<String>(),
            list = list.display(),
            exe = exe.display(),
            results = results.display(),
        );
        store::write_atomic(&script, body.as_bytes())?;
        let mut cmd = Command::new("sbatch");
        cmd.arg("--parsable");
        if let Some(prev) = ids.last() {
            cmd.arg(format!("--dependency=afterany:{prev}"));
        }
        let out = cmd
            .arg(&script)
            .output()
            .context("running sbatch (is Slurm installed?)")?;
        if !out.status.success() {
            bail!(
                "sbatch {}: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let id = String::from_utf8_lossy(&out.stdout)
            .trim()
            .split(';')
            .next()
            .unwrap_or("")
            .to_owned();
        ids.push(id);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(
        models: &[&str],
        losses: &[&str],
        seeds: &[u64],
        bootstrap: Vec<Vec<String>>,
    ) -> SweepFile {
        SweepFile {
            results: None,
            datasets: vec!["demo".into()],
            data_dirs: Default::default(),
            models: models.iter().map(|s| s.to_string()).collect(),
            losses: losses.iter().map(|s| s.to_string()).collect(),
            seeds: seeds.to_vec(),
            n_docs: 100,
            n_test_docs: 50,
            max_ctx: 64,
            train: Default::default(),
            model_train: Default::default(),
            bootstrap,
            methods: Default::default(),
            ensembles: Vec::new(),
            iterations: 0,
            diagonal: true,
        }
    }

    #[test]
    fn counts_runs_for_a_ladder() {
        // n models: n ground-truth runs and n(n+1)/2 pairs per loss, per seed.
        // "bow" is the only model that needs no files; distinct training options make
        // distinct models of it for planning purposes.
        let mut f = file(&["bow"], &["xent", "logconf"], &[0, 1, 2], vec![]);
        let p = plan(&f).unwrap();
        assert_eq!(p.iter().filter(|p| p.role == Role::GroundTruth).count(), 3);
        assert_eq!(p.iter().filter(|p| p.role == Role::Student).count(), 3 * 2);
        assert!(
            p.windows(2).all(|w| w[0].depth <= w[1].depth),
            "dependency order"
        );

        f.bootstrap = vec![vec!["bow".into(), "bow".into(), "bow".into()]];
        let p = plan(&f).unwrap();
        // The chain's first link equals the direct pair (bow <- bow): shared, not duplicated.
        let links = p
            .iter()
            .filter(|p| matches!(p.role, Role::Bootstrap { .. }))
            .count();
        assert_eq!(links, 3 * 2, "one extra link per seed and loss");
        assert_eq!(p.iter().map(|p| p.depth).max(), Some(2));
        let mut hashes: Vec<_> = p.iter().map(|p| p.spec.hash()).collect();
        hashes.sort();
        hashes.dedup();
        assert_eq!(hashes.len(), p.len());
    }

    /// A model folder that `ModelInfo::describe` accepts (planning never loads weights). Runs
    /// are identified by content, so each fake model's config differs.
    fn fake_model(dir: &Path, name: &str) -> String {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("config.json"),
            format!(r#"{{"model_type": "bert", "vocab_size": 10, "max_position_embeddings": 8, "_name_or_path": "{name}"}}"#),
        )
        .unwrap();
        std::fs::write(d.join("tokenizer.json"), "{}").unwrap();
        let t = tch::Tensor::zeros([10, 4], (tch::Kind::Float, tch::Device::Cpu));
        tch::Tensor::write_safetensors(&[("w", &t)], d.join("model.safetensors")).unwrap();
        d.to_string_lossy().into_owned()
    }

    #[test]
    fn counts_runs_for_a_three_model_ladder_and_a_chain() {
        let dir = tempfile::tempdir().unwrap();
        let (m1, m2) = (fake_model(dir.path(), "m1"), fake_model(dir.path(), "m2"));
        let mut f = file(&["bow", &m1, &m2], &["xent", "logconf"], &[0, 1], vec![]);
        let p = plan(&f).unwrap();
        // Per seed: 3 ground-truth runs and 3 * 4 / 2 = 6 pairs for each of 2 losses.
        assert_eq!(
            p.iter().filter(|p| p.role == Role::GroundTruth).count(),
            2 * 3
        );
        assert_eq!(
            p.iter().filter(|p| p.role == Role::Student).count(),
            2 * 6 * 2
        );
        f.bootstrap = vec![vec!["bow".into(), m1.clone(), m2.clone()]];
        let q = plan(&f).unwrap();
        // bow -> m1 is a direct pair already; only m1 -> m2 on bow-supervised m1 is new.
        assert_eq!(q.len(), p.len() + 2 * 2);
        let link = q
            .iter()
            .find(|p| matches!(p.role, Role::Bootstrap { .. }))
            .unwrap();
        assert_eq!(link.depth, 2);
        let sup = link.spec.supervisor.as_ref().unwrap();
        assert!(sup.supervisor.as_ref().unwrap().model == "bow" && sup.model.ends_with("m1"));
    }

    #[test]
    fn methods_ensembles_and_iterations_add_students() {
        let dir = tempfile::tempdir().unwrap();
        let (m1, m2) = (fake_model(dir.path(), "m1"), fake_model(dir.path(), "m2"));
        let mut f = file(&["bow", &m1, &m2], &["xent"], &[0], vec![]);
        let base = plan(&f).unwrap();
        // 3 ground-truth runs, 6 pairs.
        assert_eq!(base.len(), 3 + 6);
        f.methods.insert(
            "es".into(),
            toml::from_str("early_stopping = \"weak\"").unwrap(),
        );
        f.methods.insert(
            "knn".into(),
            toml::from_str("relabel = \"knn\"\nloss = \"logconf\"").unwrap(),
        );
        f.train.relabel = Some(crate::config::RelabelField::Name("logreg".into()));
        let p = plan(&f).unwrap();
        assert_eq!(p.len(), 3 + 6 * 3);
        let mut names: Vec<String> = p
            .iter()
            .filter(|p| p.role == Role::Student)
            .map(|p| p.spec.train.method())
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names, ["logconf+knn", "xent+es+logreg", "xent+logreg"]);
        // Ground-truth runs (supervisors and ceilings) carry no student options, so every
        // method shares them.
        for g in p.iter().filter(|p| p.role == Role::GroundTruth) {
            assert!(g.spec.train.relabel.is_none() && g.spec.train.early_stopping.is_none());
        }
        f.train.relabel = None;

        f.iterations = 2;
        let q = plan(&f).unwrap();
        assert_eq!(q.len(), 3 + 6 * 3 * 3, "two rounds after every student");
        let last = q.last().unwrap();
        assert_eq!(last.role, Role::Iteration { round: 2 });
        assert_eq!(last.depth, 3);
        let sup = last.spec.supervisor.as_ref().unwrap();
        assert_eq!(sup.model, last.spec.model);
        assert_eq!(sup.train, last.spec.train);
        f.iterations = 0;

        f.ensembles = vec![vec!["bow".into(), m1.clone()]];
        let e = plan(&f).unwrap();
        // The ensemble supervises m2 only, once per loss and method.
        let ens: Vec<_> = e
            .iter()
            .filter(|p| !p.spec.co_supervisors.is_empty())
            .collect();
        assert_eq!(ens.len(), 3);
        assert!(ens.iter().all(|p| p.spec.model.ends_with("m2")
            && p.spec.supervisor.as_ref().unwrap().model == "bow"
            && p.spec.co_supervisors[0].model.ends_with("m1")));
        assert_eq!(e.len(), p.len() + 3);

        f.ensembles.clear();
        f.diagonal = false;
        assert_eq!(
            plan(&f).unwrap().len(),
            3 + 3 * 3,
            "no weak == strong pairs"
        );
    }
}
