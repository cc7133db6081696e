//! The second-order condition at a first-order point, and the step off a
//! point where it fails.
//!
//! At a first-order point `(y, ν, λ)` of `min f(y) s.t. h(y) = 0, g(y) ≤ 0`,
//! with `J = [Jh; Jg_A]` the Jacobian of the equalities and the active
//! inequalities ([`activity`]: the weakly active ones included) and `Z` a basis
//! of its null space, a local minimum has
//!
//! ```text
//! Zᵀ W Z ⪰ 0,   W = ∇²_yy L(y, ν, λ)
//! ```
//!
//! (Nocedal & Wright, Thm. 12.5; the null space stands in for the critical
//! cone, so a weakly active constraint counts as an equality). An eigenvalue
//! `κ < 0` of the reduced Hessian, with eigenvector `u`, gives a direction
//! `d = Zu` along which `L` falls as `½α²κ`: a saddle or a maximum, which
//! [`escape`] steps off.
//!
//! The test runs at every solution, so it goes cheapest first: a solver whose
//! last factorisation was of the unmodified (reduced) Hessian has already
//! certified it positive definite (Newton's Cholesky with `τ = 0`, the interior
//! point method's inertia `(n, m, 0)` with `δ_w = 0`), and the test costs
//! nothing; otherwise a Cholesky factorisation of `W` (unconstrained) or the
//! inertia of `[W Jᵀ; J 0]` (which is `(n, m_A, 0)` exactly when `ZᵀWZ ≻ 0`
//! for a full-rank `J`; Gould 1985) decides, and eigenvalues are computed only
//! when that fails (a singular or indefinite reduced Hessian).
//!
//! Watch: a solver's certificate is of its last iterate's matrix, one
//! (quadratically convergent) step before the returned point; and positive
//! semidefinite with a zero eigenvalue passes (the necessary condition holds,
//! the sufficient one cannot be decided from second derivatives).

use faer::{Mat, Side};

use super::{activity, DomainError, SmoothProblem, ACTIVITY_TOL};
use crate::linalg::lblt::{factor, min_norm_solve, Inertia};
use crate::linalg::norm_inf;

/// An eigenvalue of the reduced Hessian below `−CURVATURE_TOL · max(1, |κ|_max)`
/// is negative curvature; above, rounding and the first-order tolerance.
const CURVATURE_TOL: f64 = 1e-8;
/// A direction of `J`'s right singular space with `σ² ≤ NULL_TOL · σ²_max` is
/// in its null space.
const NULL_TOL: f64 = 1e-12;
/// The escape's sufficient decrease: `φ(y(α)) ≤ φ(y) + ESCAPE_DECREASE · α²κ`
/// (the model predicts `½α²κ`).
const ESCAPE_DECREASE: f64 = 0.25;
/// The escape halves `α` at most this many times.
const ESCAPE_HALVINGS: usize = 40;

/// A unit direction `d` in the null space of the active constraints with
/// `dᵀWd = eigenvalue < 0`, and the active inequalities it was computed for.
#[derive(Clone, Debug)]
pub(crate) struct NegativeCurvature {
    pub direction: Vec<f64>,
    pub eigenvalue: f64,
    active: Vec<usize>,
}

/// The reduced Hessian's most negative eigenvalue and its direction at the
/// first-order point `(y, ν, λ)`, or `None` when it is positive semidefinite
/// (to [`CURVATURE_TOL`]).
pub(crate) fn negative_curvature(
    problem: &dyn SmoothProblem,
    y: &[f64],
    nu: &[f64],
    lambda: &[f64],
) -> Result<Option<NegativeCurvature>, DomainError> {
    let n = y.len();
    let w = problem.lagrangian_hessian(y, nu, lambda)?;
    let w = Mat::from_fn(n, n, |i, j| 0.5 * (w[(i, j)] + w[(j, i)]));
    let g = problem.ineq(y)?;
    let (active, _) = activity(&g, lambda, ACTIVITY_TOL);
    let j = active_jacobian(problem, y, &active)?;
    let ma = j.nrows();
    // The cheap test: positive definite (on the null space) by one factorisation.
    let definite = if ma == 0 {
        w.llt(Side::Lower).is_ok()
    } else {
        let k = Mat::from_fn(n + ma, n + ma, |r, c| match (r < n, c < n) {
            (true, true) => w[(r, c)],
            (false, true) => j[(r - n, c)],
            (true, false) => j[(c - n, r)],
            (false, false) => 0.0,
        });
        factor(k).inertia == Inertia { positive: n, negative: ma, zero: 0 }
    };
    if definite {
        return Ok(None);
    }
    let z = null_space(&j);
    if z.ncols() == 0 {
        return Ok(None);
    }
    let reduced = z.transpose() * &w * &z;
    let Ok(eig) = reduced.self_adjoint_eigen(Side::Lower) else { return Ok(None) };
    let (s, u) = (eig.S(), eig.U());
    let k = reduced.nrows();
    let (mut lo, mut big) = (0, 1.0f64);
    for i in 0..k {
        big = big.max(s[i].abs());
        if s[i] < s[lo] {
            lo = i;
        }
    }
    // Not clearly negative (a NaN included): no direction of descent.
    if s[lo].partial_cmp(&(-CURVATURE_TOL * big)) != Some(std::cmp::Ordering::Less) {
        return Ok(None);
    }
    let d = &z * u.col(lo);
    let norm = (0..n).map(|i| d[i] * d[i]).sum::<f64>().sqrt();
    let direction = (0..n).map(|i| d[i] / norm).collect();
    Ok(Some(NegativeCurvature { direction, eigenvalue: s[lo], active }))
}

