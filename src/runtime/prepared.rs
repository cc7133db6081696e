//! A conic node prepared for its dimension sizes, owned by the runtime.
//!
//! Everything that depends only on the node and its sizes is done once and
//! kept here, not in the IR: the reductions recorded as a refill program
//! ([`crate::canon::record`]) with its guards and its adjoint (or, for a
//! generated module, the recording `ddnc build` made and compiled:
//! [`Prepared::from_recorded`]), and the workspaces a solve and its backward
//! pass work in. A call then
//!
//! 1. replays the refill at the new parameter values (the `Data` kernel runs
//!    first only when a leaf reads it; a bare parameter is read in place);
//! 2. if a guard fails (a data-dependent decision takes the other side) falls
//!    back to canonicalising afresh, and records again at the new values;
//! 3. solves: least squares by a QR in kept buffers, an equality QP by one KKT
//!    factorisation, anything else by the interior point method
//!    (`solve_ipm`, the one place the program is handed to it);
//! 4. keeps the factorisation in the call's workspace for the backward pass,
//!    which seeds `∂ψ/∂(P, q, A, b)` (or `∂ψ/∂(M, d)`) at the solution and runs
//!    the refill's reverse sweep to the parameters: no reductions rerun over
//!    tracked numbers.
//!
//! Workspaces come from a pool in the `Prepared` value and go back to it when
//! the [`Solved`] that holds one is dropped, so after the first call at fixed
//! sizes (per concurrent call) a solve by QR allocates nothing but its outputs.
//! A batch shares one `Prepared` across its threads.

use std::sync::{Arc, Mutex, RwLock};

use faer::Mat;

use super::info::{DirectFacts, Info};
use super::inputs::Bound;
use super::node::{
    conic_unprepared, ipm_outcome, ipm_status, outputs, settings, Conic, Context, IpmResult, RunError, Solved, Status,
};
use crate::analysis::{Analysed, Analysis};
use crate::canon::{record, Recorded, RecordedForm, Scratch};
use crate::eval::{Env, Tensor};
use crate::ir::Node;
use crate::kernel::{KernelId, Kernels};
use crate::linalg::qr::Qr;
use crate::solve::active_set::{self, ActiveSet};
use crate::solve::direct::{self, DirectFactor};
use crate::solve::{ipm, ConeProgram, SolveError};

/// A node prepared for one set of dimension sizes.
pub struct Prepared<'n> {
    node: &'n Node,
    /// The node's analysis: a smooth node's derivation, made on first use.
    analysis: &'n Analysis,
    dims: Vec<usize>,
    /// Each parameter's entry count at these sizes (a [`Bound`] made by hand is
    /// checked against them before the refill reads it).
    param_lens: Vec<usize>,
    settings: ipm::Settings,
    kernels: Arc<dyn Kernels>,
    /// The recorded standard form; `None` when the node's reductions cannot be
    /// replayed (every call canonicalises).
    recorded: RwLock<Option<Arc<Recorded>>>,
    pool: Pool,
}

/// Idle workspaces. Boxed, so that lending one to a [`Solved`] and taking it
/// back moves a pointer rather than the workspace's many buffers.
#[allow(clippy::vec_box)]
type Pool = Arc<Mutex<Vec<Box<Workspace>>>>;

/// What one call works in: the refill's values and adjoints, the program, the
/// solution and its factorisation.
#[derive(Default)]
pub struct Workspace {
    scratch: Scratch,
    data: Vec<Tensor>,
    data_cot: Vec<Tensor>,
    program: ConeProgram,
    x: Vec<f64>,
    z: Vec<f64>,
    ls: LeastSquares,
    /// The interior point method's workspace, built for the recorded program's
    /// pattern and reused while it stays the same (no allocation per solve).
    ipm: Option<ipm::Workspace>,
    /// The dual active-set method's, sized on first use.
    active: ActiveSet,
    factor: Option<Factor>,
    /// The recording the last solve replayed.
    recorded: Option<Arc<Recorded>>,
    /// A direct solve's report.
    facts: Option<DirectFacts>,
}

