//! A primal-dual interior point method for the conic standard form
//! ([`ConeProgram`]) on the homogeneous self-dual embedding, with Mehrotra's
//! predictor–corrector (the algorithm of ECOS, Domahidi, Chu & Boyd 2013, and
//! Clarabel, Goulart & Chen 2024, with a quadratic objective).
//!
//! Each iteration, from an interior `(x, s, z, τ, κ)`:
//!
//! 1. residuals `r_x, r_z, r_τ` (`residuals`) and `μ = (sᵀz + τκ)/(ν + 1)`;
//!    the termination tests (`info`);
//! 2. the Nesterov–Todd scaling `W` of every cone at `(s, z)` ([`crate::solve::cones`])
//!    and one factorisation of the KKT matrix `[P Aᵀ; A −WᵀW]` (`kkt`);
//! 3. the affine step (drive the residuals and `s ∘ z` to zero), its step
//!    length `α`, the centring `σ = (1 − α)³`;
//! 4. the combined step (residuals reduced by `1 − σ`, complementarity target
//!    `σμe` plus Mehrotra's second-order correction), taken with 0.99 of the
//!    step to the boundary.
//!
//! On an LP or QP (zero and orthant cones only) with the active-set polish
//! on, an iterate whose active set is identified (`Solver::identified`:
//! every orthant row's `s̃ᵢ` and `z̃ᵢ` far apart) is handed to a crossover
//! (`Workspace::solve`): the active set's equality-constrained KKT system
//! solved as the polish solves it (`polish.rs`), its point returned when the
//! solver's own criteria, measured there, rate it `Optimal`, and that set's
//! factorisation kept for the backward pass; otherwise the iterations go on
//! from the same iterate (at most `MAX_CROSSOVERS` tries, the second after
//! `μ` fell a hundredfold). This removes the last iterations, the
//! refactorisation at the final iterate and the chord polish.
//!
//! The data are equilibrated first (`data`); all measures are reported in
//! the original units. The initial point is Clarabel's: with `W = I`, the
//! least-squares `(x, s)` and `z`, shifted into the cone interiors.

mod csc;
mod data;
mod kkt;
mod polish;
mod residuals;
mod settings;
mod solution;
mod status;
mod summary;
mod variables;
mod workspace;

pub use settings::{KktMethod, Settings};
pub use solution::{KktFactor, Solution};
pub use status::Status;
pub use summary::{Summary, Unmet};
pub use workspace::Workspace;

use data::ProblemData;
use kkt::KktSystem;
use residuals::Residuals;
use summary::{Measures, Tolerances};
use variables::Variables;

use crate::solve::cones::{AnyCone, Cones};
use crate::solve::program::ConeProgram;
use crate::solve::SolveError;

/// Solves `min ½xᵀPx + qᵀx + c0 s.t. Ax + s = b, s ∈ K`: a [`Workspace`]
/// built for `prob`, solved once, its results moved into the [`Solution`]
/// (the workspace itself into its [`KktFactor`]).
///
/// `Err` only for invalid input (a malformed program or settings); every
/// outcome of the iterations is a [`Status`] in the [`Solution`].
pub fn solve(prob: &ConeProgram, settings: &Settings) -> Result<Solution, SolveError> {
    prob.validate()?;
    settings.validate()?;
    let Some(mut ws) = Workspace::build(prob, settings) else {
        let (n, m) = (prob.n(), prob.m());
        let mut info = Measures::new(KktMethod::Sparse).info;
        info.primal_objective = f64::NAN;
        return Ok(Solution {
            status: Status::NumericalError,
            x: vec![f64::NAN; n],
            s: vec![f64::NAN; m],
            z: vec![f64::NAN; m],
            info,
            kkt: None,
        });
    };
    ws.solve(prob)?;
    Ok(ws.into_solution())
}

/// The cap on the ratio of a second-order cone's extreme `H` eigenvalues to its
/// tangent one in the factorisation kept for the backward pass: capping at κ
/// perturbs Δz along the cone's active direction by 1/κ, while a dense `H`
/// with ratio κ loses the tangent eigenvalue to rounding by κε; κ = ε^(−½)
/// balances the two at ≈ 1.5e-8, relative to the derivative.
const KAPPA_BACKWARD: f64 = 6.7e7;

/// The cap while polishing: there the step must keep Δz along the active
/// direction at rounding level (so z stays in its cone), and the rounding in
/// the tangent components only slows the chord iteration (a factor ≈ 1e-2 a step).
const KAPPA_POLISH: f64 = 1e14;

