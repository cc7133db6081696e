//! The backward passes of the eigen nodes (`stdlib/eigen.ddn`; the seed's
//! "Eigen Decomposition Backward Pass"). At `X = Y diag(λ) Yᵀ` with simple
//! eigenvalues, differentiating `X y_k = λ_k y_k`, `y_kᵀy_k = 1` gives
//!
//! ```text
//! dy_k = −(X − λ_k I)⁺ dX y_k,   (X − λ_k I)⁺ = Σ_{i≠k} y_i y_iᵀ / (λ_i − λ_k)
//! ```
//!
//! which for `dX = ½(E_ij + E_ji)` (a symmetric perturbation of X_ij, the seed's
//! `X ↦ ½(X + Xᵀ)` convention) is the seed's `−½(X − λ_k I)⁺(E_ij + E_ji) y_k`.
//! Contracting with `V = dL/dY`:
//!
//! ```text
//! dL/dX = ½ (G + Gᵀ),   G = Y (F ∘ YᵀV) Yᵀ,   F_ik = 1/(λ_k − λ_i) (i ≠ k), F_kk = 0
//! ```
//!
//! **Sign.** The slide writes `Λ̃_ij = 1/(λ_i − λ_j)`; the derivation above (and the
//! seed's own PyTorch code, `L = λ.view(1, M) − λ.view(M, 1)`, i.e. `L_ij = λ_j − λ_i`)
//! gives the opposite sign, which is what is implemented; the tests check it
//! against central differences. The gradient is symmetric: entry (i, j) is the
//! derivative along `X + h ½(E_ij + E_ji)`.
//!
//! **Repeated eigenvalues.** If `λ_i = λ_k` the eigenvectors are not unique and
//! `F_ik` is infinite. A pair closer than [`MIN_REL_GAP`]·max|λ| is an error,
//! unless the loss does not depend on either of its eigenvectors (both columns of
//! V zero): then the pair contributes nothing and the VJP is well defined.
// The paper's symbols: X, Y, V, G and F are matrices.
#![allow(non_snake_case)]

use faer::{ColRef, Mat, MatRef};

use crate::runtime::RunError;
use crate::smooth::Eigh;

/// Eigenvalues closer than this, relative to the largest |λ|, count as repeated.
/// Near it, the eigenvectors eigh returns are accurate only to ~ε/gap ≈ 1e-8 and
/// the derivative is of order 1/gap, so a smaller gap would return noise.
pub const MIN_REL_GAP: f64 = 1e-8;

/// dL/dX for `eigh_full`, given `dU = dL/dU` (m×m, column k the cotangent on
/// eigenvector k). As Y is orthogonal, `½(G + Gᵀ) = Y C Yᵀ` with `C` the
/// symmetric part of `F ∘ YᵀV`: three m×m products, and no m×m symmetrisation
/// pass over G (the lower half is mirrored to make the rounding symmetric too).
/// Computing only the lower half of the last product by faer's triangular
/// product was measured slower than the full product (m = 32–128).
pub fn eigh_vjp(eig: &Eigh, dU: MatRef<'_, f64>) -> Result<Mat<f64>, RunError> {
    let lambda = &eig.lambda;
    let m = lambda.len();
    if dU.shape() != (m, m) {
        return Err(RunError::Derivative(format!("eigh: X is {m}×{m}, but dL/dU is {}×{}", dU.nrows(), dU.ncols())));
    }
    let tol = gap_tolerance(lambda);
    let used = |k: usize| dU.col(k).iter().any(|&v| v != 0.0);
    // λ ascends, so only the pairs (i, k > i) with λ_k − λ_i ≤ tol are close.
    for i in 0..m {
        for k in (i + 1..m).take_while(|&k| lambda[k] - lambda[i] <= tol) {
            if used(i) || used(k) {
                return Err(repeated(lambda, i, k, tol));
            }
        }
    }
    let Y = eig.U.as_ref();
    let mut C = Y.transpose() * dU;
    for k in 0..m {
        for i in 0..m {
            let gap = lambda[k] - lambda[i];
            // The diagonal, and repeated pairs whose columns of V are zero, contribute nothing.
            C[(i, k)] = if gap.abs() <= tol { 0.0 } else { C[(i, k)] / gap };
        }
    }
    for k in 0..m {
        for i in 0..k {
            let s = 0.5 * (C[(i, k)] + C[(k, i)]);
            (C[(i, k)], C[(k, i)]) = (s, s);
        }
    }
    let mut dX = Y * &C * Y.transpose();
    // Symmetric up to rounding; made exactly so.
    for j in 0..m {
        for i in 0..j {
            dX[(i, j)] = dX[(j, i)];
        }
    }
    Ok(dX)
}