/// The QR path's buffers: M (when assembled from entries), M's QR
/// ([`crate::linalg::qr`], its buffers kept), and the right-hand side `−d`,
/// transformed in place to `(x, (Qᵀ(−d))[n..])`.
struct LeastSquares {
    m: Mat<f64>,
    qr: Qr,
    rhs: Vec<f64>,
}

impl Default for LeastSquares {
    fn default() -> Self {
        LeastSquares { m: Mat::new(), qr: Qr::default(), rhs: Vec::new() }
    }
}

/// The factorisation a solve leaves for the backward pass.
enum Factor {
    /// `K = 2RᵀR`, R of the workspace's `ls.qr`.
    Qr,
    Kkt(Box<DirectFactor>),
    /// The interior point method's, kept in the workspace's [`ipm::Workspace`].
    Ipm,
    /// The dual active-set method's, kept in the workspace's [`ActiveSet`].
    ActiveSet,
}

/// A workspace lent to a [`Solved`]; back to its pool when dropped.
pub(crate) struct Lent {
    ws: Option<Box<Workspace>>,
    pool: Pool,
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let (Some(ws), Ok(mut pool)) = (self.ws.take(), self.pool.lock()) {
            pool.push(ws);
        }
    }
}

impl std::fmt::Debug for Lent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lent(workspace)")
    }
}

/// A prepared forward's context: the recording it replayed and the workspace.
#[derive(Debug)]
pub(crate) struct PreparedConic {
    pub recorded: Arc<Recorded>,
    lent: Lent,
}

impl PreparedConic {
    fn ws(&self) -> &Workspace {
        // A `Lent` holds its workspace until dropped.
        self.lent.ws.as_deref().expect("a lent workspace")
    }

    fn ws_mut(&mut self) -> &mut Workspace {
        self.lent.ws.as_deref_mut().expect("a lent workspace")
    }

    /// The standard form's `(x, z)`.
    pub fn point(&self) -> (&[f64], &[f64]) {
        let ws = self.ws();
        (&ws.x, &ws.z)
    }

    pub fn kkt_solve(&mut self, rhs: &mut [f64]) -> Result<(), SolveError> {
        self.ws_mut().kkt_solve(rhs)
    }

    pub fn psi_gradient(&mut self, node: &Node, b: &Bound, w: &[f64], g: &mut [Tensor]) -> Result<(), RunError> {
        self.ws_mut().psi_gradient(node, b, w, g)
    }
}

impl Workspace {
    /// The standard form's primal point after a solve.
    pub fn x(&self) -> &[f64] {
        &self.x
    }

    /// The standard form's multipliers after a solve.
    pub fn z(&self) -> &[f64] {
        &self.z
    }

    /// Solves `K w = rhs` in place with the last solve's factorisation.
    pub fn kkt_solve(&mut self, rhs: &mut [f64]) -> Result<(), SolveError> {
        if !crate::linalg::all_finite(rhs) {
            return Err(SolveError::NonFiniteRhs);
        }
        match &mut self.factor {
            Some(Factor::Qr) => {
                self.ls.qr.solve_normal_in_place(rhs);
                rhs.iter_mut().for_each(|v| *v /= 2.0);
            }
            Some(Factor::Kkt(f)) => f.solve(rhs)?,
            Some(Factor::ActiveSet) => self.active.kkt_solve(rhs)?,
            Some(Factor::Ipm) => match self.ipm.as_mut() {
                Some(ipm) => {
                    ipm.kkt_solve(rhs)?;
                }
                None => return Err(SolveError::NoFactorisation("no KKT factorisation at the solution")),
            },
            None => return Err(SolveError::NoFactorisation("no factorisation kept")),
        }
        if crate::linalg::all_finite(rhs) {
            Ok(())
        } else {
            Err(SolveError::NonFiniteSolution)
        }
    }

