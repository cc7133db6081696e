//! Condensed path: the nonnegative-orthant rows eliminated, whose `H` is
//! diagonal. With the rows of `A` split into the orthant rows `g` and the kept
//! rows `k` (zero cones and second-order cones), the regularised system
//!
//! ```text
//! [ P + δI   A_kᵀ          A_gᵀ         ] [x  ]   [r_x]
//! [ A_k      −(H_k + δI)   0            ] [z_k] = [r_k]
//! [ A_g      0             −(H_g + δI)  ] [z_g]   [r_g]
//! ```
//!
//! gives `z_g = D(A_g x − r_g)` with `D = (H_g + δI)⁻¹` from its last rows, and
//!
//! ```text
//! [ P + δI + A_gᵀDA_g   A_kᵀ        ] [x  ]   [r_x + A_gᵀD r_g]
//! [ A_k                 −(H_k + δI) ] [z_k] = [r_k            ]
//! ```
//!
//! of order `n + m_k` instead of `n + m`, factored by faer's dense `LDLᵀ` with
//! the dense path's numerics (unpivoted, dynamic regularisation of wrong-signed
//! pivots). This is the normal-equations form of CVXOPT's `coneqp` and of
//! OptNet's batched solver: for a dense QP with few variables and many
//! inequalities it costs `m_g n²` (the product `A_gᵀDA_g`, formed by one faer
//! triangular matrix product) plus `(n + m_k)³/3`, against `(n + m)³/3` for
//! the full matrix. It solves the same regularised `K̃` as the other paths
//! (exactly, up to rounding), so the iterative refinement against the
//! unregularised `K` is unchanged; near the optimum `D` spans `1/δ` (active
//! rows) to `10⁻¹⁴` (inactive ones), the condensed matrix is then as badly
//! conditioned as `K` itself, and the refinement recovers the accuracy.
//!
//! # Reduced products
//!
//! Near an optimum an inactive row has `D_i = 1/(H_i + δ)` of 1e-10 and less,
//! and its term `D_i a_i a_iᵀ` of `A_gᵀDA_g` is far below what the refinement
//! corrects anyway (adaptive constraint reduction: Jung, O'Leary & Tits,
//! "Adaptive constraint reduction for convex quadratic programming", Comput.
//! Optim. Appl. 51, 2012). A factorisation leaves rows out of the product,
//! smallest `D_i ‖a_i‖₂²` first, while the sum of those stays within `δ`: the
//! rows left out make `E = Σ D_i a_i a_iᵀ`, `‖E‖₂ ≤ Σ D_i ‖a_i‖₂² ≤ δ`, a
//! perturbation of the x block no larger than the static regularisation `δI`
//! it already carries, so the refinement's passes stay as they were. The solve
//! still eliminates every row exactly (`z_g = D(A_g x − r_g)`): what is factored
//! is `K̃` with `E` taken off its x block. The kept rows are gathered, as
//! `B = D^{1/2} A_g` (the product is then `BᵀB`, one scratch for both
//! factors), so that the product runs on a smaller dense block; that pays only
//! when enough rows go (see [`CondensedLdl::select_rows`]), which at the polished point, where
//! every inactive row has `H_i` of 1e13, they all do. Should a refined solve
//! miss its tolerance with a reduced factorisation, `KktSystem` refactors with
//! every row. Budgets above `δ` were measured (a Jacobi-scaled sum up to 1e-8
//! left 23% of the rows out over the 12 factorisations of the side-by-side
//! n = 200 QP) and cost as many refinement passes as they saved.

use faer::dyn_stack::MemBuffer;
use faer::linalg::matmul::triangular::{matmul, BlockStructure};
use faer::{Accum, Mat, Par};

use super::super::csc::is_leading;
use super::super::data::ProblemData;
use super::super::settings::Settings;
use super::dense::{add_columns, factor_in_place, ldlt_scratch, solve_in_place, COLUMNS};
use crate::linalg::{dot, norm_inf, vectorised};
use crate::solve::cones::{AnyCone, Cone, Cones};