/// The divergence test's floor: a residual that grew a hundredfold counts as
/// diverging only above `max(100·tol_feas, DIVERGENCE_FLOOR)`. Clarabel's
/// floor, `100·tol_feas`, falls with the tolerance, so that a rounding-level
/// rise at a tight one (a primal residual 7.3e-13 → 1.3e-10 while the gap
/// fell from 1.4e-7 to 7.8e-9) stopped the solve at a worse point than a
/// looser tolerance reached (docs/accuracy.md, session 9). 1e-6 is that floor
/// at the default `tol_feas`, whose behaviour is unchanged.
const DIVERGENCE_FLOOR: f64 = 1e-6;

/// When the iterations cannot go on, the best iterate so far (by
/// [`Solver::merit`]) is returned instead of the last one if it is better by
/// more than this factor: the last iterate is kept when the two are of one
/// order (its complementarity is usually the smaller, which the backward
/// pass's linearisation needs more than the residuals), and a rise the
/// divergence test no longer stops at tight tolerances costs nothing.
const BEST_ITERATE_FACTOR: f64 = 10.0;

/// With a nonsymmetric cone, a combined step shorter than this under the
/// primal–dual scaling switches the solver to the dual scaling (Clarabel's
/// `min_switch_step_length`).
const MIN_SWITCH_STEP: f64 = 0.1;

/// The centrality bound of a step under the dual scaling: the barrier measure
/// ([`Variables::barrier`]) below 1, backtracking by `BARRIER_BACKTRACK`.
///
/// Under the primal–dual scaling a step that would leave this neighbourhood
/// switches to the dual scaling too (Clarabel switches on a short step only).
/// The primal–dual scaling keeps no centrality of its own: traced on a
/// logistic re-solve at tolerance 1e-12 (`exp_cone.rs`), its steps of
/// 0.6–0.8 took the measure from −17 to +51 in four iterations at μ ≈ 1e-10,
/// the switch came on the short step that followed, from a point so far
/// outside that no dual-scaled step could return (steps of 0.009, a stall at
/// gap 7.8e-10 with the point 1e-5 off). Switching while the iterate is still
/// inside keeps the dual phase's backtracking able to hold it there.
const MAX_BARRIER: f64 = 1.0;
const BARRIER_BACKTRACK: f64 = 0.8;

/// With a nonsymmetric cone, a combined step shorter than this fraction of
/// the affine step is solved again without the second-order terms
/// (Mehrotra's product and the exponential cone's third-order correction
/// `η`), and the longer of the two directions is taken (one more solve with
/// the same factorisation; a corrector that shortens the step is dropped, as
/// in Colombo & Gondzio's multiple centrality correctors, 2008).
///
/// Traced on logistic regression (`benches/cones.rs`, issue 16): once `μ` is
/// near 1e-8, every exponential cone's z lies within 1e-7 of K*'s boundary,
/// the affine step (0.8 of the way) is a good one, and `η` — a Taylor term of
/// the barrier's third derivative, here along a `Δz` outside the barrier's
/// unit (Dikin) ellipsoid, local norm 1.4 at a traced cone — cut the combined
/// steps to 0.1–0.25 for ten to twenty iterations. Twenty instances (n =
/// 20–70, five seeds each) at the default tolerance: 569 iterations before,
/// 515 with the exponential cone's stable `t` (`exp.rs`), 227 with this too
/// (Clarabel 336). Without `η` at all: 339, but
/// `psd_atoms.rs::log_det_minus_a_trace…` then stops at a point 3.4e-4 from
/// its closed form (its `log_det` cones need `η`); at 0.8 that test fails
/// too, at 0.5 it passes.
const CORRECTOR_MIN_FRACTION: f64 = 0.5;

/// At most this many crossovers per solve (each costs a factorisation when
/// its point is not kept).
const MAX_CROSSOVERS: u32 = 2;

/// At most this many times a solved LP or QP whose active-set polish missed,
/// its absolute error above `tol_gap_abs`, goes on iterating with its
/// tolerances tightened by [`TIGHTENING`] (each time further) before it is
/// polished again: the guess `z̃ᵢ > s̃ᵢ` is a near tie on many rows at the μ
/// where relative criteria of 1e-10 hold on a large objective (QSCAGR7:
/// s̃ ≈ 1e-4, z̃ ≈ 2e-4, the guessed set inconsistent), and right two
/// decades of μ further (docs/accuracy.md).
const MAX_TIGHTENINGS: u32 = 3;

