//! The matrix atoms' values and their gradients on data, through faer's
//! factorisations: `lambda_max`/`lambda_min` (an eigenpair), `log_det` and
//! `matrix_frac` (a Cholesky factor of the symmetric part), `nuclear_norm`
//! (the singular value decomposition). In a convex node of variables these
//! atoms are cones (see `canon::reduce`); here their arguments are data.

use faer::linalg::solvers::Llt;
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};

use super::{fail, EvalError, Tensor};
use crate::diag::Span;

/// `(T + Tᵀ)/2` of the square `t`: the matrix atoms see only the symmetric part.
fn symmetric_part(t: &Tensor) -> Mat<f64> {
    let (n, _) = t.rows_cols();
    Mat::from_fn(n, n, |i, j| 0.5 * (t.at(i, j) + t.at(j, i)))
}

/// The largest (`top`) or smallest eigenvalue of the symmetric part of the
/// square `t`, with a unit eigenvector.
pub(super) fn extreme_eigenpair(t: &Tensor, top: bool, span: Span) -> Result<(f64, Vec<f64>), EvalError> {
    let n = t.rows_cols().0;
    let eig = symmetric_part(t)
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| fail(span, format!("the eigensolver did not converge ({e:?})")))?;
    // Eigenvalues in nondecreasing order.
    let k = if top { n - 1 } else { 0 };
    Ok((eig.S()[k], (0..n).map(|i| eig.U()[(i, k)]).collect()))
}

/// `S = LLᵀ` for `S` the symmetric part of the square `t`; `what` names the
/// matrix in the error when S is not positive definite (outside the atom's domain).
fn cholesky(t: &Tensor, what: &str, span: Span) -> Result<Llt<f64>, EvalError> {
    symmetric_part(t)
        .llt(Side::Lower)
        .map_err(|_| fail(span, format!("{what} is undefined here: its matrix must be positive definite")))
}

/// `log det((X + Xᵀ)/2)` and its gradient `S⁻¹` (symmetric, so also the
/// gradient in X itself).
pub(super) fn log_det(x: &Tensor, span: Span) -> Result<(f64, Tensor), EvalError> {
    let llt = cholesky(x, "`log_det`", span)?;
    let n = llt.L().nrows();
    // log det S = 2 Σ log Lᵢᵢ.
    let value = 2.0 * (0..n).map(|i| llt.L()[(i, i)].ln()).sum::<f64>();
    Ok((value, Tensor::from_mat(&llt.solve(Mat::<f64>::identity(n, n)), x.shape.clone())))
}

/// `Σ σᵢ(X)` and the subgradient `U₁V₁ᵀ` over the singular vectors of the
/// nonzero singular values (the gradient where X has full rank; at a rank
/// deficiency, the one subgradient of least norm).
pub(super) fn nuclear_norm(x: &Tensor, span: Span) -> Result<(f64, Tensor), EvalError> {
    let (m, n) = x.rows_cols();
    let svd = x.view(m, n).thin_svd().map_err(|e| fail(span, format!("the SVD did not converge ({e:?})")))?;
    let sigma: Vec<f64> = (0..m.min(n)).map(|i| svd.S()[i]).collect();
    // Nonincreasing; below max(m, n)·ε·σ₁ a singular value is zero to rounding.
    let cut = m.max(n) as f64 * f64::EPSILON * sigma.first().copied().unwrap_or(0.0);
    let rank = sigma.iter().take_while(|&&s| s > cut).count();
    let (u, v) = (svd.U(), svd.V());
    let g = Mat::from_fn(m, n, |i, j| (0..rank).map(|k| u[(i, k)] * v[(j, k)]).sum::<f64>());
    Ok((sigma.iter().sum(), Tensor::from_mat(&g, x.shape.clone())))
}

/// `tr(Xᵀ S⁻¹ X)` (`xᵀS⁻¹x` for a vector), S the symmetric part of P, and its
/// gradients `2W` in X and `−WWᵀ` in P, with `W = S⁻¹X`.
pub(super) fn matrix_frac(x: &Tensor, p: &Tensor, span: Span) -> Result<(f64, [Tensor; 2]), EvalError> {
    let llt = cholesky(p, "`matrix_frac(X, P)` (in P)", span)?;
    let (n, k) = x.rows_cols();
    if llt.L().nrows() != n {
        return Err(fail(span, "`matrix_frac` shapes differ at run time"));
    }
    // W = S⁻¹X by two triangular solves, not through an explicit inverse.
    let w = llt.solve(x.view(n, k));
    let value = (0..n).flat_map(|i| (0..k).map(move |j| (i, j))).map(|(i, j)| x.at(i, j) * w[(i, j)]).sum();
    let dx = Tensor::from_mat(&w, x.shape.clone()).scaled(2.0);
    let dp = Tensor::from_mat(&(&w * w.transpose()), p.shape.clone()).scaled(-1.0);
    Ok((value, [dx, dp]))
}
