//! A solver built once for a program's structure and solved again for new
//! values: everything sized, sorted and analysed at construction, nothing
//! allocated by [`Workspace::solve`] (but for the repeat of a solve that
//! failed with small second-order cones as dense blocks:
//! `solve_in_rank_two_form`).
//!
//! The structure is the dimensions, the cones, and the positions (row,
//! column) of the triplets of P and A in their order; the values of P, q, A,
//! b and c0 are free. Built from it once: the CSC patterns of P and A (and
//! where each triplet lands), the KKT path ([`KktMethod`]) and its symbolic
//! analysis (the sparse path's AMD ordering and elimination tree), the cones,
//! and every vector of the iterations, polishing and the backward solves.
//!
//! After a solve the workspace holds the point, the status, the measures and,
//! for a solution, the KKT matrix at the point factored: the backward pass
//! solves with it ([`Workspace::kkt_solve`]) for as long as the workspace is
//! kept and not solved again.

use super::data::ProblemData;
use super::kkt::{self, KktSystem};
use super::polish;
use super::settings::{KktMethod, Settings};
use super::solution::{KktFactor, Solution};
use super::status::Status;
use super::summary::{Measures, Summary, Tolerances};
use super::variables::Variables;
use super::{
    Outcome, Solver, KAPPA_BACKWARD, KAPPA_POLISH, MAX_CROSSOVERS, MAX_TIGHTENINGS, STALL_REG_FACTOR, TIGHTENING,
};
use crate::solve::cones::Cones;
use crate::solve::program::{ConeBlock, ConeProgram};
use crate::solve::SolveError;

/// See the module documentation.
#[derive(Debug)]
pub struct Workspace {
    pub(super) solver: Solver,
    /// The cones the workspace was built for.
    cones: Vec<ConeBlock>,
    has_soc: bool,
    /// Some second-order cone is a dense block in the sparse KKT matrix
    /// (smaller than [`Settings::soc_low_rank_min_dim`]): a solve that ends
    /// short of a verdict is repeated in the rank-2 form ([`Workspace::solve`]).
    dense_socs: bool,
    /// An exponential cone (its Newton step on `s ∘ z = 0` is not the
    /// exponential cone's complementarity) or a PSD cone (the polish has no
    /// projection or tangent offset for it): no polishing.
    unpolished: bool,
    pub(super) status: Status,
    pub(super) x: Vec<f64>,
    pub(super) s: Vec<f64>,
    pub(super) z: Vec<f64>,
    pub(super) info: Summary,
    /// The KKT matrix at the returned point is factored.
    pub(super) factored: bool,
    /// `S = diag(√c D, E/√c)`: `K = S⁻¹ K̃ S⁻¹` for the equilibrated `K̃`.
    scale: Vec<f64>,
    /// The equilibrated `(s̃, z̃)` complementarity was linearised at.
    point_s: Vec<f64>,
    point_z: Vec<f64>,
    /// Scratch of length m.
    work_m: Vec<f64>,
    pub(super) polish: polish::Work,
    /// A returned point kept aside while the iterations go on to smaller
    /// tolerances ([`MAX_TIGHTENINGS`]).
    kept: Kept,
}

/// A returned point kept aside, with its status and `info`.
#[derive(Debug)]
struct Kept {
    x: Vec<f64>,
    s: Vec<f64>,
    z: Vec<f64>,
    status: Status,
    info: Summary,
    /// The iterate the last returned point was concluded from (mapped back
    /// and polished), kept aside or not.
    concluded: Variables,
}

impl Workspace {
    /// A workspace for programs with the structure of `prob` (see the module
    /// documentation) and these settings. `Err` for an invalid program or
    /// settings, or if the symbolic factorisation fails (out of memory).
    pub fn new(prob: &ConeProgram, settings: &Settings) -> Result<Workspace, SolveError> {
        prob.validate()?;
        settings.validate()?;
        Workspace::build(prob, settings).ok_or(SolveError::KktSetup)
    }