/// The factor a tightening multiplies the tolerances by.
const TIGHTENING: f64 = 0.1;

/// An LP or QP that stalled (`AlmostOptimal`: `insufficient_progress` with
/// iterations left) is solved once more from the start, as its first
/// tightening, with the static regularisation δ times this and the
/// iterations `max_iter` has left, and the tightenings after it keep that δ;
/// the point replaces the stalled one under the tightenings' rule (rated no
/// lower, absolute error lower).
///
/// δ = 1e-8 on the active rows' block `−(H + δI)` (H → 0 there) is removed
/// by refinement only where it is small against the active constraints'
/// curvature. Maros–Mészáros YAO (convex sequences: 2000 second differences
/// `xᵢ − 2xᵢ₊₁ + xᵢ₊₂ ≥ 0`, nearly all active, smallest singular value
/// ≈ (π/2001)² ≈ 2.5e-6, so σ² ≈ 6e-12 ≪ δ) stalled at a primal residual of
/// 6e-6 that its steps of 0.99 did not reduce (τ → 2.4e-5 and μ → 1e-42),
/// objective 90.09 against 197.70; solved with δ = 1e-12 it is `optimal` at
/// 197.7042559 in 25 iterations. Not the default: δ = 1e-12 for every LP
/// breaks FORPLAN (`numerical_error`), STAIR and RECIPE, and δ scaled with
/// the tolerance breaks FORPLAN and STAIR (docs/accuracy.md).
const STALL_REG_FACTOR: f64 = 1e-4;

/// The identification test of a crossover ([`Solver::identified`]). On the
/// side-by-side QP at n = 200 (docs/benchmarks.md, session 13) the first
/// iterate to pass at 0.05 is the fifth, whose active set is already right
/// (at 1e-3, the seventh); the Maros–Mészáros, Netlib and CBLIB verdicts are
/// the same with and without crossovers at 0.05 (at 0.5 QGROW7's gap rose to
/// 1.3e-9, from 6.8e-10).
const CROSSOVER_RATIO: f64 = 0.05;

/// A second crossover waits until `μ` has fallen by this factor since the
/// first.
const CROSSOVER_MU_FALL: f64 = 1e-2;

/// The solver state, every workspace sized once.
#[derive(Debug)]
struct Solver {
    data: ProblemData,
    cones: Cones,
    kkt: KktSystem,
    settings: Settings,
    vars: Variables,
    prev: Variables,
    step: Variables,
    /// The combined direction without second-order terms, when it is tried
    /// (see [`CORRECTOR_MIN_FRACTION`]).
    spare: Variables,
    rhs: Variables,
    res: Residuals,
    measures: Measures,
    prev_measures: Measures,
    work_m: Vec<f64>,
    /// Second scratch of length m (the centrality check's shifted z).
    work_m2: Vec<f64>,
    /// The iterate of least [`Solver::merit`] so far, its measures and merit
    /// (see [`BEST_ITERATE_FACTOR`]).
    best: Variables,
    best_measures: Measures,
    best_merit: f64,
    /// The loop's state, kept so that it can be taken up again after a
    /// crossover: the next iteration's number, the last step length, and
    /// whether a nonsymmetric cone switched to the dual scaling.
    iter: u32,
    alpha: f64,
    dual_scaling: bool,
    /// Crossovers left, and `μ` at the last one.
    crossovers: u32,
    crossover_mu: f64,
}

/// How the iterations ended: with a status, or at an iterate whose active set
/// is identified (see [`Solver::identified`]), for the caller to try; the
/// iterations can then go on ([`Solver::iterate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Done(Status),
    Identified,
}

impl Solver {
    fn new(data: ProblemData, cones: Cones, kkt: KktSystem, settings: Settings) -> Self {
        let (n, m) = (data.n, data.m);
        let measures = Measures::new(kkt.method());
        Solver {
            vars: Variables::new(n, m),
            prev: Variables::new(n, m),
            step: Variables::new(n, m),
            spare: Variables::new(n, m),
            rhs: Variables::new(n, m),
            res: Residuals::new(n, m),
            prev_measures: measures.clone(),
            measures,
            work_m: vec![0.0; m],
            work_m2: vec![0.0; m],
            best: Variables::new(n, m),
            best_measures: Measures::new(kkt.method()),
            best_merit: f64::INFINITY,
            iter: 0,
            alpha: 0.0,
            dual_scaling: false,
            crossovers: 0,
            crossover_mu: f64::INFINITY,
            data,
            cones,
            kkt,
            settings,
        }
    }

