//! Checked nodes: parameters, variables, objective, constraints, classification.

use super::expr::Expr;
use super::method::SolveSpec;
use crate::diag::Span;
use crate::shape::{Dim, Shape};
use crate::syntax::ast::{BaseType, CmpOp, Sense};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub u32);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(pub u32);

/// All checked nodes of a file, in source order.
#[derive(Clone, Debug, Default)]
pub struct Program {
    pub nodes: Vec<Node>,
}

/// A dimension name and the parameter axis that binds it at run time.
#[derive(Clone, Debug, PartialEq)]
pub struct DimInfo {
    pub name: String,
    /// Its first occurrence.
    pub span: Span,
    /// The first parameter axis with this name: its length is the dimension's value.
    pub bound_by: Option<(ParamId, u8)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub base: BaseType,
    pub shape: Shape,
    pub span: Span,
}

/// An optimisation variable: a node output or a `var` declared in the body.
#[derive(Clone, Debug, PartialEq)]
pub struct Var {
    pub name: String,
    pub base: BaseType,
    pub shape: Shape,
    pub span: Span,
    pub is_output: bool,
}

/// What a node returns, in declaration order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Output {
    Var(VarId),
    /// The multiplier of constraint number `.0` (an index into [`Node::constraints`]).
    Dual(usize),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    pub sense: Sense,
    pub expr: Expr,
    pub span: Span,
}

impl Objective {
    /// `σ` with `σ · expr` the objective in minimisation form: 1 for
    /// `minimize`, −1 for `maximize` (`maximize f` is `minimize −f`).
    pub fn min_sign(&self) -> f64 {
        match self.sense {
            Sense::Minimize => 1.0,
            Sense::Maximize => -1.0,
        }
    }
}

/// Where a constraint came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConstraintOrigin {
    /// Written in `subject to`.
    User,
    /// Implied by a variable's type (`nonneg`, `pos`, `sym`).
    VarType(VarId),
}

/// Normalised relation: `g(x) <= 0` or `h(x) == 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    Le,
    Eq,
}

/// `lhs OP rhs`, elementwise over `shape`.
///
/// Multiplier convention (language.md, CVXPY's): `lhs <= rhs` is `g = lhs - rhs <= 0`,
/// `lhs >= rhs` is `g = rhs - lhs <= 0`, `lhs == rhs` is `h = lhs - rhs == 0`, with the
/// Lagrangian `f0 + Σ λ·g + Σ ν·h`, `λ >= 0`.
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    pub name: Option<String>,
    pub lhs: Expr,
    pub op: CmpOp,
    pub rhs: Expr,
    pub shape: Shape,
    pub span: Span,
    pub origin: ConstraintOrigin,
}

impl Constraint {
    /// `(a, b)` with `g = a − b` (`≤`, `≥`) or `h = a − b` (`==`), the
    /// convention above: `(lhs, rhs)`, except `(rhs, lhs)` for `≥`. A
    /// semidefinite `A >> B` reads as `B − A ⪯ 0` (as `≥` does), `A << B` as
    /// `A − B ⪯ 0`.
    pub fn normal_form(&self) -> (&Expr, &Expr) {
        match self.op {
            CmpOp::Ge | CmpOp::PsdGe => (&self.rhs, &self.lhs),
            CmpOp::Le | CmpOp::Eq | CmpOp::PsdLe => (&self.lhs, &self.rhs),
        }
    }

    /// `o` with `g = o · (lhs − rhs)` (or `h`): −1 for `≥` and `>>`, else 1.
    pub fn orientation(&self) -> f64 {
        if matches!(self.op, CmpOp::Ge | CmpOp::PsdGe) {
            -1.0
        } else {
            1.0
        }
    }

    pub fn relation(&self) -> Relation {
        match self.op {
            CmpOp::Eq => Relation::Eq,
            CmpOp::Le | CmpOp::Ge | CmpOp::PsdGe | CmpOp::PsdLe => Relation::Le,
        }
    }
}

/// `init var = expr`: a starting point (an expression of parameters only).
#[derive(Clone, Debug, PartialEq)]
pub struct Init {
    pub var: VarId,
    pub value: Expr,
}

/// The problem families ddn solves (language.md, "What the compiler produces").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Family {
    #[serde(rename = "LP")]
    Lp,
    #[serde(rename = "QP")]
    Qp,
    #[serde(rename = "SOCP")]
    Socp,
    /// A conic program with exponential cones (and any of the others).
    #[serde(rename = "EXP")]
    Exp,
    /// A conic program with positive semidefinite cones (and any of the others).
    #[serde(rename = "SDP")]
    Sdp,
    #[serde(rename = "smooth unconstrained")]
    SmoothUnconstrained,
    #[serde(rename = "smooth equality")]
    SmoothEquality,
    #[serde(rename = "smooth inequality")]
    SmoothInequality,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Lp => "LP",
            Family::Qp => "QP",
            Family::Socp => "SOCP",
            Family::Exp => "EXP",
            Family::Sdp => "SDP",
            Family::SmoothUnconstrained => "smooth unconstrained",
            Family::SmoothEquality => "smooth equality",
            Family::SmoothInequality => "smooth inequality",
        }
    }

    pub fn is_conic(self) -> bool {
        matches!(self, Family::Lp | Family::Qp | Family::Socp | Family::Exp | Family::Sdp)
    }
}

/// The classifier's verdict on a node, with its reasons in words.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Classification {
    pub family: Family,
    /// Whether the node is DCP-convex (its solution is then a global optimum).
    pub convex: bool,
    /// One sentence: why this family.
    pub reason: String,
    /// Further facts (implied bounds, piecewise smoothness, non-uniqueness).
    pub notes: Vec<String>,
    /// For a node that is not DCP: the lowest subexpression where DCP fails.
    #[serde(skip)]
    pub culprit: Option<crate::diag::Span>,
}

/// A checked node.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub span: Span,
    pub dims: Vec<DimInfo>,
    pub params: Vec<Param>,
    pub vars: Vec<Var>,
    pub outputs: Vec<Output>,
    pub objective: Objective,
    pub constraints: Vec<Constraint>,
    pub solve: Option<SolveSpec>,
    pub inits: Vec<Init>,
    pub class: Classification,
}

impl Node {
    pub fn dim_name(&self, d: Dim) -> String {
        match d {
            Dim::Fixed(v) => v.to_string(),
            Dim::Named(id) => self.dims.get(id.0 as usize).map_or_else(|| "?".into(), |i| i.name.clone()),
        }
    }

    /// `real[m, n]`-style spelling of a shape, with this node's dimension names.
    pub fn shape_str(&self, s: &Shape) -> String {
        shape_str(&self.dims, s)
    }

    pub fn var(&self, id: VarId) -> &Var {
        &self.vars[id.0 as usize]
    }

    pub fn param(&self, id: ParamId) -> &Param {
        &self.params[id.0 as usize]
    }
}

/// `real[m, n]`-style spelling of a shape given a dimension table.
pub fn shape_str(dims: &[DimInfo], s: &Shape) -> String {
    if s.is_scalar() {
        return "real".into();
    }
    let parts: Vec<String> =
        s.0.iter()
            .map(|d| match d {
                Dim::Fixed(v) => v.to_string(),
                Dim::Named(id) => dims.get(id.0 as usize).map_or_else(|| "?".into(), |i| i.name.clone()),
            })
            .collect();
    format!("real[{}]", parts.join(", "))
}
