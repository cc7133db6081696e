//! The standard form's sensitivity to the parameters, for the backward pass.
//!
//! Implicit differentiation of the cone program (see `crate::diff`) ends with the
//! gradient, at fixed primal-dual solution `(x, z)` and adjoint `(w_x, w_z)`, of
//!
//! ```text
//! ψ(θ) = −w_xᵀ(P(θ)x + q(θ) + A(θ)ᵀz) − w_zᵀ(A(θ)x − b(θ)),
//! ```
//!
//! a scalar linear in the data `(P, q, A, b)`. Each membership `u ∈ K` with
//! `u(x) = aᵀx + c` is the row `−aᵀx + s = c`, so `A x − b = −u(x)` and
//! `A w = −aᵀw`; each objective term `w·a(x)·b(x)` or `w·l(x)` contributes its
//! directional derivative along `w_x` to `w_xᵀ(Px + q)`. This module runs the
//! same reductions that built the program, over [`Tracked`] numbers, accumulating
//! ψ term by term as the reductions report them; reverse mode over the tape then
//! gives ∂ψ/∂(every datum the reductions read), and reverse mode over the
//! evaluator ([`crate::eval::vjp`]) carries that to the parameters. No reduction
//! needs a derivative of its own, and any parameter dependence is allowed.
//!
//! The one exception is the matrix of `quad_form(x, Q)` in a constraint, reduced
//! to the rotated cone `t·1 ≥ ‖S x‖²` with `S = Q^½`. At a singular Q the root
//! moves like √ε when Q moves by ε in its null space, so no gradient passes
//! through S, while the solution moves linearly (the constraint gains
//! `ε(uᵀx)²`). The root's entries are therefore constants here, and Q enters ψ
//! through the constraint `g = xᵀQx − t ≤ 0` itself. Perturbing Q by dQ perturbs
//! the KKT conditions exactly as a linear objective term with gradient
//! `μ∇_y(xᵀdQ x) = 2μ Lᵀ dQ x` (L the linear part of x in the standard form's
//! variables) together with the shift `g + xᵀdQ x`, i.e. `t − xᵀdQ x` in the cone's
//! first two rows. ψ's gradients in q and b are `−w_x` and `w_z`, so
//!
//! ```text
//! ∂ψ/∂Q = −μ(a bᵀ + b aᵀ) − ν a aᵀ,   a = x(y*), b = L w_x, μ = z₀ + z₁, ν = w_z₀ + w_z₁,
//! ```
//!
//! with μ the constraint's multiplier (`z₀ + z₁` of the cone `(t + 1, t − 1, 2Sx)`)
//! and rows 0, 1 the cone's first two. It holds at every PSD Q, singular or not.

use super::affine::{Aff, Lin};
use super::builder::{Memberships, Sink, Tag};
use super::scalar::{Data, Scalar, TapeSession, Tracked};
use super::{reduce_node, CanonError};
use crate::eval::Bound;
use crate::eval::{self, Env, Tensor};
use crate::ir::{Expr, ExprKind, Node};

