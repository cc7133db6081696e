//! Canonicalisation: a checked DCP node plus parameter values → the conic
//! standard form [`ConeProgram`] (`min ½xᵀPx + qᵀx + c0 s.t. Ax + s = b, s ∈ K`),
//! with the map back from the solver's x and z to the node's variables and
//! constraint multipliers.
//!
//! The node's variables come first in x, row-major, in declaration order;
//! epigraph variables follow. Every constraint of the node (written, or implied
//! by a variable's type) `g ≤ 0` becomes the membership `−g ∈ K` (nonnegative rows
//! for affine g, a cone for norms and squares), and `h = 0` the rows `−h ∈ {0}`,
//! so the solver's multiplier z of those rows is the node's λ (or ν) in the
//! contract's convention `L = f₀ + Σ λ·g + Σ ν·h`: with s = −g, `zᵀ(Ax − b) = zᵀg`.
//! The reductions of every atom are in `reduce`; the quadratic objective in
//! `objective`.

mod affine;
mod builder;
mod least_squares;
mod objective;
mod record;
mod recorded;
mod reduce;
mod root;
mod scalar;
mod sensitivity;

pub use builder::RowRange;
pub use least_squares::{least_squares_form, AffineResidual};
pub use record::{value_of, Block, Gram, Guard, Miss, Refill, Root, Scratch, Source, Step, Value};
pub use recorded::{record, CompiledRefill, Recorded, RecordedForm};
pub use root::{NotPsd, Sqrt};
pub use scalar::Test;
pub use sensitivity::{data_jvp, data_vjp};

use affine::{Aff, Lin};
use builder::{Builder, Sink, Tag};
use reduce::{Dir, Reducer};
use scalar::Data;

use crate::diag::Span;
use crate::eval::Bound;
use crate::eval::{self, Env, Tensor};
use crate::ir::Node;
use crate::solve::ConeProgram;
use crate::syntax::ast::CmpOp;

/// Why a node could not be put in standard form at these parameter values.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CanonError {
    /// What failed, for the user.
    pub message: String,
    /// The source the failure is about, when known.
    pub span: Option<Span>,
}

/// A node in standard form, with the way back.
#[derive(Clone, Debug)]
pub struct Canonical {
    /// The standard form: `min ½xᵀPx + qᵀx + c0 s.t. Ax + s = b, s ∈ K`.
    pub program: ConeProgram,
    /// Where the node's variables and constraints sit in it.
    pub layout: Layout,
    /// The reductions that ran, in order.
    pub log: Vec<String>,
}

/// Where the node's variables and constraints sit in a standard form's x and
/// rows: the way from a solver's (x, z) back to the node.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// Per node variable: its first column in x and its concrete shape.
    pub var_cols: Vec<(usize, Vec<usize>)>,
    /// Per node constraint: its rows in `Ax + s = b` and its concrete shape.
    pub constraint_rows: Vec<(RowRange, Vec<usize>)>,
}

impl Layout {
    /// The number of columns of the node's own variables.
    pub fn user_cols(&self) -> usize {
        self.var_cols.iter().map(|(_, s)| s.iter().product::<usize>()).sum()
    }

    /// The node's variables from the solver's x.
    pub fn var_values(&self, x: &[f64]) -> Vec<Tensor> {
        self.var_cols
            .iter()
            .map(|(first, shape)| {
                let len: usize = shape.iter().product();
                Tensor { shape: shape.clone(), data: x[*first..*first + len].to_vec() }
            })
            .collect()
    }

    /// The multipliers of the node's constraints (λ ≥ 0 for `<=`/`>=`, ν for `==`)
    /// from the solver's z. A constraint reduced to a single cone row (`norm(x) <= r`)
    /// has one multiplier.
    pub fn dual_values(&self, z: &[f64]) -> Vec<Tensor> {
        self.constraint_rows
            .iter()
            .map(|(rows, shape)| {
                let data = z[rows.start..rows.start + rows.len].to_vec();
                let shape =
                    if data.len() == shape.iter().product::<usize>() { shape.clone() } else { vec![data.len()] };
                let shape = if data.len() == 1 { Vec::new() } else { shape };
                Tensor { shape, data }
            })
            .collect()
    }
}

/// Reduces `node` at parameter values `bound` to standard form.
pub fn canonicalize(node: &Node, bound: &Bound) -> Result<Canonical, CanonError> {
    canonicalize_with(node, bound, &[])
}

/// [`canonicalize`], with the values of the node's data subexpressions
/// ([`crate::kernel::data_exprs`], in order: the `Data` kernel's outputs)
/// computed beforehand; empty evaluates each where the reductions meet it.
pub fn canonicalize_with(node: &Node, bound: &Bound, data: &[Tensor]) -> Result<Canonical, CanonError> {
    let reduced = reduce_node(node, bound, data, Builder::new)?;
    let (program, ranges) = reduced.sink.finish();
    let constraint_rows = reduced.tags.into_iter().map(|(tag, shape)| (ranges[tag.index()], shape)).collect();
    Ok(Canonical { program, layout: Layout { var_cols: reduced.var_cols, constraint_rows }, log: reduced.log })
}

