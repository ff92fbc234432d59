//! The one plan builder: what a front end asks for (training fields shared by every model,
//! each model's own, losses, methods) becomes resolved runs. `w2s run` and Python's `w2s.run`
//! ([`crate::config::RunFile::plan`]), `w2s demo` and `w2s.demo()`
//! ([`crate::config::Demo::experiments`]), and sweeps from the command line or Python
//! ([`crate::sweep::plan()`]) all build here, so one rule decides what a supervisor inherits,
//! what a ceiling is and which students a model gets, and one experiment gets the same run
//! hashes through every front end.

use crate::experiment::{DataSpec, Experiment, RunSpec};
use crate::loss::Loss;
use crate::model::ModelInfo;
use crate::options::{TrainFields, TrainOptions};
use anyhow::{Context, Result};
use std::collections::HashMap;

/// Where runs are planned: one task, one seed, examples shorter than `max_ctx` tokens.
#[derive(Debug, Clone)]
pub struct Setting {
    pub data: DataSpec,
    pub seed: u64,
    pub max_ctx: usize,
}

/// The students a strong model gets: one per loss (each with the rest of its options), then
/// one per method (its fields over the model's). Neither given: one student with the model's
/// options as they are (a run file's single student).
#[derive(Debug, Clone, Default)]
pub struct Students {
    pub losses: Vec<Loss>,
    pub methods: Vec<(String, TrainFields)>,
}

/// Resolves options per model: each model's config.json is read once (defaults such as the
/// learning rate depend on it), and unset precision takes the device's default
/// (`mixed_default`: whether mixed precision pays there).
pub struct Planner {
    infos: HashMap<String, ModelInfo>,
    mixed_default: bool,
}

