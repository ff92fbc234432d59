//! The language-model head of a decoder classifier: scoring answers with it (generative
//! scoring) and backpropagating the language-modelling loss through it (generative finetuning).

use anyhow::{bail, Context, Result};
use tch::{Kind, Tensor};

use super::{family, layers, locate, weights, Batch, Classifier, Pooling};

/// Positions whose vocabulary-sized logits exist at once in [`Classifier::lm_backward`].
const LM_HEAD_CHUNK: usize = 512;

impl Classifier {
    /// Start the head from the language-model head's rows for two answer tokens (label 0's,
    /// then label 1's), bias zero: the classifier's logits are then the LM's logits for the two
    /// answers at the last token, as in generative scoring (paper section 5.2.2).
    pub fn init_head_from_lm(&mut self, tokens: [i64; 2]) -> Result<()> {
        let lm = self.lm_head("generative scoring")?;
        let vocab = lm.size()[0];
        if let Some(t) = tokens.iter().find(|&&t| t < 0 || t >= vocab) {
            bail!("answer token id {t} is outside the LM head's {vocab} rows");
        }
        let rows = lm.index_select(0, &Tensor::from_slice(&tokens).to_device(lm.device()));
        tch::no_grad(|| {
            self.head
                .ws
                .copy_(&rows.to_kind(Kind::Float).to_device(self.head.ws.device()));
            if let Some(b) = &mut self.head.bs {
                let _ = b.zero_();
            }
        });
        Ok(())
    }

    /// The language-model head `[vocab, hidden]` on the model's device. Only decoders have
    /// one (`for_what` names the feature that needs it, for the error). A tied head is the
    /// backbone's own input embeddings, so that training through it updates them as
    /// transformers does; an untied one is read from the checkpoint and stays frozen (the
    /// classifier never uses it after generative finetuning, so only the backbone matters).
    pub fn lm_head(&self, for_what: &str) -> Result<Tensor> {
        if self.pooling != Pooling::Last {
            bail!(
                "{}: {for_what} needs a decoder with a language-model head (gpt2, llama, qwen2, gpt_neox); {} is an encoder",
                self.info.name,
                self.info.family
            );
        }
        let fam = family::find(&self.info.family).context("a known decoder family")?;
        if self.tied_embeddings {
            let vars = self.vs.variables();
            if let Some(t) = fam.tied_embeddings.iter().find_map(|n| vars.get(*n)) {
                return Ok(t.shallow_clone());
            }
        }
        let dir = locate(&self.info.name)?;
        let checkpoint = weights::read_checkpoint(&weights::checkpoint_files(&dir)?)?;
        let mut names: Vec<&str> = fam.lm_head.to_vec();
        if self.tied_embeddings {
            names.extend(fam.tied_embeddings);
        }
        let Some(lm) = names.iter().find_map(|n| checkpoint.get(*n)) else {
            bail!(
                "{}: no language-model head in the checkpoint (looked for {names:?}); save the model with its LM head (AutoModelForCausalLM)",
                dir.display()
            );
        };
        Ok(lm.to_device(self.device()))
    }

    /// Backpropagate the language-modelling loss of a batch of single sequences: the mean
    /// cross-entropy of predicting each token at or after its row's `starts` entry from the
    /// tokens before it (transformers' causal-LM loss with the earlier labels set to -100).
    /// Only the predicted positions go through `lm_head`, so the `[tokens, vocab]` logits
    /// are never made for the context. The gradient is of `scale` times the loss (a
    /// minibatch's share of its batch); returns the loss itself.
    pub fn lm_backward(
        &self,
        batch: &Batch,
        starts: &[usize],
        lm_head: &Tensor,
        scale: f64,
        checkpointing: bool,
    ) -> Result<f64> {
        self.lm_backward_in_chunks(batch, starts, lm_head, scale, checkpointing, LM_HEAD_CHUNK)
    }

    /// [`Classifier::lm_backward`] with the LM head run over `chunk` positions at a time (any
    /// `chunk` gives the same loss and gradients, to float rounding).
    pub fn lm_backward_in_chunks(
        &self,
        batch: &Batch,
        starts: &[usize],
        lm_head: &Tensor,
        scale: f64,
        checkpointing: bool,
        chunk: usize,
    ) -> Result<f64> {
        let (rows, positions) = lm_targets(batch, starts)?;
        let device = self.device();
        let rows_t = Tensor::from_slice(&rows).to_device(device);
        let at = Tensor::from_slice(&positions).to_device(device);
        let next = batch
            .ids
            .to_device(device)
            .index(&[Some(&rows_t), Some(&at)]);
        let top = |hidden: &Tensor| {
            // The hidden state before each target predicts it.
            let h = hidden.index(&[Some(&rows_t), Some(&(&at - 1))]);
            // The `[positions, vocabulary]` logits, their log-softmax and gradient are the
            // largest tensors of the step (SmolLM2: 49152 words, 0.6 GB each at 3000
            // positions), so the head runs over `chunk` positions at a time, each
            // chunk backpropagated at once into the head and into `h`'s gradient, which then
            // goes down the layers (Liger Kernel's fused linear cross-entropy, unfused).
            let n = positions.len() as i64;
            let h_leaf = h.detach().set_requires_grad(true);
            let mut total = Tensor::zeros([], (Kind::Float, device));
            for start in (0..n).step_by(chunk.max(1)) {
                let len = (n - start).min(chunk.max(1) as i64);
                let h_c = h_leaf.narrow(0, start, len);
                let logits = h_c
                    .matmul(&lm_head.to_kind(h_c.kind()).tr())
                    .to_kind(Kind::Float);
                let sum = logits.cross_entropy_loss::<Tensor>(
                    &next.narrow(0, start, len),
                    None,
                    tch::Reduction::Sum,
                    -100,
                    0.0,
                );
                (&sum * (scale / n as f64)).backward();
                total += sum.detach();
            }
            // A stand-in whose gradient in `h` is what the chunks left there.
            let surrogate = (&h * h_leaf.grad().to_kind(h.kind())).sum(Kind::Float);
            (surrogate, total / n as f64)
        };
        let value = layers::with_bf16_matmuls(self.mixed_precision, || {
            if checkpointing {
                self.backward_through_layers(batch, None, top)
            } else {
                let (loss, value) = top(&self.hidden_states(batch, None));
                loss.backward();
                value
            }
        });
        Ok(value.double_value(&[]))
    }
}

/// The (row, position) of every token the LM loss predicts: each row's real tokens from its
/// `starts` entry on (at least position 1, since the first token has nothing before it).
/// Rows are right-padded, as `pad_batch` makes them.
fn lm_targets(batch: &Batch, starts: &[usize]) -> Result<(Vec<i64>, Vec<i64>)> {
    if batch.pairs {
        bail!("the language-modelling loss reads single sequences, not pairs");
    }
    let lengths = Vec::<i64>::try_from(batch.mask.sum_dim_intlist(1, false, Kind::Int64))?;
    if lengths.len() != starts.len() {
        bail!(
            "{} start positions for {} sequences",
            starts.len(),
            lengths.len()
        );
    }
    let (mut rows, mut positions) = (Vec::new(), Vec::new());
    for (r, (&len, &start)) in lengths.iter().zip(starts).enumerate() {
        for t in (start.max(1) as i64)..len {
            rows.push(r as i64);
            positions.push(t);
        }
    }
    if rows.is_empty() {
        bail!("no token to predict in this batch (every sequence ends where its loss would start)");
    }
    Ok((rows, positions))
}
