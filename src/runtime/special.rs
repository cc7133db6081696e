//! The specialised forwards a file may name, `solve using sinkhorn` and
//! `solve using eigh`: each applies to one shape of problem, recognised here on
//! the checked IR, with the data it needs as expressions of the parameters (so
//! the backward pass can carry its structured gradients to the parameters by
//! reverse mode over the evaluator).

use std::borrow::Cow;

use faer::{Mat, MatRef};
use serde_json::{json, Map};

use super::node::Context;
use super::smooth::SmoothContext;
use super::{Bound, RunError, Solved, Status};
use crate::atoms::Atom;
use crate::diff::place_cotangents;
use crate::eval::{self, concrete, unbroadcast, Env, Tensor};
use crate::ir::{Arith, ConstraintOrigin, Expr, ExprKind, Node, Output, VarId};
use crate::smooth::{eigh, sinkhorn, SinkhornSettings};
use crate::syntax::ast::{CmpOp, Sense};

/// How ε (the entropy weight) is written: `k · Σ xlogx(P)` or `Σ xlogx(P) / k`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Weight<'n> {
    Times(&'n Expr),
    Over(&'n Expr),
}

/// `minimize Σ C∘P + ε Σ xlogx(P)  s.t.  P1 = r, Pᵀ1 = c` (the seed's entropic
/// optimal transport, ε = 1/γ).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Transport<'n> {
    pub cost: &'n Expr,
    pub eps: Weight<'n>,
    pub rows: &'n Expr,
    pub cols: &'n Expr,
}

/// `max/min uᵀXu s.t. uᵀu = 1` (`full: false`), or `max/min tr(UᵀXU) s.t.
/// UᵀU = I` with U square (`full: true`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Eigen<'n> {
    pub x: &'n Expr,
    pub full: bool,
    pub largest: bool,
}

fn not_the_form(node: &Node, method: &str, form: &str) -> RunError {
    RunError(format!("`solve using {method}` needs a node of the form {form}; `{}` is not", node.name))
}

/// The node's single variable, when it has exactly one.
fn single_var(node: &Node) -> Option<VarId> {
    (node.vars.len() == 1).then_some(VarId(0))
}

fn is_var(e: &Expr, v: VarId) -> bool {
    matches!(e.kind, ExprKind::Var(w) if w == v)
}

/// `data * P` or `P * data`: the data side.
fn times_var(e: &Expr, v: VarId) -> Option<&Expr> {
    match &e.kind {
        ExprKind::Binary { op: Arith::Mul, lhs, rhs } if is_var(rhs, v) && lhs.is_data() => Some(lhs),
        ExprKind::Binary { op: Arith::Mul, lhs, rhs } if is_var(lhs, v) && rhs.is_data() => Some(rhs),
        _ => None,
    }
}

/// `sum(a)` with no axis: `a`.
fn total(e: &Expr) -> Option<&Expr> {
    match &e.kind {
        ExprKind::Atom { atom: Atom::Sum, args, axis: None } => args.first(),
        _ => None,
    }
}

/// `sum(C * P)`: C.
fn linear(e: &Expr, v: VarId) -> Option<&Expr> {
    total(e).and_then(|a| times_var(a, v))
}

/// `k * Σ xlogx(P)`, `Σ xlogx(P) * k` or `Σ xlogx(P) / k`.
fn entropy_term(e: &Expr, v: VarId) -> Option<Weight<'_>> {
    let is_entropy = |x: &Expr| {
        total(x).is_some_and(|a| {
            matches!(&a.kind, ExprKind::Atom { atom: Atom::Xlogx, args, .. } if args.len() == 1 && is_var(&args[0], v))
        })
    };
    match &e.kind {
        ExprKind::Binary { op: Arith::Mul, lhs, rhs } if is_entropy(rhs) && lhs.is_data() => Some(Weight::Times(lhs)),
        ExprKind::Binary { op: Arith::Mul, lhs, rhs } if is_entropy(lhs) && rhs.is_data() => Some(Weight::Times(rhs)),
        ExprKind::Binary { op: Arith::Div, lhs, rhs } if is_entropy(lhs) && rhs.is_data() => Some(Weight::Over(rhs)),
        _ => None,
    }
}

/// `sum(P, axis = k) == data` (either side): the data.
fn marginal(c: &crate::ir::Constraint, v: VarId, axis: u8) -> Option<&Expr> {
    let is_sum = |e: &Expr| matches!(&e.kind, ExprKind::Atom { atom: Atom::Sum, args, axis: Some(a) } if *a == axis && is_var(&args[0], v));
    if c.op != CmpOp::Eq {
        return None;
    }
    if is_sum(&c.lhs) && c.rhs.is_data() {
        Some(&c.rhs)
    } else if is_sum(&c.rhs) && c.lhs.is_data() {
        Some(&c.lhs)
    } else {
        None
    }
}

