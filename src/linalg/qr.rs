//! Householder QR `A = QR` of an m × n matrix (the least-squares path of
//! [`crate::solve::direct`] and the prepared node): `Q = H₀H₁⋯H_{k−1}`,
//! `k = min(m, n)`, each reflector `Hⱼ = I − τⱼvⱼvⱼᵀ` with `vⱼ = (0,…,0, 1, vⱼ,ⱼ₊₁,…)`,
//! R upper triangular (Golub & Van Loan, Alg. 5.2.1; LAPACK `dgeqrf`).
//!
//! Blocked by the compact WY form (Schreiber & Van Loan 1989): the product of a
//! panel's `b` reflectors is `H₀⋯H_{b−1} = I − VTVᵀ` with T upper triangular
//! (LAPACK `dlarft`), so the trailing columns are updated as
//! `C ← (I − VTᵀVᵀ)C` by three matrix products (faer's `matmul`, LAPACK
//! `dlarfb`): almost all of the `2mn² − 2n³/3` flops run at matrix–matrix speed.
//! A panel itself is factored column by column (`dgeqr2`), its vector loops
//! compiled for the CPU's widest vector instructions (`linalg::vectorised`).
//!
//! Why not faer's own QR: at the layer sizes (256 × 128) ~20% of its time went
//! to its overflow-safe column norm, which scales every entry. Here a column's
//! norm is the plain `√Σxᵢ²`, recomputed with scaling only when that sum
//! overflowed or may have lost digits to underflow (LAPACK `dnrm2`'s concern,
//! handled as its safe-minimum recovery in `dlarfg` does: rarely taken, never
//! wrong).
//!
//! Storage, as LAPACK's: R on and above the diagonal of the factored matrix,
//! each `vⱼ` below it (its unit entry implied), τ beside. The solves read R's
//! triangle only.

use faer::linalg::matmul::matmul;
use faer::linalg::triangular_solve::{solve_lower_triangular_in_place, solve_upper_triangular_in_place};
use faer::{Accum, MatMut, MatRef, Par};

use super::{axpy, dot, norm_inf, vectorised};

/// Reflectors per panel of the blocked factorisation; at most this many
/// columns left are finished unblocked (LAPACK's `nb` and crossover `nx`, here
/// one number). Measured (2026-12-06, AVX-512 AMD EPYC, `benches/least_squares.rs`,
/// docs/benchmarks.md): 16 was fastest of 8 to 64 at 256 × 128 (a panel's
/// unblocked, vector-at-a-time work grows with its width) and within noise of
/// the best at 1024 × 512; two levels (outer panels of 32–128 updated at once,
/// each factored in panels of 16) gained nothing measurable.
const BLOCK: usize = 16;

/// Rows per band of [`Qr::factor_row_major`]'s transpose.
const BAND: usize = 16;

/// Below this a sum of squares may have lost digits to underflow (its terms
/// below `f64::MIN_POSITIVE` are subnormal): the norm is then recomputed scaled.
const TINY: f64 = f64::MIN_POSITIVE / f64::EPSILON;

/// A Householder QR and the buffers it is computed in: reused across
/// factorisations of one size, a factorisation allocates nothing.
#[derive(Debug, Default, Clone)]
pub struct Qr {
    rows: usize,
    cols: usize,
    /// The factored matrix, column-major: R on and above the diagonal, the
    /// reflectors below.
    a: Vec<f64>,
    /// τⱼ of each reflector (0 when `Hⱼ = I`).
    tau: Vec<f64>,
    /// A panel's V with its unit diagonal and zeros above written out.
    v: Vec<f64>,
    /// VᵀV of a panel, then its T.
    s: Vec<f64>,
    t: Vec<f64>,
    /// VᵀC and TᵀVᵀC of the trailing update.
    w: Vec<f64>,
    w2: Vec<f64>,
}

impl Qr {
    /// Factors `a` (m × n, any m and n), overwriting the previous factorisation.
    pub fn factor(&mut self, a: MatRef<'_, f64>) {
        let (m, n) = (a.nrows(), a.ncols());
        (self.rows, self.cols) = (m, n);
        self.a.resize(m * n, 0.0);
        MatMut::from_column_major_slice_mut(&mut self.a, m, n).copy_from(a);
        self.factor_in_place();
    }

    /// Factors the m × n matrix stored row by row in `data` (a parameter
    /// tensor as bound), overwriting the previous factorisation. The transpose
    /// into column-major order goes in bands of `BAND` rows: each column's
    /// `BAND` entries are written together while the band's rows stay in
    /// cache (an entry-at-a-time transpose of a 1024 × 512 matrix, a 4 KiB
    /// stride between reads, took a quarter of the prepared node's solve).
    pub fn factor_row_major(&mut self, data: &[f64], m: usize, n: usize) {
        assert_eq!(data.len(), m * n, "factor_row_major: {} entries for a {m} × {n} matrix", data.len());
        (self.rows, self.cols) = (m, n);
        self.a.resize(m * n, 0.0);
        for i0 in (0..m).step_by(BAND) {
            let band = &data[i0 * n..(i0 + BAND).min(m) * n];
            for (j, col) in self.a.chunks_exact_mut(m).enumerate() {
                for (dst, row) in col[i0..].iter_mut().zip(band.chunks_exact(n)) {
                    *dst = row[j];
                }
            }
        }
        self.factor_in_place();
    }

