//! Symmetric indefinite matrices `K = PLBLᵀPᵀ` (the KKT matrices `[W Jᵀ; J −D]`
//! of the smooth interior point method and its backward pass, and `[P Aᵀ; A 0]`
//! of a directly solved equality QP): one pivoted factorisation (Bunch–Kaufman,
//! faer's `lblt`), the one walk over B's 1×1 and 2×2 pivot blocks, and from it
//! the inertia and the nonsingularity test, the solves, and a minimum-norm
//! fallback for singular `K`.
//!
//! The inertia `(n₊, n₋, n₀)` of `K` equals that of the block-diagonal `B`
//! (Sylvester's law of inertia), read off its 1×1 and 2×2 pivots. A step
//! computed from `K` is a descent direction for the barrier / merit function
//! exactly when the inertia is `(n, m, 0)` with `n` the number of variables
//! and `m` the number of constraint rows (Nocedal & Wright, Thm. 16.3 and
//! §19.3): that is what the interior point method's inertia correction enforces.
//!
//! Bunch–Kaufman is not rank revealing, so a near-zero pivot only *suggests*
//! singularity; [`Factored::solve_or_min_norm`] confirms a solve by its residual and
//! otherwise falls back to the eigendecomposition, whose pseudo-inverse gives
//! the minimum-norm least-squares solution `K⁺r`.
//!
//! Two questions are asked of the pivots, with two tolerances on purpose:
//!
//! - [`Inertia`] (is a step a descent direction?) counts a pivot as zero
//!   relative to the rows of `K` it eliminates, `|e| ≤ ZERO_PIVOT · max|K_row|`:
//!   interior point matrices mix diagonals from 1e-10 to 1e10, so a scale taken
//!   from the whole matrix would call ordinary pivots zero, and an inertia
//!   correction would then regularise a matrix that needs none.
//! - [`Factored::nonsingular`] (is the minimiser of an equality QP unique?)
//!   compares the pivots with each other, `min|e| > 100 n ε max|e|`: the direct
//!   path's K holds the problem's own data with no barrier terms, L is bounded by
//!   the pivoting, so B carries K's conditioning and a ratio at rounding level
//!   means the solution is not determined by the data; the interior point method
//!   then takes (and classifies) the problem.

use std::mem::MaybeUninit;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::lblt::{factor::cholesky_in_place, factor::cholesky_in_place_scratch, solve};
use faer::perm::PermRef;
use faer::{get_global_parallelism, ColMut, ColRef, Mat, MatMut, Side};

use super::Scratch;

use super::norm_inf;

/// A pivot block whose eigenvalue is below `ZERO_PIVOT` times the largest
/// entry of the rows it eliminates counts as zero: for a matrix that is
/// singular in exact arithmetic Bunch–Kaufman leaves pivots of order `ε‖K‖`,
/// well below this.
const ZERO_PIVOT: f64 = 1e-11;

/// The pseudo-inverse drops eigenvalues below `RANK_TOL · max |eigenvalue|`.
const RANK_TOL: f64 = 1e-10;

/// A solve is accepted when `‖Kx − r‖∞ ≤ RESIDUAL_TOL · (‖K‖∞‖x‖∞ + ‖r‖∞)`.
const RESIDUAL_TOL: f64 = 1e-9;

/// The numbers of positive, negative and zero eigenvalues of a symmetric matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inertia {
    /// `n₊`: eigenvalues > 0.
    pub positive: usize,
    /// `n₋`: eigenvalues < 0.
    pub negative: usize,
    /// `n₀`: eigenvalues counted as zero (below `ZERO_PIVOT` relative to their rows).
    pub zero: usize,
}

/// `K = P L B Lᵀ Pᵀ`, with `K` kept for residual checks, in buffers that
/// [`Factored::refactor`] reuses: faer's in-place Bunch–Kaufman on a kept `L`
/// with its scratch sized once, so a factorisation at a size already seen
/// allocates nothing. The numbers are `Mat::lblt(Side::Lower)`'s bit for bit
/// (the same routine, parameters and parallelism on the same input: `K`'s
/// lower triangle on zeros; `B`'s diagonal moved out of `L`, whose diagonal
/// becomes 1 and strict upper triangle 0; the same solve).
#[derive(Debug)]
pub struct Factored {
    k: Mat<f64>,
    /// The unit lower triangular `L`.
    l: Mat<f64>,
    /// `B`'s diagonal and subdiagonal (nonzero where a 2×2 block starts).
    b_diag: Vec<f64>,
    b_subdiag: Vec<f64>,
    /// `P` as faer stores it: forward and inverse index arrays.
    perm_fwd: Vec<usize>,
    perm_bwd: Vec<usize>,
    /// faer's scratch for the factorisation.
    scratch: Scratch,
    /// `K`'s inertia, read off `B`'s pivots.
    pub inertia: Inertia,
}

