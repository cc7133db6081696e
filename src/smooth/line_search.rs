//! Backtracking line search with the Armijo (sufficient decrease) condition
//! (Nocedal & Wright, Alg. 3.1):
//!
//! ```text
//! φ(α) ≤ φ(0) + c₁ α φ'(0),   α = α_max, ρα_max, ρ²α_max, …
//! ```
//!
//! A trial point outside the domain ([`DomainError`]) counts as `φ = +∞` and
//! is backtracked from, so `log`, `1/y` and friends are never evaluated at a
//! point the line search accepts outside their domain.

use super::DomainError;

/// `c₁`: the fraction of the predicted decrease that must be realised.
const ARMIJO: f64 = 1e-4;
/// `ρ`: the step shrink factor.
const SHRINK: f64 = 0.5;
/// Steps below this are a failure (no descent at any representable step).
const MIN_STEP: f64 = 1e-14;

/// The accepted step `α` and `φ(α)`, or `None` when `α` fell below
/// [`MIN_STEP`] first. `slope` is `φ'(0)` and must be negative.
pub(crate) fn backtrack(
    phi0: f64,
    slope: f64,
    alpha_max: f64,
    mut phi: impl FnMut(f64) -> Result<f64, DomainError>,
) -> Option<(f64, f64)> {
    let mut alpha = alpha_max;
    while alpha >= MIN_STEP {
        if let Ok(value) = phi(alpha) {
            if sufficient_decrease(phi0, slope, alpha, value) {
                return Some((alpha, value));
            }
        }
        alpha *= SHRINK;
    }
    None
}

/// The Armijo test `φ(α) ≤ φ(0) + c₁ α φ'(0)`, with a slack `100ε|φ(0)|` that
/// absorbs rounding once φ is flat to working precision.
pub(crate) fn sufficient_decrease(phi0: f64, slope: f64, alpha: f64, value: f64) -> bool {
    value.is_finite() && value <= phi0 + ARMIJO * alpha * slope + 1e2 * f64::EPSILON * phi0.abs()
}
