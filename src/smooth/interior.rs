//! A primal-dual interior point method for `min f(y) s.t. h(y) = 0, g(y) ≤ 0`
//! (Nocedal & Wright, Alg. 19.2, with IPOPT's safeguards: Wächter & Biegler
//! 2006). With no inequalities it is exactly Newton–KKT / SQP for equality
//! constraints (N&W §18.1): the same step, merit function and line search.
//!
//! Slacks `s > 0` turn `g(y) ≤ 0` into `g(y) + s = 0`, and the barrier problem
//! `min f − μ Σ log sⱼ s.t. h = 0, g + s = 0` has the perturbed KKT conditions
//!
//! ```text
//! ∇f + Jhᵀν + Jgᵀλ = 0,   h = 0,   g + s = 0,   sⱼλⱼ = μ.
//! ```
//!
//! Newton's method on them, with `ds` eliminated (`ds = −(g + s) − Jg dy`),
//! is one symmetric indefinite solve per iteration (N&W 19.12):
//!
//! ```text
//! [W + δ_w I   Jhᵀ     Jgᵀ         ] [dy]     [∇f + Jhᵀν + Jgᵀλ]
//! [Jh          −δ_c I  0           ] [dν] = − [h               ]
//! [Jg          0       −S/Λ − δ_c I] [dλ]     [g + μ/λ         ]
//! ```
//!
//! with `W = ∇²_yy L(y, ν, λ)`. The regularisations are the inertia correction
//! (IPOPT Alg. IC): `δ_w` grows until the matrix has inertia `(n, m, 0)`, which
//! makes the step a descent direction of the merit function on non-convex
//! problems; `δ_c > 0` only when the constraint Jacobian is rank deficient.
//!
//! The step is damped by the fraction-to-the-boundary rule (`s, λ` stay
//! positive; N&W 19.9) and a backtracking line search on the ℓ1 merit function
//! `φ(y, s) = f − μ Σ log s + ρ(‖h‖₁ + ‖g + s‖₁)` (N&W 19.26), with `ρ` raised by
//! N&W (18.36) so the step descends. A rejected full step first gets a
//! second-order correction (N&W Alg. 18.3), so curved constraints (spheres,
//! orthogonality) keep Newton's fast local convergence. `y₀` need not satisfy
//! `h` or `g`.
//!
//! `μ` decreases (monotone Fiacco–McCormick, IPOPT eq. 7) once the barrier
//! problem is solved to `κ_ε μ`. A line search that fails while the constraints
//! are violated, or a violation that stalls where it is nearly stationary,
//! starts the feasibility [`restoration`](super::restoration) phase, which
//! either returns a feasible point to restart from or certifies (local)
//! infeasibility.
//!
//! Watch: convergence is to a first-order point (the inertia correction
//! steers away from maxima and saddles); the solve says whether its last
//! step's matrix had the inertia `(n, m, 0)` unmodified (`δ_w = δ_c = 0`),
//! which certifies the reduced Hessian positive definite, and otherwise the
//! caller checks the second-order condition ([`super::curvature`]).

use faer::Mat;

use super::line_search::{backtrack, sufficient_decrease};
use super::optimality::LagrangianGradient;
use super::restoration::{restore, Restored};
use super::{DomainError, Residuals, Settings, SmoothError, SmoothProblem, SmoothSolution, Status};
use crate::linalg::lblt::{factor, Factored, Inertia};
use crate::linalg::norm_inf;