impl Default for Factored {
    /// No matrix yet: the buffers for [`Factored::refactor`].
    fn default() -> Self {
        Factored {
            k: Mat::new(),
            l: Mat::new(),
            b_diag: Vec::new(),
            b_subdiag: Vec::new(),
            perm_fwd: Vec::new(),
            perm_bwd: Vec::new(),
            scratch: Scratch::default(),
            inertia: Inertia { positive: 0, negative: 0, zero: 0 },
        }
    }
}

/// Factors the symmetric `k` (both triangles must hold it).
pub fn factor(k: Mat<f64>) -> Factored {
    let mut f = Factored { k, ..Factored::default() };
    f.refactor();
    f
}

/// The eigenvalues of `B`'s pivot blocks in order, each with the largest entry
/// of the rows of `K` its block eliminates (`PKPᵀ` has row `i` of `K` at
/// `fwd[i]`): `f(e, row_scale)` once per eigenvalue, so B's `n` eigenvalues,
/// which by Sylvester's law have K's signs.
fn pivot_eigenvalues(fact: &Factored, mut f: impl FnMut(f64, f64)) {
    let (d, s, k) = (&fact.b_diag, &fact.b_subdiag, &fact.k);
    let fwd = &fact.perm_fwd;
    let n = d.len();
    let row_scale = |i: usize| (0..n).fold(f64::MIN_POSITIVE, |m, j| m.max(k[(fwd[i], j)].abs()));
    let mut i = 0;
    while i < n {
        if i + 1 < n && s[i] != 0.0 {
            // The 2×2 block [a b; b c]: eigenvalues (a+c)/2 ± √(((a−c)/2)² + b²).
            let (a, b, c) = (d[i], s[i], d[i + 1]);
            let (mid, rad) = ((a + c) / 2.0, ((a - c) / 2.0).hypot(b));
            let scale = row_scale(i).max(row_scale(i + 1));
            f(mid - rad, scale);
            f(mid + rad, scale);
            i += 2;
        } else {
            f(d[i], row_scale(i));
            i += 1;
        }
    }
}

/// The pivots' eigenvalues counted by sign, zero relative to the rows they
/// eliminate (`|e| ≤ ZERO_PIVOT · row scale`; the module doc says why).
fn inertia(fact: &Factored) -> Inertia {
    let mut out = Inertia { positive: 0, negative: 0, zero: 0 };
    pivot_eigenvalues(fact, |e, scale| {
        if e.is_nan() || e.abs() <= ZERO_PIVOT * scale {
            out.zero += 1;
        } else if e > 0.0 {
            out.positive += 1;
        } else {
            out.negative += 1;
        }
    });
    out
}

impl Factored {
    /// The factored matrix `K`.
    pub fn k(&self) -> &Mat<f64> {
        &self.k
    }

    /// `K` resized to `dim × dim` and zeroed, for the caller to fill (both
    /// triangles) before [`Factored::refactor`]; the old factors are stale
    /// until then.
    pub fn k_zeroed(&mut self, dim: usize) -> &mut Mat<f64> {
        self.k.resize_with(dim, dim, |_, _| 0.0);
        self.k.as_mut().fill(0.0);
        &mut self.k
    }

    /// Factors `K` (as [`Factored::k_zeroed`] left it filled) in the kept
    /// buffers, and reads its inertia.
    pub fn refactor(&mut self) {
        let (n, par) = (self.k.nrows(), get_global_parallelism());
        self.l.resize_with(n, n, |_, _| 0.0);
        for j in 0..n {
            for i in 0..n {
                self.l[(i, j)] = if i >= j { self.k[(i, j)] } else { 0.0 };
            }
        }
        for v in [&mut self.b_diag, &mut self.b_subdiag] {
            v.clear();
            v.resize(n, 0.0);
        }
        for v in [&mut self.perm_fwd, &mut self.perm_bwd] {
            v.clear();
            v.resize(n, 0);
        }
        if n == 1 {
            // One 1 × 1 pivot, what faer's factorisation leaves without its
            // dispatch: L = 1, B = K (tested bit for bit below).
            self.b_diag[0] = self.l[(0, 0)];
            self.l[(0, 0)] = 1.0;
            self.inertia = inertia(self);
            return;
        }
        cholesky_in_place(
            self.l.as_mut(),
            ColMut::from_slice_mut(&mut self.b_subdiag).as_diagonal_mut(),
            &mut self.perm_fwd,
            &mut self.perm_bwd,
            par,
            self.scratch.stack(cholesky_in_place_scratch::<usize, f64>(n, par, Default::default())),
            Default::default(),
        );
        for i in 0..n {
            self.b_diag[i] = self.l[(i, i)];
            self.l[(i, i)] = 1.0;
            for j in i + 1..n {
                self.l[(i, j)] = 0.0;
            }
        }
        self.inertia = inertia(self);
    }