    /// [`Workspace::new`] for a validated program and settings; `None` if the
    /// KKT system cannot be set up.
    pub(super) fn build(prob: &ConeProgram, settings: &Settings) -> Option<Workspace> {
        let data = ProblemData::new(prob);
        let method = kkt::choose_method(&data, &prob.cones, settings);
        let low_rank_min = if method == KktMethod::Sparse { settings.soc_low_rank_min_dim } else { usize::MAX };
        let dense_socs = method == KktMethod::Sparse
            && prob.cones.iter().any(|c| matches!(c, ConeBlock::SecondOrder(d) if (2..low_rank_min).contains(d)));
        let cones = Cones::new(&prob.cones, low_rank_min);
        let kkt = KktSystem::new(&data, &cones, method, settings)?;
        let (n, m) = (data.n, data.m);
        let info = Measures::new(method).info;
        let kept_info = info.clone();
        Some(Workspace {
            solver: Solver::new(data, cones, kkt, settings.clone()),
            cones: prob.cones.clone(),
            has_soc: prob.cones.iter().any(|c| matches!(c, ConeBlock::SecondOrder(_))),
            dense_socs,
            unpolished: prob.cones.iter().any(|c| matches!(c, ConeBlock::Exponential | ConeBlock::Psd(_))),
            status: Status::NumericalError,
            x: vec![f64::NAN; n],
            s: vec![f64::NAN; m],
            z: vec![f64::NAN; m],
            info,
            factored: false,
            scale: vec![1.0; n + m],
            point_s: vec![0.0; m],
            point_z: vec![0.0; m],
            work_m: vec![0.0; m],
            polish: polish::Work::new(prob),
            kept: Kept {
                x: vec![0.0; n],
                s: vec![0.0; m],
                z: vec![0.0; m],
                status: Status::NumericalError,
                info: kept_info,
                concluded: Variables::new(n, m),
            },
        })
    }

    /// Solves `prob`, which must have the structure the workspace was built
    /// for (`Err` naming the first difference, or for invalid values), and
    /// returns the status; the point and the rest are then read from the
    /// workspace. Allocates nothing.
    pub fn solve(&mut self, prob: &ConeProgram) -> Result<Status, SolveError> {
        self.factored = false;
        self.status = Status::NumericalError;
        prob.validate()?;
        if prob.cones != self.cones {
            return Err(SolveError::Pattern(format!(
                "the program's cones {:?} are not the workspace's {:?}",
                prob.cones, self.cones
            )));
        }
        let sv = &mut self.solver;
        sv.data.load(prob, &sv.settings).map_err(SolveError::Pattern)?;
        sv.kkt.load(&sv.data);
        let polish = sv.settings.polish && !self.unpolished;
        let crossovers = if polish && sv.settings.polish_active_set && polish::is_lp_or_qp(&self.cones) {
            MAX_CROSSOVERS
        } else {
            0
        };
        let mut outcome = sv.run(crossovers);
        // The tolerances the solve is judged by; a tightening (below) only
        // changes when the iterations stop.
        let (gap_abs, gap_rel, feas) = (sv.settings.tol_gap_abs, sv.settings.tol_gap_rel, sv.settings.tol_feas);
        // The static regularisation the measures and the backward pass's
        // factorisations use, and the iterations' (lowered after a stall, once:
        // `re_solved`); the iteration limit, and the iterations spent before
        // the re-solve.
        let (static_reg, mut iter_reg) = (sv.settings.static_reg, sv.settings.static_reg);
        let mut re_solved = false;
        let (max_iter, mut spent) = (sv.settings.max_iter, 0);
        let mut tightenings = if crossovers > 0 { MAX_TIGHTENINGS } else { 0 };
        let mut aside: Option<f64> = None;
        loop {
            let status = loop {
                match outcome {
                    Outcome::Done(status) => break status,
                    Outcome::Identified if self.cross_over(prob) => {
                        if aside.is_none() {
                            return Ok(self.status);
                        }
                        break Status::Optimal;
                    }
                    Outcome::Identified => outcome = self.solver.iterate(),
                }
            };
            let crossed = matches!(outcome, Outcome::Identified);
            let sv = &mut self.solver;
            (sv.settings.tol_gap_abs, sv.settings.tol_gap_rel, sv.settings.tol_feas) = (gap_abs, gap_rel, feas);
            sv.settings.static_reg = static_reg;
            // A tightened run that ended at the iterate it started from (its
            // first step reverted: QPILOTNO, QSHELL) would be concluded and
            // polished to the same point as before, which is judged already.
            let repeated = !crossed && aside.is_some() && sv.vars == self.kept.concluded;
            if repeated && tightenings == 0 {
                self.restore_kept();
                break;
            }
            if !repeated {
                let active = if crossed {
                    // The crossover's point, `Optimal` by the tightened criteria.
                    self.status = self.info.solved_status(&self.solver.settings);
                    true
                } else {
                    self.conclude(prob, status, polish)
                };
                // A tightened run's point replaces the one kept aside only if the
                // solver's criteria rate it no lower and its absolute error is
                // lower; the iterations may still go on from where they stopped.
                let err = polish::returned_error(prob, self);
                let better =
                    aside.is_none_or(|e| polish::rank(self.status) >= polish::rank(self.kept.status) && err < e);
                let settled = active || err.is_nan() || err <= gap_abs;
                if (better && settled) || tightenings == 0 || !self.status.is_solved() {
                    if !better {
                        self.restore_kept();
                    }
                    break;
                }
                // The active-set polish missed and the point's absolute error is
                // above `tol_gap_abs`: the point is kept aside and the iterations
                // go on to a smaller μ, where the active set shows more clearly.
                self.kept.concluded.copy_from(&self.solver.vars);
                if better {
                    self.keep_aside();
                    aside = Some(err);
                }
            }
            tightenings -= 1;
            let sv = &mut self.solver;
            let k = TIGHTENING.powi((MAX_TIGHTENINGS - tightenings) as i32);
            (sv.settings.tol_gap_abs, sv.settings.tol_gap_rel, sv.settings.tol_feas) =
                (k * gap_abs, k * gap_rel, k * feas);
            sv.best_merit = f64::INFINITY;
            // A stall (`AlmostOptimal` with iterations left) on the
            // regularisation's floor: solved again from the start with δ
            // lowered, once (see `STALL_REG_FACTOR`), within the iterations
            // left.
            let stalled = self.status == Status::AlmostOptimal && spent + sv.iter < max_iter;
            outcome = if stalled && !re_solved {
                re_solved = true;
                iter_reg = static_reg * STALL_REG_FACTOR;
                spent += sv.iter;
                sv.settings.max_iter = max_iter - spent;
                sv.settings.static_reg = iter_reg;
                sv.run(crossovers)
            } else {
                sv.settings.static_reg = iter_reg;
                sv.iterate()
            };
        }
        self.solver.settings.max_iter = max_iter;
        self.factored &= self.status.is_solved();
        if self.status.is_solved() {
            self.info.unmet = self.info.unmet(Tolerances::full(&self.solver.settings));
        }
        if self.dense_socs && !is_verdict(self.status) {
            self.solve_in_rank_two_form(prob)?;
        }
        Ok(self.status)
    }

