//! How a solve ended. Every outcome of the iterations is a `Status`; only
//! invalid input is an `Err`. The `Almost*` outcomes met only the reduced
//! tolerances (`reduced_tol_*` in [`Settings`](super::Settings)) before the
//! iterations stalled or ran out. `Optimal` and `AlmostOptimal` are judged at
//! the point returned (after mapping back and polishing), not at the last
//! iterate.

/// The outcome of a solve (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Primal and dual residuals and the duality gap are within the tolerances.
    Optimal,
    /// An optimum at the reduced tolerances only (the contract's
    /// `optimal_inaccurate`); `Summary::unmet` names the
    /// full-tolerance criterion missed.
    AlmostOptimal,
    /// No `x` satisfies the constraints; `z` is a certificate:
    /// `Aᵀz = 0`, `bᵀz < 0`, `z ∈ K*`.
    PrimalInfeasible,
    /// A primal infeasibility certificate at the reduced tolerances.
    AlmostPrimalInfeasible,
    /// The objective is unbounded below; `x` is a certificate:
    /// `Px = 0`, `Ax + s = 0` with `s ∈ K`, `qᵀx < 0`.
    DualInfeasible,
    /// A dual infeasibility certificate at the reduced tolerances.
    AlmostDualInfeasible,
    /// `max_iter` iterations without meeting a termination criterion.
    MaxIterations,
    /// The steps became too short, or the residuals started growing, away from
    /// any solution.
    InsufficientProgress,
    /// A KKT factorisation or solve failed, or an iterate left the cone.
    NumericalError,
}

impl Status {
    /// True for `Optimal` and `AlmostOptimal`: `x`, `s`, `z` are a solution.
    pub fn is_solved(self) -> bool {
        matches!(self, Status::Optimal | Status::AlmostOptimal)
    }

    /// The reduced-accuracy counterpart of a full-accuracy outcome.
    pub(crate) fn reduced(self) -> Status {
        match self {
            Status::Optimal => Status::AlmostOptimal,
            Status::PrimalInfeasible => Status::AlmostPrimalInfeasible,
            Status::DualInfeasible => Status::AlmostDualInfeasible,
            s => s,
        }
    }
}
