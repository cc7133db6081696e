//! Per-iteration measures and the termination tests, on the original
//! (unequilibrated) data. With `(x, s, z)` the iterate divided by `τ`:
//!
//! ```text
//! pobj = ½xᵀPx + qᵀx + c0,   dobj = −½xᵀPx − bᵀz + c0,
//! primal_residual = ‖Ax + s − b‖∞ / max(1, ‖b‖∞ + ‖x‖∞ + ‖s‖∞),
//! dual_residual   = ‖Px + q + Aᵀz‖∞ / max(ω, ‖q‖∞ + ω‖x‖∞ + ‖z‖∞),
//! gap = |pobj − dobj|,   rel_gap = gap / max(ω, min(|pobj − c0|, |dobj − c0|)),
//! ```
//!
//! with `ω = min(1, max(‖q‖∞, max|Pᵢⱼ|))` (1 when there is no objective), and
//! optimality asks `gap < ω·tol_gap_abs` or `rel_gap < tol_gap_rel`. For data
//! of order 1 and more (ω = 1) these are Clarabel's tests. ω makes them the
//! tests of the program with its objective divided by ω: an objective scaled
//! by a small `c` (`c·f(x)`, a parameter's square, …) scales q, P, z and the
//! gap by `c`, and the unscaled tests (floors of 1, `‖x‖∞` beside `‖q‖∞`, an
//! absolute gap of 1e-8) then pass at points far from the optimum (1.4e-3 at
//! `c = 1e-8`; `statuses.rs::optimal_is_the_optimum_whatever_the_objective_scale`).
//!
//! and, on the undivided iterate, the infeasibility measures
//! `primal_infeasibility = ‖Aᵀz‖∞ / max(1, ‖z‖∞)` (with `bᵀz < 0`) and
//! `dual_infeasibility = max(‖Px‖∞ / max(1, ‖x‖∞), ‖Ax + s‖∞ / max(1, ‖x‖∞ + ‖s‖∞))`
//! (with `qᵀx < 0`). The tests are Clarabel's.

use super::data::{norm_inf_scaled, ProblemData};
use super::residuals::Residuals;
use super::settings::{KktMethod, Settings};
use super::status::Status;
use super::variables::Variables;

/// What the solver reports besides the point.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The returned iterate's number: the interior point iterations (KKT
    /// factorisations, less the initial one) that led to it. When the solve
    /// went back to the previous or the best iterate (a stall, a divergence),
    /// or started again after a stall with less regularisation (counting from
    /// that start), more iterations ran than this counts.
    pub iterations: u32,
    /// Primal objective `½xᵀPx + qᵀx + c0` at the returned point.
    pub primal_objective: f64,
    /// Dual objective `−½xᵀPx − bᵀz + c0`.
    pub dual_objective: f64,
    /// Relative primal residual (see the module doc).
    pub primal_residual: f64,
    /// Relative dual residual.
    pub dual_residual: f64,
    /// Primal infeasibility measure `‖Aᵀz‖∞ / max(1, ‖z‖∞)` of the iterate.
    pub primal_infeasibility: f64,
    /// Dual infeasibility measure of the iterate.
    pub dual_infeasibility: f64,
    /// Absolute duality gap `|pobj − dobj|`.
    pub gap: f64,
    /// Relative duality gap.
    pub rel_gap: f64,
    /// ω of the module documentation, the objective's unit in the tests.
    pub objective_scale: f64,
    /// `κ/τ` of the final iterate (large for infeasible problems).
    pub ktratio: f64,
    /// `μ = (sᵀz + τκ)/(ν + 1)` at the final iterate.
    pub mu: f64,
    /// The last step length.
    pub step_length: f64,
    /// The KKT path used (`Dense`, `Condensed` or `Sparse`; never `Auto`).
    pub kkt_method: KktMethod,
    /// The static regularisation δ of the last factorisation.
    pub static_reg: f64,
    /// Newton steps kept by polishing (see [`super::Settings::polish`]), the
    /// active set's among them ([`super::Settings::polish_active_set`]).
    pub polish_steps: u32,
    /// For a point the solver returns as a solution: the full-accuracy
    /// criterion it misses by the largest factor (`None` when it meets them
    /// all, i.e. for `Optimal`). Set for `AlmostOptimal`.
    pub unmet: Option<Unmet>,
}

