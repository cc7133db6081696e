//! A node at run time: inputs bound and checked, then the forward solve.
//!
//! Conic nodes (LP, QP, SOCP) are canonicalised at the given parameter values and
//! solved directly where the structure allows (least squares by QR, equality QPs
//! by one KKT factorisation), otherwise by the interior point method; the
//! solution maps back to the node's variables and the multipliers of its named
//! constraints.

use std::sync::Arc;

use super::info::{DirectFacts, Info};
use super::inputs::Bound;
use super::prepared::{Prepared, PreparedConic};
use crate::analysis::Analysed;
use crate::canon::{canonicalize_with, least_squares_form, CanonError, Canonical, Layout};
use crate::eval::{Env, EvalError, Tensor};
use crate::ir::{Misfit, Node, Output, SolveMethod};
use crate::kernel::{Interpreted, KernelId, KernelSet, Kernels};
use crate::smooth::{DomainError, SmoothError};
use crate::solve::active_set::{self, ActiveSet};
use crate::solve::direct::{self, DirectFactor};
use crate::solve::program::ConeBlock;
use crate::solve::{ipm, ConeProgram, SolveError};
use crate::symbolic::DeriveError;

pub use crate::status::Status;

/// What `info.warnings` says of the gradients at an `optimal_inaccurate` point.
pub const INEXACT_WARNING: &str =
    "optimal_inaccurate: the point meets only the reduced tolerances; its outputs and gradients are those of an inexact point";

impl Solved {
    /// A solved status with a non-finite output becomes `numerical_error`, its
    /// message in `info.message`: a NaN or an infinity is never passed off as
    /// an answer (what every forward entry point returns).
    pub(crate) fn checked(mut self) -> Solved {
        if self.status.is_solved() {
            if let Some(m) = non_finite("output", &self.outputs) {
                self.status = Status::NumericalError;
                self.info.message = Some(m);
            }
        }
        self
    }

    /// Appends `warning` to `info.warnings` (once).
    pub(crate) fn warn(&mut self, warning: String) {
        if !self.info.warnings.contains(&warning) {
            self.info.warnings.push(warning);
        }
    }
}

/// The first non-finite entry among named tensors, as a message naming it.
pub fn non_finite(what: &str, named: &[(String, Tensor)]) -> Option<String> {
    named.iter().find_map(|(k, t)| {
        let i = t.data.iter().position(|x| !x.is_finite())?;
        Some(format!("{what} `{k}` has a non-finite entry ({}) at flat index {i}", t.data[i]))
    })
}

/// A forward solve's result: outputs in declaration order (named as in the
/// contract: a variable's name, or a `dual` constraint's name), solver facts, and
/// what the backward pass reuses (the standard form and the factored KKT matrix).
#[derive(Debug)]
pub struct Solved {
    /// The contract's status.
    pub status: Status,
    /// `(name, value)` per output, in declaration order.
    pub outputs: Vec<(String, Tensor)>,
    /// The solver's facts at the returned point.
    pub info: Info,
    pub(crate) context: Context,
}

/// What a forward keeps for the backward pass.
#[derive(Debug)]
pub(crate) enum Context {
    Conic(Box<Conic>),
    Smooth(Box<super::smooth::SmoothContext>),
}

/// What a conic forward keeps: where the node sits in the standard form, the
/// primal-dual point, and the factored KKT matrix.
#[derive(Debug)]
pub(crate) enum Conic {
    /// Solved by the interior point method.
    Ipm { canon: Canonical, solution: Box<ipm::Solution> },
    /// Solved by one factorisation ([`crate::solve::direct`]).
    Direct { layout: Layout, x: Vec<f64>, z: Vec<f64>, factor: DirectFactor },
    /// Solved through a [`super::Prepared`] node's recording.
    Prepared(PreparedConic),
}

