//! Adam as the reference trains with it (`torch.optim.Adam`'s defaults: betas 0.9 and 0.999,
//! eps 1e-8, no weight decay; bias-corrected), each step one call of ATen's fused kernel
//! (`at::_fused_adam_`, PyTorch's `Adam(fused=True)`) over every parameter that has a gradient.
//! The kernel reads each parameter, gradient and moment once, where the per-tensor update of
//! libtorch's C++ `torch::optim::Adam` (tch's `nn::Adam`) makes about eight passes; on a CPU
//! that is a tenth or more of a step (docs/BENCHMARKS.md). tch has no binding for the kernel,
//! so `csrc/fused_adam.cpp` is the one C++ file of w2s.

use anyhow::{bail, Result};
use std::os::raw::{c_char, c_int};
use tch::{nn::VarStore, Kind, Tensor};
use torch_sys::C_tensor;

extern "C" {
    fn w2s_fused_adam(
        tensors: *const *mut C_tensor,
        n: usize,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
        error: *mut c_char,
        error_len: usize,
    ) -> c_int;
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// One parameter's moments and step count (a float tensor, as the kernel takes it).
struct State {
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    step: Tensor,
}

/// Adam over a var store's variables.
pub struct Adam {
    /// The variables, sorted by name, and their state once they have had a gradient.
    params: Vec<(Tensor, Option<State>)>,
    lr: f64,
}

impl Adam {
    pub fn new(vs: &VarStore, lr: f64) -> Adam {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        Adam {
            params: vars.into_iter().map(|(_, t)| (t, None)).collect(),
            lr,
        }
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Before a step's backward passes: this step's learning rate, gradients zeroed.
    pub fn start_step(&mut self, lr: f64) {
        self.set_lr(lr);
        self.zero_grad();
    }

    pub fn zero_grad(&mut self) {
        for (p, _) in &mut self.params {
            p.zero_grad();
        }
    }

    /// One update of every parameter with a gradient (frozen ones have none, and keep no
    /// state, as in PyTorch).
    pub fn step(&mut self) -> Result<()> {
        let mut held: Vec<[Tensor; 5]> = Vec::new();
        for (p, state) in &mut self.params {
            let grad = p.grad();
            if !grad.defined() {
                continue;
            }
            let s = state.get_or_insert_with(|| State {
                exp_avg: p.zeros_like(),
                exp_avg_sq: p.zeros_like(),
                step: Tensor::zeros([], (Kind::Float, p.device())),
            });
            held.push([
                p.shallow_clone(),
                grad,
                s.exp_avg.shallow_clone(),
                s.exp_avg_sq.shallow_clone(),
                s.step.shallow_clone(),
            ]);
        }
        if held.is_empty() {
            return Ok(());
        }
        let _guard = tch::no_grad_guard();
        for h in &mut held {
            // PyTorch counts the step before the kernel reads it.
            let _ = h[4].g_add_scalar_(1.0);
        }
        let n = held.len();
        let pointers: Vec<*mut C_tensor> = (0..5)
            .flat_map(|list| held.iter().map(move |h| h[list].as_ptr() as *mut C_tensor))
            .collect();
        let mut error = vec![0u8; 512];
        // SAFETY: `pointers` holds 5 x n live tensors (kept by `held` for the call), in the
        // order the C++ side reads them; the error buffer's length is passed with it.
        let failed = unsafe {
            w2s_fused_adam(
                pointers.as_ptr(),
                n,
                self.lr,
                BETA1,
                BETA2,
                0.0,
                EPS,
                error.as_mut_ptr() as *mut c_char,
                error.len(),
            )
        };
        if failed != 0 {
            let end = error.iter().position(|&b| b == 0).unwrap_or(error.len());
            bail!(
                "the fused Adam step failed: {}",
                String::from_utf8_lossy(&error[..end])
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{self, Module, OptimizerConfig};

    /// The fused step computes what tch's (libtorch's C++) Adam computes, step after step,
    /// with a frozen parameter left alone.
    #[test]
    fn the_fused_step_is_libtorchs_adam() {
        let build = || {
            tch::manual_seed(0);
            let vs = VarStore::new(tch::Device::Cpu);
            let net = nn::seq()
                .add(nn::linear(vs.root() / "a", 5, 7, Default::default()))
                .add_fn(|x| x.tanh())
                .add(nn::linear(vs.root() / "b", 7, 2, Default::default()));
            (vs, net)
        };
        let x = Tensor::randn([9, 5], (Kind::Float, tch::Device::Cpu));
        let (vs_a, net_a) = build();
        let (vs_b, net_b) = build();
        for vs in [&vs_a, &vs_b] {
            let _ = vs.variables()["b.bias"].set_requires_grad(false);
        }
        let mut ours = Adam::new(&vs_a, 1e-2);
        let mut theirs = nn::Adam::default().build(&vs_b, 1e-2).unwrap();
        for step in 0..5 {
            let lr = 1e-2 / (1 + step) as f64;
            ours.set_lr(lr);
            theirs.set_lr(lr);
            ours.zero_grad();
            theirs.zero_grad();
            net_a
                .forward(&x)
                .pow_tensor_scalar(2)
                .sum(Kind::Float)
                .backward();
            net_b
                .forward(&x)
                .pow_tensor_scalar(2)
                .sum(Kind::Float)
                .backward();
            ours.step().unwrap();
            theirs.step();
        }
        let (a, b) = (vs_a.variables(), vs_b.variables());
        for (name, t) in &a {
            let diff = (t - &b[name]).abs().max().double_value(&[]);
            assert!(diff < 1e-6, "{name}: {diff}");
        }
        let untouched = build().0.variables()["b.bias"].shallow_clone();
        assert!(
            a["b.bias"].equal(&untouched),
            "a frozen parameter does not move"
        );
    }
}
