//! Forward solvers.
//!
//! - [`program`]: the conic standard form [`ConeProgram`] every convex node is
//!   reduced to;
//! - [`cones`]: the cones of K behind one trait;
//! - [`ipm`]: the interior point method that solves a [`ConeProgram`];
//! - [`direct`]: one-factorisation solves where the structure allows
//!   (unconstrained least squares by QR, equality-constrained QPs by LBLᵀ);
//! - [`active_set`]: small strictly convex QPs by a dual active-set method.

pub mod active_set;
pub mod cones;
pub mod direct;
mod error;
pub mod ipm;
pub mod program;

pub use error::SolveError;
pub use ipm::{solve, KktFactor, KktMethod, Settings, Solution, Status, Summary};
pub use program::{ConeBlock, ConeProgram, Triplets};