    /// `∇_θψ` (added to `grads`) for `ψ = −w_xᵀ(Px + q + Aᵀz) − w_zᵀ(Ax − b)`
    /// at the last solve's point and the adjoint `w = (w_x, w_z)`: the seeds
    /// `∂ψ/∂(P, q, A, b)`, or for least squares `∂ψ/∂(M, d)`, then the refill's
    /// reverse sweep.
    pub fn psi_gradient(
        &mut self,
        node: &Node,
        bound: &Bound,
        w: &[f64],
        grads: &mut [Tensor],
    ) -> Result<(), RunError> {
        let no_solve = || RunError::Internal("no prepared solve in this workspace".into());
        let recorded = self.recorded.clone().ok_or_else(no_solve)?;
        let (wx, wz) = w.split_at(self.x.len());
        match &recorded.form {
            RecordedForm::Cone { .. } => recorded.seed_cone(&self.x, &self.z, wx, wz, &mut self.scratch),
            RecordedForm::LeastSquares { .. } => recorded.seed_least_squares(&self.x, wx, &mut self.scratch),
        }
        Ok(recorded.to_params(node, bound, &mut self.scratch, &mut self.data_cot, grads)?)
    }
}

impl<'n> Prepared<'n> {
    /// Prepares `node` for the sizes of `bound`, its kernels run by `kernels`,
    /// with its own IPM settings. The values of `bound` pick the side of each
    /// data-dependent decision the recording guards.
    pub fn new(node: &Analysed<'n>, bound: &Bound, kernels: Arc<dyn Kernels>) -> Result<Prepared<'n>, RunError> {
        let settings = if node.node.class.family.is_conic() { settings(node.node)? } else { ipm::Settings::default() };
        Prepared::with_settings(node, bound, kernels, settings)
    }

    /// [`Prepared::new`] with explicit IPM settings.
    pub fn with_settings(
        analysed: &Analysed<'n>,
        bound: &Bound,
        kernels: Arc<dyn Kernels>,
        settings: ipm::Settings,
    ) -> Result<Prepared<'n>, RunError> {
        let Analysed { node, analysis } = analysed;
        let p = Prepared {
            node,
            analysis,
            dims: bound.dims.clone(),
            param_lens: bound.params.iter().map(|t| t.data.len()).collect(),
            settings,
            kernels,
            recorded: RwLock::new(None),
            pool: Arc::new(Mutex::new(Vec::new())),
        };
        if node.class.family.is_conic() {
            p.record(bound)?;
        }
        Ok(p)
    }

    /// Prepares `node` for the dimension sizes `dims` from a recording made
    /// ahead of time (a generated module's, `ddnc build`): nothing is recorded
    /// now. A call whose guard fails falls back as [`Prepared::forward`]
    /// always does, recording at its values.
    pub fn from_recorded(
        analysed: &Analysed<'n>,
        dims: Vec<usize>,
        kernels: Arc<dyn Kernels>,
        recorded: Recorded,
    ) -> Result<Prepared<'n>, RunError> {
        let Analysed { node, analysis } = analysed;
        if !node.class.family.is_conic() {
            return Err(RunError::Invalid(format!("node `{}` is not conic: it has no recording", node.name)));
        }
        if dims.len() != node.dims.len() {
            return Err(RunError::Invalid(format!(
                "node `{}` has {} dimension names, not {}",
                node.name,
                node.dims.len(),
                dims.len()
            )));
        }
        let len = |shape: &crate::ir::Shape| crate::eval::concrete(shape, &dims).iter().product::<usize>();
        let param_lens: Vec<usize> = node.params.iter().map(|p| len(&p.shape)).collect();
        // The refill reads its leaves in place: every block within its tensor at these sizes.
        let data_lens: Vec<usize> = crate::kernel::data_exprs(node).iter().map(|e| len(&e.shape)).collect();
        let fits = recorded.refill.blocks.iter().all(|b| {
            let (lens, tensor, index) = match b.source {
                crate::canon::Source::Param { param, index } => (&param_lens, param, index),
                crate::canon::Source::Data { output, index } => (&data_lens, output, index),
            };
            lens.get(tensor as usize).is_some_and(|&n| index as usize + b.len <= n)
        });
        if !fits {
            return Err(RunError::Invalid(format!("node `{}`: the recording does not read sizes {dims:?}", node.name)));
        }
        Ok(Prepared {
            node,
            analysis,
            dims,
            param_lens,
            settings: settings(node)?,
            kernels,
            recorded: RwLock::new(Some(Arc::new(recorded))),
            pool: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// The IR node it was prepared from.
    pub fn node(&self) -> &'n Node {
        self.node
    }

    /// The node with its analysis.
    pub fn analysed(&self) -> Analysed<'n> {
        Analysed::new(self.node, self.analysis)
    }

