//! The interface between a smooth node and the solvers: flat vectors and dense
//! matrices, so a solver never sees the node's tensors or expressions.
//!
//! The node's variables are flattened in declaration order, each row-major, into
//! one vector `y ∈ ℝⁿ`. Equalities `h(y) = 0` and inequalities `g(y) ≤ 0` are
//! flattened the same way, in the node's constraint order. The Lagrangian is
//! `L = f + νᵀh + λᵀg` with `λ ≥ 0` (the contract's sign convention).

use faer::Mat;

use super::DomainError;

/// A smooth problem, evaluated at points the solver chooses.
pub trait SmoothProblem {
    /// `n`, the number of scalar variables.
    fn dim(&self) -> usize;
    /// The number of scalar equalities.
    fn n_eq(&self) -> usize;
    /// The number of scalar inequalities.
    fn n_ineq(&self) -> usize;
    /// `f(y)`.
    fn objective(&self, y: &[f64]) -> Result<f64, DomainError>;
    /// `∇f(y)`, length `n`.
    fn gradient(&self, y: &[f64]) -> Result<Vec<f64>, DomainError>;
    /// `h(y)`, length [`Self::n_eq`].
    fn eq(&self, y: &[f64]) -> Result<Vec<f64>, DomainError>;
    /// `g(y)`, length [`Self::n_ineq`].
    fn ineq(&self, y: &[f64]) -> Result<Vec<f64>, DomainError>;
    /// `∂h/∂y`, `n_eq × n`.
    fn eq_jacobian(&self, y: &[f64]) -> Result<Mat<f64>, DomainError>;
    /// `∂g/∂y`, `n_ineq × n`.
    fn ineq_jacobian(&self, y: &[f64]) -> Result<Mat<f64>, DomainError>;
    /// `∇²_yy L(y, ν, λ) = ∇²f + Σ νᵢ∇²hᵢ + Σ λⱼ∇²gⱼ`, `n × n`, symmetric.
    fn lagrangian_hessian(&self, y: &[f64], nu: &[f64], lambda: &[f64]) -> Result<Mat<f64>, DomainError>;
    /// `∇f(y)`, and `∇²f(y)` and `f(y)` too where the problem computes them
    /// in one pass for about the price of the Hessian alone (Newton needs all
    /// three at each iterate). The gradient is [`Self::gradient`]'s and the
    /// objective [`Self::objective`]'s, bit for bit, and the gradient's errors
    /// are that method's.
    fn gradient_and_hessian(&self, y: &[f64]) -> Result<NewtonPass, DomainError> {
        Ok(NewtonPass { gradient: self.gradient(y)?, hessian: None, objective: None })
    }
    /// Takes back a [`NewtonPass`] at `y` the solver is done with (its
    /// Hessian, if any, unmodified), so that the next pass can fill the same
    /// buffers rather than allocate them (Newton makes a pass per iterate),
    /// and [`Self::lagrangian_hessian`] at `y` (unconstrained) can answer with
    /// its Hessian; by default it is dropped.
    fn recycle(&self, y: &[f64], pass: NewtonPass) {
        drop((y, pass));
    }
}

/// What [`SmoothProblem::gradient_and_hessian`] computes at a point: `∇f`
/// always; `∇²f` and `f` when one pass gave them (both or neither).
#[derive(Clone, Debug)]
pub struct NewtonPass {
    /// `∇f` at the point.
    pub gradient: Vec<f64>,
    /// `∇²f` at the point, when the pass computed it.
    pub hessian: Option<Mat<f64>>,
    /// `f` at the point, when the pass computed it.
    pub objective: Option<f64>,
}
