//! Every transformer family as a stack (embeddings, layers, a last step), so that one forward
//! pass serves them all, and activation checkpointing can run the same pieces in another
//! order: a forward pass without a graph that keeps only each layer's input, then the
//! backward pass layer by layer from the top, recomputing each layer's forward pass from its
//! saved input just before its gradient is needed. Peak activation memory drops from every
//! layer's to one layer's plus the saved inputs, for one more forward pass; the gradient is
//! the same (the same operations on the same inputs).

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
    fn layer(&self, i: usize, x: &Tensor, ctx: &Self::Context) -> Tensor;
    /// The last hidden states from the last layer's output (a final norm, or nothing).
    fn finish(&self, x: Tensor) -> Tensor;
}

/// Last hidden states `[batch, seq, hidden]`.
pub fn forward<S: Stack>(stack: &S, ids: &Tensor, mask: &Tensor) -> Tensor {
    let mut x = stack.embed(ids, mask);
    let ctx = stack.context(mask, &x);
    for i in 0..stack.depth() {
        x = stack.layer(i, &x, &ctx);
    }
    stack.finish(x)
}

/// Backpropagate `top(last hidden states)`'s loss (its first value) with per-layer
/// recomputation; returns `top`'s second value (the logits, say).
pub fn backward<S: Stack, T>(
    stack: &S,
    ids: &Tensor,
    mask: &Tensor,
    top: impl FnOnce(&Tensor) -> (Tensor, T),
) -> T {
    // Each layer's input, without a graph.
    let (inputs, ctx) = tch::no_grad(|| {
        let x = stack.embed(ids, mask);
        let ctx = stack.context(mask, &x);
        let mut inputs = vec![x];
        for i in 0..stack.depth() {
            let next = stack.layer(i, inputs.last().unwrap(), &ctx);
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
        let y = stack.layer(i, &x, &ctx);
        (y * grad.to_kind(x.kind())).sum(Kind::Float).backward();
        grad = x.grad();
    }
    let x = stack.embed(ids, mask);
    if x.requires_grad() {
        (x * grad).sum(Kind::Float).backward();
    }
    out
}
