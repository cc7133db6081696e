//! A node with bound parameters as a [`SmoothProblem`]: its derived expressions
//! evaluated at the solver's points through the node's kernels
//! ([`crate::kernel`]: the evaluator, the interpreter, a generated module or the
//! JIT, which agree bit for bit), with `problem.rs`'s flat conventions
//! (variables in declaration order, each row-major; constraints in node order).
//!
//! - the Jacobians `∂h/∂y`, `∂g/∂y` row by row: row `r` of constraint `i` is
//!   `h_yᵀ eᵣ`, the transposed product with the multiplier seeded by a unit vector;
//! - the Lagrangian Hessian in one run of the `Hessian` kernel where the node
//!   has one (`symbolic::hessian`), else column by column, `∇²L eₖ` from the
//!   Hessian–vector product; either way symmetrised `(H + Hᵀ)/2` (exact
//!   arithmetic gives a symmetric matrix; rounding does not);
//! - [`NodeProblem::param_vjp`]: the mixed partials for the implicit backward.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Mutex;

use faer::Mat;

use super::{KernelId, Kernels};
use crate::eval::Bound;
use crate::eval::{concrete, overwrite_tensors, same_shape, spread, Env, Tensor};
use crate::ir::Node;
use crate::linalg::with_kept;
use crate::smooth::{DomainError, NewtonPass, SmoothProblem};
use crate::symbolic::{Derived, Normalised, SymRole};
use crate::syntax::ast::BaseType;

/// A node at bound parameter values, evaluated through its derived expressions.
pub struct NodeProblem<'a> {
    node: &'a Node,
    bound: &'a Bound,
    derived: &'a Derived,
    kernels: &'a dyn Kernels,
    /// Concrete shape of each variable.
    var_shapes: Vec<Vec<usize>>,
    /// Concrete shape of each symbolic input.
    sym_shapes: Vec<Vec<usize>>,
    /// The last Hessian asked for ([`SmoothProblem::lagrangian_hessian`]) or
    /// handed back by Newton ([`SmoothProblem::recycle`]), with its point
    /// `(y, ν, λ)`: Newton's last one is at the solution, where the
    /// second-order check and the backward pass ask for it again
    /// ([`NodeProblem::keep_hessian`]).
    last_hessian: Mutex<Option<Evaluated>>,
}

/// What one kernel call leaves for the next: the variables as tensors
/// (overwritten at each point) and the outputs (overwritten in place by back
/// ends that can, [`Kernels::run_into`]). Newton calls the `Hessian` kernel at
/// every iterate: at sizes the thread has seen, neither its inputs nor its
/// outputs are allocated again.
#[derive(Default)]
struct Buffers {
    vars: Vec<Tensor>,
    /// Per kernel (their outputs differ in number and shape, so one list
    /// shared by all would be cut and grown again at each switch).
    outputs: Vec<(KernelId, Vec<Tensor>)>,
}

impl Buffers {
    /// The kept outputs of kernel `id`.
    fn outputs(outputs: &mut Vec<(KernelId, Vec<Tensor>)>, id: KernelId) -> &mut Vec<Tensor> {
        let at = match outputs.iter().position(|(k, _)| *k == id) {
            Some(at) => at,
            None => {
                outputs.push((id, Vec::new()));
                outputs.len() - 1
            }
        };
        &mut outputs[at].1
    }
}

/// The symbols' values of a kernel call ([`NodeProblem::with_syms`]), and
/// zeros to copy the unset ones from.
#[derive(Default)]
struct Syms {
    values: Vec<Tensor>,
    zeros: Vec<f64>,
}

/// What Newton hands back ([`SmoothProblem::recycle`]) for the next pass to
/// fill instead of allocating: a Hessian (the one it displaced as the kept
/// Hessian) and a gradient.
#[derive(Default)]
struct Spare {
    hessian: Option<Mat<f64>>,
    gradient: Vec<f64>,
}

thread_local! {
    /// Kept per thread (as the factorisations' buffers are,
    /// [`crate::linalg::with_kept`]): a node's forward and backward each make
    /// a [`NodeProblem`], and a batch runs them on several threads.
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
    /// Kept per thread for the same reasons, so the first pass of a forward
    /// fills the matrix the previous forward's passes used.
    static SPARE: RefCell<Spare> = RefCell::new(Spare::default());
    /// Kept per thread for the same reasons: a kernel call's symbols are
    /// written over the last call's.
    static SYMS: RefCell<Syms> = RefCell::new(Syms::default());
}

