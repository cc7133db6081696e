//! Smooth nodes at run time: the forward (Newton or the interior point method
//! on the symbolically derived expressions, or the specialised forward the file
//! names) and what it keeps for the backward pass.

use std::ops::Range;
use std::sync::Arc;

use super::node::Context;
use super::{Bound, Info, RunError, Solved};
use crate::analysis::Analysed;
use crate::eval::{concrete, Tensor};
use crate::ir::{Node, Output, SolveMethod};
use crate::kernel::{initial_point, Kernels, NodeProblem};
use crate::smooth::{self, Method};
use crate::symbolic::{DeriveError, Derived, SymRole};

/// What a smooth forward keeps for the backward pass.
#[derive(Debug)]
pub(crate) enum SmoothContext {
    /// Newton / interior point: the derived expressions, the kernels that ran
    /// them (the backward runs the same), and the first-order point `(y, ν, λ)`
    /// (flat, as [`crate::smooth::SmoothProblem`] lays them out); and `∇²L`
    /// there when the forward evaluated it at that point (Newton's last
    /// iterate), which the backward then does not evaluate again.
    General {
        derived: Arc<Derived>,
        kernels: KernelHandle,
        y: Vec<f64>,
        nu: Vec<f64>,
        lambda: Vec<f64>,
        hessian: Option<faer::Mat<f64>>,
    },
    /// Sinkhorn: the plan and γ, for the structured backward (the cost is read
    /// again from the bound parameters).
    Transport { solution: crate::smooth::SinkhornSolution, gamma: f64 },
    /// `eigh`: the decomposition (which eigenvector(s) the node returns is
    /// in its [`crate::ir::Eigen`]).
    Eigen { eig: crate::smooth::Eigh },
}

/// The kernels a forward ran, kept for its backward pass.
pub(crate) struct KernelHandle(pub Arc<dyn Kernels>);

impl std::fmt::Debug for KernelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KernelHandle")
    }
}

/// Where each constraint's multipliers sit: per node constraint, `Some((in
/// ν?, range))` for those the derivation kept (all of a smooth node's).
pub(crate) fn multiplier_ranges(node: &Node, derived: &Derived, bound: &Bound) -> Vec<Option<(bool, Range<usize>)>> {
    let mut out = vec![None; node.constraints.len()];
    for (eq, list) in [(true, &derived.eqs), (false, &derived.ineqs)] {
        let mut at = 0;
        for (k, c) in list.iter().enumerate() {
            let role = if eq { SymRole::Nu(k) } else { SymRole::Lambda(k) };
            let len = derived
                .sym(role)
                .map_or(0, |id| concrete(&derived.syms[id.0 as usize].shape, &bound.dims).iter().product());
            out[c.index] = Some((eq, at..at + len));
            at += len;
        }
    }
    out
}

/// The node's outputs, in declaration order, from its variables' values and the
/// flat multipliers `(ν, λ)` placed by `ranges` ([`multiplier_ranges`]); the
/// forward mode maps tangents the same way.
pub(crate) fn outputs(
    node: &Node,
    bound: &Bound,
    ranges: &[Option<(bool, Range<usize>)>],
    vars: Vec<Tensor>,
    nu: &[f64],
    lambda: &[f64],
) -> Vec<(String, Tensor)> {
    node.outputs
        .iter()
        .map(|o| match o {
            Output::Var(v) => (node.var(*v).name.clone(), vars[v.0 as usize].clone()),
            Output::Dual(c) => {
                let name = node.constraints[*c].name.clone().unwrap_or_default();
                let shape = concrete(&node.constraints[*c].shape, &bound.dims);
                let data = match &ranges[*c] {
                    Some((true, r)) => nu[r.clone()].to_vec(),
                    Some((false, r)) => lambda[r.clone()].to_vec(),
                    None => vec![0.0; shape.iter().product()],
                };
                (name, Tensor { shape, data })
            }
        })
        .collect()
}

