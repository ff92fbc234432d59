//! The recipe's steps for one run: the examples' tokens and the backbone's features (both
//! cached, keyed by what changes them), the training set (dropped examples, early stopping's
//! hold-out, relabelling, the label budget), training, prediction, and the test metrics.

use super::runner::Runner;
use crate::dataset::{Example, Splits};
use crate::labels;
use crate::metrics;
use crate::model::short_name;
use crate::model::{Classifier, ModelInfo};
use crate::options::{self, StopLabels};
use crate::run::cache::{cached_features, cached_tokens, tensor_sha256, TokensCache};
use crate::run::record::{
    Analysis, Predictions, Provenance, Relabelling, RunResult, TRAIN_LOG_FILE,
};
use crate::run::spec::{RunSpec, RESULTS_FORMAT};
use crate::store;
use crate::train::{self, TrainSummary};
use anyhow::{bail, Context, Result};
use std::path::Path;
use tch::{Device, Tensor};

/// Spread predictions of the kept examples back over the split; dropped ones stay `None`.
pub(super) fn scatter(
    ids: &[Option<Vec<i64>>],
    kept_probs: Vec<[f32; 2]>,
) -> Vec<Option<[f32; 2]>> {
    let mut probs = kept_probs.into_iter();
    ids.iter()
        .map(|x| x.as_ref().map(|_| probs.next().unwrap()))
        .collect()
}

/// A pairwise split's tokens ([`crate::model::TextEncoder::encode_pairs`]).
pub(super) fn encode_pairs(
    model: &Classifier,
    examples: &[Example],
    suffix: &str,
) -> Result<Vec<Vec<i64>>> {
    if !suffix.is_empty() {
        bail!("generative scoring asks one question of one text; a pairwise task compares two replies: leave `generative` off");
    }
    let mut contexts = Vec::with_capacity(examples.len());
    let mut replies = Vec::with_capacity(examples.len());
    for e in examples {
        let [a, b] = e
            .replies
            .as_ref()
            .context("the task mixes pairs and single texts")?;
        contexts.push(e.text.as_str());
        replies.push([a.as_str(), b.as_str()]);
    }
    model.encoder.encode_pairs(&contexts, &replies)
}

pub(super) fn kept(ids: &[Option<Vec<i64>>]) -> Vec<Vec<i64>> {
    ids.iter().flatten().cloned().collect()
}

pub(super) fn one_hot(label: u8) -> [f32; 2] {
    if label == 1 {
        [0.0, 1.0]
    } else {
        [1.0, 0.0]
    }
}

/// The examples a run trains on, after dropping those too long for the model.
pub(super) struct TrainingSet {
    /// `train1` (ground truth) or `train2` (weak labels).
    pub(super) split: &'static str,
    /// Token ids of the whole split, `None` where too long.
    pub(super) split_ids: Vec<Option<Vec<i64>>>,
    pub(super) ids: Vec<Vec<i64>>,
    pub(super) labels: Vec<[f32; 2]>,
    pub(super) truth: Vec<u8>,
    /// Position of each example among the split's kept examples (rows of its features).
    pub(super) rows: Vec<i64>,
    /// The supervisors' mean predictions (students only).
    pub(super) supervision: Option<Predictions>,
    /// With learned weights: each supervisor's labels of the training examples (`each[k][i]`).
    pub(super) each: Vec<Vec<[f32; 2]>>,
}

/// Examples held out of training for early stopping.
pub(super) struct HeldOut<'a> {
    pub(super) ids: Vec<Vec<i64>>,
    pub(super) rows: Vec<i64>,
    pub(super) labels: Vec<u8>,
    pub(super) options: &'a options::EarlyStopping,
}

impl TrainingSet {
    /// A set to train on: at least two examples, and both classes under ground truth.
    fn check(&self, asked: usize, max_ctx: usize, ground_truth: bool) -> Result<()> {
        if self.ids.len() < 2 {
            bail!(
                "{} training examples left of the {asked} in this half of train{}",
                self.ids.len(),
                if asked >= 2 {
                    format!(" after dropping those of max_ctx = {max_ctx} tokens or more")
                } else {
                    " (the task has too few examples for n_docs; ask for fewer or use more data)"
                        .into()
                }
            );
        }
        if ground_truth && self.truth.iter().all(|&l| l == self.truth[0]) {
            bail!(
                "every one of the {} ground-truth training examples has label {}: a classifier \
                 needs both classes (check the task's label field, or ask for more examples)",
                self.truth.len(),
                self.truth[0]
            );
        }
        Ok(())
    }

