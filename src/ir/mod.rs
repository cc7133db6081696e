//! The checked IR: what every back end consumes.
//!
//! A [`Program`] is built only by [`crate::sema::check`]; holding one means every
//! name is resolved, every `def` and `let` is inlined, every shape is consistent and
//! every node is classified. Back ends (canonicalisation, derivatives, solvers,
//! code generation) accept only this type.

mod expr;
mod method;
mod node;
mod print;

pub use crate::shape::{Dim, DimId, Shape};
pub use expr::{Arith, Expr, ExprKind, Sel, SymId};
pub use method::{Eigen, IterOptions, Misfit, SolveMethod, SolveSpec, Transport, Weight};
pub use node::{
    shape_str, Classification, Constraint, ConstraintOrigin, DimInfo, Family, Init, Node, Objective, Output, Param,
    ParamId, Program, Relation, Var, VarId,
};
