//! The derivative expressions of a node, in the field's notation (Gould et al.,
//! "Deep Declarative Networks", §4): with `f` the objective in minimisation
//! form, `h` the equalities, `g` the inequalities (both flattened elementwise in
//! constraint order, language.md's normalisation) and `L = f + νᵀh + λᵀg`,
//!
//! - `f_y = ∇_y f` and `L_y = ∇_y L`, per variable;
//! - `L_yy v = ∇²_yy L · v` for a direction `v` over all variables, as the jvp of `L_y`;
//! - `L_yy` itself, block by block, when the structure allows ([`super::hessian`]);
//! - `h`, `g`, and `h_yᵀ ν`, `g_yᵀ λ` per constraint and variable (rows of the
//!   Jacobians come from seeding the multiplier with a unit vector);
//! - `mixed[θ] = ∂_θ [wᵀ L_y + aᵀh + bᵀg]`: the implicit-function-theorem
//!   backward is `dLoss/dθ = −mixed` at the solution, with `(w, a, b)` from one
//!   bordered KKT solve `[L_yy  A_yᵀ; A_y  0] (w; (a, b)) = (dLoss/dy; 0)` on the
//!   active constraints.
//!
//! Every expression is simplified by egg and keeps its run's stop reason.

use super::build::{konst, mk, neg, sub, zeros};
use super::simplify::{simplify, Simplified};
use super::{grad, jvp, DeriveError, Wrt};
use crate::ir::{Expr, ExprKind, Node, ParamId, Relation, Shape, SymId, VarId};
use crate::syntax::ast::Sense;

/// What a symbolic input stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymRole {
    /// `ν` of equality number `k` (among the equalities).
    Nu(usize),
    /// `λ` of inequality number `k` (among the inequalities).
    Lambda(usize),
    /// The direction `v` of the Hessian–vector product, for one variable.
    Direction(VarId),
    /// The backward's `w` (the solve against `dLoss/dy`), for one variable.
    W(VarId),
    /// The backward's `a`, for equality `k`.
    A(usize),
    /// The backward's `b`, for inequality `k`.
    B(usize),
}

/// One symbolic input: its name, shape and role. Its [`SymId`] is its index in
/// [`Derived::syms`] (and in `Env::syms`).
#[derive(Clone, Debug, PartialEq)]
pub struct SymInfo {
    /// How it prints (`nu_budget`, `lam_x_bound`, `v_x`).
    pub name: String,
    /// Its shape: the constraint's for a multiplier or `a`/`b`, the variable's otherwise.
    pub shape: Shape,
    /// What it stands for.
    pub role: SymRole,
}

/// One normalised constraint: `h = lhs − rhs == 0` or `g ≤ 0`.
#[derive(Clone, Debug)]
pub struct Normalised {
    /// Index into the node's constraints.
    pub index: usize,
    /// Its name in the symbols' names: the constraint's label, `x_bound` for
    /// a bound implied by `x`'s type, else its number among its relation's.
    pub label: String,
    /// `h = a − b` or `g = a − b` from [`crate::ir::Constraint::normal_form`].
    pub value: Simplified,
    /// `h_yᵀ ν` (or `g_yᵀ λ`) per variable, seeded with this constraint's multiplier.
    pub jt: Vec<Simplified>,
}

/// A constraint being derived: its relation, its position among those of the
/// same relation, its normal form and its multiplier symbol.
struct Con {
    index: usize,
    rel: Relation,
    nth: usize,
    label: String,
    value: Expr,
    mult: Expr,
}

/// Every derivative expression of one node.
#[derive(Clone, Debug)]
pub struct Derived {
    /// The symbolic inputs the expressions below use, indexed by [`SymId`].
    pub syms: Vec<SymInfo>,
    /// `f`: the objective in minimisation form, simplified by the derivatives'
    /// rules (so that what it shares with them is spelled alike).
    pub f: Expr,
    /// `∇_y f` per variable.
    pub grad_f: Vec<Simplified>,
    /// `∇_y L` per variable.
    pub grad_l: Vec<Simplified>,
    /// `∇²_yy L · v` per variable.
    pub hvp_l: Vec<Simplified>,
    /// `∇²_yy L` as blocks `∂(L_y)ᵢ/∂y_k`, row-major over variable pairs, when
    /// every variable is a vector and the gradient stays in the structured
    /// forms of `hessian`; otherwise `None` (the Hessian is then
    /// assembled from `L_yy v`).
    pub hess_l: Option<Vec<Simplified>>,
    /// Equalities `h`, in constraint order.
    pub eqs: Vec<Normalised>,
    /// Inequalities `g`, in constraint order (variable-type bounds included).
    pub ineqs: Vec<Normalised>,
    /// `∂_θ [wᵀ L_y + aᵀh + bᵀg]` per parameter.
    pub mixed: Vec<Simplified>,
}

impl Derived {
    /// The symbol with `role`.
    pub fn sym(&self, role: SymRole) -> Option<SymId> {
        self.syms.iter().position(|s| s.role == role).map(|k| SymId(k as u32))
    }
}

fn sym_expr(syms: &mut Vec<SymInfo>, name: String, shape: &Shape, role: SymRole, like: &Expr) -> Expr {
    let id = SymId(syms.len() as u32);
    syms.push(SymInfo { name: name.clone(), shape: shape.clone(), role });
    mk(ExprKind::Sym { id, name }, shape.clone(), like.span)
}

