//! Which steps become loops, and which loops: the one place that reads an
//! [`Op`] the way [`crate::eval::apply`] does.

use super::layout::Layout;
use crate::atoms::Atom;
use crate::eval::{broadcast_shape, Op};
use crate::ir::Arith;
use crate::kernel::Step;

/// `f(x)` per entry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Unary {
    Copy,
    Neg,
    /// `x * x` (`square`, and `x ^ 2`, which [`crate::eval::pow`] computes so).
    Square,
    /// `(x * x) * x` (`x ^ 3`, as [`crate::eval::pow`] computes it).
    Cube,
    Abs,
    /// `x.max(0.0)`.
    Pos,
    Sign,
    Step,
    Sqrt,
    /// `1.0 / x` (`inv_pos`).
    Recip,
    /// A Rust shim by name (see `shims::UNARY`).
    Call(&'static str),
    /// `x.powf(p)`, through a shim.
    Powf(f64),
}

/// `f(a, b)` per entry of the broadcast shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    /// `f64::max` / `f64::min`: NaN loses; equal values give the first.
    Max,
    Min,
    /// `1.0` where `a >= b`, else `0.0`.
    Ge,
    /// `huber(a, M = b)`: `a * a` where `|a| <= M`, else `2 M |a| - M²`.
    Huber,
    /// A Rust shim by name (see `shims::BINARY`).
    Call(&'static str),
}

/// `acc = f(acc, x)` over a reduction's entries, in order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Fold {
    Add,
    AddSquare,
    AddAbs,
    Max,
    Min,
    MaxAbs,
}

/// What happens to each folded value before it is stored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Post {
    None,
    /// `mean`: the sum over the count.
    Div(f64),
    /// `norm`: the square root of the sum of squares.
    Sqrt,
}

/// A step's argument as a loop reads it: at output position `(i, j)` (or
/// fold position `(outer, inner)`), entry `i * s0 + j * s1` of step `slot`.
/// A broadcast axis has stride 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Operand {
    pub slot: usize,
    pub s0: usize,
    pub s1: usize,
}

/// `apply`'s domain check of a step, as a predicate per entry of its
/// operands: an entry that fails it (for a quotient, a zero divisor, without
/// which `apply` never refuses one) flags the call, which then runs the
/// interpreter instead, so the error (if any) is `apply`'s own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Check {
    None,
    /// `x < 0` (`sqrt`, `xlogx`, `entr`: `apply` wants the minimum `>= 0`).
    Negative,
    /// `x <= 0` (`log`, `inv_pos`).
    NonPositive,
    /// `b == 0` in `a / b`.
    ZeroDivisor,
    /// `x ^ p`: `x < 0` for a fractional `p`, `x == 0` for a negative one.
    Pow(f64),
    /// `huber(x, M)`: `!(M >= 0)`.
    HuberM,
    /// `kl_div(x, y)`: `x < 0` or `y <= 0`.
    KlDiv,
}

/// How one step is computed.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Plan {
    /// In the arena before the call (an input or a folded constant).
    Ready,
    /// `out[i, j] = f(x)` over a `rows × cols` output.
    Map {
        f: Unary,
        x: Operand,
        rows: usize,
        cols: usize,
        check: Check,
    },
    Zip {
        f: Binary,
        a: Operand,
        b: Operand,
        rows: usize,
        cols: usize,
        check: Check,
    },
    /// `out[o] = post(fold(start, x[o, 0..inner]))` for `o < outer`.
    Fold {
        f: Fold,
        start: f64,
        x: Operand,
        outer: usize,
        inner: usize,
        post: Post,
    },
    /// `apply`, called through the fallback shim.
    Fallback,
}

/// The start of `Iterator::sum` for `f64` (`-0.0` in current Rust), which
/// `sum_squares`, `norm` and `norm1` use; `sum` and `mean` fold from `0.0`.
fn sum_start() -> f64 {
    std::iter::empty::<f64>().sum()
}

/// A shape as `(rows, cols)` of a row-major loop (a vector is one row).
fn rows_cols(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (1, *n),
        [m, n] => (*m, *n),
        _ => (shape.iter().product(), 1),
    }
}

/// The strides reading a tensor of shape `from` broadcast to `to` (rank ≤ 2):
/// numpy's rule as [`crate::eval::broadcast_index`] applies it.
fn broadcast(slot: usize, from: &[usize], to: &[usize]) -> Option<Operand> {
    if from.len() > 2 || to.len() > 2 || from.len() > to.len() {
        return None;
    }
    let mut f = vec![1; 2 - from.len()];
    f.extend_from_slice(from);
    let s1 = if f[1] == 1 { 0 } else { 1 };
    let s0 = if f[0] == 1 { 0 } else { f[1] };
    Some(Operand { slot, s0, s1 })
}

