//! The backward pass of a conic node by implicit differentiation of the KKT
//! conditions of its standard form (OptNet, Amos & Kolter 2017; the cone case as
//! in Agrawal et al. 2019).
//!
//! At the solution, `Px + q + Aᵀz = 0`, `Ax + s = b`, and complementarity
//! linearised as `Δs = −H Δz`. Perturbing the data gives
//!
//! ```text
//! K [dx; dz] = [−dP x − dq − dAᵀz;  db − dA x],     K = [P  Aᵀ; A  −H]
//! ```
//!
//! so for a loss with cotangents `(v_x, v_z)` on the solution, one solve of the
//! symmetric `K w = (v_x, v_z)` (the IPM's final factorisation, reused) gives
//! `dL = ∇_θ ψ · dθ` with `ψ(θ) = −w_xᵀ(P(θ)x + q(θ) + A(θ)ᵀz) − w_zᵀ(A(θ)x − b(θ))`
//! differentiated at fixed `x, z, w`.
//!
//! `ψ` is evaluated through the node's own expressions, not the canonicaliser:
//! when the standard form has no auxiliary variables, its objective is the node's
//! objective F (a quadratic in the variables) and its rows are the node's
//! constraint functions g (affine), so `w_xᵀ(Px + q) = ½[F(x+w_x) − F(x−w_x)]`
//! and `zᵀA w_x = ½ zᵀ[g(x+w_x) − g(x−w_x)]` hold exactly, and
//! `A x − b = g(x)`. Reverse mode over the evaluator ([`crate::eval::vjp`]) then
//! gives ∇_θ ψ for any dependence of the data on the parameters.
//!
//! A node solved through its recording ([`crate::runtime::Prepared`]) has
//! neither cost: ψ's gradient in the data `(P, q, A, b)` is closed-form at
//! fixed `x, z, w`, and the recording's reverse sweep carries it to the
//! parameters. The two paths below serve the nodes that cannot be recorded and
//! the calls whose guards failed.
//!
//! Nodes whose standard form has auxiliary variables (epigraphs of `abs`,
//! `norm1`, `norm`, `huber`, …) or cones mix those variables with the node's
//! subexpressions, so ψ is evaluated instead through the reductions themselves,
//! over tracked numbers ([`crate::canon::data_vjp`]). That path is exact for every
//! node; the one through the node's expressions is kept for the nodes it covers
//! because it costs one evaluator VJP per expression rather than a tape entry per
//! coefficient (least squares with a dense `A` is the common case).

use super::place_cotangents;
use crate::canon::Layout;
use crate::eval::{unbroadcast, vjp, Env, Grads, Tensor};
use crate::ir::{Expr, Node, Output};
use crate::runtime::node::Conic;
use crate::runtime::{Bound, RunError};

/// dL/dθ for every parameter (in declaration order), given cotangents for some
/// outputs (by output name; missing ones are zero), for a conic forward's
/// context. `sym` and `psd` parameters are symmetrised by the caller.
pub(super) fn backward(
    node: &Node,
    bound: &Bound,
    ctx: &mut Conic,
    cotangents: &[(String, Tensor)],
) -> Result<Vec<Tensor>, RunError> {
    let mut w = right_hand_side(node, ctx, cotangents)?;
    // One solve with the forward's factorisation: K w = (v_x, v_z).
    ctx.kkt_solve(&mut w)?;
    if let Conic::Prepared(p) = ctx {
        let mut grads: Vec<Tensor> = bound.params.iter().map(|p| Tensor::filled(p.shape.clone(), 0.0)).collect();
        p.psi_gradient(node, bound, &w, &mut grads)?;
        return Ok(grads);
    }
    let (x, z) = ctx.point();
    let (wx, wz) = w.split_at(x.len());
    if ctx.has_auxiliary() {
        Ok(crate::canon::data_vjp(node, bound, x, z, wx, wz)?)
    } else {
        psi_gradient(node, bound, ctx.layout(), x, z, wx, wz)
    }
}

/// `(v_x, v_z)`: the cotangents placed on the standard form's columns and rows.
fn right_hand_side(node: &Node, ctx: &Conic, cotangents: &[(String, Tensor)]) -> Result<Vec<f64>, RunError> {
    let layout = ctx.layout();
    let (x, z) = ctx.point();
    let n = x.len();
    place_cotangents(node, cotangents, n + z.len(), |o| match o {
        Output::Var(id) => {
            let (first, shape) = &layout.var_cols[id.0 as usize];
            (*first, shape.iter().product::<usize>())
        }
        Output::Dual(c) => {
            let (rows, _) = &layout.constraint_rows[*c];
            (n + rows.start, rows.len)
        }
    })
}