    /// Whether `K` is numerically nonsingular: the smallest |eigenvalue| of B's
    /// pivot blocks above `100 n ε` times the largest (a test of the whole
    /// matrix, unlike [`Inertia`]'s row-relative zero; the module doc says why).
    pub fn nonsingular(&self) -> bool {
        let n = self.k.nrows();
        let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
        pivot_eigenvalues(self, |e, _| (lo, hi) = (lo.min(e.abs()), hi.max(e.abs())));
        n == 0 || (hi.is_finite() && lo > 100.0 * n as f64 * f64::EPSILON * hi)
    }

    /// `x = K⁻¹ r` by the factors (meaningful when the inertia has no zeros).
    pub fn solve(&self, r: &[f64]) -> Vec<f64> {
        let mut x = r.to_vec();
        self.solve_in_place(&mut x);
        x
    }

    /// `r ← K⁻¹ r` by the factors. faer's scratch (one column) is on the
    /// stack up to `STACK_SOLVE` bytes, so a small solve allocates nothing.
    pub fn solve_in_place(&self, r: &mut [f64]) {
        const STACK_SOLVE: usize = 4096;
        let n = r.len();
        if let ([r0], [d], [0.0]) = (&mut *r, &self.b_diag[..], &self.b_subdiag[..]) {
            // faer's solve with one 1 × 1 pivot: `x·(1/d)` (unit L, no permutation)
            *r0 *= d.recip();
            return;
        }
        let par = get_global_parallelism();
        let req = solve::solve_in_place_scratch::<usize, f64>(n, 1, par);
        let (l, d, s) = (self.l.as_ref(), ColRef::from_slice(&self.b_diag), ColRef::from_slice(&self.b_subdiag));
        let perm = PermRef::new_checked(&self.perm_fwd, &self.perm_bwd, n);
        let rhs = MatMut::from_column_major_slice_mut(r, n, 1);
        let run = |stack: &mut MemStack| {
            solve::solve_in_place(l, d.as_diagonal(), s.as_diagonal(), perm, rhs, par, stack);
        };
        if req.unaligned_bytes_required() <= STACK_SOLVE {
            run(MemStack::new(&mut [MaybeUninit::<u8>::uninit(); STACK_SOLVE]));
        } else {
            run(MemStack::new(&mut MemBuffer::new(req)));
        }
    }

    /// The factored solve if it is finite and its residual small (and 0),
    /// else the minimum-norm solution `K⁺r` and the number of eigenvalues it
    /// dropped as zero (at least 1: a fallback that drops none counts the
    /// smallest one, which made the factored solve fail).
    pub fn solve_or_min_norm(&self, r: &[f64]) -> (Vec<f64>, usize) {
        if self.inertia.zero == 0 {
            let x = self.solve(r);
            if self.accepts(&x, r) {
                return (x, 0);
            }
        }
        let (x, dropped) = min_norm_solve(&self.k, r);
        (x, dropped.max(1))
    }

    fn accepts(&self, x: &[f64], r: &[f64]) -> bool {
        if !super::all_finite(x) {
            return false;
        }
        let n = r.len();
        let (mut res, mut knorm) = (0.0f64, 0.0f64);
        for i in 0..n {
            let row: f64 = (0..n).map(|j| self.k[(i, j)] * x[j]).sum();
            res = res.max((row - r[i]).abs());
            knorm = knorm.max((0..n).map(|j| self.k[(i, j)].abs()).sum());
        }
        res <= RESIDUAL_TOL * (knorm * norm_inf(x) + norm_inf(r))
    }
}

