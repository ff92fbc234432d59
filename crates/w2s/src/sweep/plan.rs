//! Planning: every run a sweep file implies (ground truth per model, each weak-strong pair
//! per method, ensembles, bootstrapping chains, strong-to-strong rounds), deduplicated by
//! hash, ordered by supervision depth so each wave depends only on earlier ones.

use super::SweepFile;
use crate::config::TrainFields;
use crate::experiment::{is_done, DataSpec, RunSpec};
use crate::model::ModelInfo;
use crate::plan::{Planner, Setting, Students};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
    /// Whether another planned run learns from this one's train2 predictions.
    pub supervises: bool,
}

/// The sweep file read through the one plan builder ([`Planner`]): `[train]` is shared,
/// `[model_train."M"]` is model M's own (over `[train]` where M is strong or a ceiling; its
/// `[weak]` where M supervises), and `losses` and `[methods.*]` make the students.
struct Options<'a> {
    file: &'a SweepFile,
    planner: Planner,
    students: Students,
}

impl<'a> Options<'a> {
    fn new(file: &'a SweepFile, mixed_default: bool) -> Result<Options<'a>> {
        let models = file
            .models
            .iter()
            .chain(file.bootstrap.iter().flatten())
            .chain(file.ensembles.iter().flatten());
        let students = Students {
            losses: file
                .losses
                .iter()
                .map(|l| crate::loss::Loss::from_name(l))
                .collect::<Result<_>>()?,
            methods: file.methods.clone().into_iter().collect(),
        };
        Ok(Options {
            file,
            planner: Planner::new(models.map(String::as_str), mixed_default)?,
            students,
        })
    }

    /// `[train]` with the model's `[model_train."M"]` over it.
    fn fields(&self, model: &str) -> TrainFields {
        match self.file.model_train.get(model) {
            Some(over) => self.file.train.merged(over),
            None => self.file.train.clone(),
        }
    }

    /// `[model_train."M"]`: what the model sets for itself.
    fn own(&self, model: &str) -> TrainFields {
        self.file
            .model_train
            .get(model)
            .cloned()
            .unwrap_or_default()
    }
}

/// The runs of one (dataset, seed) of the sweep, as they are planned.
struct Cell<'a> {
    options: &'a Options<'a>,
    at: Setting,
    out: Vec<Planned>,
}

impl Cell<'_> {
    fn file(&self) -> &SweepFile {
        self.options.file
    }

    fn push(&mut self, spec: RunSpec, role: Role, depth: usize) {
        self.out.push(Planned {
            spec,
            role,
            depth,
            supervises: false,
        });
    }

    /// A model's ceiling (also the base of its students).
    fn ceiling(&self, model: &str) -> Result<RunSpec> {
        let o = self.options;
        o.planner.ceiling(&self.at, model, &o.fields(model))
    }

    /// Every model in use, trained on ground truth.
    fn ceilings(&mut self) -> Result<()> {
        let file = self.file();
        let models: Vec<String> = file
            .models
            .iter()
            .chain(file.bootstrap.iter().flatten())
            .chain(file.ensembles.iter().flatten())
            .cloned()
            .collect();
        for m in models {
            let spec = self.ceiling(&m)?;
            self.push(spec, Role::GroundTruth, 0);
        }
        Ok(())
    }

    /// One experiment of the plan builder, its runs in their roles: supervisors and ceiling
    /// at depth 0, each student at 1, followed by `rounds` strong-to-strong rounds.
    fn experiment(&mut self, supervisors: &[String], strong: &str, rounds: usize) -> Result<()> {
        let o = self.options;
        let own: Vec<TrainFields> = supervisors.iter().map(|m| o.own(m)).collect();
        let supervisors: Vec<(&str, &TrainFields)> =
            supervisors.iter().map(String::as_str).zip(&own).collect();
        let exp = o.planner.experiment(
            &self.at,
            &o.file.train,
            &supervisors,
            (strong, &o.fields(strong)),
            &o.students,
        )?;
        for w in exp.weak {
            self.push(w, Role::GroundTruth, 0);
        }
        for mut spec in exp.students {
            self.push(spec.clone(), Role::Student, 1);
            for round in 1..=rounds {
                spec = spec.next_round();
                self.push(spec.clone(), Role::Iteration { round }, 1 + round);
            }
        }
        Ok(())
    }

    /// Every (weak, strong) pair with the weak model no larger than the strong one, each
    /// student followed by `iterations` strong-to-strong rounds.
    fn pairs(&mut self) -> Result<()> {
        let models = self.file().models.clone();
        for (i, weak) in models.iter().enumerate() {
            let first = if self.file().diagonal { i } else { i + 1 };
            for strong in &models[first..] {
                let rounds = self.file().iterations;
                self.experiment(std::slice::from_ref(weak), strong, rounds)?;
            }
        }
        Ok(())
    }

    /// Ensembles supervise every model listed after their last member (no rounds: the
    /// sweep file's `iterations` follow single supervisors).
    fn ensembles(&mut self) -> Result<()> {
        let file = self.file();
        let (models, ensembles) = (file.models.clone(), file.ensembles.clone());
        for members in &ensembles {
            let after = members
                .iter()
                .filter_map(|m| models.iter().position(|x| x == m))
                .max()
                .map_or(0, |p| p + 1);
            for strong in &models[after..] {
                self.experiment(members, strong, 0)?;
            }
        }
        Ok(())
    }

    /// Bootstrapping: each student option is carried down its own chain.
    fn bootstrap(&mut self) -> Result<()> {
        let o = self.options;
        for (c, chain) in self.file().bootstrap.clone().iter().enumerate() {
            let root = o
                .planner
                .supervisor(&chain[0], &o.file.train, &o.own(&chain[0]))?;
            let root = o.planner.ground_truth(&self.at, &chain[0], root)?;
            // The previous link's student, per option (none yet: the root supervisor).
            let mut previous: Vec<RunSpec> = Vec::new();
            for (link, m) in chain.iter().enumerate().skip(1) {
                let mut this_link = Vec::new();
                let students = o.planner.students(m, &o.fields(m), &o.students)?;
                for (v, train) in students.into_iter().enumerate() {
                    let supervisor = match previous.get(v) {
                        Some(s) => s.clone(),
                        None => {
                            self.push(root.clone(), Role::GroundTruth, 0);
                            root.clone()
                        }
                    };
                    let spec = self.ceiling(m)?.student(train, &[supervisor]);
                    let role = if link == 1 {
                        Role::Student
                    } else {
                        Role::Bootstrap { chain: c, link }
                    };
                    self.push(spec.clone(), role, link);
                    this_link.push(spec);
                }
                previous = this_link;
            }
        }
        Ok(())
    }
}

