//! Forward mode: the directional derivative of a node's outputs along tangents
//! of its parameters, `ȯ = (∂o/∂θ) θ̇`, from the same optimality conditions and
//! the same matrix as the backward pass, solved once with the tangent's
//! right-hand side instead of the cotangent.
//!
//! - **Conic nodes.** With `R(θ) = (P x + q + Aᵀz, A x − b)` the KKT residual at
//!   the returned point and `K = [P Aᵀ; A −H]` the forward's kept factorisation,
//!   `K [ẋ; ż] = −Ṙ`, `Ṙ = ∂R/∂θ·θ̇` at fixed `(x, z)`
//!   ([`crate::canon::data_jvp`]: the reductions over tracked numbers, one
//!   forward sweep). The backward pass is the transpose of the same two steps
//!   (`K` is symmetric): `⟨ȯ, v⟩ = ⟨θ̇, dL/dθ⟩` for the cotangent v.
//! - **Smooth nodes.** With `F(z, θ) = [∇_y L; h; g_A]` and the bordered
//!   `K = ∂F/∂z` of [`super::ift`], `ż = −K⁻¹ F_θ θ̇` (unconstrained:
//!   `ẏ = −H⁻¹ f_yθ θ̇`). `F_θ θ̇` is assembled entry by entry from the derived
//!   mixed partials, `(F_θ θ̇)ᵢ = ⟨∂_θ Fᵢ, θ̇⟩` (one run of the `Mixed` kernel
//!   per entry of y, ν and the active λ), then one solve with `K`.
//! - **`solve using sinkhorn | eigh`** (structured backward passes, no KKT
//!   matrix of their own): one backward pass per output entry,
//!   `ȯₖ = ⟨θ̇, ∂oₖ/∂θ⟩`, exact but costing an output's size in VJPs.
//!
//! `sym` and `psd` parameters take the symmetric part of their tangent (the node
//! depends on them through it).

use super::ift::{self, Cotangents, ACTIVITY_TOL};
use crate::eval::Tensor;
use crate::ir::Node;
use crate::kernel::Kernels;
use crate::kernel::NodeProblem;
use crate::runtime::inputs::shape_words;
use crate::runtime::node::{non_finite, Conic, Context};
use crate::runtime::smooth::{multiplier_ranges, SmoothContext};
use crate::runtime::{Bound, RunError, Solved, Status};
use crate::smooth::SmoothProblem;
use crate::symbolic::Derived;
use crate::syntax::ast::BaseType;

/// Tensors by name: the outputs' tangents.
type Named = Vec<(String, Tensor)>;

/// The tangent of every output (in declaration order, by name), given tangents
/// for some parameters (by name; missing ones are zero). Needs a solved forward,
/// like [`super::backward`]; a singular smooth KKT system is added to
/// `info.warnings`, and a non-finite tangent makes the status `numerical_error`
/// and is an error.
pub fn jvp(
    node: &Node,
    bound: &Bound,
    solved: &mut Solved,
    tangents: &[(String, Tensor)],
) -> Result<Vec<(String, Tensor)>, RunError> {
    if !solved.status.is_solved() {
        return Err(RunError::Invalid(format!("no tangents: the forward status is {}", solved.status.name())));
    }
    let dots = place_tangents(node, bound, tangents)?;
    let done = match &mut solved.context {
        Context::Conic(ctx) => Some((conic(node, bound, ctx, &dots)?, Vec::new())),
        Context::Smooth(ctx) => match &**ctx {
            SmoothContext::General { derived, kernels, y, nu, lambda, hessian } => {
                Some(smooth(node, bound, derived, &*kernels.0, (y, nu, lambda), hessian.as_ref(), &dots)?)
            }
            SmoothContext::Transport { .. } | SmoothContext::Eigen { .. } => None,
        },
    };
    let (out, warnings) = match done {
        Some(done) => done,
        None => (by_vjps(node, bound, solved, &dots)?, Vec::new()),
    };
    for w in warnings {
        solved.warn(w);
    }
    if let Some(m) = non_finite("output tangent", &out) {
        solved.status = Status::NumericalError;
        solved.info.message = Some(m.clone());
        return Err(RunError::Derivative(format!("{}: {m}", Status::NumericalError.name())));
    }
    Ok(out)
}

/// θ̇ per parameter (declaration order, the bound shapes): the named tangents,
/// zero for the others, symmetrised for `sym` and `psd`. Unknown names, wrong
/// shapes and non-finite entries are errors.
fn place_tangents(node: &Node, bound: &Bound, tangents: &[(String, Tensor)]) -> Result<Vec<Tensor>, RunError> {
    let mut dots: Vec<Tensor> = bound.params.iter().map(|p| Tensor::filled(p.shape.clone(), 0.0)).collect();
    for (name, t) in tangents {
        let Some(k) = node.params.iter().position(|p| p.name == *name) else {
            return Err(RunError::Invalid(format!(
                "unknown tangent `{name}`: it is not a parameter of `{}`",
                node.name
            )));
        };
        if t.shape != dots[k].shape {
            return Err(RunError::Invalid(format!(
                "tangent `{name}` is {}, but the parameter is {}",
                shape_words(&t.shape),
                shape_words(&dots[k].shape)
            )));
        }
        if let Some(i) = t.data.iter().position(|x| !x.is_finite()) {
            return Err(RunError::Invalid(format!(
                "tangent `{name}` has a non-finite entry ({}) at flat index {i}",
                t.data[i]
            )));
        }
        dots[k] =
            if matches!(node.params[k].base, BaseType::Sym | BaseType::Psd) { super::symmetrise(t) } else { t.clone() };
    }
    Ok(dots)
}

