//! The specialised forwards a file may name, `solve using sinkhorn` and
//! `solve using eigh`, on the structure sema recognised
//! ([`crate::ir::Transport`], [`crate::ir::Eigen`]): its data expressions
//! evaluated at the bound parameters, then the solver. The backward passes are
//! [`crate::diff`]'s (`special.rs`).

use std::borrow::Cow;

use faer::{Mat, MatRef};

use super::node::Context;
use super::smooth::SmoothContext;
use super::{Bound, Info, RunError, Solved, Status};
use crate::eval::{self, concrete, Env, Tensor};
use crate::ir::{Eigen, Expr, ExprKind, IterOptions, Node, Transport, Weight};
use crate::smooth::{eigh, sinkhorn, SinkhornSettings};

/// The value of the data expression `e` broadcast to `shape`: a parameter of
/// that shape is borrowed, not copied.
pub(crate) fn value<'b>(e: &Expr, bound: &'b Bound, shape: &[usize]) -> Result<Cow<'b, Tensor>, RunError> {
    if let ExprKind::Param(p) = e.kind {
        let t = &bound.params[p.0 as usize];
        if t.shape == shape {
            return Ok(Cow::Borrowed(t));
        }
    }
    let env = Env { params: &bound.params, vars: &[], dims: &bound.dims, syms: &[] };
    let t = eval::eval(e, &env)?;
    Ok(Cow::Owned(if t.shape == shape { t } else { eval::broadcast_to(&t, shape) }))
}

/// The entries of `a` column after column: for `a = bᵀ`, b's row-major data.
pub(crate) fn columns(a: &Mat<f64>) -> Vec<f64> {
    let mut data = Vec::with_capacity(a.nrows() * a.ncols());
    for j in 0..a.ncols() {
        data.extend_from_slice(a.col_as_slice(j));
    }
    data
}

/// `solve using sinkhorn`: Sinkhorn on the recognised data.
///
/// The row-major cost M (m×n) is, read column-major, Mᵀ; the transposed problem
/// (cost Mᵀ, marginals (c, r)) has the plan Pᵀ, whose column-major entries are
/// P's row-major ones. So Sinkhorn and its backward run on the transposed
/// problem and neither M nor P is transposed in memory (the problem is the same
/// with rows and columns exchanged).
pub(crate) fn transport_forward(
    node: &Node,
    t: &Transport,
    options: &IterOptions,
    bound: &Bound,
) -> Result<Solved, RunError> {
    let shape = concrete(&node.vars[0].shape, &bound.dims);
    let (m, n) = (shape[0], shape[1]);
    let cost = value(&t.cost, bound, &shape)?;
    let eps = match &t.eps {
        Weight::Times(k) => value(k, bound, &[])?.data[0],
        Weight::Over(k) => 1.0 / value(k, bound, &[])?.data[0],
    };
    if !(eps.is_finite() && eps > 0.0) {
        return Err(RunError::Invalid(format!(
            "sinkhorn: the entropy weight must be positive and finite, found {eps}"
        )));
    }
    let (r, c) = (value(&t.rows, bound, &[m])?, value(&t.cols, bound, &[n])?);
    let mut settings = SinkhornSettings::default();
    settings.tol = options.tol.unwrap_or(settings.tol);
    settings.max_iter = options.max_iter.map_or(settings.max_iter, |v| usize::try_from(v).unwrap_or(usize::MAX));
    let gamma = 1.0 / eps;
    let solution = sinkhorn(MatRef::from_column_major_slice(&cost.data, n, m), &c.data, &r.data, gamma, &settings)?;
    let plan = Tensor { shape, data: columns(&solution.P) };
    let info = Info::sinkhorn(node.class.family, &solution);
    let status = solution.status;
    let outputs = vec![(node.vars[0].name.clone(), plan)];
    let context = SmoothContext::Transport { solution, gamma };
    Ok(Solved { status, outputs, info, context: Context::Smooth(Box::new(context)) })
}

/// `solve using eigh`: the symmetric eigendecomposition of the recognised X.
pub(crate) fn eigen_forward(node: &Node, e: &Eigen, bound: &Bound) -> Result<Solved, RunError> {
    let shape = concrete(&node.vars[0].shape, &bound.dims);
    let m = shape[0];
    let x = value(&e.x, bound, &[m, m])?;
    let eig = eigh(x.view(m, m))?;
    let k = if e.largest { m - 1 } else { 0 };
    let out =
        if e.full { Tensor::from_mat(&eig.U, shape) } else { Tensor::vector(eig.U.col(k).iter().copied().collect()) };
    let info = Info::eigh(node.class.family, &eig.lambda, (!e.full).then_some(k));
    let outputs = vec![(node.vars[0].name.clone(), out)];
    let context = SmoothContext::Eigen { eig };
    Ok(Solved { status: Status::Optimal, outputs, info, context: Context::Smooth(Box::new(context)) })
}
