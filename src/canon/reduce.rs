//! The reductions: each expression of a DCP node becomes an affine form that
//! equals it (`Exact`), bounds it from above (`Upper`, for convex expressions:
//! the epigraph), or from below (`Lower`, concave: the hypograph), adding the
//! variables and cone memberships that make the bound valid and tight at an
//! optimum. Each atom's reduction is one method, found through the table
//! [`reduction`] keyed by atom (an atom and its mirror image, `max`/`min`,
//! share one); the formula each uses is in its note or doc comment.

use std::collections::HashMap;

use super::affine::{Aff, Lin};
use super::builder::{Sink, Tag};
use super::scalar::{Data, Scalar, Test};
use super::CanonError;
use crate::atoms::Atom;
use crate::dcp::{analyze, Analysis, Mono, Sign};
use crate::eval::{self, Env, Tensor};
use crate::ir::{Arith, Expr, ExprKind, Node, Sel};
use crate::syntax::ast::BaseType;

/// Which bound of an expression a reduction must produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Exact,
    /// An affine form `t ≥ e` (epigraph), tight at optima.
    Upper,
    /// An affine form `t ≤ e` (hypograph).
    Lower,
}

impl Dir {
    pub fn flip(self) -> Dir {
        match self {
            Dir::Upper => Dir::Lower,
            Dir::Lower => Dir::Upper,
            Dir::Exact => Dir::Exact,
        }
    }

    /// The direction for `c · e` given the sign of data `c`.
    fn through(self, s: Sign) -> Dir {
        match s {
            s if s.is_nonneg() => self,
            s if s.is_nonpos() => self.flip(),
            _ => Dir::Exact,
        }
    }
}

fn data_sign<S: Scalar>(t: &Data<S>) -> Sign {
    if S::all(&t.data, Test::Ge0) {
        Sign::Nonneg
    } else if S::all(&t.data, Test::Le0) {
        Sign::Nonpos
    } else {
        Sign::Unknown
    }
}

/// An atom's call as its reduction sees it: the expression, its arguments
/// and `axis`, and the bound the reduction must produce.
#[derive(Clone, Copy)]
struct Call<'e> {
    e: &'e Expr,
    atom: Atom,
    args: &'e [Expr],
    axis: Option<u8>,
    dir: Dir,
}

/// One atom's reduction.
type Reduction<'a, K> = fn(&mut Reducer<'a, K>, &Call<'_>) -> Result<Aff<<K as Sink>::S>, CanonError>;

/// The table of reductions, keyed by atom: `None` for an atom with no conic
/// form (it needs a cone ddn does not have, or is internal).
fn reduction<'a, K: Sink>(atom: Atom) -> Option<Reduction<'a, K>> {
    Some(match atom {
        Atom::Sum | Atom::Mean => Reducer::reduce_sum,
        Atom::Trace => Reducer::reduce_trace,
        Atom::Diag => Reducer::reduce_diag,
        Atom::Hstack | Atom::Vstack => Reducer::reduce_stack,
        Atom::Abs => Reducer::reduce_abs,
        Atom::Pos => Reducer::reduce_pos,
        Atom::Maximum | Atom::Minimum => Reducer::reduce_maximum,
        Atom::Max | Atom::Min => Reducer::reduce_max,
        Atom::LambdaMax | Atom::LambdaMin => Reducer::reduce_lambda_max,
        Atom::LogDet => Reducer::reduce_log_det,
        Atom::NuclearNorm => Reducer::reduce_nuclear_norm,
        Atom::MatrixFrac => Reducer::reduce_matrix_frac,
        Atom::Norm1 => Reducer::reduce_norm1,
        Atom::NormInf => Reducer::reduce_norm_inf,
        Atom::Norm => Reducer::reduce_norm,
        Atom::Hypot => Reducer::reduce_hypot,
        Atom::SumSquares => Reducer::reduce_sum_squares,
        Atom::Square | Atom::Sqrt | Atom::InvPos => Reducer::reduce_power,
        Atom::QuadForm => Reducer::reduce_quad_form,
        Atom::QuadOverLin => Reducer::reduce_quad_over_lin,
        Atom::Huber => Reducer::reduce_huber,
        Atom::Exp => Reducer::reduce_exp,
        Atom::Log => Reducer::reduce_log,
        Atom::Entr => Reducer::reduce_entr,
        Atom::Xlogx => Reducer::reduce_xlogx,
        Atom::KlDiv => Reducer::reduce_kl_div,
        Atom::Logistic => Reducer::reduce_logistic,
        Atom::LogSumExp => Reducer::reduce_log_sum_exp,
        _ => return None,
    })
}

