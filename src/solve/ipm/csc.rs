//! Compressed sparse column storage for P and A, with the products the solver
//! needs. Built once per solve from the triplets of a [`Triplets`].

use crate::linalg::vectorised;
use crate::solve::program::Triplets;

/// A sparse matrix in CSC form; row indices sorted within each column, no
/// duplicates.
#[derive(Clone, Debug, Default)]
pub(crate) struct Csc {
    pub nrows: usize,
    pub ncols: usize,
    pub col_ptr: Vec<usize>,
    pub row_idx: Vec<usize>,
    pub val: Vec<f64>,
}

impl Csc {
    /// From triplets, duplicates summed, explicit zeros kept (they fix the
    /// sparsity pattern, which later data updates may fill); also the slot of
    /// each triplet in `val`, for [`Csc::refill`].
    pub fn from_triplets(t: &Triplets) -> (Self, Vec<usize>) {
        let mut order: Vec<usize> = (0..t.entries.len()).collect();
        order.sort_unstable_by_key(|&k| (t.entries[k].1, t.entries[k].0));
        let mut m = Csc { nrows: t.nrows, ncols: t.ncols, col_ptr: vec![0; t.ncols + 1], ..Default::default() };
        let mut slot = vec![0; t.entries.len()];
        let mut last: Option<(usize, usize)> = None;
        for k in order {
            let (i, j, v) = t.entries[k];
            if last == Some((i, j)) {
                *m.val.last_mut().expect("an entry was pushed") += v;
            } else {
                m.row_idx.push(i);
                m.val.push(v);
                m.col_ptr[j + 1] += 1;
                last = Some((i, j));
            }
            slot[k] = m.val.len() - 1;
        }
        for j in 0..t.ncols {
            m.col_ptr[j + 1] += m.col_ptr[j];
        }
        (m, slot)
    }

    /// New values from triplets with the pattern `slot` was made from
    /// ([`Csc::from_triplets`]: the same entries in the same order, values
    /// free); `Err` naming the first entry that differs.
    pub fn refill(&mut self, t: &Triplets, slot: &[usize], what: &str) -> Result<(), String> {
        if (t.nrows, t.ncols) != (self.nrows, self.ncols) || t.entries.len() != slot.len() {
            return Err(format!(
                "{what} is {}×{} with {} entries, the workspace was built for {}×{} with {}",
                t.nrows,
                t.ncols,
                t.entries.len(),
                self.nrows,
                self.ncols,
                slot.len()
            ));
        }
        // Local slices: a store through `self.val` could otherwise alias the
        // vectors' headers, which were reloaded for every entry (32 → 25
        // instructions an entry, session 13).
        let (rows, ptr, val) = (&self.row_idx[..], &self.col_ptr[..], &mut self.val[..]);
        // Without duplicates every slot is written once: `0 + v` is what
        // zeroing and then adding gave (−0 becomes +0), without the zeroing pass.
        let unique = val.len() == slot.len();
        if !unique {
            val.fill(0.0);
        }
        for (k, (&(i, j, v), &p)) in t.entries.iter().zip(slot).enumerate() {
            let placed = rows.get(p) == Some(&i) && j < self.ncols && ptr[j] <= p && p < ptr[j + 1];
            if !placed {
                return Err(format!("{what} entry {k} is ({i}, {j}), not where the workspace's pattern has it"));
            }
            if unique {
                val[p] = 0.0 + v;
            } else {
                val[p] += v;
            }
        }
        Ok(())
    }

    pub fn nnz(&self) -> usize {
        self.val.len()
    }

    /// The entries of column `j` as `(row, value)`.
    pub fn col(&self, j: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let (rows, vals) = self.col_slices(j);
        rows.iter().copied().zip(vals.iter().copied())
    }

    /// Column `j`'s row indices and values.
    pub fn col_slices(&self, j: usize) -> (&[usize], &[f64]) {
        let r = self.col_ptr[j]..self.col_ptr[j + 1];
        (&self.row_idx[r.clone()], &self.val[r])
    }

    /// `y ← y + α M x` (vectorised: see [`vectorised`]; the sums' order is the
    /// source's).
    pub fn mul_add(&self, y: &mut [f64], x: &[f64], alpha: f64) {
        vectorised(
            #[inline(always)]
            || {
                for j in 0..self.ncols {
                    let xj = alpha * x[j];
                    if xj == 0.0 {
                        continue;
                    }
                    let (rows, vals) = self.col_slices(j);
                    if is_leading(rows) {
                        for (yi, v) in y[..vals.len()].iter_mut().zip(vals) {
                            *yi += v * xj;
                        }
                    } else {
                        for (&i, v) in rows.iter().zip(vals) {
                            y[i] += v * xj;
                        }
                    }
                }
            },
        );
    }

    /// `y ← y + α Mᵀ x`.
    pub fn t_mul_add(&self, y: &mut [f64], x: &[f64], alpha: f64) {
        vectorised(
            #[inline(always)]
            || {
                for (j, yj) in y.iter_mut().enumerate().take(self.ncols) {
                    let (rows, vals) = self.col_slices(j);
                    let s = if is_leading(rows) {
                        dot4(vals, &x[..vals.len()])
                    } else {
                        rows.iter().zip(vals).map(|(&i, v)| v * x[i]).sum()
                    };
                    *yj += alpha * s;
                }
            },
        );
    }

