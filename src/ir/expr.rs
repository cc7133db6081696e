//! Checked expressions: resolved leaves, atoms, and a shape on every node.

use super::node::{ParamId, VarId};
use crate::atoms::Atom;
use crate::diag::Span;
use crate::shape::{DimId, Shape};

/// Elementwise arithmetic with numpy broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

impl Arith {
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
    Range { start: u64, end: Option<u64> },
}

/// The index of a symbolic input ([`ExprKind::Sym`]) in `Env::syms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SymId(pub u32);

/// A checked expression. `span` is where it was written (inside a `def` body when
/// it came from one).
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub shape: Shape,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Const(f64),
    /// The run-time value of a dimension name, as a scalar.
    Dim(DimId),
    Param(ParamId),
    Var(VarId),
    /// A symbolic input of a derived expression (a direction, a cotangent, a
    /// multiplier): never written in source, bound at evaluation time like a
    /// parameter (`Env::syms`). `name` is how it prints.
    Sym {
        id: SymId,
        name: String,
    },
    Neg(Box<Expr>),
    Binary {
        op: Arith,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `x ^ p`, `p` a constant.
    Pow {
        base: Box<Expr>,
        p: f64,
    },
    MatMul(Box<Expr>, Box<Expr>),
    Transpose(Box<Expr>),
    Index {
        base: Box<Expr>,
        sel: Vec<Sel>,
    },
    /// An atom applied to checked arguments; `axis` for reductions that take one.
    Atom {
        atom: Atom,
        args: Vec<Expr>,
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
