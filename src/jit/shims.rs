//! The Rust functions compiled code calls: the math `apply` uses (so an
//! inlined loop computes the same numbers), and the fallback that runs
//! `apply` itself for a step.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::layout::Layout;
use super::program::clean_upper_state;
use crate::atoms::Atom;
use crate::eval::{apply, diag_into, matmul_into, same_shape, scalar, Env, Op};
use crate::kernel::Tape;

/// What one call of a compiled function reads besides the arena.
pub(super) struct Call<'a> {
    pub program: &'a Tape,
    pub layout: &'a Layout,
    pub env: &'a Env<'a>,
    /// The inputs' entries, in [`Layout::input`]'s order.
    pub inputs: &'a [&'a [f64]],
    /// Why a shim returned a nonzero status.
    pub failure: RefCell<Option<Failure>>,
}

pub(super) enum Failure {
    /// `apply` failed, or returned a value of another shape than the dry
    /// run's: the wrapper runs the interpreter instead.
    Step,
    Panic(Box<dyn Any + Send>),
}

// Each is the function `eval::apply` maps over a tensor (the atoms' own in `eval::scalar`).
extern "C" fn exp(x: f64) -> f64 {
    x.exp()
}
extern "C" fn ln(x: f64) -> f64 {
    x.ln()
}
extern "C" fn sin(x: f64) -> f64 {
    x.sin()
}
extern "C" fn cos(x: f64) -> f64 {
    x.cos()
}
extern "C" fn tanh(x: f64) -> f64 {
    x.tanh()
}
extern "C" fn sigmoid(x: f64) -> f64 {
    scalar::sigmoid(x)
}
extern "C" fn logistic(x: f64) -> f64 {
    scalar::logistic(x)
}
extern "C" fn xlogx_c(x: f64) -> f64 {
    scalar::xlogx(x)
}
extern "C" fn entr(x: f64) -> f64 {
    -scalar::xlogx(x)
}
extern "C" fn powf(x: f64, p: f64) -> f64 {
    x.powf(p)
}
extern "C" fn kl_div(x: f64, y: f64) -> f64 {
    scalar::kl_div(x, y)
}

/// The `f64 → f64` shims, by the name [`super::plan::Unary::Call`] gives.
pub(super) const UNARY: [(&str, extern "C" fn(f64) -> f64); 9] = [
    ("exp", exp),
    ("ln", ln),
    ("sin", sin),
    ("cos", cos),
    ("tanh", tanh),
    ("sigmoid", sigmoid),
    ("logistic", logistic),
    ("xlogx", xlogx_c),
    ("entr", entr),
];

/// The `(f64, f64) → f64` shims.
pub(super) const BINARY: [(&str, extern "C" fn(f64, f64) -> f64); 2] = [("powf", powf), ("kl_div", kl_div)];

/// The status shims, `(call, arena, step) → 0 | step + 1`.
pub(super) type StatusFn = unsafe extern "C" fn(*const Call<'static>, *mut f64, i64) -> i32;
pub(super) const STATUS: [(&str, StatusFn); 1] = [("ddn_jit_step", step)];

/// Runs `apply` for step `step` on the arena's values and stores the result.
///
/// # Safety
/// `call` points to a live [`Call`] and `arena` to its layout's arena, which
/// nothing else reads or writes during the call.
unsafe extern "C" fn step(call: *const Call<'static>, arena: *mut f64, step: i64) -> i32 {
    let status = guarded(call, arena, step, fallback);
    // `apply` may have run AVX-512 code (faer's products) that leaves the
    // upper halves dirty; the compiled code resumes after this return.
    clean_upper_state();
    status
}

/// Runs `f`, turning its failure (or panic) into the step's status.
unsafe fn guarded(
    call: *const Call<'static>,
    arena: *mut f64,
    step: i64,
    f: impl FnOnce(&Call, &mut [f64], usize) -> Result<(), Failure>,
) -> i32 {
    // SAFETY: the caller's contract (see `step`).
    let call = unsafe { &*call };
    let arena = unsafe { std::slice::from_raw_parts_mut(arena, call.layout.template.len()) };
    let k = step as usize;
    let failure = match catch_unwind(AssertUnwindSafe(|| f(call, arena, k))) {
        Ok(Ok(())) => return 0,
        Ok(Err(failure)) => failure,
        Err(panic) => Failure::Panic(panic),
    };
    *call.failure.borrow_mut() = Some(failure);
    k as i32 + 1
}

fn fallback(call: &Call, arena: &mut [f64], k: usize) -> Result<(), Failure> {
    let s = &call.program.steps[k];
    let arg = |i: usize| s.args.get(i).map(|a| a.index());
    let shapes = &call.layout.shapes;
    // `apply`'s own arithmetic, from the arena's entries into the step's own:
    // no tensors built, no tree walked.
    match (&s.op, arg(0), arg(1)) {
        (Op::MatMul, Some(a), Some(b)) => {
            return in_arena(call, arena, k, |value, read| {
                matmul_into(value, read(a), &shapes[a], read(b), &shapes[b]).ok_or(Failure::Step)
            });
        }
        // A separable Hessian's diagonal block (`symbolic::hessian`).
        (Op::Atom { atom: Atom::Diag, .. }, Some(v), _) if shapes[v].len() == 1 => {
            return in_arena(call, arena, k, |value, read| diag_into(value, read(v)).ok_or(Failure::Step));
        }
        _ => {}
    }
    let args = s.args.iter().map(|a| call.layout.tensor(arena, call.inputs, a.index())).collect();
    let value = apply(&s.op, args, &s.shape.0, s.span, call.env).map_err(|_| Failure::Step)?;
    if !same_shape(&value.shape, &call.layout.shapes[k]) || value.len() != call.layout.len(k) {
        return Err(Failure::Step);
    }
    arena[call.layout.range(k)].copy_from_slice(&value.data);
    Ok(())
}

/// Runs `f` on step `k`'s entries in the arena and a reader of any other
/// slot's (an input's in place, or the arena's: a step never reads its own
/// value, so the ranges are disjoint).
fn in_arena<'a>(
    call: &'a Call,
    arena: &'a mut [f64],
    k: usize,
    f: impl FnOnce(&mut [f64], &dyn Fn(usize) -> &'a [f64]) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let layout = call.layout;
    let out = layout.range(k);
    let (before, rest) = arena.split_at_mut(out.start);
    let (value, after) = rest.split_at_mut(out.len());
    let (before, after) = (&*before, &*after);
    let read = |slot: usize| -> &'a [f64] {
        match layout.input[slot] {
            Some(q) => call.inputs[q],
            None if layout.range(slot).end <= out.start => &before[layout.range(slot)],
            None => &after[layout.range(slot).start - out.end..layout.range(slot).end - out.end],
        }
    };
    f(value, &read)
}