/// `∂ψ/∂θ` for every parameter of `node` (declaration order, parameter shapes),
/// ψ as above at the standard-form point `x`, multipliers `z` and adjoint
/// `(w_x, w_z)` (all in the layout [`super::canonicalize`] produced at `bound`).
pub fn data_vjp(
    node: &Node,
    bound: &Bound,
    x: &[f64],
    z: &[f64],
    wx: &[f64],
    wz: &[f64],
) -> Result<Vec<Tensor>, CanonError> {
    let _tape = TapeSession::start();
    let reduced = reduce_node(node, bound, &[], |n| Psi {
        rows: Memberships::new(n),
        psi: Tracked::from(0.0),
        x,
        wx,
        read: Vec::new(),
        quads: Vec::new(),
    })?;
    let sink = reduced.sink;
    if sink.rows.nvars != x.len() || z.len() != wz.len() {
        return Err(CanonError {
            message: format!(
                "the standard form changed between the forward and the backward pass ({} columns, {} expected)",
                sink.rows.nvars,
                x.len()
            ),
            span: Some(node.span),
        });
    }
    let mut psi = sink.psi;
    for (r, u) in sink.rows.rows() {
        psi = psi + u.along(wx) * z[r] + u.at(x) * wz[r];
    }
    let ranges = sink.rows.ranges();
    for quad in &sink.quads {
        let r = ranges[quad.cone.index()].start;
        let (mu, nu) = (z[r] + z[r + 1], wz[r] + wz[r + 1]);
        let a: Vec<f64> = quad.x.iter().map(|l| l.at(x)).collect();
        let b: Vec<f64> = quad.x.iter().map(|l| l.along(wx)).collect();
        let n = a.len();
        for (k, &qk) in quad.q.iter().enumerate() {
            let (i, j) = (k / n, k % n);
            let c = mu * (a[i] * b[j] + b[i] * a[j]) + nu * a[i] * a[j];
            psi = psi - qk * c;
        }
    }

    let leaves: Vec<Tracked> = sink.read.iter().flat_map(|(_, d)| d.data.iter().copied()).collect();
    let adjoint = Tracked::gradient(psi, &leaves);
    let mut grads: Vec<Tensor> = bound.params.iter().map(|p| Tensor::filled(p.shape.clone(), 0.0)).collect();
    let env = Env { params: &bound.params, vars: &[], dims: &bound.dims, syms: &[] };
    let mut offset = 0;
    for (e, d) in &sink.read {
        let cot = Tensor { shape: d.shape.clone(), data: adjoint[offset..offset + d.data.len()].to_vec() };
        offset += d.data.len();
        if cot.data.iter().all(|&v| v == 0.0) {
            continue;
        }
        let g = eval::vjp(e, &env, &cot).map_err(|x| CanonError { message: x.message, span: Some(x.span) })?;
        for (acc, gp) in grads.iter_mut().zip(g.params) {
            if let Some(gp) = gp {
                acc.data.iter_mut().zip(&gp.data).for_each(|(a, b)| *a += b);
            }
        }
    }
    Ok(grads)
}

/// The sink that accumulates ψ: the objective's part as the reductions report
/// terms, the rows' part at the end (they need their final row numbers).
struct Psi<'p> {
    rows: Memberships<Tracked>,
    /// −w_xᵀ(Px + q) so far.
    psi: Tracked,
    x: &'p [f64],
    wx: &'p [f64],
    /// Every parameter-dependent datum read, with its tracked entries.
    read: Vec<(Expr, Data<Tracked>)>,
    /// Every `t ≥ xᵀQx` with a parameter-dependent Q.
    quads: Vec<Quad>,
}

/// A constraint `t ≥ xᵀQx` (the rotated cone `cone`): x's affine forms in the
/// standard form's variables (their values), and Q's tracked entries (row-major).
struct Quad {
    x: Vec<Lin<f64>>,
    q: Vec<Tracked>,
    cone: Tag,
}

impl Quad {
    /// The record of `t ≥ xᵀQx` when Q depends on the parameters.
    fn of(x: &Aff<Tracked>, q: &Data<Tracked>, cone: Tag) -> Option<Quad> {
        let value =
            |l: &Lin<Tracked>| Lin { terms: l.terms.iter().map(|&(i, a)| (i, a.value())).collect(), c: l.c.value() };
        q.data.iter().any(|v| v.is_tracked()).then(|| Quad {
            x: x.e.iter().map(value).collect(),
            q: q.data.clone(),
            cone,
        })
    }
}

/// A parameter-dependent datum's entries as leaves on the tape, kept in `read`;
/// a constant one off the tape.
fn lift_tracked(read: &mut Vec<(Expr, Data<Tracked>)>, e: &Expr, t: Tensor) -> Data<Tracked> {
    if !mentions_param(e) {
        return Data { shape: t.shape, data: t.data.into_iter().map(Tracked::from).collect() };
    }
    let d = Data { shape: t.shape, data: t.data.into_iter().map(Tracked::leaf).collect() };
    read.push((e.clone(), d.clone()));
    d
}

