//! Direct solves for the structures that need no interior point method: one
//! factorisation each, kept for the backward pass.
//!
//! - Unconstrained least squares `min c‖Mx + d‖²` by a Householder QR of M
//!   ([`crate::linalg::qr`]): `x = −R⁻¹Qᵀd`. The normal equations
//!   `2c MᵀM x = −2c Mᵀd` would square M's condition number; the QR does not
//!   (Golub & Van Loan, §5.3). The backward pass's KKT matrix is
//!   `P = 2c MᵀM = 2c RᵀR`, solved with two triangular solves.
//! - Equality-constrained QPs `min ½xᵀPx + qᵀx s.t. Ax = b` by one symmetric
//!   indefinite factorisation (Bunch–Kaufman LBLᵀ, pivoted) of
//!   `K = [P Aᵀ; A 0]`, `K [x; z] = [−q; b]` ([`crate::linalg::lblt`], refused
//!   unless [`lblt::Factored::nonsingular`]); the same K is the backward pass's.

use faer::{Mat, MatRef};

use super::program::ConeProgram;
use super::{ConeBlock, SolveError};
use crate::linalg::lblt;
use crate::linalg::qr::Qr;

/// A factorisation of the KKT matrix of a directly solved problem.
#[derive(Debug)]
pub enum DirectFactor {
    /// `K = P = 2c RᵀR` (unconstrained least squares).
    Normal {
        /// The QR factorisation of the residual's matrix.
        qr: Box<Qr>,
        /// The scale c of `P = 2c RᵀR`.
        c: f64,
    },
    /// `K = [P Aᵀ; A 0]`, factored.
    Kkt(Box<lblt::Factored>),
    /// The dual active-set method's factors at its solution
    /// ([`super::active_set`]).
    ActiveSet(Box<super::active_set::ActiveSet>),
}

impl DirectFactor {
    /// Solves `K w = rhs` in place.
    pub fn solve(&mut self, rhs: &mut [f64]) -> Result<(), SolveError> {
        if !rhs.iter().all(|v| v.is_finite()) {
            return Err(SolveError::NonFiniteRhs);
        }
        match self {
            DirectFactor::Normal { qr, c } => {
                qr.solve_normal_in_place(rhs);
                rhs.iter_mut().for_each(|v| *v /= 2.0 * *c);
            }
            DirectFactor::Kkt(f) => f.solve_in_place(rhs),
            DirectFactor::ActiveSet(a) => a.kkt_solve(rhs)?,
        }
        if rhs.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(SolveError::NonFiniteSolution)
        }
    }
}

/// `argmin c‖Mx + d‖²` (c > 0) by QR; `None` when M (m × n) has fewer rows than
/// columns or is numerically rank deficient ([`Qr::full_rank`]: the minimiser
/// is then not unique).
pub fn least_squares(m: MatRef<'_, f64>, d: &[f64], c: f64) -> Option<(Vec<f64>, DirectFactor)> {
    if m.nrows() < m.ncols() || m.ncols() == 0 || c.is_nan() || c <= 0.0 {
        return None;
    }
    let mut qr = Box::<Qr>::default();
    qr.factor(m);
    if !qr.full_rank() {
        return None;
    }
    let mut x: Vec<f64> = d.iter().map(|v| -v).collect();
    qr.solve_lstsq_in_place(&mut x);
    x.truncate(m.ncols());
    crate::linalg::all_finite(&x).then_some((x, DirectFactor::Normal { qr, c }))
}

/// The solution `(x, z)` of an equality-constrained QP (every cone of `prog` is
/// the zero cone) from one LBLᵀ factorisation of `[P Aᵀ; A 0]`, or `None` when
/// the program has other cones or K is singular (the residual of the solve shows
/// it: a singular K means no or no unique solution, which the interior point
/// method then classifies).
pub fn equality_qp(prog: &ConeProgram) -> Option<(Vec<f64>, Vec<f64>, DirectFactor)> {
    if !prog.cones.iter().all(|c| matches!(c, ConeBlock::Zero(_))) {
        return None;
    }
    let (n, m) = (prog.n(), prog.m());
    let size = n + m;
    let mut k = Mat::<f64>::zeros(size, size);
    for &(i, j, v) in &prog.p.entries {
        k[(i, j)] += v;
        if i != j {
            k[(j, i)] += v;
        }
    }
    for &(i, j, v) in &prog.a.entries {
        k[(n + i, j)] += v;
        k[(j, n + i)] += v;
    }
    let mut rhs = vec![0.0; size];
    rhs[..n].iter_mut().zip(&prog.q).for_each(|(r, q)| *r = -q);
    rhs[n..].copy_from_slice(&prog.b);
    let f = lblt::factor(k);
    if !f.nonsingular() {
        return None;
    }
    let mut all = rhs.clone();
    f.solve_in_place(&mut all);
    let sol = MatRef::from_column_major_slice(&all, size, 1);
    // Accept only a backward-stable solve: a singular K shows in the residual.
    let k = f.k();
    let res = k * sol - MatRef::from_column_major_slice(&rhs, size, 1);
    let scale = k.norm_max() * sol.norm_max() + rhs.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let tolerance = 1e-10 * scale.max(f64::MIN_POSITIVE);
    if res.norm_max().is_nan() || res.norm_max() > tolerance {
        return None;
    }
    Some((all[..n].to_vec(), all[n..].to_vec(), DirectFactor::Kkt(Box::new(f))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_factor_solves_the_normal_equations() {
        let m = Mat::from_fn(5, 3, |i, j| ((i * 7 + j * 3) % 5) as f64 - 1.5 + if i == j { 2.0 } else { 0.0 });
        let d = [0.3, -1.0, 2.0, 0.5, -0.7];
        let (x, mut f) = least_squares(m.as_ref(), &d, 1.5).expect("full rank");
        // Mᵀ(Mx + d) = 0.
        for j in 0..3 {
            let g: f64 = (0..5).map(|i| m[(i, j)] * ((0..3).map(|k| m[(i, k)] * x[k]).sum::<f64>() + d[i])).sum();
            assert!(g.abs() < 1e-12, "{g}");
        }
        // K w = v with K = 2c MᵀM.
        let v = [1.0, -2.0, 0.5];
        let mut w = v.to_vec();
        f.solve(&mut w).expect("solve");
        let mtm = m.transpose() * &m;
        for i in 0..3 {
            let kw: f64 = (0..3).map(|j| 3.0 * mtm[(i, j)] * w[j]).sum();
            assert!((kw - v[i]).abs() < 1e-12, "{kw} vs {}", v[i]);
        }
        let rank_one = Mat::from_fn(4, 2, |i, _| i as f64);
        assert!(least_squares(rank_one.as_ref(), &[1.0; 4], 1.0).is_none());
    }
}
