//! The objective, in minimisation form, as `½xᵀPx + qᵀx + c0`.
//!
//! Convex quadratic terms (`sum_squares`, `square`, `x^2`, `quad_form`,
//! `quad_over_lin` by data, `huber`) go straight into P, so a least-squares or
//! OptNet node becomes a QP rather than an SOCP with epigraph cones; every other
//! term is reduced to its epigraph (or hypograph) and enters linearly. The walk
//! carries a weight per entry: the objective is Σ wᵢ eᵢ over the entries of e.

use super::affine::{Aff, Lin};
use super::builder::Sink;
use super::reduce::{Dir, Reducer};
use super::scalar::{Data, Scalar, Test};
use super::CanonError;
use crate::atoms::Atom;
use crate::dcp::Mono;
use crate::eval;
use crate::ir::{Arith, Expr, ExprKind};

impl<K: Sink> Reducer<'_, K> {
    fn shape_of(&self, e: &Expr) -> Vec<usize> {
        eval::concrete(&e.shape, self.env.dims)
    }

    /// Adds Σ wᵢ eᵢ to the objective; `w` has `e`'s (concrete) shape.
    pub fn objective(&mut self, e: &Expr, w: &Data<K::S>) -> Result<(), CanonError> {
        let one = K::S::from(1.0);
        if e.is_data() {
            let v = self.data(e)?.broadcast_to(&w.shape);
            let total = v.data.iter().zip(&w.data).fold(K::S::from(0.0), |acc, (&a, &b)| acc + a * b);
            self.b.linear(&Lin::constant(total), one);
            return Ok(());
        }
        let nonneg = K::S::all(&w.data, Test::Ge0);
        match &e.kind {
            ExprKind::Binary { op: op @ (Arith::Add | Arith::Sub), lhs, rhs } => {
                self.objective(lhs, &w.unbroadcast(&self.shape_of(lhs)))?;
                let wr = w.unbroadcast(&self.shape_of(rhs));
                let wr = if *op == Arith::Sub { negate(&wr) } else { wr };
                self.objective(rhs, &wr)
            }
            ExprKind::Neg(a) => self.objective(a, &negate(w)),
            ExprKind::Binary { op: Arith::Mul, lhs, rhs } if lhs.is_data() || rhs.is_data() => {
                let (d, x) = if lhs.is_data() { (lhs, rhs) } else { (rhs, lhs) };
                let t = self.data(d)?;
                let wt = w.zip(&t, |a, b| a * b).ok_or_else(|| shape_err(e))?;
                self.objective(x, &wt.unbroadcast(&self.shape_of(x)))
            }
            ExprKind::Binary { op: Arith::Div, lhs, rhs } if rhs.is_data() => {
                let t = self.data(rhs)?;
                if K::S::any(&t.data, Test::Eq0) {
                    return Err(CanonError { message: "division by zero".into(), span: Some(rhs.span) });
                }
                let wt = w.zip(&t, |a, b| a / b).ok_or_else(|| shape_err(e))?;
                self.objective(lhs, &wt.unbroadcast(&self.shape_of(lhs)))
            }
            ExprKind::Atom { atom: atom @ (Atom::Sum | Atom::Mean), args, axis } => {
                let x = &args[0];
                let xs = self.shape_of(x);
                let count = match (axis, xs.as_slice()) {
                    (Some(0), [m, _]) => *m,
                    (Some(_), [_, n]) => *n,
                    _ => xs.iter().product(),
                }
                .max(1) as f64;
                let scale = if *atom == Atom::Mean { 1.0 / count } else { 1.0 };
                // Spread each output weight over the entries it sums.
                let full = match (axis, xs.as_slice()) {
                    (Some(0), [m, n]) => {
                        Data { shape: xs.clone(), data: (0..m * n).map(|k| w.data[k % n] * scale).collect() }
                    }
                    (Some(_), [m, n]) => {
                        Data { shape: xs.clone(), data: (0..m * n).map(|k| w.data[k / n] * scale).collect() }
                    }
                    _ => Data::filled(xs.clone(), w.data[0] * scale),
                };
                self.objective(x, &full)
            }
            ExprKind::Atom { atom: Atom::SumSquares, args, .. } if nonneg => {
                let x = self.quadratic_arg(&args[0])?;
                self.note("sum_squares in the objective: xᵀx into P");
                for xi in &x.e {
                    self.b.product(xi, xi, w.data[0]);
                }
                Ok(())
            }
            ExprKind::Atom { atom: Atom::Square, args, .. } if nonneg => {
                let x = self.quadratic_arg(&args[0])?;
                let wb = w.broadcast_to(&x.shape);
                for (xi, wi) in x.e.iter().zip(&wb.data) {
                    self.b.product(xi, xi, *wi);
                }
                Ok(())
            }
            ExprKind::Pow { base, p } if *p == 2.0 && nonneg => {
                let x = self.quadratic_arg(base)?;
                let wb = w.broadcast_to(&x.shape);
                for (xi, wi) in x.e.iter().zip(&wb.data) {
                    self.b.product(xi, xi, *wi);
                }
                Ok(())
            }
            ExprKind::Atom { atom: Atom::QuadForm, args, .. }
                if nonneg && self.analysis(&args[0]).curvature.is_affine() =>
            {
                let x = self.canon(&args[0], Dir::Exact)?;
                let q = self.data(&args[1])?;
                let n = x.len();
                for i in 0..n {
                    for j in 0..n {
                        let qij = q.data[i * n + j];
                        if !qij.is_structural_zero() {
                            self.b.product(&x.e[i], &x.e[j], w.data[0] * qij);
                        }
                    }
                }
                Ok(())
            }
            ExprKind::Atom { atom: Atom::QuadOverLin, args, .. } if nonneg && args[1].is_data() => {
                let y = self.data(&args[1])?.as_scalar().unwrap_or(K::S::from(f64::NAN));
                if !K::S::all(&[y], Test::Gt0) {
                    return Err(CanonError {
                        message: format!("`quad_over_lin` needs a positive denominator, found {}", y.value()),
                        span: Some(args[1].span),
                    });
                }
                let x = self.quadratic_arg(&args[0])?;
                for xi in &x.e {
                    self.b.product(xi, xi, w.data[0] / y);
                }
                Ok(())
            }
            ExprKind::Atom { atom: Atom::Huber, args, .. } if nonneg => {
                let x = self.quadratic_arg(&args[0])?;
                let m = self.data(&args[1])?.as_scalar().unwrap_or(one);
                let wb = w.broadcast_to(&x.shape);
                self.note("huber in the objective: u² into P, 2M·v linear, v ≥ |x − u|");
                for (xi, wi) in x.e.iter().zip(&wb.data) {
                    let (u, v) = self.huber_rows(xi);
                    self.b.product(&u, &u, *wi);
                    self.b.linear(&v, m * *wi * 2.0);
                }
                Ok(())
            }
            _ => {
                let dir = if nonneg {
                    Dir::Upper
                } else if K::S::all(&w.data, Test::Le0) {
                    Dir::Lower
                } else {
                    Dir::Exact
                };
                let a: Aff<K::S> = self.canon(e, dir)?;
                let wb = w.broadcast_to(&a.shape);
                for (l, wi) in a.e.iter().zip(&wb.data) {
                    self.b.linear(l, *wi);
                }
                Ok(())
            }
        }
    }

    /// The argument of a square: exact when affine, otherwise its bound in the
    /// direction the square's sign-dependent monotonicity allows.
    fn quadratic_arg(&mut self, a: &Expr) -> Result<Aff<K::S>, CanonError> {
        let an = self.analysis(a);
        if an.curvature.is_affine() {
            return self.canon(a, Dir::Exact);
        }
        match Mono::by_sign(an.sign) {
            Mono::Increasing => self.canon(a, Dir::Upper),
            Mono::Decreasing => self.canon(a, Dir::Lower),
            Mono::None => Err(CanonError {
                message: "the square of a non-affine expression of unknown sign".into(),
                span: Some(a.span),
            }),
        }
    }
}

fn negate<S: Scalar>(w: &Data<S>) -> Data<S> {
    w.map(|x| -x)
}

fn shape_err(e: &Expr) -> CanonError {
    CanonError { message: "shapes do not agree at run time".into(), span: Some(e.span) }
}
