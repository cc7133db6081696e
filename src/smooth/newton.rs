//! Newton's method with a modified Hessian and a backtracking line search, for
//! unconstrained problems `min f(y)` (Nocedal & Wright, §3.4).
//!
//! Each step solves `(∇²f + τI) p = −∇f`, with `τ ≥ 0` the smallest of
//! `0, β, 2β, 4β, …` (after a first guess from the diagonal) for which the
//! Cholesky factorisation succeeds (N&W Alg. 3.3, "Cholesky with added multiple
//! of the identity"). `∇²f + τI ≻ 0` makes `p` a descent direction, so the
//! method descends on non-convex objectives (Rosenbrock's valley, saddle
//! regions) and reduces to pure Newton, with its quadratic convergence, once
//! the Hessian is positive definite near a strict local minimum.
//!
//! The iterations stop when the first-order conditions hold
//! ([`Residuals::within`]). Whether the point is a minimum is decided by the
//! caller ([`super::curvature`]); the solve says whether its last step's
//! Cholesky factorisation was of the unmodified Hessian (`τ = 0`), which then
//! certifies it positive definite for free.
//!
//! Where the problem computes `f`, `∇f` and `∇²f` in one pass
//! ([`SmoothProblem::gradient_and_hessian`]), the line search's first trial,
//! the full step, is evaluated by that pass: accepted (pure Newton near a
//! minimum), it is the next iterate with its derivatives, so an iteration costs
//! one pass; a shrunk step costs that pass, objectives while backtracking, and
//! a pass at the accepted point. The iterates are the same either way: the
//! pass's `f` is [`SmoothProblem::objective`]'s, bit for bit.

use std::cell::RefCell;

use faer::Mat;

use crate::linalg::llt::Llt;
use crate::linalg::with_kept;

use super::line_search::backtrack;
use super::{NewtonPass, Residuals, Settings, SmoothError, SmoothProblem, SmoothSolution, Status};

/// `β` of Alg. 3.3, relative to the Hessian's largest diagonal entry.
const BETA: f64 = 1e-3;
/// An objective below `−UNBOUNDED · max(1, |f(y₀)|)` is taken as unbounded below.
const UNBOUNDED: f64 = 1e20;

thread_local! {
    /// The step's factorisation buffers, kept per thread across iterations and
    /// solves: a node's forward runs through a shared `&Analysed` (batches on
    /// several threads), so per-thread buffers need no lock, and a solve at a
    /// size the thread has seen allocates nothing to factor `∇²f + τI`.
    static STEP: RefCell<Step> = RefCell::new(Step::default());
}

/// The modified Newton step's buffers: `∇²f + τI = LLᵀ`, the step `p` and
/// the line search's trial point `y + αp`.
#[derive(Default)]
struct Step {
    llt: Llt,
    p: Vec<f64>,
    trial: Vec<f64>,
}

/// The solution, and whether the last step's Hessian was positive definite
/// unmodified (see the module documentation).
pub(crate) fn solve(
    problem: &dyn SmoothProblem,
    y0: &[f64],
    settings: &Settings,
) -> Result<(SmoothSolution, bool), SmoothError> {
    with_kept(&STEP, |step| solve_in(problem, y0, settings, step))
}

