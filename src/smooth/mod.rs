//! Smooth declarative nodes: the forward solvers that find a local solution of
//! `min f(y) s.t. h(y) = 0, g(y) ≤ 0` from the derivatives a [`SmoothProblem`]
//! supplies (Newton, SQP, interior point), and the specialised forwards the file
//! may name (`sinkhorn`, `eigh`).
//!
//! [`solve`] picks the method by the constraints present; every forward ends
//! by checking the first-order conditions ([`Residuals`]) at its answer. The
//! backward pass is [`crate::diff::ift`].

mod curvature;
mod eigh;
mod error;
mod interior;
mod line_search;
mod method;
mod newton;
mod optimality;
mod problem;
mod restoration;
mod settings;
mod sinkhorn;
mod solution;

pub use crate::status::Status;
pub use eigh::{eigh, Eigh};
pub use error::{DomainError, SmoothError};
pub use method::{solve, Method};
pub use optimality::{activity, Residuals, ACTIVITY_TOL};
pub use problem::{NewtonPass, SmoothProblem};
pub use settings::Settings;
pub(crate) use sinkhorn::round_trip;
pub use sinkhorn::{marginal_error, sinkhorn, Domain, SinkhornSettings, SinkhornSolution, MAX_KERNEL_RANGE};
pub use solution::SmoothSolution;
