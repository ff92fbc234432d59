//! One batch of a training step: what the student learns from ([`Labels`]), what the model
//! reads ([`Inputs`]: token ids, or cached features for a linear probe), and the batch's loss
//! backpropagated minibatch by minibatch ([`backward_batch`]), with the whole batch's target
//! where the loss needs one ([`WholeBatch`]).

use super::{predict, predict_features};
use crate::labels::LearnedMixture;
use crate::loss::Loss;
use crate::model::{longest_part, pad_batch, split_pair, Batch, Classifier};
use anyhow::Result;
use tch::{Kind, Tensor};

/// Soft labels `[n, 2]` as a tensor.
fn label_tensor(labels: &[[f32; 2]]) -> Tensor {
    let flat: Vec<f32> = labels.iter().flatten().copied().collect();
    Tensor::from_slice(&flat).view([labels.len() as i64, 2])
}

/// What a student learns from: one soft label per example, or several supervisors' labels
/// mixed with weights learned during training (RAVEN, [`LearnedMixture`]).
pub enum Labels<'a> {
    Soft(&'a [[f32; 2]]),
    Learned(&'a mut LearnedMixture),
}

impl Labels<'_> {
    pub(super) fn len(&self) -> usize {
        match self {
            Labels::Soft(l) => l.len(),
            Labels::Learned(m) => m.len(),
        }
    }

    /// The learned supervisor weights, if any.
    pub(super) fn weights(&self) -> Option<Vec<f64>> {
        match self {
            Labels::Learned(m) => Some(m.weights()),
            Labels::Soft(_) => None,
        }
    }

    /// After an optimizer step: move the learned weights (RAVEN).
    pub(super) fn step(&mut self) {
        if let Labels::Learned(m) = self {
            m.step();
        }
    }

    /// Whether learned weights move at this point of training.
    fn learning(&self, frac: f64) -> bool {
        matches!(self, Labels::Learned(m) if m.learning(frac))
    }

    /// The labels `[rows, 2]` of examples `rows`, carrying the learned weights' gradient when
    /// `learning`.
    fn rows(&self, rows: &[usize], learning: bool, device: tch::Device) -> Tensor {
        match self {
            Labels::Soft(l) => {
                label_tensor(&rows.iter().map(|&i| l[i]).collect::<Vec<_>>()).to_device(device)
            }
            Labels::Learned(m) => m.labels(rows, learning),
        }
    }
}

/// What a training step runs the model on: token ids (finetuning), or features computed once
/// by the frozen backbone (linear probe on cached features).
pub enum Inputs<'a> {
    Tokens(&'a [Vec<i64>]),
    Features(&'a Tensor),
}

impl Inputs<'_> {
    pub(super) fn len(&self) -> usize {
        match self {
            Inputs::Tokens(ids) => ids.len(),
            Inputs::Features(f) => f.size()[0] as usize,
        }
    }

    /// The padded token batch of the examples at `index` (token inputs only).
    fn tokens(&self, model: &Classifier, index: &[usize]) -> Batch {
        let Inputs::Tokens(ids) = self else {
            unreachable!("features have no tokens")
        };
        let seqs: Vec<&[i64]> = index.iter().map(|&i| ids[i].as_slice()).collect();
        pad_batch(&seqs, model.encoder.pad_id(), model.device())
    }

    /// Logits of the examples at `index`.
    pub fn logits(&self, model: &Classifier, index: &[usize]) -> Tensor {
        match self {
            Inputs::Tokens(_) => model.forward(&self.tokens(model, index)),
            Inputs::Features(f) => {
                let idx: Vec<i64> = index.iter().map(|&i| i as i64).collect();
                let rows = Tensor::from_slice(&idx).to_device(f.device());
                model.head_forward(&f.index_select(0, &rows))
            }
        }
    }

    /// Order a batch's examples by length (stable), so that each minibatch holds sequences of
    /// similar length and pads little. The batch, and so its mean loss and gradient, is
    /// unchanged; only how it is cut into minibatches.
    pub fn group_by_length(&self, batch: &mut [usize]) {
        if let Inputs::Tokens(ids) = self {
            batch.sort_by_key(|&i| ids[i].len());
        }
    }

    /// Class probabilities of every example, in order.
    pub fn predict(&self, model: &Classifier, batch_size: usize) -> anyhow::Result<Vec<[f32; 2]>> {
        match self {
            Inputs::Tokens(ids) => predict(model, ids, batch_size),
            Inputs::Features(f) => Ok(predict_features(model, f)),
        }
    }
}

/// How many rows' predictions agree with their labels' argmax.
fn agreement(logits: &Tensor, labels: &Tensor) -> i64 {
    logits
        .argmax(1, false)
        .eq_tensor(&labels.argmax(1, false))
        .sum(Kind::Int64)
        .int64_value(&[])
}

/// How a loss whose target depends on the whole batch (`logconf`'s quantile) gets it when the
/// batch is backpropagated in several minibatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WholeBatch {
    /// Keep every minibatch's graph, compute the loss on the whole batch, backpropagate once
    /// (the reference's way): one forward pass, activation memory for the whole batch.
    KeepGraphs,
    /// A no-grad pass over the batch fixes the target, then each minibatch is backpropagated
    /// on its own: a second forward pass, activation memory for one minibatch.
    Recompute,
    /// Decide batch by batch from the memory estimate (`WholeBatch::for_batch`).
    Auto,
}

