//! The symmetric square root of a positive semidefinite matrix, and its adjoint:
//! the one factorisation the reductions take of data (`quad_form(x, Q)` in a
//! constraint is `‖S x‖² ≤ t` with `S = Q^½`).
//!
//! ```text
//! Q_s = ½(Q + Qᵀ) = V diag(λ) Vᵀ,   S = V diag(σ) Vᵀ,   σᵢ = √max(λᵢ, 0)
//! ```
//!
//! S is a function of the symmetric part of Q only (the contract: a `psd`
//! parameter enters through its symmetric part). Differentiating `S S = Q_s` gives
//! the Sylvester (Lyapunov) equation `S dS + dS S = dQ_s`, which the eigenbasis
//! diagonalises:
//!
//! ```text
//! (Vᵀ dS V)ᵢⱼ = (Vᵀ dQ_s V)ᵢⱼ / (σᵢ + σⱼ).
//! ```
//!
//! The weights `Kᵢⱼ = 1/(σᵢ + σⱼ)` are symmetric, so the map is self-adjoint and
//! the adjoint of a cotangent S̄ is `Q̄ = V (K ∘ (Vᵀ sym(S̄) V)) Vᵀ`, symmetric.
//! Unlike the Cholesky factor's derivative it needs no triangular solves, and unlike
//! the factor `diag(σ) Vᵀ` it does not depend on the choice of eigenvectors within
//! a repeated eigenvalue, so it is differentiable at every positive definite Q.
//!
//! At a singular Q the derivative is unbounded (`σᵢ + σⱼ = 0` on the null space):
//! S moves like √ε when Q moves by ε there, so no finite gradient passes through
//! S, although the node itself may depend smoothly on Q. [`Sqrt::is_definite`]
//! tells the two apart: a recording ([`super::record`]) uses this adjoint only at
//! a definite Q, and the reductions over tracked numbers never do, differentiating
//! the constraint `xᵀQx ≤ t` in Q itself ([`super::sensitivity`]).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par, Side};

/// `S = Q^½` with the eigendecomposition its adjoint needs.
#[derive(Clone, Debug)]
pub struct Sqrt {
    /// The order of Q.
    pub n: usize,
    /// S, row-major.
    pub s: Vec<f64>,
    v: Mat<f64>,
    sigma: Vec<f64>,
}

/// Why a matrix has no square root: it is not positive semidefinite (or the
/// eigenvalue solver failed on it).
#[derive(Clone, Debug, PartialEq)]
pub struct NotPsd {
    /// The smallest eigenvalue, when the solver gave one.
    pub smallest: Option<f64>,
}

impl Sqrt {
    /// The root of the `n × n` matrix `q` (row-major); eigenvalues below
    /// `−10⁻⁹·max|λ|` mean Q is not PSD, smaller negative ones are round-off and
    /// clipped to 0.
    pub fn new(n: usize, q: &[f64]) -> Result<Sqrt, NotPsd> {
        if q.len() != n * n || !q.iter().all(|x| x.is_finite()) {
            return Err(NotPsd { smallest: None });
        }
        let sym = Mat::from_fn(n, n, |i, j| 0.5 * (q[i * n + j] + q[j * n + i]));
        let eig = sym.self_adjoint_eigen(Side::Lower).map_err(|_| NotPsd { smallest: None })?;
        let (lambda, v) = (eig.S(), eig.U());
        let big = (0..n).fold(1.0f64, |a, i| a.max(lambda[i].abs()));
        if let Some(low) = (0..n).map(|i| lambda[i]).find(|&l| l < -1e-9 * big) {
            return Err(NotPsd { smallest: Some(low) });
        }
        let sigma: Vec<f64> = (0..n).map(|i| lambda[i].max(0.0).sqrt()).collect();
        let v = v.to_owned();
        let vs = Mat::from_fn(n, n, |i, k| v[(i, k)] * sigma[k]);
        let mut s = Mat::<f64>::zeros(n, n);
        matmul(s.as_mut(), Accum::Replace, vs.as_ref(), v.transpose(), 1.0, Par::Seq);
        // The upper triangle mirrored: S exactly symmetric.
        let s = (0..n * n).map(|k| (k / n, k % n)).map(|(i, j)| s[(i.min(j), i.max(j))]).collect();
        Ok(Sqrt { n, s, v, sigma })
    }

    /// Whether Q is positive definite to working precision (`λ_min > n·ε·λ_max`),
    /// so that every weight `1/(σᵢ + σⱼ)` of the derivative is bounded.
    pub fn is_definite(&self) -> bool {
        let top = self.sigma.iter().fold(0.0f64, |a, &s| a.max(s * s));
        self.sigma.iter().all(|&s| s * s > self.n as f64 * f64::EPSILON * top)
    }

