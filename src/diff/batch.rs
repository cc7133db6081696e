//! The backward and forward-mode passes over a batch of instances of one node:
//! the companions of [`crate::runtime::forward_batch`], on the same
//! [`Threads`] and with the same per-instance isolation (a failed or panicking
//! instance keeps its own error, the rest are kept).

use super::{backward, jvp};
use crate::eval::Tensor;
use crate::ir::Node;
use crate::runtime::batch::isolated;
use crate::runtime::{Bound, RunError, Solved, Threads};

/// [`backward`] for every instance, on `threads`: instance `i` gets dL/dθ from
/// its forward `solved[i]` and its output cotangents `cotangents[i]`. An
/// instance whose forward failed or was not `optimal` gets an error; the
/// others are unaffected.
///
/// # Panics
///
/// If `bounds`, `solved` and `cotangents` differ in length (a caller's bug, like
/// rayon's `zip_eq`).
pub fn backward_batch<C>(
    node: &Node,
    bounds: &[Bound],
    solved: &mut [Result<Solved, RunError>],
    cotangents: &[C],
    threads: Threads,
) -> Vec<Result<Vec<Tensor>, RunError>>
where
    C: AsRef<[(String, Tensor)]> + Sync,
{
    each_solved("gradients", bounds, solved, cotangents, threads, |bound, solved, cot| {
        backward(node, bound, solved, cot)
    })
}

/// [`jvp`] for every instance, on `threads`: instance `i` gets its outputs'
/// tangents from its forward `solved[i]` and its parameters' tangents
/// `tangents[i]`; failures are per instance as in [`backward_batch`].
///
/// # Panics
///
/// If `bounds`, `solved` and `tangents` differ in length.
pub fn jvp_batch<C>(
    node: &Node,
    bounds: &[Bound],
    solved: &mut [Result<Solved, RunError>],
    tangents: &[C],
    threads: Threads,
) -> Vec<Result<Vec<(String, Tensor)>, RunError>>
where
    C: AsRef<[(String, Tensor)]> + Sync,
{
    each_solved("tangents", bounds, solved, tangents, threads, |bound, solved, dots| jvp(node, bound, solved, dots))
}

/// `f(bound, solved, seed)` for every instance with a forward, isolated; an
/// instance whose forward failed gets "no `what`" and that failure.
fn each_solved<C, R>(
    what: &str,
    bounds: &[Bound],
    solved: &mut [Result<Solved, RunError>],
    seeds: &[C],
    threads: Threads,
    f: impl Fn(&Bound, &mut Solved, &[(String, Tensor)]) -> Result<R, RunError> + Sync + Send,
) -> Vec<Result<R, RunError>>
where
    C: AsRef<[(String, Tensor)]> + Sync,
    R: Send,
{
    assert!(
        solved.len() == bounds.len() && bounds.len() == seeds.len(),
        "a batch's {what}: {} forwards, {} bound inputs and {} seeds",
        solved.len(),
        bounds.len(),
        seeds.len()
    );
    let instances = solved.iter_mut().zip(bounds).zip(seeds).collect();
    threads.map(instances, |((solved, bound), seed)| match solved {
        Ok(solved) => isolated(|| f(bound, solved, seed.as_ref())),
        Err(e) => Err(RunError::Invalid(format!("no {what}: the forward failed: {e}"))),
    })
}