/// Runs the reductions, reporting to the sink `b` (see [`Sink`]).
pub struct Reducer<'a, K: Sink> {
    pub env: Env<'a>,
    /// Values of the node's data subexpressions computed beforehand (by the
    /// node's `Data` kernel), by address; others are evaluated when met.
    known: HashMap<*const Expr, (usize, &'a Tensor)>,
    pub vars: Vec<Aff<K::S>>,
    pub b: K,
    /// What ran, in order: `ddnc explain` prints it.
    pub log: Vec<String>,
    params: Vec<BaseType>,
    var_bases: Vec<BaseType>,
}

fn err(e: &Expr, message: impl Into<String>) -> CanonError {
    CanonError { message: message.into(), span: Some(e.span) }
}

fn mismatch(e: &Expr) -> CanonError {
    err(e, "shapes do not agree at run time")
}

impl<'a, K: Sink> Reducer<'a, K> {
    /// `data`: the values of [`crate::kernel::data_exprs`]`(node)`, in order,
    /// or empty to evaluate each data subexpression when the reductions meet it.
    pub fn new(node: &'a Node, env: Env<'a>, data: &'a [Tensor], vars: Vec<Aff<K::S>>, b: K) -> Self {
        let known = if data.is_empty() {
            HashMap::new()
        } else {
            crate::kernel::data_exprs(node).into_iter().map(|e| e as *const Expr).zip(data.iter().enumerate()).collect()
        };
        Reducer {
            env,
            known,
            vars,
            b,
            log: Vec::new(),
            params: node.params.iter().map(|p| p.base).collect(),
            var_bases: node.vars.iter().map(|v| v.base).collect(),
        }
    }

    pub fn analysis(&self, e: &Expr) -> Analysis {
        analyze(e, &self.params, &self.var_bases)
    }

    /// The value of the data expression `e`, as the sink's numbers.
    pub fn data(&mut self, e: &Expr) -> Result<Data<K::S>, CanonError> {
        let (t, index) = match self.known.get(&(e as *const Expr)) {
            Some(&(k, t)) => (t.clone(), Some(k)),
            None => {
                (eval::eval(e, &self.env).map_err(|x| CanonError { message: x.message, span: Some(x.span) })?, None)
            }
        };
        Ok(self.b.lift(e, t, index))
    }

    pub(super) fn note(&mut self, what: &str) {
        if !self.log.iter().any(|l| l == what) {
            self.log.push(what.to_string());
        }
    }

    /// Reduces `e` to an affine form bounding it in direction `dir`.
    pub fn canon(&mut self, e: &Expr, dir: Dir) -> Result<Aff<K::S>, CanonError> {
        if e.is_data() {
            return Ok(Aff::constant(&self.data(e)?));
        }
        match &e.kind {
            ExprKind::Var(v) => Ok(self.vars[v.0 as usize].clone()),
            ExprKind::Neg(a) => Ok(scale(self.canon(a, dir.flip())?, -1.0)),
            ExprKind::Binary { op: Arith::Add, lhs, rhs } => {
                let (l, r) = (self.canon(lhs, dir)?, self.canon(rhs, dir)?);
                Aff::combine(&l, 1.0, &r, 1.0).ok_or_else(|| mismatch(e))
            }
            ExprKind::Binary { op: Arith::Sub, lhs, rhs } => {
                let (l, r) = (self.canon(lhs, dir)?, self.canon(rhs, dir.flip())?);
                Aff::combine(&l, 1.0, &r, -1.0).ok_or_else(|| mismatch(e))
            }
            ExprKind::Binary { op: Arith::Mul, lhs, rhs } if lhs.is_data() || rhs.is_data() => {
                let (d, x) = if lhs.is_data() { (lhs, rhs) } else { (rhs, lhs) };
                let t = self.data(d)?;
                self.canon(x, dir.through(data_sign(&t)))?.times(&t).ok_or_else(|| mismatch(e))
            }
            ExprKind::Binary { op: Arith::Div, lhs, rhs } if rhs.is_data() => {
                let t = self.data(rhs)?;
                if K::S::any(&t.data, Test::Eq0) {
                    return Err(err(rhs, "division by zero"));
                }
                let inv = t.map(|x| K::S::from(1.0) / x);
                self.canon(lhs, dir.through(data_sign(&t)))?.times(&inv).ok_or_else(|| mismatch(e))
            }
            ExprKind::MatMul(lhs, rhs) if lhs.is_data() => {
                let t = self.data(lhs)?;
                let x = self.canon(rhs, dir.through(data_sign(&t)))?;
                Aff::left_matmul(&t, &x).ok_or_else(|| mismatch(e))
            }
            ExprKind::MatMul(lhs, rhs) if rhs.is_data() => {
                let t = self.data(rhs)?;
                let x = self.canon(lhs, dir.through(data_sign(&t)))?;
                Aff::right_matmul(&x, &t).ok_or_else(|| mismatch(e))
            }
            ExprKind::Transpose(a) => Ok(self.canon(a, dir)?.transposed()),
            ExprKind::Index { base, sel } => index(&self.canon(base, dir)?, sel).ok_or_else(|| mismatch(e)),
            ExprKind::Pow { base, p } => self.pow(e, base, *p, dir),
            ExprKind::Atom { atom, args, axis } => self.atom(e, *atom, args, *axis, dir),
            _ => Err(err(e, "this product of variables is not DCP and has no conic form")),
        }
    }

