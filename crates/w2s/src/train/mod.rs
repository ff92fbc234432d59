//! The training loop and batched prediction, following openai/weak-to-strong's
//! `train_model`: Adam, a cosine-annealed learning rate over `nsteps = n * epochs / batch`,
//! the data visited in order (it was shuffled once by the split), no dropout.
//!
//! A step takes `batch_size` examples, orders them by length, and backpropagates them
//! `minibatch_size` at a time: the batch's gradient, with little padding. Losses whose target
//! depends on the whole batch (`logconf`'s quantile) keep every minibatch's graph and
//! backpropagate once, as the reference does, when the batch's activations fit in memory; else
//! a no-grad pass over the batch fixes the target first ([`WholeBatch`]).
//!
//! With early stopping, the model is scored on a validation set every few steps and the best
//! parameters are put back at the end (EleutherAI/w2s's weak-label early stopping).

use crate::model::{pad_batch, Classifier};
use crate::options::{StopMetric, TrainOptions};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::time::Instant;
use tch::{Kind, Tensor};

mod batch;
pub use batch::{backward_batch, Inputs, Labels, WholeBatch};

/// The held-out examples early stopping scores the model on.
pub struct Validation<'a> {
    pub inputs: Inputs<'a>,
    /// Hard labels (weak or true).
    pub labels: Vec<u8>,
    pub metric: StopMetric,
    pub every: usize,
}

impl Validation<'_> {
    /// Steps between scorings: `every`, or a tenth of training when it is 0.
    fn every_of(&self, nsteps: usize) -> usize {
        match self.every {
            0 => nsteps.div_ceil(10).max(1),
            e => e,
        }
    }

    fn score(&self, model: &Classifier) -> anyhow::Result<f64> {
        let probs = self.inputs.predict(model, 64)?;
        Ok(match self.metric {
            StopMetric::Accuracy => crate::metrics::accuracy(&probs, &self.labels),
            // A single-class validation set has no AUROC; fall back to accuracy.
            StopMetric::Auroc => crate::metrics::auroc(&probs, &self.labels)
                .unwrap_or_else(|| crate::metrics::accuracy(&probs, &self.labels)),
        })
    }
}

/// What training did, for the run's result file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrainSummary {
    pub steps: usize,
    pub final_loss: f64,
    pub seconds: f64,
    /// With early stopping: the step whose parameters were kept (after that many steps), and
    /// its validation score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_step: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_score: Option<f64>,
    /// With learned weights (RAVEN): each supervisor's weight at the end, in the order of the
    /// run's supervisors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor_weights: Option<Vec<f64>>,
}

/// One line of `train_log.jsonl` per step (TensorBoard gets the same scalars).
#[derive(Serialize)]
struct StepLog {
    step: usize,
    progress: f64,
    loss: f64,
    train_accuracy: f64,
    lr: f64,
    aux_weight: f64,
    seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    validation: Option<f64>,
    /// Learned supervisor weights after the step (RAVEN).
    #[serde(skip_serializing_if = "Option::is_none")]
    supervisor_weights: Option<Vec<f64>>,
}

/// A copy of the trainable parameters by name.
type Checkpoint = Vec<(String, Tensor)>;

