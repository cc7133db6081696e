//! The symmetric eigendecomposition `X = U diag(λ) Uᵀ`, the forward pass of the
//! eigen nodes (`stdlib/eigen.ddn`; the seed's "Differentiable Eigen
//! Decomposition" and "Full Eigen Decomposition"):
//!
//! ```text
//! max_eigvec:  argmax_u uᵀXu  s.t. uᵀu = 1    → the eigenvector of λ_max
//! eigh_full:   argmax_U tr(UᵀXU) s.t. UᵀU = I → the eigenbasis, λ ascending
//! ```
//!
//! Both optima are known in closed form, so the "solver" is faer's self-adjoint
//! eigensolver, applied (as the seed's `torch.linalg.eigh(0.5 (X + Xᵀ))`) to the
//! symmetric part of X. The eigenvalues come in ascending order, as in
//! `torch.linalg.eigh`, so the `max_eigvec` answer is the last column.
//!
//! **Sign convention.** Each eigenvector is only defined up to sign (both ±y are
//! optimal), and a layer must return the same one every time. Each column is
//! flipped so that its entry of largest magnitude is positive (ties go to the
//! lowest index). The rule is locally constant in X wherever that entry is
//! unique, so there the sign-fixed map is smooth (for simple eigenvalues) and the
//! backward pass differentiates exactly it; where two entries of opposite sign
//! tie in magnitude the map jumps (every sign rule jumps somewhere).
// The paper's symbols: X and U are matrices.
#![allow(non_snake_case)]

use faer::{ColRef, Mat, MatRef, Side};

use super::SmoothError::{self, InvalidInput};
use crate::linalg::SYM_TOL;

/// An eigendecomposition `X = U diag(λ) Uᵀ` with orthonormal `U`.
#[derive(Clone, Debug)]
pub struct Eigh {
    /// The eigenvalues, ascending.
    pub lambda: Vec<f64>,
    /// The eigenvectors, one per column in the order of `lambda`, each with its
    /// largest-magnitude entry positive.
    pub U: Mat<f64>,
}

impl Eigh {
    /// `(λ_max, u)`: the `max_eigvec` node's answer (the last eigenpair).
    pub fn max_eigvec(&self) -> (f64, ColRef<'_, f64>) {
        let k = self.lambda.len() - 1;
        (self.lambda[k], self.U.col(k))
    }
}

/// The eigendecomposition of a real symmetric matrix (m×m, m ≥ 1, finite,
/// symmetric to within [`SYM_TOL`] (the runtime's `sym` check) relative to `max(1, max |Xᵢⱼ|)`;
/// its symmetric part is what is decomposed).
pub fn eigh(X: MatRef<'_, f64>) -> Result<Eigh, SmoothError> {
    let (m, n) = X.shape();
    if m != n || m == 0 {
        return Err(InvalidInput(format!("eigh: X must be a non-empty square matrix, found {m}×{n}")));
    }
    let mut scale = 1.0f64;
    for j in 0..m {
        for i in 0..m {
            let x = X[(i, j)];
            if !x.is_finite() {
                return Err(InvalidInput(format!("eigh: X[{i}, {j}] = {x} is not finite")));
            }
            scale = scale.max(x.abs());
        }
    }
    for j in 0..m {
        for i in 0..j {
            if (X[(i, j)] - X[(j, i)]).abs() > SYM_TOL * scale {
                return Err(InvalidInput(format!(
                    "eigh: X must be symmetric, but X[{i}, {j}] = {} and X[{j}, {i}] = {}",
                    X[(i, j)],
                    X[(j, i)]
                )));
            }
        }
    }
    let sym = Mat::from_fn(m, m, |i, j| 0.5 * (X[(i, j)] + X[(j, i)]));
    let evd = sym
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| InvalidInput(format!("eigh: the eigensolver did not converge ({e:?})")))?;
    let lambda: Vec<f64> = (0..m).map(|k| evd.S()[k]).collect();
    let mut U = evd.U().to_owned();
    for k in 0..m {
        let col = U.col(k);
        let big = (0..m).fold(0, |b, i| if col[i].abs() > col[b].abs() { i } else { b });
        if col[big] < 0.0 {
            U.col_mut(k).iter_mut().for_each(|x| *x = -*x);
        }
    }
    Ok(Eigh { lambda, U })
}
