//! Every transformer family as a stack (embeddings, layers, a last step), so that one forward
//! pass serves them all, and activation checkpointing can run the same pieces in another
//! order: a forward pass without a graph that keeps only each layer's input, then the
//! backward pass layer by layer from the top, recomputing each layer's forward pass from its
//! saved input just before its gradient is needed. Peak activation memory drops from every
//! layer's to one layer's plus the saved inputs, for one more forward pass; the gradient is
//! the same (the same operations on the same inputs).
//!
//! Where the head reads one position per sequence (last-token pooling), the last layer is
//! computed at that position only (`at`): every position's keys and values are still needed,
//! but the queries, the output projection and the MLP, most of a layer's products, are not.

use super::attention::at_positions;
use tch::{Kind, Tensor};

/// A transformer cut where checkpointing needs it.
pub trait Stack {
    /// What every layer reads besides the hidden states (attention masks, rotary tables,
    /// relative-position buckets), computed once per batch; it carries no parameters, so it
    /// can be shared by the recomputations.
    type Context;
    /// Hidden states entering the first layer.
    fn embed(&self, ids: &Tensor, mask: &Tensor) -> Tensor;
    fn context(&self, mask: &Tensor, x: &Tensor) -> Self::Context;
    fn depth(&self) -> usize;
    /// Layer `i`'s output `[batch, seq, hidden]`, or with `at` (`[batch]`, one position per
    /// sequence) its output at those positions, `[batch, 1, hidden]`: decoders compute only
    /// what those rows need; the encoders (which pool the mean, so w2s never passes them
    /// `at`) the whole layer and then its rows ([`rows`]).
    fn layer(&self, i: usize, x: &Tensor, ctx: &Self::Context, at: Option<&Tensor>) -> Tensor;
    /// The last hidden states from the last layer's output (a final norm, or nothing).
    fn finish(&self, x: Tensor) -> Tensor;
}

/// Layer `i`, at the positions `at` only if it is the last layer.
fn layer<S: Stack>(
    stack: &S,
    i: usize,
    x: &Tensor,
    ctx: &S::Context,
    at: Option<&Tensor>,
) -> Tensor {
    stack.layer(i, x, ctx, at.filter(|_| i + 1 == stack.depth()))
}

/// `y`'s rows at the positions `at`, or all of `y`.
pub fn rows(y: Tensor, at: Option<&Tensor>) -> Tensor {
    match at {
        Some(at) => at_positions(&y, 1, at),
        None => y,
    }
}

/// Last hidden states: `[batch, seq, hidden]`, or `[batch, 1, hidden]` at the positions `at`.
pub fn forward<S: Stack>(stack: &S, ids: &Tensor, mask: &Tensor, at: Option<&Tensor>) -> Tensor {
    let mut x = stack.embed(ids, mask);
    let ctx = stack.context(mask, &x);
    for i in 0..stack.depth() {
        x = layer(stack, i, &x, &ctx, at);
    }
    stack.finish(x)
}

