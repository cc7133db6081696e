//! The backward passes of the specialised forwards (`solve using sinkhorn |
//! eigh`): the seed's structured VJPs ([`super::ot`], [`super::eigen`]) on the
//! forward's kept solution, carried to the parameters through the data
//! expressions sema recognised ([`crate::ir::Transport`], [`crate::ir::Eigen`])
//! by reverse mode over the evaluator.

use faer::MatRef;

use super::place_cotangents;
use crate::eval::{self, concrete, unbroadcast, Env, Tensor};
use crate::ir::{Expr, ExprKind, Node, SolveMethod, Weight};
use crate::runtime::smooth::SmoothContext;
use crate::runtime::special::{columns, value};
use crate::runtime::{Bound, RunError};

/// dL/dθ from the cotangents of the node's variable.
pub(super) fn backward(
    node: &Node,
    bound: &Bound,
    ctx: &SmoothContext,
    cotangents: &[(String, Tensor)],
) -> Result<Vec<Tensor>, RunError> {
    let shape = concrete(&node.vars[0].shape, &bound.dims);
    let len: usize = shape.iter().product();
    let v = place_cotangents(node, cotangents, len, |_| (0, len))?;
    match (ctx, node.solve.as_ref().map(|s| &s.method)) {
        (SmoothContext::Transport { solution, gamma }, Some(SolveMethod::Sinkhorn(_, t))) => {
            let (m, n) = (shape[0], shape[1]);
            let cost = value(&t.cost, bound, &shape)?;
            // The transposed problem, as in the forward: Mᵀ, Pᵀ, dL/dPᵀ, and (c, r).
            let (cost, dp) =
                (MatRef::from_column_major_slice(&cost.data, n, m), MatRef::from_column_major_slice(&v, n, m));
            let g = super::entropic_ot_vjp(cost, *gamma, solution, dp)?;
            // γ = 1/k for `k * Σ xlogx`, γ = k for `Σ xlogx / k`.
            let (weight, dk) = match &t.eps {
                Weight::Times(k) => (k, -g.gamma * gamma * gamma),
                Weight::Over(k) => (k, g.gamma),
            };
            chain(
                bound,
                vec![
                    (&t.cost, Tensor { shape: vec![m, n], data: columns(&g.M) }),
                    (&t.rows, Tensor::vector(g.c)),
                    (&t.cols, Tensor::vector(g.r)),
                    (weight, Tensor::scalar(dk)),
                ],
            )
        }
        (SmoothContext::Eigen { eig }, Some(SolveMethod::Eigh(e))) => {
            let m = eig.lambda.len();
            let dx = if e.full {
                super::eigh_vjp(eig, Tensor { shape: vec![m, m], data: v }.view(m, m))?
            } else {
                super::eigvec_vjp(eig, if e.largest { m - 1 } else { 0 }, &v)?
            };
            chain(bound, vec![(&e.x, Tensor::from_mat(&dx, vec![m, m]))])
        }
        _ => Err(RunError::Derivative(format!(
            "`{}`: the forward's context is not its `solve using` method's",
            node.name
        ))),
    }
}

/// Σ over `(e, cot)` of `cotᵀ ∂e/∂θ`: the structured gradients carried to the
/// parameters (each cotangent summed back to its expression's shape first). A
/// cotangent on a parameter itself is its gradient, taken as it is (no reverse
/// pass and no copy: the OT cost's is m×n).
fn chain(bound: &Bound, pairs: Vec<(&Expr, Tensor)>) -> Result<Vec<Tensor>, RunError> {
    let env = Env { params: &bound.params, vars: &[], dims: &bound.dims, syms: &[] };
    let mut grads: Vec<Option<Tensor>> = vec![None; bound.params.len()];
    let mut add = |p: usize, g: Tensor| match &mut grads[p] {
        Some(acc) => acc.data.iter_mut().zip(&g.data).for_each(|(a, b)| *a += b),
        slot @ None => *slot = Some(g),
    };
    for (e, cot) in pairs {
        let shape = concrete(&e.shape, &bound.dims);
        let cot = if cot.shape == shape { cot } else { unbroadcast(&cot, &shape) };
        if let ExprKind::Param(p) = e.kind {
            add(p.0 as usize, cot);
            continue;
        }
        let g = eval::vjp(e, &env, &cot)?;
        for (p, gp) in g.params.into_iter().enumerate() {
            if let Some(gp) = gp {
                add(p, gp);
            }
        }
    }
    Ok(grads
        .into_iter()
        .zip(&bound.params)
        .map(|(g, p)| g.unwrap_or_else(|| Tensor::filled(p.shape.clone(), 0.0)))
        .collect())
}