/// The user's constraints (a variable type's implied bounds are left out: the
/// specialised forwards keep them by construction).
fn written(node: &Node) -> Vec<&crate::ir::Constraint> {
    node.constraints.iter().filter(|c| c.origin == ConstraintOrigin::User).collect()
}

pub(crate) fn transport(node: &Node) -> Result<Transport<'_>, RunError> {
    let form = "`minimize sum(C * P) + eps * sum(xlogx(P))` subject to `sum(P, axis = 1) == r` and \
                `sum(P, axis = 0) == c`, C, eps, r, c expressions of the parameters";
    let fail = || not_the_form(node, "sinkhorn", form);
    let v = single_var(node).ok_or_else(fail)?;
    if node.objective.sense != Sense::Minimize || node.vars[0].shape.rank() != 2 {
        return Err(fail());
    }
    let ExprKind::Binary { op: Arith::Add, lhs, rhs } = &node.objective.expr.kind else { return Err(fail()) };
    let (cost, eps) = match (linear(lhs, v), entropy_term(rhs, v), linear(rhs, v), entropy_term(lhs, v)) {
        (Some(c), Some(w), _, _) | (_, _, Some(c), Some(w)) => (c, w),
        _ => return Err(fail()),
    };
    let cons = written(node);
    if cons.len() != 2 {
        return Err(fail());
    }
    let find = |axis: u8| cons.iter().find_map(|c| marginal(c, v, axis));
    let (rows, cols) = (find(1).ok_or_else(fail)?, find(0).ok_or_else(fail)?);
    Ok(Transport { cost, eps, rows, cols })
}

/// `u @ X @ u` in either association: X.
fn quadratic_form(e: &Expr, v: VarId) -> Option<&Expr> {
    match &e.kind {
        ExprKind::MatMul(l, r) if is_var(r, v) => match &l.kind {
            ExprKind::MatMul(a, x) if is_var(a, v) && x.is_data() => Some(x),
            _ => None,
        },
        ExprKind::MatMul(l, r) if is_var(l, v) => match &r.kind {
            ExprKind::MatMul(x, b) if is_var(b, v) && x.is_data() => Some(x),
            _ => None,
        },
        _ => None,
    }
}

fn is_transpose_of(e: &Expr, v: VarId) -> bool {
    matches!(&e.kind, ExprKind::Transpose(a) if is_var(a, v))
}

/// `trace(U.T @ X @ U)` in either association: X.
fn trace_form(e: &Expr, v: VarId) -> Option<&Expr> {
    let ExprKind::Atom { atom: Atom::Trace, args, .. } = &e.kind else { return None };
    match &args.first()?.kind {
        ExprKind::MatMul(l, r) if is_var(r, v) => match &l.kind {
            ExprKind::MatMul(t, x) if is_transpose_of(t, v) && x.is_data() => Some(x),
            _ => None,
        },
        ExprKind::MatMul(l, r) if is_transpose_of(l, v) => match &r.kind {
            ExprKind::MatMul(x, b) if is_var(b, v) && x.is_data() => Some(x),
            _ => None,
        },
        _ => None,
    }
}

/// `u @ u == 1` / `sum_squares(u) == 1`, or `U.T @ U == eye(m)`.
fn normalisation(c: &crate::ir::Constraint, v: VarId, full: bool) -> bool {
    if c.op != CmpOp::Eq {
        return false;
    }
    let unit = |lhs: &Expr, rhs: &Expr| {
        if full {
            matches!(&lhs.kind, ExprKind::MatMul(t, u) if is_transpose_of(t, v) && is_var(u, v))
                && matches!(&rhs.kind, ExprKind::Atom { atom: Atom::Eye, .. })
        } else {
            let squares = match &lhs.kind {
                ExprKind::MatMul(a, b) => is_var(a, v) && is_var(b, v),
                ExprKind::Atom { atom: Atom::SumSquares, args, .. } => is_var(&args[0], v),
                _ => false,
            };
            squares && rhs.as_const() == Some(1.0)
        }
    };
    unit(&c.lhs, &c.rhs) || unit(&c.rhs, &c.lhs)
}

