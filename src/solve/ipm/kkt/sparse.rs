//! Sparse path: the upper triangle of the regularised KKT matrix in CSC form,
//! factored by faer's sparse LDLᵀ (AMD ordering; the symbolic factorisation
//! once, the numeric one per iteration, with dynamic regularisation of
//! wrong-signed pivots as in QDLDL/Clarabel; the matrix scattered into the
//! AMD order by positions found once), solved by this module's own
//! triangular solves on faer's factor (`SparseLdl::solve_in_place`).
//!
//! Column order: x (n), z (m), then two columns per low-rank second-order
//! cone. For such a cone `H = η²(D + uuᵀ − vvᵀ)`, and the block
//!
//! ```text
//! [ −η²D   −η²v   −η²u ]
//! [ −η²vᵀ  −η²     0   ]
//! [ −η²uᵀ   0     +η²  ]
//! ```
//!
//! has Schur complement `−η²D − η²uuᵀ + η²vvᵀ = −H` on the z rows, so the
//! matrix stays sparse however large the cone (pivot signs: z and the v
//! column negative, x and the u column positive).

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::ldlt::factor::LdltRegularization;
use faer::perm::PermRef;
use faer::sparse::linalg::cholesky::simplicial;
use faer::sparse::linalg::cholesky::supernodal::{self, SymbolicSupernodalCholesky};
use faer::sparse::linalg::cholesky::{
    factorize_symbolic_cholesky, CholeskySymbolicParams, SymbolicCholesky, SymbolicCholeskyRaw, SymmetricOrdering,
};
use faer::sparse::utils::{permute_self_adjoint_scratch, permute_self_adjoint_to_unsorted};
use faer::sparse::{SparseColMatRef, SymbolicSparseColMat};
use faer::{Par, Side};

use super::super::data::ProblemData;
use super::super::settings::Settings;
use crate::solve::cones::{Cone, Cones, HsShape};

/// Where one cone's `H` lives in the values array.
#[derive(Debug)]
enum ConeMap {
    /// On the diagonal entries of its rows.
    Diagonal,
    /// The upper triangle of the block, column by column.
    Dense(Vec<usize>),
    /// The v and u columns and their diagonal entries.
    LowRank { v: Vec<usize>, u: Vec<usize>, dv: usize, du: usize },
}

pub(crate) struct SparseLdl {
    n: usize,
    /// The pattern in the fill-reducing order, in the triangle the factor
    /// reads, and where each entry of the unpermuted pattern lands in it.
    pattern: SymbolicSparseColMat<usize>,
    position: Vec<usize>,
    symbolic: SymbolicCholesky<usize>,
    /// P and A values, zeros elsewhere; where each entry of P and A goes.
    base: Vec<f64>,
    p_pos: Vec<usize>,
    a_pos: Vec<usize>,
    values: Vec<f64>,
    /// `values` in the fill-reducing order (see [`SparseLdl::refactor`]).
    permuted_values: Vec<f64>,
    l_values: Vec<f64>,
    /// The pivots' signs, in the fill-reducing order.
    signs: Vec<i8>,
    /// Position of each diagonal entry.
    diag: Vec<usize>,
    maps: Vec<ConeMap>,
    mem: MemBuffer,
    /// `H` of one block.
    block: Vec<f64>,
    /// A right-hand side in the fill-reducing order (see [`SparseLdl::solve_in_place`]).
    permuted: Vec<f64>,
    /// Largest |entry| of the last matrix factored.
    max_abs: f64,
}

/// Builds a CSC column by column, rows in increasing order.
struct Builder {
    col_ptr: Vec<usize>,
    row_idx: Vec<usize>,
    values: Vec<f64>,
}

impl Builder {
    fn push(&mut self, row: usize, v: f64) -> usize {
        self.row_idx.push(row);
        self.values.push(v);
        self.row_idx.len() - 1
    }
    fn end_col(&mut self) {
        self.col_ptr.push(self.row_idx.len());
    }
}

