//! The outcome of a forward solve in the contract's words: what the smooth methods
//! and the specialised forwards return and the runtime reports (the interior point
//! method's own `ipm::Status` maps onto it), so it sits below all of them.

/// The outcome of a forward solve, in the contract's words (language.md,
/// "`ddnc run` JSON").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The solver's own stopping criteria hold at the returned point (and for
    /// a smooth node, the second-order condition of a local minimum).
    Optimal,
    /// Solved to the interior point method's reduced (fallback) tolerances
    /// only; `info.unmet` names the criterion missed and by how much.
    OptimalInaccurate,
    /// A smooth node's first-order point where the second-order condition of a
    /// local minimum fails (a saddle or a maximum), after the solver tried to
    /// move off it.
    Stationary,
    /// The constraints have no common point: the interior point method found a
    /// certificate of primal infeasibility (or nearly one).
    Infeasible,
    /// The objective is unbounded below (in minimisation form): a certificate of
    /// dual infeasibility, or a smooth solver's objective fell below its floor.
    Unbounded,
    /// The iteration limit (`max_iter`) was reached first.
    MaxIterations,
    /// The solver could not go on: a non-finite value, a failed factorisation or
    /// line search, or no progress.
    NumericalError,
}

impl Status {
    /// Every status, in the contract's order.
    pub const ALL: [Status; 7] = [
        Status::Optimal,
        Status::OptimalInaccurate,
        Status::Stationary,
        Status::Infeasible,
        Status::Unbounded,
        Status::MaxIterations,
        Status::NumericalError,
    ];

    /// Its name in the contract and in `ddnc run`'s JSON (`optimal_inaccurate`).
    pub fn name(self) -> &'static str {
        match self {
            Status::Optimal => "optimal",
            Status::OptimalInaccurate => "optimal_inaccurate",
            Status::Stationary => "stationary",
            Status::Infeasible => "infeasible",
            Status::Unbounded => "unbounded",
            Status::MaxIterations => "max_iterations",
            Status::NumericalError => "numerical_error",
        }
    }

    /// The statuses that come with outputs and, on request, gradients:
    /// `optimal`, `optimal_inaccurate`, `stationary`.
    pub fn is_solved(self) -> bool {
        matches!(self, Status::Optimal | Status::OptimalInaccurate | Status::Stationary)
    }
}