/// An optimality criterion a point misses: `value > tolerance`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Unmet {
    /// `primal_residual`, `dual_residual`, `gap` (absolute and relative both
    /// missed; `value` is the relative gap) or `ktratio` (`κ/τ ≤ 1`).
    pub criterion: &'static str,
    /// The measure at the point.
    pub value: f64,
    /// The tolerance it misses.
    pub tolerance: f64,
}

/// The tolerances of the optimality test, full or reduced.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tolerances {
    pub gap_abs: f64,
    pub gap_rel: f64,
    pub feas: f64,
}

impl Tolerances {
    pub fn full(s: &Settings) -> Self {
        Tolerances { gap_abs: s.tol_gap_abs, gap_rel: s.tol_gap_rel, feas: s.tol_feas }
    }

    pub fn reduced(s: &Settings) -> Self {
        Tolerances { gap_abs: s.reduced_tol_gap_abs, gap_rel: s.reduced_tol_gap_rel, feas: s.reduced_tol_feas }
    }
}

/// The norms of a point `(x, s, z)` (an iterate divided by `τ`) in original
/// units, from which [`Summary::set_measures`] builds the measures of the module
/// documentation: the iterate's ([`Measures::update`], from the equilibrated
/// data) and a polished point's (`polish::measure`, from the original data)
/// go through that one function, so the two cannot drift apart.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PointNorms {
    /// `‖Ax + s − b‖∞` and `‖Px + q + Aᵀz‖∞`.
    pub primal_residual: f64,
    pub dual_residual: f64,
    /// `‖x‖∞`, `‖s‖∞`, `‖z‖∞`.
    pub x: f64,
    pub s: f64,
    pub z: f64,
    /// The objectives less `c0`: `½xᵀPx + qᵀx` and `−½xᵀPx − bᵀz`.
    pub primal: f64,
    pub dual: f64,
}

impl Summary {
    /// The objectives, residuals and gaps of the module documentation at a
    /// point of these norms (`ω`, `‖q‖∞`, `‖b‖∞` and `c0` from `data`).
    pub(crate) fn set_measures(&mut self, data: &ProblemData, n: &PointNorms) {
        let omega = data.objective_scale;
        self.objective_scale = omega;
        self.primal_objective = n.primal + data.c0;
        self.dual_objective = n.dual + data.c0;
        self.gap = (n.primal - n.dual).abs();
        self.rel_gap = self.gap / f64::max(omega, f64::min(n.primal.abs(), n.dual.abs()));
        self.primal_residual = n.primal_residual / f64::max(1.0, data.norm_b + n.x + n.s);
        self.dual_residual = n.dual_residual / f64::max(omega, data.norm_q + omega * n.x + n.z);
    }

    /// The gap test: absolute in the objective's unit ω, or relative.
    pub(crate) fn gap_met(&self, t: Tolerances) -> bool {
        self.gap < t.gap_abs * self.objective_scale || self.rel_gap < t.gap_rel
    }

    /// The optimality test (`κ/τ ≤ 1`, the gap absolute or relative, both
    /// residuals) at these measures: the criterion missed by the largest
    /// factor `value / tolerance`, or `None` when all hold.
    pub(crate) fn unmet(&self, t: Tolerances) -> Option<Unmet> {
        let gap_holds = self.gap_met(t);
        let tests = [
            ("ktratio", self.ktratio, 1.0, self.ktratio <= 1.0),
            ("gap", self.rel_gap, t.gap_rel, gap_holds),
            ("primal_residual", self.primal_residual, t.feas, self.primal_residual < t.feas),
            ("dual_residual", self.dual_residual, t.feas, self.dual_residual < t.feas),
        ];
        let ratio = |u: &Unmet| if u.value.is_nan() { f64::INFINITY } else { u.value / u.tolerance };
        tests
            .into_iter()
            .filter(|t| !t.3)
            .map(|(criterion, value, tolerance, _)| Unmet { criterion, value, tolerance })
            .max_by(|a, b| ratio(a).total_cmp(&ratio(b)))
    }

    /// What the measures justify for a point returned as a solution:
    /// `Optimal` at the full tolerances, `AlmostOptimal` at the reduced ones,
    /// else `NumericalError` (the iterate met them, its point in the original
    /// units does not).
    pub(crate) fn solved_status(&self, s: &Settings) -> Status {
        if self.unmet(Tolerances::full(s)).is_none() {
            Status::Optimal
        } else if self.unmet(Tolerances::reduced(s)).is_none() {
            Status::AlmostOptimal
        } else {
            Status::NumericalError
        }
    }
}

