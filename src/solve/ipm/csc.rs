//! Compressed sparse column storage for P and A, with the products the solver
//! needs. Built once per solve from the triplets of a [`Triplets`].

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
    /// sparsity pattern, which later data updates may fill).
    pub fn from_triplets(t: &Triplets) -> Self {
        let mut entries = t.entries.clone();
        entries.sort_unstable_by_key(|&(i, j, _)| (j, i));
        let mut m = Csc { nrows: t.nrows, ncols: t.ncols, col_ptr: vec![0; t.ncols + 1], ..Default::default() };
        let mut last: Option<(usize, usize)> = None;
        for (i, j, v) in entries {
            if last == Some((i, j)) {
                *m.val.last_mut().expect("an entry was pushed") += v;
            } else {
                m.row_idx.push(i);
                m.val.push(v);
                m.col_ptr[j + 1] += 1;
                last = Some((i, j));
            }
        }
        for j in 0..t.ncols {
            m.col_ptr[j + 1] += m.col_ptr[j];
        }
        m
    }

    pub fn nnz(&self) -> usize {
        self.val.len()
    }

    /// The entries of column `j` as `(row, value)`.
    pub fn col(&self, j: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let r = self.col_ptr[j]..self.col_ptr[j + 1];
        self.row_idx[r.clone()].iter().copied().zip(self.val[r].iter().copied())
    }

    /// `y ← y + α M x`.
    pub fn mul_add(&self, y: &mut [f64], x: &[f64], alpha: f64) {
        for j in 0..self.ncols {
            let xj = alpha * x[j];
            if xj != 0.0 {
                for (i, v) in self.col(j) {
                    y[i] += v * xj;
                }
            }
        }
    }

    /// `y ← y + α Mᵀ x`.
    pub fn t_mul_add(&self, y: &mut [f64], x: &[f64], alpha: f64) {
        for (j, yj) in y.iter_mut().enumerate().take(self.ncols) {
            let s: f64 = self.col(j).map(|(i, v)| v * x[i]).sum();
            *yj += alpha * s;
        }
    }

    /// `y ← y + α M x` for symmetric `M` stored as its upper triangle.
    pub fn sym_mul_add(&self, y: &mut [f64], x: &[f64], alpha: f64) {
        for j in 0..self.ncols {
            let xj = alpha * x[j];
            let mut acc = 0.0;
            for (i, v) in self.col(j) {
                y[i] += v * xj;
                if i != j {
                    acc += v * x[i];
                }
            }
            y[j] += alpha * acc;
        }
    }

    /// `M ← diag(l) M diag(r)`.
    pub fn scale(&mut self, l: &[f64], r: &[f64]) {
        for j in 0..self.ncols {
            for k in self.col_ptr[j]..self.col_ptr[j + 1] {
                self.val[k] *= l[self.row_idx[k]] * r[j];
            }
        }
    }

    /// The transpose, in CSC form (that is, `M` in CSR form).
    pub fn transpose(&self) -> Csc {
        let mut t = Csc {
            nrows: self.ncols,
            ncols: self.nrows,
            col_ptr: vec![0; self.nrows + 1],
            row_idx: vec![0; self.nnz()],
            val: vec![0.0; self.nnz()],
        };
        for &i in &self.row_idx {
            t.col_ptr[i + 1] += 1;
        }
        for i in 0..self.nrows {
            t.col_ptr[i + 1] += t.col_ptr[i];
        }
        let mut next = t.col_ptr.clone();
        for j in 0..self.ncols {
            for (i, v) in self.col(j) {
                t.row_idx[next[i]] = j;
                t.val[next[i]] = v;
                next[i] += 1;
            }
        }
        t
    }
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
        let p = Csc::from_triplets(&p);
        let mut y = vec![0.0; 2];
        p.sym_mul_add(&mut y, &[1.0, 2.0], 1.0);
        assert_eq!(y, vec![4.0, 7.0]);

        let mut a = Triplets::new(3, 2);
        a.push(2, 0, 1.0);
        a.push(0, 1, -2.0);
        a.push(1, 0, 4.0);
        let a = Csc::from_triplets(&a);
        let mut y = vec![0.0; 3];
        a.mul_add(&mut y, &[1.0, 1.0], 2.0);
        assert_eq!(y, vec![-4.0, 8.0, 2.0]);
        let mut x = vec![0.0; 2];
        a.t_mul_add(&mut x, &[1.0, 1.0, 1.0], 1.0);
        assert_eq!(x, vec![5.0, -2.0]);
        let at = a.transpose();
        let mut x2 = vec![0.0; 2];
        at.mul_add(&mut x2, &[1.0, 1.0, 1.0], 1.0);
        assert_eq!(x, x2);
    }
}