pub(crate) struct CondensedLdl {
    n: usize,
    m: usize,
    /// Rows of `A` kept in the reduced system (in order), the orthant rows
    /// eliminated, and the row of `a_perm` each row of A went to.
    kept: Vec<usize>,
    elim: Vec<usize>,
    row_perm: Vec<usize>,
    /// `row_perm` as runs of consecutive rows `(first row of A, first row of
    /// a_perm, length)`: a dense column of A is copied run by run.
    runs: Vec<(usize, usize, usize)>,
    /// `A` dense with its rows permuted to `[A_g; A_k]` (the eliminated rows,
    /// then the kept ones): `A_g` is its first `m_g` rows, and the
    /// refinement's products `K v` run over it whole (one copy of A in the
    /// working set, not two).
    a_perm: Mat<f64>,
    /// The scratch `D A_g`, or `D^{1/2} A_g` over the kept rows (its first
    /// rows) when some are left out of the product (see the module doc's
    /// reduced products).
    dag: Mat<f64>,
    /// `‖a_i‖₂²` of each row of `A_g` (fixed by `load`), and per row its
    /// `D_i ‖a_i‖₂²` (then the kept rows' `D_i^{1/2}`); the rows, those left
    /// out of the last product first (by weight), then the kept ones
    /// (ascending).
    row_sq: Vec<f64>,
    weight: Vec<f64>,
    order: Vec<usize>,
    /// Whether a factorisation may leave rows out, and how many the last one
    /// left out.
    reduce: bool,
    n_dropped: usize,
    /// P (both triangles), dense, for the refinement's products.
    p_full: Mat<f64>,
    /// `v_z` and `e_z` in the order of `a_perm`'s rows.
    vz_perm: Vec<f64>,
    ez_perm: Vec<f64>,
    /// `−v_x` (n).
    neg_vx: Vec<f64>,
    /// The factors: `L` strictly below the diagonal, `D` on it.
    mat: Mat<f64>,
    /// `D = (H_g + δI)⁻¹`.
    d: Vec<f64>,
    /// Expected pivot signs: +1 for x, −1 for the kept rows.
    signs: Vec<i8>,
    dynamic_reg: (f64, f64),
    mem: MemBuffer,
    /// `H` of one block (diagonal of an orthant, or a dense block), and
    /// scratch of lengths `m_g` and `n + m_k`.
    block: Vec<f64>,
    rg: Vec<f64>,
    red: Vec<f64>,
    /// Largest |entry| of P off the diagonal and of A; P's diagonal.
    max_data: f64,
    p_diag: Vec<f64>,
    /// Largest |entry| of the last (full, regularised) `K̃` factored.
    max_abs: f64,
}

impl CondensedLdl {
    pub fn new(data: &ProblemData, cones: &Cones, settings: &Settings) -> Self {
        let (n, m) = (data.n, data.m);
        let (mut kept, mut elim) = (Vec::new(), Vec::new());
        for (c, r) in cones.iter() {
            for i in r {
                if matches!(c, AnyCone::Nonneg(_)) {
                    elim.push(i);
                } else {
                    kept.push(i);
                }
            }
        }
        let mut row_perm = vec![0; m];
        for (p, &i) in elim.iter().chain(&kept).enumerate() {
            row_perm[i] = p;
        }
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        for (p, &i) in elim.iter().chain(&kept).enumerate() {
            match runs.last_mut() {
                Some((i0, p0, len)) if *i0 + *len == i && *p0 + *len == p => *len += 1,
                _ => runs.push((i, p, 1)),
            }
        }
        let (mg, dim) = (elim.len(), n + kept.len());
        let block_len = cones
            .iter()
            .map(|(c, _)| {
                if matches!(c, AnyCone::SecondOrder(_) | AnyCone::Exponential(_) | AnyCone::Psd(_)) {
                    c.dim() * c.dim()
                } else {
                    c.dim()
                }
            })
            .max()
            .unwrap_or(0);
        let mut f = CondensedLdl {
            n,
            m,
            kept,
            elim,
            row_perm,
            runs,
            a_perm: Mat::zeros(m, n),
            dag: Mat::zeros(mg, n),
            row_sq: vec![0.0; mg],
            weight: vec![0.0; mg],
            order: (0..mg).collect(),
            reduce: true,
            n_dropped: 0,
            p_full: Mat::zeros(n, n),
            vz_perm: vec![0.0; m],
            ez_perm: vec![0.0; m],
            neg_vx: vec![0.0; n],
            mat: Mat::zeros(dim, dim),
            d: vec![0.0; mg],
            signs: (0..dim).map(|i| if i < n { 1 } else { -1 }).collect(),
            dynamic_reg: (settings.dynamic_reg_eps, settings.dynamic_reg_delta),
            mem: ldlt_scratch(dim),
            block: vec![0.0; block_len],
            rg: vec![0.0; mg],
            red: vec![0.0; dim],
            max_data: 0.0,
            p_diag: vec![0.0; n],
            max_abs: 0.0,
        };
        f.load(data);
        f
    }

