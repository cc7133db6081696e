//! The Rust functions compiled code calls: the math `apply` uses (so an
//! inlined loop computes the same numbers), the checks `apply` makes, and the
//! fallback that runs `apply` itself for a step.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::layout::Layout;
use crate::atoms::Atom;
use crate::eval::{apply, scalar, Env, EvalError, Op};
use crate::ir::Arith;
use crate::kernel::Program;

/// What one call of a compiled function reads besides the arena.
pub(super) struct Call<'a> {
    pub program: &'a Program,
    pub layout: &'a Layout,
    pub env: &'a Env<'a>,
    /// Why a shim returned a nonzero status.
    pub failure: RefCell<Option<Failure>>,
}

pub(super) enum Failure {
    /// `apply`'s error for the step.
    Eval(EvalError),
    /// `apply` returned a value of another shape than the dry run's: the
    /// wrapper runs the interpreter instead.
    Shape,
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
pub(super) const STATUS: [(&str, StatusFn); 2] = [("ddn_jit_step", step), ("ddn_jit_check", check)];

/// Runs `apply` for step `step` on the arena's values and stores the result.
///
/// # Safety
/// `call` points to a live [`Call`] and `arena` to its layout's arena, which
/// nothing else reads or writes during the call.
unsafe extern "C" fn step(call: *const Call<'static>, arena: *mut f64, step: i64) -> i32 {
    guarded(call, arena, step, fallback)
}

/// `apply`'s precondition for step `step` (its domain, or for a quotient
/// already computed, division by zero); when it fails, `apply` itself is run
/// for the step, which reports the error.
///
/// # Safety
/// As for [`step`].
unsafe extern "C" fn check(call: *const Call<'static>, arena: *mut f64, step: i64) -> i32 {
    guarded(call, arena, step, |c, arena, k| if violated(c, arena, k) { fallback(c, arena, k) } else { Ok(()) })
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
    let args = s.args.iter().map(|a| call.layout.tensor(arena, a.index())).collect();
    let value = apply(&s.op, args, &s.shape.0, s.span, call.env).map_err(Failure::Eval)?;
    if value.shape != call.layout.shapes[k] || value.len() != call.layout.len(k) {
        return Err(Failure::Shape);
    }
    arena[call.layout.range(k)].copy_from_slice(&value.data);
    Ok(())
}

/// Whether `apply` rejects step `k`: its predicates, on the same values.
fn violated(call: &Call, arena: &[f64], k: usize) -> bool {
    let s = &call.program.steps[k];
    let arg = |i: usize| &arena[call.layout.range(s.args[i].index())];
    let min_over = |t: &[f64]| t.iter().copied().fold(f64::INFINITY, f64::min);
    let in_domain = match &s.op {
        Op::Binary(Arith::Div) => {
            return arena[call.layout.range(k)].iter().any(|v| !v.is_finite()) && arg(1).contains(&0.0);
        }
        Op::Pow(p) => {
            let int = p.fract() == 0.0;
            return (!int && arg(0).iter().any(|&x| x < 0.0)) || (*p < 0.0 && arg(0).contains(&0.0));
        }
        Op::Atom { atom: Atom::Log | Atom::InvPos, .. } => min_over(arg(0)) > 0.0,
        Op::Atom { atom: Atom::Sqrt | Atom::Xlogx | Atom::Entr, .. } => min_over(arg(0)) >= 0.0,
        Op::Atom { atom: Atom::KlDiv, .. } => min_over(arg(0)) >= 0.0 && min_over(arg(1)) > 0.0,
        Op::Atom { atom: Atom::Huber, .. } => {
            let m = s.args.get(1).map(|a| &arena[call.layout.range(a.index())]);
            m.and_then(|m| (m.len() == 1).then(|| m[0])).unwrap_or(1.0) >= 0.0
        }
        _ => true,
    };
    !in_domain
}