/// A symbol's value for [`NodeProblem::with_syms`]: its role and its entries
/// (row-major, the symbol's shape).
type SymValue<'v> = (SymRole, &'v [f64]);

/// A Hessian and the point `(y, ν, λ)` it was evaluated at.
type Evaluated = ([Vec<f64>; 3], Mat<f64>);

/// Whether the kept point is `(y, ν, λ)`, compared bit for bit: the same
/// kernel at the same point gives the same matrix.
fn kept_at([ly, lnu, llambda]: &[Vec<f64>; 3], y: &[f64], nu: &[f64], lambda: &[f64]) -> bool {
    let same = |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits());
    same(ly, y) && same(lnu, nu) && same(llambda, lambda)
}

/// The starting point: each variable's `init` expression (of parameters only,
/// broadcast to the variable's shape; the `Init` kernel); where there is none, a
/// point inside the variable type's domain: ones for `nonneg` and `pos`
/// (strictly inside, where `log`, `entr`, `xlogx` are defined), the identity for
/// `sym` and `psd` matrices, zeros otherwise; flattened.
pub fn initial_point(node: &Node, bound: &Bound, kernels: &dyn Kernels) -> Result<Vec<f64>, DomainError> {
    let env = Env { params: &bound.params, vars: &[], dims: &bound.dims, syms: &[] };
    // The `Init` kernel's outputs in this thread's kept buffers (a forward
    // calls this once, before its first pass).
    with_kept(&BUFFERS, |Buffers { outputs, .. }| {
        let inits = Buffers::outputs(outputs, KernelId::Init);
        if node.inits.is_empty() {
            inits.clear();
        } else {
            kernels.run_into(KernelId::Init, &env, inits).map_err(|e| DomainError(e.message))?;
        }
        let mut y = Vec::new();
        for (k, v) in node.vars.iter().enumerate() {
            let shape = concrete(&v.shape, &bound.dims);
            match node.inits.iter().position(|i| i.var.0 as usize == k) {
                Some(i) => y.extend_from_slice(&fitted_data(&inits[i], &shape)),
                None => y.extend(default_start(v.base, shape).data),
            }
        }
        Ok(y)
    })
}

fn default_start(base: BaseType, shape: Vec<usize>) -> Tensor {
    match base {
        BaseType::Nonneg | BaseType::Pos => Tensor::filled(shape, 1.0),
        BaseType::Sym | BaseType::Psd => {
            let n = shape.first().copied().unwrap_or(0);
            let mut t = Tensor::filled(shape, 0.0);
            (0..n).for_each(|i| t.data[i * n + i] = 1.0);
            t
        }
        BaseType::Real => Tensor::filled(shape, 0.0),
    }
}

/// `t`'s entries broadcast to `shape` (kernels write a zero derivative as a
/// scalar): borrowed when `t` already has that shape.
fn fitted_data<'t>(t: &'t Tensor, shape: &[usize]) -> Cow<'t, [f64]> {
    if same_shape(&t.shape, shape) {
        Cow::Borrowed(&t.data)
    } else {
        Cow::Owned(spread(t, None, shape).data)
    }
}