impl SparseLdl {
    pub fn new(data: &ProblemData, cones: &Cones) -> Option<Self> {
        let (n, m) = (data.n, data.m);
        let n_low_rank = cones.iter().filter(|(c, _)| c.hs_shape() == HsShape::LowRank).count();
        let dim = n + m + 2 * n_low_rank;
        let (row_ptr, by_row) = data.a.row_slots();
        let (mut p_pos, mut a_pos) = (vec![0; data.p.nnz()], vec![0; data.a.nnz()]);
        let mut b = Builder { col_ptr: vec![0], row_idx: Vec::new(), values: Vec::new() };
        let mut diag = vec![0; dim];
        let mut signs = vec![1i8; dim];
        for j in 0..n {
            let mut has_diag = false;
            for s in data.p.col_ptr[j]..data.p.col_ptr[j + 1] {
                let i = data.p.row_idx[s];
                let k = b.push(i, 0.0);
                p_pos[s] = k;
                if i == j {
                    diag[j] = k;
                    has_diag = true;
                }
            }
            if !has_diag {
                diag[j] = b.push(j, 0.0);
            }
            b.end_col();
        }
        let mut maps = Vec::new();
        for (c, r) in cones.iter() {
            let shape = c.hs_shape();
            let mut dense = Vec::new();
            for i in r.clone() {
                for &(j, s) in &by_row[row_ptr[i]..row_ptr[i + 1]] {
                    a_pos[s] = b.push(j, 0.0);
                }
                if shape == HsShape::Dense {
                    for k in r.start..=i {
                        dense.push(b.push(n + k, 0.0));
                    }
                    diag[n + i] = *dense.last().expect("the block has a diagonal");
                } else {
                    diag[n + i] = b.push(n + i, 0.0);
                }
                signs[n + i] = -1;
                b.end_col();
            }
            maps.push(match shape {
                HsShape::Diagonal => ConeMap::Diagonal,
                HsShape::Dense => ConeMap::Dense(dense),
                HsShape::LowRank => ConeMap::LowRank { v: Vec::new(), u: Vec::new(), dv: 0, du: 0 },
            });
        }
        let mut col = n + m;
        for ((_, r), map) in cones.iter().zip(&mut maps) {
            if let ConeMap::LowRank { v, u, dv, du } = map {
                for (list, d, sign) in [(v, dv, -1), (u, du, 1)] {
                    for i in r.clone() {
                        list.push(b.push(n + i, 0.0));
                    }
                    *d = b.push(col, 0.0);
                    diag[col] = *d;
                    signs[col] = sign;
                    b.end_col();
                    col += 1;
                }
            }
        }
        let pattern = SymbolicSparseColMat::new_checked(dim, dim, b.col_ptr, None, b.row_idx);
        let symbolic = factorize_symbolic_cholesky(
            pattern.as_ref(),
            Side::Upper,
            SymmetricOrdering::Amd,
            CholeskySymbolicParams::default(),
        )
        .ok()?;
        let (pattern, position, signs) = permuted(&pattern, &symbolic, &signs)?;
        let par = Par::Seq;
        let req = symbolic.factorize_numeric_ldlt_scratch::<f64>(par, Default::default());
        let block_len = cones
            .iter()
            .map(|(c, _)| if c.hs_shape() == HsShape::Dense { c.dim() * c.dim() } else { c.dim() })
            .max()
            .unwrap_or(0);
        let mut f = SparseLdl {
            n,
            l_values: vec![0.0; symbolic.len_val()],
            symbolic,
            permuted_values: vec![0.0; position.len()],
            pattern,
            position,
            values: vec![0.0; b.values.len()],
            base: b.values,
            p_pos,
            a_pos,
            signs,
            diag,
            maps,
            mem: MemBuffer::try_new(req).ok()?,
            block: vec![0.0; block_len],
            permuted: vec![0.0; dim],
            max_abs: 0.0,
        };
        f.load(data);
        Some(f)
    }

