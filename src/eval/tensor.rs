//! Dense values of rank 0, 1 or 2, stored row-major; matrix products go through faer.

use faer::{Mat, MatRef};

/// A scalar (`shape == []`), vector (`[n]`) or matrix (`[m, n]`), row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// The axes' lengths: `[]`, `[n]` or `[m, n]`.
    pub shape: Vec<usize>,
    /// The entries, row-major; as many as the shape's product.
    pub data: Vec<f64>,
}

impl Tensor {
    /// The scalar `v`.
    pub fn scalar(v: f64) -> Tensor {
        Tensor { shape: Vec::new(), data: vec![v] }
    }

    /// A vector of `data`.
    pub fn vector(data: Vec<f64>) -> Tensor {
        Tensor { shape: vec![data.len()], data }
    }

    /// A matrix from row-major data; `data.len()` must be `m * n`.
    pub fn matrix(m: usize, n: usize, data: Vec<f64>) -> Tensor {
        debug_assert_eq!(data.len(), m * n);
        Tensor { shape: vec![m, n], data }
    }

    /// A tensor of `shape` with every entry `v`.
    pub fn filled(shape: Vec<usize>, v: f64) -> Tensor {
        let len = shape.iter().product();
        Tensor { shape, data: vec![v; len] }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether it has no entries (an axis of length 0).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The number of axes: 0, 1 or 2.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Rows and columns when viewed as a matrix (a vector is a column).
    pub fn rows_cols(&self) -> (usize, usize) {
        match self.shape.as_slice() {
            [] => (1, 1),
            [n] => (*n, 1),
            [m, n] => (*m, *n),
            _ => (self.data.len(), 1),
        }
    }

    /// The value of a one-entry tensor.
    pub fn as_scalar(&self) -> Option<f64> {
        (self.data.len() == 1).then(|| self.data[0])
    }

    /// A faer view of the data as an `rows × cols` row-major matrix.
    pub fn view(&self, rows: usize, cols: usize) -> MatRef<'_, f64> {
        MatRef::from_row_major_slice(&self.data, rows, cols)
    }

    /// A row-major tensor from a faer matrix.
    pub fn from_mat(m: &Mat<f64>, shape: Vec<usize>) -> Tensor {
        let (r, c) = (m.nrows(), m.ncols());
        let mut data = Vec::with_capacity(r * c);
        for i in 0..r {
            for j in 0..c {
                data.push(m[(i, j)]);
            }
        }
        Tensor { shape, data }
    }

    /// Every entry multiplied by `w`.
    pub fn scaled(&self, w: f64) -> Tensor {
        Tensor { shape: self.shape.clone(), data: self.data.iter().map(|x| x * w).collect() }
    }

    /// Entry `(i, j)` of a matrix (or `i` of a vector when `j == 0`).
    pub fn at(&self, i: usize, j: usize) -> f64 {
        let (_, c) = self.rows_cols();
        self.data[i * c + j]
    }
}

/// Whether two shapes (or dimension-size lists) are equal, without calling
/// `memcmp` for empty ones: a scalar's shape is an empty `Vec` whose pointer
/// is dangling, and glibc's AVX-512 `memcmp` reads it with a masked load whose
/// fault suppression costs about 150 ns on the AMD EPYC guest the benchmarks
/// run on (a non-empty comparison: about 1 ns). A kernel call compares a
/// scalar parameter's or output's shape several times; Welsch pooling at
/// d = 1, n = 64 made some 90 comparisons a call.
pub fn same_shape(a: &[usize], b: &[usize]) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// `out` made the tensors of `parts` (shape, entries), in order, reusing the
/// buffers `out` already has: a caller that fills the same shapes on every
/// call (a kernel's inputs or outputs at each Newton iterate) allocates
/// nothing after the first.
pub fn overwrite_tensors<'a>(out: &mut Vec<Tensor>, parts: impl IntoIterator<Item = (&'a [usize], &'a [f64])>) {
    let mut count = 0;
    for (shape, data) in parts {
        match out.get_mut(count) {
            Some(t) => {
                if !same_shape(&t.shape, shape) {
                    t.shape.clear();
                    t.shape.extend_from_slice(shape);
                }
                if t.data.len() == data.len() {
                    t.data.copy_from_slice(data);
                } else {
                    t.data.clear();
                    t.data.extend_from_slice(data);
                }
            }
            None => out.push(Tensor { shape: shape.to_vec(), data: data.to_vec() }),
        }
        count += 1;
    }
    out.truncate(count);
}