/// The measures of the current iterate plus the quantities the tests need.
#[derive(Clone, Debug)]
pub(crate) struct Measures {
    pub info: Summary,
    /// `qᵀx` and `bᵀz` of the undivided iterate in original units.
    pub dot_qx: f64,
    pub dot_bz: f64,
}

impl Measures {
    pub fn new(kkt_method: KktMethod) -> Self {
        Measures {
            info: Summary {
                iterations: 0,
                primal_objective: f64::NAN,
                dual_objective: f64::NAN,
                primal_residual: f64::INFINITY,
                dual_residual: f64::INFINITY,
                primal_infeasibility: f64::INFINITY,
                dual_infeasibility: f64::INFINITY,
                gap: f64::INFINITY,
                rel_gap: f64::INFINITY,
                objective_scale: 1.0,
                ktratio: f64::NAN,
                mu: f64::NAN,
                step_length: 0.0,
                kkt_method,
                static_reg: 0.0,
                polish_steps: 0,
                unmet: None,
            },
            dot_qx: 0.0,
            dot_bz: 0.0,
        }
    }

    /// Recomputes the measures from the residuals of `v` (scaled data; see
    /// [`ProblemData`] for the maps back).
    pub fn update(&mut self, data: &ProblemData, v: &Variables, res: &Residuals) {
        let eq = &data.equil;
        let (cinv, tinv) = (1.0 / eq.c, 1.0 / v.tau);
        self.dot_qx = res.dot_qx * cinv;
        self.dot_bz = res.dot_bz * cinv;
        let xpx = res.dot_xpx * cinv;
        let half_xpx = 0.5 * xpx * tinv * tinv;
        let norm_x = norm_inf_scaled(&v.x, &eq.d);
        let norm_z = norm_inf_scaled(&v.z, &eq.e) * cinv;
        let norm_s = norm_inf_scaled(&v.s, &eq.einv);
        let i = &mut self.info;
        i.set_measures(
            data,
            &PointNorms {
                primal_residual: norm_inf_scaled(&res.rz, &eq.einv) * tinv,
                dual_residual: norm_inf_scaled(&res.rx, &eq.dinv) * tinv * cinv,
                x: norm_x * tinv,
                s: norm_s * tinv,
                z: norm_z * tinv,
                primal: self.dot_qx * tinv + half_xpx,
                dual: -self.dot_bz * tinv - half_xpx,
            },
        );
        i.primal_infeasibility = norm_inf_scaled(&res.atz, &eq.dinv) * cinv / f64::max(1.0, norm_z);
        i.dual_infeasibility = f64::max(
            norm_inf_scaled(&res.px, &eq.dinv) * cinv / f64::max(1.0, norm_x),
            norm_inf_scaled(&res.ax_s, &eq.einv) / f64::max(1.0, norm_x + norm_s),
        );
        i.ktratio = v.kappa * tinv;
    }

    /// The status the current measures justify at the full tolerances, if any.
    pub fn check_full(&self, s: &Settings) -> Option<Status> {
        self.check(Tolerances::full(s), [s.tol_infeas_abs, s.tol_infeas_rel, s.tol_ktratio])
    }

    /// The same at the reduced tolerances (after a stall), as `Almost*`.
    pub fn check_reduced(&self, s: &Settings) -> Option<Status> {
        let infeas = [s.reduced_tol_infeas_abs, s.reduced_tol_infeas_rel, s.reduced_tol_ktratio];
        self.check(Tolerances::reduced(s), infeas).map(Status::reduced)
    }

    /// Optimal when `κ/τ ≤ 1`, the gap (absolute or relative) and both
    /// residuals are small; infeasible when `κ/τ > 1000/tol_ktratio` and a
    /// certificate test passes.
    fn check(&self, optimality: Tolerances, [inf_abs, inf_rel, ktratio]: [f64; 3]) -> Option<Status> {
        let i = &self.info;
        if i.unmet(optimality).is_none() {
            return Some(Status::Optimal);
        }
        if i.ktratio > 1000.0 / ktratio {
            if self.dot_bz < -inf_abs && i.primal_infeasibility < -inf_rel * self.dot_bz {
                return Some(Status::PrimalInfeasible);
            }
            if self.dot_qx < -inf_abs && i.dual_infeasibility < -inf_rel * self.dot_qx {
                return Some(Status::DualInfeasible);
            }
        }
        None
    }
}