pub(crate) fn eigen(node: &Node) -> Result<Eigen<'_>, RunError> {
    let form = "`maximize u @ X @ u` subject to `u @ u == 1` (or `minimize`), or `maximize trace(U.T @ X @ U)` \
                subject to `U.T @ U == eye(m)`, X an expression of the parameters";
    let fail = || not_the_form(node, "eigh", form);
    let v = single_var(node).ok_or_else(fail)?;
    let e = &node.objective.expr;
    let (x, full) = match (quadratic_form(e, v), trace_form(e, v)) {
        (Some(x), _) => (x, false),
        (_, Some(x)) => (x, true),
        _ => return Err(fail()),
    };
    let shape = &node.vars[0].shape;
    let square = shape.rank() == 2 && shape.0.first() == shape.0.get(1);
    if (full && !square) || (!full && shape.rank() != 1) {
        return Err(fail());
    }
    let cons = written(node);
    if cons.len() != 1 || !normalisation(cons[0], v, full) {
        return Err(fail());
    }
    Ok(Eigen { x, full, largest: node.objective.sense == Sense::Maximize })
}

/// The value of the data expression `e` broadcast to `shape`: a parameter of
/// that shape is borrowed, not copied.
fn value<'b>(e: &Expr, bound: &'b Bound, shape: &[usize]) -> Result<Cow<'b, Tensor>, RunError> {
    if let ExprKind::Param(p) = e.kind {
        let t = &bound.params[p.0 as usize];
        if t.shape == shape {
            return Ok(Cow::Borrowed(t));
        }
    }
    let env = Env { params: &bound.params, vars: &[], dims: &bound.dims, syms: &[] };
    let t = eval::eval(e, &env).map_err(|x| RunError(x.message))?;
    Ok(Cow::Owned(if t.shape == shape { t } else { eval::broadcast_to(&t, shape) }))
}