/// Every run of the sweep, deduplicated by hash, in dependency order (by depth); mixed
/// precision where the file is silent and `mixed_default` (the device's default) says so.
pub fn plan(file: &SweepFile, mixed_default: bool) -> Result<Vec<Planned>> {
    let options = Options::new(file, mixed_default)?;
    let mut out: Vec<Planned> = Vec::new();
    for dataset in &file.datasets {
        let data = DataSpec::new(
            dataset,
            file.data_dirs.get(dataset).map(PathBuf::as_path),
            file.n_docs,
            file.n_test_docs,
        )
        .with_context(|| format!("dataset `{dataset}`"))?;
        for &seed in &file.seeds {
            let mut cell = Cell {
                options: &options,
                at: Setting {
                    data: data.clone(),
                    seed,
                    max_ctx: file.max_ctx,
                },
                out: Vec::new(),
            };
            cell.ceilings()?;
            cell.pairs()?;
            cell.ensembles()?;
            cell.bootstrap()?;
            out.append(&mut cell.out);
        }
    }
    // One run per hash: a run planned in several roles keeps its first.
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.spec.hash()));
    let supervisors: std::collections::HashSet<String> = out
        .iter()
        .flat_map(|p| p.spec.supervisors().map(RunSpec::hash).collect::<Vec<_>>())
        .collect();
    for p in &mut out {
        p.supervises = supervisors.contains(&p.spec.hash());
    }
    out.sort_by_key(|p| p.depth);
    Ok(out)
}

/// The plan's waves, in order: the runs of one supervision depth, each wave depending only on
/// earlier ones. Both executors run a plan wave by wave (`plan` is sorted by depth).
pub fn waves(plan: &[Planned]) -> impl Iterator<Item = (usize, &[Planned])> {
    debug_assert!(plan.is_sorted_by_key(|p| p.depth));
    plan.chunk_by(|a, b| a.depth == b.depth)
        .map(|wave| (wave[0].depth, wave))
}

