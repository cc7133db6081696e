//! Reverse mode over the evaluator: the vector-Jacobian product of an expression
//! with respect to every parameter and variable, `cotᵀ · ∂e/∂(θ, y)`.
//!
//! Each operation's rule is the textbook adjoint (written next to it). Where an
//! atom is not differentiable (|x| at 0, a tie in `max`) the rule picks one
//! subgradient, stated in its comment. Values of children are recomputed with
//! [`eval`] as the walk descends; expressions are small, so this costs little.

use super::{eval, matmul, matmul_dims, transpose, zip, Env, EvalError, Tensor};
use crate::atoms::Atom;
use crate::eval::{broadcast_data, unbroadcast_data};
use crate::ir::{Arith, Expr, ExprKind, Sel};

/// Gradients by parameter and by variable; `None` where nothing flowed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Grads {
    /// Per parameter, in declaration order.
    pub params: Vec<Option<Tensor>>,
    /// Per variable, in declaration order.
    pub vars: Vec<Option<Tensor>>,
}

impl Grads {
    fn add(slot: &mut Option<Tensor>, g: Tensor) {
        match slot {
            Some(t) => t.data.iter_mut().zip(&g.data).for_each(|(a, b)| *a += b),
            None => *slot = Some(g),
        }
    }
}

type Res = Result<(), EvalError>;

/// `cotᵀ ∂e/∂(θ, y)` at `env`; `cot` has `e`'s shape.
pub fn vjp(e: &Expr, env: &Env, cot: &Tensor) -> Result<Grads, EvalError> {
    let mut g = Grads { params: vec![None; env.params.len()], vars: vec![None; env.vars.len()] };
    back(e, env, cot.clone(), &mut g)?;
    Ok(g)
}

fn map2(a: &Tensor, b: &Tensor, f: impl Fn(f64, f64) -> f64) -> Tensor {
    Tensor { shape: a.shape.clone(), data: a.data.iter().zip(&b.data).map(|(x, y)| f(*x, *y)).collect() }
}

/// Sums a broadcast cotangent back to the operand's shape.
pub fn unbroadcast(c: &Tensor, to: &[usize]) -> Tensor {
    if c.shape == to {
        return c.clone();
    }
    Tensor { shape: to.to_vec(), data: unbroadcast_data(&c.data, &c.shape, to, 0.0) }
}

/// Broadcasts `c` to the shape `to` (numpy rules), copying entries.
pub fn broadcast_to(c: &Tensor, to: &[usize]) -> Tensor {
    Tensor { shape: to.to_vec(), data: broadcast_data(&c.data, &c.shape, to) }
}

/// The same data seen with another shape.
fn reshape(t: &Tensor, shape: &[usize]) -> Tensor {
    Tensor { shape: shape.to_vec(), data: t.data.clone() }
}

fn err(e: &Expr, m: &str) -> EvalError {
    EvalError { message: m.into(), span: e.span }
}