/// A copy of the trainable parameters, to restore the best checkpoint from.
fn snapshot(model: &Classifier) -> Checkpoint {
    let _guard = tch::no_grad_guard();
    let mut vars: Checkpoint = model
        .vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .map(|(n, t)| (n, t.detach().copy()))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

fn restore(model: &Classifier, saved: &[(String, Tensor)]) {
    let _guard = tch::no_grad_guard();
    let vars = model.vs.variables();
    for (name, value) in saved {
        vars[name].shallow_clone().copy_(value);
    }
}

/// The step's log, written as it happens: one JSON line (flushed, so a long run shows
/// progress there and a killed one keeps its log) and the same scalars as TensorBoard events
/// beside it.
struct Logs {
    jsonl: std::io::BufWriter<std::fs::File>,
    events: crate::tensorboard::EventWriter,
}

impl Logs {
    fn create(path: Option<&Path>) -> Result<Option<Logs>> {
        let Some(p) = path else { return Ok(None) };
        Ok(Some(Logs {
            jsonl: std::io::BufWriter::new(std::fs::File::create(p)?),
            events: crate::tensorboard::EventWriter::create(p.parent().unwrap_or(Path::new(".")))?,
        }))
    }

    fn write(&mut self, line: &StepLog) -> Result<()> {
        let mut scalars = vec![
            ("loss", line.loss),
            ("train_accuracy", line.train_accuracy),
            ("lr", line.lr),
            ("aux_weight", line.aux_weight),
        ];
        scalars.extend(line.validation.map(|v| ("validation", v)));
        self.events.scalars(line.step as i64, &scalars)?;
        writeln!(self.jsonl, "{}", serde_json::to_string(line)?)?;
        self.jsonl.flush()?;
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.jsonl.flush()?;
        self.events.finish()?;
        Ok(())
    }
}

/// With early stopping: the best-scoring parameters so far, and when they were seen.
struct Best {
    step: usize,
    score: f64,
    saved: Checkpoint,
}

impl Best {
    /// Score `model` after `done` steps; keep its parameters if they are the best so far.
    fn consider(
        best: &mut Option<Best>,
        model: &Classifier,
        v: &Validation,
        done: usize,
    ) -> Result<f64> {
        let score = v.score(model)?;
        if best.as_ref().is_none_or(|b| score > b.score) {
            *best = Some(Best {
                step: done,
                score,
                saved: snapshot(model),
            });
        }
        Ok(score)
    }
}

/// A step's loss must be finite and below [`DIVERGED`]; else the run fails, saying where and
/// what to try.
fn check_loss(loss: f64, at: &str, lr: f64) -> Result<()> {
    if !loss.is_finite() {
        bail!("{at}: the loss became {loss} (lr {lr:.2e}); try a lower learning rate");
    }
    if loss > DIVERGED {
        bail!("{at}: training diverged: the loss reached {loss:.3e} (it starts near ln 2 = 0.69 with the zero head; lr {lr:.2e}); try a lower learning rate");
    }
    Ok(())
}

/// A two-class loss above this many nats means a model that is confidently wrong everywhere:
/// the run diverged, and is failed rather than stored.
const DIVERGED: f64 = 100.0;

/// How many optimizer steps training on `n` examples takes, after checking the inputs fit
/// the options. No epochs, no steps: the model as loaded (zero-shot); otherwise at least one.
fn steps(inputs: &Inputs, n: usize, opts: &TrainOptions, what: &str) -> Result<usize> {
    assert_eq!(inputs.len(), n);
    if n == 0 {
        bail!("{what}: no training examples");
    }
    opts.check_batches()?;
    if matches!(inputs, Inputs::Features(_)) && !opts.linear_probe {
        bail!("cached features can only train a linear probe");
    }
    Ok(match opts.epochs {
        0 => 0,
        e => (n * e / opts.batch_size).max(1),
    })
}

/// Finetune `model` (or only its head, with `opts.linear_probe`) on `inputs` with soft
/// labels. Fails, naming the step, if the loss stops being finite. Writes one JSON line per
/// step to `log` when given.
pub fn train(
    model: &mut Classifier,
    inputs: Inputs,
    mut labels: Labels,
    opts: &TrainOptions,
    validation: Option<&Validation>,
    log: Option<&Path>,
    what: &str,
) -> Result<TrainSummary> {
    let n = labels.len();
    let nsteps = steps(&inputs, n, opts, what)?;
    model.set_backbone_trainable(!opts.linear_probe);
    let mut optimizer = crate::optimizer::Adam::new(&model.vs, opts.lr);
    let mut logs = Logs::create(log)?;
    // Keeping every graph would defeat checkpointing.
    let whole_batch = [WholeBatch::Auto, WholeBatch::Recompute][opts.checkpointing as usize];
    let bar = crate::progress::steps_bar(nsteps as u64, what);
    let start = Instant::now();
    let mut order = (0..n).cycle();
    let mut last_loss = f64::NAN;
    let every = validation.map_or(1, |v| v.every_of(nsteps));
    let mut best: Option<Best> = None;
    for step in 0..nsteps {
        let at = || format!("{what}: step {step}/{nsteps}");
        crate::progress::check_interrupt().with_context(at)?;
        let step_start = Instant::now();
        let frac = step as f64 / nsteps as f64;
        let lr = opts.lr_at(frac);
        optimizer.start_step(lr);
        let mut batch: Vec<usize> = order.by_ref().take(opts.batch_size).collect();
        inputs.group_by_length(&mut batch);
        let (loss, correct) = backward_batch(
            model,
            &inputs,
            &batch,
            &labels,
            &opts.loss,
            opts.minibatch_size,
            frac,
            whole_batch,
            opts.checkpointing && !opts.linear_probe,
        )
        .with_context(at)?;
        check_loss(loss, &at(), lr).inspect_err(|_| bar.abandon())?;
        optimizer.step().with_context(at)?;
        labels.step();
        last_loss = loss;
        let done = step + 1;
        let scored = validation.filter(|_| done % every == 0 || done == nsteps);
        let score = scored.map(|v| Best::consider(&mut best, model, v, done));
        let train_accuracy = correct as f64 / batch.len() as f64;
        bar.set_message(format!("loss {loss:.4} acc {train_accuracy:.3}"));
        bar.inc(1);
        let record = StepLog {
            step,
            progress: frac,
            loss,
            train_accuracy,
            lr,
            aux_weight: opts.loss.aux_weight(frac),
            seconds: step_start.elapsed().as_secs_f64(),
            validation: score.transpose()?,
            supervisor_weights: labels.weights(),
        };
        logs.as_mut().map(|l| l.write(&record)).transpose()?;
    }
    bar.finish_and_clear();
    logs.map(Logs::finish).transpose()?;
    if let Some(b) = &best {
        restore(model, &b.saved);
    }
    Ok(TrainSummary {
        steps: nsteps,
        final_loss: last_loss,
        seconds: start.elapsed().as_secs_f64(),
        best_step: best.as_ref().map(|b| b.step),
        best_score: best.as_ref().map(|b| b.score),
        supervisor_weights: labels.weights(),
    })
}

/// Pooled backbone features `[n, hidden]` (f32, on the model's device) of token sequences,
/// batched by length.
pub fn features(model: &Classifier, ids: &[Vec<i64>], batch_size: usize) -> anyhow::Result<Tensor> {
    crate::model::layers::with_weights_cast_once(|| features_here(model, ids, batch_size))
}

fn features_here(
    model: &Classifier,
    ids: &[Vec<i64>],
    batch_size: usize,
) -> anyhow::Result<Tensor> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| ids[i].len());
    let mut parts = Vec::new();
    for chunk in order.chunks(batch_size.max(1)) {
        // An interrupt (Ctrl-C, a notebook's stop) ends the pass at the next batch.
        crate::progress::check_interrupt()?;
        let seqs: Vec<&[i64]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
        parts.push(
            model
                .features(&pad_batch(&seqs, model.encoder.pad_id(), model.device()))
                .to_kind(Kind::Float),
        );
    }
    let sorted = Tensor::cat(&parts, 0);
    // Undo the length sort.
    let mut inverse = vec![0i64; ids.len()];
    for (pos, &i) in order.iter().enumerate() {
        inverse[i] = pos as i64;
    }
    Ok(sorted.index_select(0, &Tensor::from_slice(&inverse).to_device(sorted.device())))
}

