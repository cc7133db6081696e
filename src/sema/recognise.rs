//! The problem structure a specialised `solve using` needs, recognised on the
//! checked node at check time: `sinkhorn` needs entropic optimal transport
//! ([`Transport`]), `eigh` an eigenvector problem ([`Eigen`]). A node of
//! another shape is a diagnostic pointing at the part that does not fit; a
//! node that fits carries its data as expressions of the parameters in
//! [`crate::ir::SolveMethod`], which the forward evaluates and the backward
//! carries its structured gradients back through (reverse mode over the
//! evaluator), neither of them looking at the node's shape again.

use super::classify::Parts;
use crate::atoms::Atom;
use crate::diag::{Diagnostic, Span};
use crate::ir::{Arith, Constraint, ConstraintOrigin, Eigen, Expr, ExprKind, Output, Transport, VarId, Weight};
use crate::syntax::ast::{CmpOp, Sense};

/// Where a node departs from the form a method needs, and how.
struct Mismatch {
    at: Span,
    what: &'static str,
}

fn mismatch(at: Span, what: &'static str) -> Mismatch {
    Mismatch { at, what }
}

const TRANSPORT_FORM: &str = "`minimize sum(C * P) + eps * sum(xlogx(P))` subject to `sum(P, axis = 1) == r` and \
                              `sum(P, axis = 0) == c`, with C, eps, r, c expressions of the parameters";
const EIGEN_FORM: &str =
    "`maximize u @ X @ u` subject to `u @ u == 1` (or `minimize`), or `maximize trace(U.T @ X @ U)` \
                          subject to `U.T @ U == eye(m)`, with X an expression of the parameters";

/// `solve using sinkhorn`: the entropic optimal transport, or the diagnostic
/// (primary label on the part that does not fit, secondary on the method).
pub fn transport(parts: &Parts, method: Span) -> Result<Transport, Diagnostic> {
    let t = transport_form(parts)
        .map_err(|m| refusal("sinkhorn", "an entropic optimal transport node", TRANSPORT_FORM, m, method))?;
    only_variables(parts, "sinkhorn", method)?;
    Ok(t)
}

/// `solve using eigh`: the eigenproblem, or the diagnostic.
pub fn eigen(parts: &Parts, method: Span) -> Result<Eigen, Diagnostic> {
    let e = eigen_form(parts).map_err(|m| refusal("eigh", "an eigenvector problem", EIGEN_FORM, m, method))?;
    only_variables(parts, "eigh", method)?;
    Ok(e)
}

fn refusal(name: &str, needs: &str, form: &str, m: Mismatch, method: Span) -> Diagnostic {
    Diagnostic::error(format!("`solve using {name}` needs {needs}"))
        .at(m.at, m.what)
        .also(method, "method named here")
        .help(format!("the form is {form}; or leave `solve using` out"))
}

/// The node's single variable, when it has exactly one; else the second one.
fn single_var(parts: &Parts) -> Result<VarId, Mismatch> {
    match parts.vars {
        [_] => Ok(VarId(0)),
        [_, second, ..] => Err(mismatch(second.span, "a second variable: the method solves for one")),
        [] => Err(mismatch(parts.objective.span, "no variable")),
    }
}