/// `K⁺r = Σ_{|σᵢ| > RANK_TOL·max|σ|} uᵢ (uᵢᵀr)/σᵢ` from the symmetric
/// eigendecomposition `K = U diag(σ) Uᵀ`: the least-squares solution of least
/// norm (Golub & Van Loan §5.5.4), and the number of eigenvalues dropped.
/// Zeros (all `n` dropped) if the decomposition fails.
pub fn min_norm_solve(k: &Mat<f64>, r: &[f64]) -> (Vec<f64>, usize) {
    let n = r.len();
    let Ok(eig) = k.self_adjoint_eigen(Side::Lower) else {
        return (vec![0.0; n], n);
    };
    let (u, sigma) = (eig.U(), eig.S());
    let big = (0..n).fold(0.0f64, |m, i| m.max(sigma[i].abs()));
    let mut x = vec![0.0; n];
    let mut dropped = 0;
    for i in 0..n {
        if sigma[i].abs() > RANK_TOL * big {
            let coef = (0..n).map(|j| u[(j, i)] * r[j]).sum::<f64>() / sigma[i];
            for (j, xj) in x.iter_mut().enumerate() {
                *xj += coef * u[(j, i)];
            }
        } else {
            dropped += 1;
        }
    }
    (x, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inertia_of_a_saddle_point_matrix() {
        // [2 1; 1 0]: eigenvalues 1 ± √2, one of each sign.
        let f = factor(Mat::from_fn(2, 2, |i, j| [[2.0, 1.0], [1.0, 0.0]][i][j]));
        assert_eq!(f.inertia, Inertia { positive: 1, negative: 1, zero: 0 });
        assert!(f.nonsingular());
        let x = f.solve(&[3.0, 1.0]);
        assert!((x[0] - 1.0).abs() < 1e-14 && (x[1] - 1.0).abs() < 1e-14);
    }

    /// Refactored in kept buffers at growing and shrinking sizes, the factors
    /// solve as faer's `Lblt` does, bit for bit (2×2 pivots included: the
    /// matrices are indefinite with a zero diagonal block).
    #[test]
    fn kept_buffers_match_faer_lblt_bit_for_bit() {
        use faer::linalg::solvers::Solve;
        let mut kept = Factored::default();
        for (n, m) in [(3, 2), (1, 1), (9, 4), (40, 10), (5, 0)] {
            let dim = n + m;
            let entry = |i: usize, j: usize| {
                if i >= n && j >= n {
                    0.0
                } else {
                    1.0 / (1.0 + i as f64 + j as f64) + if i == j { 0.5 } else { 0.0 } + ((i * j) as f64).sin()
                }
            };
            let k = kept.k_zeroed(dim);
            for j in 0..dim {
                for i in 0..dim {
                    k[(i, j)] = entry(i.max(j), i.min(j));
                }
            }
            kept.refactor();
            let fresh = factor(kept.k().clone());
            assert_eq!(kept.inertia, fresh.inertia);
            let r: Vec<f64> = (0..dim).map(|i| (i as f64).cos()).collect();
            let want = kept.k().lblt(Side::Lower).solve(Mat::from_fn(dim, 1, |i, _| r[i]));
            for x in [kept.solve(&r), fresh.solve(&r)] {
                for (i, xi) in x.iter().enumerate() {
                    assert_eq!(xi.to_bits(), want[(i, 0)].to_bits(), "dim {dim}, entry {i}");
                }
            }
        }
        // one pivot (a fast path): every sign and scale, zero, NaN and ∞
        let mut seed = 0x5eed_u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            f64::from_bits(seed >> 2 | 0x3000_0000_0000_0000)
        };
        let specials = [0.0, -0.0, 1.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e-300, -1e300];
        for k in 0..4000 {
            let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
            let (a, r) = if k < 81 { (specials[k % 9], specials[k / 9]) } else { (sign * next(), sign * next()) };
            kept.k_zeroed(1)[(0, 0)] = a;
            kept.refactor();
            let want = kept.k().lblt(Side::Lower);
            let fresh = factor(kept.k().clone());
            assert_eq!(kept.inertia, fresh.inertia, "a = {a}");
            let want_x = want.solve(Mat::from_fn(1, 1, |_, _| r));
            assert_eq!(kept.solve(&[r])[0].to_bits(), want_x[(0, 0)].to_bits(), "a = {a}, r = {r}");
        }
    }

    #[test]
    fn singular_matrices_get_the_minimum_norm_solution() {
        // A duplicated constraint row: [1 1 1; 1 0 0; 1 0 0], r in its range.
        let k = Mat::from_fn(3, 3, |i, j| [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]][i][j]);
        let f = factor(k);
        assert_eq!(f.inertia.zero, 1);
        assert!(!f.nonsingular());
        let (x, degenerate) = f.solve_or_min_norm(&[1.0, 2.0, 2.0]);
        assert_eq!(degenerate, 1);
        // x₀ = 2, x₁ + x₂ = −1, least norm: x₁ = x₂ = −½.
        for (a, b) in x.iter().zip([2.0, -0.5, -0.5]) {
            assert!((a - b).abs() < 1e-12, "{x:?}");
        }
    }
}