    /// Row count m of the factored matrix.
    pub fn nrows(&self) -> usize {
        self.rows
    }

    /// Column count n of the factored matrix.
    pub fn ncols(&self) -> usize {
        self.cols
    }

    /// R's leading `min(m, n) × n` rows: read its upper triangle only (the
    /// reflectors are stored below the diagonal).
    pub fn r(&self) -> MatRef<'_, f64> {
        let k = self.rows.min(self.cols);
        MatRef::from_column_major_slice(&self.a, self.rows, self.cols).get(..k, ..)
    }

    /// Whether A has full column rank numerically: m ≥ n > 0 and every |Rᵢᵢ|
    /// above `100 n ε max|Rⱼⱼ|` (a rank test of a QR without column pivoting,
    /// adequate to refuse the direct path and fall back to the interior point
    /// method; a NaN anywhere fails it).
    pub fn full_rank(&self) -> bool {
        let (m, n) = (self.rows, self.cols);
        if m < n || n == 0 {
            return false;
        }
        let diag = |i: usize| self.a[i * m + i].abs();
        let big = (0..n).fold(0.0f64, |b, i| b.max(diag(i)));
        big > 0.0 && (0..n).all(|i| diag(i) > 100.0 * n as f64 * f64::EPSILON * big)
    }

    /// `b ← Qᵀb` (b of length m), one reflector at a time:
    /// `b ← b − τⱼvⱼ(vⱼᵀb)`.
    pub fn apply_qt(&self, b: &mut [f64]) {
        let m = self.rows;
        assert_eq!(b.len(), m, "Qᵀb: b has {} entries, Q is {m} × {m}", b.len());
        let (a, tau) = (&self.a, &self.tau);
        vectorised(
            #[inline(always)]
            || {
                for (j, &t) in tau.iter().enumerate() {
                    if t == 0.0 {
                        continue;
                    }
                    let v = &a[j * m + j + 1..(j + 1) * m];
                    let (bj, rest) = b[j..].split_at_mut(1);
                    let w = t * (bj[0] + dot(v, rest));
                    bj[0] -= w;
                    axpy(rest, -w, v);
                }
            },
        );
    }

    /// The least-squares solution `x = R⁻¹(Qᵀb)[..n]` of `min ‖Ax − b‖₂` for a
    /// full-rank A with m ≥ n ([`Qr::full_rank`]): b (length m) is overwritten
    /// by `Qᵀb` with x in its first n entries; the rest, `(Qᵀb)[n..]`, is the
    /// residual in Q's basis (`‖Ax − b‖₂ = ‖(Qᵀb)[n..]‖₂`).
    pub fn solve_lstsq_in_place(&self, b: &mut [f64]) {
        self.apply_qt(b);
        let n = self.cols;
        let x = MatMut::from_column_major_slice_mut(&mut b[..n], n, 1);
        solve_upper_triangular_in_place(self.r().get(.., ..n), x, Par::Seq);
    }

    /// `w = (AᵀA)⁻¹v = R⁻¹R⁻ᵀv` in place (v of length n, A of full rank): the
    /// normal-equations solve of the least-squares backward pass, by two
    /// triangular solves with the forward pass's R (no QᵀQ formed).
    pub fn solve_normal_in_place(&self, v: &mut [f64]) {
        let n = self.cols;
        let r = self.r().get(.., ..n);
        let mut w = MatMut::from_column_major_slice_mut(v, n, 1);
        solve_lower_triangular_in_place(r.transpose(), w.as_mut(), Par::Seq);
        solve_upper_triangular_in_place(r, w, Par::Seq);
    }

    /// The blocked factorisation of `self.a`: panels of [`BLOCK`] reflectors,
    /// each followed by its compact WY update of the columns to its right.
    fn factor_in_place(&mut self) {
        let (m, n) = (self.rows, self.cols);
        let k = m.min(n);
        self.tau.clear();
        self.tau.resize(k, 0.0);
        let mut p0 = 0;
        while p0 < k {
            if n - p0 <= BLOCK {
                return self.panel(p0, k, n);
            }
            let p1 = (p0 + BLOCK).min(k);
            self.panel(p0, p1, p1);
            if p1 < n {
                self.update(p0, p1);
            }
            p0 = p1;
        }
    }

    /// Reflectors `p0..p1` of columns `p0..p1`, each applied at once to the
    /// columns up to `end` (LAPACK `dgeqr2`).
    fn panel(&mut self, p0: usize, p1: usize, end: usize) {
        let m = self.rows;
        let (a, tau) = (&mut self.a, &mut self.tau);
        vectorised(
            #[inline(always)]
            || {
                for j in p0..p1 {
                    let (left, right) = a.split_at_mut((j + 1) * m);
                    let col = &mut left[j * m + j..];
                    let t = reflector(col);
                    tau[j] = t;
                    if t == 0.0 {
                        continue;
                    }
                    let v = &col[1..];
                    for c in right[..(end - j - 1) * m].chunks_exact_mut(m) {
                        let (cj, rest) = c[j..].split_at_mut(1);
                        let w = t * (cj[0] + dot(v, rest));
                        cj[0] -= w;
                        axpy(rest, -w, v);
                    }
                }
            },
        );
    }

    /// `C ← (I − VTVᵀ)ᵀC` for the trailing columns `p1..n`, rows `p0..m`, of the
    /// panel `p0..p1` (LAPACK `dlarft` + `dlarfb`): T from S = VᵀV by
    /// `T[..i, i] = −τᵢ T[..i, ..i] S[..i, i]`, `T[i, i] = τᵢ`.
    fn update(&mut self, p0: usize, p1: usize) {
        let (m, n) = (self.rows, self.cols);
        let (len, b, nc) = (m - p0, p1 - p0, n - p1);
        let Qr { a, tau, v, s, t, w, w2, .. } = self;
        v.clear();
        for c in 0..b {
            let col = &a[(p0 + c) * m + p0..(p0 + c + 1) * m];
            v.extend(std::iter::repeat_n(0.0, c));
            v.push(1.0);
            v.extend_from_slice(&col[c + 1..]);
        }
        let v = MatRef::from_column_major_slice(v, len, b);
        s.resize(b * b, 0.0);
        let mut s = MatMut::from_column_major_slice_mut(s, b, b);
        matmul(s.as_mut(), Accum::Replace, v.transpose(), v, 1.0, Par::Seq);
        t.clear();
        t.resize(b * b, 0.0);
        // Column i of T: Σ_{q<i} T[..=q, q]·(−τᵢ S[q, i]) (T upper triangular),
        // as axpys over T's earlier columns.
        for i in 0..b {
            let tau_i = tau[p0 + i];
            let (done, rest) = t.split_at_mut(i * b);
            let col = &mut rest[..b];
            for (q, tq) in done.chunks_exact(b).enumerate() {
                axpy(&mut col[..=q], -tau_i * s[(q, i)], &tq[..=q]);
            }
            col[i] = tau_i;
        }
        let t = MatRef::from_column_major_slice(t, b, b);
        let mut c = MatMut::from_column_major_slice_mut(a, m, n).submatrix_mut(p0, p1, len, nc);
        w.resize(b * nc, 0.0);
        w2.resize(b * nc, 0.0);
        let mut w = MatMut::from_column_major_slice_mut(w, b, nc);
        let mut w2 = MatMut::from_column_major_slice_mut(w2, b, nc);
        matmul(w.as_mut(), Accum::Replace, v.transpose(), c.as_ref(), 1.0, Par::Seq);
        matmul(w2.as_mut(), Accum::Replace, t.transpose(), w.as_ref(), 1.0, Par::Seq);
        matmul(c.as_mut(), Accum::Add, v, w2.as_ref(), -1.0, Par::Seq);
    }
}

