//! The reference evaluator: computes a checked expression's value over dense
//! tensors, given parameter values, variable values and dimension sizes.
//!
//! Everything numeric downstream (canonicalisation's parameter maps, the smooth
//! solvers, the JIT's reference) agrees with this module. Values outside an
//! atom's domain (`log` of a negative number) are errors naming the expression,
//! never a silent NaN.

mod op;
mod spectral;
mod tensor;
mod vjp;

pub use tensor::{
    broadcast_data, broadcast_index, broadcast_indices, broadcast_shape, matmul_dims, overwrite_tensors, same_shape,
    unbroadcast_data, Tensor,
};
pub use vjp::{broadcast_to, unbroadcast, vjp, Grads};

use faer::MatRef;

use crate::atoms::Atom;
use crate::diag::Span;
use crate::ir::{Arith, Dim, Expr, Sel};
pub use op::Op;

/// What names stand for during one evaluation.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// One value per parameter, in declaration order.
    pub params: &'a [Tensor],
    /// One value per variable (may be empty when evaluating data only).
    pub vars: &'a [Tensor],
    /// The size of each dimension name.
    pub dims: &'a [usize],
    /// One value per symbolic input (`ExprKind::Sym`) of derived expressions;
    /// empty for the node's own expressions.
    pub syms: &'a [Tensor],
}

/// A node's parameter values in declaration order, and the size of every dimension
/// name: what [`crate::runtime::bind`] returns once every check holds, and what
/// each evaluation of the node's data starts from.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    /// The parameters' values, in declaration order.
    pub params: Vec<Tensor>,
    /// Each dimension name's size, indexed by `DimId`.
    pub dims: Vec<usize>,
}

/// Why an expression has no value.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    /// Why, for the user.
    pub message: String,
    /// The expression that has no value.
    pub span: Span,
}

type Res = Result<Tensor, EvalError>;

fn fail(span: Span, message: impl Into<String>) -> EvalError {
    EvalError { message: message.into(), span }
}

/// The concrete shape of `s` with dimension names replaced by their sizes.
pub fn concrete(s: &(impl AsRef<[Dim]> + ?Sized), dims: &[usize]) -> Vec<usize> {
    s.as_ref()
        .iter()
        .map(|d| match d {
            Dim::Fixed(v) => *v as usize,
            Dim::Named(id) => dims.get(id.0 as usize).copied().unwrap_or(0),
        })
        .collect()
}

/// Evaluates `e` in `env`: its children first, then [`apply`] to their values.
pub fn eval(e: &Expr, env: &Env) -> Res {
    let args = e.children().into_iter().map(|c| eval(c, env)).collect::<Result<Vec<_>, _>>()?;
    apply(&Op::of(&e.kind), args, &e.shape.0, e.span, env)
}

