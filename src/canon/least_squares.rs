//! Recognises unconstrained least squares, `minimize sum_squares(e)` with `e`
//! affine in the variables and no constraints, and gives `e = Mx + d` as a dense
//! M and d, for the QR path of [`crate::solve::direct`].

use faer::Mat;

use super::affine::Aff;
use super::builder::{Builder, Coefficient};
use super::reduce::{Dir, Reducer};
use super::scalar::Data;
use super::{variable_forms, CanonError};
use crate::atoms::Atom;
use crate::eval::Bound;
use crate::eval::{Env, Tensor};
use crate::ir::{Expr, ExprKind, Node};
use crate::syntax::ast::Sense;

/// `e = Mx + d` with x the node's variables stacked (as in [`super::Canonical`]),
/// and each variable's columns.
pub struct AffineResidual {
    /// M, one row per residual entry, one column per scalar variable.
    pub m: Mat<f64>,
    /// d, one per residual entry.
    pub d: Vec<f64>,
    /// Per node variable: its first column of M and its concrete shape.
    pub var_cols: Vec<(usize, Vec<usize>)>,
}

/// `Some` when `node` is `minimize sum_squares(e)`, e affine, no constraints.
/// `data` as for [`super::canonicalize_with`].
pub fn least_squares_form(node: &Node, bound: &Bound, data: &[Tensor]) -> Option<Result<AffineResidual, CanonError>> {
    let residual = residual(node, bound, data, |_, t, _| t.into())?;
    Some(residual.map(|(e, var_cols, n)| {
        let mut m = Mat::<f64>::zeros(e.len(), n);
        let d = e.e.iter().map(|l| l.c).collect();
        for (i, l) in e.e.iter().enumerate() {
            for &(j, a) in &l.terms {
                m[(i, j)] += a;
            }
        }
        AffineResidual { m, d, var_cols }
    }))
}

/// The residual `e` of a least-squares node as affine forms over `S` (data
/// read through `lift`), each variable's columns, and the column count.
#[allow(clippy::type_complexity)]
pub(super) fn residual<S: Coefficient>(
    node: &Node,
    bound: &Bound,
    data: &[Tensor],
    lift: fn(&Expr, Tensor, Option<usize>) -> Data<S>,
) -> Option<Result<(Aff<S>, Vec<(usize, Vec<usize>)>, usize), CanonError>> {
    let ExprKind::Atom { atom: Atom::SumSquares, args, .. } = &node.objective.expr.kind else { return None };
    if node.objective.sense != Sense::Minimize || !node.constraints.is_empty() {
        return None;
    }
    let env = Env { params: &bound.params, vars: &[], dims: &bound.dims, syms: &[] };
    let (var_cols, vars, n) = variable_forms(node, bound);
    let mut r = Reducer::new(node, env, data, vars, Builder::with_lift(n, lift));
    if !r.analysis(&args[0]).curvature.is_affine() {
        return None;
    }
    Some(r.canon(&args[0], Dir::Exact).map(|e| (e, var_cols, n)))
}