impl Planner {
    /// A planner for `models`, each described now, so a missing or unreadable model fails
    /// before anything is planned.
    pub fn new<'m>(
        models: impl IntoIterator<Item = &'m str>,
        mixed_default: bool,
    ) -> Result<Planner> {
        let mut infos = HashMap::new();
        for m in models {
            if !infos.contains_key(m) {
                let info = ModelInfo::describe(m).with_context(|| format!("model `{m}`"))?;
                infos.insert(m.to_owned(), info);
            }
        }
        Ok(Planner {
            infos,
            mixed_default,
        })
    }

    /// A model's options from its fields, unset ones at their defaults for it.
    pub fn options(&self, model: &str, fields: &TrainFields) -> Result<TrainOptions> {
        let info = self
            .infos
            .get(model)
            .unwrap_or_else(|| panic!("model `{model}` was not given to Planner::new"));
        fields.resolve(info, self.mixed_default)
    }

    /// A supervisor's options, the one rule of every front end
    /// ([`TrainFields::for_supervisor`]): the shared fields (`[train]`) without the
    /// architecture's own, its `own` over them (`[weak]` in a run file, `[model_train."M"]` in
    /// a sweep), made a ground-truth run.
    pub fn supervisor(
        &self,
        model: &str,
        shared: &TrainFields,
        own: &TrainFields,
    ) -> Result<TrainOptions> {
        Ok(self
            .options(model, &shared.for_supervisor(own))?
            .for_ground_truth())
    }

    /// The students of `model` trained with `fields` ([`Students`]).
    pub fn students(
        &self,
        model: &str,
        fields: &TrainFields,
        which: &Students,
    ) -> Result<Vec<TrainOptions>> {
        let base = self.options(model, fields)?;
        if which.losses.is_empty() && which.methods.is_empty() {
            return Ok(vec![base]);
        }
        let mut out: Vec<TrainOptions> = which
            .losses
            .iter()
            .map(|loss| TrainOptions {
                loss: loss.clone(),
                ..base.clone()
            })
            .collect();
        for (name, over) in &which.methods {
            let options = self
                .options(model, &fields.merged(over))
                .with_context(|| format!("method `{name}`"))?;
            out.push(options);
        }
        Ok(out)
    }

    /// A model trained on ground truth with `train` as given (a loss or early stopping
    /// applies: `w2s run` without a weak model).
    pub fn ground_truth(&self, at: &Setting, model: &str, train: TrainOptions) -> Result<RunSpec> {
        RunSpec::ground_truth(&at.data, at.seed, at.max_ctx, model, train)
    }

    /// A model's strong ceiling: its options as a student would have them, made ground truth
    /// ([`RunSpec::ceiling`]); also the base its students are built on.
    pub fn ceiling(&self, at: &Setting, model: &str, fields: &TrainFields) -> Result<RunSpec> {
        Ok(self
            .ground_truth(at, model, self.options(model, fields)?)?
            .ceiling())
    }

    /// One weak-to-strong experiment: each of `supervisors` (a model and its own fields over
    /// `shared`) trained on ground truth, `strong` trained with its fields on ground truth
    /// (the ceiling) and as each of `students` on the supervisors' (mean) labels.
    pub fn experiment(
        &self,
        at: &Setting,
        shared: &TrainFields,
        supervisors: &[(&str, &TrainFields)],
        (strong, fields): (&str, &TrainFields),
        students: &Students,
    ) -> Result<Experiment> {
        let weak = supervisors
            .iter()
            .map(|(m, own)| Ok((*m, self.supervisor(m, shared, own)?)))
            .collect::<Result<Vec<_>>>()?;
        Experiment::new(
            &at.data,
            at.seed,
            at.max_ctx,
            &weak,
            (strong, self.options(strong, fields)?),
            &self.students(strong, fields, students)?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BOW;

    fn setting() -> Setting {
        Setting {
            data: DataSpec::new("demo", None, 100, 50).unwrap(),
            seed: 0,
            max_ctx: 64,
        }
    }

    #[test]
    fn a_supervisor_inherits_the_shared_options_but_the_architectures_own() {
        let p = Planner::new([BOW], false).unwrap();
        let shared: TrainFields =
            toml::from_str("epochs = 3\nlora = true\nloss = \"logconf\"").unwrap();
        let own: TrainFields = toml::from_str("lr = 0.5").unwrap();
        let s = p.supervisor(BOW, &shared, &own).unwrap();
        assert_eq!((s.epochs, s.lr), (3, 0.5));
        assert!(s.lora.is_none(), "LoRA stays with the student");
        assert_eq!(s.loss.name(), "xent", "a supervisor learns ground truth");
    }

    #[test]
    fn students_are_one_per_loss_then_one_per_method_else_the_options_as_given() {
        let p = Planner::new([BOW], false).unwrap();
        let fields = TrainFields {
            epochs: Some(4),
            ..Default::default()
        };
        let one = p.students(BOW, &fields, &Students::default()).unwrap();
        assert_eq!(one, vec![p.options(BOW, &fields).unwrap()]);
        let which = Students {
            losses: vec![
                Loss::from_name("xent").unwrap(),
                Loss::from_name("logconf").unwrap(),
            ],
            methods: vec![(
                "es".into(),
                toml::from_str("early_stopping = \"weak\"").unwrap(),
            )],
        };
        let all = p.students(BOW, &fields, &which).unwrap();
        let names: Vec<String> = all.iter().map(TrainOptions::method).collect();
        assert_eq!(names, ["xent", "logconf", "xent+es"]);
        assert!(all.iter().all(|o| o.epochs == 4));
    }

    #[test]
    fn an_experiments_ceiling_is_its_students_base_made_ground_truth() {
        let p = Planner::new([BOW], false).unwrap();
        let at = setting();
        let fields: TrainFields = toml::from_str("loss = \"logconf\"").unwrap();
        let exp = p
            .experiment(
                &at,
                &fields,
                &[(BOW, &Default::default())],
                (BOW, &fields),
                &Students::default(),
            )
            .unwrap();
        assert_eq!(exp.ceiling, p.ceiling(&at, BOW, &fields).unwrap());
        assert_eq!(exp.students[0].ceiling(), exp.ceiling);
        assert_eq!(exp.students[0].train.method(), "logconf");
        assert_eq!(exp.weak[0].train.method(), "xent");
    }
}