/// One step of evaluation, with the children's values replaced by `args`: the
/// primitive the tree walk above, kernel programs ([`crate::kernel`]), generated
/// modules and the JIT's fallback all call, so they agree bit for bit.
/// `shape` and `span` are the expression's (atoms that build tensors need the
/// shape; errors name the span).
pub fn apply(op: &Op, args: Vec<Tensor>, shape: &[Dim], span: Span, env: &Env) -> Res {
    let mut args = args.into_iter();
    let mut next = || args.next().ok_or_else(|| fail(span, "internal: an operation is missing an argument"));
    match op {
        Op::Const(c) => Ok(Tensor::scalar(*c)),
        Op::Dim(d) => Ok(Tensor::scalar(env.dims.get(d.0 as usize).copied().unwrap_or(0) as f64)),
        Op::Param(p) => env.params.get(p.0 as usize).cloned().ok_or_else(|| fail(span, "parameter has no value")),
        Op::Var(v) => env.vars.get(v.0 as usize).cloned().ok_or_else(|| fail(span, "variable has no value")),
        Op::Sym { id, name } => {
            env.syms.get(id.0 as usize).cloned().ok_or_else(|| fail(span, format!("`{name}` has no value")))
        }
        Op::Neg => Ok(map(next()?, |x| -x)),
        Op::Binary(op) => {
            let (a, b) = (next()?, next()?);
            // One monomorphised loop per operation (not a function pointer per entry).
            let out = match op {
                Arith::Add => zip(&a, &b, |x, y| x + y),
                Arith::Sub => zip(&a, &b, |x, y| x - y),
                Arith::Mul => zip(&a, &b, |x, y| x * y),
                Arith::Div => zip(&a, &b, |x, y| x / y),
            }
            .ok_or_else(|| fail(span, "shapes do not broadcast at run time"))?;
            if *op == Arith::Div && out.data.iter().any(|v| !v.is_finite()) && b.data.contains(&0.0) {
                return Err(fail(span, "division by zero"));
            }
            Ok(out)
        }
        Op::Pow(p) => {
            let b = next()?;
            let p = *p;
            let int = p.fract() == 0.0;
            if (!int && b.data.iter().any(|&x| x < 0.0)) || (p < 0.0 && b.data.contains(&0.0)) {
                return Err(fail(span, format!("x^{p} is undefined here: x is out of its domain")));
            }
            Ok(map(b, |x| pow(x, p)))
        }
        Op::MatMul => {
            let (a, b) = (next()?, next()?);
            matmul(&a, &b).ok_or_else(|| fail(span, "inner dimensions differ at run time"))
        }
        Op::Transpose => Ok(transpose(next()?)),
        Op::Index(sel) => index(&next()?, sel).ok_or_else(|| fail(span, "index out of range at run time")),
        Op::Atom { atom, axis } => {
            let vals: Vec<Tensor> = args.collect();
            atom_value(*atom, &vals, *axis, concrete(shape, env.dims), span)
        }
    }
}

/// `x ^ p` as every evaluation path computes it: a square is one product, a
/// cube two (`(x * x) * x`, within an ulp of `powf` and a tenth of its cost:
/// `sqrt(..)^3` is in every pseudo-Huber Hessian); other powers by `powf`.
pub fn pow(x: f64, p: f64) -> f64 {
    if p == 2.0 {
        x * x
    } else if p == 3.0 {
        x * x * x
    } else {
        x.powf(p)
    }
}

fn map(mut t: Tensor, f: impl Fn(f64) -> f64) -> Tensor {
    t.data.iter_mut().for_each(|x| *x = f(*x));
    t
}

/// Elementwise `f` with numpy broadcasting.
pub fn zip(a: &Tensor, b: &Tensor, f: impl Fn(f64, f64) -> f64) -> Option<Tensor> {
    if a.shape == b.shape {
        let data = a.data.iter().zip(&b.data).map(|(x, y)| f(*x, *y)).collect();
        return Some(Tensor { shape: a.shape.clone(), data });
    }
    let shape = broadcast_shape(&a.shape, &b.shape)?;
    let len: usize = shape.iter().product();
    // A side as long as the result is not expanded (broadcasting only repeats
    // axes of length 1), so its entries are in the result's order. The common
    // cases get plain loops: the other side a scalar, or one row repeated down
    // a matrix (`x - y` with x: [n, d], y: [d]).
    let row = |t: &Tensor| shape.len() == 2 && t.len() == shape[1] && t.shape.last() == shape.last();
    let data = match (a.len() == len, b.len() == len) {
        (true, _) if b.len() == 1 => a.data.iter().map(|&x| f(x, b.data[0])).collect(),
        (_, true) if a.len() == 1 => b.data.iter().map(|&y| f(a.data[0], y)).collect(),
        (true, _) if row(b) && len > 0 => {
            a.data.chunks(shape[1]).flat_map(|r| r.iter().zip(&b.data).map(|(&x, &y)| f(x, y))).collect()
        }
        (_, true) if row(a) && len > 0 => {
            b.data.chunks(shape[1]).flat_map(|r| a.data.iter().zip(r).map(|(&x, &y)| f(x, y))).collect()
        }
        _ => broadcast_indices(&a.shape, &shape)
            .zip(broadcast_indices(&b.shape, &shape))
            .map(|(i, j)| f(a.data[i], b.data[j]))
            .collect(),
    };
    Some(Tensor { shape, data })
}

/// numpy `@` for ranks 1 and 2 (vector · vector is the dot product).
pub fn matmul(a: &Tensor, b: &Tensor) -> Option<Tensor> {
    matmul_slices(&a.data, &a.shape, &b.data, &b.shape)
}