/// The specialised forwards return their variable only: a multiplier output
/// would need the potentials' (or eigenvalues') mapping to the constraints.
fn only_variables(parts: &Parts, name: &str, method: Span) -> Result<(), Diagnostic> {
    match parts.outputs.iter().find_map(|o| if let Output::Dual(c) = o { Some(*c) } else { None }) {
        Some(c) => Err(Diagnostic::error(format!("`solve using {name}` returns the variable only, not a dual"))
            .at(parts.constraints[c].span, "its dual is an output")
            .also(method, "method named here")
            .help("leave `dual` out of the outputs, or `solve using` out of the node")),
        None => Ok(()),
    }
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
fn entropy_term(e: &Expr, v: VarId) -> Option<Weight> {
    let is_entropy = |x: &Expr| {
        total(x).is_some_and(|a| {
            matches!(&a.kind, ExprKind::Atom { atom: Atom::Xlogx, args, .. } if args.len() == 1 && is_var(&args[0], v))
        })
    };
    match &e.kind {
        ExprKind::Binary { op: Arith::Mul, lhs, rhs } if is_entropy(rhs) && lhs.is_data() => {
            Some(Weight::Times((**lhs).clone()))
        }
        ExprKind::Binary { op: Arith::Mul, lhs, rhs } if is_entropy(lhs) && rhs.is_data() => {
            Some(Weight::Times((**rhs).clone()))
        }
        ExprKind::Binary { op: Arith::Div, lhs, rhs } if is_entropy(lhs) && rhs.is_data() => {
            Some(Weight::Over((**rhs).clone()))
        }
        _ => None,
    }
}

/// `sum(P, axis = k) == data` (either side): `(k, data)`.
fn marginal(c: &Constraint, v: VarId) -> Option<(u8, &Expr)> {
    let axis = |e: &Expr| match &e.kind {
        ExprKind::Atom { atom: Atom::Sum, args, axis: Some(a) } if is_var(&args[0], v) => Some(*a),
        _ => None,
    };
    if c.op != CmpOp::Eq {
        return None;
    }
    match (axis(&c.lhs), axis(&c.rhs)) {
        (Some(a), _) if c.rhs.is_data() => Some((a, &c.rhs)),
        (_, Some(a)) if c.lhs.is_data() => Some((a, &c.lhs)),
        _ => None,
    }
}

/// The user's constraints (a variable type's implied bounds are left out: the
/// specialised forwards keep them by construction).
fn written<'a>(parts: &Parts<'a>) -> Vec<&'a Constraint> {
    parts.constraints.iter().filter(|c| c.origin == ConstraintOrigin::User).collect()
}

fn transport_form(parts: &Parts) -> Result<Transport, Mismatch> {
    let v = single_var(parts)?;
    let objective = parts.objective;
    if objective.sense != Sense::Minimize {
        return Err(mismatch(objective.span, "a maximisation: the transport cost is minimised"));
    }
    if parts.vars[0].shape.rank() != 2 {
        return Err(mismatch(parts.vars[0].span, "not a matrix: the plan P is `real[m, n]`"));
    }
    let not_entropic = || mismatch(objective.expr.span, "not `sum(C * P) + eps * sum(xlogx(P))`");
    let ExprKind::Binary { op: Arith::Add, lhs, rhs } = &objective.expr.kind else { return Err(not_entropic()) };
    let (cost, eps) = match (linear(lhs, v), entropy_term(rhs, v), linear(rhs, v), entropy_term(lhs, v)) {
        (Some(c), Some(w), _, _) | (_, _, Some(c), Some(w)) => (c.clone(), w),
        _ => return Err(not_entropic()),
    };
    let (mut rows, mut cols) = (None, None);
    for c in written(parts) {
        match marginal(c, v) {
            Some((1, r)) if rows.is_none() => rows = Some(r.clone()),
            Some((0, r)) if cols.is_none() => cols = Some(r.clone()),
            _ => return Err(mismatch(c.span, "not a marginal `sum(P, axis = 1) == r` or `sum(P, axis = 0) == c`")),
        }
    }
    let (Some(rows), Some(cols)) = (rows, cols) else {
        return Err(mismatch(
            objective.span,
            "a marginal constraint is missing: both `P1 = r` and `Pᵀ1 = c` are needed",
        ));
    };
    Ok(Transport { cost, eps, rows, cols })
}

/// `L @ X @ u` in either association, with `left(L)` and X data: X.
fn sandwich(e: &Expr, v: VarId, left: impl Fn(&Expr) -> bool) -> Option<&Expr> {
    match &e.kind {
        ExprKind::MatMul(l, r) if is_var(r, v) => match &l.kind {
            ExprKind::MatMul(a, x) if left(a) && x.is_data() => Some(x),
            _ => None,
        },
        ExprKind::MatMul(l, r) if left(l) => match &r.kind {
            ExprKind::MatMul(x, b) if is_var(b, v) && x.is_data() => Some(x),
            _ => None,
        },
        _ => None,
    }
}