impl Sink for Psi<'_> {
    type S = Tracked;

    fn memberships(&mut self) -> &mut Memberships<Tracked> {
        &mut self.rows
    }

    /// `w·l(x)` contributes `w·aᵀw_x` to `w_xᵀ(Px + q)`.
    fn linear(&mut self, l: &Lin<Tracked>, w: Tracked) {
        self.psi = self.psi - w * l.along(self.wx);
    }

    /// `w·a(x)·b(x)` contributes `w·(aᵀw_x·b(x) + a(x)·bᵀw_x)`.
    fn product(&mut self, a: &Lin<Tracked>, b: &Lin<Tracked>, w: Tracked) {
        let d = a.along(self.wx) * b.at(self.x) + a.at(self.x) * b.along(self.wx);
        self.psi = self.psi - w * d;
    }

    /// Kept for ψ's `−⟨Q, μ(a bᵀ + b aᵀ) + ν a aᵀ⟩` once the rows are placed.
    fn quad_form(&mut self, x: &Aff<Tracked>, q: &Data<Tracked>, cone: Tag) {
        self.quads.extend(Quad::of(x, q, cone));
    }

    fn lift(&mut self, e: &Expr, t: Tensor, _: Option<usize>) -> Data<Tracked> {
        lift_tracked(&mut self.read, e, t)
    }
}

/// Forward mode: `Ṙ = ∂R/∂θ · θ̇` for the KKT residual at fixed `(x, z)`,
///
/// ```text
/// R(θ) = (P(θ)x + q(θ) + A(θ)ᵀz,  A(θ)x − b(θ)),
/// ```
///
/// the right-hand side of `K [ẋ; ż] = −Ṙ` (`crate::diff`'s forward mode), flat
/// over the standard form's columns then rows. The reductions run over tracked
/// numbers as for [`data_vjp`], R's entries are tracked outputs, and one forward
/// sweep over the tape carries the data's tangents to them. A datum that is a
/// parameter takes its tangent; any other data expression, the sum over its
/// entries' evaluator VJPs paired with θ̇ (one VJP per entry). `quad_form`'s Q
/// enters as in [`data_vjp`]: through the constraint, `2μLᵀQa` in R's
/// stationarity rows and `aᵀQa` in the cone's first two rows.
pub fn data_jvp(node: &Node, bound: &Bound, x: &[f64], z: &[f64], tangents: &[Tensor]) -> Result<Vec<f64>, CanonError> {
    let _tape = TapeSession::start();
    let reduced = reduce_node(node, bound, &[], |n| Residual {
        rows: Memberships::new(n),
        grad: Vec::new(),
        x,
        read: Vec::new(),
        quads: Vec::new(),
    })?;
    let sink = reduced.sink;
    if sink.rows.nvars != x.len() || sink.rows.rows().count() != z.len() {
        return Err(CanonError {
            message: format!(
                "the standard form changed between the forward pass and its tangent ({} columns, {} expected)",
                sink.rows.nvars,
                x.len()
            ),
            span: Some(node.span),
        });
    }
    let zero = Tracked::from(0.0);
    let mut rx = sink.grad;
    rx.resize(x.len(), zero);
    let mut rz = vec![zero; z.len()];
    for (r, u) in sink.rows.rows() {
        // The row −aᵀx + s = c: A's row is −a, so Aᵀz gains −z_r a and Ax − b = −u(x).
        for &(j, a) in &u.terms {
            rx[j] = rx[j] - a * z[r];
        }
        rz[r] = -u.at(x);
    }
    let ranges = sink.rows.ranges();
    for quad in &sink.quads {
        let r = ranges[quad.cone.index()].start;
        let mu = z[r] + z[r + 1];
        let a: Vec<f64> = quad.x.iter().map(|l| l.at(x)).collect();
        let n = a.len();
        let mut aqa = zero;
        for (i, l) in quad.x.iter().enumerate() {
            // (Q_s a)ᵢ, Q_s = ½(Q + Qᵀ).
            let qa = (0..n).fold(zero, |acc, j| acc + (quad.q[i * n + j] + quad.q[j * n + i]) * (0.5 * a[j]));
            for &(col, coef) in &l.terms {
                rx[col] = rx[col] + qa * (2.0 * mu * coef);
            }
            aqa = aqa + qa * a[i];
        }
        rz[r] = rz[r] + aqa;
        rz[r + 1] = rz[r + 1] + aqa;
    }

    let env = Env { params: &bound.params, vars: &[], dims: &bound.dims, syms: &[] };
    let (mut leaves, mut dots) = (Vec::new(), Vec::new());
    for (e, d) in &sink.read {
        leaves.extend(d.data.iter().copied());
        dots.extend(datum_tangent(e, &env, &d.shape, tangents)?);
    }
    let outs: Vec<Tracked> = rx.into_iter().chain(rz).collect();
    Ok(Tracked::tangent(&outs, &leaves, &dots))
}