    /// A solve that ended short of a verdict with small second-order cones as
    /// dense blocks, repeated from the start with every cone in the rank-2
    /// form; its result replaces this one if it is a verdict or a better
    /// status, and the workspace then keeps that form for its later solves.
    ///
    /// Why not the rank-2 form from the start: near an optimum an active
    /// cone's `H` has a condition of `β⁴`, which a dense block loses once
    /// `β⁴ > 1/ε` (CBLIB's sched_50_50_orig, a three-dimensional cone at
    /// `β ≈ 1.6e6`: `optimal_inaccurate` as dense blocks, `optimal` in the
    /// rank-2 form), but most programs never get there, and the rank-2 form
    /// adds two rows a cone: pseudo-Huber pooling as a cone program (4 096
    /// three-dimensional cones) took 2.41 G instructions in it against 1.63 G
    /// (docs/benchmarks.md, sessions 14 and 15). The repeat allocates a new
    /// workspace, on this path only.
    fn solve_in_rank_two_form(&mut self, prob: &ConeProgram) -> Result<(), SolveError> {
        let settings = Settings { soc_low_rank_min_dim: 2, ..self.solver.settings.clone() };
        let Some(mut rank_two) = Workspace::build(prob, &settings) else { return Ok(()) };
        // Every cone of dimension ≥ 2 is in the rank-2 form now: no repeat.
        debug_assert!(!rank_two.dense_socs);
        rank_two.solve(prob)?;
        if is_verdict(rank_two.status) || polish::rank(rank_two.status) > polish::rank(self.status) {
            *self = rank_two;
        }
        Ok(())
    }

