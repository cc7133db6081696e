//! Constructors for derived expressions: each computes its result's shape by the
//! same rules as the checker (numpy broadcasting, numpy `@`), so every derived
//! expression is as well-shaped as the node it came from.
//!
//! They do no simplification beyond dropping identities of *shape* (a `sum_to`
//! or `spread` to the shape a value already has): algebra is egg's job
//! ([`super::simplify`]).

use crate::atoms::Atom;
use crate::diag::Span;
use crate::ir::{Arith, Dim, Expr, ExprKind, Shape};

pub(crate) fn mk(kind: ExprKind, shape: Shape, span: Span) -> Expr {
    Expr { kind, shape, span }
}

pub(crate) fn konst(c: f64, span: Span) -> Expr {
    mk(ExprKind::Const(c), Shape::scalar(), span)
}

/// numpy broadcasting of two shapes that the checker already accepted.
fn broadcast(a: &Shape, b: &Shape) -> Shape {
    a.broadcast(b).unwrap_or_else(|| panic!("internal: derived shapes {a:?} and {b:?} do not broadcast"))
}

pub(crate) fn binary(op: Arith, a: Expr, b: Expr) -> Expr {
    let (shape, span) = (broadcast(&a.shape, &b.shape), a.span);
    mk(ExprKind::Binary { op, lhs: Box::new(a), rhs: Box::new(b) }, shape, span)
}

pub(crate) fn add(a: Expr, b: Expr) -> Expr {
    binary(Arith::Add, a, b)
}

pub(crate) fn sub(a: Expr, b: Expr) -> Expr {
    binary(Arith::Sub, a, b)
}

pub(crate) fn mul(a: Expr, b: Expr) -> Expr {
    binary(Arith::Mul, a, b)
}

pub(crate) fn div(a: Expr, b: Expr) -> Expr {
    binary(Arith::Div, a, b)
}

pub(crate) fn neg(a: Expr) -> Expr {
    let (shape, span) = (a.shape.clone(), a.span);
    mk(ExprKind::Neg(Box::new(a)), shape, span)
}

pub(crate) fn pow(a: Expr, p: f64) -> Expr {
    let (shape, span) = (a.shape.clone(), a.span);
    mk(ExprKind::Pow { base: Box::new(a), p }, shape, span)
}

/// numpy `@` on shapes: `(m,k)@(k,n) → (m,n)`, `(m,k)@(k) → (m)`, `(k)@(k,n) → (n)`,
/// `(k)@(k) → ()`.
pub(crate) fn matmul_shape(a: &Shape, b: &Shape) -> Shape {
    let mut out: Vec<Dim> = a.0[..a.rank().saturating_sub(1)].to_vec();
    out.extend_from_slice(b.0.get(1..).unwrap_or(&[]));
    Shape(out)
}

pub(crate) fn matmul(a: Expr, b: Expr) -> Expr {
    let (shape, span) = (matmul_shape(&a.shape, &b.shape), a.span);
    mk(ExprKind::MatMul(Box::new(a), Box::new(b)), shape, span)
}

/// `aᵀ`; the identity on vectors and scalars (numpy), so none is built for them.
pub(crate) fn transpose(a: Expr) -> Expr {
    if a.shape.rank() < 2 {
        return a;
    }
    let (shape, span) = (a.shape.transpose(), a.span);
    mk(ExprKind::Transpose(Box::new(a)), shape, span)
}

pub(crate) fn atom(atom: Atom, args: Vec<Expr>, axis: Option<u8>, shape: Shape, span: Span) -> Expr {
    mk(ExprKind::Atom { atom, args, axis }, shape, span)
}

/// An elementwise atom of one argument.
pub(crate) fn apply(a: Atom, x: Expr) -> Expr {
    let (shape, span) = (x.shape.clone(), x.span);
    atom(a, vec![x], None, shape, span)
}

/// An elementwise atom of two broadcast arguments (`ge`, `maximum`, …).
pub(crate) fn apply2(a: Atom, x: Expr, y: Expr) -> Expr {
    let (shape, span) = (broadcast(&x.shape, &y.shape), x.span);
    atom(a, vec![x, y], None, shape, span)
}

/// `a bᵀ` for vectors `a`, `b`.
pub(crate) fn outer(a: Expr, b: Expr) -> Expr {
    let shape = Shape::matrix(a.shape.0[0], b.shape.0[0]);
    let span = a.span;
    atom(Atom::Outer, vec![a, b], None, shape, span)
}

/// `sum(x, axis)` (or `mean`) with the reduction's shape rule.
pub(crate) fn reduce(a: Atom, x: Expr, axis: Option<u8>) -> Expr {
    let shape = match (axis, x.shape.0.as_slice()) {
        (Some(ax @ (0 | 1)), [m, n]) => Shape::vector(if ax == 0 { *n } else { *m }),
        _ => Shape::scalar(),
    };
    let span = x.span;
    atom(a, vec![x], axis, shape, span)
}

/// `spread(c, axis)` to `shape`: the adjoint of `sum(·, axis)` from `shape`.
pub(crate) fn spread(c: Expr, axis: Option<u8>, shape: &Shape) -> Expr {
    if c.shape == *shape {
        return c;
    }
    let axis = axis.filter(|&ax| ax == 1 && shape.rank() == 2);
    let span = c.span;
    atom(Atom::Spread, vec![c], axis, shape.clone(), span)
}

/// `sum_to(c)` to `shape`: the adjoint of broadcasting a value of `shape`.
pub(crate) fn sum_to(c: Expr, shape: &Shape) -> Expr {
    if c.shape == *shape {
        return c;
    }
    let span = c.span;
    atom(Atom::SumTo, vec![c], None, shape.clone(), span)
}

/// A value of `shape` filled with zeros (`zeros(m, n)`, or `0` for a scalar).
pub(crate) fn zeros(shape: &Shape, span: Span) -> Expr {
    if shape.is_scalar() {
        return konst(0.0, span);
    }
    atom(Atom::Zeros, Vec::new(), None, shape.clone(), span)
}

/// The number of entries a reduction along `axis` combines, as an expression of
/// dimension sizes (`mean`'s divisor).
pub(crate) fn count(shape: &Shape, axis: Option<u8>, span: Span) -> Expr {
    let dims: Vec<Dim> = match axis {
        Some(ax) if shape.rank() == 2 => vec![shape.0[ax as usize]],
        _ => shape.0.clone(),
    };
    let factor = |d: Dim| match d {
        Dim::Fixed(v) => konst(v as f64, span),
        Dim::Named(id) => mk(ExprKind::Dim(id), Shape::scalar(), span),
    };
    dims.into_iter().map(factor).reduce(mul).unwrap_or_else(|| konst(1.0, span))
}

/// `a + b` where either may be a structural zero (`None`).
pub(crate) fn add_opt(a: Option<Expr>, b: Option<Expr>) -> Option<Expr> {
    match (a, b) {
        (Some(a), Some(b)) => Some(add(a, b)),
        (a, b) => a.or(b),
    }
}
