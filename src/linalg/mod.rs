//! Dense linear algebra the numerical layers share ([`crate::solve`],
//! [`crate::smooth`], [`crate::diff`]): one home per factorisation, below all
//! of them (this module imports nothing of the crate).

pub mod lblt;

/// Relative tolerance of the `sym` and `psd` checks: |X − Xᵀ| ≤ tol·max(1, max|X|),
/// λ_min ≥ −tol·max(1, max|λ|) (`runtime::inputs` decides the latter by a shifted
/// Cholesky); `eigh` checks its matrix with the same tolerance.
pub const SYM_TOL: f64 = 1e-9;

/// `‖v‖∞ = max |vᵢ|` (0 for an empty vector).
pub(crate) fn inf_norm(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}
