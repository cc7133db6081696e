//! The kernels of one node, and the back ends that run them.

use std::sync::Arc;

use super::{lower, Tape};
use crate::eval::{eval, Env, EvalError, Tensor};
use crate::ir::{Expr, ExprKind, Node};
use crate::symbolic::{Derived, Simplified};

/// Which of a node's kernels. Each has a fixed list of outputs:
///
/// | kernel | outputs |
/// |---|---|
/// | `Objective` | `f` (minimisation form) |
/// | `Gradient` | `f_y`, per variable |
/// | `LagrangianGradient` | `L_y`, per variable |
/// | `Hvp` | `L_yy v`, per variable |
/// | `Hessian` | `L_yy`, per pair of variables (row-major), when derived; then `f_y`, per variable; then `f` |
/// | `Eq`, `Ineq` | `h`, `g`, per constraint |
/// | `EqJt(k)`, `IneqJt(k)` | `h_kᵀ ν_k`, `g_kᵀ λ_k`, per variable |
/// | `Mixed` | `∂_θ [wᵀ L_y + aᵀh + bᵀg]`, per parameter |
/// | `Init` | each `init` value, in the node's order |
/// | `Data` | the node's data subexpressions, [`data_exprs`] order |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelId {
    /// `f`.
    Objective,
    /// `f_y`.
    Gradient,
    /// `L_y`.
    LagrangianGradient,
    /// `L_yy v`.
    Hvp,
    /// `L_yy`, then `f_y`, then `f`.
    Hessian,
    /// `h`.
    Eq,
    /// `g`.
    Ineq,
    /// `h_kᵀ ν_k` of equality constraint `k`.
    EqJt(usize),
    /// `g_kᵀ λ_k` of inequality constraint `k`.
    IneqJt(usize),
    /// The backward pass's mixed partials.
    Mixed,
    /// The `init` values.
    Init,
    /// The node's data subexpressions.
    Data,
}

/// Runs a node's kernels. The evaluator ([`Evaluated`]), the interpreter
/// ([`Interpreted`]), generated modules and the JIT implement it; the runtime's
/// solvers and backward passes see only this.
pub trait Kernels: Send + Sync {
    /// The outputs of kernel `id` in `env`.
    fn run(&self, id: KernelId, env: &Env) -> Result<Vec<Tensor>, EvalError>;

    /// [`Self::run`]'s outputs written into `out`, whose tensors a back end
    /// may overwrite in place: a solver calling the same kernel at every
    /// iterate (Newton's Hessian pass) then allocates no outputs after the
    /// first call. The values are `run`'s, bit for bit; by default, `run`'s
    /// tensors replace `out`'s.
    fn run_into(&self, id: KernelId, env: &Env, out: &mut Vec<Tensor>) -> Result<(), EvalError> {
        *out = self.run(id, env)?;
        Ok(())
    }

    /// Does now what the first run at dimension sizes `dims` would do
    /// otherwise (the JIT compiles); nothing for the others.
    fn prepare(&self, dims: &[usize]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let _ = dims;
        Ok(())
    }
}

/// Every kernel of one node: the expressions, and the program lowered from them.
/// A kernel whose expressions equal an earlier one's (`L_y` is `f_y` when a node
/// has no constraints) is not lowered again: it is an alias of the earlier one,
/// so every back end compiles and emits it once.
#[derive(Clone, Debug, Default)]
pub struct KernelSet {
    /// The lowered kernels (aliases excluded).
    pub kernels: Vec<Kernel>,
    /// `(alias, kernel it runs)`.
    pub aliases: Vec<(KernelId, KernelId)>,
}

/// One kernel: its expressions and its program.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// Which kernel.
    pub id: KernelId,
    /// Its outputs as expressions, in the table's order.
    pub exprs: Vec<Expr>,
    /// The expressions lowered to one straight-line program.
    pub program: Tape,
}