    /// `y ← y + α M x` for symmetric `M` stored as its upper triangle.
    pub fn sym_mul_add(&self, y: &mut [f64], x: &[f64], alpha: f64) {
        vectorised(
            #[inline(always)]
            || {
                for j in 0..self.ncols {
                    let xj = alpha * x[j];
                    let (rows, vals) = self.col_slices(j);
                    if let (true, Some((&d, off))) = (rows.last() == Some(&j) && is_leading(rows), vals.split_last()) {
                        // Column j of a dense upper triangle: rows 0..j, then the diagonal.
                        for (yi, v) in y[..j].iter_mut().zip(off) {
                            *yi += v * xj;
                        }
                        y[j] += d * xj + alpha * dot4(off, &x[..j]);
                        continue;
                    }
                    let mut acc = 0.0;
                    for (&i, v) in rows.iter().zip(vals) {
                        y[i] += v * xj;
                        if i != j {
                            acc += v * x[i];
                        }
                    }
                    y[j] += alpha * acc;
                }
            },
        );
    }

    /// `M ← diag(l) M diag(r)`.
    pub fn scale(&mut self, l: &[f64], r: &[f64]) {
        let (col_ptr, row_idx, val) = (&self.col_ptr, &self.row_idx, &mut self.val);
        vectorised(
            #[inline(always)]
            || {
                for j in 0..self.ncols {
                    let rj = r[j];
                    let k = col_ptr[j]..col_ptr[j + 1];
                    let (rows, vals) = (&row_idx[k.clone()], &mut val[k]);
                    if is_leading(rows) {
                        for (v, li) in vals.iter_mut().zip(&l[..rows.len()]) {
                            *v *= li * rj;
                        }
                    } else {
                        for (v, &i) in vals.iter_mut().zip(rows) {
                            *v *= l[i] * rj;
                        }
                    }
                }
            },
        );
    }

    /// The pattern by rows: for row `i`, the `(column, slot in val)` of its
    /// entries in increasing column order, at `by_row[ptr[i]..ptr[i + 1]]`.
    pub fn row_slots(&self) -> (Vec<usize>, Vec<(usize, usize)>) {
        let mut ptr = vec![0; self.nrows + 1];
        for &i in &self.row_idx {
            ptr[i + 1] += 1;
        }
        for i in 0..self.nrows {
            ptr[i + 1] += ptr[i];
        }
        let mut next = ptr.clone();
        let mut by_row = vec![(0, 0); self.nnz()];
        for j in 0..self.ncols {
            for k in self.col_ptr[j]..self.col_ptr[j + 1] {
                let i = self.row_idx[k];
                by_row[next[i]] = (j, k);
                next[i] += 1;
            }
        }
        (ptr, by_row)
    }
}

/// Whether a column's sorted, distinct rows are `0..len` (a dense column, or
/// a dense column of an upper triangle): its entries then line up with the
/// vector's first `len`, and the products run over slices (vectorised)
/// instead of gathering by row index.
pub(crate) fn is_leading(rows: &[usize]) -> bool {
    rows.last().is_none_or(|&l| l + 1 == rows.len())
}