/// The reflector `H = I − τvvᵀ` with `H(α, x) = (β, 0)` of the column `(α, x)`
/// (LAPACK `dlarfg`): `β = −sign(α)‖(α, x)‖₂`, `τ = (β − α)/β`,
/// `v = x/(α − β)` written over x and β over α; τ = 0 (H = I) when x = 0.
#[inline(always)]
fn reflector(col: &mut [f64]) -> f64 {
    let Some((alpha, x)) = col.split_first_mut() else { return 0.0 };
    let a = *alpha;
    let ssq = dot(x, x);
    let total = a * a + ssq;
    let norm = if ssq >= TINY && total.is_finite() {
        total.sqrt()
    } else {
        // Overflow, possible underflow, x = 0 or a NaN: scaled by the largest
        // entry, so no square leaves the range.
        let scale = norm_inf(x);
        if scale == 0.0 && !ssq.is_nan() {
            return 0.0;
        }
        let s = scale.max(a.abs());
        let sum = x.iter().fold((a / s) * (a / s), |acc, v| acc + (v / s) * (v / s));
        s * sum.sqrt()
    };
    let beta = -norm.copysign(a);
    let denom = a - beta;
    let inv = 1.0 / denom;
    if inv.is_finite() {
        x.iter_mut().for_each(|v| *v *= inv);
    } else {
        x.iter_mut().for_each(|v| *v /= denom);
    }
    *alpha = beta;
    (beta - a) / beta
}