/// `K [ẋ; ż] = −Ṙ` with the forward's factorisation.
fn conic(node: &Node, bound: &Bound, ctx: &mut Conic, dots: &[Tensor]) -> Result<Vec<(String, Tensor)>, RunError> {
    let (x, z) = ctx.point();
    let (x, z) = (x.to_vec(), z.to_vec());
    let r_dot = crate::canon::data_jvp(node, bound, &x, &z, dots)?;
    let mut d: Vec<f64> = r_dot.into_iter().map(|v| -v).collect();
    ctx.kkt_solve(&mut d)?;
    let (dx, dz) = d.split_at(x.len());
    Ok(crate::runtime::node::outputs(node, ctx.layout(), dx, dz))
}

/// `ż = −K⁻¹ F_θ θ̇`, with the warnings for `info.warnings`.
fn smooth(
    node: &Node,
    bound: &Bound,
    derived: &Derived,
    kernels: &dyn Kernels,
    (y, nu, lambda): (&[f64], &[f64], &[f64]),
    hessian: Option<&faer::Mat<f64>>,
    dots: &[Tensor],
) -> Result<(Named, Vec<String>), RunError> {
    let problem = NodeProblem::new(node, bound, derived, kernels);
    // The forward's ∇²L at the solution, when it kept one (as the backward does).
    if let Some(h) = hessian {
        problem.keep_hessian(y, nu, lambda, h.clone());
    }
    let (n, me, mi) = (problem.dim(), problem.n_eq(), problem.n_ineq());
    let domain = |e: crate::smooth::DomainError| RunError::Derivative(format!("the forward mode left the domain: {e}"));
    let (active, _) = ift::activity(&problem.ineq(y).map_err(domain)?, lambda, ACTIVITY_TOL);
    // −(F_θ θ̇)ᵢ = −⟨∂_θ Fᵢ, θ̇⟩, Fᵢ picked by a unit (w, a, b).
    let entry = |at: usize| -> Result<f64, RunError> {
        let mut unit = vec![0.0; n + me + mi];
        unit[at] = 1.0;
        let (w, rest) = unit.split_at(n);
        let (a, b) = rest.split_at(me);
        let mixed = problem.param_vjp(y, nu, lambda, w, a, b).map_err(domain)?;
        Ok(-mixed
            .iter()
            .zip(dots)
            .map(|(g, t)| g.data.iter().zip(&t.data).map(|(p, q)| p * q).sum::<f64>())
            .sum::<f64>())
    };
    let mut rhs = vec![0.0; n + me + mi];
    for at in (0..n + me).chain(active.iter().map(|&j| n + me + j)) {
        rhs[at] = entry(at)?;
    }
    let (ry, rest) = rhs.split_at(n);
    let (rnu, rlambda) = rest.split_at(me);
    let cot = Cotangents { y: ry, nu: Some(rnu), lambda: Some(rlambda) };
    // K is symmetric: the adjoint solve K⁻¹(·) is the forward solve too.
    let sol = ift::adjoint(&problem, y, nu, lambda, &cot, ACTIVITY_TOL)?;
    let vars = problem.unflatten(&sol.w);
    let ranges = multiplier_ranges(node, derived, bound);
    let out = crate::runtime::smooth::outputs(node, bound, &ranges, vars, &sol.a, &sol.b);
    let warnings = if sol.degenerate > 0 { vec![super::smooth::singular_warning(sol.degenerate)] } else { Vec::new() };
    Ok((out, warnings))
}

/// One backward pass per output entry: `ȯₖ = ⟨θ̇, ∂oₖ/∂θ⟩`.
fn by_vjps(
    node: &Node,
    bound: &Bound,
    solved: &mut Solved,
    dots: &[Tensor],
) -> Result<Vec<(String, Tensor)>, RunError> {
    let shapes: Vec<(String, Vec<usize>)> = solved.outputs.iter().map(|(k, t)| (k.clone(), t.shape.clone())).collect();
    let mut out = Vec::with_capacity(shapes.len());
    for (name, shape) in shapes {
        let mut tangent = Tensor::filled(shape.clone(), 0.0);
        for k in 0..tangent.len() {
            let mut unit = Tensor::filled(shape.clone(), 0.0);
            unit.data[k] = 1.0;
            let grads = super::backward(node, bound, solved, &[(name.clone(), unit)])?;
            tangent.data[k] =
                grads.iter().zip(dots).map(|(g, t)| g.data.iter().zip(&t.data).map(|(p, q)| p * q).sum::<f64>()).sum();
        }
        out.push((name, tangent));
    }
    Ok(out)
}
