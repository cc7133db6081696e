//! Backward passes: vector-Jacobian products of a node's solution map, from its
//! optimality conditions (never by unrolling the solver).
//!
//! - `conic`: LP/QP/SOCP nodes, one solve with the forward's KKT factorisation;
//! - [`ift`]: the implicit-function-theorem adjoint of smooth nodes;
//! - `smooth`: smooth nodes, the adjoint carried to the parameters;
//! - `ot`, `eigen`: the seed's structured backward passes for `solve using
//!   sinkhorn` and `solve using eigh`;
//! - `jvp`: forward mode, the same systems solved with a tangent's right-hand side.

mod batch;
mod conic;
mod eigen;
pub mod ift;
mod jvp;
mod ot;
mod smooth;
mod special;

pub use batch::{backward_batch, jvp_batch};
pub use eigen::{eigh_vjp, eigvec_vjp, max_eigvec_vjp, MIN_REL_GAP};
pub use ift::{adjoint, Adjoint, Cotangents, ACTIVITY_TOL};
pub use jvp::jvp;
pub use ot::{entropic_ot_vjp, OtGradients};

use crate::eval::Tensor;
use crate::ir::{Node, Output};
use crate::runtime::inputs::shape_words;
use crate::runtime::node::non_finite;
use crate::runtime::node::Context;
use crate::runtime::{Bound, RunError, Solved, Status};
use crate::syntax::ast::BaseType;

/// dL/dθ for every parameter (in declaration order), given cotangents for some
/// outputs (by output name; missing ones are zero). `sym` and `psd` parameters
/// get symmetric gradients (the node depends on them through their symmetric
/// part). Needs a solved forward (`optimal`, `optimal_inaccurate` or
/// `stationary`). What the backward pass finds about its own accuracy (a
/// singular KKT system) is added to the forward's `info.warnings`; a
/// non-finite gradient makes the forward's status `numerical_error` (with
/// `info.message`) and is an error.
pub fn backward(
    node: &Node,
    bound: &Bound,
    solved: &mut Solved,
    cotangents: &[(String, Tensor)],
) -> Result<Vec<Tensor>, RunError> {
    if !solved.status.is_solved() {
        return Err(RunError::Invalid(format!("no gradients: the forward status is {}", solved.status.name())));
    }
    check_cotangent_shapes(&solved.outputs, cotangents)?;
    let (mut grads, warnings) = match &mut solved.context {
        Context::Conic(ctx) => (conic::backward(node, bound, ctx, cotangents)?, Vec::new()),
        Context::Smooth(ctx) => smooth::backward(node, bound, ctx, cotangents)?,
    };
    for (g, p) in grads.iter_mut().zip(&node.params) {
        if matches!(p.base, BaseType::Sym | BaseType::Psd) {
            *g = symmetrise(g);
        }
    }
    for w in warnings {
        solved.warn(w);
    }
    let named: Vec<(String, Tensor)> = node.params.iter().map(|p| p.name.clone()).zip(grads).collect();
    if let Some(m) = non_finite("gradient", &named) {
        solved.status = Status::NumericalError;
        solved.info.message = Some(m.clone());
        return Err(RunError::Derivative(format!("{}: {m}", Status::NumericalError.name())));
    }
    Ok(named.into_iter().map(|(_, g)| g).collect())
}

/// The cotangents as one flat vector of length `len`: each named output's
/// entries go to `slot(output) = (start, len)`. Unknown names, wrong lengths and
/// non-finite entries are errors.
pub(crate) fn place_cotangents(
    node: &Node,
    cotangents: &[(String, Tensor)],
    len: usize,
    slot: impl Fn(&Output) -> (usize, usize),
) -> Result<Vec<f64>, RunError> {
    let mut out = vec![0.0; len];
    for (name, v) in cotangents {
        let output = node.outputs.iter().find(|o| match o {
            Output::Var(id) => node.var(*id).name == *name,
            Output::Dual(c) => node.constraints[*c].name.as_deref() == Some(name.as_str()),
        });
        let Some(output) = output else {
            return Err(RunError::Invalid(format!(
                "unknown cotangent `{name}`: it is not an output of `{}`",
                node.name
            )));
        };
        let (start, len) = slot(output);
        if v.len() != len {
            return Err(RunError::Invalid(format!("cotangent `{name}` has {} entries, the output has {len}", v.len())));
        }
        if let Some(i) = v.data.iter().position(|x| !x.is_finite()) {
            return Err(RunError::Invalid(format!(
                "cotangent `{name}` has a non-finite entry ({}) at flat index {i}",
                v.data[i]
            )));
        }
        out[start..start + len].copy_from_slice(&v.data);
    }
    Ok(out)
}

/// Each cotangent has its output's shape (`outputs`: the forward's), not just
/// its number of entries: a transposed matrix has the right length but would
/// pair every entry with the wrong one and give wrong gradients silently.
/// Unknown names are left to [`place_cotangents`].
fn check_cotangent_shapes(outputs: &[(String, Tensor)], cotangents: &[(String, Tensor)]) -> Result<(), RunError> {
    for (name, v) in cotangents {
        if let Some((_, o)) = outputs.iter().find(|(k, _)| k == name).filter(|(_, o)| o.shape != v.shape) {
            return Err(RunError::Invalid(format!(
                "cotangent `{name}` is {}, but the output is {}",
                shape_words(&v.shape),
                shape_words(&o.shape)
            )));
        }
    }
    Ok(())
}

/// `(G + Gᵀ)/2` for a square G stored by rows: the gradient of a symmetric
/// parameter, whose entries `(i, j)` and `(j, i)` are one value. Read by row
/// slices (at n = 200 the per-entry shape lookups of `Tensor::at` were a tenth
/// of the conic backward pass after its KKT solve).
fn symmetrise(g: &Tensor) -> Tensor {
    let (n, _) = g.rows_cols();
    let d = &g.data;
    let mut data = Vec::with_capacity(n * n);
    for (i, row) in d.chunks_exact(n.max(1)).take(n).enumerate() {
        data.extend(row.iter().enumerate().map(|(j, &v)| 0.5 * (v + d[j * n + i])));
    }
    Tensor { shape: g.shape.clone(), data }
}