/// Backpropagate `top(last hidden states)`'s loss (its first value) with per-layer
/// recomputation; returns `top`'s second value (the logits, say). The hidden states are at
/// the positions `at` if given, as [`forward`]'s.
pub fn backward<S: Stack, T>(
    stack: &S,
    ids: &Tensor,
    mask: &Tensor,
    at: Option<&Tensor>,
    top: impl FnOnce(&Tensor) -> (Tensor, T),
) -> T {
    // Each layer's input, without a graph.
    let (inputs, ctx) = tch::no_grad(|| {
        let x = stack.embed(ids, mask);
        let ctx = stack.context(mask, &x);
        let mut inputs = vec![x];
        for i in 0..stack.depth() {
            let next = layer(stack, i, inputs.last().unwrap(), &ctx, at);
            inputs.push(next);
        }
        (inputs, ctx)
    });
    let mut inputs = inputs;
    let last = inputs.pop().unwrap().set_requires_grad(true);
    let (loss, out) = top(&stack.finish(last.shallow_clone()));
    loss.backward();
    let mut grad = last.grad();
    // Down the stack: recompute a layer from its saved input, backpropagate the gradient of
    // its output (through `sum(y * g)`, whose gradient with respect to y is g), take its
    // input's gradient for the layer below.
    for i in (0..stack.depth()).rev() {
        let x = inputs.pop().unwrap().set_requires_grad(true);
        let y = layer(stack, i, &x, &ctx, at);
        (y * grad.to_kind(x.kind())).sum(Kind::Float).backward();
        grad = x.grad();
    }
    let x = stack.embed(ids, mask);
    if x.requires_grad() {
        (x * grad).sum(Kind::Float).backward();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{gpt2, last_positions, llama, neox};
    use serde_json::json;
    use tch::{nn, Device};

    /// Right-padded, left-padded and unpadded `[3, 7]` masks.
    fn masks() -> Vec<Tensor> {
        let rows = |lengths: [i64; 3], left: bool| {
            let m: Vec<Vec<i64>> = lengths
                .iter()
                .map(|&n| {
                    let mut row = vec![1; n as usize];
                    row.resize(7, 0);
                    if left {
                        row.reverse();
                    }
                    row
                })
                .collect();
            Tensor::from_slice2(&m)
        };
        vec![
            rows([7, 4, 2], false),
            rows([7, 4, 2], true),
            rows([7; 3], false),
        ]
    }

    /// The last layer computed at each sequence's last token only gives what the whole layer
    /// gives there, and the same gradients for every parameter: the saving changes nothing.
    fn at_equals_the_whole_layer<S: Stack>(stack: &S, vs: &nn::VarStore, vocab: i64) {
        tch::no_grad(|| {
            for (_, mut v) in vs.variables() {
                v.copy_(&(v.randn_like() * 0.2));
            }
        });
        for mask in masks() {
            let ids = Tensor::randint(vocab, [3, 7], (Kind::Int64, Device::Cpu));
            let at = last_positions(&mask);
            let run = |pruned: bool| {
                for (_, mut v) in vs.variables() {
                    v.zero_grad();
                }
                let y = forward(stack, &ids, &mask, pruned.then_some(&at));
                let y = if pruned { y } else { at_positions(&y, 1, &at) };
                let weights =
                    Tensor::linspace(-1.0, 1.0, y.numel() as i64, (Kind::Float, Device::Cpu));
                (&y * weights.view_as(&y)).sum(Kind::Float).backward();
                let mut grads: Vec<(String, Tensor)> = vs
                    .variables()
                    .into_iter()
                    .map(|(name, v)| (name, v.grad().copy()))
                    .collect();
                grads.sort_by(|a, b| a.0.cmp(&b.0));
                (y.detach(), grads)
            };
            let ((whole, whole_grads), (pruned, pruned_grads)) = (run(false), run(true));
            assert_eq!(whole.size(), pruned.size());
            assert!(
                pruned.allclose(&whole, 1e-5, 1e-6, false),
                "{pruned} vs {whole}"
            );
            for ((name, p), (_, w)) in pruned_grads.iter().zip(&whole_grads) {
                assert!(p.allclose(w, 1e-4, 1e-6, false), "{name}: {p} vs {w}");
            }
        }
    }

    #[test]
    fn every_decoder_computes_its_last_layer_at_the_pooled_tokens_alone() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg: llama::LlamaConfig = serde_json::from_value(json!({"vocab_size": 50,
            "hidden_size": 24, "intermediate_size": 40, "num_hidden_layers": 2,
            "num_attention_heads": 6, "num_key_value_heads": 2, "max_position_embeddings": 64}))
        .unwrap();
        let model = llama::Llama::new(&vs.root(), &cfg, true, None).unwrap();
        at_equals_the_whole_layer(&model, &vs, 50);

        let vs = nn::VarStore::new(Device::Cpu);
        let cfg: gpt2::Gpt2Config = serde_json::from_value(json!({"vocab_size": 50,
            "n_embd": 24, "n_layer": 2, "n_head": 4, "n_positions": 64}))
        .unwrap();
        at_equals_the_whole_layer(&gpt2::Gpt2::new(&vs.root(), &cfg, None), &vs, 50);

        for parallel in [true, false] {
            let vs = nn::VarStore::new(Device::Cpu);
            let cfg: neox::NeoxConfig = serde_json::from_value(json!({"vocab_size": 50,
                "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                "intermediate_size": 40, "max_position_embeddings": 64,
                "use_parallel_residual": parallel}))
            .unwrap();
            at_equals_the_whole_layer(&neox::Neox::new(&vs.root(), &cfg, None), &vs, 50);
        }
    }
}