/// The initial barrier parameter (IPOPT's default).
const MU_0: f64 = 0.1;
/// The barrier problem counts as solved when its error is below `KAPPA_EPS · μ`.
const KAPPA_EPS: f64 = 10.0;
/// `μ ← max(μ_min, min(KAPPA_MU · μ, μ^THETA_MU))`.
const KAPPA_MU: f64 = 0.2;
const THETA_MU: f64 = 1.5;
/// Multipliers are kept in `[μ/(κ_Σ s), κ_Σ μ/s]` (IPOPT eq. 16).
const KAPPA_SIGMA: f64 = 1e10;
/// N&W (18.36): the fraction of the penalty's decrease that the step keeps.
const PENALTY_MARGIN: f64 = 0.1;
/// Rank-deficient Jacobian regularisation, relative to the largest entry of `W`, `J`.
const DELTA_C: f64 = 1e-8;
/// Restoration also starts when the violation has not decreased by the factor
/// `1 − STALL_DECREASE` for `STALL_ITERATIONS` iterations at a point where the
/// violation is nearly stationary, `‖Jᵀr‖∞ ≤ STALL_STATIONARY · max(1, ‖J‖) ‖r‖∞`
/// with `r = (h, max(g, 0))` (a heuristic trigger: restoration itself decides).
const STALL_DECREASE: f64 = 0.01;
const STALL_ITERATIONS: usize = 10;
const STALL_STATIONARY: f64 = 1e-2;
/// The restoration phase may run this many times per solve.
const MAX_RESTORATIONS: usize = 3;
/// An objective below `−UNBOUNDED · max(1, |f(y₀)|)` is taken as unbounded below.
const UNBOUNDED: f64 = 1e20;

/// The problem's functions at one point.
struct Eval {
    f: f64,
    grad: Vec<f64>,
    h: Vec<f64>,
    g: Vec<f64>,
    jh: Mat<f64>,
    jg: Mat<f64>,
}

fn evaluate(problem: &dyn SmoothProblem, y: &[f64]) -> Result<Eval, DomainError> {
    Ok(Eval {
        f: problem.objective(y)?,
        grad: problem.gradient(y)?,
        h: problem.eq(y)?,
        g: problem.ineq(y)?,
        jh: problem.eq_jacobian(y)?,
        jg: problem.ineq_jacobian(y)?,
    })
}

/// The primal-dual iterate.
struct Iterate {
    y: Vec<f64>,
    s: Vec<f64>,
    nu: Vec<f64>,
    lambda: Vec<f64>,
}

/// A Newton step of the barrier problem.
struct Step {
    dy: Vec<f64>,
    ds: Vec<f64>,
    dnu: Vec<f64>,
    dlambda: Vec<f64>,
    /// `dyᵀ(W + δ_w I)dy + dsᵀ(Λ/S)ds`, the model's curvature along the step.
    curvature: f64,
    /// The factored matrix, reused by the second-order correction.
    kkt: Factored,
    /// The matrix had inertia `(n, m, 0)` without `δ_w` or `δ_c`.
    unmodified: bool,
}

