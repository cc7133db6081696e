//! Forward mode on expressions: `jvp(e, ẏ) = Σ_leaf ∂e/∂leaf · ẏ_leaf`, the
//! directional derivative along tangents given for some leaves, as an
//! expression with the shape of `e`.
//!
//! Used for second derivatives as forward-over-reverse (Pearlmutter 1994): the
//! Hessian–vector product `∇²L · v` is the jvp of the gradient expression along `v`.

use super::build::{add, add_opt, atom, div, konst, matmul, mul, neg, outer, reduce, spread, transpose};
use super::partials;
use super::{DeriveError, Wrt};
use crate::atoms::Atom;
use crate::ir::{Expr, ExprKind};

/// `∂e · ẏ` for tangents `ẏ` of some leaves (each of its leaf's shape), or
/// `None` when `e` depends on none of them.
pub fn jvp(e: &Expr, tangents: &[(Wrt, Expr)]) -> Result<Option<Expr>, DeriveError> {
    if !tangents.iter().any(|(w, _)| w.occurs_in(e)) {
        return Ok(None);
    }
    if let Some((_, t)) = tangents.iter().find(|(w, _)| w.is(e)) {
        return Ok(Some(t.clone()));
    }
    if let Some(nested) = partials::nest_extremum(e) {
        return jvp(&nested, tangents);
    }
    let d = |x: &Expr| jvp(x, tangents);
    let out = if let Some(ds) = partials::elementwise(e) {
        let mut sum = None;
        for (a, p) in e.children().into_iter().zip(ds) {
            if let (Some(p), Some(da)) = (p, d(a)?) {
                sum = add_opt(sum, Some(mul(p, da)));
            }
        }
        sum
    } else {
        match &e.kind {
            ExprKind::MatMul(l, r) => {
                let dl = d(l)?.map(|dl| matmul(dl, (**r).clone()));
                let dr = d(r)?.map(|dr| matmul((**l).clone(), dr));
                add_opt(dl, dr)
            }
            ExprKind::Transpose(a) => d(a)?.map(transpose),
            ExprKind::Index { base, sel } => {
                d(base)?.map(|db| atom_like(e, ExprKind::Index { base: Box::new(db), sel: sel.clone() }))
            }
            ExprKind::Atom { atom: a, args, axis } => atom_jvp(e, *a, args, *axis, tangents)?,
            _ => return Err(DeriveError::unsupported(e, "forward mode")),
        }
    };
    // a broadcast operand's tangent alone may be smaller than `e`
    Ok(out.map(|t| spread(t, None, &e.shape)))
}

/// `e` with another kind (same shape and span).
fn atom_like(e: &Expr, kind: ExprKind) -> Expr {
    Expr { kind, shape: e.shape.clone(), span: e.span }
}

fn atom_jvp(
    e: &Expr,
    at: Atom,
    args: &[Expr],
    axis: Option<u8>,
    tangents: &[(Wrt, Expr)],
) -> Result<Option<Expr>, DeriveError> {
    let x = &args[0];
    let span = e.span;
    let k = |v: f64| konst(v, span);
    let y = || e.clone();
    let dx = jvp(x, tangents)?;
    // a linear atom applied to the tangents of all its arguments (zeros where none)
    let linear = |tangents_of: Vec<Option<Expr>>| -> Option<Expr> {
        if tangents_of.iter().all(Option::is_none) {
            return None;
        }
        let ts = tangents_of
            .into_iter()
            .zip(args)
            .map(|(t, a)| t.unwrap_or_else(|| super::build::zeros(&a.shape, span)))
            .collect();
        Some(atom(at, ts, axis, e.shape.clone(), span))
    };
    if let Some(w) = partials::reduction_weight(e) {
        return Ok(dx.map(|dx| reduce(Atom::Sum, mul(w, dx), axis)));
    }
    Ok(match at {
        Atom::Ones | Atom::Zeros | Atom::Eye => None,
        Atom::Sum | Atom::Mean | Atom::Trace | Atom::Diag | Atom::Spread | Atom::SumTo => linear(vec![dx]),
        Atom::Hstack | Atom::Vstack => linear(args.iter().map(|a| jvp(a, tangents)).collect::<Result<Vec<_>, _>>()?),
        // d xᵀPx = dxᵀ(P + Pᵀ)x + xᵀ dP x
        Atom::QuadForm => {
            let p = &args[1];
            let dp = jvp(p, tangents)?;
            let via_x = dx.map(|dx| matmul(dx, matmul(add(p.clone(), transpose(p.clone())), x.clone())));
            let via_p = dp.map(|dp| matmul(x.clone(), matmul(dp, x.clone())));
            add_opt(via_x, via_p)
        }
        // d Σx²/t = 2 Σ x dx / t − Σx²/t² dt
        Atom::QuadOverLin => {
            let t = &args[1];
            let dt = jvp(t, tangents)?;
            let via_x = dx.map(|dx| div(mul(k(2.0), reduce(Atom::Sum, mul(x.clone(), dx), None)), t.clone()));
            let via_t = dt.map(|dt| neg(mul(div(y(), t.clone()), dt)));
            add_opt(via_x, via_t)
        }
        // d(a bᵀ) = da bᵀ + a dbᵀ
        Atom::Outer => {
            let b = &args[1];
            let via_a = dx.map(|da| outer(da, b.clone()));
            let via_b = jvp(b, tangents)?.map(|db| outer(x.clone(), db));
            add_opt(via_a, via_b)
        }
        _ => return Err(DeriveError::unsupported(e, "forward mode")),
    })
}
