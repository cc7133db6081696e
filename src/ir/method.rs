//! `solve using METHOD(options)` as sema resolved it: the method, its options
//! typed, and for the specialised forwards the structure of the problem they
//! solve, recognised once at check time (`sema::recognise`), so the runtime
//! and the backward pass read it here and never look at the node's shape again.

use super::expr::Expr;
use crate::diag::Span;

/// `solve using method(options)`, resolved and checked by sema.
#[derive(Clone, Debug, PartialEq)]
pub struct SolveSpec {
    pub method: SolveMethod,
    pub span: Span,
}

/// The forward method a node names, with what it needs.
// One per node, built once: the recognised structure's size is not worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum SolveMethod {
    /// The conic interior point method.
    Ipm(IterOptions),
    /// Newton's method (Newton–KKT with equalities).
    Newton(IterOptions),
    /// Sequential quadratic programming.
    Sqp(IterOptions),
    /// Sinkhorn iterations on the recognised entropic optimal transport.
    Sinkhorn(IterOptions, Transport),
    /// The symmetric eigendecomposition of the recognised eigenproblem.
    Eigh(Eigen),
}

impl SolveMethod {
    /// The name the file wrote (`solve using NAME`).
    pub fn name(&self) -> &'static str {
        match self {
            SolveMethod::Ipm(_) => "ipm",
            SolveMethod::Newton(_) => "newton",
            SolveMethod::Sqp(_) => "sqp",
            SolveMethod::Sinkhorn(..) => "sinkhorn",
            SolveMethod::Eigh(_) => "eigh",
        }
    }

    /// `sinkhorn` or `eigh`: a forward of its own on a recognised structure,
    /// not the general smooth solvers on the node's derived expressions.
    pub fn is_specialised(&self) -> bool {
        matches!(self, SolveMethod::Sinkhorn(..) | SolveMethod::Eigh(_))
    }

    /// The options given (all unset for a method that takes none).
    pub fn options(&self) -> IterOptions {
        match self {
            SolveMethod::Ipm(o) | SolveMethod::Newton(o) | SolveMethod::Sqp(o) | SolveMethod::Sinkhorn(o, _) => *o,
            SolveMethod::Eigh(_) => IterOptions::default(),
        }
    }
}

/// The options of an iterative method; `None` is the solver's default.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct IterOptions {
    /// `tol`: the stopping tolerance (> 0).
    pub tol: Option<f64>,
    /// `max_iter`: the iteration limit (≥ 1).
    pub max_iter: Option<u64>,
}

/// How ε (the entropy weight) is written: `k · Σ xlogx(P)` or `Σ xlogx(P) / k`.
#[derive(Clone, Debug, PartialEq)]
pub enum Weight {
    Times(Expr),
    Over(Expr),
}

/// `minimize Σ C∘P + ε Σ xlogx(P)  s.t.  P1 = r, Pᵀ1 = c` (the seed's entropic
/// optimal transport, ε = 1/γ), its data as expressions of the parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Transport {
    pub cost: Expr,
    pub eps: Weight,
    pub rows: Expr,
    pub cols: Expr,
}

/// `max/min uᵀXu s.t. uᵀu = 1` (`full: false`), or `max/min tr(UᵀXU) s.t.
/// UᵀU = I` with U square (`full: true`); X an expression of the parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Eigen {
    pub x: Expr,
    pub full: bool,
    pub largest: bool,
}