    /// Early stopping holds out the last examples (the split is already shuffled), labelled
    /// by the supervisor or, for the oracle, by ground truth.
    pub(super) fn hold_out<'a>(&mut self, es: &'a options::EarlyStopping) -> HeldOut<'a> {
        let n = self.ids.len();
        let n_val = ((n as f64 * es.val_frac).round() as usize).clamp(1, n - 1);
        let at = n - n_val;
        let labels = match es.labels {
            StopLabels::Weak => self.labels[at..].iter().map(metrics::hard).collect(),
            StopLabels::Oracle => self.truth[at..].to_vec(),
        };
        self.labels.truncate(at);
        self.truth.truncate(at);
        self.each.iter_mut().for_each(|e| e.truncate(at));
        HeldOut {
            ids: self.ids.split_off(at),
            rows: self.rows.split_off(at),
            labels,
            options: es,
        }
    }

    /// The label budget: `n` training examples, drawn with `seed` (ChaCha8), get their true
    /// label in place of the weak one. After relabelling (a probe does not overrule the
    /// oracle) and after the early-stopping hold-out (the budget is for training).
    pub(super) fn give_oracle_labels(&mut self, n: usize, seed: u64) -> Result<()> {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        if self.supervision.is_none() {
            bail!("oracle_labels needs weak labels: it applies to students, not ground-truth runs");
        }
        if n > self.labels.len() {
            bail!(
                "oracle_labels = {n}: the student trains on {} examples; give at most that many",
                self.labels.len()
            );
        }
        let mut order: Vec<usize> = (0..self.labels.len()).collect();
        order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
            seed ^ ORACLE_DRAW,
        ));
        for &i in &order[..n] {
            self.labels[i] = one_hot(self.truth[i]);
        }
        Ok(())
    }

    /// Keep only the examples at `keep`, with new labels.
    pub(super) fn retain(&mut self, keep: &[usize], labels: Vec<[f32; 2]>) {
        self.ids = keep.iter().map(|&i| self.ids[i].clone()).collect();
        self.rows = keep.iter().map(|&i| self.rows[i]).collect();
        self.truth = keep.iter().map(|&i| self.truth[i]).collect();
        self.labels = labels;
    }
}

/// Mixed into the seed for the label budget's draw, so it is not the split's shuffle.
const ORACLE_DRAW: u64 = 0x0AC1E;

/// Rows `rows` of a feature matrix.
pub(super) fn select(features: &Tensor, rows: &[i64]) -> Tensor {
    features.index_select(0, &Tensor::from_slice(rows).to_device(features.device()))
}

impl Runner {
    /// Token ids of a split, `None` for examples of `max_ctx` tokens or more (or beyond the
    /// model's positions). Tokenized once per (tokenizer, task, seed, split) and kept in
    /// `RESULTS/.tokens/`, so students, ceilings and probes of a sweep reuse them.
    pub(super) fn encode(
        &self,
        spec: &RunSpec,
        model: &Classifier,
        split: &str,
        examples: &[Example],
    ) -> Result<Vec<Option<Vec<i64>>>> {
        let suffix = spec.train.prompt_suffix();
        let key = store::config_hash(&(
            RESULTS_FORMAT,
            &spec.model_fingerprint,
            &spec.data,
            spec.seed,
            split,
            suffix,
        ));
        let path = self.results.join(".tokens").join(format!("{key}.json"));
        let all: Vec<Vec<i64>> = match cached_tokens(&path, examples.len(), model.info.vocab_size) {
            Some(ids) => ids,
            None => {
                let ids = if examples.iter().any(|e| e.replies.is_some()) {
                    encode_pairs(model, examples, suffix)?
                } else {
                    let texts: Vec<String> = examples
                        .iter()
                        .map(|e| format!("{}{suffix}", e.text))
                        .collect();
                    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                    model.encoder.encode_all(&texts)?
                };
                let bytes = serde_json::to_vec(&ids)?;
                let cache = TokensCache {
                    sha256: store::sha256_hex(&bytes),
                    ids,
                };
                store::write_atomic(&path, &serde_json::to_vec(&cache)?)?;
                cache.ids
            }
        };
        let limit = spec.max_ctx.min(model.info.max_positions);
        Ok(all
            .into_iter()
            .map(|ids| (crate::model::longest_part(&ids) < limit).then_some(ids))
            .collect())
    }