    /// The form of argument `i` of an atom, bounded in the direction the atom's
    /// monotonicity in it requires.
    fn arg(&mut self, c: &Call<'_>, i: usize) -> Result<Aff<K::S>, CanonError> {
        let Call { atom, args, dir, .. } = *c;
        let a = &args[i];
        let an = self.analysis(a);
        if an.curvature.is_affine() {
            return self.canon(a, Dir::Exact);
        }
        let signs: Vec<Sign> = args.iter().map(|x| self.analysis(x).sign).collect();
        match (atom.info().mono)(i, &signs) {
            Mono::Increasing => self.canon(a, dir),
            Mono::Decreasing => self.canon(a, dir.flip()),
            Mono::None => Err(err(a, format!("`{}` needs an affine argument here", atom.name()))),
        }
    }

    fn pow(&mut self, e: &Expr, base: &Expr, p: f64, dir: Dir) -> Result<Aff<K::S>, CanonError> {
        let x = if self.analysis(base).curvature.is_affine() {
            self.canon(base, Dir::Exact)?
        } else {
            let s = self.analysis(base).sign;
            let inner = if p < 0.0 {
                Dir::Lower
            } else if p < 1.0 {
                dir
            } else {
                dir.through(s)
            };
            self.canon(base, inner)?
        };
        match p {
            1.0 => Ok(x),
            2.0 => self.square(e, &x, dir),
            0.5 => self.sqrt(e, &x, dir),
            -1.0 => self.inv_pos(e, &x, dir),
            _ => Err(err(e, format!("x^{p} has no conic form in ddn yet (supported: p = 2, 0.5, -1)"))),
        }
    }

    fn atom(
        &mut self,
        e: &Expr,
        atom: Atom,
        args: &[Expr],
        axis: Option<u8>,
        dir: Dir,
    ) -> Result<Aff<K::S>, CanonError> {
        let needs = match atom.info().curvature {
            crate::dcp::Curvature::Convex => Some(Dir::Upper),
            crate::dcp::Curvature::Concave => Some(Dir::Lower),
            _ => None,
        };
        if let Some(want) = needs {
            if dir != want {
                return Err(err(e, format!("`{}` appears where DCP does not allow it", atom.name())));
            }
        }
        let call = Call { e, atom, args, axis, dir };
        match reduction(atom) {
            Some(reduce) => reduce(self, &call),
            None => Err(err(e, format!("`{}` has no conic form (it needs a cone ddn does not have)", atom.name()))),
        }
    }

    fn reduce_sum(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let Call { atom, args, axis, dir, .. } = *c;
        let x = self.canon(&args[0], dir)?;
        let groups = x.groups(axis);
        let count = groups.first().map_or(1, Vec::len).max(1) as f64;
        let w = if atom == Atom::Mean { 1.0 / count } else { 1.0 };
        let e = groups.iter().map(|g| sum(g, w)).collect();
        Ok(Aff { shape: x.reduced_shape(axis), e })
    }

    fn reduce_trace(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let Call { args, dir, .. } = *c;
        let x = self.canon(&args[0], dir)?;
        let n = x.shape.first().copied().unwrap_or(0);
        let diag: Vec<&Lin<K::S>> = (0..n).map(|i| &x.e[i * n + i]).collect();
        Ok(Aff::scalar(sum(&diag, 1.0)))
    }

    fn reduce_diag(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let Call { args, dir, .. } = *c;
        let x = self.canon(&args[0], dir)?;
        Ok(match x.shape.as_slice() {
            [n] => {
                let n = *n;
                let mut out = vec![Lin::default(); n * n];
                (0..n).for_each(|i| out[i * n + i] = x.e[i].clone());
                Aff { shape: vec![n, n], e: out }
            }
            _ => {
                let n = x.shape.first().copied().unwrap_or(0);
                Aff { shape: vec![n], e: (0..n).map(|i| x.e[i * n + i].clone()).collect() }
            }
        })
    }

    fn reduce_stack(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let Call { e, atom, args, dir, .. } = *c;
        let parts = args.iter().map(|a| self.canon(a, dir)).collect::<Result<Vec<_>, _>>()?;
        stack(atom, parts, eval::concrete(&e.shape, self.env.dims)).ok_or_else(|| mismatch(e))
    }

    fn reduce_abs(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let x = self.arg(c, 0)?;
        self.note("abs: t ≥ x, t ≥ −x");
        let t = self.fresh(x.shape.clone());
        self.above_abs(&t, &x);
        Ok(t)
    }

    fn reduce_pos(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let x = self.arg(c, 0)?;
        self.note("pos: t ≥ x, t ≥ 0");
        let t = self.fresh(x.shape.clone());
        self.b.nonneg(pairs(&t, &x, 1.0, -1.0));
        self.b.nonneg(t.e.clone());
        Ok(t)
    }

