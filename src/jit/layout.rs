//! The arena: every step's value at an offset fixed at compile time.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::JitError;
use crate::eval::{apply, concrete, Env, Op, Tensor};
use crate::kernel::Tape;

/// Where each step's value lives, and what is known before the call.
///
/// Inputs (parameters, variables, symbols) are read where the caller keeps
/// them, through a table of pointers passed with each call (their number in
/// [`Layout::input`]), not copied into the arena: a data matrix would otherwise
/// be copied once per kernel call. Their arena entries stay unused.
///
/// Shapes come from a dry run of [`apply`] on inputs of the declared shapes
/// (filled with ones), so they are `apply`'s own. A step that reads no input
/// (a literal, a dimension size, `ones`, arithmetic on those) has its dry-run
/// value already: it is folded into [`Layout::template`] and never recomputed.
pub(super) struct Layout {
    pub shapes: Vec<Vec<usize>>,
    pub offsets: Vec<usize>,
    /// Per step: its place in the call's table of inputs, if it is one.
    pub input: Vec<Option<usize>>,
    /// Known before the call: an input or a folded constant.
    pub ready: Vec<bool>,
    /// The arena as each call starts: folded constants in place, zeros elsewhere.
    pub template: Vec<f64>,
}

impl Layout {
    pub fn new(program: &Tape, dims: &[usize]) -> Result<Layout, JitError> {
        let env = Env { params: &[], vars: &[], dims, syms: &[] };
        let mut values: Vec<Tensor> = Vec::with_capacity(program.steps.len());
        let mut folded = Vec::with_capacity(program.steps.len());
        for step in &program.steps {
            let input = is_input(&step.op);
            let value = if input {
                Tensor::filled(concrete(&step.shape, dims), 1.0)
            } else {
                let args = step.args.iter().map(|a| values[a.index()].clone()).collect();
                // A step that fails (or panics) here fails at run time too, in the interpreter.
                catch_unwind(AssertUnwindSafe(|| apply(&step.op, args, &step.shape.0, step.span, &env)))
                    .map_err(|_| JitError("a step panics on inputs of ones".into()))?
                    .map_err(|e| JitError(format!("a step fails on inputs of ones: {}", e.message)))?
            };
            folded.push(!input && step.args.iter().all(|a| folded[a.index()]));
            values.push(value);
        }
        let mut offsets = Vec::with_capacity(values.len());
        let mut size = 0;
        for v in &values {
            offsets.push(size);
            size += v.len();
        }
        let mut template = vec![0.0; size];
        for (k, v) in values.iter().enumerate() {
            if folded[k] {
                template[offsets[k]..offsets[k] + v.len()].copy_from_slice(&v.data);
            }
        }
        let ready = program.steps.iter().zip(&folded).map(|(s, &f)| f || is_input(&s.op)).collect();
        let input =
            program.steps.iter().scan(0, |q, s| Some(is_input(&s.op).then(|| std::mem::replace(q, *q + 1)))).collect();
        Ok(Layout { shapes: values.into_iter().map(|v| v.shape).collect(), offsets, input, ready, template })
    }

    /// The number of entries of step `k`'s value.
    pub fn len(&self, k: usize) -> usize {
        self.shapes[k].iter().product()
    }

    /// Step `k`'s entries in `arena`.
    pub fn range(&self, k: usize) -> std::ops::Range<usize> {
        self.offsets[k]..self.offsets[k] + self.len(k)
    }

    /// Step `k`'s entries: in `arena`, or the caller's for an input.
    pub fn slice<'a>(&self, arena: &'a [f64], inputs: &[&'a [f64]], k: usize) -> &'a [f64] {
        match self.input[k] {
            Some(q) => inputs[q],
            None => &arena[self.range(k)],
        }
    }

    /// Step `k`'s value (see [`Layout::slice`]).
    pub fn tensor(&self, arena: &[f64], inputs: &[&[f64]], k: usize) -> Tensor {
        Tensor { shape: self.shapes[k].clone(), data: self.slice(arena, inputs, k).to_vec() }
    }
}

pub(super) fn is_input(op: &Op) -> bool {
    matches!(op, Op::Param(_) | Op::Var(_) | Op::Sym { .. })
}