/// `eval::unbroadcast` of `from` to `to` (rank ≤ 2): each entry of `to` the
/// sum, from 0.0 in row-major order, of the entries of `from` broadcast to it.
fn sum_to(c: usize, from: &[usize], to: &[usize]) -> Plan {
    let pad = |s: &[usize]| -> Option<[usize; 2]> {
        match *s {
            [] => Some([1, 1]),
            [n] => Some([1, n]),
            [m, n] => Some([m, n]),
            _ => None,
        }
    };
    let (Some([f0, f1]), Some([t0, t1])) = (pad(from), pad(to)) else { return Plan::Fallback };
    if (t0 != f0 && t0 != 1) || (t1 != f1 && t1 != 1) {
        return Plan::Fallback;
    }
    if from == to {
        return Plan::Map {
            f: Unary::Copy,
            x: Operand { slot: c, s0: f1, s1: 1 },
            rows: f0,
            cols: f1,
            check: Check::None,
        };
    }
    let fold = |x: Operand, outer: usize, inner: usize| Plan::Fold {
        f: Fold::Add,
        start: 0.0,
        x,
        outer,
        inner,
        post: Post::None,
    };
    match (t0 != f0, t1 != f1) {
        // Only the rank differs: still `0.0 + v` per entry.
        (false, false) => fold(Operand { slot: c, s0: 1, s1: 0 }, f0 * f1, 1),
        (true, true) => fold(Operand { slot: c, s0: 0, s1: 1 }, 1, f0 * f1),
        (true, false) => fold(Operand { slot: c, s0: 1, s1: f1 }, f1, f0),
        (false, true) => fold(Operand { slot: c, s0: f1, s1: 1 }, f0, f1),
    }
}