/// `xᵀy` in four interleaved partial sums (vectorised; the order of the
/// additions is fixed by the source, so every instruction set gives the same
/// bits). `#[inline(always)]` so that it is compiled for the instruction set
/// of the [`vectorised`] loop calling it.
#[inline(always)]
pub(crate) fn dot4(x: &[f64], y: &[f64]) -> f64 {
    let (xc, yc) = (x.chunks_exact(4), y.chunks_exact(4));
    let tail: f64 = xc.remainder().iter().zip(yc.remainder()).map(|(a, b)| a * b).sum();
    let mut acc = [0.0; 4];
    for (a, b) in xc.zip(yc) {
        for k in 0..4 {
            acc[k] += a[k] * b[k];
        }
    }
    (acc[0] + acc[2]) + (acc[1] + acc[3]) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_match_dense() {
        // P = [[2, 1], [1, 3]] as its upper triangle, with a duplicate.
        let mut p = Triplets::new(2, 2);
        p.push(0, 0, 2.0);
        p.push(0, 1, 0.5);
        p.push(0, 1, 0.5);
        p.push(1, 1, 3.0);
        let (p, _) = Csc::from_triplets(&p);
        let mut y = vec![0.0; 2];
        p.sym_mul_add(&mut y, &[1.0, 2.0], 1.0);
        assert_eq!(y, vec![4.0, 7.0]);

        let mut a = Triplets::new(3, 2);
        a.push(2, 0, 1.0);
        a.push(0, 1, -2.0);
        a.push(1, 0, 4.0);
        let (a, _) = Csc::from_triplets(&a);
        let mut y = vec![0.0; 3];
        a.mul_add(&mut y, &[1.0, 1.0], 2.0);
        assert_eq!(y, vec![-4.0, 8.0, 2.0]);
        let mut x = vec![0.0; 2];
        a.t_mul_add(&mut x, &[1.0, 1.0, 1.0], 1.0);
        assert_eq!(x, vec![5.0, -2.0]);
        // Aᵀ from the rows' slots.
        let (ptr, by_row) = a.row_slots();
        let mut x2 = vec![0.0; 2];
        for i in 0..3 {
            for &(j, k) in &by_row[ptr[i]..ptr[i + 1]] {
                x2[j] += a.val[k];
            }
        }
        assert_eq!(x, x2);
        // New values in the same pattern; a different pattern is an error.
        let mut t = Triplets::new(3, 2);
        t.push(2, 0, 5.0);
        t.push(0, 1, 6.0);
        t.push(1, 0, 7.0);
        let (mut b, slot) = Csc::from_triplets(&t);
        t.entries[1].2 = -1.0;
        b.refill(&t, &slot, "A").unwrap();
        assert_eq!(b.val, vec![7.0, 5.0, -1.0]);
        t.entries[1].0 = 1;
        assert!(b.refill(&t, &slot, "A").unwrap_err().contains("entry 1"));
        // A pattern with a duplicate sums it again on refilling; a column
        // outside the matrix is an error, not a panic.
        let mut t = Triplets::new(2, 2);
        for (i, j, v) in [(0, 0, 2.0), (0, 1, 0.5), (0, 1, 0.25), (1, 1, -0.0)] {
            t.push(i, j, v);
        }
        let (mut d, slot) = Csc::from_triplets(&t);
        t.entries[2].2 = 4.0;
        d.refill(&t, &slot, "P").unwrap();
        assert_eq!(d.val, vec![2.0, 4.5, 0.0]);
        assert!(d.val[2].is_sign_positive());
        t.entries[3].1 = 2;
        assert!(d.refill(&t, &slot, "P").unwrap_err().contains("entry 3"));
    }

    /// The slice paths of dense columns (a full A, a full upper triangle, a
    /// pattern mixing full and sparse columns) against the dense products.
    #[test]
    fn dense_columns_match_dense() {
        let (m, n) = (7, 5);
        let val = |i: usize, j: usize| ((3 * i + 5 * j) % 11) as f64 - 4.5;
        let x: Vec<f64> = (0..n).map(|j| 0.25 * j as f64 - 0.6).collect();
        let xm: Vec<f64> = (0..m).map(|i| 0.5 - 0.125 * i as f64).collect();
        // Column 2 sparse (rows 1 and 4), the others full.
        let keep = |i: usize, j: usize| j != 2 || i == 1 || i == 4;
        let mut t = Triplets::new(m, n);
        for j in 0..n {
            for i in (0..m).filter(|&i| keep(i, j)) {
                t.push(i, j, val(i, j));
            }
        }
        let (mut a, _) = Csc::from_triplets(&t);
        let (mut y, mut yt) = (vec![1.0; m], vec![1.0; n]);
        a.mul_add(&mut y, &x, 2.0);
        a.t_mul_add(&mut yt, &xm, -1.0);
        for i in 0..m {
            let want = 1.0 + 2.0 * (0..n).filter(|&j| keep(i, j)).map(|j| val(i, j) * x[j]).sum::<f64>();
            assert!((y[i] - want).abs() < 1e-13, "Ax row {i}");
        }
        for j in 0..n {
            let want = 1.0 - (0..m).filter(|&i| keep(i, j)).map(|i| val(i, j) * xm[i]).sum::<f64>();
            assert!((yt[j] - want).abs() < 1e-13, "Aᵀx column {j}");
        }
        let (l, r): (Vec<f64>, Vec<f64>) =
            ((0..m).map(|i| 1.0 + i as f64).collect(), (0..n).map(|j| 2.0 - 0.5 * j as f64).collect());
        a.scale(&l, &r);
        for j in 0..n {
            for (i, v) in a.col(j) {
                assert_eq!(v, val(i, j) * (l[i] * r[j]));
            }
        }
        // A full upper triangle, column 3 missing its (0, 3) entry.
        let keep = |i: usize, j: usize| i <= j && (i, j) != (0, 3);
        let mut t = Triplets::new(n, n);
        for j in 0..n {
            for i in (0..n).filter(|&i| keep(i, j)) {
                t.push(i, j, val(i, j));
            }
        }
        let (p, _) = Csc::from_triplets(&t);
        let mut y = vec![0.5; n];
        p.sym_mul_add(&mut y, &x, 3.0);
        let sym = |i: usize, j: usize| {
            if keep(i, j) {
                val(i, j)
            } else if keep(j, i) {
                val(j, i)
            } else {
                0.0
            }
        };
        for i in 0..n {
            let want = 0.5 + 3.0 * (0..n).map(|j| sym(i, j) * x[j]).sum::<f64>();
            assert!((y[i] - want).abs() < 1e-13, "Px row {i}");
        }
        assert_eq!(dot4(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[1.0, 1.0, 1.0, 1.0, 2.0, -1.0]), 14.0);
    }
}