/// ∇_θ ψ through the node's expressions at y and y ± w_x.
fn psi_gradient(
    node: &Node,
    bound: &Bound,
    layout: &Layout,
    x: &[f64],
    z: &[f64],
    wx: &[f64],
    wz: &[f64],
) -> Result<Vec<Tensor>, RunError> {
    let y = layout.var_values(x);
    let step = layout.var_values(wx);
    let plus: Vec<Tensor> = y.iter().zip(&step).map(|(a, b)| add(a, b, 1.0)).collect();
    let minus: Vec<Tensor> = y.iter().zip(&step).map(|(a, b)| add(a, b, -1.0)).collect();
    let mut grads: Vec<Tensor> = bound.params.iter().map(|p| Tensor::filled(p.shape.clone(), 0.0)).collect();
    let mut acc = |e: &Expr, vars: &[Tensor], cot: Tensor| -> Result<(), RunError> {
        let env = Env { params: &bound.params, vars, dims: &bound.dims, syms: &[] };
        let shape = crate::eval::concrete(&e.shape, &bound.dims);
        let g: Grads = vjp(e, &env, &unbroadcast(&cot, &shape))?;
        for (acc, gp) in grads.iter_mut().zip(g.params) {
            if let Some(gp) = gp {
                acc.data.iter_mut().zip(&gp.data).for_each(|(a, b)| *a += b);
            }
        }
        Ok(())
    };
    // −½[F(y+w) − F(y−w)], F the objective in minimisation form.
    let sign = node.objective.min_sign();
    let obj = &node.objective.expr;
    acc(obj, &plus, Tensor::scalar(-0.5 * sign))?;
    acc(obj, &minus, Tensor::scalar(0.5 * sign))?;
    // −½ zᵀ[g(y+w) − g(y−w)] − w_zᵀ g(y), with g = lhs − rhs (`<=`, `==`) or
    // rhs − lhs (`>=`), per constraint rows.
    for (c, (rows, shape)) in node.constraints.iter().zip(&layout.constraint_rows) {
        let z = Tensor { shape: shape.clone(), data: z[rows.start..rows.start + rows.len].to_vec() };
        let wzc = Tensor { shape: shape.clone(), data: wz[rows.start..rows.start + rows.len].to_vec() };
        let orient = c.orientation();
        for (side, s) in [(&c.lhs, orient), (&c.rhs, -orient)] {
            acc(side, &plus, z.scaled(-0.5 * s))?;
            acc(side, &minus, z.scaled(0.5 * s))?;
            acc(side, &y, wzc.scaled(-s))?;
        }
    }
    Ok(grads)
}

fn add(a: &Tensor, b: &Tensor, w: f64) -> Tensor {
    Tensor { shape: a.shape.clone(), data: a.data.iter().zip(&b.data).map(|(x, y)| x + w * y).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{bind, forward, named_tensors, Options};

    /// The two ways to ∇_θψ agree where both apply: through the node's own
    /// expressions and through the reductions over tracked numbers.
    #[test]
    fn expression_and_reduction_paths_agree() {
        let c = crate::compile(
            "t.ddn",
            "node q(Q: psd[n, n], p: real[n], G: real[k, n], h: real[k], s: pos) -> z: real[n] {
                minimize 0.5 * s * quad_form(z, Q) + p @ z
                subject to { G @ z <= h }
            }",
        );
        assert!(!c.has_errors());
        let node = &c.analysed(0).expect("node");
        let inputs = serde_json::json!({
            "Q": [[2, 0.3], [0.3, 1]], "p": [1, -1], "G": [[1, 1], [-1, 0.5], [0.2, -1]], "h": [0.5, 0.4, 0.3], "s": 1.5
        });
        let bound = bind(node, &named_tensors(&inputs).expect("inputs")).expect("bind");
        let mut solved = forward(node, &bound, &Options::default()).expect("forward");
        let cot = vec![("z".to_string(), Tensor::vector(vec![0.7, -0.2]))];
        let crate::runtime::node::Context::Conic(ctx) = &mut solved.context else { panic!("a conic node") };
        let mut w = right_hand_side(node, ctx, &cot).expect("rhs");
        ctx.kkt_solve(&mut w).expect("kkt");
        let (x, z) = ctx.point();
        let (wx, wz) = w.split_at(x.len());
        let by_expressions = psi_gradient(node, &bound, ctx.layout(), x, z, wx, wz).expect("expressions");
        let by_reductions = crate::canon::data_vjp(node, &bound, x, z, wx, wz).expect("reductions");
        for (a, b) in by_expressions.iter().zip(&by_reductions) {
            for (x, y) in a.data.iter().zip(&b.data) {
                assert!((x - y).abs() <= 1e-10 * (1.0 + x.abs()), "{x} vs {y}");
            }
        }
    }
}
