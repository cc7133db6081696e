//! The Hessian `∇²_yy L` in one sweep, as expressions: forward mode over the
//! gradient expression `L_y` with all `d` tangent directions of a vector
//! variable at once (vector-mode forward-over-reverse), each tangent kept in a
//! structured form so that no `d`-fold tensor is ever built.
//!
//! The tangent of an expression `e` along the directions `v ∈ ℝᵈ` of one
//! variable is a linear map `v ↦ ė`, written as a sum of [`Term`]s:
//!
//! - `Scaled(C)`: `ė = C ⊙ v`, both broadcast to `e`'s shape by numpy's rule
//!   (`v` along the last axis): what elementwise operations on `y` give;
//! - `Rows(A, B)`: `ė = A ⊙ (B v)`, with `B` an `m × d` matrix and `u = B v`
//!   laid along `e`'s first axis, or `B` a `d`-vector and `u` a scalar: what a
//!   reduction across `y`'s axis gives (`sum(·, axis = 1)`, `@`).
//!
//! The chain rule maps these forms to themselves: multiplying by a partial
//! scales `C` or `A`; `sum(·, axis = 0)` of `Scaled(C)` is `Scaled(Σᵢ Cᵢ)`, of
//! `Rows(A, B)` it is `Rows(1, AᵀB)`, one matrix product. At the variable's
//! gradient (`e` of shape `[dᵢ]`) the block `∂L_yᵢ/∂y_k` is read off:
//! `diag(C)`, `A ⊙ B` (rows scaled) or `outer(A, B)`. So a separable objective
//! gives a diagonal, a sum over rows of functions of `‖xᵢ − y‖²` gives
//! `diag(Σ aᵢ) + Zᵀ diag(b) Z` (one GEMM), and the result is an ordinary
//! expression: a kernel program every back end runs.
//!
//! A node whose expressions leave these forms (matrix variables, indexing, a
//! transpose of a tangent, an atom without a rule here) has no Hessian
//! expression, and its Hessian is assembled from Hessian–vector products.

use super::build::{add, atom, count, konst, matmul, mul, reduce, spread, transpose, zeros};
use super::partials;
use super::Wrt;
use crate::atoms::Atom;
use crate::ir::{Arith, Dim, Expr, ExprKind, Shape};

/// One term of a structured tangent (see the module documentation).
#[derive(Clone, Debug)]
enum Term {
    /// `ė = C ⊙ v`, numpy-broadcast to `e`'s shape.
    Scaled(Expr),
    /// `ė = A ⊙ u`, `u = B v` along `e`'s first axis (`B` a matrix) or a scalar (`B` a vector).
    Rows(Expr, Expr),
}

/// The tangent of an expression of `shape`: the sum of `terms`.
#[derive(Clone, Debug)]
struct Tangent {
    shape: Shape,
    terms: Vec<Term>,
}

/// The expression leaves the structured forms.
struct Unstructured;

type Res = Result<Option<Tangent>, Unstructured>;

fn is_one(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Const(c) if c == 1.0)
}

/// `a ⊙ b`, without literal unit factors.
fn times(a: Expr, b: Expr) -> Expr {
    match (is_one(&a), is_one(&b)) {
        (true, _) if b.shape.rank() >= a.shape.rank() => b,
        (_, true) if a.shape.rank() >= b.shape.rank() => a,
        _ => mul(a, b),
    }
}

/// `c` broadcast to `shape`.
fn full(c: Expr, shape: &Shape) -> Expr {
    spread(c, None, shape)
}

/// `r` with `e = spread(r, axis = 1)` (a vector, or a scalar) when `e`, of a
/// matrix shape, is constant along its rows: a product of row spreads and
/// scalars, as the partials of a function of `sum(·, axis = 1)` are. Summing
/// such a coefficient down the columns then costs `n`, not `n × d`.
fn row_vector(e: &Expr) -> Option<Expr> {
    if e.shape.is_scalar() {
        return Some(e.clone());
    }
    match &e.kind {
        ExprKind::Atom { atom: Atom::Spread, args, axis: Some(1) }
            if e.shape.rank() == 2 && args[0].shape.rank() == 1 =>
        {
            Some(args[0].clone())
        }
        ExprKind::Neg(a) => row_vector(a).map(super::build::neg),
        ExprKind::Binary { op: op @ (Arith::Mul | Arith::Div), lhs, rhs } => {
            Some(super::build::binary(*op, row_vector(lhs)?, row_vector(rhs)?))
        }
        _ => None,
    }
}