/// `Σ` of optional terms, as an expression of `shape` (zeros when all vanish).
fn total(terms: Vec<Option<Expr>>, shape: &Shape, like: &Expr) -> Expr {
    terms.into_iter().flatten().reduce(super::build::add).unwrap_or_else(|| zeros(shape, like.span))
}

/// The derivative expressions of `node`.
pub fn derive(node: &Node) -> Result<Derived, DeriveError> {
    let obj = &node.objective.expr;
    let f = match node.objective.sense {
        Sense::Minimize => obj.clone(),
        Sense::Maximize => neg(obj.clone()),
    };
    let vars: Vec<(Wrt, &Shape)> =
        node.vars.iter().enumerate().map(|(k, v)| (Wrt::Var(VarId(k as u32)), &v.shape)).collect();
    let mut syms = Vec::new();

    // constraints, normalised, each with its multiplier
    let mut cons = Vec::new();
    let (mut n_eq, mut n_ineq) = (0, 0);
    for (index, c) in node.constraints.iter().enumerate() {
        let (a, b) = c.normal_form();
        let value = sub(a.clone(), b.clone());
        let (role, base, k) = match c.relation() {
            Relation::Eq => (SymRole::Nu(n_eq), "nu", &mut n_eq),
            Relation::Le => (SymRole::Lambda(n_ineq), "lam", &mut n_ineq),
        };
        let label = match (&c.name, c.origin) {
            (Some(n), _) => n.clone(),
            (None, crate::ir::ConstraintOrigin::VarType(v)) => format!("{}_bound", node.var(v).name),
            (None, _) => format!("{}", *k),
        };
        let nth = *k;
        *k += 1;
        let mult = sym_expr(&mut syms, format!("{base}_{label}"), &value.shape, role, &value);
        cons.push(Con { index, rel: c.relation(), nth, label, value, mult });
    }

    let one = konst(1.0, obj.span);
    let mut grad_f = Vec::new();
    let mut grad_l = Vec::new();
    let mut jts: Vec<Vec<Simplified>> = vec![Vec::new(); cons.len()];
    for &(wrt, shape) in &vars {
        let fy = total(vec![grad(&f, wrt, &one)?], shape, obj);
        let mut terms = vec![Some(fy.clone())];
        for (k, c) in cons.iter().enumerate() {
            let jt = grad(&c.value, wrt, &c.mult)?;
            jts[k].push(simplify(&total(vec![jt.clone()], shape, &c.value)));
            terms.push(jt);
        }
        grad_f.push(simplify(&fy));
        grad_l.push(simplify(&total(terms, shape, obj)));
    }

    // L_yy: the structured forward over the simplified reverse, all directions at once
    let gl: Vec<&Expr> = grad_l.iter().map(|g| &g.expr).collect();
    let hess_l = super::hessian::hessian_blocks(&gl, &vars).map(|blocks| blocks.iter().map(simplify).collect());

    // L_yy v: forward over the simplified reverse
    let tangents: Vec<(Wrt, Expr)> = node
        .vars
        .iter()
        .zip(&vars)
        .map(|(v, &(wrt, shape))| {
            let role = match wrt {
                Wrt::Var(id) => SymRole::Direction(id),
                Wrt::Param(_) => unreachable!("variables only"),
            };
            (wrt, sym_expr(&mut syms, format!("v_{}", v.name), shape, role, obj))
        })
        .collect();
    let mut hvp_l = Vec::new();
    for (g, &(_, shape)) in grad_l.iter().zip(&vars) {
        hvp_l.push(simplify(&total(vec![jvp(&g.expr, &tangents)?], shape, obj)));
    }

    // mixed partials ∂_θ [wᵀ L_y + aᵀh + bᵀg]
    let mut seeds: Vec<(Expr, Expr)> = Vec::new();
    for ((v, g), &(wrt, shape)) in node.vars.iter().zip(&grad_l).zip(&vars) {
        let Wrt::Var(id) = wrt else { unreachable!("variables only") };
        seeds.push((g.expr.clone(), sym_expr(&mut syms, format!("w_{}", v.name), shape, SymRole::W(id), obj)));
    }
    for c in &cons {
        let (name, role) = match c.rel {
            Relation::Eq => (format!("a_{}", c.label), SymRole::A(c.nth)),
            Relation::Le => (format!("b_{}", c.label), SymRole::B(c.nth)),
        };
        seeds.push((c.value.clone(), sym_expr(&mut syms, name, &c.value.shape, role, &c.value)));
    }
    let mut mixed = Vec::new();
    for (k, p) in node.params.iter().enumerate() {
        let wrt = Wrt::Param(ParamId(k as u32));
        let terms = seeds.iter().map(|(e, s)| grad(e, wrt, s)).collect::<Result<Vec<_>, _>>()?;
        mixed.push(simplify(&total(terms, &p.shape, obj)));
    }

    let (mut eqs, mut ineqs) = (Vec::new(), Vec::new());
    for (c, jt) in cons.into_iter().zip(jts) {
        let n = Normalised { index: c.index, label: c.label, value: simplify(&c.value), jt };
        match c.rel {
            Relation::Eq => eqs.push(n),
            Relation::Le => ineqs.push(n),
        }
    }
    // f in the derivatives' normal form: a subexpression both compute (Welsch's
    // `exp((-0.5) * (z^2 / alpha^2))`) is then one term, which lowering computes once
    let f = simplify(&f).expr;
    Ok(Derived { syms, f, grad_f, grad_l, hvp_l, hess_l, eqs, ineqs, mixed })
}