    /// The dimension sizes it was prepared for.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The recording in use (`None`: the node is canonicalised on every call).
    pub fn recorded(&self) -> Option<Arc<Recorded>> {
        self.recorded.read().ok().and_then(|r| r.clone())
    }

    /// Records the standard form at `bound`'s values and, if it can be
    /// replayed, keeps it in place of the previous one (a recording that fails
    /// at these values leaves the previous one for other calls). Returns the
    /// data tensors it was recorded from and the recording.
    fn record(&self, bound: &Bound) -> Result<(Vec<Tensor>, Option<Arc<Recorded>>), RunError> {
        let data = self.data(bound)?;
        let recorded = record(self.node, bound, &data).ok().map(Arc::new);
        if let (Some(new), Ok(mut kept)) = (&recorded, self.recorded.write()) {
            *kept = Some(new.clone());
        }
        Ok((data, recorded))
    }

    fn data(&self, bound: &Bound) -> Result<Vec<Tensor>, RunError> {
        let env = Env { params: &bound.params, vars: &[], dims: &bound.dims, syms: &[] };
        Ok(self.kernels.run(KernelId::Data, &env)?)
    }

    /// Solves the node at `bound` (sizes as prepared).
    pub fn forward(&self, bound: &Bound) -> Result<Solved, RunError> {
        if !self.node.class.family.is_conic() {
            return super::smooth::forward(&self.analysed(), bound, self.kernels.clone());
        }
        let mut ws = self.pool.lock().ok().and_then(|mut p| p.pop()).unwrap_or_default();
        let status = match self.solve(bound, &mut ws) {
            Ok(Some(status)) => status,
            Ok(None) => {
                self.give_back(ws);
                return conic_unprepared(self.node, bound, &self.settings, &*self.kernels);
            }
            Err(e) => {
                self.give_back(ws);
                return Err(e);
            }
        };
        let Some(recorded) = ws.recorded.clone() else {
            self.give_back(ws);
            return Err(RunError::Internal("internal: a prepared solve without its recording".into()));
        };
        let info = match &ws.factor {
            Some(Factor::Ipm) => match &ws.ipm {
                Some(ipm) => ipm_outcome(self.node, &ws.program, &recorded.layout, &IpmResult::of(ipm)).1,
                None => {
                    self.give_back(ws);
                    return Err(RunError::Internal("internal: an interior point solve without its workspace".into()));
                }
            },
            _ => match ws.facts {
                Some(facts) => Info::direct(self.node.class.family, facts, (ws.x.len(), ws.z.len())),
                None => {
                    self.give_back(ws);
                    return Err(RunError::Internal("internal: a direct solve without its facts".into()));
                }
            },
        };
        let outputs = outputs(self.node, &recorded.layout, &ws.x, &ws.z);
        let lent = Lent { ws: Some(ws), pool: self.pool.clone() };
        let ctx = Conic::Prepared(PreparedConic { recorded, lent });
        Ok(Solved { status, outputs, info, context: Context::Conic(Box::new(ctx)) }.checked())
    }