fn back(e: &Expr, env: &Env, c: Tensor, g: &mut Grads) -> Res {
    match &e.kind {
        ExprKind::Const(_) | ExprKind::Dim(_) | ExprKind::Sym { .. } => Ok(()),
        ExprKind::Param(p) => {
            Grads::add(&mut g.params[p.0 as usize], c);
            Ok(())
        }
        ExprKind::Var(v) => {
            Grads::add(&mut g.vars[v.0 as usize], c);
            Ok(())
        }
        ExprKind::Neg(a) => back(a, env, c.scaled(-1.0), g),
        ExprKind::Binary { op, lhs, rhs } => {
            let (a, b) = (eval(lhs, env)?, eval(rhs, env)?);
            let (ca, cb) = match op {
                Arith::Add => (c.clone(), c),
                Arith::Sub => (c.clone(), c.scaled(-1.0)),
                // d(ab) = b da + a db
                Arith::Mul => (
                    zip(&c, &b, |x, y| x * y).ok_or_else(|| err(e, "shapes"))?,
                    zip(&c, &a, |x, y| x * y).ok_or_else(|| err(e, "shapes"))?,
                ),
                // d(a/b) = da/b − a db/b²
                Arith::Div => {
                    let ca = zip(&c, &b, |x, y| x / y).ok_or_else(|| err(e, "shapes"))?;
                    let ab = zip(&a, &b, |x, y| -x / (y * y)).ok_or_else(|| err(e, "shapes"))?;
                    (ca, zip(&c, &ab, |x, y| x * y).ok_or_else(|| err(e, "shapes"))?)
                }
            };
            back(lhs, env, unbroadcast(&ca, &a.shape), g)?;
            back(rhs, env, unbroadcast(&cb, &b.shape), g)
        }
        // d(xᵖ) = p xᵖ⁻¹ dx
        ExprKind::Pow { base, p } => {
            let x = eval(base, env)?;
            let p = *p;
            back(base, env, map2(&c, &x, |ci, xi| ci * p * xi.powf(p - 1.0)), g)
        }
        // C = AB: dA = C̄ Bᵀ, dB = Aᵀ C̄
        ExprKind::MatMul(l, r) => {
            let (a, b) = (eval(l, env)?, eval(r, env)?);
            let (m, k, n, _) = matmul_dims(&a.shape, &b.shape).ok_or_else(|| err(e, "shapes"))?;
            let (am, bm, cm) = (reshape(&a, &[m, k]), reshape(&b, &[k, n]), reshape(&c, &[m, n]));
            let da = matmul(&cm, &transpose(bm)).ok_or_else(|| err(e, "shapes"))?;
            let db = matmul(&transpose(am), &cm).ok_or_else(|| err(e, "shapes"))?;
            back(l, env, reshape(&da, &a.shape), g)?;
            back(r, env, reshape(&db, &b.shape), g)
        }
        ExprKind::Transpose(a) => back(a, env, transpose(c), g),
        ExprKind::Index { base, sel } => {
            let x = eval(base, env)?;
            back(base, env, scatter(&x.shape, sel, &c), g)
        }
        ExprKind::Atom { atom, args, axis } => atom_back(e, *atom, args, *axis, env, c, g),
    }
}

/// The adjoint of indexing: the cotangent placed where the entries came from.
fn scatter(shape: &[usize], sel: &[Sel], c: &Tensor) -> Tensor {
    let pos = Tensor { shape: shape.to_vec(), data: (0..shape.iter().product::<usize>()).map(|i| i as f64).collect() };
    let mut out = Tensor::filled(shape.to_vec(), 0.0);
    if let Some(picked) = super::index(&pos, sel) {
        for (k, &i) in picked.data.iter().enumerate() {
            out.data[i as usize] += c.data[k];
        }
    }
    out
}

/// Spreads a reduction's cotangent over the entries it combined, each weighted by `w`.
fn spread(x: &Tensor, axis: Option<u8>, c: &Tensor, w: impl Fn(usize, usize) -> f64) -> Tensor {
    let data = (0..x.len())
        .map(|k| {
            let group = match (axis, x.shape.as_slice()) {
                (Some(0), [_, n]) => k % n,
                (Some(_), [_, n]) => k / n,
                _ => 0,
            };
            c.data[group] * w(k, group)
        })
        .collect();
    Tensor { shape: x.shape.clone(), data }
}

/// For `max`/`min` along `axis`: the first entry of each group attaining `best`.
fn arg_groups(x: &Tensor, axis: Option<u8>, best: &Tensor) -> Vec<bool> {
    let mut taken = vec![false; best.len()];
    (0..x.len())
        .map(|k| {
            let group = match (axis, x.shape.as_slice()) {
                (Some(0), [_, n]) => k % n,
                (Some(_), [_, n]) => k / n,
                _ => 0,
            };
            let hit = !taken[group] && x.data[k] == best.data[group];
            taken[group] |= hit;
            hit
        })
        .collect()
}

