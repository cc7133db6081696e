//! Reverse mode on expressions: `grad(e, wrt, c) = ∂⟨c, e⟩/∂wrt`, itself an
//! expression (of the leaves of `e` and of `c`), with the shape of `wrt`.
//!
//! The walk is the textbook adjoint recursion (Griewank & Walther, ch. 3): the
//! cotangent `c̄` of a node is pushed to its children by each operation's
//! transposed derivative, and the cotangents reaching `wrt` are summed. The IR is
//! a tree (`let`s and `def`s are inlined), so every node is visited once; subtrees
//! not mentioning `wrt` are skipped.

use super::build::{
    add, add_opt, atom, count, div, konst, matmul, mk, mul, neg, outer, reduce, spread, sum_to, transpose,
};
use super::partials;
use super::{DeriveError, Wrt};
use crate::atoms::Atom;
use crate::ir::{Dim, Expr, ExprKind, Sel, Shape};

/// `∂⟨c, e⟩/∂wrt`, or `None` when `e` does not depend on `wrt` (the derivative is
/// identically zero). `c` has the shape of `e`.
pub fn grad(e: &Expr, wrt: Wrt, c: &Expr) -> Result<Option<Expr>, DeriveError> {
    let mut acc = None;
    back(e, wrt, c.clone(), &mut acc)?;
    Ok(acc)
}

fn back(e: &Expr, wrt: Wrt, c: Expr, acc: &mut Option<Expr>) -> Result<(), DeriveError> {
    if !wrt.occurs_in(e) {
        return Ok(());
    }
    if wrt.is(e) {
        *acc = add_opt(acc.take(), Some(c));
        return Ok(());
    }
    if let Some(nested) = partials::nest_extremum(e) {
        return back(&nested, wrt, c, acc);
    }
    if let Some(ds) = partials::elementwise(e) {
        // c̄ᵢ = sum_to(c̄ ⊙ ∂φ/∂aᵢ): the partial, then the adjoint of broadcasting
        for (a, d) in e.children().into_iter().zip(ds) {
            if let Some(d) = d {
                back(a, wrt, sum_to(mul(c.clone(), d), &a.shape), acc)?;
            }
        }
        return Ok(());
    }
    match &e.kind {
        // C = A B: Ā = C̄ Bᵀ, B̄ = Aᵀ C̄, with numpy's vector cases
        ExprKind::MatMul(l, r) => {
            let (a, b) = ((**l).clone(), (**r).clone());
            let (ca, cb) = match (a.shape.rank(), b.shape.rank()) {
                (2, 2) => (matmul(c.clone(), transpose(b)), matmul(transpose(a), c)),
                (2, _) => (outer(c.clone(), b), matmul(c, a)),
                (_, 2) => (matmul(b, c.clone()), outer(a, c)),
                _ => (mul(c.clone(), b), mul(c, a)),
            };
            back(l, wrt, ca, acc)?;
            back(r, wrt, cb, acc)
        }
        ExprKind::Transpose(a) => back(a, wrt, transpose(c), acc),
        ExprKind::Index { base, sel } => back(base, wrt, scatter(e, base, sel, c), acc),
        ExprKind::Atom { atom: a, args, axis } => atom_back(e, *a, args, *axis, wrt, c, acc),
        _ => Err(DeriveError::unsupported(e, "reverse mode")),
    }
}

/// The adjoint of `X[s₀, s₁]`: the cotangent put back where the entries came
/// from, written with selection matrices (rows of the identity), since the
/// selection is linear: `X[s₀, s₁] = E₀ X E₁ᵀ` gives `X̄ = E₀ᵀ C̄ E₁`. An index
/// `i` selects the row `eᵢ = eye(n)[i]` and drops the axis, so its adjoint is an
/// outer product instead. Columns are undone first, then rows.
fn scatter(e: &Expr, base: &Expr, sel: &[Sel], c: Expr) -> Expr {
    let span = e.span;
    let full = |s: Option<&Sel>| matches!(s, None | Some(Sel::Range { start: 0, end: None }));
    // rows of eye(n) picked by `s` on axis `axis` of the base; `len` the kept length
    let pick = |axis: usize, s: Sel, len: Option<Dim>| {
        let n = base.shape.0[axis];
        let eye = atom(Atom::Eye, Vec::new(), None, Shape::matrix(n, n), span);
        let shape = match (s, len) {
            (Sel::Range { .. }, Some(len)) => Shape::matrix(len, n),
            _ => Shape::vector(n),
        };
        mk(ExprKind::Index { base: Box::new(eye), sel: vec![s] }, shape, span)
    };
    // the kept axes' lengths, in order, from the index expression's own shape
    let mut kept = e.shape.0.iter().copied();
    let (s0, s1) = (sel.first(), sel.get(1));
    let len0 = if matches!(s0, Some(Sel::At(_))) { None } else { kept.next() };
    let len1 = kept.next();
    let d = match s1 {
        _ if base.shape.rank() < 2 || full(s1) => c,
        Some(&s @ Sel::At(_)) if len0.is_some() => outer(c, pick(1, s, None)),
        Some(&s @ Sel::At(_)) => mul(c, pick(1, s, None)),
        Some(&s) => matmul(c, pick(1, s, len1)),
        None => c,
    };
    match s0 {
        _ if full(s0) => d,
        Some(&s @ Sel::At(_)) if base.shape.rank() == 2 => outer(pick(0, s, None), d),
        Some(&s @ Sel::At(_)) => mul(d, pick(0, s, None)),
        Some(&s) => matmul(transpose(pick(0, s, len0)), d),
        None => d,
    }
}

