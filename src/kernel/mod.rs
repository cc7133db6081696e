//! Kernels: a node's expressions lowered once to straight-line programs.
//!
//! A [`Tape`] (a Wengert list, in automatic differentiation's term; named
//! so, not `Program`, to keep apart from [`crate::ir::Program`], a file's
//! nodes) is a list of [`Step`]s in evaluation order, each an
//! [`Op`] applied to earlier steps' values (single assignment), with the
//! expressions' values as its outputs. Lowering shares equal subexpressions
//! (hash-consing), within one expression and across the expressions of one
//! program: the Hessian–vector product, the gradient and the constraint terms
//! of a node repeat the same subterms, and a tree walk recomputes them.
//!
//! Three back ends run a program and agree bit for bit: [`Tape::run`] here
//! (an interpreter over [`crate::eval::apply`]), the straight-line Rust that
//! `ddnc build` emits (one `apply` call per step), and the Cranelift JIT
//! (`crate::jit`), which compiles elementwise steps to machine code and calls
//! `apply` for the rest. The step is the unit of agreement: each back end
//! performs a step's floating-point operations in the order `apply` does.
//!
//! [`NodeProblem`] runs a smooth node's kernels as the
//! [`crate::smooth::SmoothProblem`] the smooth solvers see.

mod lower;
mod problem;
mod set;

pub use lower::lower;
pub use problem::{initial_point, NodeProblem};
pub use set::{data_exprs, no_kernel, Evaluated, Interpreted, Kernel, KernelId, KernelSet, Kernels};

use crate::diag::Span;
use crate::eval::{apply, Env, EvalError, Op, Tensor};
use crate::ir::Shape;

/// The value of step `k` of a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot(pub u32);

impl Slot {
    /// The step's position in the program.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// `op` applied to the values of `args`; `shape` and `span` are those of the
/// expression it came from (the first one, when several were shared).
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// What the step computes.
    pub op: Op,
    /// Its operands, earlier steps.
    pub args: Vec<Slot>,
    /// The shape of its value.
    pub shape: Shape,
    /// The source it came from, for errors.
    pub span: Span,
}

/// A straight-line program (a tape): steps in evaluation order (each
/// argument an earlier step), and the steps whose values are its outputs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tape {
    /// The steps, in evaluation order.
    pub steps: Vec<Step>,
    /// The steps whose values the program returns, in order.
    pub outputs: Vec<Slot>,
}

impl Tape {
    /// For each step, the last step that reads its value (`None` when only
    /// outputs, or nothing, read it): when a back end may free or reuse it.
    pub fn last_use(&self) -> Vec<Option<usize>> {
        let mut last = vec![None; self.steps.len()];
        for (k, s) in self.steps.iter().enumerate() {
            for a in &s.args {
                last[a.index()] = Some(k);
            }
        }
        last
    }

    /// Which reads may move a value instead of copying it: per step, per
    /// argument, whether it is the value's final read (no later step or later
    /// argument of the same step reads it, and it is not an output); then per
    /// output, whether it is that output's last mention. The interpreter and
    /// the Rust that `ddnc build` emits both follow this one rule.
    pub fn moves(&self) -> (Vec<Vec<bool>>, Vec<bool>) {
        let last = self.last_use();
        let mut is_output = vec![false; self.steps.len()];
        self.outputs.iter().for_each(|o| is_output[o.index()] = true);
        let steps = self
            .steps
            .iter()
            .enumerate()
            .map(|(k, s)| {
                s.args
                    .iter()
                    .enumerate()
                    .map(|(i, a)| last[a.index()] == Some(k) && !s.args[i + 1..].contains(a) && !is_output[a.index()])
                    .collect()
            })
            .collect();
        let outs = &self.outputs;
        let outputs = outs.iter().enumerate().map(|(i, o)| !outs[i + 1..].contains(o)).collect();
        (steps, outputs)
    }

    /// Runs every step in order; the outputs' values.
    pub fn run(&self, env: &Env) -> Result<Vec<Tensor>, EvalError> {
        let (moves, output_moves) = self.moves();
        let mut values: Vec<Option<Tensor>> = vec![None; self.steps.len()];
        for (k, (step, moves)) in self.steps.iter().zip(&moves).enumerate() {
            let args = step
                .args
                .iter()
                .zip(moves)
                .map(|(a, &m)| take_or_clone(&mut values, *a, m, step.span))
                .collect::<Result<_, _>>()?;
            values[k] = Some(apply(&step.op, args, &step.shape.0, step.span, env)?);
        }
        self.outputs.iter().zip(output_moves).map(|(o, m)| take_or_clone(&mut values, *o, m, Span::default())).collect()
    }
}

/// Slot `slot`'s value, moved out when `take`, else copied.
fn take_or_clone(values: &mut [Option<Tensor>], slot: Slot, take: bool, span: Span) -> Result<Tensor, EvalError> {
    let v = if take { values[slot.index()].take() } else { values[slot.index()].clone() };
    v.ok_or_else(|| missing(span))
}

fn missing(span: Span) -> EvalError {
    EvalError { message: "internal: a kernel step read a value it had freed".into(), span }
}
