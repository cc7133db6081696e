//! The first-order (KKT) conditions of `min f(y) s.t. h(y) = 0, g(y) ≤ 0`
//! (Nocedal & Wright, Thm. 12.1), measured at a candidate `(y, ν, λ)`:
//!
//! ```text
//! ∇f + Jhᵀν + Jgᵀλ = 0,   h = 0,   g ≤ 0,   λ ≥ 0,   λⱼ gⱼ = 0.
//! ```
//!
//! Every forward accepts its answer only through [`Residuals::within`], computed
//! from the problem's own functions (never from a solver's internal slacks), so
//! `Optimal` always means these conditions hold at the returned point.

use faer::Mat;

use super::{DomainError, SmoothProblem};
use crate::linalg::norm_inf;

/// The scaled first-order residuals. Scales (each at least 1, so small
/// quantities are measured absolutely):
///
/// - `stationarity = ‖∇f + Jhᵀν + Jgᵀλ‖∞ / s_d`, `s_d = max(1, ‖Jhᵀν‖∞, ‖Jgᵀλ‖∞)`:
///   relative to the constraint forces that balance `∇f` (IPOPT's `s_d` in
///   spirit), so large multipliers do not demand digits beyond double precision;
/// - `primal_feasibility = max(‖h‖∞, ‖max(g, 0)‖∞)`, absolute (the node's own
///   units);
/// - `dual_feasibility = ‖max(−λ, 0)‖∞ / s_λ`, `s_λ = max(1, ‖λ‖∞)`;
/// - `complementarity = maxⱼ |λⱼ gⱼ| / s_λ`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Residuals {
    /// `‖∇ₓL‖∞`, scaled as above.
    pub stationarity: f64,
    /// The largest constraint violation, absolute.
    pub primal_feasibility: f64,
    /// The largest negative multiplier, scaled.
    pub dual_feasibility: f64,
    /// The largest `|λⱼ gⱼ|`, scaled.
    pub complementarity: f64,
}

impl Residuals {
    /// `(y, ν, λ)` is a first-order point to tolerance `tol`: every residual is
    /// finite and at most `tol`.
    pub fn within(&self, tol: f64) -> bool {
        [self.stationarity, self.primal_feasibility, self.dual_feasibility, self.complementarity]
            .iter()
            .all(|r| *r <= tol)
    }

    /// The residuals at `(y, ν, λ)`. NaN anywhere makes them NaN, which
    /// [`Self::within`] rejects.
    pub fn at(problem: &dyn SmoothProblem, y: &[f64], nu: &[f64], lambda: &[f64]) -> Result<Residuals, DomainError> {
        let (grad_f, h, g) = (problem.gradient(y)?, problem.eq(y)?, problem.ineq(y)?);
        let (jh, jg) = (problem.eq_jacobian(y)?, problem.ineq_jacobian(y)?);
        Ok(Residuals::from_parts(&LagrangianGradient::new(&grad_f, &jh, &jg, nu, lambda), &h, &g, lambda))
    }

    /// The residuals of an unconstrained problem at a point where `∇f =
    /// grad_f`: [`Self::from_parts`] without constraints (`s_d = 1`, every
    /// other residual 0), bit for bit, without forming the empty Jacobians'
    /// products (Newton measures every iterate).
    pub(crate) fn unconstrained(grad_f: &[f64]) -> Residuals {
        Residuals {
            stationarity: nan_max(grad_f.iter().map(|v| v.abs())),
            primal_feasibility: 0.0,
            dual_feasibility: 0.0,
            complementarity: 0.0,
        }
    }

    /// The residuals from values a solver already has.
    pub(crate) fn from_parts(grad_l: &LagrangianGradient, h: &[f64], g: &[f64], lambda: &[f64]) -> Residuals {
        let s_lambda = 1f64.max(norm_inf(lambda));
        let infeas = h.iter().map(|v| v.abs()).chain(g.iter().map(|v| v.max(0.0)));
        Residuals {
            stationarity: grad_l.scaled_norm(),
            primal_feasibility: nan_max(infeas),
            dual_feasibility: nan_max(lambda.iter().map(|l| if l.is_nan() { f64::NAN } else { (-l).max(0.0) }))
                / s_lambda,
            complementarity: nan_max(lambda.iter().zip(g).map(|(l, g)| (l * g).abs())) / s_lambda,
        }
    }
}