    /// Copies P and A (new values in the same pattern) into place.
    pub fn load(&mut self, data: &ProblemData) {
        for (&k, &v) in self.p_pos.iter().zip(&data.p.val) {
            self.base[k] = v;
        }
        for (&k, &v) in self.a_pos.iter().zip(&data.a.val) {
            self.base[k] = v;
        }
    }

    pub fn dim(&self) -> usize {
        self.diag.len()
    }

    pub fn refactor(&mut self, cones: &Cones, delta: f64, settings: &Settings) -> bool {
        let n = self.n;
        let vals = &mut self.values;
        vals.copy_from_slice(&self.base);
        for &k in &self.diag[..n] {
            vals[k] += delta;
        }
        for ((c, r), map) in cones.iter().zip(&self.maps) {
            let d = c.dim();
            match map {
                ConeMap::Diagonal | ConeMap::LowRank { .. } => {
                    let h = &mut self.block[..d];
                    c.hs_diag(h);
                    for (i, &hi) in h.iter().enumerate() {
                        vals[self.diag[n + r.start + i]] = -hi - delta;
                    }
                }
                ConeMap::Dense(pos) => {
                    let h = &mut self.block[..d * d];
                    c.hs_dense(h);
                    let mut k = 0;
                    for j in 0..d {
                        for i in 0..=j {
                            vals[pos[k]] = -h[j * d + i];
                            k += 1;
                        }
                        vals[self.diag[n + r.start + j]] -= delta;
                    }
                }
            }
            if let (ConeMap::LowRank { v, u, dv, du }, Some((uu, vv, e2))) = (map, c.hs_low_rank()) {
                for i in 0..d {
                    vals[v[i]] = -e2 * vv[i];
                    vals[u[i]] = -e2 * uu[i];
                }
                vals[*dv] = -e2 - delta;
                vals[*du] = e2 + delta;
            }
        }
        self.max_abs = self.values.iter().fold(0.0, |m, v| m.max(v.abs()));
        // Scattered into the fill-reducing order here, by positions found
        // once: faer's `factorize_numeric_ldlt` permutes the whole matrix on
        // every call (0.56M instructions per factorisation at n = 50).
        for (&k, &v) in self.position.iter().zip(&self.values) {
            self.permuted_values[k] = v;
        }
        let reg = LdltRegularization {
            dynamic_regularization_signs: Some(&self.signs),
            dynamic_regularization_delta: settings.dynamic_reg_delta,
            dynamic_regularization_epsilon: settings.dynamic_reg_eps,
        };
        let a = SparseColMatRef::new(self.pattern.as_ref(), &self.permuted_values);
        let (l, stack) = (&mut self.l_values, MemStack::new(&mut self.mem));
        match self.symbolic.raw() {
            SymbolicCholeskyRaw::Simplicial(s) => {
                simplicial::factorize_simplicial_numeric_ldlt(l, a, reg, s, stack).is_ok()
            }
            SymbolicCholeskyRaw::Supernodal(s) => {
                supernodal::factorize_supernodal_numeric_ldlt(l, a, reg, s, Par::Seq, stack, Default::default()).is_ok()
            }
        }
    }

    pub fn max_abs(&self) -> f64 {
        self.max_abs
    }

    /// Solves `K̃ x = b` in place: `b` permuted to the AMD order, the factor's
    /// own solve, and back. faer's `LdltRef` does the same through a generic
    /// column view element by element, which was a quarter of every solve's
    /// instructions (callgrind, logistic regression n = 50: 35M of 124M).
    pub fn solve_in_place(&mut self, b: &mut [f64]) {
        let x = match self.symbolic.perm() {
            Some(perm) => {
                let fwd = perm.arrays().0;
                for (x, &p) in self.permuted.iter_mut().zip(fwd) {
                    *x = b[p];
                }
                &mut self.permuted[..]
            }
            None => &mut *b,
        };
        match self.symbolic.raw() {
            SymbolicCholeskyRaw::Simplicial(s) => {
                let l = s.factor();
                simplicial_ldlt_solve(l.col_ptr(), l.row_idx(), &self.l_values, x);
            }
            SymbolicCholeskyRaw::Supernodal(s) => supernodal_ldlt_solve(s, &self.l_values, x),
        }
        if let Some(perm) = self.symbolic.perm() {
            for (&x, &p) in self.permuted.iter().zip(perm.arrays().0) {
                b[p] = x;
            }
        }
    }
}