/// The solution, and whether the last step's matrix certified the reduced
/// Hessian positive definite (see the module documentation).
pub(crate) fn solve(
    problem: &dyn SmoothProblem,
    y0: &[f64],
    settings: &Settings,
) -> Result<(SmoothSolution, bool), SmoothError> {
    let ev = evaluate(problem, y0).map_err(SmoothError::StartOutsideDomain)?;
    let floor = -UNBOUNDED * ev.f.abs().max(1.0);
    let mi = problem.n_ineq();
    let mut mu = if mi > 0 { MU_0 } else { 0.0 };
    let mu_min = settings.tol / 10.0;
    let mut it = Iterate { y: y0.to_vec(), s: vec![], nu: vec![0.0; problem.n_eq()], lambda: vec![1.0; mi] };
    reset_slacks(&mut it, &ev.g, mu);
    let mut rho = 1.0;
    let mut delta_w_last = 0.0;
    let mut restorations = 0;
    let mut k = 0;
    let (mut best_violation, mut stalled) = (f64::INFINITY, 0);
    let mut definite = false;
    let finish = |status, it: Iterate, iterations, definite: bool| {
        let residuals = Residuals::at(problem, &it.y, &it.nu, &it.lambda).unwrap_or(Residuals {
            stationarity: f64::NAN,
            primal_feasibility: f64::NAN,
            dual_feasibility: f64::NAN,
            complementarity: f64::NAN,
        });
        let status = match status {
            Status::Optimal if !residuals.within(settings.tol) => Status::NumericalError,
            s => s,
        };
        let objective = problem.objective(&it.y).unwrap_or(f64::NAN);
        let definite = definite && status == Status::Optimal;
        Ok((
            SmoothSolution { status, y: it.y, nu: it.nu, lambda: it.lambda, objective, iterations, residuals },
            definite,
        ))
    };
    loop {
        let Ok(ev) = evaluate(problem, &it.y) else { return finish(Status::NumericalError, it, k, false) };
        let grad_l = LagrangianGradient::new(&ev.grad, &ev.jh, &ev.jg, &it.nu, &it.lambda);
        let r = Residuals::from_parts(&grad_l, &ev.h, &ev.g, &it.lambda);
        if r.within(settings.tol) {
            return finish(Status::Optimal, it, k, definite);
        }
        if !(r.stationarity.is_finite() && r.complementarity.is_finite()) {
            return finish(Status::NumericalError, it, k, false);
        }
        if ev.f < floor {
            return finish(Status::Unbounded, it, k, false);
        }
        if k >= settings.max_iter {
            return finish(Status::MaxIterations, it, k, false);
        }
        k += 1;
        while mi > 0 && mu > mu_min && barrier_error(&grad_l, &ev, &it, mu) <= KAPPA_EPS * mu {
            mu = mu_min.max((KAPPA_MU * mu).min(mu.powf(THETA_MU)));
        }
        let Some((step, delta_w)) = newton_step(problem, &ev, &grad_l, &it, mu, delta_w_last) else {
            return finish(Status::NumericalError, it, k, false);
        };
        delta_w_last = delta_w;
        definite = step.unmodified;
        let tau = (1.0 - mu).max(0.99);
        let alpha_p = max_step(&it.s, &step.ds, tau);
        let alpha_d = max_step(&it.lambda, &step.dlambda, tau);
        let theta = infeasibility(&ev, &it.s);
        let barrier_slope = dot(&ev.grad, &step.dy) - mu * (0..mi).map(|j| step.ds[j] / it.s[j]).sum::<f64>();
        if theta > 0.0 {
            let sigma = if step.curvature > 0.0 { 0.5 * step.curvature } else { 0.0 };
            let rho_min = (barrier_slope + sigma) / ((1.0 - PENALTY_MARGIN) * theta);
            if rho < rho_min {
                rho = 1.5 * rho_min;
            }
        }
        let merit = |y: &[f64], s: &[f64]| -> Result<f64, DomainError> {
            let (f, h, g) = (problem.objective(y)?, problem.eq(y)?, problem.ineq(y)?);
            let barrier: f64 = s.iter().map(|s| s.ln()).sum();
            let viol: f64 =
                h.iter().map(|v| v.abs()).sum::<f64>() + g.iter().zip(s).map(|(g, s)| (g + s).abs()).sum::<f64>();
            Ok(f - mu * barrier + rho * viol)
        };
        let phi0 = ev.f - mu * it.s.iter().map(|s| s.ln()).sum::<f64>() + rho * theta;
        // With inertia (n, m, 0) and ρ from (18.36) the slope is negative; a
        // non-negative one is rounding at convergence, and then the line search
        // asks only for no increase.
        let slope = (barrier_slope - rho * theta).min(0.0);
        let trial = |alpha: f64| (axpy(&it.y, alpha, &step.dy), axpy(&it.s, alpha, &step.ds));
        // The full step, else its second-order correction, else backtracking.
        let full = trial(alpha_p);
        let full_ok = merit(&full.0, &full.1).is_ok_and(|v| sufficient_decrease(phi0, slope, alpha_p, v));
        let corrected = if full_ok || alpha_p < 1.0 {
            None
        } else {
            second_order_correction(problem, &step, &it, &full, tau)
                .filter(|(y, s)| merit(y, s).is_ok_and(|v| sufficient_decrease(phi0, slope, 1.0, v)))
        };
        let accepted = if full_ok || corrected.is_some() {
            Some(alpha_p)
        } else if alpha_p > 0.0 {
            backtrack(phi0, slope, 0.5 * alpha_p, |a| {
                let (y, s) = trial(a);
                merit(&y, &s)
            })
            .map(|(a, _)| a)
        } else {
            None
        };
        // Infeasibility that stops decreasing near a stationary point of the
        // violation (where the constraint Jacobian degenerates) also calls for
        // restoration: the merit function can keep accepting short steps there.
        let violation = primal_infeasibility(&ev);
        if violation < (1.0 - STALL_DECREASE) * best_violation {
            (best_violation, stalled) = (violation, 0);
        } else {
            stalled += 1;
        }
        let stuck = violation > settings.tol && stalled >= STALL_ITERATIONS && violation_is_stationary(&ev);
        let accepted = accepted.filter(|_| !stuck);
        let Some(alpha) = accepted else {
            // No progress on the merit function or on feasibility: restore
            // feasibility, or give up.
            if violation <= settings.tol || restorations == MAX_RESTORATIONS {
                return finish(Status::NumericalError, it, k, false);
            }
            restorations += 1;
            match restore(problem, &it.y, settings) {
                Restored::Feasible { y, iterations } => {
                    k += iterations;
                    let Ok(g) = problem.ineq(&y) else { return finish(Status::NumericalError, it, k, false) };
                    it.y = y;
                    reset_slacks(&mut it, &g, mu.max(mu_min));
                    (best_violation, stalled, definite) = (f64::INFINITY, 0, false);
                    continue;
                }
                Restored::Infeasible { y, iterations } => {
                    it.y = y;
                    return finish(Status::Infeasible, it, k + iterations, false);
                }
                Restored::Failed { iterations } => return finish(Status::NumericalError, it, k + iterations, false),
            }
        };
        (it.y, it.s) = corrected.unwrap_or_else(|| trial(alpha));
        it.nu = axpy(&it.nu, alpha, &step.dnu);
        it.lambda = axpy(&it.lambda, alpha_d, &step.dlambda);
        for (l, s) in it.lambda.iter_mut().zip(&it.s) {
            *l = l.clamp(mu / (KAPPA_SIGMA * s), KAPPA_SIGMA * mu / s);
        }
    }
}

