//! What generated modules call: conversions between faer values and the
//! runtime's row-major tensors.

use faer::{Col, ColRef, Mat, MatRef};

use crate::eval::Tensor;
use crate::ir::Node;
use crate::runtime::{Bound, RunError, Solved};

/// Binds the named parameters and solves: a generated `forward`'s body.
pub fn solve<'n>(
    node: &Node,
    params: impl IntoIterator<Item = (&'n str, Tensor)>,
) -> Result<(Solved, Bound), RunError> {
    let named = params.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let bound = crate::runtime::bind(node, &named).map_err(|e| RunError(e.join("; ")))?;
    Ok((crate::runtime::forward(node, &bound)?, bound))
}

/// The backward pass for the cotangents given (`None` is zero): a generated
/// `backward`'s body.
pub fn differentiate(
    node: &Node,
    bound: &Bound,
    solved: &mut Solved,
    cotangents: impl IntoIterator<Item = (&'static str, Option<Tensor>)>,
) -> Result<Vec<Tensor>, RunError> {
    let cot: Vec<(String, Tensor)> =
        cotangents.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), v))).collect();
    crate::diff::backward(node, bound, solved, &cot)
}

/// A parameter or cotangent as a runtime tensor.
pub fn tensor<T: AsTensor>(v: T) -> Tensor {
    v.as_tensor()
}

/// A value the generated code passes in.
pub trait AsTensor {
    fn as_tensor(&self) -> Tensor;
}

impl AsTensor for f64 {
    fn as_tensor(&self) -> Tensor {
        Tensor::scalar(*self)
    }
}

impl AsTensor for ColRef<'_, f64> {
    fn as_tensor(&self) -> Tensor {
        Tensor::vector(self.iter().copied().collect())
    }
}

impl AsTensor for MatRef<'_, f64> {
    fn as_tensor(&self) -> Tensor {
        let (m, n) = (self.nrows(), self.ncols());
        Tensor::matrix(m, n, (0..m * n).map(|k| self[(k / n, k % n)]).collect())
    }
}

/// A value the generated code hands out.
pub trait Output: Sized {
    fn from_tensor(t: &Tensor) -> Self;
}

impl Output for f64 {
    fn from_tensor(t: &Tensor) -> Self {
        t.data.first().copied().unwrap_or(f64::NAN)
    }
}

impl Output for Col<f64> {
    fn from_tensor(t: &Tensor) -> Self {
        Col::from_fn(t.len(), |i| t.data[i])
    }
}

impl Output for Mat<f64> {
    fn from_tensor(t: &Tensor) -> Self {
        let (m, n) = t.rows_cols();
        Mat::from_fn(m, n, |i, j| t.data[i * n + j])
    }
}
