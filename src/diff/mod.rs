//! Backward passes: vector-Jacobian products of a node's solution map, from its
//! optimality conditions (never by unrolling the solver).

mod conic;

pub use conic::backward;