/// dL/dX for `max_eigvec`, given `du = dL/du` (length m): [`eigvec_vjp`] at the
/// largest eigenvalue.
pub fn max_eigvec_vjp(eig: &Eigh, du: &[f64]) -> Result<Mat<f64>, RunError> {
    let Some(k) = eig.lambda.len().checked_sub(1) else {
        return Err(RunError::Derivative("no eigenvector of a 0×0 matrix".into()));
    };
    eigvec_vjp(eig, k, du)
}

/// dL/dX for the k-th eigenvector alone (`max_eigvec` at the largest, its
/// `minimize` form at the smallest), given `du = dL/dy_k` (length m): the seed's
/// per-eigenvector formula,
///
/// ```text
/// dL/dX = −½ (w y_kᵀ + y_k wᵀ),   w = (X − λ_k I)⁺ v = Σ_{i≠k} y_i (y_iᵀv) / (λ_i − λ_k)
/// ```
///
/// (`eigh_vjp` with V = v e_kᵀ, in O(m²)). Needs only λ_k to be simple.
pub fn eigvec_vjp(eig: &Eigh, k: usize, du: &[f64]) -> Result<Mat<f64>, RunError> {
    let lambda = &eig.lambda;
    let m = lambda.len();
    if du.len() != m {
        return Err(RunError::Derivative(format!("eigenvector: X is {m}×{m}, but dL/du has {} entries", du.len())));
    }
    if k >= m {
        return Err(RunError::Derivative(format!("eigenvector: X is {m}×{m}, so there is no eigenvector {k}")));
    }
    let tol = gap_tolerance(lambda);
    if k > 0 && lambda[k] - lambda[k - 1] <= tol {
        return Err(repeated(lambda, k - 1, k, tol));
    }
    if k + 1 < m && lambda[k + 1] - lambda[k] <= tol {
        return Err(repeated(lambda, k, k + 1, tol));
    }
    let Y = eig.U.as_ref();
    let v = ColRef::from_slice(du);
    let mut z = Y.transpose() * v;
    for i in 0..m {
        z[i] = if i == k { 0.0 } else { z[i] / (lambda[i] - lambda[k]) };
    }
    let w = Y * &z;
    let y = Y.col(k);
    Ok(Mat::from_fn(m, m, |i, j| -0.5 * (w[i] * y[j] + y[i] * w[j])))
}

/// `MIN_REL_GAP · max|λ|`.
fn gap_tolerance(lambda: &[f64]) -> f64 {
    MIN_REL_GAP * lambda.iter().fold(0.0f64, |a, l| a.max(l.abs()))
}

fn repeated(lambda: &[f64], i: usize, k: usize, tol: f64) -> RunError {
    RunError::Derivative(format!(
        "eigen backward: eigenvalues {i} and {k} (λ = {:e} and {:e}) are not distinct (gap {:e} ≤ {tol:e}, \
         {MIN_REL_GAP:e} of max |λ|); their eigenvectors are not unique and have no derivative",
        lambda[i],
        lambda[k],
        lambda[k] - lambda[i]
    ))
}
