//! Affine forms: tensors whose entries are sparse linear functions of the
//! standard-form variable vector x, plus constants. Canonicalisation evaluates
//! the affine parts of a node over these, which collects the coefficients of
//! A, b, q (and of P through products of two forms).

use super::scalar::{Data, Scalar};
use crate::eval::{broadcast_index, broadcast_shape, matmul_dims};

/// `Σ aᵢ xᵢ + c`, terms possibly repeated (merged by [`Lin::compress`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Lin<S = f64> {
    pub terms: Vec<(usize, S)>,
    pub c: S,
}

impl<S: Scalar> Default for Lin<S> {
    fn default() -> Self {
        Lin { terms: Vec::new(), c: S::from(0.0) }
    }
}

impl<S: Scalar> Lin<S> {
    pub fn constant(c: S) -> Self {
        Lin { terms: Vec::new(), c }
    }

    pub fn var(i: usize) -> Self {
        Lin { terms: vec![(i, S::from(1.0))], c: S::from(0.0) }
    }

    pub fn scaled(&self, w: impl Into<S>) -> Self {
        let w = w.into();
        Lin { terms: self.terms.iter().map(|&(i, a)| (i, a * w)).collect(), c: self.c * w }
    }

    /// `self += w * other`.
    pub fn add_scaled(&mut self, other: &Self, w: impl Into<S>) {
        let w = w.into();
        if w.is_structural_zero() {
            return;
        }
        self.terms.extend(other.terms.iter().map(|&(i, a)| (i, a * w)));
        self.c = self.c + w * other.c;
    }

    /// Sorts the terms and merges repeated variables (dropping structural zeros).
    pub fn compress(&mut self) {
        self.terms.sort_unstable_by_key(|t| t.0);
        let mut out: Vec<(usize, S)> = Vec::with_capacity(self.terms.len());
        for &(i, a) in &self.terms {
            match out.last_mut() {
                Some(last) if last.0 == i => last.1 = last.1 + a,
                _ => out.push((i, a)),
            }
        }
        out.retain(|t| !t.1.is_structural_zero());
        self.terms = out;
    }

    /// `aᵀp + c`, the form's value at the point `p`.
    pub fn at(&self, p: &[f64]) -> S {
        self.terms.iter().fold(self.c, |acc, &(i, a)| acc + a * p[i])
    }

    /// `aᵀp`: the linear part applied to a direction.
    pub fn along(&self, p: &[f64]) -> S {
        self.terms.iter().fold(S::from(0.0), |acc, &(i, a)| acc + a * p[i])
    }
}

/// A tensor of affine forms, row-major like [`crate::eval::Tensor`].
#[derive(Clone, Debug, PartialEq)]
pub struct Aff<S = f64> {
    pub shape: Vec<usize>,
    pub e: Vec<Lin<S>>,
}

impl<S: Scalar> Aff<S> {
    pub fn constant(t: &Data<S>) -> Self {
        Aff { shape: t.shape.clone(), e: t.data.iter().map(|&c| Lin::constant(c)).collect() }
    }

    /// Fresh variables `first..first + len` laid out in `shape`.
    pub fn vars(first: usize, shape: Vec<usize>) -> Self {
        let len: usize = shape.iter().product();
        Aff { shape, e: (first..first + len).map(Lin::var).collect() }
    }

    pub fn scalar(l: Lin<S>) -> Self {
        Aff { shape: Vec::new(), e: vec![l] }
    }

    pub fn len(&self) -> usize {
        self.e.len()
    }

    /// Elementwise `w_a·a + w_b·b` with numpy broadcasting.
    pub fn combine(a: &Self, wa: f64, b: &Self, wb: f64) -> Option<Self> {
        let shape = broadcast_shape(&a.shape, &b.shape)?;
        let len: usize = shape.iter().product();
        let e = (0..len)
            .map(|k| {
                let mut l = a.e[broadcast_index(&a.shape, &shape, k)].scaled(wa);
                l.add_scaled(&b.e[broadcast_index(&b.shape, &shape, k)], wb);
                l
            })
            .collect();
        Some(Aff { shape, e })
    }

    /// Elementwise product with data, broadcasting.
    pub fn times(&self, t: &Data<S>) -> Option<Self> {
        let shape = broadcast_shape(&self.shape, &t.shape)?;
        let len: usize = shape.iter().product();
        let e = (0..len)
            .map(|k| {
                self.e[broadcast_index(&self.shape, &shape, k)].scaled(t.data[broadcast_index(&t.shape, &shape, k)])
            })
            .collect();
        Some(Aff { shape, e })
    }

    /// `D @ X` for data D (numpy's rules, [`matmul_dims`]).
    pub fn left_matmul(d: &Data<S>, x: &Self) -> Option<Self> {
        let (m, k, n, shape) = matmul_dims(&d.shape, &x.shape)?;
        let e = (0..m * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                let mut l = Lin::default();
                (0..k).for_each(|t| l.add_scaled(&x.e[t * n + j], d.data[i * k + t]));
                l
            })
            .collect();
        Some(Aff { shape, e })
    }

    /// `X @ D` for data D.
    pub fn right_matmul(x: &Self, d: &Data<S>) -> Option<Self> {
        let (m, k, n, shape) = matmul_dims(&x.shape, &d.shape)?;
        let e = (0..m * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                let mut l = Lin::default();
                (0..k).for_each(|t| l.add_scaled(&x.e[i * k + t], d.data[t * n + j]));
                l
            })
            .collect();
        Some(Aff { shape, e })
    }

    pub fn transposed(&self) -> Self {
        match self.shape.as_slice() {
            [m, n] => {
                let (m, n) = (*m, *n);
                let mut e = vec![Lin::default(); m * n];
                for i in 0..m {
                    for j in 0..n {
                        e[j * m + i] = self.e[i * n + j].clone();
                    }
                }
                Aff { shape: vec![n, m], e }
            }
            _ => self.clone(),
        }
    }

    /// The entries, grouped by what a reduction along `axis` combines: one group
    /// for everything, or one per column (axis 0) / row (axis 1) of a matrix.
    pub fn groups(&self, axis: Option<u8>) -> Vec<Vec<&Lin<S>>> {
        match (axis, self.shape.as_slice()) {
            (Some(ax), [m, n]) => {
                let (m, n) = (*m, *n);
                let (outer, inner) = if ax == 0 { (n, m) } else { (m, n) };
                (0..outer)
                    .map(|o| {
                        (0..inner).map(|k| if ax == 0 { &self.e[k * n + o] } else { &self.e[o * n + k] }).collect()
                    })
                    .collect()
            }
            _ => vec![self.e.iter().collect()],
        }
    }

    /// The shape of a reduction along `axis`.
    pub fn reduced_shape(&self, axis: Option<u8>) -> Vec<usize> {
        match (axis, self.shape.as_slice()) {
            (Some(ax), [m, n]) => vec![if ax == 0 { *n } else { *m }],
            _ => Vec::new(),
        }
    }
}