    /// Backbone features of a split's kept examples, from `RESULTS/.features/` (if the
    /// cache is whole: [`cached_features`]) or computed
    /// and stored there (atomically). The key holds the options that decide the frozen
    /// backbone ([`crate::options::Backbone`]) and no other, so a probe sweep over losses and
    /// learning rates runs the backbone once per split.
    pub(super) fn features(
        &self,
        spec: &RunSpec,
        model: &Classifier,
        split: &str,
        ids: &[Option<Vec<i64>>],
    ) -> Result<Tensor> {
        let key = store::config_hash(&(
            RESULTS_FORMAT,
            &spec.model_fingerprint,
            &spec.data,
            spec.seed,
            spec.max_ctx,
            split,
            spec.train.backbone(),
        ));
        let path = self
            .results
            .join(".features")
            .join(format!("{key}.safetensors"));
        let rows = ids.iter().flatten().count() as i64;
        if let Some(f) = cached_features(&path, rows) {
            return Ok(f.to_device(model.device()));
        }
        let f = train::features(model, &kept(ids), self.eval_batch_size)?;
        let cpu = f.to_device(Device::Cpu);
        let sum = Tensor::from_slice(&tensor_sha256(&cpu));
        store::write_safetensors(&path, &[("features", &cpu), ("sha256", &sum)])?;
        Ok(f)
    }

    /// The supervisors' mean predictions (none for a ground-truth run), and each supervisor's
    /// train2 predictions where their weights are learned.
    #[allow(clippy::type_complexity)]
    fn supervision(
        &self,
        spec: &RunSpec,
    ) -> Result<(Option<Predictions>, Vec<Vec<Option<[f32; 2]>>>)> {
        if spec.is_ground_truth() {
            return Ok((None, Vec::new()));
        }
        let all: Vec<Predictions> = spec
            .supervisors()
            .map(|s| self.predictions(s))
            .collect::<Result<_>>()?;
        let each = match spec.train.learned_weights {
            Some(_) => all
                .iter()
                .map(|p| p.train2.clone().unwrap_or_default())
                .collect(),
            None => Vec::new(),
        };
        Ok((Some(Predictions::mean(&all)), each))
    }

    /// train1 with ground truth, or train2 with the supervisors' mean soft labels; examples
    /// too long for the model (or without a label) left out.
    pub(super) fn training_set(
        &self,
        spec: &RunSpec,
        model: &Classifier,
        splits: &Splits,
    ) -> Result<TrainingSet> {
        let (supervision, each_train2) = self.supervision(spec)?;
        let (split, examples, weak) = match &supervision {
            None => ("train1", &splits.train1, None),
            Some(p) => (
                "train2",
                &splits.train2,
                Some(p.train2.clone().with_context(|| {
                    format!(
                        "the supervisor of {} has no train2 predictions",
                        self.run_dir(spec).display()
                    )
                })?),
            ),
        };
        let split_ids = self.encode(spec, model, split, examples)?;
        let mut set = TrainingSet {
            split,
            ids: Vec::new(),
            labels: Vec::new(),
            truth: Vec::new(),
            rows: Vec::new(),
            split_ids: Vec::new(),
            supervision,
            each: vec![Vec::new(); each_train2.len()],
        };
        let mut kept_so_far = 0;
        for (i, (tok, ex)) in split_ids.iter().zip(examples).enumerate() {
            let label = match &weak {
                None => Some(one_hot(ex.label)),
                Some(p) => *p
                    .get(i)
                    .context("supervisor predictions do not cover train2")?,
            };
            if let (Some(tok), Some(label)) = (tok, label) {
                set.ids.push(tok.clone());
                set.labels.push(label);
                for (e, p) in set.each.iter_mut().zip(&each_train2) {
                    // The mean exists here, so every supervisor predicted this example.
                    e.push(p[i].context("a supervisor's train2 predictions have a gap")?);
                }
                set.truth.push(ex.label);
                set.rows.push(kept_so_far as i64);
            }
            kept_so_far += tok.is_some() as usize;
        }
        set.check(split_ids.len(), spec.max_ctx, weak.is_none())?;
        set.split_ids = split_ids;
        Ok(set)
    }