    /// Copies P and A (new values in the same pattern) into place: each entry
    /// to its place, column by column (`row_perm` gives A's rows theirs); the
    /// places outside the pattern are zero from construction and never written.
    pub fn load(&mut self, data: &ProblemData) {
        let n = self.n;
        let mut max_data: f64 = 0.0;
        for j in 0..n {
            let (rows, vals) = data.p.col_slices(j);
            let col = self.p_full.col_as_slice_mut(j);
            self.p_diag[j] = 0.0;
            for (&i, &v) in rows.iter().zip(vals) {
                col[i] = v;
                if i == j {
                    self.p_diag[j] = v;
                } else {
                    max_data = max_data.max(v.abs());
                }
            }
        }
        // The upper triangle's entries mirrored below the diagonal.
        for j in 0..n {
            let (rows, vals) = data.p.col_slices(j);
            for (&i, &v) in rows.iter().zip(vals) {
                if i != j {
                    self.p_full[(j, i)] = v;
                }
            }
        }
        for j in 0..n {
            let (rows, vals) = data.a.col_slices(j);
            let col = self.a_perm.col_as_slice_mut(j);
            if is_leading(rows) && vals.len() == self.m {
                for &(i0, p0, len) in &self.runs {
                    col[p0..p0 + len].copy_from_slice(&vals[i0..i0 + len]);
                }
            } else {
                for (&i, &v) in rows.iter().zip(vals) {
                    col[self.row_perm[i]] = v;
                }
            }
            max_data = max_data.max(norm_inf(vals));
        }
        self.max_data = max_data;
        let mg = self.elim.len();
        self.row_sq.fill(0.0);
        for j in 0..n {
            for (r, &a) in self.row_sq.iter_mut().zip(&self.a_perm.col_as_slice(j)[..mg]) {
                *r += a * a;
            }
        }
    }

    /// The order of the full system it solves, `n + m`.
    pub fn dim(&self) -> usize {
        self.n + self.m
    }

    pub fn refactor(&mut self, cones: &Cones, delta: f64) -> bool {
        let (n, mg) = (self.n, self.elim.len());
        // The lower triangle alone, `[P; A_k]` in the first n columns (from the
        // dense copies) and zeros below the diagonal of the rest: the product
        // below and faer's LDLᵀ read and write nothing above the diagonal.
        for j in 0..n {
            let col = self.mat.col_as_slice_mut(j);
            col[j..n].copy_from_slice(&self.p_full.col_as_slice(j)[j..]);
            col[n..].copy_from_slice(&self.a_perm.col_as_slice(j)[mg..]);
        }
        for j in n..self.mat.ncols() {
            self.mat.col_as_slice_mut(j)[j..].fill(0.0);
        }
        let mut max_abs = self.max_data;
        for j in 0..n {
            self.mat[(j, j)] += delta;
            max_abs = max_abs.max((self.p_diag[j] + delta).abs());
        }
        let (mut g, mut k) = (0, n);
        for (c, _) in cones.iter() {
            let dim = c.dim();
            match c {
                AnyCone::Nonneg(_) => {
                    let h = &mut self.block[..dim];
                    c.hs_diag(h);
                    for (d, &hi) in self.d[g..g + dim].iter_mut().zip(h.iter()) {
                        max_abs = max_abs.max(hi + delta);
                        *d = 1.0 / (hi + delta);
                    }
                    g += dim;
                }
                AnyCone::Zero(_) => {
                    for i in k..k + dim {
                        self.mat[(i, i)] = -delta;
                    }
                    max_abs = max_abs.max(delta);
                    k += dim;
                }
                AnyCone::SecondOrder(_) | AnyCone::Exponential(_) | AnyCone::Psd(_) => {
                    let h = &mut self.block[..dim * dim];
                    c.hs_dense(h);
                    for j in 0..dim {
                        for i in j..dim {
                            let v = -h[j * dim + i] - if i == j { delta } else { 0.0 };
                            self.mat[(k + i, k + j)] = v;
                            max_abs = max_abs.max(v.abs());
                        }
                    }
                    k += dim;
                }
            }
        }
        self.max_abs = max_abs;
        let kept = if self.reduce { self.select_rows(delta) } else { mg };
        self.n_dropped = mg - kept;
        // The lower triangle of the x block gains A_gᵀ(D A_g), or `BᵀB` with
        // `B = D^{1/2} A_g` over the kept rows when some are left out (one
        // scratch for both factors).
        let (left, right) = if kept < mg {
            self.gather_kept(self.n_dropped);
            (self.dag.as_ref().subrows(0, kept), self.dag.as_ref().subrows(0, kept))
        } else {
            let (a, dag, d) = (&self.a_perm, &mut self.dag, &self.d);
            vectorised(
                #[inline(always)]
                || {
                    for j in 0..n {
                        let (src, dst) = (&a.col_as_slice(j)[..mg], dag.col_as_slice_mut(j));
                        for ((o, &a), &d) in dst.iter_mut().zip(src).zip(d) {
                            *o = d * a;
                        }
                    }
                },
            );
            (self.a_perm.as_ref().subrows(0, mg), self.dag.as_ref())
        };
        if kept > 0 {
            matmul(
                self.mat.as_mut().submatrix_mut(0, 0, n, n),
                BlockStructure::TriangularLower,
                Accum::Add,
                left.transpose(),
                BlockStructure::Rectangular,
                right,
                BlockStructure::Rectangular,
                1.0,
                Par::Seq,
            );
        }
        factor_in_place(self.mat.as_mut(), &self.signs, self.dynamic_reg, &mut self.mem)
    }