/// Class probabilities from cached features, in order.
pub fn predict_features(model: &Classifier, features: &Tensor) -> Vec<[f32; 2]> {
    let _guard = tch::no_grad_guard();
    let probs = model
        .head_forward(features)
        .softmax(-1, Kind::Float)
        .to_device(tch::Device::Cpu);
    let flat = Vec::<f32>::try_from(probs.view(-1)).expect("f32 probabilities");
    flat.chunks(2).map(|c| [c[0], c[1]]).collect()
}

/// Class probabilities for each sequence, in input order. Batches are formed from
/// sequences of similar length so that little time goes into padding.
pub fn predict(
    model: &Classifier,
    ids: &[Vec<i64>],
    batch_size: usize,
) -> anyhow::Result<Vec<[f32; 2]>> {
    crate::model::layers::with_weights_cast_once(|| predict_here(model, ids, batch_size))
}

fn predict_here(
    model: &Classifier,
    ids: &[Vec<i64>],
    batch_size: usize,
) -> anyhow::Result<Vec<[f32; 2]>> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| ids[i].len());
    let mut out = vec![[0f32; 2]; ids.len()];
    for chunk in order.chunks(batch_size.max(1)) {
        crate::progress::check_interrupt()?;
        let seqs: Vec<&[i64]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
        let probs = model
            .forward(&pad_batch(&seqs, model.encoder.pad_id(), model.device()))
            .softmax(-1, Kind::Float)
            .to_device(tch::Device::Cpu);
        let flat = Vec::<f32>::try_from(probs.view(-1)).expect("f32 probabilities");
        for (k, &i) in chunk.iter().enumerate() {
            out[i] = [flat[2 * k], flat[2 * k + 1]];
        }
    }
    Ok(out)
}
