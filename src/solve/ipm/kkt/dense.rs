//! Dense path: the regularised KKT matrix
//! `[P + δI, Aᵀ; A, −(H + δI)]` of order n + m, its lower triangle factored
//! by faer's dense `LDLᵀ` without pivoting, with dynamic regularisation of
//! pivots of the wrong sign (x pivots positive, z pivots negative) — the
//! numerics of the sparse path and of QDLDL. A quasi-definite matrix has an
//! `LDLᵀ` for every ordering, and the unpivoted elimination keeps errors local
//! to each row's own scale. Bunch–Kaufman (`lblt`) was tried first and is
//! only normwise stable: late in a solve, with `H` spanning 1e-10 to 1e16, its
//! errors swamped the rows of ordinary size (a lasso QP stalled). Every
//! second-order cone enters as its dense `d × d` block of `H`.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::ldlt;
use faer::linalg::cholesky::ldlt::factor::LdltRegularization;
use faer::{Mat, MatMut, Par};

use super::super::data::ProblemData;
use super::super::settings::Settings;
use crate::linalg::{dot, vectorised};
use crate::solve::cones::{Cone, Cones, HsShape};

pub(crate) struct DenseLdl {
    n: usize,
    /// P and A in the lower triangle, the rest zero.
    base: Mat<f64>,
    /// The factors: `L` strictly below the diagonal, `D` on it.
    mat: Mat<f64>,
    /// Expected pivot signs: +1 for x, −1 for z.
    signs: Vec<i8>,
    dynamic_reg: (f64, f64),
    mem: MemBuffer,
    /// `H` of one block, column-major.
    block: Vec<f64>,
    /// Largest |entry| of the last matrix factored.
    max_abs: f64,
}

impl DenseLdl {
    pub fn new(data: &ProblemData, cones: &Cones, settings: &Settings) -> Self {
        let dynamic_reg = (settings.dynamic_reg_eps, settings.dynamic_reg_delta);
        let (n, m) = (data.n, data.m);
        let dim = n + m;
        // Scratch for one block's H: d entries for a diagonal block, d² for a
        // dense one.
        let block_len = cones
            .iter()
            .map(|(c, _)| if c.hs_shape() == HsShape::Diagonal { c.dim() } else { c.dim() * c.dim() })
            .max()
            .unwrap_or(0);
        let mut f = DenseLdl {
            n,
            mat: Mat::zeros(dim, dim),
            base: Mat::zeros(dim, dim),
            signs: (0..dim).map(|i| if i < n { 1 } else { -1 }).collect(),
            dynamic_reg,
            mem: ldlt_scratch(dim),
            block: vec![0.0; block_len],
            max_abs: 0.0,
        };
        f.load(data);
        f
    }

    /// Copies P and A (new values in the same pattern) into place.
    pub fn load(&mut self, data: &ProblemData) {
        let n = self.n;
        self.base.fill(0.0);
        for j in 0..n {
            for (i, v) in data.p.col(j) {
                self.base[(j, i)] += v;
            }
            for (i, v) in data.a.col(j) {
                self.base[(n + i, j)] += v;
            }
        }
    }

    pub fn dim(&self) -> usize {
        self.base.nrows()
    }

    pub fn refactor(&mut self, cones: &Cones, delta: f64) -> bool {
        let n = self.n;
        self.mat.copy_from(&self.base);
        for j in 0..n {
            self.mat[(j, j)] += delta;
        }
        for (c, r) in cones.iter() {
            let (d, k) = (c.dim(), n + r.start);
            if c.hs_shape() == HsShape::Diagonal {
                let h = &mut self.block[..d];
                c.hs_diag(h);
                for (i, &hi) in h.iter().enumerate() {
                    self.mat[(k + i, k + i)] = -hi - delta;
                }
                continue;
            }
            let h = &mut self.block[..d * d];
            c.hs_dense(h);
            for j in 0..d {
                for i in j..d {
                    self.mat[(k + i, k + j)] = -h[j * d + i];
                }
                self.mat[(k + j, k + j)] -= delta;
            }
        }
        self.max_abs = self.mat.col_iter().flat_map(|c| c.iter().copied()).fold(0.0, |m, v: f64| m.max(v.abs()));
        factor_in_place(self.mat.as_mut(), &self.signs, self.dynamic_reg, &mut self.mem)
    }

    pub fn max_abs(&self) -> f64 {
        self.max_abs
    }

    pub fn solve_in_place(&mut self, b: &mut [f64]) {
        solve_in_place(&self.mat, b);
    }
}

