//! Generative finetuning (Burns et al. 2023, section 5.2.2): before a decoder is trained as a
//! reward model or classifier, finetune its language model on the task's own text, so that
//! the concepts the task needs are more salient to it. The paper does it for reward models,
//! on the preferred replies of the comparison data, and gives the strong ceiling the same step
//! so that the comparison stays fair.
//!
//! Which text: always the *first* half of train (train1), for every run that asks, so that the
//! strong ceiling and the weak-to-strong student start reward training from the same
//! finetuned model. The student's own examples (train2) are never used: their preferred
//! replies would hand it the ground truth it is meant to learn from a weak supervisor. train1
//! is the half whose ground truth the experiment already gives to the weak supervisor.
//! For a pairwise task the loss covers the reply tokens (everything after the context the two
//! replies share), given the context: of the preferred reply (`replies = "preferred"`, the
//! paper's choice), or of both (`"both"`, which uses no preference at all). For a task of
//! single texts, every token of the text.

use crate::dataset::Example;
use crate::model::{pad_batch, split_pair, Classifier};
pub use crate::options::{GenerativeFinetuning, Replies};
use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// A sequence to finetune on, and the position of its first token that the loss counts.
pub struct Text {
    pub ids: Vec<i64>,
    pub start: usize,
}

/// The texts of `examples` (encoded as `ids`; `None` for those too long), as the module's
/// documentation says.
pub fn texts(examples: &[Example], ids: &[Option<Vec<i64>>], replies: Replies) -> Vec<Text> {
    let mut out = Vec::new();
    for (e, ids) in examples.iter().zip(ids) {
        let Some(ids) = ids else { continue };
        let Some((a, b)) = split_pair(ids) else {
            out.push(Text {
                ids: ids.clone(),
                start: 1,
            });
            continue;
        };
        // The context is what both sequences begin with.
        let shared = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let preferred = if e.label == 1 { a } else { b };
        let chosen: Vec<&[i64]> = match replies {
            Replies::Preferred => vec![preferred],
            Replies::Both => vec![a, b],
        };
        for seq in chosen {
            if seq.len() > shared {
                out.push(Text {
                    ids: seq.to_vec(),
                    start: shared.max(1),
                });
            }
        }
    }
    out
}

/// What generative finetuning did, for the run's result file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub sequences: usize,
    pub steps: usize,
    /// Loss (nats per predicted token) of the first step, before any update: the pretrained
    /// model's, on one batch.
    pub first_step_loss: f64,
    /// Mean loss of the last epoch.
    pub last_epoch_loss: f64,
    pub seconds: f64,
}

