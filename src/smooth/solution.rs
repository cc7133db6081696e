//! What a smooth forward returns.

use super::{Residuals, Status};

/// A forward solve's outcome. `y`, `nu`, `lambda` are the last iterate whatever
/// the status; they are a first-order point (to the settings' `tol`, as
/// measured by `residuals`) exactly when `status` is [`Status::Optimal`].
#[derive(Clone, Debug, PartialEq)]
pub struct SmoothSolution {
    /// How the solve ended.
    pub status: Status,
    /// The solution, length `n`.
    pub y: Vec<f64>,
    /// Multipliers of `h(y) = 0`, length `n_eq` (`L = f + νᵀh + λᵀg`).
    pub nu: Vec<f64>,
    /// Multipliers of `g(y) ≤ 0`, length `n_ineq`, `λ ≥ 0`.
    pub lambda: Vec<f64>,
    /// `f(y)` (NaN if `y` is outside the domain, which only a failed solve returns).
    pub objective: f64,
    /// Iterations taken (restoration steps included).
    pub iterations: usize,
    /// The scaled first-order residuals at `(y, ν, λ)`.
    pub residuals: Residuals,
}