/// Slacks from the constraint values, `sⱼ = max(−gⱼ, √μ)` (strictly positive,
/// so a start on or outside a constraint's boundary is fine), and multipliers
/// moved into the safeguard interval.
fn reset_slacks(it: &mut Iterate, g: &[f64], mu: f64) {
    let floor = mu.sqrt().max(1e-8);
    it.s = g.iter().map(|g| (-g).max(floor)).collect();
    for (l, s) in it.lambda.iter_mut().zip(&it.s) {
        *l = l.clamp(mu / (KAPPA_SIGMA * s), KAPPA_SIGMA * mu / s);
    }
}

/// The barrier problem's optimality error (IPOPT eq. 5, with the scalings of
/// [`Residuals`]): stationarity, `‖(h, g + s)‖∞`, and `‖Sλ − μ‖∞ / s_λ`.
fn barrier_error(grad_l: &LagrangianGradient, ev: &Eval, it: &Iterate, mu: f64) -> f64 {
    let s_l = 1f64.max(norm_inf(&it.lambda));
    let feas = norm_inf(&ev.h).max(ev.g.iter().zip(&it.s).fold(0.0, |m, (g, s)| m.max((g + s).abs())));
    let comp = it.s.iter().zip(&it.lambda).fold(0.0f64, |m, (s, l)| m.max((s * l - mu).abs()));
    grad_l.scaled_norm().max(feas).max(comp / s_l)
}

/// `‖h‖₁ + ‖g + s‖₁`, the violation of the slack form's constraints.
fn infeasibility(ev: &Eval, s: &[f64]) -> f64 {
    ev.h.iter().map(|v| v.abs()).sum::<f64>() + ev.g.iter().zip(s).map(|(g, s)| (g + s).abs()).sum::<f64>()
}