impl KernelSet {
    /// The kernels of `node`: `Init` and `Data` always, the derivative kernels
    /// when `derived` is given (a smooth node).
    pub fn new(node: &Node, derived: Option<&Derived>) -> KernelSet {
        let mut set = KernelSet::default();
        if let Some(d) = derived {
            let exprs = |s: &[Simplified]| s.iter().map(|s| s.expr.clone()).collect::<Vec<_>>();
            set.push(KernelId::Objective, vec![d.f.clone()]);
            set.push(KernelId::Gradient, exprs(&d.grad_f));
            set.push(KernelId::LagrangianGradient, exprs(&d.grad_l));
            set.push(KernelId::Hvp, exprs(&d.hvp_l));
            // With f_y and f beside it: Newton needs all three at every iterate
            // (f at the line search's full step, which is the next iterate
            // unless shrunk), and one program shares their common
            // subexpressions (and, on the JIT, their loops over the data).
            if let Some(h) = &d.hess_l {
                set.push(KernelId::Hessian, [exprs(h), exprs(&d.grad_f), vec![d.f.clone()]].concat());
            }
            set.push(KernelId::Eq, d.eqs.iter().map(|c| c.value.expr.clone()).collect());
            set.push(KernelId::Ineq, d.ineqs.iter().map(|c| c.value.expr.clone()).collect());
            for (k, c) in d.eqs.iter().enumerate() {
                set.push(KernelId::EqJt(k), exprs(&c.jt));
            }
            for (k, c) in d.ineqs.iter().enumerate() {
                set.push(KernelId::IneqJt(k), exprs(&c.jt));
            }
            set.push(KernelId::Mixed, exprs(&d.mixed));
        }
        set.push(KernelId::Init, node.inits.iter().map(|i| i.value.clone()).collect());
        set.push(KernelId::Data, data_exprs(node).into_iter().cloned().collect());
        set
    }

    fn push(&mut self, id: KernelId, exprs: Vec<Expr>) {
        if let Some(same) = self.kernels.iter().find(|k| k.exprs == exprs) {
            self.aliases.push((id, same.id));
            return;
        }
        let program = lower(&exprs);
        self.kernels.push(Kernel { id, exprs, program });
    }

    /// The position in `kernels` of the kernel that runs `id` (through its alias).
    pub fn index(&self, id: KernelId) -> Option<usize> {
        let id = self.aliases.iter().find(|(a, _)| *a == id).map_or(id, |(_, k)| *k);
        self.kernels.iter().position(|k| k.id == id)
    }

    /// Kernel `id` (an alias resolved to the kernel it runs), if the node has it.
    pub fn get(&self, id: KernelId) -> Option<&Kernel> {
        self.index(id).map(|i| &self.kernels[i])
    }

    fn kernel(&self, id: KernelId) -> Result<&Kernel, EvalError> {
        self.get(id)
            .ok_or_else(|| EvalError { message: format!("internal: no kernel {id:?}"), span: Default::default() })
    }
}

/// The error of asking a node for a kernel it does not have (a caller's bug).
pub fn no_kernel(id: KernelId) -> EvalError {
    EvalError { message: format!("internal: no kernel {id:?}"), span: Default::default() }
}

/// The node's data subexpressions (of parameters only) that the conic
/// reductions evaluate: the maximal ones of the objective and of each
/// constraint side, literals and dimension sizes left out. The walk is the
/// same for a node and its clones, so a position in this list names an
/// expression in any copy.
pub fn data_exprs(node: &Node) -> Vec<&Expr> {
    fn walk<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
        if e.is_data() {
            if !matches!(e.kind, ExprKind::Const(_) | ExprKind::Dim(_)) {
                out.push(e);
            }
        } else {
            e.children().into_iter().for_each(|c| walk(c, out));
        }
    }
    let mut out = Vec::new();
    walk(&node.objective.expr, &mut out);
    for c in &node.constraints {
        walk(&c.lhs, &mut out);
        walk(&c.rhs, &mut out);
    }
    out
}

/// The reference: each expression evaluated by the tree walk.
pub struct Evaluated(pub Arc<KernelSet>);

impl Kernels for Evaluated {
    fn run(&self, id: KernelId, env: &Env) -> Result<Vec<Tensor>, EvalError> {
        self.0.kernel(id)?.exprs.iter().map(|e| eval(e, env)).collect()
    }
}

/// The programs run by the interpreter ([`Tape::run`]).
pub struct Interpreted(pub Arc<KernelSet>);

impl Kernels for Interpreted {
    fn run(&self, id: KernelId, env: &Env) -> Result<Vec<Tensor>, EvalError> {
        self.0.kernel(id)?.program.run(env)
    }
}
