//! Cranelift: kernel programs → machine code.
//!
//! [`compile`] specialises one [`Tape`] to concrete dimension sizes. Every
//! step's shape is then a number, so all values live in one `f64` arena at
//! offsets fixed at compile time (`layout.rs`), and the compiled function is
//! `extern "C" fn(arena, call, inputs) -> status`:
//!
//! - inputs (parameters, variables, symbols) are read where the caller keeps
//!   them, through a table of pointers [`JitProgram::run`] passes (a data
//!   matrix is not copied per call); steps that read no input (literals,
//!   dimension sizes, `ones`, …) are computed once at compile time by
//!   [`crate::eval::apply`] and kept in the arena's template;
//! - elementwise steps (with numpy broadcasting resolved at compile time),
//!   transposes, `outer`, `spread`, `sum_to`, `huber` and reductions become loops
//!   (`plan.rs`, `emit.rs`); transcendental functions are calls to Rust shims
//!   that call the function `apply` calls;
//! - steps over the rows of one `[R, C]` shape (elementwise chains, sums along
//!   the rows, `spread` back, sums down the columns and over everything) share
//!   one loop nest, row by row, so their intermediates stay in registers or a
//!   scratch row instead of the arena (`fuse.rs`);
//! - every other step (matrix products, which faer computes in its own order;
//!   indexing, stacking, `quad_form`, `log_sum_exp`, …) calls one
//!   fallback shim (`shims.rs`) that runs `apply` on the arena's slices.
//!
//! **Invariant: bit for bit equal to [`Tape::run`].** Each inlined step
//! performs the floating-point operations of `apply`, in its order (folds
//! start where `apply`'s do and visit entries in its order; no fused
//! multiply-add, which Cranelift never forms on its own). Domain and division
//! checks are `apply`'s predicates, evaluated per entry: a failure flags the
//! call, and the interpreter then runs it (so the error, and which step
//! reports it, is the interpreter's); so does a failed fallback step, and
//! anything the compiled code cannot vouch for (an input of another shape,
//! other dimension sizes).
//!
//! What to watch: Rust does not promise which zero `f64::max`/`min` return
//! for `+0.0` and `-0.0`, and LLVM decides per call site. The loops here do
//! what rustc's code for `apply` does today (`x.max(0.0)` gives `+0.0` for
//! `-0.0`; `a.max(b)` and the folds give `a` for equal arguments), which the
//! tests check with signed zeros; a future compiler may differ there only.

mod emit;
mod fuse;
mod kernels;
mod layout;
mod plan;
mod program;
mod shims;

pub use kernels::JitKernels;
pub use program::JitProgram;

use crate::kernel::Tape;

/// Why a program was not compiled (its callers run the interpreter instead).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct JitError(pub String);

/// `program` compiled to machine code for dimension sizes `dims`.
pub fn compile(program: &Tape, dims: &[usize]) -> Result<JitProgram, JitError> {
    program::compile_all(&[program], dims)?.pop().unwrap_or_else(|| Err(JitError("internal: nothing compiled".into())))
}