    /// Probe relabelling, on the student's pretrained features of its training examples.
    pub(super) fn relabel(
        &self,
        spec: &RunSpec,
        model: &Classifier,
        set: &mut TrainingSet,
        r: &labels::Relabel,
    ) -> Result<Relabelling> {
        let all = self.features(spec, model, set.split, &set.split_ids)?;
        let probe = r.probe_labels(&select(&all, &set.rows), &set.labels, spec.seed);
        let (cleaned, changed) = r.apply(&set.labels, &probe);
        let before = metrics::accuracy(&set.labels, &set.truth);
        let keep: Vec<usize> = (0..cleaned.len())
            .filter(|&i| cleaned[i].is_some())
            .collect();
        set.retain(&keep, cleaned.into_iter().flatten().collect());
        Ok(Relabelling {
            changed,
            accuracy_before: before,
            accuracy_after: metrics::accuracy(&set.labels, &set.truth),
        })
    }

    /// Train on the set (the whole model, or the head on cached features for a linear probe),
    /// then predict test, and train2 when asked.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fit_and_predict(
        &self,
        spec: &RunSpec,
        predict_train2: bool,
        model: &mut Classifier,
        set: &TrainingSet,
        held_out: Option<&HeldOut>,
        splits: &Splits,
        dir: &Path,
    ) -> Result<(TrainSummary, Predictions)> {
        // Test's tokens first (then cached): a task whose test examples are all too long
        // fails before training.
        self.encode(spec, model, "test", &splits.test)?;
        // A linear probe reads the frozen backbone's features, computed once per (model,
        // task, seed, split) and shared by every probe that needs them.
        let features = if spec.train.linear_probe {
            Some(self.features(spec, model, set.split, &set.split_ids)?)
        } else {
            None
        };
        let train_feats = features.as_ref().map(|f| select(f, &set.rows));
        let val_feats = features
            .as_ref()
            .zip(held_out)
            .map(|(f, h)| select(f, &h.rows));
        let inputs = match &train_feats {
            Some(f) => train::Inputs::Features(f),
            None => train::Inputs::Tokens(&set.ids),
        };
        let validation = held_out.map(|h| train::Validation {
            inputs: match &val_feats {
                Some(f) => train::Inputs::Features(f),
                None => train::Inputs::Tokens(&h.ids),
            },
            labels: h.labels.clone(),
            metric: h.options.metric,
            every: h.options.every,
        });
        let mut mixture = match &spec.train.learned_weights {
            Some(w) if set.each.len() > 1 => {
                Some(labels::LearnedMixture::new(&set.each, w, model.device()))
            }
            _ => None,
        };
        let labels = match mixture.as_mut() {
            Some(m) => train::Labels::Learned(m),
            None => train::Labels::Soft(&set.labels),
        };
        let training = train::train(
            model,
            inputs,
            labels,
            &spec.train,
            validation.as_ref(),
            Some(&dir.join(TRAIN_LOG_FILE)),
            &progress_label(spec, model),
        )?;
        let predictions = self.predict_splits(spec, model, splits, predict_train2)?;
        Ok((training, predictions))
    }

    /// The trained model's predictions on test, and on train2 if it supervises.
    fn predict_splits(
        &self,
        spec: &RunSpec,
        model: &Classifier,
        splits: &Splits,
        predict_train2: bool,
    ) -> Result<Predictions> {
        let predict = |split: &str, examples| -> Result<Vec<Option<[f32; 2]>>> {
            let ids = self.encode(spec, model, split, examples)?;
            let probs = if spec.train.linear_probe {
                train::predict_features(model, &self.features(spec, model, split, &ids)?)
            } else {
                train::predict(model, &kept(&ids), self.eval_batch_size)?
            };
            Ok(scatter(&ids, probs))
        };
        Ok(Predictions {
            train2: match predict_train2 {
                true => Some(predict("train2", &splits.train2)?),
                false => None,
            },
            test: predict("test", &splits.test)?,
            test_labels: splits.test.iter().map(|e| e.label).collect(),
            run: None,
        })
    }
}

