//! Symbolic derivatives of smooth nodes: expressions in, expressions out.
//!
//! For a node `y(θ) ∈ argmin_y f(θ, y) s.t. h(θ, y) = 0, g(θ, y) ≤ 0` with
//! Lagrangian `L = f + νᵀh + λᵀg` (language.md's convention, `f` negated for
//! `maximize`), `derive` produces the expressions a smooth solver and the
//! implicit-function-theorem backward need, as IR expressions over the node's
//! parameters, variables and symbolic inputs ([`crate::ir::ExprKind::Sym`]):
//! `f_y = ∇_y f`, `L_y = ∇_y L`, `L_yy v`, the constraint values and their
//! transposed Jacobian products, and the mixed partials
//! `∂_θ [wᵀ L_y + aᵀh + bᵀg]`. Each is simplified by egg ([`simplify`]).
//!
//! - `build`: shape-computing constructors for derived expressions
//! - `partials`: local derivatives of elementwise operations (shared by both modes)
//! - [`grad`]: reverse mode, `∂⟨c, e⟩/∂wrt`
//! - [`jvp`]: forward mode, `∂e · ẏ`
//! - [`simplify`]: the egg language, its shape analysis, and the runner
//! - `rules`: the rewrite rules, grouped by theory
//! - `hessian`: `L_yy` in one sweep, all directions at once, in structured forms
//! - `derive`: the node's derivative expressions ([`Derived`])
//! - [`explain`]: the derived expressions as text

mod build;
mod derive;
mod explain;
mod grad;
mod hessian;
mod jvp;
mod partials;
mod rules;
mod simplify;

pub use derive::{derive, Derived, Normalised, SymInfo, SymRole};
pub use explain::{explain, listing};
pub use grad::grad;
pub use jvp::jvp;
pub use rules::groups as rule_groups;
pub(crate) use simplify::{fold, from_egg, node_kind, to_egg, Math, Shapes};
pub use simplify::{simplify, Simplified};

use crate::diag::Span;
use crate::ir::{Expr, ExprKind, ParamId, VarId};

/// A leaf to differentiate with respect to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Wrt {
    /// An optimisation variable `y`.
    Var(VarId),
    /// A parameter `θ`.
    Param(ParamId),
}

impl Wrt {
    /// Whether `e` is this leaf.
    pub fn is(self, e: &Expr) -> bool {
        match (self, &e.kind) {
            (Wrt::Var(v), ExprKind::Var(w)) => v == *w,
            (Wrt::Param(p), ExprKind::Param(q)) => p == *q,
            _ => false,
        }
    }

    /// Whether the leaf occurs in `e`.
    pub fn occurs_in(self, e: &Expr) -> bool {
        self.is(e) || e.children().into_iter().any(|c| self.occurs_in(c))
    }
}

/// An expression the differentiator has no rule for. Every operation and atom
/// of the language has one; this guards what a new atom may lack.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct DeriveError {
    /// Which mode has no rule for what ("reverse mode has no rule for `foo` ...").
    pub message: String,
    /// The expression without a rule.
    pub span: Span,
}

impl DeriveError {
    fn unsupported(e: &Expr, mode: &str) -> DeriveError {
        let what = match &e.kind {
            ExprKind::Atom { atom, .. } => format!("`{}`", atom.name()),
            ExprKind::Index { .. } => "indexing".into(),
            _ => "this expression".into(),
        };
        DeriveError { message: format!("{mode} has no rule for {what} of a differentiated leaf"), span: e.span }
    }
}