/// `u @ X @ u` in either association: X.
fn quadratic_form(e: &Expr, v: VarId) -> Option<&Expr> {
    sandwich(e, v, |a| is_var(a, v))
}

fn is_transpose_of(e: &Expr, v: VarId) -> bool {
    matches!(&e.kind, ExprKind::Transpose(a) if is_var(a, v))
}

/// `trace(U.T @ X @ U)` in either association: X.
fn trace_form(e: &Expr, v: VarId) -> Option<&Expr> {
    let ExprKind::Atom { atom: Atom::Trace, args, .. } = &e.kind else { return None };
    sandwich(args.first()?, v, |t| is_transpose_of(t, v))
}

/// `u @ u == 1` / `sum_squares(u) == 1`, or `U.T @ U == eye(m)`.
fn normalisation(c: &Constraint, v: VarId, full: bool) -> bool {
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

fn eigen_form(parts: &Parts) -> Result<Eigen, Mismatch> {
    let v = single_var(parts)?;
    let objective = parts.objective;
    let e = &objective.expr;
    let (x, full) = match (quadratic_form(e, v), trace_form(e, v)) {
        (Some(x), _) => (x.clone(), false),
        (_, Some(x)) => (x.clone(), true),
        _ => return Err(mismatch(e.span, "not `u @ X @ u` or `trace(U.T @ X @ U)`")),
    };
    let var = &parts.vars[0];
    let square = var.shape.rank() == 2 && var.shape.0.first() == var.shape.0.get(1);
    if full && !square {
        return Err(mismatch(var.span, "not a square matrix: `trace(U.T @ X @ U)` needs `U: real[m, m]`"));
    }
    if !full && var.shape.rank() != 1 {
        return Err(mismatch(var.span, "not a vector: `u @ X @ u` needs `u: real[m]`"));
    }
    let what = if full { "not `U.T @ U == eye(m)`" } else { "not `u @ u == 1`" };
    match written(parts)[..] {
        [c] if normalisation(c, v, full) => {}
        [c] => return Err(mismatch(c.span, what)),
        [_, c, ..] => return Err(mismatch(c.span, "a second constraint: only the normalisation is allowed")),
        [] => return Err(mismatch(objective.span, "the normalisation constraint is missing")),
    }
    Ok(Eigen { x, full, largest: objective.sense == Sense::Maximize })
}

#[cfg(test)]
mod tests {
    use crate::ir::SolveMethod;

    fn methods(src: &str) -> Vec<SolveMethod> {
        let c = crate::compile("t.ddn", src);
        assert!(!c.has_errors(), "{:?}", c.diagnostics);
        c.program.nodes.into_iter().filter_map(|n| n.solve.map(|s| s.method)).collect()
    }

    #[test]
    fn recognises_the_stdlib_forms() {
        let ot = methods(include_str!("../../stdlib/optimal_transport.ddn"));
        assert!(matches!(&ot[0], SolveMethod::Sinkhorn(_, t) if matches!(t.eps, crate::ir::Weight::Times(_))));
        let eig = methods(include_str!("../../stdlib/eigen.ddn"));
        assert!(matches!(&eig[0], SolveMethod::Eigh(e) if !e.full && e.largest));
        assert!(matches!(&eig[1], SolveMethod::Eigh(e) if e.full));
    }

    #[test]
    fn refuses_other_shapes() {
        let refused = |src: &str| {
            let c = crate::compile("t.ddn", src);
            c.diagnostics.iter().find(|d| d.is_error()).map(|d| d.message.clone()).unwrap_or_default()
        };
        let unit2 = "node q(X: sym[m, m]) -> u: real[m] {\n maximize u @ X @ u\n subject to { u @ u == 2 }\n solve using eigh }";
        assert!(refused(unit2).contains("needs an eigenvector problem"), "{}", refused(unit2));
        let max_is_not_ot = include_str!("../../stdlib/eigen.ddn").replace("solve using eigh", "solve using sinkhorn");
        assert!(refused(&max_is_not_ot).contains("needs an entropic optimal transport node"));
    }
}
