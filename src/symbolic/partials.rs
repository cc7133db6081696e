//! Local derivatives of elementwise operations: for `e = φ(a₁, …, a_k)` applied
//! entry by entry (with numpy broadcasting), the partials `∂φ/∂aᵢ` as
//! expressions of the arguments and of `e` itself.
//!
//! Both modes use them: reverse mode sends `sum_to(c · ∂φ/∂aᵢ)` to argument `i`,
//! forward mode forms `Σᵢ ∂φ/∂aᵢ · daᵢ`. Writing each formula once here keeps
//! the two modes from drifting apart.
//!
//! [`reduction_weight`] does the same for reductions whose derivative is a
//! weighted sum (`sum_squares`, the norms, `max`, `log_sum_exp`).
//!
//! At a kink (|x| at 0, a tie in `maximum`) the partial is one subgradient, the
//! one [`crate::eval::vjp`] picks: `sign(0) = 0`, `step(0) = 0`, ties go to the
//! first argument.

use super::build::{add, apply, apply2, div, konst, mul, neg, pow, spread, sub};
use crate::atoms::Atom;
use crate::ir::{Arith, Expr, ExprKind};

/// The partials of `e` with respect to its children, or `None` when `e` is not
/// an elementwise operation. A partial of `None` is identically zero.
pub(crate) fn elementwise(e: &Expr) -> Option<Vec<Option<Expr>>> {
    let one = || Some(konst(1.0, e.span));
    let y = || e.clone();
    Some(match &e.kind {
        ExprKind::Neg(_) => vec![Some(konst(-1.0, e.span))],
        ExprKind::Binary { op, lhs, rhs } => {
            let (a, b) = ((**lhs).clone(), (**rhs).clone());
            match op {
                Arith::Add => vec![one(), one()],
                Arith::Sub => vec![one(), Some(konst(-1.0, e.span))],
                // d(ab) = b da + a db
                Arith::Mul => vec![Some(b), Some(a)],
                // d(a/b) = da / b − a/b² db
                Arith::Div => vec![Some(div(konst(1.0, e.span), b.clone())), Some(neg(div(a, pow(b, 2.0))))],
            }
        }
        // d xᵖ = p xᵖ⁻¹ dx
        ExprKind::Pow { base, p } => vec![Some(mul(konst(*p, e.span), pow((**base).clone(), p - 1.0)))],
        ExprKind::Atom { atom, args, axis: None } => atom_partials(*atom, args, y)?,
        _ => return None,
    })
}

fn atom_partials(atom: Atom, args: &[Expr], y: impl Fn() -> Expr) -> Option<Vec<Option<Expr>>> {
    let x = || args[0].clone();
    let span = args.first()?.span;
    let k = |c: f64| konst(c, span);
    let single = |d: Expr| Some(vec![Some(d)]);
    match atom {
        Atom::Square => single(mul(k(2.0), x())),
        Atom::Abs => single(apply(Atom::Sign, x())),
        Atom::Pos => single(apply(Atom::Step, x())),
        Atom::Exp => single(y()),
        Atom::InvPos => single(neg(pow(x(), -2.0))),
        // d x log x = log x + 1; entr = −x log x
        Atom::Xlogx => single(add(apply(Atom::Log, x()), k(1.0))),
        Atom::Entr => single(neg(add(apply(Atom::Log, x()), k(1.0)))),
        // d log(1 + eˣ) = σ(x)
        Atom::Logistic => single(apply(Atom::Sigmoid, x())),
        Atom::Log => single(div(k(1.0), x())),
        Atom::Sqrt => single(div(k(0.5), y())),
        Atom::Sin => single(apply(Atom::Cos, x())),
        Atom::Cos => single(neg(apply(Atom::Sin, x()))),
        Atom::Tanh => single(sub(k(1.0), pow(y(), 2.0))),
        Atom::Sigmoid => single(mul(y(), sub(k(1.0), y()))),
        // the first argument wins ties: maximum(a, b) = a where a ≥ b
        Atom::Maximum | Atom::Minimum if args.len() == 2 => {
            let (a, b) = (args[0].clone(), args[1].clone());
            let first = if atom == Atom::Maximum { apply2(Atom::Ge, a, b) } else { apply2(Atom::Ge, b, a) };
            Some(vec![Some(first.clone()), Some(sub(k(1.0), first))])
        }
        // huber(x, M) = x² on |x| ≤ M, 2M|x| − M² outside:
        // ∂x = 2 clip(x, −M, M), ∂M = 2 pos(|x| − M)
        Atom::Huber => {
            let m = args.get(1).cloned().unwrap_or_else(|| k(1.0));
            let clip = apply2(Atom::Minimum, apply2(Atom::Maximum, x(), neg(m.clone())), m.clone());
            let excess = apply(Atom::Pos, sub(apply(Atom::Abs, x()), m));
            Some(vec![Some(mul(k(2.0), clip)), Some(mul(k(2.0), excess))])
        }
        // d[x log(x/y) − x + y] = log(x/y) dx + (1 − x/y) dy
        Atom::KlDiv => {
            let ratio = div(x(), args[1].clone());
            Some(vec![Some(apply(Atom::Log, ratio.clone())), Some(sub(k(1.0), ratio))])
        }
        // piecewise constant
        Atom::Sign | Atom::Step | Atom::Ge => Some(vec![None; args.len()]),
        _ => None,
    }
}

/// Reductions whose derivative is a weighted sum of their argument's entries,
/// `e = R(x, axis)`, `de = sum(W ⊙ dx, axis)`: the weight `W`, of `x`'s shape.
/// Reverse mode sends `spread(c̄, axis) ⊙ W` to `x`.
pub(crate) fn reduction_weight(e: &Expr) -> Option<Expr> {
    let ExprKind::Atom { atom, args, axis } = &e.kind else {
        return None;
    };
    let x = args.first()?.clone();
    let best = || spread(e.clone(), *axis, &x.shape);
    Some(match atom {
        // d Σx² = 2x · dx
        Atom::SumSquares => mul(konst(2.0, e.span), x.clone()),
        // d‖x‖ = x/‖x‖ · dx
        Atom::Norm => div(x.clone(), e.clone()),
        Atom::Norm1 => apply(Atom::Sign, x.clone()),
        // d max|xᵢ| = sign(xₖ) dxₖ at the entries of largest magnitude
        Atom::NormInf => mul(apply(Atom::Sign, x.clone()), apply2(Atom::Ge, apply(Atom::Abs, x.clone()), e.clone())),
        // the entries attaining the extremum of their group (all of them on a tie)
        Atom::Max => apply2(Atom::Ge, x.clone(), best()),
        Atom::Min => apply2(Atom::Ge, best(), x.clone()),
        // softmax along the reduction: exp(x − lse(x))
        Atom::LogSumExp => apply(Atom::Exp, sub(x.clone(), best())),
        _ => return None,
    })
}

/// `maximum(a, b, c, …)` as `maximum(maximum(a, b), c)`, so that the two-argument
/// partials apply (the first argument still wins ties).
pub(crate) fn nest_extremum(e: &Expr) -> Option<Expr> {
    match &e.kind {
        ExprKind::Atom { atom: a @ (Atom::Maximum | Atom::Minimum), args, .. } if args.len() > 2 => {
            args.iter().cloned().reduce(|acc, x| apply2(*a, acc, x))
        }
        _ => None,
    }
}
