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

pub use batch::{forward_batch, Threads};
pub use info::{Facts, Info};
pub use inputs::{bind, named_tensors, tensor_from_json, tensor_to_json, Bound, InputErrors};
pub use node::{forward, interpreted, kernel_set, prepare, settings, Options, RunError, Solved, Status};
pub use prepared::{Prepared, Workspace};