/// [`solve`] with the step's buffers `step`.
fn solve_in(
    problem: &dyn SmoothProblem,
    y0: &[f64],
    settings: &Settings,
    step: &mut Step,
) -> Result<(SmoothSolution, bool), SmoothError> {
    let mut y = y0.to_vec();
    let nan =
        Residuals { stationarity: f64::NAN, primal_feasibility: 0.0, dual_feasibility: 0.0, complementarity: 0.0 };
    let finish = |status, y: Vec<f64>, objective, iterations, residuals, definite| {
        (SmoothSolution { status, objective, y, nu: vec![], lambda: vec![], iterations, residuals }, definite)
    };
    // The start's pass gives f too when the problem has a one-pass Hessian.
    let mut pass = problem.gradient_and_hessian(&y);
    let mut f = match pass.as_ref().ok().and_then(|p| p.objective) {
        Some(f) => f,
        None => problem.objective(&y).map_err(SmoothError::StartOutsideDomain)?,
    };
    let floor = -UNBOUNDED * f.abs().max(1.0);
    let mut definite = false;
    let mut k = 0;
    loop {
        let Ok(NewtonPass { gradient: grad, hessian: hess, objective }) = pass else {
            return Ok(finish(Status::NumericalError, y, f, k, nan, false));
        };
        let residuals = Residuals::unconstrained(&grad);
        if residuals.within(settings.tol) {
            // The last pass's Hessian is the one at the solution, which the
            // second-order check and the backward pass ask for.
            problem.recycle(&y, NewtonPass { gradient: grad, hessian: hess, objective });
            return Ok(finish(Status::Optimal, y, f, k, residuals, definite));
        }
        if !residuals.stationarity.is_finite() {
            return Ok(finish(Status::NumericalError, y, f, k, residuals, false));
        }
        if k == settings.max_iter {
            return Ok(finish(Status::MaxIterations, y, f, k, residuals, false));
        }
        k += 1;
        let Some(hess) = hess.map_or_else(|| problem.lagrangian_hessian(&y, &[], &[]).ok(), Some) else {
            return Ok(finish(Status::NumericalError, y, f, k, residuals, false));
        };
        let tau = step.modified_newton(&hess, &grad);
        let slope: f64 = grad.iter().zip(&step.p).map(|(g, p)| g * p).sum();
        problem.recycle(&y, NewtonPass { gradient: grad, hessian: Some(hess), objective });
        let Some(tau) = tau else {
            return Ok(finish(Status::NumericalError, y, f, k, residuals, false));
        };
        let Step { p, trial, .. } = &mut *step;
        // `y + αp` into the kept `trial` (the line search's last trial is the
        // step it accepts, so `y` then swaps with it).
        let fill = |alpha: f64, trial: &mut Vec<f64>| {
            trial.clear();
            trial.extend(y.iter().zip(&*p).map(|(y, p)| y + alpha * p));
        };
        // The full step's trial is the next iterate unless the line search
        // shrinks it: evaluated by the one pass that gives the next Newton
        // step's derivatives with f, kept for the next iteration if accepted.
        let mut full_step = None;
        let phi = |a: f64| {
            fill(a, trial);
            if a == 1.0 {
                if let Ok(next) = problem.gradient_and_hessian(trial) {
                    if let Some(value) = next.objective {
                        full_step = Some(next);
                        return Ok(value);
                    }
                }
            }
            problem.objective(trial)
        };
        let Some((alpha, value)) = backtrack(f, slope, 1.0, phi) else {
            return Ok(finish(Status::NumericalError, y, f, k, residuals, false));
        };
        std::mem::swap(&mut y, trial);
        f = value;
        definite = tau == 0.0;
        if f < floor {
            return Ok(finish(Status::Unbounded, y, f, k, residuals, false));
        }
        pass = match full_step.filter(|_| alpha == 1.0) {
            Some(next) => Ok(next),
            None => problem.gradient_and_hessian(&y),
        };
    }
}

impl Step {
    /// `p = −(H + τI)⁻¹∇f` into `self.p`, and `τ`, the smallest tried that
    /// makes `H + τI` Cholesky-factorable (N&W Alg. 3.3); `None` if `H` is
    /// not finite.
    fn modified_newton(&mut self, hess: &Mat<f64>, grad: &[f64]) -> Option<f64> {
        let n = grad.len();
        let diag_min = (0..n).map(|i| hess[(i, i)]).fold(f64::INFINITY, f64::min);
        let scale = (0..n).map(|i| hess[(i, i)].abs()).fold(1.0, f64::max);
        let beta = BETA * scale;
        let mut tau = if diag_min > 0.0 { 0.0 } else { beta - diag_min };
        while tau.is_finite() && tau < 1e30 * scale {
            if self.llt.factor_shifted(hess.as_ref(), tau) {
                self.p.clear();
                self.p.extend(grad.iter().map(|g| -g));
                self.llt.solve_in_place(&mut self.p);
                return crate::linalg::all_finite(&self.p).then_some(tau);
            }
            tau = (2.0 * tau).max(beta);
        }
        None
    }
}