fn entries(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Cuts `flat` into tensors of `shapes`, in order.
fn unflatten(flat: &[f64], shapes: &[Vec<usize>]) -> Vec<Tensor> {
    let mut tensors = Vec::with_capacity(shapes.len());
    unflatten_into(flat, shapes, &mut tensors);
    tensors
}

/// `flat` cut into the entries of tensors of `shapes`, in order.
fn pieces<'v, 's>(flat: &'v [f64], shapes: &'s [Vec<usize>]) -> impl Iterator<Item = &'v [f64]> + 's
where
    'v: 's,
{
    shapes.iter().scan(0, move |at, s| {
        let start = *at;
        *at += entries(s);
        Some(&flat[start..*at])
    })
}

/// [`unflatten`] into `tensors`, whose buffers are reused.
fn unflatten_into(flat: &[f64], shapes: &[Vec<usize>], tensors: &mut Vec<Tensor>) {
    overwrite_tensors(tensors, shapes.iter().map(|s| &s[..]).zip(pieces(flat, shapes)));
}

impl<'a> NodeProblem<'a> {
    /// `node` at the parameter values `bound`, its derivatives `derived` run by `kernels`.
    pub fn new(node: &'a Node, bound: &'a Bound, derived: &'a Derived, kernels: &'a dyn Kernels) -> NodeProblem<'a> {
        let var_shapes = node.vars.iter().map(|v| concrete(&v.shape, &bound.dims)).collect();
        let sym_shapes = derived.syms.iter().map(|s| concrete(&s.shape, &bound.dims)).collect();
        NodeProblem { node, bound, derived, kernels, var_shapes, sym_shapes, last_hessian: Mutex::new(None) }
    }

    /// The last Hessian evaluated, if it was at `(y, ν, λ)` (compared bit for
    /// bit: the same kernel at the same point gives the same matrix).
    pub fn hessian_at(&self, y: &[f64], nu: &[f64], lambda: &[f64]) -> Option<Mat<f64>> {
        let last = self.last_hessian.lock().unwrap_or_else(|e| e.into_inner());
        let (point, h) = last.as_ref()?;
        kept_at(point, y, nu, lambda).then(|| h.clone())
    }

    /// [`NodeProblem::hessian_at`], moved out of a problem no longer needed
    /// (the forward hands it to the backward).
    pub fn into_hessian_at(self, y: &[f64], nu: &[f64], lambda: &[f64]) -> Option<Mat<f64>> {
        let (point, h) = self.last_hessian.into_inner().unwrap_or_else(|e| e.into_inner())?;
        kept_at(&point, y, nu, lambda).then_some(h)
    }

    /// Remembers `hessian` as `∇²L` at `(y, ν, λ)`, as if just evaluated
    /// there: the backward pass hands the forward's final Hessian on.
    pub fn keep_hessian(&self, y: &[f64], nu: &[f64], lambda: &[f64], hessian: Mat<f64>) {
        self.keep(y, nu, lambda, |h| *h = hessian);
    }

    /// Sets the kept point to `(y, ν, λ)` and the kept Hessian by `set`, in the
    /// buffers of the last one (a Newton iteration would allocate them again).
    fn keep(&self, y: &[f64], nu: &[f64], lambda: &[f64], set: impl FnOnce(&mut Mat<f64>)) {
        let mut last = self.last_hessian.lock().unwrap_or_else(|e| e.into_inner());
        let (point, h) = last.get_or_insert_with(|| (Default::default(), Mat::new()));
        for (kept, v) in point.iter_mut().zip([y, nu, lambda]) {
            kept.clear();
            kept.extend_from_slice(v);
        }
        set(h);
    }

    /// `∇²L` from the `Hessian` kernel's blocks and, after them, `f_y` and `f`.
    fn hessian_and_gradient(
        &self,
        y: &[f64],
        nu: &[f64],
        lambda: &[f64],
    ) -> Result<(Mat<f64>, Vec<f64>, f64), DomainError> {
        let n = self.dim();
        let set = self.multipliers(nu, lambda);
        let (spare, mut grad) = with_kept(&SPARE, |s| (s.hessian.take(), std::mem::take(&mut s.gradient)));
        // Every entry is written below (the blocks tile the matrix).
        let mut h = spare.filter(|h| h.nrows() == n && h.ncols() == n).unwrap_or_else(|| Mat::zeros(n, n));
        let f = self.with_syms(&set, |syms| {
            self.run(KernelId::Hessian, y, syms, |outputs| {
                let starts =
                    || self.var_shapes.iter().scan(0, |at, s| Some((std::mem::replace(at, *at + entries(s)), s)));
                let mut outputs = outputs.iter();
                let missing = || DomainError("internal: a Hessian kernel output is missing".into());
                for (r0, ri) in starts() {
                    for (c0, ci) in starts() {
                        let (rows, cols) = (entries(ri), entries(ci));
                        let b = fitted_data(outputs.next().ok_or_else(missing)?, &[rows, cols]);
                        for i in 0..rows {
                            for j in 0..cols {
                                h[(r0 + i, c0 + j)] = b[i * cols + j];
                            }
                        }
                    }
                }
                grad.clear();
                for shape in &self.var_shapes {
                    grad.extend_from_slice(&fitted_data(outputs.next().ok_or_else(missing)?, shape));
                }
                outputs.next().and_then(|t| t.data.first().copied()).ok_or_else(missing)
            })
        })?;
        symmetrise(&mut h);
        Ok((h, grad, f))
    }

    /// The number of entries of each variable, in declaration order (how `y`
    /// is cut).
    pub fn var_sizes(&self) -> impl Iterator<Item = usize> + '_ {
        self.var_shapes.iter().map(|s| entries(s))
    }

    /// `y` as one tensor per variable.
    pub fn unflatten(&self, y: &[f64]) -> Vec<Tensor> {
        unflatten(y, &self.var_shapes)
    }

    /// Hands `f` the symbols' values: zeros, except those `set` gives (by
    /// role), written over this thread's kept tensors (a call at sizes seen
    /// allocates nothing).
    fn with_syms<R>(&self, set: &[SymValue<'_>], f: impl FnOnce(&[Tensor]) -> R) -> R {
        with_kept(&SYMS, |Syms { values, zeros }| {
            let longest = self.sym_shapes.iter().map(|s| entries(s)).max().unwrap_or(0);
            if zeros.len() < longest {
                zeros.resize(longest, 0.0);
            }
            let parts = self.derived.syms.iter().zip(&self.sym_shapes).map(|(s, shape)| {
                let given = set.iter().find(|(r, _)| *r == s.role).map(|(_, data)| *data);
                (&shape[..], given.unwrap_or(&zeros[..entries(shape)]))
            });
            overwrite_tensors(values, parts);
            f(values)
        })
    }

    /// Runs kernel `id` at the point `y` (flat) and hands its outputs to
    /// `read`, in this thread's kept [`Buffers`] (fresh ones when `read`
    /// itself runs a kernel); a value outside an atom's domain or not finite
    /// is a [`DomainError`].
    fn run<R>(
        &self,
        id: KernelId,
        y: &[f64],
        syms: &[Tensor],
        read: impl FnOnce(&mut Vec<Tensor>) -> Result<R, DomainError>,
    ) -> Result<R, DomainError> {
        with_kept(&BUFFERS, |Buffers { vars, outputs }| {
            let outputs = Buffers::outputs(outputs, id);
            unflatten_into(y, &self.var_shapes, vars);
            let env = Env { params: &self.bound.params, vars, dims: &self.bound.dims, syms };
            self.kernels.run_into(id, &env, outputs).map_err(|e| DomainError(e.message))?;
            if outputs.iter().all(|t| crate::linalg::all_finite(&t.data)) {
                read(outputs)
            } else {
                Err(DomainError("a derivative is not finite here".into()))
            }
        })
    }

    /// The per-variable outputs of kernel `id` at `y`, concatenated (each
    /// broadcast to its variable's shape, for zeros written as a scalar).
    fn flat(&self, id: KernelId, y: &[f64], syms: &[Tensor]) -> Result<Vec<f64>, DomainError> {
        self.run(id, y, syms, |outputs| {
            let mut out = Vec::with_capacity(self.dim());
            for (t, shape) in outputs.iter().zip(&self.var_shapes) {
                out.extend_from_slice(&fitted_data(t, shape));
            }
            Ok(out)
        })
    }

    /// Constraint values of kernel `id` (`Eq` or `Ineq`), flattened in order
    /// (each broadcast to its constraint's shape).
    fn constraint_values(&self, id: KernelId, cons: &[Normalised], y: &[f64]) -> Result<Vec<f64>, DomainError> {
        // no constraints of this kind: no kernel to run (its outputs would be none)
        if cons.is_empty() {
            return Ok(Vec::new());
        }
        self.run(id, y, &[], |outputs| {
            let mut out = Vec::new();
            for (t, c) in outputs.iter().zip(cons) {
                let shape = concrete(&self.node.constraints[c.index].shape, &self.bound.dims);
                out.extend_from_slice(&fitted_data(t, &shape));
            }
            Ok(out)
        })
    }

    fn multiplier_shapes(&self, cons: &[Normalised], role: fn(usize) -> SymRole) -> Vec<Vec<usize>> {
        (0..cons.len())
            .map(|k| {
                let id = self.derived.sym(role(k)).map_or(0, |s| s.0 as usize);
                self.sym_shapes[id].clone()
            })
            .collect()
    }

    /// `∂c/∂y`, one row per scalar constraint: row `r` of constraint `k` is
    /// `c_yᵀ eᵣ` with the multiplier of `k` set to the unit vector `eᵣ`.
    fn jacobian(
        &self,
        cons: &[Normalised],
        role: fn(usize) -> SymRole,
        kernel: fn(usize) -> KernelId,
        y: &[f64],
    ) -> Result<Mat<f64>, DomainError> {
        let shapes = self.multiplier_shapes(cons, role);
        let rows: usize = shapes.iter().map(|s| entries(s)).sum();
        let mut jac = Mat::zeros(rows, self.dim());
        let mut row = 0;
        for (k, shape) in shapes.iter().enumerate() {
            let mut unit = vec![0.0; entries(shape)];
            for r in 0..unit.len() {
                unit[r] = 1.0;
                let values = self.with_syms(&[(role(k), &unit)], |syms| self.flat(kernel(k), y, syms))?;
                for (j, v) in values.into_iter().enumerate() {
                    jac[(row, j)] = v;
                }
                unit[r] = 0.0;
                row += 1;
            }
        }
        Ok(jac)
    }

    /// Multiplier symbol values from flat `nu`, `lambda` (none without
    /// constraints: Newton's passes).
    fn multipliers<'v>(&self, nu: &'v [f64], lambda: &'v [f64]) -> Vec<SymValue<'v>> {
        if self.derived.eqs.is_empty() && self.derived.ineqs.is_empty() {
            return Vec::new();
        }
        let (eq_shapes, ineq_shapes) = (
            self.multiplier_shapes(&self.derived.eqs, SymRole::Nu),
            self.multiplier_shapes(&self.derived.ineqs, SymRole::Lambda),
        );
        let eq = pieces(nu, &eq_shapes).enumerate().map(|(k, t)| (SymRole::Nu(k), t));
        eq.chain(pieces(lambda, &ineq_shapes).enumerate().map(|(k, t)| (SymRole::Lambda(k), t))).collect()
    }

    /// `∇_y L(y, ν, λ)`, length `n`.
    pub fn lagrangian_gradient(&self, y: &[f64], nu: &[f64], lambda: &[f64]) -> Result<Vec<f64>, DomainError> {
        self.with_syms(&self.multipliers(nu, lambda), |syms| self.flat(KernelId::LagrangianGradient, y, syms))
    }

    /// `∇²_yy L · v`, length `n`.
    pub fn lagrangian_hvp(&self, y: &[f64], nu: &[f64], lambda: &[f64], v: &[f64]) -> Result<Vec<f64>, DomainError> {
        let mut set = self.multipliers(nu, lambda);
        for (k, t) in pieces(v, &self.var_shapes).enumerate() {
            set.push((SymRole::Direction(crate::ir::VarId(k as u32)), t));
        }
        self.with_syms(&set, |syms| self.flat(KernelId::Hvp, y, syms))
    }

    /// `∇²_yy L`, column by column from Hessian–vector products `∇²L eₖ`, then
    /// symmetrised: the reference the structured Hessian kernel is checked
    /// against, and the Hessian of nodes that have none.
    pub fn lagrangian_hessian_by_hvp(&self, y: &[f64], nu: &[f64], lambda: &[f64]) -> Result<Mat<f64>, DomainError> {
        let n = self.dim();
        let mut h = Mat::zeros(n, n);
        let mut e = vec![0.0; n];
        for k in 0..n {
            e[k] = 1.0;
            for (i, v) in self.lagrangian_hvp(y, nu, lambda, &e)?.into_iter().enumerate() {
                h[(i, k)] = v;
            }
            e[k] = 0.0;
        }
        symmetrise(&mut h);
        Ok(h)
    }

    /// `−dLoss/dθ` of the implicit backward: `∂_θ [wᵀ L_y + aᵀh + bᵀg]` at
    /// `(y, ν, λ)`, one tensor per parameter (its shape). `w` is flat over the
    /// variables, `a` and `b` over the equalities and inequalities.
    pub fn param_vjp(
        &self,
        y: &[f64],
        nu: &[f64],
        lambda: &[f64],
        w: &[f64],
        a: &[f64],
        b: &[f64],
    ) -> Result<Vec<Tensor>, DomainError> {
        let mut set = self.multipliers(nu, lambda);
        for (k, t) in pieces(w, &self.var_shapes).enumerate() {
            set.push((SymRole::W(crate::ir::VarId(k as u32)), t));
        }
        let backward = self.multipliers(a, b).into_iter().map(|(role, t)| match role {
            SymRole::Nu(k) => (SymRole::A(k), t),
            SymRole::Lambda(k) => (SymRole::B(k), t),
            other => (other, t),
        });
        set.extend(backward);
        self.with_syms(&set, |syms| {
            self.run(KernelId::Mixed, y, syms, |mixed| {
                let grads = mixed.iter().zip(&self.bound.params);
                Ok(grads
                    .map(|(m, p)| Tensor { shape: p.shape.clone(), data: fitted_data(m, &p.shape).into_owned() })
                    .collect())
            })
        })
    }
}