    /// The iterations from the initial point, `crossovers` of them allowed
    /// (see [`Solver::iterate`]); the iterate is in `vars`.
    fn run(&mut self, crossovers: u32) -> Outcome {
        self.measures = Measures::new(self.kkt.method());
        self.prev_measures.clone_from(&self.measures);
        if !self.initial_point() {
            return Outcome::Done(Status::NumericalError);
        }
        self.iter = 0;
        self.alpha = 0.0;
        // Nonsymmetric cones: primal–dual scaling, then the dual scaling for
        // good after a short step or a failed solve (Clarabel's strategy).
        self.dual_scaling = false;
        self.cones.set_dual_scaling(false);
        self.best_merit = f64::INFINITY;
        (self.crossovers, self.crossover_mu) = (crossovers, f64::INFINITY);
        self.iterate()
    }

    /// The iterations from the current iterate (the initial point's, or the
    /// one a crossover stopped at, taken up again as it was): until a status,
    /// or until the active set is identified ([`Solver::identified`]) while
    /// crossovers are left.
    fn iterate(&mut self) -> Outcome {
        use Outcome::Done;
        loop {
            let iter = self.iter;
            self.iter += 1;
            self.res.update(&self.vars, &self.data);
            let mu = self.vars.mu(&self.res, &self.cones);
            self.measures.update(&self.data, &self.vars, &self.res);
            let info = &mut self.measures.info;
            (info.iterations, info.mu, info.step_length) = (iter, mu, self.alpha);
            if !(mu.is_finite() && self.res.rtau.is_finite()) {
                self.revert();
                return Done(self.failed(Status::NumericalError));
            }
            self.keep_if_best();
            if let Some(status) = self.measures.check_full(&self.settings) {
                return Done(status);
            }
            if iter > 1 && self.is_regressing() {
                self.revert();
                if self.fall_back_to_dual_scaling() {
                    continue;
                }
                return Done(self.failed(Status::InsufficientProgress));
            }
            if iter >= self.settings.max_iter {
                return Done(self.failed(Status::MaxIterations));
            }
            if self.crossovers > 0 && mu < CROSSOVER_MU_FALL * self.crossover_mu && self.identified() {
                (self.crossovers, self.crossover_mu, self.iter) = (self.crossovers - 1, mu, iter);
                return Outcome::Identified;
            }

            if !self.cones.update_scaling(&self.vars.s, &self.vars.z) {
                return Done(self.failed(Status::NumericalError));
            }
            let (d, c, s) = (&self.data, &self.cones, &self.settings);
            if !self.kkt.update(d, c, s, &self.vars) {
                if self.fall_back_to_dual_scaling() {
                    continue;
                }
                return Done(self.failed(Status::NumericalError));
            }
            // Predictor.
            self.rhs.set_affine_rhs(&self.res, &self.vars, c);
            let px = &self.res.px;
            if !self.kkt.solve_step(d, c, s, &self.vars, px, &self.rhs, &mut self.step, true) {
                if self.fall_back_to_dual_scaling() {
                    continue;
                }
                return Done(self.failed(Status::NumericalError));
            }
            let alpha_aff = self.vars.step_length(&self.step, c);
            let sigma = (1.0 - alpha_aff).powi(3);
            // Corrector; the second-order term is damped on the first iteration,
            // whose starting point may be badly centred.
            let m = if iter > 0 { 1.0 } else { alpha_aff };
            self.rhs.set_combined_rhs(&self.res, &self.vars, c, &mut self.step, sigma, mu, m, &mut self.work_m);
            if !self.kkt.solve_step(d, c, s, &self.vars, px, &self.rhs, &mut self.step, false) {
                if self.fall_back_to_dual_scaling() {
                    continue;
                }
                return Done(self.failed(Status::NumericalError));
            }
            self.alpha = self.vars.step_length(&self.step, c) * s.max_step_fraction;
            if !c.is_symmetric() && self.alpha < CORRECTOR_MIN_FRACTION * alpha_aff {
                self.alpha = self.uncorrected_if_longer(sigma, mu, self.alpha);
            }
            if !self.cones.is_symmetric() {
                if self.dual_scaling {
                    self.alpha = self.backtrack_to_centrality(self.alpha);
                } else if (self.alpha < MIN_SWITCH_STEP || !self.is_central(self.alpha))
                    && self.fall_back_to_dual_scaling()
                {
                    continue;
                }
            }
            if self.alpha < self.settings.min_step_length {
                self.measures.info.step_length = self.alpha;
                return Done(self.failed(Status::InsufficientProgress));
            }
            self.prev.copy_from(&self.vars);
            self.prev_measures.clone_from(&self.measures);
            self.vars.add_step(&self.step, self.alpha);
        }
    }

