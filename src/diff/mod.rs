//! Backward passes: vector-Jacobian products of a node's solution map, from its
//! optimality conditions (never by unrolling the solver).

mod conic;
pub mod ift;

pub use conic::backward;
pub use ift::{adjoint, Adjoint, Cotangents, ACTIVITY_TOL};