/// The plan of step `k`.
pub(super) fn plan(k: usize, step: &Step, layout: &Layout) -> Plan {
    if layout.ready[k] {
        return Plan::Ready;
    }
    let arg = |i: usize| step.args.get(i).map(|a| a.index());
    let out = &layout.shapes[k];
    let (rows, cols) = rows_cols(out);
    let map = |f: Unary, check: Check| match arg(0) {
        Some(x) if step.args.len() == 1 && layout.shapes[x] == *out => {
            Plan::Map { f, x: Operand { slot: x, s0: cols, s1: 1 }, rows, cols, check }
        }
        _ => Plan::Fallback,
    };
    let zip = |f: Binary, check: Check| {
        let (Some(a), Some(b)) = (arg(0), arg(1)) else { return Plan::Fallback };
        if step.args.len() != 2 || broadcast_shape(&layout.shapes[a], &layout.shapes[b]).as_ref() != Some(out) {
            return Plan::Fallback;
        }
        match (broadcast(a, &layout.shapes[a], out), broadcast(b, &layout.shapes[b], out)) {
            (Some(a), Some(b)) => Plan::Zip { f, a, b, rows, cols, check },
            _ => Plan::Fallback,
        }
    };
    // `reduce`: along an axis of a matrix, or over everything.
    let fold = |f: Fold, start: f64, axis: Option<u8>, post: Post| {
        let Some(x) = arg(0) else { return Plan::Fallback };
        let (x, outer, inner) = match (axis, layout.shapes[x].as_slice()) {
            (Some(0), &[m, n]) => (Operand { slot: x, s0: 1, s1: n }, n, m),
            (Some(_), &[m, n]) => (Operand { slot: x, s0: n, s1: 1 }, m, n),
            _ => (Operand { slot: x, s0: 0, s1: 1 }, 1, layout.len(x)),
        };
        if layout.len(k) != outer {
            return Plan::Fallback;
        }
        Plan::Fold { f, start, x, outer, inner, post }
    };
    match &step.op {
        Op::Neg => map(Unary::Neg, Check::None),
        Op::Binary(op) => match op {
            Arith::Add => zip(Binary::Add, Check::None),
            Arith::Sub => zip(Binary::Sub, Check::None),
            Arith::Mul => zip(Binary::Mul, Check::None),
            Arith::Div => zip(Binary::Div, Check::ZeroDivisor),
        },
        Op::Pow(p) if *p == 2.0 => map(Unary::Square, Check::None),
        Op::Pow(p) if *p == 3.0 => map(Unary::Cube, Check::None),
        Op::Pow(p) => map(Unary::Powf(*p), Check::Pow(*p)),
        Op::Transpose => match (arg(0), out.as_slice()) {
            (Some(x), &[m, n]) => {
                Plan::Map { f: Unary::Copy, x: Operand { slot: x, s0: 1, s1: m }, rows: m, cols: n, check: Check::None }
            }
            _ => map(Unary::Copy, Check::None),
        },
        Op::Atom { atom, axis } => match atom {
            Atom::Square => map(Unary::Square, Check::None),
            Atom::Abs => map(Unary::Abs, Check::None),
            Atom::Pos => map(Unary::Pos, Check::None),
            Atom::Sign => map(Unary::Sign, Check::None),
            Atom::Step => map(Unary::Step, Check::None),
            Atom::Sqrt => map(Unary::Sqrt, Check::Negative),
            Atom::InvPos => map(Unary::Recip, Check::NonPositive),
            Atom::Exp => map(Unary::Call("exp"), Check::None),
            Atom::Log => map(Unary::Call("ln"), Check::NonPositive),
            Atom::Sin => map(Unary::Call("sin"), Check::None),
            Atom::Cos => map(Unary::Call("cos"), Check::None),
            Atom::Tanh => map(Unary::Call("tanh"), Check::None),
            Atom::Sigmoid => map(Unary::Call("sigmoid"), Check::None),
            Atom::Logistic => map(Unary::Call("logistic"), Check::None),
            Atom::Xlogx => map(Unary::Call("xlogx"), Check::Negative),
            Atom::Entr => map(Unary::Call("entr"), Check::Negative),
            Atom::Maximum => zip(Binary::Max, Check::None),
            Atom::Minimum => zip(Binary::Min, Check::None),
            Atom::Ge => zip(Binary::Ge, Check::None),
            Atom::KlDiv => zip(Binary::Call("kl_div"), Check::KlDiv),
            // With its threshold given (a scalar); without one `apply` takes M = 1.
            Atom::Huber => match (arg(0), arg(1)) {
                (Some(x), Some(m)) if step.args.len() == 2 && layout.len(m) == 1 && layout.shapes[x] == *out => {
                    Plan::Zip {
                        f: Binary::Huber,
                        a: Operand { slot: x, s0: cols, s1: 1 },
                        b: Operand { slot: m, s0: 0, s1: 0 },
                        rows,
                        cols,
                        check: Check::HuberM,
                    }
                }
                _ => Plan::Fallback,
            },
            Atom::Sum => fold(Fold::Add, 0.0, *axis, Post::None),
            Atom::Mean => {
                let len = arg(0).map_or(0, |x| layout.len(x));
                let count = (len / layout.len(k).max(1)).max(1) as f64;
                fold(Fold::Add, 0.0, *axis, Post::Div(count))
            }
            Atom::Max => fold(Fold::Max, f64::NEG_INFINITY, *axis, Post::None),
            Atom::Min => fold(Fold::Min, f64::INFINITY, *axis, Post::None),
            Atom::SumSquares => fold(Fold::AddSquare, sum_start(), None, Post::None),
            Atom::Norm => fold(Fold::AddSquare, sum_start(), None, Post::Sqrt),
            Atom::Norm1 => fold(Fold::AddAbs, sum_start(), None, Post::None),
            Atom::NormInf => fold(Fold::MaxAbs, 0.0, None, Post::None),
            // `(0..m).map(|i| t.at(i, i)).sum()` of a matrix.
            Atom::Trace => match arg(0).map(|x| (x, layout.shapes[x].as_slice())) {
                Some((x, &[m, n])) if m <= n => Plan::Fold {
                    f: Fold::Add,
                    start: sum_start(),
                    x: Operand { slot: x, s0: 0, s1: n + 1 },
                    outer: 1,
                    inner: m,
                    post: Post::None,
                },
                _ => Plan::Fallback,
            },
            // `a[i] * b[j]`.
            Atom::Outer => match (arg(0), arg(1), out.as_slice()) {
                (Some(a), Some(b), &[m, n]) if layout.len(a) == m && layout.len(b) == n => Plan::Zip {
                    f: Binary::Mul,
                    a: Operand { slot: a, s0: 1, s1: 0 },
                    b: Operand { slot: b, s0: 0, s1: 1 },
                    rows: m,
                    cols: n,
                    check: Check::None,
                },
                _ => Plan::Fallback,
            },
            // `eval::spread`: along axis 1 each row takes its entry; otherwise broadcasting.
            Atom::Spread => match (arg(0), axis, out.as_slice()) {
                (Some(c), Some(1), &[m, n]) if layout.len(c) == m => Plan::Map {
                    f: Unary::Copy,
                    x: Operand { slot: c, s0: 1, s1: 0 },
                    rows: m,
                    cols: n,
                    check: Check::None,
                },
                (Some(c), _, _) if broadcast_shape(&layout.shapes[c], out).as_ref() == Some(out) => {
                    match broadcast(c, &layout.shapes[c], out) {
                        Some(x) => Plan::Map { f: Unary::Copy, x, rows, cols, check: Check::None },
                        None => Plan::Fallback,
                    }
                }
                _ => Plan::Fallback,
            },
            Atom::SumTo => arg(0).map_or(Plan::Fallback, |c| sum_to(c, &layout.shapes[c], out)),
            // `diag` of one entry is that entry (a separable Hessian's block for a
            // variable of length 1); a longer one's zeros off the diagonal are no
            // strided loop, so it stays with the fallback (`eval::diag_into`).
            Atom::Diag => match (arg(0), out.as_slice()) {
                (Some(v), &[1, 1]) if layout.len(v) == 1 => Plan::Map {
                    f: Unary::Copy,
                    x: Operand { slot: v, s0: 0, s1: 0 },
                    rows: 1,
                    cols: 1,
                    check: Check::None,
                },
                _ => Plan::Fallback,
            },
            _ => Plan::Fallback,
        },
        _ => Plan::Fallback,
    }
}
