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
use std::sync::{Mutex, OnceLock};

use faer::Mat;

use super::{KernelId, Kernels};
use crate::eval::Bound;
use crate::eval::{concrete, overwrite_tensors, spread, Env, Tensor};
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
    /// The last Hessian the `Hessian` kernel gave, with its point `(y, ν, λ)`:
    /// Newton's last one is at the solution, where the second-order check and
    /// the backward pass ask for it again ([`NodeProblem::keep_hessian`]).
    last_hessian: Mutex<Option<Evaluated>>,
    /// Every symbol zero, once asked for ([`NodeProblem::syms`]).
    zero_syms: OnceLock<Vec<Tensor>>,
    /// A Hessian the solver gave back ([`SmoothProblem::recycle`]), which
    /// the next pass fills instead of allocating a matrix.
    spare_hessian: Mutex<Option<Mat<f64>>>,
}

/// What one kernel call leaves for the next: the variables as tensors
/// (overwritten at each point) and the outputs (overwritten in place by back
/// ends that can, [`Kernels::run_into`]). Newton calls the `Hessian` kernel at
/// every iterate: at sizes the thread has seen, neither its inputs nor its
/// outputs are allocated again.
#[derive(Default)]
struct Buffers {
    vars: Vec<Tensor>,
    outputs: Vec<Tensor>,
}