/// Finetune `model`'s backbone (its adapters, with LoRA) as a language model on `texts`:
/// Adam at a cosine-annealed rate, `batch_size` sequences a step, backpropagated
/// `minibatch_size` at a time, shuffled each epoch by `seed`. The classification head is not
/// touched.
pub fn finetune(
    model: &mut Classifier,
    texts: &[Text],
    opts: &GenerativeFinetuning,
    train: &crate::options::TrainOptions,
    seed: u64,
    what: &str,
) -> Result<Summary> {
    if texts.is_empty() {
        bail!("{what}: generative finetuning has no text to train on (train1 kept no example)");
    }
    let lm_head = model.lm_head("generative finetuning")?;
    model.set_backbone_trainable(true);
    let lr0 = opts.lr.unwrap_or(train.lr);
    let mut optimizer = crate::optimizer::Adam::new(&model.vs, lr0);
    let per_epoch = texts.len().div_ceil(train.batch_size);
    let nsteps = per_epoch * opts.epochs;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let bar = crate::progress::steps_bar(nsteps as u64, &format!("{what} (LM)"));
    let started = Instant::now();
    let mut epoch_losses = Vec::new();
    let mut first_step_loss = f64::NAN;
    let mut step = 0;
    for epoch in 0..opts.epochs {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.shuffle(&mut rng);
        let mut total = 0.0;
        for batch in order.chunks(train.batch_size) {
            crate::progress::check_interrupt()
                .with_context(|| format!("{what}: generative finetuning step {step}/{nsteps}"))?;
            let frac = step as f64 / nsteps as f64;
            let lr = crate::options::cosine_anneal(lr0, frac);
            optimizer.start_step(lr);
            let mut batch = batch.to_vec();
            batch.sort_by_key(|&i| texts[i].ids.len());
            // Each minibatch's share of the batch's mean loss, weighted by its predicted tokens.
            let tokens = |&i: &usize| (texts[i].ids.len() - texts[i].start) as f64;
            let batch_tokens: f64 = batch.iter().map(tokens).sum();
            let mut loss = 0.0;
            for chunk in batch.chunks(train.minibatch_size) {
                let seqs: Vec<&[i64]> = chunk.iter().map(|&i| texts[i].ids.as_slice()).collect();
                let starts: Vec<usize> = chunk.iter().map(|&i| texts[i].start).collect();
                let weight = chunk.iter().map(tokens).sum::<f64>() / batch_tokens;
                let tokens = pad_batch(&seqs, model.encoder.pad_id(), model.device());
                let value =
                    model.lm_backward(&tokens, &starts, &lm_head, weight, train.checkpointing)?;
                loss += value * weight;
            }
            if !loss.is_finite() {
                bar.abandon();
                bail!("{what}: the language-modelling loss became {loss} at generative finetuning step {step}/{nsteps} (lr {lr:.2e}); try a lower generative_finetuning.lr");
            }
            optimizer.step()?;
            if step == 0 {
                first_step_loss = loss;
            }
            total += loss;
            step += 1;
            bar.set_message(format!("epoch {} LM loss {loss:.3}", epoch + 1));
            bar.inc(1);
        }
        epoch_losses.push(total / per_epoch as f64);
    }
    bar.finish_and_clear();
    optimizer.zero_grad();
    let last_epoch_loss = epoch_losses[epoch_losses.len() - 1];
    tracing::info!(
        "{what}: generative finetuning on {} sequences, {} epoch(s): LM loss {first_step_loss:.3} at the first step, {last_epoch_loss:.3} over the last epoch (nats/token)",
        texts.len(),
        opts.epochs,
    );
    Ok(Summary {
        sequences: texts.len(),
        steps: nsteps,
        first_step_loss,
        last_epoch_loss,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PAIR_SEP;

    #[test]
    fn pair_texts_are_the_replies_after_the_shared_context() {
        // Context [1, 2], reply a = [3, 4], reply b = [5].
        let pair = vec![1, 2, 3, 4, PAIR_SEP, 1, 2, 5];
        let e = |label| Example::pair("c".into(), "a".into(), "b".into(), label);
        let ids = [Some(pair.clone()), None];
        // Label 1: a is preferred.
        let t = texts(&[e(1), e(1)], &ids, Replies::Preferred);
        assert_eq!(t.len(), 1, "the example too long is left out");
        assert_eq!((t[0].ids.clone(), t[0].start), (vec![1, 2, 3, 4], 2));
        let t = texts(&[e(0)], &ids[..1], Replies::Preferred);
        assert_eq!((t[0].ids.clone(), t[0].start), (vec![1, 2, 5], 2));
        let t = texts(&[e(0)], &ids[..1], Replies::Both);
        assert_eq!(t.len(), 2);
        // A single text: every token after the first.
        let single = Example {
            text: "x".into(),
            label: 0,
            replies: None,
        };
        let t = texts(&[single], &[Some(vec![7, 8, 9])], Replies::Preferred);
        assert_eq!((t[0].ids.clone(), t[0].start), (vec![7, 8, 9], 1));
    }

    #[test]
    fn options_are_checked() {
        let mut g = GenerativeFinetuning::default();
        assert!(g.check().is_ok());
        g.epochs = 0;
        assert!(g.check().is_err());
        g.epochs = 1;
        g.lr = Some(-1.0);
        assert!(g.check().is_err());
    }
}
