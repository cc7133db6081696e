//! Feasibility restoration: when the interior point method's line search fails
//! at an infeasible point, minimise the violation
//!
//! ```text
//! ψ(y) = ½‖h(y)‖² + ½‖max(g(y), 0)‖²
//! ```
//!
//! by Levenberg–Marquardt on the residual `r = (h, max(g, 0))` (N&W §10.3;
//! the role of IPOPT's restoration phase, Wächter & Biegler 2006 §3.3). Either
//! `ψ` reaches zero (to tolerance) and the method restarts from there, or it
//! stalls at a stationary point `Jᵀr = 0` with `r ≠ 0`: a point of local
//! infeasibility, which is what `Infeasible` certifies for a smooth problem
//! (global infeasibility of non-convex constraints is out of reach).

use faer::linalg::solvers::Solve;
use faer::{Mat, Side};

use super::{DomainError, Settings, SmoothProblem};
use crate::linalg::norm_inf;

/// How a restoration ended; `iterations` counts Levenberg–Marquardt steps.
pub(crate) enum Restored {
    /// `‖r(y)‖∞ ≤ tol`.
    Feasible { y: Vec<f64>, iterations: usize },
    /// A stationary point of `ψ` with `‖r‖∞ > tol`.
    Infeasible { y: Vec<f64>, iterations: usize },
    /// Neither within the iteration limit.
    Failed { iterations: usize },
}

/// `r(y)` and its Jacobian: the rows of `Jg` with `gⱼ > 0` (the derivative of
/// `max(g, 0)` away from the kink).
fn residual(problem: &dyn SmoothProblem, y: &[f64]) -> Result<(Vec<f64>, Mat<f64>), DomainError> {
    let (h, g) = (problem.eq(y)?, problem.ineq(y)?);
    let (jh, jg) = (problem.eq_jacobian(y)?, problem.ineq_jacobian(y)?);
    let (me, mi, n) = (h.len(), g.len(), y.len());
    let r: Vec<f64> = h.iter().copied().chain(g.iter().map(|g| g.max(0.0))).collect();
    let j = Mat::from_fn(me + mi, n, |i, c| {
        if i < me {
            jh[(i, c)]
        } else if g[i - me] > 0.0 {
            jg[(i - me, c)]
        } else {
            0.0
        }
    });
    Ok((r, j))
}

fn half_sq(r: &[f64]) -> f64 {
    0.5 * r.iter().map(|v| v * v).sum::<f64>()
}

pub(crate) fn restore(problem: &dyn SmoothProblem, y0: &[f64], settings: &Settings) -> Restored {
    let tol = settings.tol;
    let mut y = y0.to_vec();
    let Ok((mut r, mut j)) = residual(problem, &y) else { return Restored::Failed { iterations: 0 } };
    let n = y.len();
    let mut gamma = 1e-4;
    for k in 0..settings.max_iter {
        let jtr: Vec<f64> = (0..n).map(|c| (0..r.len()).map(|i| j[(i, c)] * r[i]).sum()).collect();
        if norm_inf(&r) <= tol / 10.0 {
            return Restored::Feasible { y, iterations: k };
        }
        let jnorm = (0..n).map(|c| (0..r.len()).map(|i| j[(i, c)].abs()).sum::<f64>()).fold(1.0, f64::max);
        if norm_inf(&jtr) <= 1e-10 * jnorm * norm_inf(&r) {
            return Restored::Infeasible { y, iterations: k };
        }
        // (JᵀJ + γ diag-scale I) p = −Jᵀr; γ up on failure, down on success.
        let jtj = Mat::from_fn(n, n, |a, b| (0..r.len()).map(|i| j[(i, a)] * j[(i, b)]).sum::<f64>());
        let scale = (0..n).map(|i| jtj[(i, i)]).fold(1e-12, f64::max);
        let psi = half_sq(&r);
        loop {
            let shifted = Mat::from_fn(n, n, |a, b| jtj[(a, b)] + if a == b { gamma * scale } else { 0.0 });
            let p = match shifted.llt(Side::Lower) {
                Ok(llt) => llt.solve(Mat::from_fn(n, 1, |i, _| -jtr[i])),
                Err(_) => Mat::zeros(n, 1),
            };
            let trial: Vec<f64> = (0..n).map(|i| y[i] + p[(i, 0)]).collect();
            if let Ok((rt, jt)) = residual(problem, &trial) {
                if half_sq(&rt) < psi {
                    (y, r, j) = (trial, rt, jt);
                    gamma = (gamma / 10.0).max(1e-16);
                    break;
                }
            }
            gamma *= 10.0;
            if gamma > 1e20 {
                // No decrease along any damped step: stationary to working precision.
                let stationary = norm_inf(&jtr) <= 1e-6 * jnorm * norm_inf(&r).max(1.0);
                return if stationary {
                    Restored::Infeasible { y, iterations: k }
                } else {
                    Restored::Failed { iterations: k }
                };
            }
        }
    }
    Restored::Failed { iterations: settings.max_iter }
}
