//! Backward passes: vector-Jacobian products of a node's solution map, from its
//! optimality conditions (never by unrolling the solver).

mod conic;
mod eigen;
pub mod ift;
mod ot;

pub use conic::backward;
pub use eigen::{eigh_vjp, max_eigvec_vjp, MIN_REL_GAP};
pub use ift::{adjoint, Adjoint, Cotangents, ACTIVITY_TOL};
pub use ot::{entropic_ot_vjp, OtGradients};