    fn reduce_maximum(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let Call { e, atom, args, .. } = *c;
        let xs = (0..args.len()).map(|i| self.arg(c, i)).collect::<Result<Vec<_>, _>>()?;
        let shape = eval::concrete(&e.shape, self.env.dims);
        let s = if atom == Atom::Maximum { 1.0 } else { -1.0 };
        self.note(if s > 0.0 { "maximum: t ≥ each argument" } else { "minimum: t ≤ each argument" });
        let t = self.fresh(shape);
        for x in &xs {
            // s·(t − x) ≥ 0, broadcasting x to t's shape.
            let d = Aff::combine(&t, s, x, -s).ok_or_else(|| mismatch(e))?;
            self.b.nonneg(d.e);
        }
        Ok(t)
    }

    fn reduce_max(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let Call { atom, axis, .. } = *c;
        let x = self.arg(c, 0)?;
        let s = if atom == Atom::Max { 1.0 } else { -1.0 };
        self.note(if s > 0.0 { "max: t ≥ each entry" } else { "min: t ≤ each entry" });
        let t = self.fresh(x.reduced_shape(axis));
        let groups: Vec<Vec<Lin<K::S>>> =
            x.groups(axis).into_iter().map(|g| g.into_iter().cloned().collect()).collect();
        for (k, g) in groups.iter().enumerate() {
            let rows = g
                .iter()
                .map(|xi| {
                    let mut l = t.e[k].scaled(s);
                    l.add_scaled(xi, -s);
                    l
                })
                .collect();
            self.b.nonneg(rows);
        }
        Ok(t)
    }

    fn reduce_lambda_max(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let Call { atom, .. } = *c;
        let x = self.arg(c, 0)?;
        let s = if atom == Atom::LambdaMax { 1.0 } else { -1.0 };
        self.note(if s > 0.0 { "lambda_max: t I − X ⪰ 0" } else { "lambda_min: X − t I ⪰ 0" });
        let n = x.shape[0];
        let t = self.fresh(Vec::new());
        // s(t I − X), row-major.
        let m: Vec<Lin<K::S>> = (0..n * n)
            .map(|k| {
                let mut l = x.e[k].scaled(-s);
                if k / n == k % n {
                    l.add_scaled(&t.e[0], s);
                }
                l
            })
            .collect();
        self.b.psd(n, super::svec_of_symmetric_part(&m, n));
        Ok(t)
    }

    /// With D = diag Z, the block says X ⪰ Z D⁻¹ Zᵀ, so det X ≥ det(Z)²/det D
    /// = Π Zᵢᵢ (Z triangular); at X = LLᵀ, Z = L diag(L) attains it
    /// (Boyd & Vandenberghe; CVXPY's reduction, transposed).
    fn reduce_log_det(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let x = self.arg(c, 0)?;
        let n = x.shape[0];
        self.note("log_det: [[X, Z], [Zᵀ, diag Z]] ⪰ 0 with Z lower triangular, then Σ log Zᵢᵢ");
        let z = self.fresh_triangle(n, false);
        let d: Vec<Lin<K::S>> =
            (0..n * n).map(|k| if k / n == k % n { z[k].clone() } else { Lin::default() }).collect();
        self.psd_blocks(n, n, &x.e, &z, &d);
        let t = self.log(&Aff { shape: vec![n], e: (0..n).map(|i| z[i * n + i].clone()).collect() });
        Ok(Aff::scalar(sum(&t.e.iter().collect::<Vec<_>>(), 1.0)))
    }

    /// The nuclear norm is the dual of the spectral norm; this is the
    /// semidefinite form of its epigraph (Fazel, Hindi & Boyd, 2001), tight
    /// at U = (XXᵀ)^½, V = (XᵀX)^½.
    fn reduce_nuclear_norm(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let x = self.arg(c, 0)?;
        let (m, n) = (x.shape[0], x.shape[1]);
        self.note("nuclear_norm: [[U, X], [Xᵀ, V]] ⪰ 0, ‖X‖_* ≤ (tr U + tr V)/2");
        let (u, v) = (self.fresh_triangle(m, true), self.fresh_triangle(n, true));
        self.psd_blocks(m, n, &u, &x.e, &v);
        let diagonal: Vec<&Lin<K::S>> = (0..m).map(|i| &u[i * m + i]).chain((0..n).map(|j| &v[j * n + j])).collect();
        Ok(Aff::scalar(sum(&diagonal, 0.5)))
    }