    /// The end of a solve whose iterations stopped with `status`: the final
    /// iterate mapped back, measured and (`polish`) polished, with the
    /// backward pass's factorisation. True if the active-set polish's point
    /// was kept.
    fn conclude(&mut self, prob: &ConeProgram, status: Status, polish: bool) -> bool {
        // The cap only matters to second-order cones; without one the final
        // factorisation serves polishing and the backward pass alike.
        let kappa = if polish && self.has_soc { KAPPA_POLISH } else { KAPPA_BACKWARD };
        self.finish(status, kappa);
        // Every status's measures are those of the point returned (an
        // infeasibility certificate's are the iterate's certificate tests).
        let certificate = matches!(
            status,
            Status::PrimalInfeasible
                | Status::AlmostPrimalInfeasible
                | Status::DualInfeasible
                | Status::AlmostDualInfeasible
        );
        if !certificate {
            polish::measure_returned(prob, self);
        }
        if status.is_solved() {
            self.status = self.info.solved_status(&self.solver.settings);
        }
        self.polish.active_kept = false;
        if polish && self.factored && self.status.is_solved() {
            let steps = polish::polish(prob, self);
            self.info.polish_steps = steps;
            // The backward pass's factorisation: at the returned point when
            // polishing moved it (or, if that fails, at the last iterate), and
            // with the backward's cap; refactored only when one of them
            // changed. `polish` leaves `factored` true only for a factorisation
            // at the returned point: the last iterate's (no step kept; its cap
            // `kappa`) or the kept active set's.
            let in_place = self.factored && (steps > 0 || kappa == KAPPA_BACKWARD);
            self.factored = in_place
                || if steps > 0 {
                    self.relinearise_at_returned_point(KAPPA_BACKWARD) || self.relinearise(KAPPA_BACKWARD)
                } else {
                    self.relinearise(KAPPA_BACKWARD)
                };
        }
        self.polish.active_kept
    }

    /// Keeps the returned point, its status and `info` aside (see
    /// [`Workspace::restore_kept`]).
    fn keep_aside(&mut self) {
        let k = &mut self.kept;
        k.x.copy_from_slice(&self.x);
        k.s.copy_from_slice(&self.s);
        k.z.copy_from_slice(&self.z);
        (k.status, k.info) = (self.status, self.info.clone());
    }

    /// Returns the point kept aside, with the backward pass's factorisation
    /// at it.
    fn restore_kept(&mut self) {
        let k = &self.kept;
        self.x.copy_from_slice(&k.x);
        self.s.copy_from_slice(&k.s);
        self.z.copy_from_slice(&k.z);
        (self.status, self.info) = (k.status, k.info.clone());
        self.factored = self.relinearise_at_returned_point(KAPPA_BACKWARD);
    }

    /// The crossover at the iterate the interior point method stopped at:
    /// its point mapped back, then the active-set polish
    /// (`polish::cross_over`, which measures its own point). True if its
    /// point was kept (`Optimal` by the solver's own criteria measured
    /// there), which is then the workspace's with the KKT factorisation at
    /// it; false leaves the iterate as it was, for the iterations to go on.
    fn cross_over(&mut self, prob: &ConeProgram) -> bool {
        self.map_back(Status::Optimal);
        if !polish::cross_over(prob, self) {
            return false;
        }
        self.factored = self.factored || self.relinearise_at_returned_point(KAPPA_BACKWARD);
        self.info.polish_steps = 1;
        self.info.static_reg = self.solver.kkt.static_reg();
        self.info.unmet = None;
        true
    }

    /// Maps the final iterate back to the original problem (see [`Solution`])
    /// and, for a solution, factors the KKT matrix at it with the second-order
    /// cones' cap `kappa` (see `KAPPA_BACKWARD`, `KAPPA_POLISH`).
    fn finish(&mut self, status: Status, kappa: f64) {
        self.map_back(status);
        if status.is_solved() {
            self.relinearise(kappa);
        }
        self.info.static_reg = self.solver.kkt.static_reg();
    }