    pub fn max_abs(&self) -> f64 {
        self.max_abs
    }

    /// Whether the last factorisation left rows out of the product.
    pub fn is_reduced(&self) -> bool {
        self.n_dropped > 0
    }

    /// Allows or forbids leaving rows out of later factorisations.
    pub fn set_reduce(&mut self, reduce: bool) {
        self.reduce = reduce;
    }

    /// Marks the rows left out of the product for the static regularisation
    /// `delta` (see the module doc's reduced products); returns how many rows
    /// are kept: all of them unless leaving rows out pays for gathering the
    /// others.
    fn select_rows(&mut self, delta: f64) -> usize {
        let mg = self.elim.len();
        let mut smallest = f64::INFINITY;
        for ((w, &d), &r) in self.weight.iter_mut().zip(&self.d).zip(&self.row_sq) {
            *w = d * r;
            smallest = smallest.min(*w);
        }
        if smallest.is_nan() || smallest > delta {
            return mg;
        }
        let weight = &self.weight;
        self.order.sort_unstable_by(|&i, &k| weight[i].total_cmp(&weight[k]).then(i.cmp(&k)));
        let mut sum = 0.0;
        let mut n_dropped = 0;
        for &i in &self.order {
            sum += weight[i];
            if sum.is_nan() || sum > delta {
                break;
            }
            n_dropped += 1;
        }
        // Gathering costs ≈ 2n per kept row, and a row left out saves ≈ n²/8
        // (n(n+1)/2 multiply-adds, four lanes).
        if n_dropped * self.n <= 16 * (mg - n_dropped) {
            return mg;
        }
        self.order[n_dropped..].sort_unstable();
        mg - n_dropped
    }

    /// `B = D^{1/2} A_g` over the kept rows (`order[n_dropped..]`) into the
    /// first rows of `dag`.
    fn gather_kept(&mut self, n_dropped: usize) {
        let kept = &self.order[n_dropped..];
        for (s, &i) in self.weight.iter_mut().zip(kept) {
            *s = self.d[i].sqrt();
        }
        for j in 0..self.n {
            let (a, b) = (self.a_perm.col_as_slice(j), self.dag.col_as_slice_mut(j));
            for ((o, &i), &s) in b.iter_mut().zip(kept).zip(&self.weight) {
                *o = s * a[i];
            }
        }
    }

