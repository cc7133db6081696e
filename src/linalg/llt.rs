//! `A + τI = LLᵀ` (Cholesky) of a symmetric matrix, factored in place in
//! buffers kept across factorisations: faer's `cholesky_in_place` on a kept `L`
//! with its scratch sized once by `cholesky_in_place_scratch`, so a
//! factorisation at a size already seen allocates nothing.
//!
//! The numbers are those of `Mat::llt(Side::Lower)` bit for bit: the same
//! routine, parameters and parallelism on the same input (`A`'s lower triangle,
//! the strict upper triangle zero), and the same solve afterwards. Newton's
//! modified Hessian (`smooth::newton`, several shifts `τ` per step) factors
//! here; at small sizes the allocations of a fresh `Llt` per factorisation
//! cost more than the factorisation itself.

use faer::dyn_stack::MemStack;
use faer::linalg::cholesky::llt::factor::{cholesky_in_place, cholesky_in_place_scratch};
use faer::linalg::cholesky::llt::solve::solve_in_place;
use faer::{get_global_parallelism, Mat, MatMut, MatRef};

use super::Scratch;

/// A Cholesky factor and its scratch, reused by each [`Llt::factor_shifted`].
#[derive(Debug)]
pub struct Llt {
    /// `L` in the lower triangle (the strict upper triangle zero) once a
    /// factorisation succeeded.
    l: Mat<f64>,
    /// faer's scratch for the factorisation.
    scratch: Scratch,
}

impl Default for Llt {
    /// No factor yet: the buffers for [`Llt::factor_shifted`].
    fn default() -> Self {
        Llt { l: Mat::new(), scratch: Scratch::default() }
    }
}

impl Llt {
    /// Factors `A + τI` from `a`'s lower triangle (diagonal included);
    /// `false` when it is not numerically positive definite (a pivot ≤ 0 or
    /// NaN), and then the factor must not be used.
    pub fn factor_shifted(&mut self, a: MatRef<'_, f64>, tau: f64) -> bool {
        let n = a.nrows();
        if n == 1 {
            // faer's arithmetic for one pivot without its dispatch: `l = d·(1/√d)`
            // (≈ √d) for `d = a + τ` positive and finite (tested bit for bit below).
            let d = a[(0, 0)] + tau;
            self.l.resize_with(1, 1, |_, _| 0.0);
            self.l[(0, 0)] = d * d.sqrt().recip();
            return d > 0.0 && d.is_finite();
        }
        let par = get_global_parallelism();
        // Mat::resize_with keeps the allocation when the capacity suffices.
        self.l.resize_with(n, n, |_, _| 0.0);
        for j in 0..n {
            for i in 0..n {
                self.l[(i, j)] = match i.cmp(&j) {
                    std::cmp::Ordering::Less => 0.0,
                    std::cmp::Ordering::Equal => a[(i, j)] + tau,
                    std::cmp::Ordering::Greater => a[(i, j)],
                };
            }
        }
        let stack = self.scratch.stack(cholesky_in_place_scratch::<f64>(n, par, Default::default()));
        let ok = cholesky_in_place(self.l.as_mut(), Default::default(), par, stack, Default::default()).is_ok();
        // As `Llt::new` leaves it: whatever the routine wrote above the diagonal cleared.
        for j in 1..n {
            for i in 0..j {
                self.l[(i, j)] = 0.0;
            }
        }
        ok
    }

    /// `r ← (LLᵀ)⁻¹ r`, `r` of length `n` (faer's triangular solves, which need
    /// no scratch), after a successful [`Llt::factor_shifted`].
    pub fn solve_in_place(&mut self, r: &mut [f64]) {
        let n = r.len();
        if let [r0] = r {
            // faer's two triangular solves of one row: `x·(1/l)`, twice
            let inv = self.l[(0, 0)].recip();
            *r0 = *r0 * inv * inv;
            return;
        }
        let rhs = MatMut::from_column_major_slice_mut(r, n, 1);
        solve_in_place(self.l.as_ref(), rhs, get_global_parallelism(), MemStack::new(&mut []));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::linalg::solvers::Solve;
    use faer::Side;

    /// The kept buffers give `Mat::llt`'s solution bit for bit, at growing and
    /// shrinking sizes, and refuse an indefinite matrix as it does.
    #[test]
    fn matches_faer_llt_bit_for_bit() {
        let mut llt = Llt::default();
        for n in [3, 1, 7, 40, 5] {
            let a = Mat::from_fn(n, n, |i, j| 1.0 / (1.0 + i as f64 + j as f64) + if i == j { 0.3 } else { 0.0 });
            for tau in [0.0, 0.25] {
                let shifted = Mat::from_fn(n, n, |i, j| a[(i, j)] + if i == j { tau } else { 0.0 });
                let want = shifted.llt(Side::Lower).expect("positive definite");
                let mut want_x = Mat::from_fn(n, 1, |i, _| (i as f64).sin());
                want.solve_in_place(&mut want_x);
                assert!(llt.factor_shifted(a.as_ref(), tau), "n = {n}");
                let mut x: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
                llt.solve_in_place(&mut x);
                for (i, xi) in x.iter().enumerate() {
                    assert_eq!(xi.to_bits(), want_x[(i, 0)].to_bits(), "n = {n}, τ = {tau}, entry {i}");
                }
            }
        }
        // one pivot (a fast path): every sign, scale and shift, NaN and ∞
        let mut seed = 0x5eed_u64;
        // positive, exponents from about 2^-255 to 2^767
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            f64::from_bits(seed >> 2 | 0x3000_0000_0000_0000)
        };
        let specials = [0.0, -0.0, 1.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e-300, 1e300];
        for k in 0..4000 {
            let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
            let tau = if k % 3 == 0 { 0.0 } else { next() };
            let (a, tau) = if k < 81 { (specials[k % 9], specials[k / 9]) } else { (sign * next(), tau) };
            let a = Mat::from_fn(1, 1, |_, _| a);
            let shifted = Mat::from_fn(1, 1, |_, _| a[(0, 0)] + tau);
            let want = shifted.llt(Side::Lower);
            assert_eq!(llt.factor_shifted(a.as_ref(), tau), want.is_ok(), "a = {a:?}, τ = {tau}");
            if let Ok(want) = want {
                let b = sign * next();
                let mut want_x = Mat::from_fn(1, 1, |_, _| b);
                want.solve_in_place(&mut want_x);
                let mut x = [b];
                llt.solve_in_place(&mut x);
                assert_eq!(x[0].to_bits(), want_x[(0, 0)].to_bits(), "a = {a:?}, τ = {tau}, b = {b}");
            }
        }
        let saddle = Mat::from_fn(2, 2, |i, j| [[1.0, 2.0], [2.0, 1.0]][i][j]);
        assert!(saddle.llt(Side::Lower).is_err());
        assert!(!llt.factor_shifted(saddle.as_ref(), 0.0));
        assert!(llt.factor_shifted(saddle.as_ref(), 1.5));
    }
}