/// `Σ` of `a` broadcast to `shape`, along `axis` (or all of it).
fn sum_of(a: Expr, shape: &Shape, axis: Option<u8>) -> Expr {
    if a.shape.is_scalar() {
        let span = a.span;
        return times(a, count(shape, axis, span));
    }
    if let (2, Some(0), Some(r)) = (shape.rank(), axis, row_vector(&a)) {
        return reduce(Atom::Sum, r, None);
    }
    reduce(Atom::Sum, full(a, shape), axis)
}

/// `Σ` of `a` broadcast to `shape`, along `axis` (or all of it), of the reduced
/// shape even when `a` is a scalar (a matrix product's operand).
fn sum_full(a: Expr, shape: &Shape, axis: Option<u8>) -> Expr {
    if let (2, Some(0), Some(r)) = (shape.rank(), axis, row_vector(&a)) {
        return full(reduce(Atom::Sum, r, None), &Shape::vector(shape.0[1]));
    }
    reduce(Atom::Sum, full(a, shape), axis)
}

/// `a` spread along `shape`'s columns (`aᵢⱼ = aᵢ`), a scalar kept as it is.
fn spread_columns(a: Expr, from: &Shape, to: &Shape) -> Expr {
    if a.shape.is_scalar() {
        return a;
    }
    spread(full(a, from), Some(1), to)
}

/// Whether `u = B v` is a scalar.
fn scalar_u(b: &Expr) -> bool {
    b.shape.rank() == 1
}

impl Tangent {
    fn new(shape: Shape, terms: Vec<Term>) -> Tangent {
        Tangent { shape, terms }
    }

