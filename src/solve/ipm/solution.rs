//! What [`solve`](super::solve) returns: the point, the status, the measures,
//! and the KKT factorisation at the solution for the backward pass.

use super::status::Status;
use super::summary::Summary;
use super::workspace::Workspace;
use crate::solve::SolveError;

/// The result of a solve.
///
/// - `Optimal`, `AlmostOptimal`: `(x, s, z)` solve the problem, with
///   `Px + q + Aᵀz = 0`, `Ax + s = b`, `s ∈ K`, `z ∈ K*`, `sᵀz = 0` to the
///   tolerances (z is the multiplier of the Lagrangian `½xᵀPx + qᵀx +
///   zᵀ(Ax − b)`).
/// - `PrimalInfeasible`: `z` is a certificate normalised to `bᵀz = −1`
///   (`Aᵀz ≈ 0`, `z ∈ K*`); `x` and `s` are NaN.
/// - `DualInfeasible`: `x` is a certificate normalised to `qᵀx = −1`, with
///   `s = −Ax ∈ K` and `Px ≈ 0`; `z` is NaN.
/// - `MaxIterations`, `NumericalError`: the last iterate, divided by `τ`.
///
/// Except for the certificates, `info`'s objectives, residuals and gaps are
/// those of the returned `(x, s, z)`.
#[derive(Debug)]
pub struct Solution {
    /// How the solve ended.
    pub status: Status,
    /// The primal point (n), or a certificate (see above).
    pub x: Vec<f64>,
    /// The slacks (m), `s ∈ K`.
    pub s: Vec<f64>,
    /// The multipliers (m), `z ∈ K*`.
    pub z: Vec<f64>,
    /// Iterations, residuals, objectives and gap at the returned point.
    pub info: Summary,
    /// For `Optimal` and `AlmostOptimal`: the KKT matrix at the returned point,
    /// factored (see [`KktFactor`]). `None` otherwise, or if that factorisation
    /// failed.
    pub kkt: Option<KktFactor>,
}

/// The KKT matrix at the solution, factored, for implicit differentiation:
///
/// ```text
/// K = [ P   Aᵀ ]
///     [ A   −H ]
/// ```
///
/// with `H = WᵀW` the Nesterov–Todd scaling of the returned `(s, z)` (per
/// block: `diag(s/z)` for the nonnegative orthant, `η²(2w̄w̄ᵀ − J)` for a
/// second-order cone, 0 for the zero cone). It is the linearisation of the
/// optimality conditions with complementarity `s ∘ z = 0` written as
/// `Δs = −H Δz`: differentiating `Px + q + Aᵀz = 0`, `Ax + s = b` gives
/// `K [dx; dz] = [−dP x − dq − dAᵀz; db − dA x]`.
///
/// The factorisation is of the equilibrated, regularised matrix; [`solve`]
/// undoes both (the regularisation by iterative refinement), so callers see
/// `K` in the original coordinates.
///
/// [`solve`]: KktFactor::solve
#[derive(Debug)]
pub struct KktFactor {
    /// The workspace of the solve, which holds the factorisation.
    ws: Box<Workspace>,
}

impl KktFactor {
    pub(crate) fn new(ws: Box<Workspace>) -> Self {
        KktFactor { ws }
    }

    /// Number of variables n.
    pub fn n(&self) -> usize {
        self.ws.n()
    }

    /// Number of constraint rows m.
    pub fn m(&self) -> usize {
        self.ws.m()
    }

    /// Solves `K [dx; dz] = rhs` in place (`rhs` of length n + m), as
    /// `K⁻¹ = S K̃⁻¹ S`, refined against the unregularised `K̃`.
    ///
    /// Returns the backward error reached, `‖r̃ − K̃ṽ‖∞ / (‖r̃‖∞ + max|K̃ᵢⱼ| ‖ṽ‖∞)`
    /// in the equilibrated coordinates: near ε for a well-posed problem, but
    /// larger when the solution is degenerate (more active constraints than
    /// variables, a second-order cone at its apex), where `K` is nearly
    /// singular and the derivative may not exist. Callers decide what accuracy
    /// they need.
    pub fn solve(&mut self, rhs: &mut [f64]) -> Result<f64, SolveError> {
        self.ws.kkt_solve(rhs)
    }

    /// `y = H x` for the `H` of [`KktFactor`], in original coordinates
    /// (`H = c E⁻¹ H̃ E⁻¹`); `x`, `y` of length m.
    pub fn mul_h(&mut self, y: &mut [f64], x: &[f64]) -> Result<(), SolveError> {
        self.ws.kkt_mul_h(y, x)
    }
}
