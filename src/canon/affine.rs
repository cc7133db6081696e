//! Affine forms: tensors whose entries are sparse linear functions of the
//! standard-form variable vector x, plus constants. Canonicalisation evaluates
//! the affine parts of a node over these, which collects the coefficients of
//! A, b, q (and of P through products of two forms).

use crate::eval::{broadcast_index, broadcast_shape, matmul_dims, Tensor};

/// `Σ aᵢ xᵢ + c`, terms possibly repeated (merged by [`Lin::compress`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lin {
    pub terms: Vec<(usize, f64)>,
    pub c: f64,
}

impl Lin {
    pub fn constant(c: f64) -> Lin {
        Lin { terms: Vec::new(), c }
    }

    pub fn var(i: usize) -> Lin {
        Lin { terms: vec![(i, 1.0)], c: 0.0 }
    }

    pub fn scaled(&self, w: f64) -> Lin {
        Lin { terms: self.terms.iter().map(|&(i, a)| (i, a * w)).collect(), c: self.c * w }
    }

    /// `self += w * other`.
    pub fn add_scaled(&mut self, other: &Lin, w: f64) {
        if w == 0.0 {
            return;
        }
        self.terms.extend(other.terms.iter().map(|&(i, a)| (i, a * w)));
        self.c += w * other.c;
    }

    /// Sorts the terms and merges repeated variables (dropping exact zeros).
    pub fn compress(&mut self) {
        self.terms.sort_unstable_by_key(|t| t.0);
        let mut out: Vec<(usize, f64)> = Vec::with_capacity(self.terms.len());
        for &(i, a) in &self.terms {
            match out.last_mut() {
                Some(last) if last.0 == i => last.1 += a,
                _ => out.push((i, a)),
            }
        }
        out.retain(|t| t.1 != 0.0);
        self.terms = out;
    }
}

/// A tensor of affine forms, row-major like [`Tensor`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Aff {
    pub shape: Vec<usize>,
    pub e: Vec<Lin>,
}

impl Aff {
    pub fn constant(t: &Tensor) -> Aff {
        Aff { shape: t.shape.clone(), e: t.data.iter().map(|&c| Lin::constant(c)).collect() }
    }

    /// Fresh variables `first..first + len` laid out in `shape`.
    pub fn vars(first: usize, shape: Vec<usize>) -> Aff {
        let len: usize = shape.iter().product();
        Aff { shape, e: (first..first + len).map(Lin::var).collect() }
    }

    pub fn scalar(l: Lin) -> Aff {
        Aff { shape: Vec::new(), e: vec![l] }
    }

    pub fn len(&self) -> usize {
        self.e.len()
    }

    /// Elementwise `w_a·a + w_b·b` with numpy broadcasting.
    pub fn combine(a: &Aff, wa: f64, b: &Aff, wb: f64) -> Option<Aff> {
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
    pub fn times(&self, t: &Tensor) -> Option<Aff> {
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
    pub fn left_matmul(d: &Tensor, x: &Aff) -> Option<Aff> {
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
    pub fn right_matmul(x: &Aff, d: &Tensor) -> Option<Aff> {
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

    pub fn transposed(&self) -> Aff {
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
    pub fn groups(&self, axis: Option<u8>) -> Vec<Vec<&Lin>> {
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