    /// Maps the iterate back to the original problem (see [`Solution`]) with
    /// its measures and `status`; for a solution, also the point and the
    /// scaling the KKT matrix at it is factored with. Nothing is factored
    /// (`factored` false).
    fn map_back(&mut self, status: Status) {
        self.factored = false;
        let sv = &mut self.solver;
        let (n, m) = (sv.data.n, sv.data.m);
        let eq = &sv.data.equil;
        let v = &sv.vars;
        let (x, s, z) = (&mut self.x, &mut self.s, &mut self.z);
        for out in [&mut *x, &mut *s, &mut *z] {
            out.fill(f64::NAN);
        }
        let mut info = sv.measures.info.clone();
        match status {
            Status::PrimalInfeasible | Status::AlmostPrimalInfeasible => {
                // z_orig = E z̃ / c, scaled to bᵀz = −1.
                let k = -1.0 / (sv.measures.dot_bz * eq.c);
                for i in 0..m {
                    z[i] = eq.e[i] * v.z[i] * k;
                }
                (info.primal_objective, info.dual_objective) = (f64::INFINITY, f64::INFINITY);
            }
            Status::DualInfeasible | Status::AlmostDualInfeasible => {
                let k = -1.0 / sv.measures.dot_qx;
                for j in 0..n {
                    x[j] = eq.d[j] * v.x[j] * k;
                }
                for i in 0..m {
                    s[i] = eq.einv[i] * v.s[i] * k;
                }
                (info.primal_objective, info.dual_objective) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
            }
            _ => {
                let t = 1.0 / v.tau;
                for j in 0..n {
                    x[j] = eq.d[j] * v.x[j] * t;
                }
                for i in 0..m {
                    s[i] = eq.einv[i] * v.s[i] * t;
                    z[i] = eq.e[i] * v.z[i] * t / eq.c;
                }
            }
        }
        if status.is_solved() {
            self.point_s.copy_from_slice(&sv.vars.s);
            self.point_z.copy_from_slice(&sv.vars.z);
            let rc = eq.c.sqrt();
            for (o, d) in self.scale[..n].iter_mut().zip(&eq.d) {
                *o = rc * d;
            }
            for (o, e) in self.scale[n..].iter_mut().zip(&eq.e) {
                *o = e / rc;
            }
        }
        self.status = status;
        self.info = info;
    }

    /// The status of the last solve.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The point of the last solve, as in [`Solution`]: `x` (n), `s` and
    /// `z` (m).
    pub fn x(&self) -> &[f64] {
        &self.x
    }

    /// The last solve's slacks `s` (m).
    pub fn s(&self) -> &[f64] {
        &self.s
    }

    /// The last solve's multipliers `z` (m).
    pub fn z(&self) -> &[f64] {
        &self.z
    }

    /// The measures of the last solve.
    pub fn info(&self) -> &Summary {
        &self.info
    }

    /// The KKT path this workspace uses (fixed at construction).
    pub fn kkt_method(&self) -> KktMethod {
        self.solver.kkt.method()
    }

    /// Number of variables n.
    pub fn n(&self) -> usize {
        self.solver.data.n
    }

    /// Number of constraint rows m.
    pub fn m(&self) -> usize {
        self.solver.data.m
    }

    /// Whether the KKT matrix at the returned point is factored: after a
    /// solve that returned `Optimal` or `AlmostOptimal`, unless that
    /// factorisation failed.
    pub fn has_kkt(&self) -> bool {
        self.factored
    }

    /// Solves `K [dx; dz] = rhs` in place with the KKT matrix at the returned
    /// point, exactly as [`KktFactor::solve`]. `Err` if there is no
    /// factorisation (see [`Workspace::has_kkt`]), for a wrong length or a
    /// non-finite entry.
    pub fn kkt_solve(&mut self, rhs: &mut [f64]) -> Result<f64, SolveError> {
        if !self.factored {
            return Err(SolveError::NoFactorisation(
                "no KKT factorisation at the solution (not solved, or the final refactorisation failed)",
            ));
        }
        let nm = self.n() + self.m();
        if rhs.len() != nm {
            return Err(SolveError::RhsLength { found: rhs.len(), expected: nm });
        }
        if !rhs.iter().all(|v| v.is_finite()) {
            return Err(SolveError::NonFiniteRhs);
        }
        let sv = &mut self.solver;
        sv.kkt.solve_scaled(&sv.data, &sv.cones, &sv.settings, rhs, &self.scale).ok_or(SolveError::NonFiniteSolution)
    }

