//! A batch of instances of one node: the forward over many parameter sets in
//! one call, the instances spread over the cores with rayon or run on the
//! calling thread ([`Threads`]; the backward and forward-mode passes over a
//! batch are [`crate::diff::backward_batch`] and [`crate::diff::jvp_batch`],
//! which take the same [`Threads`] and isolate instances as `isolated` does
//! here).
//!
//! Instance `i`'s result is exactly what [`super::forward`] and [`crate::diff::backward`] return for
//! it alone (the same code runs per instance, so the numbers agree bit for bit),
//! in input order. The instances of one size share one [`Prepared`] node (its
//! recording, and a pool of workspaces that the threads draw from), made for the
//! batch ([`forward_batch`]) or kept by the caller from batch to batch
//! ([`Prepared::forward_batch`], [`crate::loaded::LoadedNode::forward_batch`]). Each
//! instance keeps its own outcome: an infeasible one has its own
//! [`Status`](super::Status), a failed one its own [`RunError`], and a panic
//! inside one instance (a bug: nothing should panic on user input) is caught and
//! becomes that instance's error, so the rest of the batch is kept.
//!
//! **Threads.** Every batch function takes [`Threads`]: with [`Threads::Pool`]
//! the instances run on the current rayon pool, the global one (all cores) or one
//! the caller chooses with
//! `rayon::ThreadPoolBuilder::new().num_threads(k).build()?.install(|| forward_batch(.., Threads::Pool, ..))`;
//! with [`Threads::Calling`] they run one after another on the calling thread.
//! A pool of one thread would give the same numbers, but each call would hand
//! its work to the pool's thread and wait for it to finish: a wake-up and a
//! sleep per call, which a caller on one thread (the Python layer with one
//! thread, one instance) has no reason to pay.
//!
//! **faer's own parallelism** is a process-wide setting
//! ([`faer::set_global_parallelism`]), not something a call can choose. With its
//! default (rayon, every core) a large dense product inside an instance forks
//! into the same pool: still correct (a worker that steals another instance
//! while it waits keeps its own state; see `canon::scalar::TapeSession`), but the
//! two levels compete for the same cores. Across many small instances the batch
//! is the better level to parallelise, so set `faer::Par::Seq` first, as
//! `benches/batch.rs` does.

use std::borrow::Borrow;
use std::panic::{catch_unwind, AssertUnwindSafe};

use rayon::prelude::*;

use super::inputs::Bound;
use super::node::{forward, Options, RunError, Solved};
use super::prepared::Prepared;
use crate::analysis::Analysed;
use crate::solve::ipm;

/// Where the instances of a batch run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// Spread over the current rayon pool (the global one, or the one the
    /// caller installed).
    Pool,
    /// One after another on the calling thread, with no hand-off to a pool:
    /// what a batch on one thread should cost.
    Calling,
}

impl Threads {
    /// `f` of every item, in order, on the threads `self` names.
    pub(crate) fn map<T: Send, R: Send>(self, items: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
        match self {
            Threads::Pool => items.into_par_iter().map(f).collect(),
            Threads::Calling => items.into_iter().map(f).collect(),
        }
    }
}

/// [`super::forward`] for every instance, on `threads`, with one set of
/// `options`; results in the order of `bounds`. The instances of one size share
/// one [`Prepared`] node and its kernels (a JIT's compiled code is shared, not
/// compiled per instance); unprepared ([`super::Options::unprepared`]), each
/// instance is canonicalised on its own.
pub fn forward_batch(
    node: &Analysed<'_>,
    bounds: &[Bound],
    threads: Threads,
    options: &Options,
) -> Vec<Result<Solved, RunError>> {
    if options.unprepared {
        return threads.map(bounds.iter().collect(), |bound| isolated(|| forward(node, bound, options)));
    }
    let setup = options.kernels_for(node).and_then(|k| {
        let settings =
            if node.node.class.family.is_conic() { options.settings_for(node.node)? } else { ipm::Settings::default() };
        Ok((k, settings))
    });
    match setup {
        Ok((kernels, settings)) => forward_batch_by_size(bounds, threads, |b| {
            Prepared::with_settings(node, b, kernels.clone(), settings.clone())
        }),
        Err(e) => bounds.iter().map(|_| Err(e.clone())).collect(),
    }
}

impl Prepared<'_> {
    /// [`Prepared::forward`] for every instance, on `threads`, all sharing this
    /// node (its recording, and its pool of workspaces that the threads draw
    /// from). A caller that keeps the node from one batch to the next records
    /// it once and builds its workspaces once (one per instance solved at a
    /// time; a workspace is back in the pool when the [`Solved`] that holds it
    /// is dropped). Every instance has the prepared sizes (of a conic node, an
    /// instance of other sizes gets an error).
    pub fn forward_batch(&self, bounds: &[Bound], threads: Threads) -> Vec<Result<Solved, RunError>> {
        threads.map(bounds.iter().collect(), |bound| isolated(|| self.forward(bound)))
    }
}

/// The batch with one prepared node per set of sizes, from `prepare` at the
/// first instance of each size (in input order) and shared by every thread.
pub(crate) fn forward_batch_by_size<'n, P>(
    bounds: &[Bound],
    threads: Threads,
    mut prepare: impl FnMut(&Bound) -> Result<P, RunError>,
) -> Vec<Result<Solved, RunError>>
where
    P: Borrow<Prepared<'n>> + Sync,
{
    let mut prepared: Vec<(&[usize], Result<P, RunError>)> = Vec::new();
    for b in bounds {
        if !prepared.iter().any(|(d, _)| *d == b.dims.as_slice()) {
            let p = isolated(|| prepare(b));
            prepared.push((&b.dims, p));
        }
    }
    threads.map(bounds.iter().collect(), |bound| {
        let Some((_, p)) = prepared.iter().find(|(d, _)| *d == bound.dims.as_slice()) else {
            return Err(RunError::Internal("internal: no prepared node for these sizes".into()));
        };
        match p {
            Ok(p) => isolated(|| p.borrow().forward(bound)),
            Err(e) => Err(e.clone()),
        }
    })
}

/// `f()`, with a panic turned into a [`RunError`] for this instance alone.
pub(crate) fn isolated<T>(f: impl FnOnce() -> Result<T, RunError>) -> Result<T, RunError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        Err(RunError::Internal(format!("internal error (a panic, please report it): {message}")))
    })
}