    /// The Schur complement of P ≻ 0: T ⪰ XᵀP⁻¹X, tight at T = XᵀP⁻¹X.
    fn reduce_matrix_frac(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let x = self.arg(c, 0)?;
        let p = self.arg(c, 1)?;
        let (n, k) = (p.shape[0], x.shape.get(1).copied().unwrap_or(1));
        self.note("matrix_frac: [[P, X], [Xᵀ, T]] ⪰ 0, tr(XᵀP⁻¹X) ≤ tr T");
        let t = self.fresh_triangle(k, true);
        self.psd_blocks(n, k, &p.e, &x.e, &t);
        Ok(Aff::scalar(sum(&(0..k).map(|i| &t[i * k + i]).collect::<Vec<_>>(), 1.0)))
    }

    fn reduce_norm1(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let x = self.arg(c, 0)?;
        self.note("norm1: Σ tᵢ with tᵢ ≥ |xᵢ|");
        let t = self.fresh(x.shape.clone());
        self.above_abs(&t, &x);
        Ok(Aff::scalar(sum(&t.e.iter().collect::<Vec<_>>(), 1.0)))
    }

    fn reduce_norm_inf(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let x = self.arg(c, 0)?;
        self.note("norm_inf: t ≥ ±xᵢ");
        let t = self.fresh(Vec::new());
        let tb = Aff { shape: x.shape.clone(), e: vec![t.e[0].clone(); x.len()] };
        self.above_abs(&tb, &x);
        Ok(t)
    }

    fn reduce_norm(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let x = self.arg(c, 0)?;
        self.note("norm: (t, x) in the second-order cone");
        let t = self.fresh(Vec::new());
        let mut block = vec![t.e[0].clone()];
        block.extend(x.e);
        self.b.soc(block);
        Ok(t)
    }

    fn reduce_hypot(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let Call { e, axis, .. } = *c;
        let a = self.arg(c, 0)?;
        let x = self.arg(c, 1)?;
        self.hypot(e, &a, &x, axis)
    }

    fn reduce_sum_squares(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let x = self.arg(c, 0)?;
        self.sum_squares(&x)
    }

    /// `square`, `sqrt` and `inv_pos`: the powers 2, ½ and −1 (as `x^p`'s).
    fn reduce_power(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let Call { e, atom, dir, .. } = *c;
        let x = self.arg(c, 0)?;
        match atom {
            Atom::Square => self.square(e, &x, dir),
            Atom::Sqrt => self.sqrt(e, &x, dir),
            _ => self.inv_pos(e, &x, dir),
        }
    }

    fn reduce_quad_form(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let Call { e, args, .. } = *c;
        let x = self.canon(&args[0], Dir::Exact)?;
        let q = self.data(&args[1])?;
        let n = x.len();
        let s = K::S::psd_root(n, &q.data).map_err(|m| err(&args[1], m))?;
        self.note("quad_form: xᵀQx = ‖S x‖² with S = Q^½");
        let s = Data { shape: vec![n, n], data: s };
        let sx = Aff::left_matmul(&s, &x).ok_or_else(|| mismatch(e))?;
        let (t, cone) = self.sum_squares_cone(&sx);
        self.b.quad_form(&x, &q, cone);
        Ok(t)
    }

    fn reduce_quad_over_lin(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let x = self.arg(c, 0)?;
        let y = self.arg(c, 1)?;
        self.note("quad_over_lin: t·y ≥ ‖x‖² (rotated cone)");
        let t = self.fresh(Vec::new());
        self.rotated(&t.e[0], &y.e[0], &x.e);
        Ok(t)
    }

    fn reduce_huber(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let Call { args, .. } = *c;
        let x = self.arg(c, 0)?;
        let m = self.data(&args[1])?.as_scalar().unwrap_or(K::S::from(1.0));
        if K::S::all(&[m], Test::Lt0) {
            return Err(err(&args[1], "`huber` needs a nonnegative threshold"));
        }
        self.note("huber: min over u of u² + 2M|x − u|");
        let mut out = Vec::with_capacity(x.len());
        for xi in &x.e {
            let (u, v) = self.huber_rows(xi);
            // s ≥ u²: s·1 ≥ u².
            let s = Lin::var(self.b.new_vars(1));
            self.rotated(&s, &Lin::constant(K::S::from(1.0)), &[u]);
            out.push(add(&s, &v, m * 2.0));
        }
        Ok(Aff { shape: x.shape, e: out })
    }

    fn reduce_exp(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let x = self.arg(c, 0)?;
        Ok(self.per_entry_exp(&x, "exp: eˣ ≤ t as (x, 1, t) ∈ K_exp per entry", |t, x, one| [x, one, t]))
    }

    fn reduce_log(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let x = self.arg(c, 0)?;
        Ok(self.log(&x))
    }

    fn reduce_entr(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let x = self.arg(c, 0)?;
        Ok(self.per_entry_exp(&x, "entr: t ≤ −x log x as (t, x, 1) ∈ K_exp per entry", |t, x, one| [t, x, one]))
    }

    fn reduce_xlogx(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let x = self.arg(c, 0)?;
        let note = "xlogx: x log x ≤ t as (−t, x, 1) ∈ K_exp per entry";
        Ok(self.per_entry_exp(&x, note, |t, x, one| [t.scaled(-1.0), x, one]))
    }