/// What `w2s sweep --dry-run` prints after the plan's summary: per run whether it is done,
/// and its memory at the longest sequences it allows (the data is not read), with what would
/// make a run fit where it does not fit on `device` (the runner's admission rule,
/// [`crate::memory::Demand::admit`]).
pub fn dry_run(plan: &[Planned], results: &Path, device: tch::Device) -> Result<Vec<String>> {
    let mut infos: HashMap<&str, ModelInfo> = HashMap::new();
    let mut lines = Vec::new();
    for p in plan {
        let state = if is_done(&p.spec.dir(results), p.supervises) {
            "done"
        } else {
            "todo"
        };
        if !infos.contains_key(p.spec.model.as_str()) {
            infos.insert(&p.spec.model, ModelInfo::describe(&p.spec.model)?);
        }
        let info = &infos[p.spec.model.as_str()];
        let demand = crate::memory::Demand {
            info,
            train: &p.spec.train,
            seq: p.spec.max_ctx.min(info.max_positions),
            per_example: if p.spec.data.pairwise()? { 2 } else { 1 },
        };
        let admitted = demand.admit(device, &|t| crate::memory::trainable_estimate(info, t));
        let estimate = match &admitted {
            Ok(e) => *e,
            Err(too_big) => too_big.estimate,
        };
        lines.push(format!(
            "  [{state}] depth {} {}: at most {} at {} tokens",
            p.depth,
            p.spec.folder_name(),
            crate::memory::human(estimate.total()),
            demand.seq
        ));
        if let Err(too_big) = admitted {
            lines.push(format!("      does not fit: {too_big}"));
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BOW;
    use std::path::Path;

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
        // The bag of words is the only model that needs no files; distinct training options make
        // distinct models of it for planning purposes.
        let mut f = file(&[BOW], &["xent", "logconf"], &[0, 1, 2], vec![]);
        let p = plan(&f, false).unwrap();
        assert_eq!(p.iter().filter(|p| p.role == Role::GroundTruth).count(), 3);
        assert_eq!(p.iter().filter(|p| p.role == Role::Student).count(), 3 * 2);
        assert!(
            p.windows(2).all(|w| w[0].depth <= w[1].depth),
            "dependency order"
        );

        f.bootstrap = vec![vec![BOW.into(), BOW.into(), BOW.into()]];
        let p = plan(&f, false).unwrap();
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
        let mut f = file(&[BOW, &m1, &m2], &["xent", "logconf"], &[0, 1], vec![]);
        let p = plan(&f, false).unwrap();
        // Per seed: 3 ground-truth runs and 3 * 4 / 2 = 6 pairs for each of 2 losses.
        assert_eq!(
            p.iter().filter(|p| p.role == Role::GroundTruth).count(),
            2 * 3
        );
        assert_eq!(
            p.iter().filter(|p| p.role == Role::Student).count(),
            2 * 6 * 2
        );
        f.bootstrap = vec![vec![BOW.into(), m1.clone(), m2.clone()]];
        let q = plan(&f, false).unwrap();
        // bow -> m1 is a direct pair already; only m1 -> m2 on bow-supervised m1 is new.
        assert_eq!(q.len(), p.len() + 2 * 2);
        let link = q
            .iter()
            .find(|p| matches!(p.role, Role::Bootstrap { .. }))
            .unwrap();
        assert_eq!(link.depth, 2);
        let sup = link.spec.supervisor.as_ref().unwrap();
        assert!(sup.supervisor.as_ref().unwrap().model == BOW && sup.model.ends_with("m1"));
    }

    #[test]
    fn methods_ensembles_and_iterations_add_students() {
        let dir = tempfile::tempdir().unwrap();
        let (m1, m2) = (fake_model(dir.path(), "m1"), fake_model(dir.path(), "m2"));
        let mut f = file(&[BOW, &m1, &m2], &["xent"], &[0], vec![]);
        let base = plan(&f, false).unwrap();
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
        let p = plan(&f, false).unwrap();
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
        let q = plan(&f, false).unwrap();
        assert_eq!(q.len(), 3 + 6 * 3 * 3, "two rounds after every student");
        let last = q.last().unwrap();
        assert_eq!(last.role, Role::Iteration { round: 2 });
        assert_eq!(last.depth, 3);
        let sup = last.spec.supervisor.as_ref().unwrap();
        assert_eq!(sup.model, last.spec.model);
        assert_eq!(sup.train, last.spec.train);
        f.iterations = 0;

        f.ensembles = vec![vec![BOW.into(), m1.clone()]];
        let e = plan(&f, false).unwrap();
        // The ensemble supervises m2 only, once per loss and method.
        let ens: Vec<_> = e
            .iter()
            .filter(|p| !p.spec.co_supervisors.is_empty())
            .collect();
        assert_eq!(ens.len(), 3);
        assert!(ens.iter().all(|p| p.spec.model.ends_with("m2")
            && p.spec.supervisor.as_ref().unwrap().model == BOW
            && p.spec.co_supervisors[0].model.ends_with("m1")));
        assert_eq!(e.len(), p.len() + 3);

        f.ensembles.clear();
        f.diagonal = false;
        assert_eq!(
            plan(&f, false).unwrap().len(),
            3 + 3 * 3,
            "no weak == strong pairs"
        );
    }
}