/// [`matmul`] of row-major entries of the given shapes, read in place (the
/// JIT's arena): the same faer product on the same views.
pub fn matmul_slices(a: &[f64], a_shape: &[usize], b: &[f64], b_shape: &[usize]) -> Option<Tensor> {
    let (m, _, n, shape) = matmul_dims(a_shape, b_shape)?;
    let mut data = vec![0.0; m * n];
    matmul_into(&mut data, a, a_shape, b, b_shape)?;
    Some(Tensor { shape, data })
}

/// `out = diag(v)`: the `n × n` matrix (row-major, `n = v.len()`) with `v` on
/// its diagonal and zeros elsewhere; `diag` of a vector, written where its
/// value lives (the JIT's fallback writes into its arena, so a separable
/// Hessian's diagonal costs no tensor). `None` unless `out` has `n²` entries.
pub fn diag_into(out: &mut [f64], v: &[f64]) -> Option<()> {
    let n = v.len();
    if out.len() != n * n {
        return None;
    }
    out.fill(0.0);
    v.iter().enumerate().for_each(|(i, x)| out[i * n + i] = *x);
    Some(())
}

/// `out = a @ b` for row-major entries of the given shapes, `out` row-major
/// too (its `m·n` entries overwritten); `None` when the shapes do not fit.
///
/// The product is written where its value lives (no matrix allocated, none
/// copied), and a row-major destination lets faer take `(a b)ᵀ = bᵀ aᵀ`: `bᵀ`
/// is column-major when `b` is row-major, so faer reads it in place where a
/// column-major destination made it copy (pack) the row-major `a` for every
/// product (a third of the pooling Hessian's `16 × 1024 · 1024 × 16`). Every
/// entry is the same sum, in the same order, either way: each is one
/// accumulator over `k` in faer's blocks (`b[k, j]·a[i, k]` and `a[i, k]·b[k, j]`
/// round alike).
pub fn matmul_into(out: &mut [f64], a: &[f64], a_shape: &[usize], b: &[f64], b_shape: &[usize]) -> Option<()> {
    let (m, k, n, _) = matmul_dims(a_shape, b_shape)?;
    if a.len() != m * k || b.len() != k * n || out.len() != m * n {
        return None;
    }
    let (a, b) = (MatRef::from_row_major_slice(a, m, k), MatRef::from_row_major_slice(b, k, n));
    let c = faer::MatMut::from_row_major_slice_mut(out, m, n);
    // Threads only where the product is large enough to pay for waking them: a
    // pooling Hessian's 16 × 1024 × 16 product took 1.6× longer on two threads
    // than on one. faer splits the output, not the sum, so the bits are the same.
    let par = if m * n * k >= MATMUL_PAR_FLOPS { faer::get_global_parallelism() } else { faer::Par::Seq };
    faer::linalg::matmul::matmul(c, faer::Accum::Replace, a, b, 1.0, par);
    Some(())
}

/// `m·n·k` from which a kernel's matrix product may use faer's threads.
const MATMUL_PAR_FLOPS: usize = 1 << 22;

/// `tᵀ` for a matrix; a scalar or a vector is returned as it is.
pub fn transpose(t: Tensor) -> Tensor {
    match t.shape.as_slice() {
        [m, n] => {
            let (m, n) = (*m, *n);
            let mut data = vec![0.0; m * n];
            for i in 0..m {
                for j in 0..n {
                    data[j * m + i] = t.data[i * n + j];
                }
            }
            Tensor::matrix(n, m, data)
        }
        _ => t,
    }
}

/// Applies index selectors to the leading axes.
pub fn index(t: &Tensor, sel: &[Sel]) -> Option<Tensor> {
    let ranges: Vec<(usize, usize, bool)> = t
        .shape
        .iter()
        .enumerate()
        .map(|(axis, &len)| match sel.get(axis) {
            Some(Sel::At(i)) => (*i as usize, *i as usize + 1, false),
            Some(Sel::Range { start, end }) => (*start as usize, end.map_or(len, |e| e as usize), true),
            None => (0, len, true),
        })
        .collect();
    if ranges.iter().zip(&t.shape).any(|((s, e, _), len)| s > e || e > len) {
        return None;
    }
    let shape: Vec<usize> = ranges.iter().filter(|r| r.2).map(|(s, e, _)| e - s).collect();
    let data = match t.shape.as_slice() {
        [] => t.data.clone(),
        [_] => t.data[ranges[0].0..ranges[0].1].to_vec(),
        [_, n] => {
            let mut d = Vec::new();
            for i in ranges[0].0..ranges[0].1 {
                d.extend_from_slice(&t.data[i * n + ranges[1].0..i * n + ranges[1].1]);
            }
            d
        }
        _ => return None,
    };
    Some(Tensor { shape, data })
}

