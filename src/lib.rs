//! # ddn: deep declarative networks
//!
//! Optimisation problems as differentiable layers. A `.ddn` file declares nodes
//! `y(x) ∈ argmin_{u ∈ C(x)} f(x, u)`; the compiler parses and checks them,
//! classifies each (LP, QP, SOCP, or a smooth node), and derives a forward solve
//! and a backward pass from the optimality conditions.
//!
//! ```
//! let c = ddn::compile("ls.ddn", "
//! node least_squares(A: real[m, n], b: real[m]) -> x: real[n] {
//!     minimize sum_squares(A @ x - b)
//! }");
//! assert!(!c.has_errors());
//! assert_eq!(c.program.nodes[0].class.family, ddn::ir::Family::Qp);
//! ```
//!
//! The pipeline, one module a stage: [`syntax`] (pest grammar → AST), [`sema`]
//! (names, shapes, `def` inlining → [`ir`]), [`dcp`] and [`atoms`] (curvature and
//! classification), [`canon`] (conic standard forms), [`symbolic`] (derivatives
//! simplified by egg), [`kernel`] (a node's expressions as straight-line
//! programs), [`solve`] and [`smooth`] (the forward solvers), [`diff`] (the
//! backward passes), [`runtime`] (a node at run time), [`loaded`] ([`loaded::Module`]:
//! source loaded at run time, forward and backward), [`jit`] (Cranelift), [`codegen`] (`ddnc build`),
//! [`diag`] (diagnostics), [`driver`] (the stages joined), [`limits`] (budgets
//! against hostile input).

// Every public item says what it is: a new one without a doc comment is a
// warning (the crate builds with none).
#![warn(missing_docs)]
// Numerical kernels index several arrays in lockstep (x[j], dx[j], scale[j]);
// an index loop states that more plainly than zipped iterators.
#![allow(clippy::needless_range_loop)]

pub mod analysis;
pub mod atoms;
pub mod canon;
pub mod codegen;
pub mod dcp;
pub mod diag;
pub mod diff;
pub mod driver;
pub mod eval;
pub mod io;
pub mod ir;
pub mod jit;
pub mod kernel;
pub mod limits;
pub mod linalg;
pub mod loaded;
pub mod report;
pub mod runtime;
pub mod sema;
pub mod shape;
pub mod smooth;
pub mod solve;
pub mod status;
pub mod symbolic;
pub mod syntax;

pub use driver::{compile, Compiled};

/// Loads `.ddn` source at run time with every node's kernels on the JIT: the
/// library call behind `ddnc run`. `name` labels the source in diagnostics.
///
/// ```
/// use std::collections::BTreeMap;
/// use ddn::eval::Tensor;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let module = ddn::load("ls.ddn", "
/// node least_squares(A: real[m, n], b: real[m]) -> x: real[n] {
///     minimize sum_squares(A @ x - b)
/// }")?;
/// let node = module.node("least_squares")?;
/// let inputs = BTreeMap::from([
///     ("A".to_string(), Tensor::matrix(3, 2, vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0])),
///     ("b".to_string(), Tensor::vector(vec![1.0, 2.0, 3.0])),
/// ]);
/// let mut fwd = node.forward(&inputs)?; // every error of the library is a std::error::Error
/// let x = &fwd.solved.outputs[0].1;
/// assert!((x.data[0] - 1.0).abs() < 1e-12 && (x.data[1] - 2.0).abs() < 1e-12);
/// let cot = BTreeMap::from([("x".to_string(), Tensor::vector(vec![1.0, 0.0]))]);
/// let grads = node.backward(&mut fwd, &cot)?;
/// assert_eq!(grads["A"].shape, vec![3, 2]);
/// # Ok(())
/// # }
/// ```
pub fn load(name: &str, source: &str) -> Result<loaded::Module, loaded::LoadError> {
    loaded::Module::load(name, source, loaded::Backend::Jit)
}

/// faer, as the generated modules of `ddnc build` name it (`ddn::faer::MatRef`),
/// so a user crate needs no version of its own in step with ours.
pub use faer;