/// faer's scratch for [`factor_in_place`] at order `dim`.
pub(super) fn ldlt_scratch(dim: usize) -> MemBuffer {
    MemBuffer::new(ldlt::factor::cholesky_in_place_scratch::<f64>(dim, Par::Seq, Default::default()))
}

/// `LDLᵀ` of the quasi-definite matrix in `mat`'s lower triangle, in place and
/// unpivoted, a pivot whose sign differs from `signs` (+1 for x, −1 for z)
/// replaced by dynamic regularisation `(ε, δ)`; false if faer refuses or a
/// pivot is not finite. Shared by the full ([`DenseLdl`]) and the condensed
/// KKT paths.
pub(super) fn factor_in_place(
    mut mat: MatMut<'_, f64>,
    signs: &[i8],
    dynamic_reg: (f64, f64),
    mem: &mut MemBuffer,
) -> bool {
    let reg = LdltRegularization {
        dynamic_regularization_signs: Some(signs),
        dynamic_regularization_epsilon: dynamic_reg.0,
        dynamic_regularization_delta: dynamic_reg.1,
    };
    let ok =
        ldlt::factor::cholesky_in_place(mat.as_mut(), reg, Par::Seq, MemStack::new(mem), Default::default()).is_ok();
    ok && (0..mat.nrows()).all(|i| mat[(i, i)].is_finite())
}

/// `b ← (LDLᵀ)⁻¹ b` with the factors [`factor_in_place`] left in `mat`: `L y = b`
/// by columns (each solved `y_j` times its column taken off the rows below,
/// [`COLUMNS`] columns per pass over them), `y ← D⁻¹ y`, then `Lᵀ x = y` by
/// rows of `Lᵀ` (`x_j = y_j − L[j+1.., j]·x[j+1..]`, one dot product over a
/// contiguous column). Written out rather than faer's `ldlt::solve`: for one
/// right-hand side faer recurses into blocks of a few rows, each a matrix
/// product call, and on the condensed n = 200 QP's order-240 factor that cost
/// 166k instructions a solve against 57.6k multiply–adds (session 13).
pub(super) fn solve_in_place(mat: &Mat<f64>, b: &mut [f64]) {
    let dim = mat.nrows();
    vectorised(
        #[inline(always)]
        || {
            let mut j0 = 0;
            while j0 < dim {
                let w = COLUMNS.min(dim - j0);
                // The unit lower triangle of this block of columns, then the
                // rows below it.
                for k in 0..w {
                    let (col, yk) = (mat.col_as_slice(j0 + k), b[j0 + k]);
                    for i in k + 1..w {
                        b[j0 + i] -= col[j0 + i] * yk;
                    }
                }
                // `y −= l·y_k` as `y += l·(−y_k)`: the same bits.
                let mut neg = [0.0; COLUMNS];
                for (o, &y) in neg.iter_mut().zip(&b[j0..j0 + w]) {
                    *o = -y;
                }
                add_columns(&mut b[j0 + w..], mat, j0 + w, j0, &neg[..w]);
                j0 += w;
            }
            for (i, v) in b.iter_mut().enumerate() {
                *v /= mat[(i, i)];
            }
            for j in (0..dim).rev() {
                let (head, below) = b.split_at_mut(j + 1);
                head[j] -= dot(&mat.col_as_slice(j)[j + 1..], below);
            }
        },
    );
}

/// Columns per pass of [`add_columns`].
pub(super) const COLUMNS: usize = 4;

/// `y ← y + M[row0..row0 + len(y), j0..j0 + len(x)] x` for up to [`COLUMNS`]
/// columns in one pass over y: each `yᵢ` gains its terms `m_ij x_j` one after
/// the other in the order of j, as in the column-by-column loop (the same
/// bits), with one load and store of y per pass instead of per column.
#[inline(always)]
pub(super) fn add_columns(y: &mut [f64], m: &Mat<f64>, row0: usize, j0: usize, x: &[f64]) {
    let rows = y.len();
    let col = |k: usize| &m.col_as_slice(j0 + k)[row0..row0 + rows];
    if let &[x0, x1, x2, x3] = x {
        let (c0, c1, c2, c3) = (col(0), col(1), col(2), col(3));
        for ((((yi, a0), a1), a2), a3) in y.iter_mut().zip(c0).zip(c1).zip(c2).zip(c3) {
            *yi = *yi + a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3;
        }
    } else {
        for (k, &xk) in x.iter().enumerate() {
            for (yi, a) in y.iter_mut().zip(col(k)) {
                *yi += a * xk;
            }
        }
    }
}

impl std::fmt::Debug for DenseLdl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DenseLdl").field("dim", &self.dim()).finish_non_exhaustive()
    }
}