    fn reduce_kl_div(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let Call { e, .. } = *c;
        let x = self.arg(c, 0)?;
        let y = self.arg(c, 1)?;
        let len = x.len().max(y.len());
        if ![x.len(), y.len()].iter().all(|&l| l == len || l == 1) {
            return Err(err(e, "`kl_div` of two differently shaped tensors has no conic form yet"));
        }
        self.note("kl_div: x log(x/y) ≤ u as (−u, x, y) ∈ K_exp per entry, then u − x + y");
        let u = self.fresh(eval::concrete(&e.shape, self.env.dims));
        let at = |a: &Aff<K::S>, i: usize| a.e[if a.len() == 1 { 0 } else { i }].clone();
        let cones = (0..len).map(|i| [u.e[i].scaled(-1.0), at(&x, i), at(&y, i)]).collect();
        self.b.exp(cones);
        let out = (0..len).map(|i| add(&add(&u.e[i], &at(&x, i), -1.0), &at(&y, i), 1.0)).collect();
        Ok(Aff { shape: u.shape, e: out })
    }

    fn reduce_logistic(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let x = self.arg(c, 0)?;
        self.note("logistic: e^{−t} + e^{x−t} ≤ 1 as (−t, 1, u), (x − t, 1, v) ∈ K_exp, u + v ≤ 1 per entry");
        let (t, u, v) = (self.fresh(x.shape.clone()), self.fresh(x.shape.clone()), self.fresh(x.shape.clone()));
        let one = Lin::constant(K::S::from(1.0));
        let mut cones = Vec::with_capacity(2 * x.len());
        for i in 0..x.len() {
            cones.push([t.e[i].scaled(-1.0), one.clone(), u.e[i].clone()]);
            cones.push([add(&x.e[i], &t.e[i], -1.0), one.clone(), v.e[i].clone()]);
        }
        self.b.exp(cones);
        let rows = (0..x.len()).map(|i| add(&add(&one, &u.e[i], -1.0), &v.e[i], -1.0)).collect();
        self.b.nonneg(rows);
        Ok(t)
    }

    fn reduce_log_sum_exp(&mut self, c: &Call<'_>) -> Result<Aff<K::S>, CanonError> {
        let Call { axis, .. } = *c;
        let x = self.arg(c, 0)?;
        self.note("log_sum_exp: Σ e^{xᵢ − t} ≤ 1 as (xᵢ − t, 1, wᵢ) ∈ K_exp, Σ wᵢ ≤ 1");
        let t = self.fresh(x.reduced_shape(axis));
        let one = Lin::constant(K::S::from(1.0));
        let groups: Vec<Vec<Lin<K::S>>> =
            x.groups(axis).into_iter().map(|g| g.into_iter().cloned().collect()).collect();
        for (k, g) in groups.iter().enumerate() {
            let w = self.fresh(vec![g.len()]);
            let cones = g.iter().zip(&w.e).map(|(xi, wi)| [add(xi, &t.e[k], -1.0), one.clone(), wi.clone()]).collect();
            self.b.exp(cones);
            self.b.nonneg(vec![w.e.iter().fold(one.clone(), |acc, wi| add(&acc, wi, -1.0))]);
        }
        Ok(t)
    }

    /// `t ≥ |x|` entrywise, as the rows `t − x ≥ 0` and `t + x ≥ 0`.
    fn above_abs(&mut self, t: &Aff<K::S>, x: &Aff<K::S>) {
        self.b.nonneg(pairs(t, x, 1.0, -1.0));
        self.b.nonneg(pairs(t, x, 1.0, 1.0));
    }

    fn fresh(&mut self, shape: Vec<usize>) -> Aff<K::S> {
        let len: usize = shape.iter().product();
        let first = self.b.new_vars(len);
        Aff::vars(first, shape)
    }

    /// The rotated cone `u·v ≥ ‖w‖², u, v ≥ 0` as the second-order cone
    /// `‖(2w, u − v)‖ ≤ u + v` — every quadratic, root and inverse below is one.
    fn rotated(&mut self, u: &Lin<K::S>, v: &Lin<K::S>, w: &[Lin<K::S>]) -> Tag {
        let mut block = vec![add(u, v, 1.0), add(u, v, -1.0)];
        block.extend(w.iter().map(|wi| wi.scaled(2.0)));
        self.b.soc(block)
    }