    /// `Q̄ = V (K ∘ (Vᵀ sym(S̄) V)) Vᵀ` for the cotangent `s_bar` of S (row-major),
    /// `Kᵢⱼ = 1/(σᵢ + σⱼ)`: the gradient of `⟨S̄, S(Q)⟩` in Q. Call only when
    /// [`Sqrt::is_definite`].
    pub fn adjoint(&self, s_bar: &[f64]) -> Vec<f64> {
        let n = self.n;
        let sym = Mat::from_fn(n, n, |i, j| 0.5 * (s_bar[i * n + j] + s_bar[j * n + i]));
        let mut t = Mat::<f64>::zeros(n, n);
        let mut inner = Mat::<f64>::zeros(n, n);
        matmul(t.as_mut(), Accum::Replace, sym.as_ref(), self.v.as_ref(), 1.0, Par::Seq);
        matmul(inner.as_mut(), Accum::Replace, self.v.transpose(), t.as_ref(), 1.0, Par::Seq);
        for i in 0..n {
            for j in 0..n {
                inner[(i, j)] /= self.sigma[i] + self.sigma[j];
            }
        }
        matmul(t.as_mut(), Accum::Replace, self.v.as_ref(), inner.as_ref(), 1.0, Par::Seq);
        let mut q_bar = Mat::<f64>::zeros(n, n);
        matmul(q_bar.as_mut(), Accum::Replace, t.as_ref(), self.v.transpose(), 1.0, Par::Seq);
        (0..n * n).map(|k| (k / n, k % n)).map(|(i, j)| q_bar[(i.min(j), i.max(j))]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ⟨S̄, dS⟩ = ⟨Q̄, dQ⟩ against central differences of S, at a Q with a
    /// repeated eigenvalue (where the factor diag(σ)Vᵀ is not differentiable).
    #[test]
    fn adjoint_matches_central_differences() {
        let n = 3;
        // Q = U diag(4, 4, 1) Uᵀ for a rotation U.
        let (c, s) = (0.6f64, 0.8f64);
        let u = [c, -s, 0.0, s * 0.5, c * 0.5, 0.75f64.sqrt(), -s * 0.75f64.sqrt(), -c * 0.75f64.sqrt(), 0.5];
        let d = [4.0, 4.0, 1.0];
        let q: Vec<f64> =
            (0..9).map(|k| (0..3).map(|m| u[(k / 3) * 3 + m] * d[m] * u[(k % 3) * 3 + m]).sum()).collect();
        let root = Sqrt::new(n, &q).expect("psd");
        assert!(root.is_definite());
        // S S = Q.
        for i in 0..n {
            for j in 0..n {
                let ss: f64 = (0..n).map(|k| root.s[i * n + k] * root.s[k * n + j]).sum();
                assert!((ss - q[i * n + j]).abs() < 1e-13, "S² ≠ Q at ({i}, {j})");
            }
        }
        let s_bar = [0.3, -1.2, 0.5, 0.7, 0.1, -0.4, 2.0, 0.9, -0.6];
        let q_bar = root.adjoint(&s_bar);
        let dq = [0.2, 0.5, -0.3, 0.5, -0.1, 0.4, -0.3, 0.4, 0.7];
        let h = 1e-6;
        let at = |t: f64| {
            let qt: Vec<f64> = q.iter().zip(&dq).map(|(a, b)| a + t * b).collect();
            Sqrt::new(n, &qt).expect("psd").s
        };
        let (plus, minus) = (at(h), at(-h));
        let numeric: f64 = (0..9).map(|k| s_bar[k] * (plus[k] - minus[k]) / (2.0 * h)).sum();
        let analytic: f64 = q_bar.iter().zip(&dq).map(|(a, b)| a * b).sum();
        assert!((numeric - analytic).abs() < 1e-8, "{numeric} vs {analytic}");
        // Q̄ is symmetric, and S depends on Q through its symmetric part only.
        assert!((0..9).all(|k| q_bar[k] == q_bar[(k % 3) * 3 + k / 3]));
    }

    #[test]
    fn not_psd_and_singular_are_told_apart() {
        assert_eq!(Sqrt::new(2, &[1.0, 0.0, 0.0, -1.0]).map(|_| ()), Err(NotPsd { smallest: Some(-1.0) }));
        let singular = Sqrt::new(2, &[1.0, 1.0, 1.0, 1.0]).expect("psd");
        assert!(!singular.is_definite());
        assert!(Sqrt::new(2, &[2.0, 1.0, 1.0, 2.0]).expect("psd").is_definite());
    }
}