/// What one run of the reductions over a node leaves: the sink, the tag and
/// shape of each node constraint, the columns of each variable, the log.
struct Reduced<K> {
    sink: K,
    tags: Vec<(Tag, Vec<usize>)>,
    var_cols: Vec<(usize, Vec<usize>)>,
    log: Vec<String>,
}

/// Runs the reductions of `node` at `bound`, reporting to the sink `make(n)`
/// makes for the `n` columns of the node's own variables.
fn reduce_node<'a, K: Sink>(
    node: &'a Node,
    bound: &'a Bound,
    data: &'a [Tensor],
    make: impl FnOnce(usize) -> K,
) -> Result<Reduced<K>, CanonError> {
    if !node.class.family.is_conic() {
        return Err(CanonError {
            message: format!("node `{}` is {}, not LP/QP/SOCP", node.name, node.class.family.name()),
            span: Some(node.span),
        });
    }
    let env = Env { params: &bound.params, vars: &[], dims: &bound.dims, syms: &[] };
    let (var_cols, vars, next) = variable_forms(node, bound);
    let mut r = Reducer::new(node, env, data, vars, make(next));

    let sign = node.objective.min_sign();
    let obj_shape = eval::concrete(&node.objective.expr.shape, &bound.dims);
    r.objective(&node.objective.expr, &Data::filled(obj_shape, sign.into()))?;

    let mut tags = Vec::new();
    for c in &node.constraints {
        let shape = eval::concrete(&c.shape, &bound.dims);
        // u = −g or −h, the membership whose multiplier is the node's: with
        // g = a − b, u = b − a (hi = b for an inequality, reduced first); a
        // semidefinite constraint's membership is exact (its cone is the PSD one).
        let (a, b) = c.normal_form();
        let (hi, lo) = if c.op == CmpOp::Eq { (a, b) } else { (b, a) };
        let exact = c.op == CmpOp::Eq || c.op.is_psd();
        let (hi_dir, lo_dir) = if exact { (Dir::Exact, Dir::Exact) } else { (Dir::Lower, Dir::Upper) };
        let (a, b) = (r.canon(hi, hi_dir)?, r.canon(lo, lo_dir)?);
        let u = if c.op == CmpOp::Eq {
            // −h = rhs − lhs.
            Aff::combine(&b, 1.0, &a, -1.0)
        } else {
            Aff::combine(&a, 1.0, &b, -1.0)
        }
        .ok_or_else(|| CanonError {
            message: "constraint sides do not agree at run time".into(),
            span: Some(c.span),
        })?;
        let len: usize = shape.iter().product();
        let u = if u.len() == len { u } else { broadcast(&u, &shape) };
        let tag = match c.op {
            CmpOp::Eq => r.b.zero(u.e),
            CmpOp::PsdGe | CmpOp::PsdLe => r.b.psd(shape[0], svec_of_symmetric_part(&u.e, shape[0])),
            CmpOp::Le | CmpOp::Ge => r.b.nonneg(u.e),
        };
        tags.push((tag, shape));
    }
    Ok(Reduced { sink: r.b, tags, var_cols, log: r.log })
}

/// The node's variables as the first columns of x, in declaration order:
/// per variable its first column and shape, its forms, and the column count.
#[allow(clippy::type_complexity)]
fn variable_forms<S: scalar::Scalar>(node: &Node, bound: &Bound) -> (Vec<(usize, Vec<usize>)>, Vec<Aff<S>>, usize) {
    let mut var_cols = Vec::new();
    let mut vars = Vec::new();
    let mut next = 0;
    for v in &node.vars {
        let shape = eval::concrete(&v.shape, &bound.dims);
        let len: usize = shape.iter().product();
        var_cols.push((next, shape.clone()));
        vars.push(Aff::vars(next, shape));
        next += len;
    }
    (var_cols, vars, next)
}

/// `svec((U + Uᵀ)/2)` of the row-major `n × n` forms `u`: the lower triangle
/// by columns, `Uᵢᵢ` on the diagonal and `(Uᵢⱼ + Uⱼᵢ)/√2 = √2·½(Uᵢⱼ + Uⱼᵢ)`
/// off it (see [`crate::solve::ConeBlock::Psd`]). A semidefinite constraint
/// constrains its matrix's symmetric part, as `xᵀUx` sees only that.
pub(super) fn svec_of_symmetric_part<S: scalar::Scalar>(u: &[Lin<S>], n: usize) -> Vec<Lin<S>> {
    let mut out = Vec::with_capacity(n * (n + 1) / 2);
    for j in 0..n {
        for i in j..n {
            if i == j {
                out.push(u[i * n + i].clone());
            } else {
                let mut e = u[i * n + j].scaled(std::f64::consts::FRAC_1_SQRT_2);
                e.add_scaled(&u[j * n + i], std::f64::consts::FRAC_1_SQRT_2);
                out.push(e);
            }
        }
    }
    out
}

fn broadcast<S: scalar::Scalar>(u: &Aff<S>, shape: &[usize]) -> Aff<S> {
    let len: usize = shape.iter().product();
    Aff { shape: shape.to_vec(), e: (0..len).map(|k| u.e[eval::broadcast_index(&u.shape, shape, k)].clone()).collect() }
}