/// The upper-triangle `pattern` permuted as `symbolic` orders it, into the
/// triangle its numeric factorisation reads (upper for the simplicial one,
/// lower for the supernodal), as faer's `factorize_numeric_ldlt` would on each
/// call: the permutation applied once to the entries' own indices gives the
/// permuted pattern and where each entry lands; `signs` permuted alike.
/// `None` if the scratch cannot be allocated.
fn permuted(
    pattern: &SymbolicSparseColMat<usize>,
    symbolic: &SymbolicCholesky<usize>,
    signs: &[i8],
) -> Option<(SymbolicSparseColMat<usize>, Vec<usize>, Vec<i8>)> {
    let (dim, nnz) = (pattern.nrows(), pattern.row_idx().len());
    let identity: Vec<usize> = (0..dim).collect();
    let (fwd, inv) = symbolic.perm().map_or((&identity[..], &identity[..]), |p| p.arrays());
    let out_side = match symbolic.raw() {
        SymbolicCholeskyRaw::Simplicial(_) => Side::Upper,
        SymbolicCholeskyRaw::Supernodal(_) => Side::Lower,
    };
    // Indices below 2⁵³ are exact as f64.
    let marks: Vec<f64> = (0..nnz).map(|k| k as f64).collect();
    let (mut landed, mut col_ptr, mut row_idx) = (vec![0.0; nnz], vec![0; dim + 1], vec![0; nnz]);
    let mut mem = MemBuffer::try_new(permute_self_adjoint_scratch::<usize>(dim)).ok()?;
    permute_self_adjoint_to_unsorted(
        &mut landed,
        &mut col_ptr,
        &mut row_idx,
        SparseColMatRef::new(pattern.as_ref(), &marks),
        PermRef::new_checked(fwd, inv, dim),
        Side::Upper,
        out_side,
        MemStack::new(&mut mem),
    );
    let mut position = vec![0; nnz];
    for (j, &k) in landed.iter().enumerate() {
        position[k as usize] = j;
    }
    let signs = fwd.iter().map(|&p| signs[p]).collect();
    Some((SymbolicSparseColMat::new_unsorted_checked(dim, dim, col_ptr, None, row_idx), position, signs))
}

/// `x ← (LDLᵀ)⁻¹x` for faer's simplicial factor: L by columns (`col_ptr`,
/// `row_idx`, `l`), each column's first entry its diagonal, holding `D`, the
/// rest unit-lower. The operations of faer's own simplicial solve in its
/// order (so the results are the same bit for bit), without its generic
/// column views: per solve 0.68M instructions in faer, 2.3× QDLDL's on the
/// same KKT matrices (logistic regression n = 50, callgrind).
fn simplicial_ldlt_solve(col_ptr: &[usize], row_idx: &[usize], l: &[f64], x: &mut [f64]) {
    for j in 0..x.len() {
        let xj = x[j];
        for p in col_ptr[j] + 1..col_ptr[j + 1] {
            x[row_idx[p]] -= l[p] * xj;
        }
    }
    for j in (0..x.len()).rev() {
        let mut acc = 0.0;
        for p in (col_ptr[j] + 1..col_ptr[j + 1]).rev() {
            acc += l[p] * x[row_idx[p]];
        }
        x[j] = x[j] * l[col_ptr[j]].recip() - acc;
    }
}