impl Conic {
    pub fn layout(&self) -> &Layout {
        match self {
            Conic::Ipm { canon, .. } => &canon.layout,
            Conic::Direct { layout, .. } => layout,
            Conic::Prepared(p) => &p.recorded.layout,
        }
    }

    /// The standard form's `(x, z)`.
    pub fn point(&self) -> (&[f64], &[f64]) {
        match self {
            Conic::Ipm { solution, .. } => (&solution.x, &solution.z),
            Conic::Direct { x, z, .. } => (x, z),
            Conic::Prepared(p) => p.point(),
        }
    }

    /// Whether the standard form has columns or cones beyond the node's own
    /// variables and affine rows (a direct solve never has).
    pub fn has_auxiliary(&self) -> bool {
        match self {
            Conic::Ipm { canon, .. } => {
                canon.program.n() != canon.layout.user_cols()
                    || canon.program.cones.iter().any(|c| {
                        matches!(
                            c,
                            crate::solve::ConeBlock::SecondOrder(_)
                                | crate::solve::ConeBlock::Exponential
                                | crate::solve::ConeBlock::Psd(_)
                        )
                    })
            }
            Conic::Direct { .. } | Conic::Prepared(_) => false,
        }
    }

    /// Solves `K w = rhs` in place with the kept factorisation.
    pub fn kkt_solve(&mut self, rhs: &mut [f64]) -> Result<(), SolveError> {
        match self {
            Conic::Ipm { solution, .. } => match solution.kkt.as_mut() {
                Some(kkt) => kkt.solve(rhs).map(|_| ()),
                None => Err(SolveError::NoFactorisation(
                    "no KKT factorisation at the solution (the final refactorisation failed)",
                )),
            },
            Conic::Direct { factor, .. } => factor.solve(rhs),
            Conic::Prepared(p) => p.kkt_solve(rhs),
        }
    }
}