/// The method and settings `solve using newton(...)` / `sqp(...)` ask for.
fn settings(node: &Node) -> Result<(Method, smooth::Settings), RunError> {
    super::node::method_fits(node)?;
    let mut s = smooth::Settings::default();
    // `ipm` does not fit a smooth node, and `sinkhorn`/`eigh` nodes have
    // forwards of their own (`forward` routes them before this).
    let (method, options) = match node.solve.as_ref().map(|s| &s.method) {
        Some(SolveMethod::Newton(o)) => (Method::Newton, o),
        Some(SolveMethod::Sqp(o)) => (Method::Sqp, o),
        _ => return Ok((Method::Auto, s)),
    };
    s.tol = options.tol.unwrap_or(s.tol);
    s.max_iter = options.max_iter.map_or(s.max_iter, |v| usize::try_from(v).unwrap_or(usize::MAX));
    Ok((method, s))
}

/// Solves the smooth `node` at `bound`, its derived expressions run by `kernels`.
pub(crate) fn forward(node: &Analysed<'_>, bound: &Bound, kernels: Arc<dyn Kernels>) -> Result<Solved, RunError> {
    let solved = match node.node.solve.as_ref().map(|s| &s.method) {
        Some(SolveMethod::Sinkhorn(options, t)) => super::special::transport_forward(node.node, t, options, bound),
        Some(SolveMethod::Eigh(e)) => super::special::eigen_forward(node.node, e, bound),
        _ => general(node, bound, kernels),
    };
    solved.map(Solved::checked)
}

/// Why `node` has no derivation, as a run error.
pub(crate) fn not_derived(node: &Node, e: DeriveError) -> RunError {
    RunError::NotDerived { node: node.name.clone(), error: e }
}

/// The inequality constraints that are active with a zero multiplier at the
/// solution (where the solution map has a kink and the backward pass returns a
/// smoothed derivative): named constraints by name, others as `#k`, as the
/// conic path reports them.
fn weakly_active(
    node: &Node,
    problem: &NodeProblem,
    ranges: &[Option<(bool, Range<usize>)>],
    y: &[f64],
    lambda: &[f64],
) -> Result<Vec<String>, RunError> {
    use crate::smooth::SmoothProblem;
    let g = problem.ineq(y)?;
    let (_, weak) = crate::smooth::activity(&g, lambda, crate::smooth::ACTIVITY_TOL);
    let mut names: Vec<String> = Vec::new();
    for j in weak {
        let k = ranges.iter().position(|r| matches!(r, Some((false, r)) if r.contains(&j)));
        let name = k.map(|k| node.constraints[k].name.clone().unwrap_or_else(|| format!("#{k}")));
        if let Some(name) = name.filter(|n| !names.contains(n)) {
            names.push(name);
        }
    }
    Ok(names)
}

/// Newton (no constraints) or the primal-dual interior point method (any), from
/// the node's `init`.
fn general(analysed: &Analysed<'_>, bound: &Bound, kernels: Arc<dyn Kernels>) -> Result<Solved, RunError> {
    let node = analysed.node;
    let (method, settings) = settings(node)?;
    let derived = analysed.derived().map_err(|e| not_derived(node, e))?;
    let problem = NodeProblem::new(node, bound, &derived, &*kernels);
    let y0 = initial_point(node, bound, &*kernels)?;
    let sol = smooth::solve(&problem, &y0, method, &settings)?;

    let vars = problem.unflatten(&sol.y);
    let ranges = multiplier_ranges(node, &derived, bound);
    let outputs = outputs(node, bound, &ranges, vars, &sol.nu, &sol.lambda);
    let constrained = !(derived.eqs.is_empty() && derived.ineqs.is_empty());
    let weak = if sol.status == super::Status::Optimal && !derived.ineqs.is_empty() {
        weakly_active(node, &problem, &ranges, &sol.y, &sol.lambda)?
    } else {
        Vec::new()
    };
    let info = Info::smooth(node.class.family, constrained, &sol, weak);
    let hessian = problem.into_hessian_at(&sol.y, &sol.nu, &sol.lambda);
    let kernels = KernelHandle(kernels);
    let context = SmoothContext::General { derived, kernels, y: sol.y, nu: sol.nu, lambda: sol.lambda, hessian };
    Ok(Solved { status: sol.status, outputs, info, context: Context::Smooth(Box::new(context)) })
}
