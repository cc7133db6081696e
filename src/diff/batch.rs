//! The backward pass over a batch of instances of one node, the instances
//! spread over the cores with rayon: the companion of
//! [`crate::runtime::forward_batch`], with the same per-instance isolation
//! (a failed or panicking instance keeps its own error, the rest are kept).

use rayon::prelude::*;

use super::backward;
use crate::eval::Tensor;
use crate::ir::Node;
use crate::runtime::batch::isolated;
use crate::runtime::{Bound, RunError, Solved};

/// [`backward`] for every instance, in parallel: instance `i` gets dL/dθ from
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
) -> Vec<Result<Vec<Tensor>, RunError>>
where
    C: AsRef<[(String, Tensor)]> + Sync,
{
    solved
        .par_iter_mut()
        .zip_eq(bounds)
        .zip_eq(cotangents)
        .map(|((solved, bound), cot)| match solved {
            Ok(solved) => isolated(|| backward(node, bound, solved, cot.as_ref())),
            Err(e) => Err(RunError(format!("no gradients: the forward failed: {}", e.0))),
        })
        .collect()
}