impl SmoothProblem for NodeProblem<'_> {
    fn dim(&self) -> usize {
        self.var_shapes.iter().map(|s| entries(s)).sum()
    }

    fn n_eq(&self) -> usize {
        self.multiplier_shapes(&self.derived.eqs, SymRole::Nu).iter().map(|s| entries(s)).sum()
    }

    fn n_ineq(&self) -> usize {
        self.multiplier_shapes(&self.derived.ineqs, SymRole::Lambda).iter().map(|s| entries(s)).sum()
    }

    fn objective(&self, y: &[f64]) -> Result<f64, DomainError> {
        self.run(KernelId::Objective, y, &[], |f| Ok(f.first().and_then(|t| t.data.first()).copied().unwrap_or(0.0)))
    }

    fn gradient(&self, y: &[f64]) -> Result<Vec<f64>, DomainError> {
        self.with_syms(&[], |syms| self.flat(KernelId::Gradient, y, syms))
    }

    fn eq(&self, y: &[f64]) -> Result<Vec<f64>, DomainError> {
        self.constraint_values(KernelId::Eq, &self.derived.eqs, y)
    }

    fn ineq(&self, y: &[f64]) -> Result<Vec<f64>, DomainError> {
        self.constraint_values(KernelId::Ineq, &self.derived.ineqs, y)
    }

    fn eq_jacobian(&self, y: &[f64]) -> Result<Mat<f64>, DomainError> {
        self.jacobian(&self.derived.eqs, SymRole::Nu, KernelId::EqJt, y)
    }

    fn ineq_jacobian(&self, y: &[f64]) -> Result<Mat<f64>, DomainError> {
        self.jacobian(&self.derived.ineqs, SymRole::Lambda, KernelId::IneqJt, y)
    }

    fn lagrangian_hessian(&self, y: &[f64], nu: &[f64], lambda: &[f64]) -> Result<Mat<f64>, DomainError> {
        if self.derived.hess_l.is_none() {
            return self.lagrangian_hessian_by_hvp(y, nu, lambda);
        }
        if let Some(h) = self.hessian_at(y, nu, lambda) {
            return Ok(h);
        }
        let (h, ..) = self.hessian_and_gradient(y, nu, lambda)?;
        self.keep(y, nu, lambda, |kept| {
            if kept.nrows() == h.nrows() && kept.ncols() == h.ncols() {
                kept.copy_from(&h);
            } else {
                *kept = h.clone();
            }
        });
        Ok(h)
    }

    /// The pass's Hessian becomes the kept one, at `y` (no copy), and the
    /// Hessian it displaces and the gradient are the next pass's buffers.
    fn recycle(&self, y: &[f64], pass: NewtonPass) {
        let NewtonPass { gradient, hessian, .. } = pass;
        let mut displaced = None;
        if let Some(h) = hessian {
            self.keep(y, &[], &[], |kept| displaced = Some(std::mem::replace(kept, h)));
        }
        with_kept(&SPARE, |spare| {
            // (the first displaces the empty matrix `keep` starts from)
            if let Some(d) = displaced.filter(|d| d.nrows() > 0) {
                spare.hessian = Some(d);
            }
            spare.gradient = gradient;
        });
    }

    /// One run of the `Hessian` kernel, which gives `f_y` and `f` too, when
    /// the node has one; the gradient alone (and its error) if that run fails,
    /// so a Hessian outside its domain does not change what the gradient says.
    fn gradient_and_hessian(&self, y: &[f64]) -> Result<NewtonPass, DomainError> {
        let unconstrained = self.derived.eqs.is_empty() && self.derived.ineqs.is_empty();
        if self.derived.hess_l.is_some() && unconstrained {
            if let Ok((h, gradient, f)) = self.hessian_and_gradient(y, &[], &[]) {
                return Ok(NewtonPass { gradient, hessian: Some(h), objective: Some(f) });
            }
        }
        Ok(NewtonPass { gradient: self.gradient(y)?, hessian: None, objective: None })
    }
}

/// `H ← (H + Hᵀ)/2` (in place: entry by entry the same arithmetic, the
/// diagonal included): exact arithmetic gives a symmetric matrix, rounding need not.
/// By columns (a kernel's Hessian is small: indexing costs more than the sums).
fn symmetrise(h: &mut Mat<f64>) {
    for j in 0..h.ncols() {
        for i in 0..=j {
            let v = 0.5 * (h.col_as_slice(j)[i] + h.col_as_slice(i)[j]);
            h.col_as_slice_mut(j)[i] = v;
            h.col_as_slice_mut(i)[j] = v;
        }
    }
}