/// The group (output entry) that entry `k` of a reduction of `x` along `axis`
/// falls into: its column for axis 0, its row for axis 1, the one group otherwise.
pub fn reduce_group(x: &[usize], axis: Option<u8>, k: usize) -> usize {
    match (axis, x) {
        (Some(0), [_, n]) => k % n,
        (Some(_), [_, n]) => k / n,
        _ => 0,
    }
}

/// `spread(c, axis)` to `shape`: the adjoint of `sum(·, axis)` (and of
/// broadcasting when `axis` is none or 0): every entry takes its group's value.
pub fn spread(c: &Tensor, axis: Option<u8>, shape: &[usize]) -> Tensor {
    let len: usize = shape.iter().product();
    let data = match (axis, shape) {
        (Some(1), [_, _]) => (0..len).map(|k| c.data[reduce_group(shape, axis, k)]).collect(),
        _ => (0..len).map(|k| c.data[broadcast_index(&c.shape, shape, k)]).collect(),
    };
    Tensor { shape: shape.to_vec(), data }
}

/// A reduction of `t` by `f` (with identity `init`): over everything, or along
/// `axis` of a matrix (axis 0 reduces down the columns).
pub(crate) fn reduce(t: &Tensor, axis: Option<u8>, init: f64, f: impl Fn(f64, f64) -> f64) -> Tensor {
    match (axis, t.shape.as_slice()) {
        (Some(ax), [m, n]) => {
            let (m, n) = (*m, *n);
            let (outer, inner) = if ax == 0 { (n, m) } else { (m, n) };
            let data = (0..outer)
                .map(|o| (0..inner).map(|k| if ax == 0 { t.data[k * n + o] } else { t.data[o * n + k] }).fold(init, &f))
                .collect();
            Tensor::vector(data)
        }
        _ => Tensor::scalar(t.data.iter().copied().fold(init, f)),
    }
}

fn domain(span: Span, name: &str, ok: bool, what: &str) -> Result<(), EvalError> {
    if ok {
        Ok(())
    } else {
        Err(fail(span, format!("`{name}` is undefined here: its argument must be {what}")))
    }
}

/// The scalar functions of the atoms that are more than one call: what
/// `apply` maps over a tensor, and what the JIT's shims call, so both compute
/// the same numbers.
pub mod scalar {
    /// x log x with its limit 0 at 0.
    pub fn xlogx(x: f64) -> f64 {
        if x == 0.0 {
            0.0
        } else {
            x * x.ln()
        }
    }

    /// 1 / (1 + e⁻ˣ), without overflow for either sign of x.
    pub fn sigmoid(x: f64) -> f64 {
        if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            x.exp() / (1.0 + x.exp())
        }
    }

    /// log(1 + eˣ), without overflow for large x.
    pub fn logistic(x: f64) -> f64 {
        if x > 0.0 {
            x + (-x).exp().ln_1p()
        } else {
            x.exp().ln_1p()
        }
    }

    /// x log(x/y) − x + y, elementwise `kl_div`.
    pub fn kl_div(x: f64, y: f64) -> f64 {
        xlogx(x) - x * y.ln() - x + y
    }
}

use scalar::xlogx;

