//! What generated modules call: one kernel step, the constructors of the
//! node's data, the node prepared with its recordings, and conversions between
//! faer values and the runtime's row-major tensors.

use std::sync::Arc;

use faer::{Col, ColRef, Mat, MatRef};

use crate::analysis::Analysed;
use crate::canon::Recorded;
use crate::diag::{FileId, Span};
use crate::eval::{apply, Env, EvalError, Op, Tensor};
use crate::ir::{Dim, Expr, ExprKind, Node, Shape};
use crate::kernel::Kernels;
use crate::loaded::LoadedNode;
use crate::runtime::{Bound, Prepared, RunError, Solved};

/// A standard form recorded by `ddnc build`: the dimension sizes it was recorded
/// at, and the function that rebuilds it.
pub type RecordedAt = (&'static [usize], fn() -> crate::canon::Recorded);

/// The names emitted modules are written with.
pub mod prelude {
    pub use super::RecordedAt;
    pub use super::{expr, shape, span, step};
    pub use crate::analysis::{Analysed, Analysis};
    pub use crate::atoms::Atom;
    pub use crate::canon::{
        Block, CompiledRefill, Gram, Guard, Layout, Miss, Recorded, RecordedForm, Refill, Root, RowRange, Scratch,
        Source, Step, Test, Value,
    };
    pub use crate::eval::{Env, EvalError, Op, Tensor};
    pub use crate::ir::Dim::Fixed;
    pub use crate::ir::{
        Arith, Classification, Constraint, ConstraintOrigin, DimId, DimInfo, Eigen, ExprKind, Family, Init,
        IterOptions, Node, Objective, Output, Param, ParamId, Sel, SolveMethod, SolveSpec, SymId, Transport, Var,
        VarId, Weight,
    };
    pub use crate::kernel::{no_kernel, KernelId, Kernels};
    pub use crate::solve::{ConeBlock, ConeProgram, Triplets};
    pub use crate::symbolic::{Derived, Normalised, Simplified, SymInfo, SymRole};
    pub use crate::syntax::ast::{BaseType, CmpOp, Sense};
    pub use egg::StopReason;
}

/// An expression node of the emitted node.
pub fn expr(kind: ExprKind, shape: Shape, span: Span) -> Expr {
    Expr { kind, shape, span }
}

/// A shape of the emitted node.
pub fn shape(dims: &[Dim]) -> Shape {
    Shape(dims.to_vec())
}

/// A standard form recorded at build time: its dimension sizes, and the
/// generated function that builds it.
pub type Recording = (&'static [usize], fn() -> Recorded);

/// The node run by a generated module's `kernels`, prepared for each set of
/// dimension sizes in `recorded` from the recording made at build time: a
/// generated `loaded()`'s body.
pub fn loaded(
    node: &Analysed<'static>,
    kernels: Arc<dyn Kernels>,
    recorded: &[Recording],
) -> Result<LoadedNode<'static>, RunError> {
    let prepared = recorded
        .iter()
        .map(|(dims, r)| Prepared::from_recorded(node, dims.to_vec(), kernels.clone(), r()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LoadedNode::with_kernels(node, kernels, prepared))
}

/// One program step, [`apply`] as [`crate::kernel::Tape::run`] calls it;
/// the shape is written in the emitted code as a slice of dimensions (no
/// allocation per step).
pub fn step(op: Op, args: Vec<Tensor>, shape: &[Dim], span: Span, env: &Env) -> Result<Tensor, EvalError> {
    apply(&op, args, shape, span, env)
}

/// A step's span in the generated module's own compilation of its source.
pub const fn span(file: u32, start: u32, end: u32) -> Span {
    Span { file: FileId(file), start, end }
}

/// Binds the named parameters and solves with the module's node prepared for
/// their sizes: a generated `forward`'s body.
pub fn solve<'n>(
    loaded: &LoadedNode<'static>,
    params: impl IntoIterator<Item = (&'n str, Tensor)>,
) -> Result<(Solved, Bound), RunError> {
    let named = params.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let bound = crate::runtime::bind(loaded.node(), &named).map_err(RunError::Inputs)?;
    Ok((loaded.prepared(&bound)?.forward(&bound)?, bound))
}

/// The backward pass for the cotangents given (`None` is zero): a generated
/// `backward`'s body.
pub fn differentiate(
    node: &Node,
    bound: &Bound,
    solved: &mut Solved,
    cotangents: impl IntoIterator<Item = (&'static str, Option<Tensor>)>,
) -> Result<Vec<Tensor>, RunError> {
    let cot: Vec<(String, Tensor)> =
        cotangents.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), v))).collect();
    crate::diff::backward(node, bound, solved, &cot)
}

/// A parameter or cotangent as a runtime tensor.
pub fn tensor<T: AsTensor>(v: T) -> Tensor {
    v.as_tensor()
}

/// A value the generated code passes in.
pub trait AsTensor {
    /// The value as a row-major tensor (copied).
    fn as_tensor(&self) -> Tensor;
}

impl AsTensor for f64 {
    fn as_tensor(&self) -> Tensor {
        Tensor::scalar(*self)
    }
}

impl AsTensor for ColRef<'_, f64> {
    fn as_tensor(&self) -> Tensor {
        Tensor::vector(self.iter().copied().collect())
    }
}

impl AsTensor for MatRef<'_, f64> {
    fn as_tensor(&self) -> Tensor {
        let (m, n) = (self.nrows(), self.ncols());
        Tensor::matrix(m, n, (0..m * n).map(|k| self[(k / n, k % n)]).collect())
    }
}

/// A value the generated code hands out.
pub trait Output: Sized {
    /// The value of a tensor of the output's declared shape.
    fn from_tensor(t: &Tensor) -> Self;
}

impl Output for f64 {
    fn from_tensor(t: &Tensor) -> Self {
        t.data.first().copied().unwrap_or(f64::NAN)
    }
}

impl Output for Col<f64> {
    fn from_tensor(t: &Tensor) -> Self {
        Col::from_fn(t.len(), |i| t.data[i])
    }
}

impl Output for Mat<f64> {
    fn from_tensor(t: &Tensor) -> Self {
        let (m, n) = t.rows_cols();
        Mat::from_fn(m, n, |i, j| t.data[i * n + j])
    }
}
