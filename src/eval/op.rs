//! One evaluation step: an expression node with its children taken away.

use crate::atoms::Atom;
use crate::ir::{Arith, DimId, ExprKind, ParamId, Sel, SymId, VarId};

/// What an expression node computes from its children's values (in order).
/// The evaluator ([`super::eval`]) and kernel programs ([`crate::kernel`]) both
/// run an `Op` through [`super::apply`].
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A constant.
    Const(f64),
    /// The size of a dimension name.
    Dim(DimId),
    /// A parameter's value.
    Param(ParamId),
    /// A variable's value.
    Var(VarId),
    /// A symbolic input of a derived expression (`Env::syms`).
    Sym {
        /// Which input.
        id: SymId,
        /// How it prints.
        name: String,
    },
    /// `-x`.
    Neg,
    /// An elementwise `+ - * /` with broadcasting.
    Binary(Arith),
    /// `x ^ p`, `p` a constant.
    Pow(f64),
    /// `a @ b`.
    MatMul,
    /// `x.T`.
    Transpose,
    /// `x[...]`: one selection per axis.
    Index(Vec<Sel>),
    /// An atom applied to the children.
    Atom {
        /// Which atom.
        atom: Atom,
        /// The `axis =` of a reduction (`None`: over every entry).
        axis: Option<u8>,
    },
}

impl Op {
    /// The step of `kind` (its children become the step's arguments).
    pub fn of(kind: &ExprKind) -> Op {
        match kind {
            ExprKind::Const(c) => Op::Const(*c),
            ExprKind::Dim(d) => Op::Dim(*d),
            ExprKind::Param(p) => Op::Param(*p),
            ExprKind::Var(v) => Op::Var(*v),
            ExprKind::Sym { id, name } => Op::Sym { id: *id, name: name.clone() },
            ExprKind::Neg(_) => Op::Neg,
            ExprKind::Binary { op, .. } => Op::Binary(*op),
            ExprKind::Pow { p, .. } => Op::Pow(*p),
            ExprKind::MatMul(..) => Op::MatMul,
            ExprKind::Transpose(_) => Op::Transpose,
            ExprKind::Index { sel, .. } => Op::Index(sel.clone()),
            ExprKind::Atom { atom, axis, .. } => Op::Atom { atom: *atom, axis: *axis },
        }
    }
}
