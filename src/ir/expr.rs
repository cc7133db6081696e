//! Checked expressions: resolved leaves, atoms, and a shape on every node.

use super::node::{ParamId, VarId};
use crate::atoms::Atom;
use crate::diag::Span;
use crate::shape::{DimId, Shape};

/// Elementwise arithmetic with numpy broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arith {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`, elementwise (not the matrix product, which is [`ExprKind::MatMul`]).
    Mul,
    /// `a / b`, elementwise.
    Div,
}

impl Arith {
    /// The operator as written in the language.
    pub fn symbol(self) -> &'static str {
        match self {
            Arith::Add => "+",
            Arith::Sub => "-",
            Arith::Mul => "*",
            Arith::Div => "/",
        }
    }
}

/// One axis of an index expression, resolved to literals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sel {
    /// `x[i]`: drops the axis.
    At(u64),
    /// `x[a:b]`, `x[:]`: keeps the axis; `end: None` means to the end.
    Range {
        /// The first index kept (0 for `x[:b]`).
        start: u64,
        /// One past the last index kept (exclusive, as in numpy).
        end: Option<u64>,
    },
}

/// The index of a symbolic input ([`ExprKind::Sym`]) in `Env::syms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SymId(pub u32);

/// A checked expression. `span` is where it was written (inside a `def` body when
/// it came from one).
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it computes.
    pub kind: ExprKind,
    /// Its checked shape (dimension names kept symbolic).
    pub shape: Shape,
    /// Where it was written.
    pub span: Span,
}

/// The operation at one node of a checked expression; `def` calls and `let`
/// names are already substituted.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A constant: every entry of the node's shape has this value.
    Const(f64),
    /// The run-time value of a dimension name, as a scalar.
    Dim(DimId),
    /// A node input.
    Param(ParamId),
    /// An optimisation variable (output or `var`).
    Var(VarId),
    /// A symbolic input of a derived expression (a direction, a cotangent, a
    /// multiplier): never written in source, bound at evaluation time like a
    /// parameter (`Env::syms`). `name` is how it prints.
    Sym {
        /// Its slot in `Env::syms`.
        id: SymId,
        /// Its printed name.
        name: String,
    },
    /// `-a`.
    Neg(Box<Expr>),
    /// `lhs op rhs`, elementwise with numpy broadcasting.
    Binary {
        /// The operator.
        op: Arith,
        /// The left operand.
        lhs: Box<Expr>,
        /// The right operand.
        rhs: Box<Expr>,
    },
    /// `x ^ p`, `p` a constant.
    Pow {
        /// The expression raised, elementwise.
        base: Box<Expr>,
        /// The exponent.
        p: f64,
    },
    /// `A @ B`: the matrix product (matrix–vector, and vector–vector is the dot product).
    MatMul(Box<Expr>, Box<Expr>),
    /// `A.T`.
    Transpose(Box<Expr>),
    /// `x[i]`, `X[i, :]`, `X[a:b, j]`: indexing and slices (0-based).
    Index {
        /// The expression indexed.
        base: Box<Expr>,
        /// One selection per leading axis of `base`; the axes after them are kept whole.
        sel: Vec<Sel>,
    },
    /// An atom applied to checked arguments; `axis` for reductions that take one.
    Atom {
        /// The atom.
        atom: Atom,
        /// Its value arguments in parameter order (keyword arguments put in place,
        /// omitted optional ones as their defaults); empty for a sizes atom
        /// (`ones(n)`), whose sizes are in the node's shape.
        args: Vec<Expr>,
        /// `axis = 0|1`, when given.
        axis: Option<u8>,
    },
}

impl Expr {
    /// Children in order.
    pub fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::Const(_) | ExprKind::Dim(_) | ExprKind::Param(_) | ExprKind::Var(_) | ExprKind::Sym { .. } => {
                Vec::new()
            }
            ExprKind::Neg(a)
            | ExprKind::Pow { base: a, .. }
            | ExprKind::Transpose(a)
            | ExprKind::Index { base: a, .. } => {
                vec![a]
            }
            ExprKind::Binary { lhs, rhs, .. } | ExprKind::MatMul(lhs, rhs) => vec![lhs, rhs],
            ExprKind::Atom { args, .. } => args.iter().collect(),
        }
    }

    /// True when no optimisation variable occurs in the expression: it is data.
    pub fn is_data(&self) -> bool {
        match &self.kind {
            ExprKind::Var(_) => false,
            _ => self.children().into_iter().all(Expr::is_data),
        }
    }

    /// Whether variable `v` occurs.
    pub fn mentions(&self, v: VarId) -> bool {
        match &self.kind {
            ExprKind::Var(w) => *w == v,
            _ => self.children().into_iter().any(|c| c.mentions(v)),
        }
    }

    /// The value when the expression is a literal constant (folded through `-`).
    pub fn as_const(&self) -> Option<f64> {
        match &self.kind {
            ExprKind::Const(c) => Some(*c),
            ExprKind::Neg(a) => a.as_const().map(|c| -c),
            _ => None,
        }
    }
}
