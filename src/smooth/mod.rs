//! Smooth declarative nodes: the forward solvers that find a local solution of
//! `min f(y) s.t. h(y) = 0, g(y) ≤ 0` from the derivatives a [`SmoothProblem`]
//! supplies (Newton, SQP, interior point), and the specialised forwards the file
//! may name (`sinkhorn`, `eigh`).

mod eigh;
mod problem;
mod sinkhorn;

pub use eigh::{eigh, Eigh};
pub use problem::{DomainError, SmoothProblem};
pub use sinkhorn::{marginal_error, sinkhorn, SinkhornSettings, SinkhornSolution};