/// `max(‖h‖∞, ‖max(g, 0)‖∞)`, the original problem's violation.
fn primal_infeasibility(ev: &Eval) -> f64 {
    norm_inf(&ev.h).max(ev.g.iter().fold(0.0, |m, g| m.max(*g)))
}

/// Whether `Jhᵀh + Jgᵀmax(g, 0)`, the gradient of `½‖r‖²`, is small against
/// `‖J‖ ‖r‖` (see [`STALL_STATIONARY`]).
fn violation_is_stationary(ev: &Eval) -> bool {
    let n = ev.grad.len();
    let g_plus: Vec<f64> = ev.g.iter().map(|g| g.max(0.0)).collect();
    let r = norm_inf(&ev.h).max(norm_inf(&g_plus));
    let grad: Vec<f64> = (0..n)
        .map(|c| {
            (0..ev.h.len()).map(|i| ev.jh[(i, c)] * ev.h[i]).sum::<f64>()
                + (0..g_plus.len()).map(|j| ev.jg[(j, c)] * g_plus[j]).sum::<f64>()
        })
        .collect();
    let j_norm = ev.jh.col_iter().chain(ev.jg.col_iter()).map(inf_norm_col).fold(1.0, f64::max);
    norm_inf(&grad) <= STALL_STATIONARY * j_norm * r
}

/// The primal-dual step with the inertia correction `δ_w`; `None` when no
/// `δ_w` below 1e40 gives inertia `(n, m, 0)` (or the step is not finite).
fn newton_step(
    problem: &dyn SmoothProblem,
    ev: &Eval,
    grad_l: &LagrangianGradient,
    it: &Iterate,
    mu: f64,
    delta_w_last: f64,
) -> Option<(Step, f64)> {
    let (n, me, mi) = (it.y.len(), it.nu.len(), it.lambda.len());
    let w = problem.lagrangian_hessian(&it.y, &it.nu, &it.lambda).ok()?;
    let mut rhs: Vec<f64> = grad_l.value.iter().map(|v| -v).collect();
    rhs.extend(ev.h.iter().map(|h| -h));
    rhs.extend((0..mi).map(|j| -(ev.g[j] + mu / it.lambda[j])));
    let want = Inertia { positive: n, negative: me + mi, zero: 0 };
    let assemble = |delta_w: f64, delta_c: f64| -> Factored {
        let mut k = Mat::<f64>::zeros(n + me + mi, n + me + mi);
        for j in 0..n {
            for i in 0..n {
                k[(i, j)] = 0.5 * (w[(i, j)] + w[(j, i)]);
            }
            k[(j, j)] += delta_w;
            for r in 0..me {
                k[(n + r, j)] = ev.jh[(r, j)];
                k[(j, n + r)] = ev.jh[(r, j)];
            }
            for r in 0..mi {
                k[(n + me + r, j)] = ev.jg[(r, j)];
                k[(j, n + me + r)] = ev.jg[(r, j)];
            }
        }
        for r in 0..me {
            k[(n + r, n + r)] = -delta_c;
        }
        for r in 0..mi {
            k[(n + me + r, n + me + r)] = -it.s[r] / it.lambda[r] - delta_c;
        }
        factor(k)
    };
    let mut delta_c = 0.0;
    let mut delta_w = 0.0;
    let mut kkt = assemble(0.0, 0.0);
    if kkt.inertia.zero > 0 {
        let scale = (0..n).map(|i| w[(i, i)].abs()).chain(ev.jh.col_iter().chain(ev.jg.col_iter()).map(inf_norm_col));
        delta_c = DELTA_C * scale.fold(1.0, f64::max);
        kkt = assemble(0.0, delta_c);
    }
    if kkt.inertia != want {
        delta_w = if delta_w_last == 0.0 { 1e-4 } else { (delta_w_last / 3.0).max(1e-20) };
        let growth = if delta_w_last == 0.0 { 100.0 } else { 8.0 };
        loop {
            kkt = assemble(delta_w, delta_c);
            if kkt.inertia == want {
                break;
            }
            delta_w *= growth;
            if delta_w > 1e40 {
                return None;
            }
        }
    }
    let x = kkt.solve(&rhs);
    if !x.iter().all(|v| v.is_finite()) {
        return None;
    }
    let dy = x[..n].to_vec();
    let jg_dy: Vec<f64> = (0..mi).map(|r| (0..n).map(|j| ev.jg[(r, j)] * dy[j]).sum()).collect();
    let ds: Vec<f64> = (0..mi).map(|r| -(ev.g[r] + it.s[r]) - jg_dy[r]).collect();
    let w_dy: f64 = (0..n).map(|i| dy[i] * (0..n).map(|j| w[(i, j)] * dy[j]).sum::<f64>()).sum();
    let curvature =
        w_dy + delta_w * dot(&dy, &dy) + (0..mi).map(|r| it.lambda[r] / it.s[r] * ds[r] * ds[r]).sum::<f64>();
    let unmodified = delta_w == 0.0 && delta_c == 0.0;
    let step = Step { dy, ds, dnu: x[n..n + me].to_vec(), dlambda: x[n + me..].to_vec(), curvature, kkt, unmodified };
    Some((step, delta_w))
}