    /// tₖ ≥ √(aₖ² + Σ_{i ∈ group k} xᵢ²): one cone `(tₖ, aₖ, x_group)` per entry of
    /// the result, `a` broadcast to it, the groups those of a reduction along
    /// `axis` (or single entries of `x` broadcast to the result, without one).
    fn hypot(&mut self, e: &Expr, a: &Aff<K::S>, x: &Aff<K::S>, axis: Option<u8>) -> Result<Aff<K::S>, CanonError> {
        let shape = eval::concrete(&e.shape, self.env.dims);
        let zero = Aff { shape: shape.clone(), e: vec![Lin::default(); shape.iter().product()] };
        let spread = |v: &Aff<K::S>| Aff::combine(&zero, 1.0, v, 1.0).filter(|b| b.shape == shape);
        let a = spread(a).ok_or_else(|| mismatch(e))?;
        let groups: Vec<Vec<Lin<K::S>>> = match axis {
            Some(_) => x.groups(axis).into_iter().map(|g| g.into_iter().cloned().collect()).collect(),
            None => spread(x).ok_or_else(|| mismatch(e))?.e.into_iter().map(|l| vec![l]).collect(),
        };
        if groups.len() != a.len() {
            return Err(mismatch(e));
        }
        self.note("hypot: (t, a, x) in the second-order cone per entry");
        let t = self.fresh(shape);
        for ((ti, ai), g) in t.e.iter().zip(&a.e).zip(groups) {
            let mut block = vec![ti.clone(), ai.clone()];
            block.extend(g);
            self.b.soc(block);
        }
        Ok(t)
    }

    /// t ≥ ‖x‖²: the rotated cone t·1 ≥ ‖x‖².
    fn sum_squares(&mut self, x: &Aff<K::S>) -> Result<Aff<K::S>, CanonError> {
        Ok(self.sum_squares_cone(x).0)
    }

    /// [`Self::sum_squares`], with the cone's tag.
    fn sum_squares_cone(&mut self, x: &Aff<K::S>) -> (Aff<K::S>, Tag) {
        self.note("sum_squares: t·1 ≥ ‖x‖² (rotated cone)");
        let t = self.fresh(Vec::new());
        let cone = self.rotated(&t.e[0], &Lin::constant(K::S::from(1.0)), &x.e);
        (t, cone)
    }

    /// One 3-dimensional rotated cone per entry, `u(t, x)·v(t, x) ≥ w(t, x)²`, for a
    /// fresh t of x's shape; `want` is the bound direction DCP allows.
    fn per_entry(
        &mut self,
        e: &Expr,
        x: &Aff<K::S>,
        (dir, want): (Dir, Dir),
        note: &str,
        cone: impl Fn(&Lin<K::S>, &Lin<K::S>) -> (Lin<K::S>, Lin<K::S>, Lin<K::S>),
    ) -> Result<Aff<K::S>, CanonError> {
        if dir != want {
            return Err(err(e, format!("{note}: appears where DCP does not allow it")));
        }
        self.note(note);
        let t = self.fresh(x.shape.clone());
        for (ti, xi) in t.e.iter().zip(&x.e) {
            let (u, v, w) = cone(ti, xi);
            self.rotated(&u, &v, &[w]);
        }
        Ok(t)
    }

    /// One exponential cone per entry of x, `cone(tᵢ, xᵢ, 1)`, for a fresh t of
    /// x's shape (the direction is the atom's own, checked by `atom`).
    fn per_entry_exp(
        &mut self,
        x: &Aff<K::S>,
        note: &str,
        cone: impl Fn(Lin<K::S>, Lin<K::S>, Lin<K::S>) -> [Lin<K::S>; 3],
    ) -> Aff<K::S> {
        self.note(note);
        let t = self.fresh(x.shape.clone());
        let one = Lin::constant(K::S::from(1.0));
        let cones = t.e.iter().zip(&x.e).map(|(ti, xi)| cone(ti.clone(), xi.clone(), one.clone())).collect();
        self.b.exp(cones);
        t
    }

    /// tᵢ ≤ log xᵢ: (tᵢ, 1, xᵢ) ∈ K_exp.
    fn log(&mut self, x: &Aff<K::S>) -> Aff<K::S> {
        self.per_entry_exp(x, "log: t ≤ log x as (t, 1, x) ∈ K_exp per entry", |t, x, one| [t, one, x])
    }

    /// A fresh lower-triangular `n × n` matrix of forms (row-major), or with
    /// `mirror` a symmetric one: `n(n + 1)/2` new variables either way, so the
    /// reductions below add no direction the cone program cannot see.
    fn fresh_triangle(&mut self, n: usize, mirror: bool) -> Vec<Lin<K::S>> {
        let first = self.b.new_vars(n * (n + 1) / 2);
        (0..n * n)
            .map(|k| {
                let (i, j) = (k / n, k % n);
                match (i >= j, mirror) {
                    (true, _) => Lin::var(first + i * (i + 1) / 2 + j),
                    (false, true) => Lin::var(first + j * (j + 1) / 2 + i),
                    (false, false) => Lin::default(),
                }
            })
            .collect()
    }

