//! `solve using METHOD(options)` as sema resolved it: the method, its options
//! typed, and for the specialised forwards the structure of the problem they
//! solve, recognised once at check time (`sema::recognise`), so the runtime
//! and the backward pass read it here and never look at the node's shape again.

use super::expr::Expr;
use super::node::Family;
use crate::diag::Span;

/// `solve using method(options)`, resolved and checked by sema.
#[derive(Clone, Debug, PartialEq)]
pub struct SolveSpec {
    /// The method, its options and recognised structure.
    pub method: SolveMethod,
    /// The `solve using` statement, for diagnostics about it.
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

    /// Why a `family` node has no forward by this method, if it has none: a
    /// conic node is solved by the interior point method alone (no smooth path
    /// is derived for it); a smooth one by Newton, SQP or a specialised forward
    /// (`ipm` there would need a cone program, and the classifier found none:
    /// the node is not DCP, or not with ddn's cones), and Newton takes
    /// equality constraints only. The one statement of the rule: `ddnc check`
    /// reports it at the method's name, the runtime refuses a node built past
    /// the checker with the same words.
    pub fn misfit(&self, family: Family) -> Option<Misfit> {
        let ipm = matches!(self, SolveMethod::Ipm(_));
        let (why, instead) = if family.is_conic() != ipm {
            if family.is_conic() {
                ("a conic node is solved by the interior point method", "`ipm`")
            } else {
                ("a node that is not a cone program is solved locally", "`newton`, `sqp`, `sinkhorn` or `eigh`")
            }
        } else if matches!(self, SolveMethod::Newton(_)) && family == Family::SmoothInequality {
            ("Newton's method handles equality constraints only", "`sqp`")
        } else {
            return None;
        };
        Some(Misfit { method: self.name(), family: family.name(), why, instead })
    }

    /// The options given (all unset for a method that takes none).
    pub fn options(&self) -> IterOptions {
        match self {
            SolveMethod::Ipm(o) | SolveMethod::Newton(o) | SolveMethod::Sqp(o) | SolveMethod::Sinkhorn(o, _) => *o,
            SolveMethod::Eigh(_) => IterOptions::default(),
        }
    }
}

/// A method named for a family that has no forward by it ([`SolveMethod::misfit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Misfit {
    /// The method named (`solve using NAME`).
    pub method: &'static str,
    /// The node's family, as `ddnc check` names it ([`Family::name`]).
    pub family: &'static str,
    /// Which methods the family's nodes are solved by, and why.
    pub why: &'static str,
    /// The methods to name instead.
    pub instead: &'static str,
}

impl Misfit {
    /// The refusal's headline.
    pub fn message(&self) -> String {
        format!("`solve using {}` is not available for {} nodes", self.method, self.family)
    }

    /// What to do instead.
    pub fn help(&self) -> String {
        format!("{}: use {}, or leave `solve using` out", self.why, self.instead)
    }
}

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message(), self.help())
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
    /// `k * sum(xlogx(P))` or `sum(xlogx(P)) * k`: ε = k.
    Times(Expr),
    /// `sum(xlogx(P)) / k`: ε = 1/k.
    Over(Expr),
}

/// `minimize Σ C∘P + ε Σ xlogx(P)  s.t.  P1 = r, Pᵀ1 = c` (the seed's entropic
/// optimal transport, ε = 1/γ), its data as expressions of the parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Transport {
    /// C, the cost matrix of `sum(C * P)`.
    pub cost: Expr,
    /// ε, the entropy weight, as written.
    pub eps: Weight,
    /// r, the row marginal: `sum(P, axis = 1) == r`.
    pub rows: Expr,
    /// c, the column marginal: `sum(P, axis = 0) == c`.
    pub cols: Expr,
}

/// `max/min uᵀXu s.t. uᵀu = 1` (`full: false`), or `max/min tr(UᵀXU) s.t.
/// UᵀU = I` with U square (`full: true`); X an expression of the parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Eigen {
    /// X, the matrix whose eigenvectors are sought.
    pub x: Expr,
    /// Every eigenvector (`U` square, `U.T @ U == eye(m)`), not one (`u @ u == 1`).
    pub full: bool,
    /// `maximize` (the largest eigenvalue's eigenvector), not `minimize` (the smallest).
    pub largest: bool,
}