/// The entries of `a` column after column: for `a = bᵀ`, b's row-major data.
fn columns(a: &Mat<f64>) -> Vec<f64> {
    let mut data = Vec::with_capacity(a.nrows() * a.ncols());
    for j in 0..a.ncols() {
        data.extend_from_slice(a.col_as_slice(j));
    }
    data
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
        let g = eval::vjp(e, &env, &cot).map_err(|x| RunError(x.message))?;
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

/// The specialised forwards return their variable only: a multiplier output
/// would need the potentials' (or eigenvalues') mapping to the constraints.
fn only_variables(node: &Node, method: &str) -> Result<(), RunError> {
    if node.outputs.iter().any(|o| matches!(o, Output::Dual(_))) {
        return Err(RunError(format!(
            "`solve using {method}` returns the variable only; `{}` asks for a dual",
            node.name
        )));
    }
    Ok(())
}

/// `solve using sinkhorn`: Sinkhorn on the recognised data.
///
/// The row-major cost M (m×n) is, read column-major, Mᵀ; the transposed problem
/// (cost Mᵀ, marginals (c, r)) has the plan Pᵀ, whose column-major entries are
/// P's row-major ones. So Sinkhorn and its backward run on the transposed
/// problem and neither M nor P is transposed in memory (the problem is the same
/// with rows and columns exchanged).
pub(crate) fn transport_forward(node: &Node, bound: &Bound) -> Result<Solved, RunError> {
    let t = transport(node)?;
    only_variables(node, "sinkhorn")?;
    let shape = concrete(&node.vars[0].shape, &bound.dims);
    let (m, n) = (shape[0], shape[1]);
    let cost = value(t.cost, bound, &shape)?;
    let eps = match t.eps {
        Weight::Times(k) => value(k, bound, &[])?.data[0],
        Weight::Over(k) => 1.0 / value(k, bound, &[])?.data[0],
    };
    if !(eps.is_finite() && eps > 0.0) {
        return Err(RunError(format!("sinkhorn: the entropy weight must be positive and finite, found {eps}")));
    }
    let (r, c) = (value(t.rows, bound, &[m])?, value(t.cols, bound, &[n])?);
    let mut settings = SinkhornSettings::default();
    let option = |key: &str| node.solve.as_ref().and_then(|s| s.option(key));
    settings.tol = option("tol").unwrap_or(settings.tol);
    settings.max_iter = option("max_iter").map_or(settings.max_iter, |v| v as usize);
    let gamma = 1.0 / eps;
    let solution = sinkhorn(MatRef::from_column_major_slice(&cost.data, n, m), &c.data, &r.data, gamma, &settings)?;
    let plan = Tensor { shape, data: columns(&solution.P) };
    let mut info = Map::new();
    info.insert("family".into(), json!(node.class.family));
    info.insert("solver".into(), json!("sinkhorn"));
    info.insert("domain".into(), json!(solution.domain.name()));
    info.insert("iterations".into(), json!(solution.iterations));
    info.insert("primal_residual".into(), json!(solution.marginal_error));
    let status = solution.status;
    let outputs = vec![(node.vars[0].name.clone(), plan)];
    let context = SmoothContext::Transport { solution, gamma };
    Ok(Solved { status, outputs, info, context: Context::Smooth(Box::new(context)) })
}

/// `solve using eigh`: the symmetric eigendecomposition of the recognised X.
pub(crate) fn eigen_forward(node: &Node, bound: &Bound) -> Result<Solved, RunError> {
    let e = eigen(node)?;
    only_variables(node, "eigh")?;
    let shape = concrete(&node.vars[0].shape, &bound.dims);
    let m = shape[0];
    let x = value(e.x, bound, &[m, m])?;
    let eig = eigh(x.view(m, m))?;
    let k = if e.largest { m - 1 } else { 0 };
    let out =
        if e.full { Tensor::from_mat(&eig.U, shape) } else { Tensor::vector(eig.U.col(k).iter().copied().collect()) };
    let mut info = Map::new();
    info.insert("family".into(), json!(node.class.family));
    info.insert("solver".into(), json!("eigh"));
    info.insert("iterations".into(), json!(1));
    if e.full {
        info.insert("eigenvalues".into(), json!(eig.lambda));
    } else {
        info.insert("eigenvalue".into(), json!(eig.lambda[k]));
    }
    let outputs = vec![(node.vars[0].name.clone(), out)];
    let context = SmoothContext::Eigen { eig, full: e.full, largest: e.largest };
    Ok(Solved { status: Status::Optimal, outputs, info, context: Context::Smooth(Box::new(context)) })
}

/// The structured backward passes of the specialised forwards, carried to the
/// parameters through the recognised data expressions.
pub(crate) fn backward(
    node: &Node,
    bound: &Bound,
    ctx: &SmoothContext,
    cotangents: &[(String, Tensor)],
) -> Result<Vec<Tensor>, RunError> {
    let shape = concrete(&node.vars[0].shape, &bound.dims);
    let len: usize = shape.iter().product();
    let v = place_cotangents(node, cotangents, len, |_| (0, len))?;
    match ctx {
        SmoothContext::Transport { solution, gamma } => {
            let t = transport(node)?;
            let (m, n) = (shape[0], shape[1]);
            let cost = value(t.cost, bound, &shape)?;
            // The transposed problem, as in the forward: Mᵀ, Pᵀ, dL/dPᵀ, and (c, r).
            let (cost, dp) =
                (MatRef::from_column_major_slice(&cost.data, n, m), MatRef::from_column_major_slice(&v, n, m));
            let g = crate::diff::entropic_ot_vjp(cost, *gamma, solution, dp)?;
            // γ = 1/k for `k * Σ xlogx`, γ = k for `Σ xlogx / k`.
            let (weight, dk) = match t.eps {
                Weight::Times(k) => (k, -g.gamma * gamma * gamma),
                Weight::Over(k) => (k, g.gamma),
            };
            chain(
                bound,
                vec![
                    (t.cost, Tensor { shape: vec![m, n], data: columns(&g.M) }),
                    (t.rows, Tensor::vector(g.c)),
                    (t.cols, Tensor::vector(g.r)),
                    (weight, Tensor::scalar(dk)),
                ],
            )
        }
        SmoothContext::Eigen { eig, full, largest } => {
            let e = eigen(node)?;
            let m = eig.lambda.len();
            let dx = if *full {
                crate::diff::eigh_vjp(eig, Tensor { shape: vec![m, m], data: v }.view(m, m))?
            } else {
                crate::diff::eigvec_vjp(eig, if *largest { m - 1 } else { 0 }, &v)?
            };
            chain(bound, vec![(e.x, Tensor::from_mat(&dx, vec![m, m]))])
        }
        SmoothContext::General { .. } => Err(RunError("not a specialised forward".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(src: &str) -> Node {
        let c = crate::compile("t.ddn", src);
        assert!(!c.has_errors());
        c.program.nodes.into_iter().next().expect("node")
    }

    #[test]
    fn recognises_the_stdlib_forms_and_refuses_others() {
        let ot = node(include_str!("../../stdlib/optimal_transport.ddn"));
        let t = transport(&ot).expect("entropic_ot");
        assert!(matches!(t.eps, Weight::Times(_)));
        let eig = crate::compile("e.ddn", include_str!("../../stdlib/eigen.ddn"));
        let (max, full) = (&eig.program.nodes[0], &eig.program.nodes[1]);
        let e = eigen(max).expect("max_eigvec");
        assert!(!e.full && e.largest);
        assert!(eigen(full).expect("eigh_full").full);
        let e = transport(max).expect_err("not transport");
        assert!(e.0.contains("sinkhorn") && e.0.contains("max_eigvec"), "{}", e.0);
        let other = node("node q(X: sym[m, m]) -> u: real[m] {\n maximize u @ X @ u\n subject to { u @ u == 2 } }");
        assert!(eigen(&other).is_err());
    }
}