fn atom_back(e: &Expr, atom: Atom, args: &[Expr], axis: Option<u8>, env: &Env, c: Tensor, g: &mut Grads) -> Res {
    let vals = args.iter().map(|a| eval(a, env)).collect::<Result<Vec<_>, _>>()?;
    let y = eval(e, env)?;
    let s = c.as_scalar().unwrap_or(0.0);
    let sign = |v: f64| {
        if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let dx: Vec<Tensor> = match atom {
        Atom::Ones | Atom::Zeros | Atom::Eye => Vec::new(),
        Atom::Sum => vec![spread(&vals[0], axis, &c, |_, _| 1.0)],
        Atom::Mean => {
            let count = (vals[0].len() / c.len().max(1)).max(1) as f64;
            vec![spread(&vals[0], axis, &c, |_, _| 1.0 / count)]
        }
        // ∂λ/∂X = vvᵀ for a simple eigenvalue with unit eigenvector v (a
        // subgradient at a repeated one).
        Atom::LambdaMax | Atom::LambdaMin => {
            let (_, v) = super::spectral::extreme_eigenpair(&vals[0], atom == Atom::LambdaMax, e.span)?;
            let n = v.len();
            vec![Tensor { shape: vals[0].shape.clone(), data: (0..n * n).map(|k| s * v[k / n] * v[k % n]).collect() }]
        }
        // ∂ log det X = X⁻¹, ∂‖X‖_* = UVᵀ, ∂ tr(XᵀP⁻¹X) = (2P⁻¹X, −P⁻¹XXᵀP⁻¹):
        // the gradients `spectral` returns with the values.
        Atom::LogDet => vec![super::spectral::log_det(&vals[0], e.span)?.1.scaled(s)],
        Atom::NuclearNorm => vec![super::spectral::nuclear_norm(&vals[0], e.span)?.1.scaled(s)],
        Atom::MatrixFrac => {
            let [dx, dp] = super::spectral::matrix_frac(&vals[0], &vals[1], e.span)?.1;
            vec![dx.scaled(s), dp.scaled(s)]
        }
        Atom::Trace => {
            let n = vals[0].rows_cols().0;
            let mut d = Tensor::filled(vals[0].shape.clone(), 0.0);
            (0..n).for_each(|i| d.data[i * n + i] = s);
            vec![d]
        }
        Atom::Diag => match vals[0].shape.as_slice() {
            [n] => vec![Tensor::vector((0..*n).map(|i| c.data[i * n + i]).collect())],
            _ => {
                let n = vals[0].rows_cols().0;
                let mut d = Tensor::filled(vals[0].shape.clone(), 0.0);
                (0..n).for_each(|i| d.data[i * n + i] = c.data[i]);
                vec![d]
            }
        },
        Atom::Hstack | Atom::Vstack => split(atom, &vals, &c),
        // d Σx² = 2x
        Atom::SumSquares => vec![vals[0].scaled(2.0 * s)],
        Atom::Square => vec![map2(&c, &vals[0], |ci, xi| 2.0 * xi * ci)],
        // subgradient 0 at 0
        Atom::Abs => vec![map2(&c, &vals[0], |ci, xi| sign(xi) * ci)],
        // d‖x‖ = x/‖x‖ (0 at x = 0)
        Atom::Norm => {
            let n = y.data[0];
            vec![vals[0].scaled(if n > 0.0 { s / n } else { 0.0 })]
        }
        Atom::Norm1 => {
            vec![Tensor { shape: vals[0].shape.clone(), data: vals[0].data.iter().map(|&xi| sign(xi) * s).collect() }]
        }
        // the first entry of largest magnitude
        Atom::NormInf => {
            let mut d = Tensor::filled(vals[0].shape.clone(), 0.0);
            if let Some(k) = vals[0].data.iter().position(|v| v.abs() == y.data[0]) {
                d.data[k] = sign(vals[0].data[k]) * s;
            }
            vec![d]
        }
        // d xᵀPx = (P + Pᵀ)x dx + x xᵀ : dP
        Atom::QuadForm => {
            let (xv, p) = (&vals[0], &vals[1]);
            let px = matmul(p, xv).ok_or_else(|| err(e, "shapes"))?;
            let ptx = matmul(&transpose(p.clone()), xv).ok_or_else(|| err(e, "shapes"))?;
            let n = xv.len();
            let dp = Tensor::matrix(n, n, (0..n * n).map(|k| xv.data[k / n] * xv.data[k % n] * s).collect());
            vec![map2(&px, &ptx, |a, b| (a + b) * s), dp]
        }
        // d Σx²/t = 2x/t dx − Σx²/t² dt
        Atom::QuadOverLin => {
            let t = vals[1].data[0];
            vec![vals[0].scaled(2.0 * s / t), Tensor::scalar(-y.data[0] / t * s)]
        }
        Atom::Pos => vec![map2(&c, &vals[0], |ci, xi| if xi > 0.0 { ci } else { 0.0 })],
        Atom::Maximum | Atom::Minimum => {
            // Each output entry's cotangent goes to the first argument attaining it.
            let shape = y.shape.clone();
            let mut taken = vec![false; y.len()];
            let mut out = Vec::new();
            for v in &vals {
                let full = broadcast_to(v, &shape);
                let d = Tensor {
                    shape: shape.clone(),
                    data: (0..y.len())
                        .map(|k| {
                            let hit = !taken[k] && full.data[k] == y.data[k];
                            taken[k] |= hit;
                            if hit {
                                c.data[k]
                            } else {
                                0.0
                            }
                        })
                        .collect(),
                };
                out.push(unbroadcast(&d, &v.shape));
            }
            out
        }
        Atom::Max | Atom::Min => {
            let hits = arg_groups(&vals[0], axis, &y);
            vec![spread(&vals[0], axis, &c, |k, _| if hits[k] { 1.0 } else { 0.0 })]
        }
        // x² inside [−M, M], 2M|x| − M² outside
        Atom::Huber => {
            let m = vals.get(1).and_then(Tensor::as_scalar).unwrap_or(1.0);
            let dx = map2(&c, &vals[0], |ci, xi| if xi.abs() <= m { 2.0 * xi * ci } else { 2.0 * m * sign(xi) * ci });
            let dm: f64 = vals[0]
                .data
                .iter()
                .zip(&c.data)
                .map(|(xi, ci)| if xi.abs() <= m { 0.0 } else { 2.0 * (xi.abs() - m) * ci })
                .sum();
            vec![dx, Tensor::scalar(dm)]
        }
        Atom::Exp => vec![map2(&c, &y, |ci, yi| ci * yi)],
        // softmax along the reduction
        Atom::LogSumExp => {
            let x = &vals[0];
            vec![spread(x, axis, &c, |k, grp| (x.data[k] - y.data[grp]).exp())]
        }
        Atom::InvPos => vec![map2(&c, &vals[0], |ci, xi| -ci / (xi * xi))],
        Atom::Xlogx | Atom::Entr => {
            if vals[0].data.contains(&0.0) {
                return Err(err(e, "x log x is not differentiable at 0"));
            }
            let sgn = if atom == Atom::Xlogx { 1.0 } else { -1.0 };
            vec![map2(&c, &vals[0], |ci, xi| sgn * (xi.ln() + 1.0) * ci)]
        }
        // d[x log(x/y) − x + y] = log(x/y) dx + (1 − x/y) dy
        Atom::KlDiv => {
            let (a, b) = (&vals[0], &vals[1]);
            let da = zip(a, b, |x, y| if x > 0.0 { (x / y).ln() } else { 0.0 }).ok_or_else(|| err(e, "shapes"))?;
            let db = zip(a, b, |x, y| 1.0 - x / y).ok_or_else(|| err(e, "shapes"))?;
            let da = zip(&c, &da, |p, q| p * q).ok_or_else(|| err(e, "shapes"))?;
            let db = zip(&c, &db, |p, q| p * q).ok_or_else(|| err(e, "shapes"))?;
            vec![unbroadcast(&da, &a.shape), unbroadcast(&db, &b.shape)]
        }
        Atom::Logistic => vec![map2(&c, &vals[0], |ci, xi| ci / (1.0 + (-xi).exp()))],
        Atom::Log => vec![map2(&c, &vals[0], |ci, xi| ci / xi)],
        Atom::Sqrt => vec![map2(&c, &y, |ci, yi| ci / (2.0 * yi))],
        Atom::Sin => vec![map2(&c, &vals[0], |ci, xi| ci * xi.cos())],
        Atom::Cos => vec![map2(&c, &vals[0], |ci, xi| -ci * xi.sin())],
        Atom::Tanh => vec![map2(&c, &y, |ci, yi| ci * (1.0 - yi * yi))],
        Atom::Sigmoid => vec![map2(&c, &y, |ci, yi| ci * yi * (1.0 - yi))],
        // spread is the adjoint of sum, sum_to of broadcasting (and vice versa)
        Atom::Spread if axis == Some(1) => vec![super::reduce(&c, axis, 0.0, |a, b| a + b)],
        Atom::Spread => vec![unbroadcast(&c, &vals[0].shape)],
        Atom::SumTo => vec![broadcast_to(&c, &vals[0].shape)],
        // d(a bᵀ) = da bᵀ + a dbᵀ: ā = C̄ b, b̄ = C̄ᵀ a
        Atom::Outer => {
            let (a, b) = (&vals[0], &vals[1]);
            let da = matmul(&c, b).ok_or_else(|| err(e, "shapes"))?;
            let db = matmul(a, &c).ok_or_else(|| err(e, "shapes"))?;
            vec![da, db]
        }
        // piecewise constant: no derivative on each piece
        Atom::Sign | Atom::Step | Atom::Ge => Vec::new(),
        // dh = (a da + Σ x dx) / h, with r = c / h (0 where h = 0)
        Atom::Hypot => {
            let r = map2(&c, &y, |ci, h| if h > 0.0 { ci / h } else { 0.0 });
            let ra = zip(&r, &vals[0], |ri, a| ri * a).ok_or_else(|| err(e, "shapes"))?;
            let dx = if axis.is_some() {
                spread(&vals[1], axis, &r, |k, _| vals[1].data[k])
            } else {
                let rx = zip(&r, &vals[1], |ri, x| ri * x).ok_or_else(|| err(e, "shapes"))?;
                unbroadcast(&rx, &vals[1].shape)
            };
            vec![unbroadcast(&ra, &vals[0].shape), dx]
        }
    };
    for (a, d) in args.iter().zip(dx) {
        back(a, env, d, g)?;
    }
    Ok(())
}

/// The cotangent of a concatenation, cut back into its parts.
fn split(atom: Atom, vals: &[Tensor], c: &Tensor) -> Vec<Tensor> {
    if atom == Atom::Vstack || vals.iter().all(|v| v.rank() == 1) {
        let mut at = 0;
        return vals
            .iter()
            .map(|v| {
                let t = Tensor { shape: v.shape.clone(), data: c.data[at..at + v.len()].to_vec() };
                at += v.len();
                t
            })
            .collect();
    }
    let rows = vals[0].rows_cols().0;
    let width: usize = vals.iter().map(|v| v.rows_cols().1).sum();
    let mut offset = 0;
    vals.iter()
        .map(|v| {
            let w = v.rows_cols().1;
            let data = (0..rows).flat_map(|i| c.data[i * width + offset..i * width + offset + w].to_vec()).collect();
            offset += w;
            Tensor { shape: v.shape.clone(), data }
        })
        .collect()
}