thread_local! {
    /// Kept per thread (as the factorisations' buffers are,
    /// [`crate::linalg::with_kept`]): a node's forward and backward each make
    /// a [`NodeProblem`], and a batch runs them on several threads.
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

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
    let inits = if node.inits.is_empty() {
        Vec::new()
    } else {
        kernels.run(KernelId::Init, &env).map_err(|e| DomainError(e.message))?
    };
    let mut y = Vec::new();
    for (k, v) in node.vars.iter().enumerate() {
        let shape = concrete(&v.shape, &bound.dims);
        let value = match node.inits.iter().position(|i| i.var.0 as usize == k) {
            Some(i) => spread(&inits[i], None, &shape),
            None => default_start(v.base, shape),
        };
        y.extend(value.data);
    }
    Ok(y)
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
    if t.shape == shape {
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

/// [`unflatten`] into `tensors`, whose buffers are reused.
fn unflatten_into(flat: &[f64], shapes: &[Vec<usize>], tensors: &mut Vec<Tensor>) {
    let ends = shapes.iter().scan(0, |at, s| {
        *at += entries(s);
        Some(*at)
    });
    let parts = shapes.iter().zip(ends).map(|(s, end)| (&s[..], &flat[end - entries(s)..end]));
    overwrite_tensors(tensors, parts);
}

impl<'a> NodeProblem<'a> {
    /// `node` at the parameter values `bound`, its derivatives `derived` run by `kernels`.
    pub fn new(node: &'a Node, bound: &'a Bound, derived: &'a Derived, kernels: &'a dyn Kernels) -> NodeProblem<'a> {
        let var_shapes = node.vars.iter().map(|v| concrete(&v.shape, &bound.dims)).collect();
        let sym_shapes = derived.syms.iter().map(|s| concrete(&s.shape, &bound.dims)).collect();
        NodeProblem {
            node,
            bound,
            derived,
            kernels,
            var_shapes,
            sym_shapes,
            last_hessian: Mutex::new(None),
            zero_syms: OnceLock::new(),
            spare_hessian: Mutex::new(None),
        }
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
        let syms = self.syms(&self.multipliers(nu, lambda));
        // Every entry is written below (the blocks tile the matrix).
        let spare = self.spare_hessian.lock().unwrap_or_else(|e| e.into_inner()).take();
        let mut h = spare.filter(|h| h.nrows() == n && h.ncols() == n).unwrap_or_else(|| Mat::zeros(n, n));
        let (grad, f) = self.run(KernelId::Hessian, y, &syms, |outputs| {
            let starts = || self.var_shapes.iter().scan(0, |at, s| Some((std::mem::replace(at, *at + entries(s)), s)));
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
            let mut grad = Vec::with_capacity(n);
            for shape in &self.var_shapes {
                grad.extend_from_slice(&fitted_data(outputs.next().ok_or_else(missing)?, shape));
            }
            let f = outputs.next().and_then(|t| t.data.first().copied()).ok_or_else(missing)?;
            Ok((grad, f))
        })?;
        symmetrise(&mut h);
        self.keep(y, nu, lambda, |kept| {
            if kept.nrows() == n && kept.ncols() == n {
                kept.copy_from(&h);
            } else {
                *kept = h.clone();
            }
        });
        Ok((h, grad, f))
    }

    /// `y` as one tensor per variable.
    pub fn unflatten(&self, y: &[f64]) -> Vec<Tensor> {
        unflatten(y, &self.var_shapes)
    }

    /// Symbol values: zeros, except those `set` gives (by role); all zeros
    /// (Newton's passes on a node without constraints) built once.
    fn syms(&self, set: &[(SymRole, Tensor)]) -> Cow<'_, [Tensor]> {
        let zeros = || self.sym_shapes.iter().map(|shape| Tensor::filled(shape.clone(), 0.0)).collect();
        if set.is_empty() {
            return Cow::Borrowed(self.zero_syms.get_or_init(zeros));
        }
        self.derived
            .syms
            .iter()
            .zip(&self.sym_shapes)
            .map(|(s, shape)| {
                set.iter()
                    .find(|(r, _)| *r == s.role)
                    .map_or_else(|| Tensor::filled(shape.clone(), 0.0), |(_, t)| t.clone())
            })
            .collect()
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
            unflatten_into(y, &self.var_shapes, vars);
            let env = Env { params: &self.bound.params, vars, dims: &self.bound.dims, syms };
            self.kernels.run_into(id, &env, outputs).map_err(|e| DomainError(e.message))?;
            if outputs.iter().all(|t| t.data.iter().all(|x| x.is_finite())) {
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
            for r in 0..entries(shape) {
                let mut unit = Tensor::filled(shape.clone(), 0.0);
                unit.data[r] = 1.0;
                let syms = self.syms(&[(role(k), unit)]);
                for (j, v) in self.flat(kernel(k), y, &syms)?.into_iter().enumerate() {
                    jac[(row, j)] = v;
                }
                row += 1;
            }
        }
        Ok(jac)
    }

    /// Multiplier symbol values from flat `nu`, `lambda` (none without
    /// constraints: Newton's passes).
    fn multipliers(&self, nu: &[f64], lambda: &[f64]) -> Vec<(SymRole, Tensor)> {
        if self.derived.eqs.is_empty() && self.derived.ineqs.is_empty() {
            return Vec::new();
        }
        let eq = unflatten(nu, &self.multiplier_shapes(&self.derived.eqs, SymRole::Nu));
        let ineq = unflatten(lambda, &self.multiplier_shapes(&self.derived.ineqs, SymRole::Lambda));
        let eq = eq.into_iter().enumerate().map(|(k, t)| (SymRole::Nu(k), t));
        eq.chain(ineq.into_iter().enumerate().map(|(k, t)| (SymRole::Lambda(k), t))).collect()
    }

    /// `∇_y L(y, ν, λ)`, length `n`.
    pub fn lagrangian_gradient(&self, y: &[f64], nu: &[f64], lambda: &[f64]) -> Result<Vec<f64>, DomainError> {
        let syms = self.syms(&self.multipliers(nu, lambda));
        self.flat(KernelId::LagrangianGradient, y, &syms)
    }

    /// `∇²_yy L · v`, length `n`.
    pub fn lagrangian_hvp(&self, y: &[f64], nu: &[f64], lambda: &[f64], v: &[f64]) -> Result<Vec<f64>, DomainError> {
        let mut set = self.multipliers(nu, lambda);
        for (k, t) in self.unflatten(v).into_iter().enumerate() {
            set.push((SymRole::Direction(crate::ir::VarId(k as u32)), t));
        }
        self.flat(KernelId::Hvp, y, &self.syms(&set))
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
        for (k, t) in self.unflatten(w).into_iter().enumerate() {
            set.push((SymRole::W(crate::ir::VarId(k as u32)), t));
        }
        let backward = self.multipliers(a, b).into_iter().map(|(role, t)| match role {
            SymRole::Nu(k) => (SymRole::A(k), t),
            SymRole::Lambda(k) => (SymRole::B(k), t),
            other => (other, t),
        });
        set.extend(backward);
        let syms = self.syms(&set);
        self.run(KernelId::Mixed, y, &syms, |mixed| {
            let grads = mixed.iter().zip(&self.bound.params);
            Ok(grads
                .map(|(m, p)| Tensor { shape: p.shape.clone(), data: fitted_data(m, &p.shape).into_owned() })
                .collect())
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
        self.flat(KernelId::Gradient, y, &self.syms(&[]))
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
        Ok(self.hessian_and_gradient(y, nu, lambda)?.0)
    }

    fn recycle(&self, hessian: Mat<f64>) {
        *self.spare_hessian.lock().unwrap_or_else(|e| e.into_inner()) = Some(hessian);
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
fn symmetrise(h: &mut Mat<f64>) {
    for j in 0..h.ncols() {
        for i in 0..=j {
            let v = 0.5 * (h[(i, j)] + h[(j, i)]);
            h[(i, j)] = v;
            h[(j, i)] = v;
        }
    }
}