/// Why a forward solve, a backward pass or a forward-mode product could not
/// run (not a solver outcome: those are a [`Status`]). A lower layer's error is
/// kept whole (its span, its fields) and displayed as it is.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RunError {
    /// The inputs break the node's contract: every message of
    /// [`super::bind`]'s checks.
    #[error(transparent)]
    Inputs(#[from] super::inputs::InputErrors),
    /// A parameter whose size is not the one a [`super::Prepared`] node was
    /// made for.
    #[error("node `{node}`: parameter `{param}` has {found} entries, prepared for {expected}")]
    Shape {
        /// The node's name.
        node: String,
        /// The parameter's name.
        param: String,
        /// Entries the node was prepared for.
        expected: usize,
        /// Entries given.
        found: usize,
    },
    /// A parameter with a NaN or an infinity.
    #[error("node `{node}`: parameter `{param}` has a NaN or infinite entry")]
    NonFinite {
        /// The node's name.
        node: String,
        /// The parameter's name.
        param: String,
    },
    /// A `solve using` method the node's family has no forward for.
    #[error("{0}")]
    Method(Misfit),
    /// A smooth node whose derivatives could not be derived.
    #[error("cannot differentiate `{node}`: {error}")]
    NotDerived {
        /// The node's name.
        node: String,
        /// Why the derivation failed.
        error: DeriveError,
    },
    /// The reductions to standard form failed at these values.
    #[error(transparent)]
    Canon(#[from] CanonError),
    /// An expression of the node has no value at these inputs.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// A point outside the domain of the node's functions.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A conic solver refused its settings or data.
    #[error(transparent)]
    Solve(#[from] SolveError),
    /// A smooth solver refused its settings or data.
    #[error(transparent)]
    Smooth(#[from] SmoothError),
    /// A call the node cannot serve: an unknown name, a size that does not fit.
    #[error("{0}")]
    Invalid(String),
    /// A derivative (backward pass or forward mode) that does not exist or
    /// cannot be computed at this solution.
    #[error("{0}")]
    Derivative(String),
    /// A fault of ddn's own (a panic caught, a missing workspace): please
    /// report it.
    #[error("{0}")]
    Internal(String),
}

/// The refusal of a method the node's family has no forward for
/// ([`SolveMethod::misfit`]: `ddnc check` reports it; this catches a node
/// built past the checker).
pub(crate) fn method_fits(node: &Node) -> Result<(), RunError> {
    match node.solve.as_ref().and_then(|s| s.method.misfit(node.class.family)) {
        Some(m) => Err(RunError::Method(m)),
        None => Ok(()),
    }
}

/// The IPM settings a node's `solve using ipm(...)` asks for.
pub fn settings(node: &Node) -> Result<ipm::Settings, RunError> {
    method_fits(node)?;
    let mut s = ipm::Settings::default();
    // A conic node's method fits only if it is `ipm`.
    if let Some(SolveMethod::Ipm(options)) = node.solve.as_ref().map(|s| &s.method) {
        if let Some(tol) = options.tol {
            (s.tol_gap_abs, s.tol_gap_rel, s.tol_feas) = (tol, tol, tol);
        }
        s.max_iter = options.max_iter.map_or(s.max_iter, |v| u32::try_from(v).unwrap_or(u32::MAX));
    }
    s.validate()?;
    Ok(s)
}

/// The node's kernels, lowered on first use and kept in its analysis
/// ([`Analysed::kernels`]): for a smooth node after its symbolic derivation (egg).
pub fn kernel_set(node: &Analysed<'_>) -> Result<Arc<KernelSet>, RunError> {
    node.kernels().map_err(|e| super::smooth::not_derived(node.node, e))
}

/// The node's kernels run by the interpreter: what [`forward`] uses.
pub fn interpreted(node: &Analysed<'_>) -> Result<Arc<dyn Kernels>, RunError> {
    Ok(Arc::new(Interpreted(kernel_set(node)?)))
}

/// Does once what every solve of `node` would otherwise do on first use: a
/// smooth node's symbolic derivation (egg), and lowering the node's kernels.
pub fn prepare(node: &Analysed<'_>) -> Result<(), RunError> {
    kernel_set(node).map(|_| ())
}

/// How [`forward`] and [`super::forward_batch`] solve a node. The default is
/// what a user of the node gets: its own settings (`solve using ipm(...)`),
/// its kernels run by the interpreter, its reductions recorded once per size
/// and replayed ([`Prepared`]).
#[derive(Clone, Default)]
pub struct Options {
    /// The back end that runs the node's kernels (the evaluator, the
    /// interpreter, a generated module or the JIT: they agree bit for bit);
    /// `None`: the interpreter over the node's own kernel set. The backward
    /// pass of the result runs the same kernels.
    pub kernels: Option<Arc<dyn Kernels>>,
    /// IPM settings in place of the node's own; a smooth node, which has no
    /// IPM, is solved with its own settings whatever this says.
    pub settings: Option<ipm::Settings>,
    /// Canonicalise afresh at the parameter values instead of replaying a
    /// recording: the reference a [`Prepared`] node's replay is checked
    /// against (no recording, no reuse).
    pub unprepared: bool,
}

impl Options {
    /// These options with the node's kernels run by `kernels`.
    pub fn with_kernels(self, kernels: Arc<dyn Kernels>) -> Options {
        Options { kernels: Some(kernels), ..self }
    }

    /// These options with explicit IPM settings.
    pub fn with_settings(self, settings: ipm::Settings) -> Options {
        Options { settings: Some(settings), ..self }
    }

    /// These options canonicalising at every call ([`Options::unprepared`]).
    pub fn unprepared(self) -> Options {
        Options { unprepared: true, ..self }
    }

    /// The kernels these options name, or the node's interpreted ones.
    pub(crate) fn kernels_for(&self, node: &Analysed<'_>) -> Result<Arc<dyn Kernels>, RunError> {
        match &self.kernels {
            Some(k) => Ok(k.clone()),
            None => interpreted(node),
        }
    }

    /// The IPM settings these options name, checked, or the node's own.
    pub(crate) fn settings_for(&self, node: &Node) -> Result<ipm::Settings, RunError> {
        match &self.settings {
            Some(s) => {
                method_fits(node)?;
                s.validate()?;
                Ok(s.clone())
            }
            None => settings(node),
        }
    }
}

/// Solves `node` at the bound parameter values, as `options` say. Each call
/// prepares the node afresh ([`Prepared`]); keep a `Prepared` (or a
/// [`crate::loaded::LoadedNode`]) to solve many times at one size.
pub fn forward(node: &Analysed<'_>, bound: &Bound, options: &Options) -> Result<Solved, RunError> {
    let kernels = options.kernels_for(node)?;
    if !node.node.class.family.is_conic() {
        return super::smooth::forward(node, bound, kernels);
    }
    let settings = options.settings_for(node.node)?;
    if options.unprepared {
        return conic_unprepared(node.node, bound, &settings, &*kernels);
    }
    Prepared::with_settings(node, bound, kernels, settings)?.forward(bound)
}

/// A conic node without a recording: its data subexpressions by the `Data`
/// kernel, then the reductions to standard form and a direct solve or the IPM.
/// What a [`Prepared`] node falls back to when a guard fails, and the path of
/// nodes whose reductions cannot be replayed.
pub(crate) fn conic_unprepared(
    node: &Node,
    bound: &Bound,
    settings: &ipm::Settings,
    kernels: &dyn Kernels,
) -> Result<Solved, RunError> {
    let env = Env { params: &bound.params, vars: &[], dims: &bound.dims, syms: &[] };
    let data = kernels.run(KernelId::Data, &env)?;
    // A method named in the file is honoured; otherwise the structure picks.
    let direct_allowed = node.solve.is_none();
    if direct_allowed {
        if let Some(residual) = least_squares_form(node, bound, &data) {
            let r = residual?;
            if let Some((x, factor)) = direct::least_squares(r.m.as_ref(), &r.d, 1.0) {
                let res: Vec<f64> =
                    (0..r.d.len()).map(|i| r.d[i] + (0..x.len()).map(|j| r.m[(i, j)] * x[j]).sum::<f64>()).collect();
                let objective = res.iter().map(|v| v * v).sum::<f64>();
                let facts = DirectFacts::least_squares(objective);
                let layout = Layout { var_cols: r.var_cols, constraint_rows: Vec::new() };
                return Ok(direct_solved(node, layout, x, Vec::new(), factor, facts));
            }
        }
    }
    let canon = canonicalize_with(node, bound, &data)?;
    if direct_allowed {
        if let Some((x, z, factor)) = direct::equality_qp(&canon.program) {
            let facts = DirectFacts::equality_qp(&canon.program, &x, &z);
            return Ok(direct_solved(node, canon.layout, x, z, factor, facts));
        }
        if active_set::applies(&canon.program) {
            let mut qp = Box::new(ActiveSet::default());
            if let Ok(r) = qp.solve(&canon.program, settings) {
                let facts = DirectFacts::active_set(&r);
                let (x, z) = (qp.x().to_vec(), qp.z().to_vec());
                return Ok(direct_solved(node, canon.layout, x, z, DirectFactor::ActiveSet(qp), facts));
            }
        }
    }
    let sol = ipm::solve(&canon.program, settings)?;
    let (status, info) = ipm_outcome(node, &canon.program, &canon.layout, &IpmResult::from(&sol));
    let outputs = outputs(node, &canon.layout, &sol.x, &sol.z);
    let context = Context::Conic(Box::new(Conic::Ipm { canon, solution: Box::new(sol) }));
    Ok(Solved { status, outputs, info, context }.checked())
}

/// The contract's status for an interior point method outcome.
pub(crate) fn ipm_status(status: ipm::Status) -> Status {
    match status {
        ipm::Status::Optimal => Status::Optimal,
        ipm::Status::AlmostOptimal => Status::OptimalInaccurate,
        ipm::Status::PrimalInfeasible | ipm::Status::AlmostPrimalInfeasible => Status::Infeasible,
        ipm::Status::DualInfeasible | ipm::Status::AlmostDualInfeasible => Status::Unbounded,
        ipm::Status::MaxIterations => Status::MaxIterations,
        ipm::Status::NumericalError | ipm::Status::InsufficientProgress => Status::NumericalError,
    }
}

/// What the report of an interior point solve reads, from a [`ipm::Solution`]
/// or from the [`ipm::Workspace`] a prepared node solved in.
pub(crate) struct IpmResult<'a> {
    pub status: ipm::Status,
    pub info: &'a ipm::Summary,
    pub s: &'a [f64],
    pub z: &'a [f64],
}

impl<'a> From<&'a ipm::Solution> for IpmResult<'a> {
    fn from(sol: &'a ipm::Solution) -> Self {
        IpmResult { status: sol.status, info: &sol.info, s: &sol.s, z: &sol.z }
    }
}

impl<'a> IpmResult<'a> {
    pub fn of(ws: &'a ipm::Workspace) -> Self {
        IpmResult { status: ws.status(), info: ws.info(), s: ws.s(), z: ws.z() }
    }
}

/// The status and `info` of an IPM solve of `program` (laid out as `layout`).
pub(crate) fn ipm_outcome(node: &Node, program: &ConeProgram, layout: &Layout, sol: &IpmResult<'_>) -> (Status, Info) {
    let status = ipm_status(sol.status);
    let weak = if status.is_solved() { weakly_active(node, layout, sol) } else { Vec::new() };
    let mut info = Info::ipm(node.class.family, sol.info, weak, (program.n(), program.m()));
    if status == Status::OptimalInaccurate {
        info.warnings.push(INEXACT_WARNING.into());
    }
    if status.is_solved() {
        if let Some(active) = active_rows(program, sol).filter(|&a| a > program.n()) {
            info.warnings.push(overdetermined_warning(active, program.n()));
        }
    }
    (status, info)
}

/// The rows active at an LP's or QP's point: every zero-cone row, and each
/// orthant row whose multiplier, in the objective's unit ω, exceeds its slack
/// (the split the interior point method ends with, `sᵢzᵢ ≈ μ`, and exact
/// after its crossover or polish). `None` where another cone makes "active"
/// more than a row's property.
fn active_rows(program: &ConeProgram, sol: &IpmResult<'_>) -> Option<usize> {
    let omega = sol.info.objective_scale;
    let mut row = 0;
    let mut active = 0;
    for cone in &program.cones {
        match *cone {
            ConeBlock::Zero(d) => active += d,
            ConeBlock::Nonneg(d) => {
                let (s, z) = (&sol.s[row..row + d], &sol.z[row..row + d]);
                active += s.iter().zip(z).filter(|(s, z)| z.abs() / omega > s.abs()).count();
            }
            _ => return None,
        }
        row += cone.dim();
    }
    Some(active)
}

/// What `info.warnings` says when more rows are active than there are
/// variables: the active constraints' gradients are then linearly dependent
/// (LICQ fails), the multipliers are not unique, and the solution map has a
/// kink in the parameters that move those rows (a perturbation of one
/// right-hand side makes a different subset active), so no gradient exists
/// there; the backward pass returns the regularised KKT system's answer, one
/// of the one-sided derivatives at best. A sufficient test, not a necessary
/// one: dependent rows can also be fewer than the variables.
fn overdetermined_warning(active: usize, n: usize) -> String {
    format!(
        "{active} constraint rows are active for {n} variables: the active constraints are linearly dependent, \
         so the solution is not differentiable in every parameter here, and the gradients are those of the \
         regularised KKT system (at best a one-sided derivative)"
    )
}

/// The node's outputs, in declaration order, from the standard form's (x, z).
pub(crate) fn outputs(node: &Node, layout: &Layout, x: &[f64], z: &[f64]) -> Vec<(String, Tensor)> {
    let vars = layout.var_values(x);
    let duals = layout.dual_values(z);
    node.outputs
        .iter()
        .map(|o| match o {
            Output::Var(v) => (node.var(*v).name.clone(), vars[v.0 as usize].clone()),
            Output::Dual(c) => (node.constraints[*c].name.clone().unwrap_or_default(), duals[*c].clone()),
        })
        .collect()
}

/// A directly solved node: optimal by construction (the factorisation was
/// accepted), with the solver's own facts in `info`.
fn direct_solved(
    node: &Node,
    layout: Layout,
    x: Vec<f64>,
    z: Vec<f64>,
    factor: DirectFactor,
    facts: DirectFacts,
) -> Solved {
    let outputs = outputs(node, &layout, &x, &z);
    let info = Info::direct(node.class.family, facts, (x.len(), z.len()));
    Solved {
        status: Status::Optimal,
        outputs,
        info,
        context: Context::Conic(Box::new(Conic::Direct { layout, x, z, factor })),
    }
    .checked()
}

/// Thresholds of `weakly_active`. An interior point method ends with
/// `sᵢzᵢ ≈ μ` on every row: strictly active rows have `sᵢ ≪ zᵢ`, inactive ones
/// `zᵢ ≪ sᵢ`, and a weakly active row has both small and of one order
/// (both near `√μ`): below `WEAK_TOL · (1 + max|z̃|)`, ratio within `WEAK_RATIO`,
/// with `z̃ = z/ω` the multipliers in the objective's unit ω
/// ([`crate::solve::ConeProgram::objective_scale`]): multipliers scale with the
/// objective, slacks do not, and an objective scaled by 1e-8 has multipliers
/// of order 1e-8 that are not small in its own terms. The active-set polish
/// ends with complementarity exact (`sᵢzᵢ = 0`), so there a weakly active row
/// has both below `WEAK_ZERO · (1 + max|z̃|)`, zero to the solver's accuracy
/// (its tolerances are 1e-8), whatever their ratio.
pub const WEAK_TOL: f64 = 1e-3;
/// See [`WEAK_TOL`].
pub const WEAK_RATIO: f64 = 1e3;
/// See [`WEAK_TOL`].
pub const WEAK_ZERO: f64 = 1e-9;

/// Inequality constraints with rows that are active (`sᵢ ≈ 0`) but whose
/// multiplier is zero too (`zᵢ ≈ 0`): there the solution map has a kink, and the
/// backward pass returns one of the one-sided derivatives (the one the
/// regularised KKT solve picks). Named constraints by name, others as `#k`
/// (their order in the node, `var` type bounds last).
fn weakly_active(node: &Node, layout: &Layout, sol: &IpmResult<'_>) -> Vec<String> {
    let omega = sol.info.objective_scale;
    let scale = 1.0 + sol.z.iter().fold(0.0f64, |m, v| m.max(v.abs())) / omega;
    let (tol, zero) = (WEAK_TOL * scale, WEAK_ZERO * scale);
    node.constraints
        .iter()
        .zip(&layout.constraint_rows)
        .enumerate()
        .filter(|(_, (c, _))| c.relation() == crate::ir::Relation::Le)
        .filter(|(_, (_, (rows, _)))| {
            (rows.start..rows.start + rows.len).any(|r| {
                let (si, zi) = (sol.s[r].abs(), sol.z[r].abs() / omega);
                let balanced = si < WEAK_RATIO * zi && zi < WEAK_RATIO * si;
                (si < tol && zi < tol && balanced) || (si < zero && zi < zero)
            })
        })
        .map(|(k, (c, _))| c.name.clone().unwrap_or_else(|| format!("#{k}")))
        .collect()
}