/// `∇_y L = ∇f + Jhᵀν + Jgᵀλ` with its scale `s_d = max(1, ‖Jhᵀν‖∞, ‖Jgᵀλ‖∞)`.
pub(crate) struct LagrangianGradient {
    pub value: Vec<f64>,
    pub scale: f64,
}

impl LagrangianGradient {
    pub fn new(grad_f: &[f64], jh: &Mat<f64>, jg: &Mat<f64>, nu: &[f64], lambda: &[f64]) -> LagrangianGradient {
        let (force_h, force_g) = (transpose_times(jh, nu), transpose_times(jg, lambda));
        let value = (0..grad_f.len()).map(|i| grad_f[i] + force_h[i] + force_g[i]).collect();
        LagrangianGradient { value, scale: 1f64.max(norm_inf(&force_h)).max(norm_inf(&force_g)) }
    }

    /// `‖∇_y L‖∞ / s_d`, NaN if any entry is.
    pub fn scaled_norm(&self) -> f64 {
        nan_max(self.value.iter().map(|v| v.abs())) / self.scale
    }
}

/// A default activity tolerance. For an interior point solution at tolerance
/// `tol`, a degenerate constraint ends with `λⱼ ≈ −gⱼ ≈ √tol`, so the activity
/// tolerance must exceed `√tol` (3e-5 for the default 1e-9) to report it.
pub const ACTIVITY_TOL: f64 = 1e-4;

/// The active inequalities and, among them, the weakly active ones (see
/// [`crate::diff::ift`]: `λⱼ > τ_λ = tol · max(1, ‖λ‖∞)` strongly active, else
/// weakly active when `−gⱼ ≤ tol`), for the values `g` and multipliers `λ` at a solution.
pub fn activity(g: &[f64], lambda: &[f64], activity_tol: f64) -> (Vec<usize>, Vec<usize>) {
    let tau_lambda = activity_tol * lambda.iter().fold(1.0f64, |m, l| m.max(l.abs()));
    let (mut active, mut weakly) = (Vec::new(), Vec::new());
    for (j, (&gj, &lj)) in g.iter().zip(lambda).enumerate() {
        if lj > tau_lambda {
            active.push(j);
        } else if -gj <= activity_tol {
            active.push(j);
            weakly.push(j);
        }
    }
    (active, weakly)
}

/// The largest value, NaN if any is NaN (`f64::max` would drop it), 0 if none.
fn nan_max(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, |m, v| if v.is_nan() || m.is_nan() { f64::NAN } else { m.max(v) })
}

/// `Jᵀv` for a dense `m × n` Jacobian.
fn transpose_times(j: &Mat<f64>, v: &[f64]) -> Vec<f64> {
    (0..j.ncols()).map(|c| (0..j.nrows()).map(|r| j[(r, c)] * v[r]).sum()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unconstrained shortcut is `from_parts` with empty Jacobians, bit for
    /// bit: signed zeros, NaN and infinities included.
    #[test]
    fn unconstrained_residuals_are_the_general_ones() {
        for grad in [vec![], vec![-0.0], vec![0.0, -3.5, 2.0], vec![1.0, f64::NAN], vec![f64::NEG_INFINITY, 1e-300]] {
            let none = Mat::<f64>::zeros(0, grad.len());
            let general = Residuals::from_parts(&LagrangianGradient::new(&grad, &none, &none, &[], &[]), &[], &[], &[]);
            let short = Residuals::unconstrained(&grad);
            let bits = |r: Residuals| {
                [r.stationarity, r.primal_feasibility, r.dual_feasibility, r.complementarity].map(f64::to_bits)
            };
            assert_eq!(bits(short), bits(general), "{grad:?}");
        }
    }
}
