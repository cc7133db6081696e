//! A batch of instances of one node: the forward over many parameter sets in
//! one call, the instances spread over the cores with rayon (the backward over
//! a batch is [`crate::diff::backward_batch`], which isolates instances as
//! [`isolated`] does here).
//!
//! Instance `i`'s result is exactly what [`super::forward`] and [`crate::diff::backward`] return for
//! it alone (the same code runs per instance, so the numbers agree bit for bit),
//! in input order. The instances of one size share one [`Prepared`] node (its
//! recording, and a pool of workspaces that the threads draw from), made for the
//! batch ([`forward_batch`]) or kept by the caller from batch to batch
//! ([`forward_batch_prepared`], [`crate::loaded::LoadedNode::forward_batch`]). Each
//! instance keeps its own outcome: an infeasible one has its own
//! [`Status`](super::Status), a failed one its own [`RunError`], and a panic
//! inside one instance (a bug: nothing should panic on user input) is caught and
//! becomes that instance's error, so the rest of the batch is kept.
//!
//! **Threads.** The instances run on the current rayon pool: the global one (all
//! cores), or one the caller chooses with
//! `rayon::ThreadPoolBuilder::new().num_threads(k).build()?.install(|| forward_batch(..))`.
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
use std::sync::Arc;

use rayon::prelude::*;

use super::inputs::Bound;
use super::node::{interpreted, RunError, Solved};
use super::prepared::Prepared;
use crate::analysis::Analysed;
use crate::kernel::Kernels;

/// [`super::forward`] for every instance, in parallel; results in the order of `bounds`.
pub fn forward_batch(node: &Analysed<'_>, bounds: &[Bound]) -> Vec<Result<Solved, RunError>> {
    match interpreted(node) {
        Ok(kernels) => forward_batch_with_kernels(node, bounds, kernels),
        Err(e) => bounds.iter().map(|_| Err(e.clone())).collect(),
    }
}

/// [`super::forward_with_kernels`] for every instance, in parallel, all sharing
/// `kernels` (a JIT's compiled code is shared, not compiled per instance).
pub fn forward_batch_with_kernels(
    node: &Analysed<'_>,
    bounds: &[Bound],
    kernels: Arc<dyn Kernels>,
) -> Vec<Result<Solved, RunError>> {
    forward_batch_by_size(bounds, |b| Prepared::new(node, b, kernels.clone()))
}

/// [`Prepared::forward`] for every instance, in parallel, all sharing `prepared`
/// (its recording, and its pool of workspaces that the threads draw from). A
/// caller that keeps `prepared` from one batch to the next records the node once
/// and builds its workspaces once (one per instance solved at a time; a
/// workspace is back in the pool when the [`Solved`] that holds it is dropped).
/// Every instance has the prepared sizes (of a conic node, an instance of other
/// sizes gets an error).
pub fn forward_batch_prepared(prepared: &Prepared<'_>, bounds: &[Bound]) -> Vec<Result<Solved, RunError>> {
    bounds.par_iter().map(|bound| isolated(|| prepared.forward(bound))).collect()
}

/// The batch with one prepared node per set of sizes, from `prepare` at the
/// first instance of each size (in input order) and shared by every thread.
pub(crate) fn forward_batch_by_size<'n, P>(
    bounds: &[Bound],
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
    bounds
        .par_iter()
        .map(|bound| {
            let Some((_, p)) = prepared.iter().find(|(d, _)| *d == bound.dims.as_slice()) else {
                return Err(RunError("internal: no prepared node for these sizes".into()));
            };
            match p {
                Ok(p) => isolated(|| p.borrow().forward(bound)),
                Err(e) => Err(e.clone()),
            }
        })
        .collect()
}

/// `f()`, with a panic turned into a [`RunError`] for this instance alone.
pub(crate) fn isolated<T>(f: impl FnOnce() -> Result<T, RunError>) -> Result<T, RunError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        Err(RunError(format!("internal error (a panic, please report it): {message}")))
    })
}