/// `x ← (LDLᵀ)⁻¹x` for faer's supernodal factor: supernode `s` holds columns
/// `b..e` of L (`w = e − b`) as one dense column-major block of `h` rows, the
/// `w × w` unit-lower diagonal block (D on its diagonal) over the rows of its
/// pattern. Column by column instead of faer's dense triangular solve and
/// product per supernode, which for one right-hand side went through generic
/// matrix views: 44% of the IPM's instructions at n = 100 (logistic
/// regression, callgrind), more than the factorisations.
fn supernodal_ldlt_solve(sym: &SymbolicSupernodalCholesky<usize>, l: &[f64], x: &mut [f64]) {
    let (begin, end) = (sym.supernode_begin(), sym.supernode_end());
    let (rows_at, vals_at, rows) = (sym.col_ptr_for_row_idx(), sym.col_ptr_for_val(), sym.row_idx());
    // Supernode s: its first column, width, block, block height and pattern.
    let node = |s: usize| {
        let (b, w) = (begin[s], end[s] - begin[s]);
        let block = &l[vals_at[s]..vals_at[s + 1]];
        let h = block.len() / w;
        (b, w, block, h, &rows[rows_at[s]..][..h - w])
    };
    let n = sym.n_supernodes();
    for s in 0..n {
        let (b, w, block, h, pattern) = node(s);
        for j in 0..w {
            let (col, xj) = (&block[j * h..(j + 1) * h], x[b + j]);
            for i in j + 1..w {
                x[b + i] -= col[i] * xj;
            }
            for (&r, &v) in pattern.iter().zip(&col[w..]) {
                x[r] -= v * xj;
            }
        }
    }
    for s in 0..n {
        let (b, w, block, h, _) = node(s);
        for j in 0..w {
            x[b + j] *= block[j * h + j].recip();
        }
    }
    for s in (0..n).rev() {
        let (b, w, block, h, pattern) = node(s);
        for j in (0..w).rev() {
            let col = &block[j * h..(j + 1) * h];
            let mut acc = 0.0;
            for (&r, &v) in pattern.iter().zip(&col[w..]) {
                acc += v * x[r];
            }
            for i in j + 1..w {
                acc += col[i] * x[b + i];
            }
            x[b + j] -= acc;
        }
    }
}