    /// `[[A, B], [Bᵀ, D]] ⪰ 0` (its symmetric part) for row-major forms `A`
    /// (`p × p`), `B` (`p × q`) and `D` (`q × q`): the Schur-complement block
    /// every matrix atom below reduces to.
    fn psd_blocks(&mut self, p: usize, q: usize, a: &[Lin<K::S>], b: &[Lin<K::S>], d: &[Lin<K::S>]) -> Tag {
        let n = p + q;
        let m: Vec<Lin<K::S>> = (0..n * n)
            .map(|k| {
                let (i, j) = (k / n, k % n);
                match (i < p, j < p) {
                    (true, true) => a[i * p + j].clone(),
                    (true, false) => b[i * q + j - p].clone(),
                    (false, true) => b[j * q + i - p].clone(),
                    (false, false) => d[(i - p) * q + j - p].clone(),
                }
            })
            .collect();
        self.b.psd(n, super::svec_of_symmetric_part(&m, n))
    }

    /// tᵢ ≥ xᵢ²: tᵢ·1 ≥ xᵢ².
    fn square(&mut self, e: &Expr, x: &Aff<K::S>, dir: Dir) -> Result<Aff<K::S>, CanonError> {
        self.per_entry(e, x, (dir, Dir::Upper), "square: t·1 ≥ x² per entry", |t, x| {
            (t.clone(), Lin::constant(K::S::from(1.0)), x.clone())
        })
    }

    /// tᵢ ≤ √xᵢ: xᵢ·1 ≥ tᵢ².
    fn sqrt(&mut self, e: &Expr, x: &Aff<K::S>, dir: Dir) -> Result<Aff<K::S>, CanonError> {
        self.per_entry(e, x, (dir, Dir::Lower), "sqrt: x·1 ≥ t² per entry", |t, x| {
            (x.clone(), Lin::constant(K::S::from(1.0)), t.clone())
        })
    }

    /// tᵢ ≥ 1/xᵢ (xᵢ > 0): xᵢ·tᵢ ≥ 1.
    fn inv_pos(&mut self, e: &Expr, x: &Aff<K::S>, dir: Dir) -> Result<Aff<K::S>, CanonError> {
        self.per_entry(e, x, (dir, Dir::Upper), "inv_pos: x·t ≥ 1 per entry", |t, x| {
            (x.clone(), t.clone(), Lin::constant(K::S::from(1.0)))
        })
    }

    /// huber(x) = min over u of u² + 2M|x − u| (the minimiser is u = clip(x, ±M)):
    /// returns (u, v) with the rows v ≥ |x − u|; the caller charges u² + 2M v.
    pub fn huber_rows(&mut self, x: &Lin<K::S>) -> (Lin<K::S>, Lin<K::S>) {
        let first = self.b.new_vars(2);
        let (u, v) = (Lin::var(first), Lin::var(first + 1));
        let mut d = x.clone();
        d.add_scaled(&u, -1.0);
        self.b.nonneg(vec![add(&v, &d, -1.0), add(&v, &d, 1.0)]);
        (u, v)
    }
}

/// `a + w·b`.
pub fn add<S: Scalar>(a: &Lin<S>, b: &Lin<S>, w: impl Into<S>) -> Lin<S> {
    let mut l = a.clone();
    l.add_scaled(b, w);
    l
}

pub fn scale<S: Scalar>(mut a: Aff<S>, w: f64) -> Aff<S> {
    a.e.iter_mut().for_each(|l| *l = l.scaled(w));
    a
}

fn sum<S: Scalar>(g: &[&Lin<S>], w: f64) -> Lin<S> {
    let mut l = Lin::default();
    g.iter().for_each(|x| l.add_scaled(x, w));
    l
}

/// Entrywise `wa·a + wb·b` of two same-shape forms, as membership rows.
fn pairs<S: Scalar>(a: &Aff<S>, b: &Aff<S>, wa: f64, wb: f64) -> Vec<Lin<S>> {
    a.e.iter()
        .zip(&b.e)
        .map(|(x, y)| {
            let mut l = x.scaled(wa);
            l.add_scaled(y, wb);
            l
        })
        .collect()
}

fn index<S: Scalar>(x: &Aff<S>, sel: &[Sel]) -> Option<Aff<S>> {
    // Index the positions 0..len as data, then gather the forms.
    let pos = Tensor { shape: x.shape.clone(), data: (0..x.len()).map(|i| i as f64).collect() };
    let picked = eval::index(&pos, sel)?;
    Some(Aff { shape: picked.shape, e: picked.data.iter().map(|&i| x.e[i as usize].clone()).collect() })
}

fn stack<S: Scalar>(atom: Atom, parts: Vec<Aff<S>>, shape: Vec<usize>) -> Option<Aff<S>> {
    if atom == Atom::Vstack || parts.iter().all(|p| p.shape.len() == 1) {
        return Some(Aff { shape, e: parts.into_iter().flat_map(|p| p.e).collect() });
    }
    let rows = parts.first()?.shape.first().copied()?;
    let mut e = Vec::new();
    for i in 0..rows {
        for p in &parts {
            let c = p.shape.get(1).copied()?;
            e.extend_from_slice(&p.e[i * c..(i + 1) * c]);
        }
    }
    Some(Aff { shape, e })
}