    /// `b ← K̃⁻¹ b` for `b = [r_x; r_z]` of length n + m, through the reduced
    /// system (see the module doc).
    pub fn solve_in_place(&mut self, b: &mut [f64]) {
        let n = self.n;
        let (bx, bz) = b.split_at_mut(n);
        // red = [r_x + A_gᵀ D r_g; r_k], with rg ← D r_g.
        for ((r, &i), &d) in self.rg.iter_mut().zip(&self.elim).zip(&self.d) {
            *r = d * bz[i];
        }
        self.red[..n].copy_from_slice(bx);
        for (r, &i) in self.red[n..].iter_mut().zip(&self.kept) {
            *r = bz[i];
        }
        mat_t_vec(&mut self.red[..n], &self.a_perm, &self.rg);
        solve_in_place(&self.mat, &mut self.red);
        // z_g = D(A_g x − r_g), with rg ← A_g x − r_g.
        for (r, &i) in self.rg.iter_mut().zip(&self.elim) {
            *r = -bz[i];
        }
        mat_vec(&mut self.rg, &self.a_perm, &self.red[..n]);
        bx.copy_from_slice(&self.red[..n]);
        for (&v, &i) in self.red[n..].iter().zip(&self.kept) {
            bz[i] = v;
        }
        for ((&r, &d), &i) in self.rg.iter().zip(&self.d).zip(&self.elim) {
            bz[i] = d * r;
        }
    }

    /// `e_x −= P v_x + Aᵀv_z`, `e_z −= A v_x` with the dense copies of P and A
    /// (A's rows permuted: `v_z` and `e_z` are gathered into that order and
    /// `e_z` scattered back).
    pub fn sub_pa(&mut self, vx: &[f64], vz: &[f64], ex: &mut [f64], ez: &mut [f64]) {
        for ((v, e), &i) in self.vz_perm.iter_mut().zip(self.ez_perm.iter_mut()).zip(self.elim.iter().chain(&self.kept))
        {
            *v = vz[i];
            *e = ez[i];
        }
        // `e_z −= A v_x` as `e_z += A (−v_x)`: `a·(−x) = −(a·x)` and
        // `e + (−t) = e − t` exactly, so the same bits.
        for (o, &v) in self.neg_vx.iter_mut().zip(vx) {
            *o = -v;
        }
        let (p, a, vz, ez_perm, neg_vx) = (&self.p_full, &self.a_perm, &self.vz_perm, &mut self.ez_perm, &self.neg_vx);
        vectorised(
            #[inline(always)]
            || {
                // Aᵀv_z and A v_x in one pass over A's columns, four at a time
                // (memory-bound at the sizes where it matters).
                for (j0, (e4, x4)) in ex.chunks_mut(COLUMNS).zip(neg_vx.chunks(COLUMNS)).enumerate() {
                    let j0 = j0 * COLUMNS;
                    for (k, e) in e4.iter_mut().enumerate() {
                        *e -= dot(p.col_as_slice(j0 + k), vx);
                        *e -= dot(a.col_as_slice(j0 + k), vz);
                    }
                    add_columns(ez_perm, a, 0, j0, x4);
                }
            },
        );
        for (&e, &i) in self.ez_perm.iter().zip(self.elim.iter().chain(&self.kept)) {
            ez[i] = e;
        }
    }
}

/// `y ← y + M[..len(y), :] x` (the first rows of M), [`COLUMNS`] columns per
/// pass over y, vectorised (at n = 10 faer's matrix–vector product costs more
/// in setup than the product itself).
fn mat_vec(y: &mut [f64], m: &Mat<f64>, x: &[f64]) {
    vectorised(
        #[inline(always)]
        || {
            for (j0, x4) in x.chunks(COLUMNS).enumerate() {
                add_columns(y, m, 0, j0 * COLUMNS, x4);
            }
        },
    );
}

/// `y ← y + M[..len(x), :]ᵀ x`: one dot product per column (of its first rows).
fn mat_t_vec(y: &mut [f64], m: &Mat<f64>, x: &[f64]) {
    let rows = x.len();
    vectorised(
        #[inline(always)]
        || {
            for (j, yj) in y.iter_mut().enumerate() {
                *yj += dot(&m.col_as_slice(j)[..rows], x);
            }
        },
    );
}

impl std::fmt::Debug for CondensedLdl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CondensedLdl")
            .field("n", &self.n)
            .field("kept", &self.kept.len())
            .field("eliminated", &self.elim.len())
            .finish_non_exhaustive()
    }
}