impl WholeBatch {
    /// For one batch, cut into `chunks`: keep the graphs when the batch's activations (each
    /// minibatch padded to its longest example) fit in half the memory the device has free;
    /// else recompute. Features (a linear probe) keep nothing worth counting.
    fn for_batch(model: &Classifier, inputs: &Inputs, chunks: &[&[usize]]) -> WholeBatch {
        let Inputs::Tokens(ids) = inputs else {
            return WholeBatch::KeepGraphs;
        };
        let need: u64 = chunks
            .iter()
            .map(|c| {
                let longest = c.iter().map(|&i| longest_part(&ids[i])).max().unwrap_or(1);
                // A pair is two sequences.
                let rows = c
                    .iter()
                    .map(|&i| 1 + split_pair(&ids[i]).is_some() as usize)
                    .sum();
                let off = crate::memory::Checkpointing::Off;
                crate::memory::activation_bytes(&model.info, rows, longest, false, off)
            })
            .sum();
        match crate::device::free_bytes(model.device()) {
            Some(free) if need < free / 2 => WholeBatch::KeepGraphs,
            _ => {
                tracing::debug!(
                    "the batch's activations (about {}) may not fit: recomputing its target",
                    crate::memory::human(need)
                );
                WholeBatch::Recompute
            }
        }
    }
}

/// Backpropagate the mean loss over the examples `batch` (indices into `inputs` and
/// `labels`), `minibatch` examples at a time; gradients accumulate into the model's. Returns
/// the loss and how many predictions agree with the labels' argmax; fails only where a custom
/// loss does.
#[allow(clippy::too_many_arguments)]
pub fn backward_batch(
    model: &Classifier,
    inputs: &Inputs,
    batch: &[usize],
    labels: &Labels,
    loss: &Loss,
    minibatch: usize,
    frac: f64,
    whole_batch: WholeBatch,
    checkpointing: bool,
) -> Result<(f64, i64)> {
    let device = model.device();
    let learning = labels.learning(frac);
    // The batch's labels without gradient: for agreement, and for targets fixed up front.
    let label_t = labels.rows(batch, false, device);
    let chunks: Vec<&[usize]> = batch.chunks(minibatch).collect();
    let whole_batch = match whole_batch {
        WholeBatch::Auto if chunks.len() > 1 && loss.needs_whole_batch() => {
            WholeBatch::for_batch(model, inputs, &chunks)
        }
        other => other,
    };
    // The whole batch's logits, minibatch by minibatch.
    let all_logits = || {
        let parts: Vec<Tensor> = chunks.iter().map(|c| inputs.logits(model, c)).collect();
        Tensor::cat(&parts, 0)
    };
    if chunks.len() > 1 && loss.needs_whole_batch() && whole_batch == WholeBatch::KeepGraphs {
        let logits = all_logits();
        let graded = labels.rows(batch, learning, device);
        let target = loss.target(&logits, &graded, frac);
        let value = loss.objective(&logits, &target, &graded, frac)?;
        value.backward();
        return Ok((value.double_value(&[]), agreement(&logits, &label_t)));
    }
    // Targets for the whole batch, fixed before any gradient flows when they need it.
    let whole_target = if chunks.len() > 1 && loss.needs_whole_batch() {
        let logits = tch::no_grad(all_logits);
        if learning {
            // The learned weights' gradient, from the whole batch's loss at these logits
            // (the minibatches below then learn from fixed labels).
            crate::loss::loss_value(loss, &logits, &labels.rows(batch, true, device), frac)?
                .backward();
        }
        Some(loss.target(&logits, &label_t, frac))
    } else {
        None
    };
    let minibatches = Minibatches {
        model,
        inputs,
        labels,
        loss,
        frac,
        learning,
        checkpointing,
    };
    minibatches.backward(&chunks, &label_t, whole_target.as_ref())
}

/// One batch backpropagated a minibatch at a time.
struct Minibatches<'a> {
    model: &'a Classifier,
    inputs: &'a Inputs<'a>,
    labels: &'a Labels<'a>,
    loss: &'a Loss,
    frac: f64,
    learning: bool,
    checkpointing: bool,
}

impl Minibatches<'_> {
    /// Backpropagate each of `chunks`' share of the batch's mean loss; `label_t` are the
    /// batch's labels without gradient, `whole_target` the target where it was fixed for the
    /// whole batch. Returns the loss and how many predictions agree with the labels.
    fn backward(
        &self,
        chunks: &[&[usize]],
        label_t: &Tensor,
        whole_target: Option<&Tensor>,
    ) -> Result<(f64, i64)> {
        let (model, inputs, labels, loss, frac) =
            (self.model, self.inputs, self.labels, self.loss, self.frac);
        let device = model.device();
        let n: usize = chunks.iter().map(|c| c.len()).sum();
        let (mut loss_sum, mut correct, mut offset) = (0.0, 0i64, 0i64);
        for chunk in chunks {
            let len = chunk.len() as i64;
            // Each minibatch's labels are made anew, so each backward pass has a graph of its own.
            let chunk_labels = match whole_target {
                Some(_) => label_t.narrow(0, offset, len),
                None => labels.rows(chunk, self.learning, device),
            };
            // The minibatch's share of the batch's mean loss.
            let objective = |logits: &Tensor| {
                let target = match whole_target {
                    Some(t) => t.narrow(0, offset, len),
                    None => loss.target(logits, &chunk_labels, frac),
                };
                Ok(loss.objective(logits, &target, &chunk_labels, frac)? * (len as f64 / n as f64))
            };
            let (value, logits) = match inputs {
                Inputs::Tokens(_) if self.checkpointing => {
                    model.backward_checkpointed(&inputs.tokens(model, chunk), objective)?
                }
                _ => {
                    let logits = inputs.logits(model, chunk);
                    let value = objective(&logits)?;
                    value.backward();
                    (value, logits)
                }
            };
            loss_sum += value.double_value(&[]);
            correct += agreement(&logits, &chunk_labels);
            offset += len;
        }
        Ok((loss_sum, correct))
    }
}
