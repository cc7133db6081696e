//! Checked nodes: parameters, variables, objective, constraints, classification.

use super::expr::Expr;
use super::method::SolveSpec;
use crate::diag::Span;
use crate::shape::{Dim, Shape};
use crate::syntax::ast::{BaseType, CmpOp, Sense};

/// A parameter: its index in [`Node::params`] (declaration order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub u32);
/// A variable: its index in [`Node::vars`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(pub u32);

/// All checked nodes of a file, in source order.
#[derive(Clone, Debug, Default)]
pub struct Program {
    /// The nodes, in source order.
    pub nodes: Vec<Node>,
}

/// A dimension name and the parameter axis that binds it at run time.
#[derive(Clone, Debug, PartialEq)]
pub struct DimInfo {
    /// The dimension name as written.
    pub name: String,
    /// Its first occurrence.
    pub span: Span,
    /// The first parameter axis with this name: its length is the dimension's value.
    pub bound_by: Option<(ParamId, u8)>,
}

/// A node input, `name: TYPE`.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its element domain, checked on the value at run time (all but `real`).
    pub base: BaseType,
    /// Its declared shape.
    pub shape: Shape,
    /// Where its name was written.
    pub span: Span,
}

/// An optimisation variable: a node output or a `var` declared in the body.
#[derive(Clone, Debug, PartialEq)]
pub struct Var {
    /// Its name.
    pub name: String,
    /// Its element domain; all but `real` add constraints ([`ConstraintOrigin::VarType`]).
    pub base: BaseType,
    /// Its declared shape.
    pub shape: Shape,
    /// Where its name was written.
    pub span: Span,
    /// Listed after `->` (returned), not declared with `var` in the body.
    pub is_output: bool,
}

/// What a node returns, in declaration order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Output {
    /// The optimal value of a variable.
    Var(VarId),
    /// The multiplier of constraint number `.0` (an index into [`Node::constraints`]).
    Dual(usize),
}

/// `minimize expr` or `maximize expr`.
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    /// `minimize` or `maximize`.
    pub sense: Sense,
    /// The scalar objective as written (not negated for `maximize`; see [`Self::min_sign`]).
    pub expr: Expr,
    /// The whole statement.
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
    /// `g(x) <= 0` (`<=`, `>=`, and `<<`, `>>` in the semidefinite order).
    Le,
    /// `h(x) == 0`.
    Eq,
}

/// `lhs OP rhs`, elementwise over `shape`.
///
/// Multiplier convention (language.md, CVXPY's): `lhs <= rhs` is `g = lhs - rhs <= 0`,
/// `lhs >= rhs` is `g = rhs - lhs <= 0`, `lhs == rhs` is `h = lhs - rhs == 0`, with the
/// Lagrangian `f0 + Σ λ·g + Σ ν·h`, `λ >= 0`.
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    /// The label of `name: lhs <= rhs`, by which `dual name` returns its multiplier.
    pub name: Option<String>,
    /// The left side, as written.
    pub lhs: Expr,
    /// The relation, as written.
    pub op: CmpOp,
    /// The right side, as written.
    pub rhs: Expr,
    /// The shape `lhs` and `rhs` broadcast to: one multiplier per entry.
    pub shape: Shape,
    /// The constraint as written (the variable's name for a type-implied one).
    pub span: Span,
    /// Written by the user or implied by a variable's type.
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

    /// Inequality or equality, after [`Self::normal_form`].
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
    /// The variable started.
    pub var: VarId,
    /// Its starting value, broadcast to the variable's shape.
    pub value: Expr,
}

/// The problem families ddn solves (language.md, "What the compiler produces").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Family {
    /// A linear program.
    #[serde(rename = "LP")]
    Lp,
    /// A convex quadratic program (quadratic objective, linear constraints).
    #[serde(rename = "QP")]
    Qp,
    /// A second-order cone program.
    #[serde(rename = "SOCP")]
    Socp,
    /// A conic program with exponential cones (and any of the others).
    #[serde(rename = "EXP")]
    Exp,
    /// A conic program with positive semidefinite cones (and any of the others).
    #[serde(rename = "SDP")]
    Sdp,
    /// A smooth node with no constraints (bounds a domain keeps strict do not count).
    #[serde(rename = "smooth unconstrained")]
    SmoothUnconstrained,
    /// A smooth node with equality constraints only.
    #[serde(rename = "smooth equality")]
    SmoothEquality,
    /// A smooth node with at least one inequality constraint that can be active.
    #[serde(rename = "smooth inequality")]
    SmoothInequality,
}

impl Family {
    /// Its name in `ddnc check` and in the `info.family` of `ddnc run`.
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

    /// A cone program (LP, QP, SOCP, EXP, SDP), solved by the interior point method;
    /// otherwise a smooth node, solved locally.
    pub fn is_conic(self) -> bool {
        matches!(self, Family::Lp | Family::Qp | Family::Socp | Family::Exp | Family::Sdp)
    }
}

/// The classifier's verdict on a node, with its reasons in words.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Classification {
    /// The family the node is solved as.
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
    /// The node's name.
    pub name: String,
    /// The whole node.
    pub span: Span,
    /// Its dimension names, indexed by [`crate::shape::DimId`], in the order parameters bind them.
    pub dims: Vec<DimInfo>,
    /// Its inputs, in declaration order (the forward's arguments).
    pub params: Vec<Param>,
    /// Its variables, indexed by [`VarId`]: the outputs' variables in declaration
    /// order, then the body's `var`s.
    pub vars: Vec<Var>,
    /// What it returns, in declaration order.
    pub outputs: Vec<Output>,
    /// Its one objective.
    pub objective: Objective,
    /// The `subject to` constraints in source order, then those implied by the
    /// variables' types.
    pub constraints: Vec<Constraint>,
    /// `solve using`, if written (otherwise the family's default method).
    pub solve: Option<SolveSpec>,
    /// The `init` statements, in source order.
    pub inits: Vec<Init>,
    /// The classifier's verdict.
    pub class: Classification,
}

impl Node {
    /// A dimension as written: its literal, or its name (`?` for an unknown id).
    pub fn dim_name(&self, d: Dim) -> String {
        dim_name(&self.dims, d)
    }

    /// `real[m, n]`-style spelling of a shape, with this node's dimension names.
    pub fn shape_str(&self, s: &Shape) -> String {
        shape_str(&self.dims, s)
    }

    /// The variable `id` (panics on an id from another node).
    pub fn var(&self, id: VarId) -> &Var {
        &self.vars[id.0 as usize]
    }

    /// The parameter `id` (panics on an id from another node).
    pub fn param(&self, id: ParamId) -> &Param {
        &self.params[id.0 as usize]
    }
}

/// `real[m, n]`-style spelling of a shape given a dimension table.
pub fn shape_str(dims: &[DimInfo], s: &Shape) -> String {
    if s.is_scalar() {
        return "real".into();
    }
    let parts: Vec<String> = s.0.iter().map(|&d| dim_name(dims, d)).collect();
    format!("real[{}]", parts.join(", "))
}

/// A dimension as written: its size, or its name in `dims` (`?` for an id
/// outside the table).
fn dim_name(dims: &[DimInfo], d: Dim) -> String {
    match d {
        Dim::Fixed(v) => v.to_string(),
        Dim::Named(id) => dims.get(id.0 as usize).map_or_else(|| "?".into(), |i| i.name.clone()),
    }
}
