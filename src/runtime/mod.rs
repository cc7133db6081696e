//! The run-time side of a node: inputs bound and checked, then forward and backward,
//! one instance at a time or a batch in parallel.

pub mod batch;
pub mod check;
pub mod info;
pub mod inputs;
pub mod node;
pub mod prepared;
pub(crate) mod smooth;
pub(crate) mod special;

pub use batch::{forward_batch, forward_batch_prepared, forward_batch_with_kernels, Threads};
pub use info::{Facts, Info};
pub use inputs::{bind, named_tensors, tensor_from_json, tensor_to_json, Bound};
pub use node::{
    forward, forward_unprepared, forward_with, forward_with_kernels, interpreted, kernel_set, prepare, settings,
    RunError, Solved, Status,
};
pub use prepared::{Prepared, Workspace};