    /// `p ⊙ ė` (or `ė` alone) broadcast to `to`, `p` independent of the directions.
    fn scale(self, p: Option<&Expr>, to: &Shape) -> Result<Tangent, Unstructured> {
        let from = &self.shape;
        let by = |c: Expr| match p {
            Some(p) => times(c, p.clone()),
            None => c,
        };
        let terms = self
            .terms
            .into_iter()
            .map(|t| match t {
                Term::Scaled(c) => {
                    let fits = from.rank() >= 1 && to.0.last() == from.0.last();
                    fits.then(|| Term::Scaled(by(c))).ok_or(Unstructured)
                }
                Term::Rows(a, b) => {
                    let fits = scalar_u(&b) || (from.rank() == to.rank() && from.0.first() == to.0.first());
                    fits.then(|| Term::Rows(by(a), b)).ok_or(Unstructured)
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Tangent::new(to.clone(), terms))
    }

    /// Each term mapped by `f` (given the tangent's shape), into shape `to`.
    fn map(self, to: Shape, f: impl Fn(Term, &Shape) -> Result<Term, Unstructured>) -> Result<Tangent, Unstructured> {
        let from = self.shape;
        let terms = self.terms.into_iter().map(|t| f(t, &from)).collect::<Result<_, _>>()?;
        Ok(Tangent::new(to, terms))
    }

    /// The tangent of `sum(e, axis)`.
    fn sum(self, axis: Option<u8>) -> Result<Tangent, Unstructured> {
        let [m, k] = self.shape.0[..] else { return self.sum_all() };
        match axis {
            // Σᵢ Cᵢⱼ vⱼ;  Σᵢ Aᵢⱼ (Bv)ᵢ = (AᵀB v)ⱼ
            Some(0) => self.map(Shape::vector(k), |t, s| {
                Ok(match t {
                    Term::Scaled(c) => Term::Scaled(sum_of(c, s, Some(0))),
                    Term::Rows(a, b) if scalar_u(&b) => Term::Rows(sum_of(a, s, Some(0)), b),
                    Term::Rows(a, b) => Term::Rows(konst(1.0, b.span), matmul(transpose(full(a, s)), b)),
                })
            }),
            // Σⱼ Cᵢⱼ vⱼ = (C v)ᵢ;  Σⱼ Aᵢⱼ uᵢ
            Some(1) => self.map(Shape::vector(m), |t, s| {
                Ok(match t {
                    Term::Scaled(c) => Term::Rows(konst(1.0, c.span), full(c, s)),
                    Term::Rows(a, b) => Term::Rows(sum_of(a, s, Some(1)), b),
                })
            }),
            _ => self.sum_all(),
        }
    }

    /// The tangent of `sum(e)`, a scalar.
    fn sum_all(self) -> Result<Tangent, Unstructured> {
        self.map(Shape::scalar(), |t, s| {
            Ok(match t {
                Term::Scaled(c) => {
                    let b = if s.rank() == 2 { sum_full(c, s, Some(0)) } else { full(c, s) };
                    Term::Rows(konst(1.0, b.span), b)
                }
                Term::Rows(a, b) if scalar_u(&b) => Term::Rows(sum_of(a, s, None), b),
                Term::Rows(a, b) => {
                    let weights = if s.rank() == 2 { sum_full(a, s, Some(1)) } else { full(a, s) };
                    Term::Rows(konst(1.0, b.span), matmul(weights, b))
                }
            })
        })
    }

    /// The tangent of `sum_to(e, to)`, the adjoint of broadcasting.
    fn sum_to(self, to: &Shape) -> Result<Tangent, Unstructured> {
        match (self.shape.rank(), to.rank()) {
            _ if self.shape == *to => Ok(self),
            (_, 0) => self.sum_all(),
            (2, 1) if self.shape.0[1] == to.0[0] => self.sum(Some(0)),
            _ => Err(Unstructured),
        }
    }

    /// The tangent of `spread(e, axis = 1)` from `[m]` to `to = [m, k]`.
    fn spread_columns(self, to: &Shape) -> Result<Tangent, Unstructured> {
        let to2 = to.clone();
        self.map(to.clone(), move |t, s| {
            Ok(match t {
                Term::Scaled(c) => {
                    let d = s.0[0];
                    let span = c.span;
                    let eye = atom(Atom::Eye, Vec::new(), None, Shape::matrix(d, d), span);
                    Term::Rows(spread(full(c, s), Some(1), &to2), eye)
                }
                Term::Rows(a, b) => Term::Rows(spread_columns(a, s, &to2), b),
            })
        })
    }

    /// The tangent of `ė @ w`, `w` independent of the directions.
    fn matmul_value(self, w: &Expr) -> Result<Tangent, Unstructured> {
        let s = self.shape.clone();
        match (s.rank(), w.shape.rank()) {
            (1, 1) => self.scale(Some(w), &s)?.sum_all(),
            (2, 1) => self.scale(Some(w), &s)?.sum(Some(1)),
            // ėₚ = Σⱼ ėⱼ Wⱼₚ
            (1, 2) => self.map(Shape::vector(w.shape.0[1]), |t, s| {
                let wt = transpose(w.clone());
                Ok(match t {
                    Term::Scaled(c) => Term::Rows(konst(1.0, c.span), times(wt, full(c, s))),
                    Term::Rows(a, b) if scalar_u(&b) => Term::Rows(matmul(full(a, s), w.clone()), b),
                    Term::Rows(a, b) => Term::Rows(konst(1.0, b.span), matmul(times(wt, full(a, s)), b)),
                })
            }),
            _ => Err(Unstructured),
        }
    }

    /// The tangent of `M @ ė`, `M` independent of the directions.
    fn value_matmul(self, m: &Expr) -> Result<Tangent, Unstructured> {
        let s = self.shape.clone();
        match (m.shape.rank(), s.rank()) {
            (1, 1) => self.scale(Some(m), &s)?.sum_all(),
            // (M (C ⊙ v))ᵢ = ((M ⊙ C) v)ᵢ
            (2, 1) => self.map(Shape::vector(m.shape.0[0]), |t, s| {
                Ok(match t {
                    Term::Scaled(c) => Term::Rows(konst(1.0, c.span), times(m.clone(), full(c, s))),
                    Term::Rows(a, b) if scalar_u(&b) => Term::Rows(matmul(m.clone(), full(a, s)), b),
                    Term::Rows(a, b) => Term::Rows(konst(1.0, b.span), matmul(times(m.clone(), full(a, s)), b)),
                })
            }),
            // (w ė)ₚ = Σⱼ wⱼ ėⱼₚ
            (1, 2) => {
                let column = spread(m.clone(), Some(1), &s);
                self.scale(Some(&column), &s)?.sum(Some(0))
            }
            _ => Err(Unstructured),
        }
    }
}

fn plus(a: Option<Tangent>, b: Option<Tangent>) -> Option<Tangent> {
    match (a, b) {
        (Some(mut a), Some(b)) => {
            a.terms.extend(b.terms);
            Some(a)
        }
        (a, b) => a.or(b),
    }
}

/// The structured tangent of `e` along the directions of vector variable `wrt`.
fn tangent(e: &Expr, wrt: Wrt) -> Res {
    if !wrt.occurs_in(e) {
        return Ok(None);
    }
    if wrt.is(e) {
        return Ok(Some(Tangent::new(e.shape.clone(), vec![Term::Scaled(konst(1.0, e.span))])));
    }
    if let Some(nested) = partials::nest_extremum(e) {
        return tangent(&nested, wrt);
    }
    if let Some(ds) = partials::elementwise(e) {
        let mut sum = None;
        for (a, p) in e.children().into_iter().zip(ds) {
            if let (Some(p), Some(da)) = (p, tangent(a, wrt)?) {
                sum = plus(sum, Some(da.scale(Some(&p), &e.shape)?));
            }
        }
        return Ok(sum);
    }
    let out = match &e.kind {
        ExprKind::MatMul(l, r) => {
            let dl = tangent(l, wrt)?.map(|t| t.matmul_value(r)).transpose()?;
            let dr = tangent(r, wrt)?.map(|t| t.value_matmul(l)).transpose()?;
            plus(dl, dr)
        }
        ExprKind::Transpose(a) if a.shape.rank() < 2 => tangent(a, wrt)?,
        ExprKind::Atom { atom: at, args, axis } => {
            let x = &args[0];
            let dx = tangent(x, wrt)?;
            if let Some(w) = partials::reduction_weight(e) {
                return dx.map(|t| t.scale(Some(&w), &x.shape)?.sum(*axis)).transpose();
            }
            if *at == Atom::Outer {
                return outer(e, x, &args[1], dx, tangent(&args[1], wrt)?);
            }
            let Some(dx) = dx else { return Err(Unstructured) };
            match at {
                Atom::Sum => Some(dx.sum(*axis)?),
                Atom::Mean => {
                    let n = count(&x.shape, *axis, e.span);
                    let t = dx.sum(*axis)?;
                    let shape = t.shape.clone();
                    Some(t.scale(Some(&super::build::div(konst(1.0, e.span), n)), &shape)?)
                }
                Atom::SumTo => Some(dx.sum_to(&e.shape)?),
                Atom::Spread if *axis == Some(1) && e.shape.rank() == 2 && x.shape.rank() == 1 => {
                    Some(dx.spread_columns(&e.shape)?)
                }
                Atom::Spread => Some(dx.scale(None, &e.shape)?),
                _ => return Err(Unstructured),
            }
        }
        _ => return Err(Unstructured),
    };
    Ok(out)
}

/// The tangent of `outer(a, b) = spread(a, axis = 1) ⊙ b`: `outer(ȧ, b) + outer(a, ḃ)`.
fn outer(e: &Expr, a: &Expr, b: &Expr, da: Option<Tangent>, db: Option<Tangent>) -> Res {
    let via_a = da.map(|t| t.spread_columns(&e.shape)?.scale(Some(b), &e.shape)).transpose()?;
    let column = spread(a.clone(), Some(1), &e.shape);
    let via_b = db.map(|t| t.scale(Some(&column), &e.shape)).transpose()?;
    Ok(plus(via_a, via_b))
}

/// The block `∂g/∂y_k` (`g` of shape `[dᵢ]`, `y_k` of shape `[d_k]`) from the
/// tangent of `g` along `y_k`.
fn block(t: Option<Tangent>, rows: Dim, cols: Dim, like: &Expr) -> Result<Expr, Unstructured> {
    let shape = Shape::matrix(rows, cols);
    let Some(t) = t else { return Ok(zeros(&shape, like.span)) };
    let s = Shape::vector(rows);
    let mut out: Option<Expr> = None;
    for term in t.terms {
        let b = match term {
            Term::Scaled(c) if rows == cols => {
                let span = c.span;
                atom(Atom::Diag, vec![full(c, &s)], None, shape.clone(), span)
            }
            Term::Scaled(_) => return Err(Unstructured),
            Term::Rows(a, b) if scalar_u(&b) => {
                let span = b.span;
                atom(Atom::Outer, vec![full(a, &s), b], None, shape.clone(), span)
            }
            Term::Rows(a, b) => times(spread_columns(a, &s, &shape), b),
        };
        out = Some(match out {
            Some(o) => add(o, b),
            None => b,
        });
    }
    Ok(out.unwrap_or_else(|| zeros(&shape, like.span)))
}

/// The blocks `∂(L_y)ᵢ/∂y_k` of the Hessian, row-major over the variables
/// `(i, k)`, from the gradient expressions `grad_l` (one per variable, of the
/// variables' `shapes`); `None` unless every variable is a vector and every
/// expression stays in the structured forms.
pub(crate) fn hessian_blocks(grad_l: &[&Expr], vars: &[(Wrt, &Shape)]) -> Option<Vec<Expr>> {
    if vars.iter().any(|(_, s)| s.rank() != 1) {
        return None;
    }
    let mut blocks = Vec::with_capacity(vars.len() * vars.len());
    for (g, (_, si)) in grad_l.iter().zip(vars) {
        for &(wrt, sk) in vars {
            let t = tangent(g, wrt).ok()?;
            blocks.push(block(t, si.0[0], sk.0[0], g).ok()?);
        }
    }
    Some(blocks)
}