    /// Solves the node at `bound` in `ws`, leaving the standard form's point
    /// ([`Workspace::x`], [`Workspace::z`]) and its factorisation there: the
    /// allocation-free core of [`Prepared::forward`]. `None` when the node has
    /// to be canonicalised afresh (no recording, or a direct solve refused).
    pub fn solve(&self, bound: &Bound, ws: &mut Workspace) -> Result<Option<Status>, RunError> {
        if bound.dims != self.dims {
            return Err(RunError::Invalid(format!(
                "node `{}` was prepared for dimension sizes {:?}, called with {:?}",
                self.node.name, self.dims, bound.dims
            )));
        }
        if bound.params.len() != self.param_lens.len() {
            return Err(RunError::Invalid(format!(
                "node `{}` has {} parameters, called with {}",
                self.node.name,
                self.param_lens.len(),
                bound.params.len()
            )));
        }
        let node = || self.node.name.clone();
        for ((t, &expected), p) in bound.params.iter().zip(&self.param_lens).zip(&self.node.params) {
            if t.data.len() != expected {
                let (param, found) = (p.name.clone(), t.data.len());
                return Err(RunError::Shape { node: node(), param, expected, found });
            }
            // The refill drops `x·0` for a finite leaf: it relies on finite
            // parameters (what `bind` guarantees).
            if !crate::linalg::all_finite(&t.data) {
                return Err(RunError::NonFinite { node: node(), param: p.name.clone() });
            }
        }
        let Some(recorded) = self.recorded() else { return Ok(None) };
        if recorded.refill.reads_data {
            ws.data = self.data(bound)?;
        } else {
            ws.data.clear();
        }
        let recorded = match recorded.replay(bound, &ws.data, &mut ws.scratch) {
            Ok(()) => recorded,
            Err(_) => {
                // A guard took the other side: record at these values, whose
                // replay then takes this side too (with the data it was
                // recorded from: the new recording may read data the old did not).
                let (data, again) = self.record(bound)?;
                ws.data = data;
                let again = again.filter(|r| r.replay(bound, &ws.data, &mut ws.scratch).is_ok());
                let Some(recorded) = again else { return Ok(None) };
                recorded
            }
        };
        let status = match &recorded.form {
            RecordedForm::LeastSquares { .. } => self.least_squares(&recorded, ws),
            RecordedForm::Cone { .. } => self.cone(&recorded, ws)?,
        };
        ws.recorded = status.is_some().then_some(recorded);
        Ok(status)
    }

    /// dL/dθ into `grads` (parameter shapes; overwritten) after [`Prepared::solve`]
    /// in `ws`, for the cotangent `rhs` on the standard form's `(x, z)` (overwritten
    /// by the adjoint `w`): the allocation-free core of the backward pass.
    pub fn gradient(
        &self,
        bound: &Bound,
        ws: &mut Workspace,
        rhs: &mut [f64],
        grads: &mut [Tensor],
    ) -> Result<(), RunError> {
        ws.kkt_solve(rhs)?;
        grads.iter_mut().for_each(|g| g.data.iter_mut().for_each(|v| *v = 0.0));
        ws.psi_gradient(self.node, bound, rhs, grads)
    }

    fn give_back(&self, ws: Box<Workspace>) {
        if let Ok(mut p) = self.pool.lock() {
            p.push(ws);
        }
    }