/// `∂e/∂θ · θ̇` for a data expression of shape `shape`: θ̇ itself for a
/// parameter, else entry by entry `⟨vjp(e, eₖ), θ̇⟩`.
fn datum_tangent(e: &Expr, env: &Env, shape: &[usize], tangents: &[Tensor]) -> Result<Vec<f64>, CanonError> {
    if let ExprKind::Param(id) = e.kind {
        return Ok(tangents[id.0 as usize].data.clone());
    }
    let len: usize = shape.iter().product();
    let mut out = Vec::with_capacity(len);
    for k in 0..len {
        let mut unit = Tensor::filled(shape.to_vec(), 0.0);
        unit.data[k] = 1.0;
        let g = eval::vjp(e, env, &unit).map_err(|x| CanonError { message: x.message, span: Some(x.span) })?;
        let dot = g.params.iter().zip(tangents).filter_map(|(gp, t)| gp.as_ref().map(|gp| (gp, t)));
        out.push(dot.map(|(gp, t)| gp.data.iter().zip(&t.data).map(|(a, b)| a * b).sum::<f64>()).sum());
    }
    Ok(out)
}

/// The sink that builds the KKT residual R over tracked numbers: the
/// objective's gradient as the reductions report terms, the rows' part at the end.
struct Residual<'p> {
    rows: Memberships<Tracked>,
    /// `Px + q` so far, by column (columns beyond its length are zero).
    grad: Vec<Tracked>,
    x: &'p [f64],
    read: Vec<(Expr, Data<Tracked>)>,
    quads: Vec<Quad>,
}

impl Residual<'_> {
    fn add(&mut self, col: usize, v: Tracked) {
        if self.grad.len() <= col {
            self.grad.resize(col + 1, Tracked::from(0.0));
        }
        self.grad[col] = self.grad[col] + v;
    }
}

impl Sink for Residual<'_> {
    type S = Tracked;

    fn memberships(&mut self) -> &mut Memberships<Tracked> {
        &mut self.rows
    }

    /// `∇(w·l(x)) = w·a`.
    fn linear(&mut self, l: &Lin<Tracked>, w: Tracked) {
        for &(i, a) in &l.terms {
            self.add(i, w * a);
        }
    }

    /// `∇(w·a(x)·b(x)) = w·(a·b(x) + a(x)·b)`.
    fn product(&mut self, a: &Lin<Tracked>, b: &Lin<Tracked>, w: Tracked) {
        let (ax, bx) = (a.at(self.x), b.at(self.x));
        for &(i, ai) in &a.terms {
            self.add(i, w * ai * bx);
        }
        for &(j, bj) in &b.terms {
            self.add(j, w * ax * bj);
        }
    }

    fn quad_form(&mut self, x: &Aff<Tracked>, q: &Data<Tracked>, cone: Tag) {
        self.quads.extend(Quad::of(x, q, cone));
    }

    fn lift(&mut self, e: &Expr, t: Tensor, _: Option<usize>) -> Data<Tracked> {
        lift_tracked(&mut self.read, e, t)
    }
}

pub(super) fn mentions_param(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Param(_)) || e.children().into_iter().any(mentions_param)
}
