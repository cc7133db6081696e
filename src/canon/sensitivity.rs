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

use super::affine::Lin;
use super::builder::{Memberships, Sink};
use super::scalar::{Data, TapeSession, Tracked};
use super::{reduce_node, CanonError};
use crate::eval::{self, Env, Tensor};
use crate::ir::{Expr, ExprKind, Node};
use crate::runtime::Bound;

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

    fn lift(&mut self, e: &Expr, t: Tensor, _: Option<usize>) -> Data<Tracked> {
        if !mentions_param(e) {
            return Data { shape: t.shape, data: t.data.into_iter().map(Tracked::from).collect() };
        }
        let d = Data { shape: t.shape, data: t.data.into_iter().map(Tracked::leaf).collect() };
        self.read.push((e.clone(), d.clone()));
        d
    }
}

pub(super) fn mentions_param(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Param(_)) || e.children().into_iter().any(mentions_param)
}