impl std::fmt::Debug for SparseLdl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparseLdl")
            .field("dim", &self.dim())
            .field("nnz", &self.values.len())
            .field("nnz_l", &self.l_values.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::dyn_stack::StackReq;
    use faer::sparse::linalg::cholesky::LdltRef;
    use faer::sparse::linalg::SupernodalThreshold;
    use faer::{Conj, MatMut};

    /// Both hand-written solves against faer's own `LdltRef` solve, and the
    /// factorisation from the once-permuted pattern against faer's
    /// `factorize_numeric_ldlt`, on one quasi-definite matrix factored
    /// simplicially and supernodally: a dense positive 16 × 16 block coupled
    /// to a negative diagonal block of 40 rows.
    #[test]
    fn own_solves_match_faers() {
        let (nx, dim) = (16, 56);
        let (mut col_ptr, mut row_idx, mut vals) = (vec![0], Vec::new(), Vec::new());
        for j in 0..dim {
            for i in 0..=j {
                let v = match (i < nx, j < nx) {
                    _ if i == j && j < nx => 20.0,
                    _ if i == j => -1.0 - (j % 3) as f64,
                    (true, true) => ((i * 7 + j * 3) % 5) as f64 * 0.1,
                    (true, false) if (i + j) % 3 != 0 => ((i + 2 * j) % 7) as f64 * 0.2 - 0.6,
                    _ => continue,
                };
                row_idx.push(i);
                vals.push(v);
            }
            col_ptr.push(row_idx.len());
        }
        let pattern = SymbolicSparseColMat::new_checked(dim, dim, col_ptr, None, row_idx);
        let signs: Vec<i8> = (0..dim).map(|j| if j < nx { 1 } else { -1 }).collect();
        let b: Vec<f64> = (0..dim).map(|i| (i as f64 * 0.37).sin()).collect();
        for (threshold, supernodal) in
            [(SupernodalThreshold::FORCE_SIMPLICIAL, false), (SupernodalThreshold::FORCE_SUPERNODAL, true)]
        {
            let params = CholeskySymbolicParams { supernodal_flop_ratio_threshold: threshold, ..Default::default() };
            let symbolic =
                factorize_symbolic_cholesky(pattern.as_ref(), Side::Upper, SymmetricOrdering::Amd, params).unwrap();
            let mut l_values = vec![0.0; symbolic.len_val()];
            let mut mem = MemBuffer::new(StackReq::any_of(&[
                symbolic.factorize_numeric_ldlt_scratch::<f64>(Par::Seq, Default::default()),
                symbolic.solve_in_place_scratch::<f64>(1, Par::Seq),
            ]));
            let reg = LdltRegularization {
                dynamic_regularization_signs: Some(&signs),
                dynamic_regularization_delta: 2e-7,
                dynamic_regularization_epsilon: 1e-13,
            };
            let a = SparseColMatRef::new(pattern.as_ref(), &vals);
            let stack = MemStack::new(&mut mem);
            symbolic
                .factorize_numeric_ldlt(&mut l_values, a, Side::Upper, reg, Par::Seq, stack, Default::default())
                .unwrap();
            // `refactor`'s way: the pattern permuted once (`permuted`), the
            // values scattered by `position`, the factor's own numeric
            // factorisation: faer's factor, bit for bit.
            let (p_pattern, position, p_signs) = permuted(&pattern, &symbolic, &signs).unwrap();
            let mut p_vals = vec![0.0; vals.len()];
            for (&k, &v) in position.iter().zip(&vals) {
                p_vals[k] = v;
            }
            let p_reg = LdltRegularization { dynamic_regularization_signs: Some(&p_signs), ..reg };
            let mut own = vec![0.0; symbolic.len_val()];
            let (pa, stack) = (SparseColMatRef::new(p_pattern.as_ref(), &p_vals), MemStack::new(&mut mem));
            let ok = match symbolic.raw() {
                SymbolicCholeskyRaw::Simplicial(s) => {
                    simplicial::factorize_simplicial_numeric_ldlt(&mut own, pa, p_reg, s, stack).is_ok()
                }
                SymbolicCholeskyRaw::Supernodal(s) => supernodal::factorize_supernodal_numeric_ldlt(
                    &mut own,
                    pa,
                    p_reg,
                    s,
                    Par::Seq,
                    stack,
                    Default::default(),
                )
                .is_ok(),
            };
            assert!(
                ok && own.iter().zip(&l_values).all(|(a, b)| a.to_bits() == b.to_bits()),
                "supernodal {supernodal}"
            );
            let mut want = b.clone();
            let rhs = MatMut::from_column_major_slice_mut(&mut want, dim, 1);
            let ldlt = LdltRef::new(&symbolic, &l_values);
            ldlt.solve_in_place_with_conj(Conj::No, rhs, Par::Seq, MemStack::new(&mut mem));
            let fwd = symbolic.perm().unwrap().arrays().0;
            let mut x: Vec<f64> = fwd.iter().map(|&p| b[p]).collect();
            match symbolic.raw() {
                SymbolicCholeskyRaw::Simplicial(s) => {
                    assert!(!supernodal);
                    simplicial_ldlt_solve(s.factor().col_ptr(), s.factor().row_idx(), &l_values, &mut x);
                }
                SymbolicCholeskyRaw::Supernodal(s) => {
                    assert!(supernodal && s.n_supernodes() < dim, "supernodes of one column only");
                    supernodal_ldlt_solve(s, &l_values, &mut x);
                }
            }
            for (&v, &p) in x.iter().zip(fwd) {
                let w = want[p];
                // Simplicial: faer's operations in faer's order; supernodal: rounding.
                let tol = if supernodal { 1e-13 * (1.0 + w.abs()) } else { 0.0 };
                assert!((v - w).abs() <= tol, "supernodal {supernodal}, row {p}: {v} against {w}");
            }
        }
    }
}