    /// `min ‖Mx + d‖²` by a Householder QR in the workspace's buffers
    /// ([`crate::solve::direct`]'s method); `None` when M is rank deficient.
    fn least_squares(&self, recorded: &Recorded, ws: &mut Workspace) -> Option<Status> {
        let RecordedForm::LeastSquares { rows, cols, m, d, dense } = &recorded.form else { return None };
        let (rows, cols) = (*rows, *cols);
        if rows < cols || cols == 0 {
            return None;
        }
        let values = &ws.scratch.values;
        let ls = &mut ws.ls;
        // M straight into the QR's own buffer (a parameter matrix is read once,
        // row-major); M itself is kept only when it is assembled from entries.
        match dense {
            Some(first) => ls.qr.factor_row_major(&values[*first..first + rows * cols], rows, cols),
            None => {
                ls.m.resize_with(rows, cols, |_, _| 0.0);
                ls.m.fill(0.0);
                for &(i, j, v) in m {
                    ls.m[(i, j)] += crate::canon::value_of(v, values);
                }
                ls.qr.factor(ls.m.as_ref());
            }
        }
        if !ls.qr.full_rank() {
            return None;
        }
        ls.rhs.clear();
        ls.rhs.extend(d.iter().map(|v| -crate::canon::value_of(*v, values)));
        ls.qr.solve_lstsq_in_place(&mut ls.rhs);
        ws.x.clear();
        ws.x.extend_from_slice(&ls.rhs[..cols]);
        if !crate::linalg::all_finite(&ws.x) {
            return None;
        }
        ws.z.clear();
        ws.factor = Some(Factor::Qr);
        // ‖Mx + d‖² = ‖(Qᵀd)[n..]‖²: the entries of the transformed right-hand
        // side below R's rows, left there by the solve (no pass over M).
        let objective = ws.ls.rhs[cols..].iter().map(|v| v * v).sum::<f64>();
        ws.facts = Some(DirectFacts::least_squares(objective));
        Some(Status::Optimal)
    }

    /// The refilled cone program, where the node names no method: an equality
    /// QP by one KKT factorisation, a small strictly convex QP by the dual
    /// active-set method (unless it declines); otherwise, and always when the
    /// node names its method, the interior point method.
    fn cone(&self, recorded: &Recorded, ws: &mut Workspace) -> Result<Option<Status>, RunError> {
        let RecordedForm::Cone { program, .. } = &recorded.form else { return Ok(None) };
        // The kept program has this recording's structure only if the last
        // solve in this workspace replayed the same recording.
        let same = ws.recorded.as_deref().is_some_and(|r| std::ptr::eq(r, recorded));
        if !same {
            ws.program = program.clone();
        }
        recorded.fill(&ws.scratch.values, &mut ws.program);
        let p = &ws.program;
        if self.node.solve.is_none() {
            if let Some((x, z, factor)) = direct::equality_qp(p) {
                ws.facts = Some(DirectFacts::equality_qp(p, &x, &z));
                (ws.x, ws.z) = (x, z);
                ws.factor = Some(Factor::Kkt(Box::new(factor)));
                return Ok(Some(Status::Optimal));
            }
            if active_set::applies(p) {
                if let Ok(r) = ws.active.solve(p, &self.settings) {
                    ws.facts = Some(DirectFacts::active_set(&r));
                    ws.x.clear();
                    ws.x.extend_from_slice(ws.active.x());
                    ws.z.clear();
                    ws.z.extend_from_slice(ws.active.z());
                    ws.factor = Some(Factor::ActiveSet);
                    return Ok(Some(Status::Optimal));
                }
            }
        }
        let ipm = solve_ipm(&ws.program, &self.settings, &mut ws.ipm)?;
        let status = ipm_status(ipm.status());
        ws.x.clear();
        ws.x.extend_from_slice(ipm.x());
        ws.z.clear();
        ws.z.extend_from_slice(ipm.z());
        ws.factor = Some(Factor::Ipm);
        Ok(Some(status))
    }
}

/// The one place a prepared node hands its refilled program to the interior
/// point method: in the call's [`ipm::Workspace`], built for the program's
/// pattern on first use (or when a new recording changed the pattern) and then
/// reused, so a solve at fixed sizes allocates nothing.
fn solve_ipm<'w>(
    program: &ConeProgram,
    settings: &ipm::Settings,
    kept: &'w mut Option<ipm::Workspace>,
) -> Result<&'w ipm::Workspace, RunError> {
    if let Some(ws) = kept.as_mut() {
        if ws.solve(program).is_ok() {
            return Ok(kept.as_ref().expect("just matched as Some"));
        }
        // A different pattern (a new recording): build the workspace anew.
    }
    let ws = kept.insert(ipm::Workspace::new(program, settings)?);
    ws.solve(program)?;
    Ok(ws)
}
