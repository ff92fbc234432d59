//! Progress bars, drawn on the terminal (stderr) unless a front end says where else (the
//! Python package draws them through `sys.stderr`, which a notebook shows and a process's
//! own stderr is not), and the front end's say in stopping a training loop.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::RwLock;

/// Makes the draw target of each new bar.
pub type TargetFn = dyn Fn() -> ProgressDrawTarget + Send + Sync;

static TARGET: RwLock<Option<Box<TargetFn>>> = RwLock::new(None);

/// Draw every bar made from now on where `target` says.
pub fn set_target(target: Box<TargetFn>) {
    *TARGET.write().unwrap() = Some(target);
}

/// A bar of `len` steps with an indicatif `template`; `=> ` draws it.
pub fn bar(len: u64, template: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(template)
        .expect("the templates are constants")
        .progress_chars("=> ");
    let target = match &*TARGET.read().unwrap() {
        Some(f) => f(),
        None => ProgressDrawTarget::stderr(),
    };
    ProgressBar::with_draw_target(Some(len), target).with_style(style)
}

/// The bar of a training loop: `what` on the left, then the steps, times and a message (the
/// loss).
pub fn steps_bar(len: u64, what: &str) -> ProgressBar {
    let bar = self::bar(
        len,
        "{prefix:>24} [{bar:30}] {pos}/{len} {elapsed}<{eta} {msg}",
    );
    bar.set_prefix(what.to_owned());
    bar
}

/// Asked at every training step whether to stop: `Err` stops the run with that error.
pub type InterruptFn = dyn Fn() -> anyhow::Result<()> + Send + Sync;

static INTERRUPT: RwLock<Option<Box<InterruptFn>>> = RwLock::new(None);

/// Ask `check` at every training step (the Python package: Ctrl-C in a notebook, which
/// reaches a Rust loop only through Python's signal check).
pub fn set_interrupt_check(check: Box<InterruptFn>) {
    *INTERRUPT.write().unwrap() = Some(check);
}

/// What an interrupted run's error carries ([`is_interrupt`]): it stopped because it was
/// asked to, not because it failed, so no `failed.json` is written for it.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

/// `Err` when the front end asks to stop; a terminal's Ctrl-C ends the process instead.
pub fn check_interrupt() -> anyhow::Result<()> {
    match &*INTERRUPT.read().unwrap() {
        Some(check) => check().map_err(|e| e.context(Interrupted)),
        None => Ok(()),
    }
}

/// Whether `e` is a run stopping at the front end's request ([`check_interrupt`]).
pub fn is_interrupt(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Interrupted>().is_some()
}
