//! Recognises unconstrained least squares, `minimize sum_squares(e)` with `e`
//! affine in the variables and no constraints, and gives `e = Mx + d` as a dense
//! M and d, for the QR path of [`crate::solve::direct`].

use faer::Mat;

use super::affine::Aff;
use super::builder::Builder;
use super::reduce::{Dir, Reducer};
use super::{variable_forms, CanonError};
use crate::atoms::Atom;
use crate::eval::{Env, Tensor};
use crate::ir::{ExprKind, Node};
use crate::runtime::Bound;
use crate::syntax::ast::Sense;

/// `e = Mx + d` with x the node's variables stacked (as in [`super::Canonical`]),
/// and each variable's columns.
pub struct AffineResidual {
    pub m: Mat<f64>,
    pub d: Vec<f64>,
    pub var_cols: Vec<(usize, Vec<usize>)>,
}

/// `Some` when `node` is `minimize sum_squares(e)`, e affine, no constraints.
/// `data` as for [`super::canonicalize_with`].
pub fn least_squares_form(node: &Node, bound: &Bound, data: &[Tensor]) -> Option<Result<AffineResidual, CanonError>> {
    let ExprKind::Atom { atom: Atom::SumSquares, args, .. } = &node.objective.expr.kind else { return None };
    if node.objective.sense != Sense::Minimize || !node.constraints.is_empty() {
        return None;
    }
    let env = Env { params: &bound.params, vars: &[], dims: &bound.dims, syms: &[] };
    let (var_cols, vars, n) = variable_forms(node, bound);
    let mut r = Reducer::new(node, env, data, vars, Builder::new(n));
    if !r.analysis(&args[0]).curvature.is_affine() {
        return None;
    }
    Some(r.canon(&args[0], Dir::Exact).map(|e: Aff| {
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