impl Runner {
    /// Test metrics of a run's predictions: accuracy, AUROC, calibration, and for students how
    /// they relate to their supervisors. Counts and training fields are filled in by the caller.
    pub(super) fn analyse(
        spec: &RunSpec,
        predictions: &Predictions,
        supervision: Option<&Predictions>,
        splits: &Splits,
    ) -> Result<RunResult> {
        let (probs, truth): (Vec<[f32; 2]>, Vec<u8>) = predictions
            .test
            .iter()
            .zip(&splits.test)
            .filter_map(|(p, e)| p.map(|p| (p, e.label)))
            .unzip();
        if splits.test.is_empty() {
            bail!("the task has no test examples to score the run on");
        }
        if probs.is_empty() {
            bail!(
                "every test example is max_ctx = {} tokens long or longer",
                spec.max_ctx
            );
        }
        let mut analysis = Analysis {
            auroc: metrics::auroc(&probs, &truth),
            ece: Some(metrics::ece(&probs, &truth, 10)),
            ..Default::default()
        };
        let (mut supervisor_accuracy, mut supervisor_agreement) = (None, None);
        if let Some(sup) = supervision {
            let labels: Vec<u8> = splits.test.iter().map(|e| e.label).collect();
            supervisor_agreement =
                analysis.against_supervisor(&predictions.test, &sup.test, &labels);
            let (p, t): (Vec<[f32; 2]>, Vec<u8>) = sup
                .test
                .iter()
                .zip(&splits.test)
                .filter_map(|(p, e)| Some(((*p)?, e.label)))
                .unzip();
            supervisor_accuracy = Some(metrics::accuracy(&p, &t));
        }
        Ok(RunResult {
            hash: spec.hash(),
            spec: spec.clone(),
            model: ModelInfo::default(),
            test_accuracy: metrics::accuracy(&probs, &truth),
            supervisor_agreement,
            supervisor_accuracy,
            relabelling: None,
            generative_finetuning: None,
            analysis,
            n_train: 0,
            n_test: probs.len(),
            n_dropped: (0, predictions.test.len() - probs.len()),
            training: TrainSummary::default(),
            device: String::new(),
            train2_predicted: predictions.train2.is_some(),
            predictions_sha256: None,
            pairwise: splits.pairwise(),
            provenance: Provenance::default(),
        })
    }
}

/// What a run's progress bar and errors call it.
fn progress_label(spec: &RunSpec, model: &Classifier) -> String {
    match &spec.supervisor {
        None => format!("{} (ground truth)", model.info.name),
        Some(s) => format!(
            "{} <- {} ({})",
            short_name(&spec.model),
            short_name(&s.model),
            spec.train.method()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(weak: &[f32], truth: &[u8]) -> TrainingSet {
        TrainingSet {
            split: "train2",
            split_ids: Vec::new(),
            ids: vec![vec![1]; weak.len()],
            labels: weak.iter().map(|&p| [1.0 - p, p]).collect(),
            truth: truth.to_vec(),
            rows: (0..weak.len() as i64).collect(),
            supervision: Some(Predictions::default()),
            each: Vec::new(),
        }
    }

    #[test]
    fn a_label_budget_replaces_that_many_weak_labels_by_the_truth() {
        let weak = [0.6, 0.7, 0.2, 0.9, 0.4, 0.55, 0.3, 0.8];
        let truth = [0, 0, 1, 1, 0, 1, 1, 0];
        let mut s = set(&weak, &truth);
        s.give_oracle_labels(3, 7).unwrap();
        let changed: Vec<usize> = (0..8)
            .filter(|&i| s.labels[i] != [1.0 - weak[i], weak[i]])
            .collect();
        assert_eq!(changed.len(), 3, "{:?}", s.labels);
        for &i in &changed {
            assert_eq!(s.labels[i], one_hot(truth[i]));
        }
        // The same seed draws the same examples; the whole budget makes every label true.
        let mut again = set(&weak, &truth);
        again.give_oracle_labels(3, 7).unwrap();
        assert_eq!(again.labels, s.labels);
        let mut all = set(&weak, &truth);
        all.give_oracle_labels(8, 7).unwrap();
        assert!((0..8).all(|i| all.labels[i] == one_hot(truth[i])));
        let err = set(&weak, &truth).give_oracle_labels(9, 7).unwrap_err();
        assert!(format!("{err}").contains("at most that many"), "{err}");
        let mut gt = set(&weak, &truth);
        gt.supervision = None;
        assert!(gt.give_oracle_labels(1, 7).is_err());
    }
}