fn atom_value(atom: Atom, v: &[Tensor], axis: Option<u8>, shape: Vec<usize>, span: Span) -> Res {
    let name = atom.name();
    let arg = |i: usize| v.get(i).ok_or_else(|| fail(span, format!("`{name}` is missing an argument")));
    let elementwise = |f: fn(f64) -> f64| -> Res { Ok(map(arg(0)?.clone(), f)) };
    let min_over = |t: &Tensor| t.data.iter().copied().fold(f64::INFINITY, f64::min);
    Ok(match atom {
        Atom::Sum => reduce(arg(0)?, axis, 0.0, |a, b| a + b),
        Atom::Mean => {
            let t = arg(0)?;
            let s = reduce(t, axis, 0.0, |a, b| a + b);
            let count = (t.len() / s.len().max(1)).max(1) as f64;
            map(s, |x| x / count)
        }
        Atom::Trace => {
            let t = arg(0)?;
            let (m, _) = t.rows_cols();
            Tensor::scalar((0..m).map(|i| t.at(i, i)).sum())
        }
        Atom::LambdaMax | Atom::LambdaMin => {
            let (lambda, _) = spectral::extreme_eigenpair(arg(0)?, atom == Atom::LambdaMax, span)?;
            Tensor::scalar(lambda)
        }
        Atom::LogDet => Tensor::scalar(spectral::log_det(arg(0)?, span)?.0),
        Atom::NuclearNorm => Tensor::scalar(spectral::nuclear_norm(arg(0)?, span)?.0),
        Atom::MatrixFrac => Tensor::scalar(spectral::matrix_frac(arg(0)?, arg(1)?, span)?.0),
        Atom::Diag => {
            let t = arg(0)?;
            match t.shape.as_slice() {
                [n] => {
                    let mut d = vec![0.0; n * n];
                    diag_into(&mut d, &t.data).ok_or_else(|| fail(span, "`diag`'s vector does not fill its shape"))?;
                    Tensor::matrix(*n, *n, d)
                }
                _ => Tensor::vector((0..t.rows_cols().0).map(|i| t.at(i, i)).collect()),
            }
        }
        Atom::Ones => Tensor::filled(shape, 1.0),
        Atom::Zeros => Tensor::filled(shape, 0.0),
        Atom::Eye => {
            let mut t = Tensor::filled(shape, 0.0);
            let (m, n) = t.rows_cols();
            (0..m.min(n)).for_each(|i| t.data[i * n + i] = 1.0);
            t
        }
        Atom::Hstack => {
            if v.iter().all(|t| t.rank() == 1) {
                Tensor::vector(v.iter().flat_map(|t| t.data.iter().copied()).collect())
            } else {
                let m = v[0].rows_cols().0;
                let mut d = Vec::new();
                for i in 0..m {
                    for t in v {
                        let c = t.rows_cols().1;
                        d.extend_from_slice(&t.data[i * c..(i + 1) * c]);
                    }
                }
                Tensor { shape, data: d }
            }
        }
        Atom::Vstack => Tensor { shape, data: v.iter().flat_map(|t| t.data.iter().copied()).collect() },
        Atom::SumSquares => Tensor::scalar(arg(0)?.data.iter().map(|x| x * x).sum()),
        Atom::Square => elementwise(|x| x * x)?,
        Atom::Abs => elementwise(f64::abs)?,
        Atom::Norm => Tensor::scalar(arg(0)?.data.iter().map(|x| x * x).sum::<f64>().sqrt()),
        Atom::Norm1 => Tensor::scalar(arg(0)?.data.iter().map(|x| x.abs()).sum()),
        Atom::NormInf => Tensor::scalar(arg(0)?.data.iter().fold(0.0, |m, x| m.max(x.abs()))),
        Atom::QuadForm => {
            let (x, p) = (arg(0)?, arg(1)?);
            let px = matmul(p, x).ok_or_else(|| fail(span, "`quad_form` shapes differ at run time"))?;
            Tensor::scalar(x.data.iter().zip(&px.data).map(|(a, b)| a * b).sum())
        }
        Atom::QuadOverLin => {
            let (x, t) = (arg(0)?, arg(1)?.as_scalar().unwrap_or(f64::NAN));
            domain(span, name, t > 0.0, "positive in `t`")?;
            Tensor::scalar(x.data.iter().map(|a| a * a).sum::<f64>() / t)
        }
        Atom::Pos => elementwise(|x| x.max(0.0))?,
        Atom::Maximum | Atom::Minimum => {
            let f: fn(f64, f64) -> f64 = if atom == Atom::Maximum { f64::max } else { f64::min };
            let mut acc = arg(0)?.clone();
            for t in &v[1..] {
                acc = zip(&acc, t, f).ok_or_else(|| fail(span, "shapes do not broadcast at run time"))?;
            }
            acc
        }
        Atom::Max => reduce(arg(0)?, axis, f64::NEG_INFINITY, f64::max),
        Atom::Min => reduce(arg(0)?, axis, f64::INFINITY, f64::min),
        Atom::Huber => {
            let m = v.get(1).and_then(Tensor::as_scalar).unwrap_or(1.0);
            domain(span, name, m >= 0.0, "given a nonnegative threshold M")?;
            map(arg(0)?.clone(), |x| if x.abs() <= m { x * x } else { 2.0 * m * x.abs() - m * m })
        }
        Atom::Exp => elementwise(f64::exp)?,
        Atom::LogSumExp => {
            let t = arg(0)?;
            let mx = reduce(t, axis, f64::NEG_INFINITY, f64::max);
            // log Σ exp(xᵢ) = m + log Σ exp(xᵢ − m), stable for large xᵢ.
            let shifted = match axis {
                Some(ax) if t.rank() == 2 => {
                    let n = t.shape[1];
                    let data = t
                        .data
                        .iter()
                        .enumerate()
                        .map(|(k, x)| (x - mx.data[if ax == 0 { k % n } else { k / n }]).exp())
                        .collect();
                    Tensor { shape: t.shape.clone(), data }
                }
                _ => map(t.clone(), |x| (x - mx.data[0]).exp()),
            };
            let s = reduce(&shifted, axis, 0.0, |a, b| a + b);
            zip(&mx, &s, |m, s| m + s.ln()).ok_or_else(|| fail(span, "internal: log_sum_exp shapes"))?
        }
        Atom::InvPos => {
            domain(span, name, min_over(arg(0)?) > 0.0, "positive")?;
            elementwise(|x| 1.0 / x)?
        }
        Atom::Xlogx => {
            domain(span, name, min_over(arg(0)?) >= 0.0, "nonnegative")?;
            elementwise(xlogx)?
        }
        Atom::Entr => {
            domain(span, name, min_over(arg(0)?) >= 0.0, "nonnegative")?;
            elementwise(|x| -xlogx(x))?
        }
        Atom::KlDiv => {
            let (a, b) = (arg(0)?, arg(1)?);
            domain(span, name, min_over(a) >= 0.0 && min_over(b) > 0.0, "x >= 0 and y > 0")?;
            zip(a, b, scalar::kl_div).ok_or_else(|| fail(span, "shapes do not broadcast"))?
        }
        Atom::Logistic => elementwise(scalar::logistic)?,
        Atom::Log => {
            domain(span, name, min_over(arg(0)?) > 0.0, "positive")?;
            elementwise(f64::ln)?
        }
        Atom::Sqrt => {
            domain(span, name, min_over(arg(0)?) >= 0.0, "nonnegative")?;
            elementwise(f64::sqrt)?
        }
        Atom::Sin => elementwise(f64::sin)?,
        Atom::Cos => elementwise(f64::cos)?,
        Atom::Tanh => elementwise(f64::tanh)?,
        Atom::Sigmoid => elementwise(scalar::sigmoid)?,
        Atom::Spread => {
            let c = arg(0)?;
            if broadcast_shape(&c.shape, &shape).is_none() && axis != Some(1) {
                return Err(fail(span, "`spread` shapes differ at run time"));
            }
            spread(c, axis, &shape)
        }
        Atom::SumTo => unbroadcast(arg(0)?, &shape),
        Atom::Hypot => {
            let (a, x) = (arg(0)?, arg(1)?);
            let squares = map(x.clone(), |v| v * v);
            let s = if axis.is_some() { reduce(&squares, axis, 0.0, |p, q| p + q) } else { squares };
            zip(a, &s, |a, s| (a * a + s).sqrt()).ok_or_else(|| fail(span, "shapes do not broadcast at run time"))?
        }
        Atom::Outer => {
            let (a, b) = (arg(0)?, arg(1)?);
            Tensor::matrix(a.len(), b.len(), a.data.iter().flat_map(|x| b.data.iter().map(move |y| x * y)).collect())
        }
        Atom::Sign => elementwise(|x| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        })?,
        Atom::Step => elementwise(|x| if x > 0.0 { 1.0 } else { 0.0 })?,
        Atom::Ge => zip(arg(0)?, arg(1)?, |a, b| if a >= b { 1.0 } else { 0.0 })
            .ok_or_else(|| fail(span, "shapes do not broadcast at run time"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries for a product's operands, varied and of both signs.
    fn entries(len: usize, seed: usize) -> Vec<f64> {
        (0..len).map(|i| ((i * seed) % 1000) as f64 / 997.0 - 0.45).collect()
    }

    /// `matmul_into` lets products from `MATMUL_PAR_FLOPS` on use faer's
    /// threads, on the claim that faer splits the output and not the sum: the
    /// bits must not depend on the thread count, or the back ends would not
    /// agree bit for bit across machines.
    #[test]
    fn threaded_products_have_the_sequential_bits() {
        let (m, k, n) = (96, 700, 80);
        assert!(m * k * n >= MATMUL_PAR_FLOPS);
        let (a, b) = (entries(m * k, 7919), entries(k * n, 104_729));
        let (am, bm) = (MatRef::from_row_major_slice(&a, m, k), MatRef::from_row_major_slice(&b, k, n));
        let product = |par| {
            let mut c = vec![0.0; m * n];
            let cm = faer::MatMut::from_row_major_slice_mut(&mut c, m, n);
            faer::linalg::matmul::matmul(cm, faer::Accum::Replace, am, bm, 1.0, par);
            c.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        };
        let sequential = product(faer::Par::Seq);
        for threads in [2, 3, 4] {
            assert_eq!(product(faer::Par::rayon(threads)), sequential, "{threads} threads");
        }
    }

    /// `matmul_into`'s row-major destination (faer then computes `bᵀ aᵀ`) gives
    /// every entry the bits a column-major destination gives, on shapes that
    /// take each of faer's paths: the small-product kernels, matrix-vector,
    /// vector-matrix, rank one, the blocked product with a depth split in
    /// blocks, and the pooling Hessian's `16 × 1024 · 1024 × 16`.
    #[test]
    fn a_row_major_destination_has_the_column_major_bits() {
        for (m, k, n) in [(3, 4, 5), (16, 16, 16), (40, 30, 1), (1, 30, 40), (12, 1, 9), (16, 1024, 16), (70, 600, 33)]
        {
            let (a, b) = (entries(m * k, 7919), entries(k * n, 104_729));
            let mut rows = vec![0.0; m * n];
            matmul_into(&mut rows, &a, &[m, k], &b, &[k, n]).expect("shapes fit");
            let mut cols = faer::Mat::<f64>::zeros(m, n);
            let (am, bm) = (MatRef::from_row_major_slice(&a, m, k), MatRef::from_row_major_slice(&b, k, n));
            faer::linalg::matmul::matmul(cols.as_mut(), faer::Accum::Replace, am, bm, 1.0, faer::Par::Seq);
            for (i, j) in (0..m).flat_map(|i| (0..n).map(move |j| (i, j))) {
                assert_eq!(rows[i * n + j].to_bits(), cols[(i, j)].to_bits(), "{m}×{k}·{k}×{n} at ({i}, {j})");
            }
        }
    }

    /// The fast paths of `zip` (a scalar side, a repeated row) give what the
    /// general strided walk gives.
    #[test]
    fn zip_fast_paths_match_the_general_walk() {
        let t = |shape: &[usize]| {
            let len: usize = shape.iter().product();
            Tensor { shape: shape.to_vec(), data: (0..len).map(|k| k as f64 * 0.7 - 1.3).collect() }
        };
        let shapes: [&[usize]; 7] = [&[], &[1], &[3], &[1, 3], &[2, 3], &[2, 1], &[0, 3]];
        for a in shapes {
            for b in shapes {
                let (a, b) = (t(a), t(b));
                let Some(shape) = broadcast_shape(&a.shape, &b.shape) else { continue };
                let f = |x: f64, y: f64| x - 2.0 * y;
                let walked: Vec<f64> = broadcast_indices(&a.shape, &shape)
                    .zip(broadcast_indices(&b.shape, &shape))
                    .map(|(i, j)| f(a.data[i], b.data[j]))
                    .collect();
                let got = zip(&a, &b, f).expect("broadcasts");
                assert_eq!((got.shape, got.data), (shape, walked), "{:?} with {:?}", a.shape, b.shape);
            }
        }
    }
}
