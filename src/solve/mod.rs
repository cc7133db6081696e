//! Forward solvers.

pub mod program;

pub use program::{ConeBlock, ConeProgram, Triplets};