    /// Whether the iterate shows its active set clearly (an LP or QP: zero
    /// and orthant cones only): every orthant row has `min(s̃ᵢ, z̃ᵢ) ≤
    /// CROSSOVER_RATIO · max(s̃ᵢ, z̃ᵢ)`, in the equilibrated units where the
    /// central path balances them (`s̃ᵢz̃ᵢ ≈ μ`), so that the active-set
    /// polish's guess (`z̃ᵢ > s̃ᵢ`) is not a near tie on any row. A degenerate
    /// row (both tending to 0) never passes: such programs keep iterating.
    fn identified(&self) -> bool {
        let v = &self.vars;
        self.cones.iter().all(|(c, r)| match c {
            AnyCone::Zero(_) => true,
            AnyCone::Nonneg(_) => r.into_iter().all(|i| {
                let (s, z) = (v.s[i], v.z[i]);
                s.min(z) <= CROSSOVER_RATIO * s.max(z)
            }),
            _ => false,
        })
    }

    /// The combined step of length `alpha` (in `step`) fell short of
    /// [`CORRECTOR_MIN_FRACTION`] of the affine one: solves again with the
    /// same centring but no second-order terms (`m = 0`) and keeps the
    /// direction with the longer step; returns its length.
    fn uncorrected_if_longer(&mut self, sigma: f64, mu: f64, alpha: f64) -> f64 {
        let (d, c, s) = (&self.data, &self.cones, &self.settings);
        // With m = 0 the affine step the corrector reads is multiplied by 0.
        let spare = &mut self.spare;
        spare.z.fill(0.0);
        spare.s.fill(0.0);
        (spare.tau, spare.kappa) = (0.0, 0.0);
        self.rhs.set_affine_rhs(&self.res, &self.vars, c);
        self.rhs.set_combined_rhs(&self.res, &self.vars, c, spare, sigma, mu, 0.0, &mut self.work_m);
        if !self.kkt.solve_step(d, c, s, &self.vars, &self.res.px, &self.rhs, spare, false) {
            return alpha;
        }
        let plain = self.vars.step_length(spare, c) * s.max_step_fraction;
        if plain <= alpha {
            return alpha;
        }
        std::mem::swap(&mut self.step, &mut self.spare);
        plain
    }

    /// With a nonsymmetric cone under the primal–dual scaling: switches to the
    /// dual scaling and returns true (the iteration is redone from the same
    /// point, or from the previous one after a regression); false otherwise.
    fn fall_back_to_dual_scaling(&mut self) -> bool {
        if self.cones.is_symmetric() || self.dual_scaling {
            return false;
        }
        self.dual_scaling = true;
        self.cones.set_dual_scaling(true);
        true
    }

    /// The largest `α·0.8ᵏ` (k < 50) whose point is central enough: the
    /// barrier measure below [`MAX_BARRIER`] (a nonsymmetric cone's dual
    /// scaling alone does not keep iterates near the central path).
    fn backtrack_to_centrality(&mut self, mut alpha: f64) -> f64 {
        for _ in 0..50 {
            if self.is_central(alpha) {
                break;
            }
            alpha *= BARRIER_BACKTRACK;
        }
        alpha
    }

    /// Whether the step of length `alpha` ends inside the neighbourhood of
    /// the central path: the barrier measure below [`MAX_BARRIER`].
    fn is_central(&mut self, alpha: f64) -> bool {
        let work = (&mut self.work_m[..], &mut self.work_m2[..]);
        self.vars.barrier(&self.step, alpha, &self.cones, work) < MAX_BARRIER
    }

    /// Clarabel's progress test: residuals grew since the last iterate, and
    /// either the gap was already met with `κ/τ` negligible, or a residual grew
    /// a hundredfold beyond a floor that does not fall below
    /// [`DIVERGENCE_FLOOR`].
    fn is_regressing(&self) -> bool {
        let (i, p, s) = (&self.measures.info, &self.prev_measures.info, &self.settings);
        if !(i.dual_residual > p.dual_residual || i.primal_residual > p.primal_residual) {
            return false;
        }
        let gap_met = p.gap_met(Tolerances::full(s));
        let stalled_at_gap = i.ktratio < 100.0 * f64::EPSILON && gap_met;
        let floor = f64::max(100.0 * s.tol_feas, DIVERGENCE_FLOOR);
        let diverging = i.ktratio < 1.0
            && ((i.dual_residual > floor && i.dual_residual > 100.0 * p.dual_residual)
                || (i.primal_residual > floor && i.primal_residual > 100.0 * p.primal_residual));
        stalled_at_gap || diverging
    }