/// The adjoints of atoms that are not elementwise: reductions, norms, quadratic
/// forms and the internal shape operations.
fn atom_back(
    e: &Expr,
    at: Atom,
    args: &[Expr],
    axis: Option<u8>,
    wrt: Wrt,
    c: Expr,
    acc: &mut Option<Expr>,
) -> Result<(), DeriveError> {
    let x = &args[0];
    let span = e.span;
    let k = |v: f64| konst(v, span);
    let y = || e.clone();
    let arg = |d: Expr, acc: &mut Option<Expr>| back(x, wrt, d, acc);
    if let Some(w) = partials::reduction_weight(e) {
        return arg(mul(spread(c, axis, &x.shape), w), acc);
    }
    match at {
        Atom::Sum => arg(spread(c, axis, &x.shape), acc),
        Atom::Mean => arg(div(spread(c, axis, &x.shape), count(&x.shape, axis, span)), acc),
        // d tr X = I : dX
        Atom::Trace => arg(mul(c, atom(Atom::Eye, Vec::new(), None, x.shape.clone(), span)), acc),
        // diag is its own adjoint (vector ↔ diagonal)
        Atom::Diag => arg(atom(Atom::Diag, vec![c], None, x.shape.clone(), span), acc),
        // d xᵀPx = (P + Pᵀ)x · dx + x xᵀ : dP
        Atom::QuadForm => {
            let p = &args[1];
            let sym = add(p.clone(), transpose(p.clone()));
            arg(mul(c.clone(), matmul(sym, x.clone())), acc)?;
            back(p, wrt, mul(c, outer(x.clone(), x.clone())), acc)
        }
        // d Σx²/t = 2x/t · dx − Σx²/t² dt
        Atom::QuadOverLin => {
            let t = &args[1];
            arg(mul(c.clone(), div(mul(k(2.0), x.clone()), t.clone())), acc)?;
            back(t, wrt, neg(mul(c, div(y(), t.clone()))), acc)
        }
        // spread and sum_to are each other's adjoints; sum along rows for axis 1
        Atom::Spread if axis == Some(1) => arg(reduce(Atom::Sum, c, axis), acc),
        Atom::Spread => arg(sum_to(c, &x.shape), acc),
        Atom::SumTo => arg(spread(c, None, &x.shape), acc),
        // each part's cotangent is its slice of C̄ (concatenated lengths are literals)
        Atom::Hstack | Atom::Vstack => {
            let mut offset = 0;
            for (k, part) in args.iter().enumerate() {
                let sel = match (at, part.shape.rank()) {
                    (Atom::Vstack, 1) => vec![Sel::At(k as u64)],
                    (_, rank) => {
                        let axis = if at == Atom::Hstack && rank == 2 { 1 } else { 0 };
                        let Dim::Fixed(len) = part.shape.0[axis] else {
                            return Err(DeriveError::unsupported(e, "reverse mode"));
                        };
                        let slice = Sel::Range { start: offset, end: Some(offset + len) };
                        offset += len;
                        if axis == 1 {
                            vec![Sel::Range { start: 0, end: None }, slice]
                        } else {
                            vec![slice]
                        }
                    }
                };
                let piece = mk(ExprKind::Index { base: Box::new(c.clone()), sel }, part.shape.clone(), span);
                back(part, wrt, piece, acc)?;
            }
            Ok(())
        }
        // d(a bᵀ): ā = C̄ b, b̄ = C̄ᵀ a = a C̄
        Atom::Outer => {
            let b = &args[1];
            arg(matmul(c.clone(), b.clone()), acc)?;
            back(b, wrt, matmul(x.clone(), c), acc)
        }
        _ => Err(DeriveError::unsupported(e, "reverse mode")),
    }
}