/// `[Jh; Jg_A]` at `y`.
fn active_jacobian(problem: &dyn SmoothProblem, y: &[f64], active: &[usize]) -> Result<Mat<f64>, DomainError> {
    let (jh, jg) = (problem.eq_jacobian(y)?, problem.ineq_jacobian(y)?);
    let me = jh.nrows();
    Ok(Mat::from_fn(me + active.len(), y.len(), |r, c| if r < me { jh[(r, c)] } else { jg[(active[r - me], c)] }))
}

/// An orthonormal basis of `null(J)`: the eigenvectors of `JᵀJ` whose
/// eigenvalues are below [`NULL_TOL`] times the largest (all of `ℝⁿ` when `J`
/// has no rows).
fn null_space(j: &Mat<f64>) -> Mat<f64> {
    let n = j.ncols();
    if j.nrows() == 0 {
        return Mat::identity(n, n);
    }
    let jtj = j.transpose() * j;
    let Ok(eig) = jtj.self_adjoint_eigen(Side::Lower) else { return Mat::zeros(n, 0) };
    let (s, u) = (eig.S(), eig.U());
    let big = (0..n).fold(0.0f64, |m, i| m.max(s[i].abs()));
    let cols: Vec<usize> = (0..n).filter(|&i| s[i].abs() <= NULL_TOL * big).collect();
    Mat::from_fn(n, cols.len(), |r, c| u[(r, cols[c])])
}

/// A point off the saddle `(y, ν, λ)` along `±d` ([`NegativeCurvature`]):
/// `y(α) = y ± αd + p`, with `p = −Jᵀ(JJᵀ)⁺c(y ± αd)` one Gauss–Newton step
/// back onto the active constraints `c = (h, g_A)` (the curve then stays on
/// them to second order, where `L` falls as `½α²κ`), accepted when the exact
/// ℓ1 penalty `φ = f + ρ(‖h‖₁ + ‖max(g, 0)‖₁)`, `ρ = 2 max(1, ‖ν‖∞, ‖λ‖∞)`,
/// falls by [`ESCAPE_DECREASE`]` · α²|κ|`. `α` starts at `max(1, ‖y‖∞)` and
/// halves; of the two signs the lower `φ` wins. `None` when no step decreases
/// `φ` (the point stays a saddle).
pub(crate) fn escape(
    problem: &dyn SmoothProblem,
    (y, nu, lambda): (&[f64], &[f64], &[f64]),
    nc: &NegativeCurvature,
) -> Option<Vec<f64>> {
    let rho = 2.0 * norm_inf(nu).max(norm_inf(lambda)).max(1.0);
    let merit = |t: &[f64]| -> Option<f64> {
        let (f, h, g) = (problem.objective(t).ok()?, problem.eq(t).ok()?, problem.ineq(t).ok()?);
        let violation = h.iter().map(|v| v.abs()).sum::<f64>() + g.iter().map(|v| v.max(0.0)).sum::<f64>();
        let phi = f + rho * violation;
        phi.is_finite().then_some(phi)
    };
    let phi0 = merit(y)?;
    let j = active_jacobian(problem, y, &nc.active).ok()?;
    let jjt = &j * j.transpose();
    let me = problem.n_eq();
    let correct = |t: &mut Vec<f64>| -> Option<()> {
        if j.nrows() == 0 {
            return Some(());
        }
        let (h, g) = (problem.eq(t).ok()?, problem.ineq(t).ok()?);
        let c: Vec<f64> = h.iter().copied().chain(nc.active.iter().map(|&k| g[k])).collect();
        let (u, _) = min_norm_solve(&jjt, &c);
        for (col, tc) in t.iter_mut().enumerate() {
            *tc -= (0..me + nc.active.len()).map(|r| j[(r, col)] * u[r]).sum::<f64>();
        }
        Some(())
    };
    let mut alpha = norm_inf(y).max(1.0);
    for _ in 0..ESCAPE_HALVINGS {
        let target = phi0 + ESCAPE_DECREASE * alpha * alpha * nc.eigenvalue;
        let mut best: Option<(f64, Vec<f64>)> = None;
        for sign in [1.0, -1.0] {
            let mut t: Vec<f64> = y.iter().zip(&nc.direction).map(|(y, d)| y + sign * alpha * d).collect();
            let Some(phi) = correct(&mut t).and_then(|()| merit(&t)) else { continue };
            if phi <= target && best.as_ref().is_none_or(|(b, _)| phi < *b) {
                best = Some((phi, t));
            }
        }
        if let Some((_, t)) = best {
            return Some(t);
        }
        alpha *= 0.5;
    }
    None
}