/// The shapes of numpy's `a @ b` for ranks 1 and 2, viewed as matrices: a vector
/// is a row on the left and a column on the right. Returns `(m, k, n)` with `a`
/// as m × k and `b` as k × n, and the result's shape (a vector · vector is a scalar).
pub fn matmul_dims(a: &[usize], b: &[usize]) -> Option<(usize, usize, usize, Vec<usize>)> {
    let (m, k) = match a {
        [k] => (1, *k),
        [m, k] => (*m, *k),
        _ => return None,
    };
    let (k2, n) = match b {
        [k] => (*k, 1),
        [k, n] => (*k, *n),
        _ => return None,
    };
    if k != k2 {
        return None;
    }
    let shape = match (a.len(), b.len()) {
        (1, 1) => vec![],
        (1, _) => vec![n],
        (_, 1) => vec![m],
        _ => vec![m, n],
    };
    Some((m, k, n, shape))
}

/// numpy broadcasting of two shapes (trailing axes aligned, 1 stretches).
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = Vec::with_capacity(r);
    for i in 0..r {
        let x = (i + a.len()).checked_sub(r).map(|k| a[k]);
        let y = (i + b.len()).checked_sub(r).map(|k| b[k]);
        out.push(match (x, y) {
            (Some(x), None) => x,
            (None, Some(y)) => y,
            (Some(x), Some(y)) if x == y => x,
            (Some(1), Some(y)) => y,
            (Some(x), Some(1)) => x,
            _ => return None,
        });
    }
    Some(out)
}

/// The flat index into a tensor of shape `from` that broadcasts to position
/// `idx` (row-major) of shape `to`.
pub fn broadcast_index(from: &[usize], to: &[usize], idx: usize) -> usize {
    let offset = to.len() - from.len();
    let (mut rem, mut flat, mut stride) = (idx, 0, 1);
    for k in (0..to.len()).rev() {
        let c = rem % to[k].max(1);
        rem /= to[k].max(1);
        if k >= offset {
            let d = from[k - offset];
            if d != 1 {
                flat += c * stride;
            }
            stride *= d;
        }
    }
    flat
}

/// [`broadcast_index`] of every entry of `to`, in order, walked with strides
/// (no division per entry): the inner loop of broadcasting arithmetic.
pub fn broadcast_indices(from: &[usize], to: &[usize]) -> impl Iterator<Item = usize> {
    let offset = to.len() - from.len();
    // Per axis of `to`: the step in `from` (0 where `from` is broadcast).
    let mut steps = vec![0usize; to.len()];
    let mut stride = 1;
    for k in (offset..to.len()).rev() {
        let d = from[k - offset];
        steps[k] = if d == 1 { 0 } else { stride };
        stride *= d;
    }
    let len: usize = to.iter().product();
    let to = to.to_vec();
    let mut coords = vec![0usize; to.len()];
    let mut flat = 0;
    (0..len).map(move |i| {
        let here = flat;
        if i + 1 < len {
            // Advance the odometer by one entry of `to`.
            for k in (0..to.len()).rev() {
                coords[k] += 1;
                flat += steps[k];
                if coords[k] < to[k] {
                    break;
                }
                flat -= steps[k] * coords[k];
                coords[k] = 0;
            }
        }
        here
    })
}

/// Row-major `data` of shape `from` broadcast to shape `to` (numpy rules), for
/// any entry type: the evaluator's numbers and canonicalisation's tracked ones.
pub fn broadcast_data<T: Copy>(data: &[T], from: &[usize], to: &[usize]) -> Vec<T> {
    broadcast_indices(from, to).map(|k| data[k]).collect()
}

/// The adjoint of [`broadcast_data`]: sums `data` of shape `from` back to `to`.
pub fn unbroadcast_data<T: Copy + std::ops::Add<Output = T>>(
    data: &[T],
    from: &[usize],
    to: &[usize],
    zero: T,
) -> Vec<T> {
    let mut out = vec![zero; to.iter().product()];
    for (k, &v) in data.iter().enumerate() {
        let i = broadcast_index(to, from, k);
        out[i] = out[i] + v;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The strided walk visits exactly the entries the per-index formula names.
    #[test]
    fn broadcast_walk_matches_the_index_formula() {
        let cases: [(&[usize], &[usize]); 9] = [
            (&[], &[3, 4]),
            (&[1], &[3, 4]),
            (&[4], &[3, 4]),
            (&[3, 1], &[3, 4]),
            (&[1, 4], &[3, 4]),
            (&[3, 4], &[3, 4]),
            (&[1, 1], &[2, 5]),
            (&[5], &[5]),
            (&[2, 1], &[2, 0]),
        ];
        for (from, to) in cases {
            let len: usize = to.iter().product();
            let walked: Vec<usize> = broadcast_indices(from, to).collect();
            let formula: Vec<usize> = (0..len).map(|i| broadcast_index(from, to, i)).collect();
            assert_eq!(walked, formula, "{from:?} → {to:?}");
        }
    }
}