    /// `y = H x` for the `H` of the KKT matrix at the returned point, in
    /// original coordinates (`H = c E⁻¹ H̃ E⁻¹`); `x`, `y` of length m.
    pub fn kkt_mul_h(&mut self, y: &mut [f64], x: &[f64]) -> Result<(), SolveError> {
        let m = self.m();
        if x.len() != m || y.len() != m {
            return Err(SolveError::HLength { m, x: x.len(), y: y.len() });
        }
        if !self.factored {
            return Err(SolveError::NoFactorisation("no KKT matrix at the solution"));
        }
        let eq = &self.solver.data.equil;
        for ((w, &v), &ei) in self.work_m.iter_mut().zip(x).zip(&eq.einv) {
            *w = v * ei;
        }
        self.solver.cones.mul_hs(y, &self.work_m);
        for (v, &ei) in y.iter_mut().zip(&eq.einv) {
            *v *= eq.c * ei;
        }
        Ok(())
    }

    /// The cones' [`tangent_offset`](crate::solve::cones::Cone::tangent_offset)
    /// at `z`, in original coordinates (`z̃ = c E⁻¹ z`; the offset scales like s).
    pub(super) fn tangent_offset(&mut self, z: &[f64], out: &mut [f64]) {
        let eq = &self.solver.data.equil;
        for ((w, &v), &e) in self.work_m.iter_mut().zip(z).zip(&eq.e) {
            *w = v * eq.c / e;
        }
        self.solver.cones.tangent_offset(&self.work_m, out);
        out.iter_mut().zip(&eq.einv).for_each(|(v, ei)| *v *= ei);
    }

    /// Linearises complementarity at the returned `(s, z)` (the equilibrated
    /// `s̃ = E s`, `z̃ = c E⁻¹ z`, as [`Workspace::finish`] maps back with
    /// τ = 1) with the cones' cap `kappa`, and refactors; false if either
    /// fails, the factorisation then being unusable until a success.
    fn relinearise_at_returned_point(&mut self, kappa: f64) -> bool {
        let (mut ps, mut pz) = (std::mem::take(&mut self.point_s), std::mem::take(&mut self.point_z));
        self.equilibrate_point(&self.s, &self.z, &mut ps, &mut pz);
        (self.point_s, self.point_z) = (ps, pz);
        self.relinearise(kappa)
    }

    /// The equilibrated `s̃ = E s`, `z̃ = c E⁻¹ z` of a point `(s, z)` in
    /// original units, into `out_s`, `out_z` (as [`Workspace::finish`] maps back
    /// with τ = 1).
    pub(super) fn equilibrate_point(&self, s: &[f64], z: &[f64], out_s: &mut [f64], out_z: &mut [f64]) {
        let eq = &self.solver.data.equil;
        for ((p, v), ei) in out_s.iter_mut().zip(s).zip(&eq.einv) {
            *p = v / ei;
        }
        for ((p, v), e) in out_z.iter_mut().zip(z).zip(&eq.e) {
            *p = v * eq.c / e;
        }
    }

    /// Linearises complementarity again at the point the factorisation was made
    /// at, with the cones' cap `kappa`, and refactors; false if either fails.
    fn relinearise(&mut self, kappa: f64) -> bool {
        let (s, z) = (std::mem::take(&mut self.point_s), std::mem::take(&mut self.point_z));
        let ok = self.factor_at(&s, &z, kappa);
        (self.point_s, self.point_z) = (s, z);
        ok
    }

    /// Linearises complementarity at the equilibrated `(s̃, z̃)` with the cones'
    /// cap `kappa` and refactors, leaving the point of the backward pass's
    /// factorisation as it is; false if either fails.
    pub(super) fn factor_at(&mut self, s: &[f64], z: &[f64], kappa: f64) -> bool {
        let sv = &mut self.solver;
        let ok = sv.cones.linearise_complementarity(s, z, kappa) && sv.kkt.factor(&sv.data, &sv.cones, &sv.settings);
        self.factored = ok;
        ok
    }

    /// The results as a [`Solution`], the workspace moving into its
    /// [`KktFactor`] when there is a factorisation.
    pub fn into_solution(mut self) -> Solution {
        let (x, s, z) = (std::mem::take(&mut self.x), std::mem::take(&mut self.s), std::mem::take(&mut self.z));
        let (status, info) = (self.status, self.info.clone());
        let kkt = self.factored.then(|| KktFactor::new(Box::new(self)));
        Solution { status, x, s, z, info, kkt }
    }
}

/// A status that settles the problem: a solution to the tolerances asked, or
/// a certificate of infeasibility.
fn is_verdict(status: Status) -> bool {
    matches!(status, Status::Optimal | Status::PrimalInfeasible | Status::DualInfeasible)
}
