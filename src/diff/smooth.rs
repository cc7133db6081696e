//! The backward pass of smooth nodes: the implicit-function-theorem adjoint
//! ([`super::ift`]) carried to the parameters through the symbolically derived
//! mixed partials, `dL/dθ = −∂_θ[wᵀ∇_y L + aᵀh + bᵀg]` (Gould et al., Deep
//! Declarative Networks, Prop. 4.4–4.6, evaluated as `(−vᵀH⁻¹)B`: one solve).

use super::ift::{self, Cotangents, ACTIVITY_TOL};
use super::place_cotangents;
use crate::eval::Tensor;
use crate::ir::{Node, Output};
use crate::kernel::Kernels;
use crate::kernel::NodeProblem;
use crate::runtime::smooth::{multiplier_ranges, SmoothContext};
use crate::runtime::{Bound, RunError};
use crate::smooth::SmoothProblem;
use crate::symbolic::Derived;

/// dL/dθ, and the warnings for `info.warnings` (a singular KKT system).
pub(super) fn backward(
    node: &Node,
    bound: &Bound,
    ctx: &SmoothContext,
    cotangents: &[(String, Tensor)],
) -> Result<(Vec<Tensor>, Vec<String>), RunError> {
    match ctx {
        SmoothContext::General { derived, kernels, y, nu, lambda, hessian } => {
            general(node, bound, derived, &*kernels.0, (y, nu, lambda), hessian.as_ref(), cotangents)
        }
        SmoothContext::Transport { .. } | SmoothContext::Eigen { .. } => {
            Ok((super::special::backward(node, bound, ctx, cotangents)?, Vec::new()))
        }
    }
}

/// The warning of a singular backward KKT system with `degenerate` null
/// directions.
pub(crate) fn singular_warning(degenerate: usize) -> String {
    format!(
        "singular backward KKT system ({degenerate} degenerate direction(s)): the gradients are the minimum-norm \
         solution, exact only when the degeneracy holds for every parameter value (redundant constraints)"
    )
}

/// One IFT adjoint solve (with the forward's `∇²L` at the solution, when it
/// kept one), then the mixed partials at the adjoint.
fn general(
    node: &Node,
    bound: &Bound,
    derived: &Derived,
    kernels: &dyn Kernels,
    (y, nu, lambda): (&[f64], &[f64], &[f64]),
    hessian: Option<&faer::Mat<f64>>,
    cotangents: &[(String, Tensor)],
) -> Result<(Vec<Tensor>, Vec<String>), RunError> {
    let problem = NodeProblem::new(node, bound, derived, kernels);
    if let Some(h) = hessian {
        problem.keep_hessian(y, nu, lambda, h.clone());
    }
    let (n, me) = (problem.dim(), problem.n_eq());
    let mut var_start = Vec::with_capacity(node.vars.len());
    let mut at = 0;
    for len in problem.var_sizes() {
        var_start.push((at, len));
        at += len;
    }
    let ranges = multiplier_ranges(node, derived, bound);
    // One flat cotangent over (y, ν, λ).
    let v = place_cotangents(node, cotangents, n + me + problem.n_ineq(), |o| match o {
        Output::Var(id) => var_start[id.0 as usize],
        Output::Dual(c) => match &ranges[*c] {
            Some((true, r)) => (n + r.start, r.len()),
            Some((false, r)) => (n + me + r.start, r.len()),
            None => (0, usize::MAX),
        },
    })?;
    let (vy, rest) = v.split_at(n);
    let (vnu, vlambda) = rest.split_at(me);
    let cot = Cotangents { y: vy, nu: Some(vnu), lambda: Some(vlambda) };
    let adj = ift::adjoint(&problem, y, nu, lambda, &cot, ACTIVITY_TOL)?;
    let mixed = problem
        .param_vjp(y, nu, lambda, &adj.w, &adj.a, &adj.b)
        .map_err(|e| RunError::Derivative(format!("the backward pass left the domain: {e}")))?;
    let warnings = if adj.degenerate > 0 { vec![singular_warning(adj.degenerate)] } else { Vec::new() };
    // In place: the mixed partial in a data parameter is as large as the data.
    let grads = mixed
        .into_iter()
        .map(|mut t| {
            t.data.iter_mut().for_each(|x| *x *= -1.0);
            t
        })
        .collect();
    Ok((grads, warnings))
}