    /// Goes back to the previous iterate (when there is one), whose measures
    /// were better.
    fn revert(&mut self) {
        if self.measures.info.iterations > 0 {
            self.vars.copy_from(&self.prev);
            self.measures.clone_from(&self.prev_measures);
        }
    }

    /// The iterations cannot go on: go back to the best iterate if it is
    /// better than the current one by more than [`BEST_ITERATE_FACTOR`], and
    /// report the reduced-accuracy outcome the measures justify, else `status`.
    fn failed(&mut self, status: Status) -> Status {
        if self.best_merit * BEST_ITERATE_FACTOR < self.merit() {
            self.vars.copy_from(&self.best);
            self.measures.clone_from(&self.best_measures);
        }
        self.measures.check_reduced(&self.settings).unwrap_or(status)
    }

    /// How far the current measures are from the full tolerances: the
    /// largest of `value / tolerance` over both residuals and the gap (its
    /// absolute or relative test, whichever is nearer), infinite where
    /// `κ/τ > 1` (no optimum); below 1 the point is optimal.
    fn merit(&self) -> f64 {
        let (i, s) = (&self.measures.info, &self.settings);
        if i.ktratio.is_nan() || i.ktratio > 1.0 {
            return f64::INFINITY;
        }
        let gap = f64::min(i.gap / (s.tol_gap_abs * i.objective_scale), i.rel_gap / s.tol_gap_rel);
        gap.max(i.primal_residual / s.tol_feas).max(i.dual_residual / s.tol_feas)
    }

    /// Keeps the current iterate as the best so far if its [`Solver::merit`]
    /// is the least yet.
    fn keep_if_best(&mut self) {
        let merit = self.merit();
        if merit < self.best_merit {
            self.best_merit = merit;
            self.best.copy_from(&self.vars);
            self.best_measures.clone_from(&self.measures);
        }
    }

    /// With `W = I` (`H = I`, 0 on zero cones): for an LP, `x` least squares,
    /// `s = b − Ax`, and `z` the least-norm solution of `Aᵀz = −q`; for a QP,
    /// `[P Aᵀ; A −I][x; z] = [−q; b]`, `s = −z`. Then `s` and `z` are shifted
    /// into the interiors of K and K*, and `τ = κ = 1`.
    ///
    /// With a nonsymmetric cone, Clarabel's unit initialisation instead:
    /// `x = 0`, `s` and `z` every block's unit point (the exponential cone's
    /// analytic centre), `τ = κ = 1`.
    fn initial_point(&mut self) -> bool {
        let (d, c, s) = (&self.data, &mut self.cones, &self.settings);
        if !c.is_symmetric() {
            let v = &mut self.vars;
            v.x.fill(0.0);
            c.unit_point(&mut v.s, &mut v.z);
            (v.tau, v.kappa) = (1.0, 1.0);
            return true;
        }
        c.set_identity_scaling();
        if !self.kkt.factor(d, c, s) {
            return false;
        }
        let (v, r, w) = (&mut self.vars, &mut self.rhs, &mut self.step);
        if d.p_is_zero {
            r.x.fill(0.0);
            if !self.kkt.solve(d, c, s, &r.x, &d.b, &mut v.x, &mut v.s) {
                return false;
            }
            v.s.iter_mut().for_each(|x| *x = -*x);
            for (t, q) in r.x.iter_mut().zip(&d.q) {
                *t = -q;
            }
            r.z.fill(0.0);
            if !self.kkt.solve(d, c, s, &r.x, &r.z, &mut w.x, &mut v.z) {
                return false;
            }
        } else {
            for (t, q) in r.x.iter_mut().zip(&d.q) {
                *t = -q;
            }
            if !self.kkt.solve(d, c, s, &r.x, &d.b, &mut v.x, &mut v.z) {
                return false;
            }
            for (si, &zi) in v.s.iter_mut().zip(&v.z) {
                *si = -zi;
            }
        }
        c.shift_to_interior(&mut v.s, false);
        c.shift_to_interior(&mut v.z, true);
        v.tau = 1.0;
        v.kappa = 1.0;
        true
    }
}