/// The second-order correction of a rejected full step `(y⁺, s⁺)` (N&W
/// §18.3, Alg. 18.3; IPOPT §2.4): near a solution of a problem with curved
/// constraints the ℓ1 merit function can reject full Newton steps (the
/// Maratos effect) and the iterations crawl. One more solve with the same
/// matrix and right-hand side `−[0; h(y⁺); g(y⁺) + s⁺]` moves the step back
/// onto the constraints to second order: `p` with `Jh p = −h(y⁺)` and the
/// slack correction `q = −(g(y⁺) + s⁺) − Jg p`, eliminated as in the step.
/// `None` if the constraints cannot be evaluated or the corrected slacks would
/// cross the fraction-to-the-boundary limit.
fn second_order_correction(
    problem: &dyn SmoothProblem,
    step: &Step,
    it: &Iterate,
    full: &(Vec<f64>, Vec<f64>),
    tau: f64,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let n = it.y.len();
    let (h, g, jg) = (problem.eq(&full.0).ok()?, problem.ineq(&full.0).ok()?, problem.ineq_jacobian(&it.y).ok()?);
    let r_g: Vec<f64> = g.iter().zip(&full.1).map(|(g, s)| g + s).collect();
    let mut rhs = vec![0.0; n];
    rhs.extend(h.iter().chain(&r_g).map(|v| -v));
    let x = step.kkt.solve(&rhs);
    let p = &x[..n];
    let s: Vec<f64> =
        (0..r_g.len()).map(|j| full.1[j] - r_g[j] - (0..n).map(|c| jg[(j, c)] * p[c]).sum::<f64>()).collect();
    let inside = s.iter().zip(&it.s).all(|(s, s0)| *s >= (1.0 - tau) * s0);
    (inside && x.iter().all(|v| v.is_finite())).then(|| (axpy(&full.0, 1.0, p), s))
}

/// The largest `α ∈ [0, 1]` with `v + α dv ≥ (1 − τ)v` (N&W 19.9).
fn max_step(v: &[f64], dv: &[f64], tau: f64) -> f64 {
    v.iter().zip(dv).filter(|(_, d)| **d < 0.0).fold(1.0, |a, (v, d)| a.min(-tau * v / d))
}

fn inf_norm_col(c: faer::ColRef<'_, f64>) -> f64 {
    c.iter().fold(0.0, |m, v| m.max(v.abs()))
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// `x + α d`.
fn axpy(x: &[f64], alpha: f64, d: &[f64]) -> Vec<f64> {
    x.iter().zip(d).map(|(x, d)| x + alpha * d).collect()
}
