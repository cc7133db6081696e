//! Choosing and running a smooth forward solver.

use super::curvature::{escape, negative_curvature};
use super::{interior, newton, Settings, SmoothError, SmoothProblem, SmoothSolution, Status};

/// Steps off saddles per solve; a point still a saddle after them is `Stationary`.
const MAX_ESCAPES: usize = 3;

/// The forward methods of smooth nodes (`solve using …`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// By the constraints present: none → Newton; equalities only →
    /// Newton–KKT; any inequality → the interior point method.
    Auto,
    /// Newton's method: on the objective when unconstrained, on the KKT
    /// conditions (Newton–KKT) with equalities; refuses inequalities.
    Newton,
    /// Sequential quadratic programming: Newton–KKT steps with a merit line
    /// search; inequalities through the primal-dual interior point method,
    /// whose steps are the SQP steps of the barrier problem.
    Sqp,
}

/// Finds a local minimum of `problem` from `y0` (the node's `init`, which
/// need not satisfy the constraints but must lie in the domain).
///
/// `Err` is for invalid input only (bad settings, `y0` of the wrong length or
/// outside the domain, `newton` asked to handle inequalities); every outcome of
/// the iterations is a [`Status`] in the solution. `Optimal` is only returned
/// after the first-order conditions were verified at the answer and the
/// second-order condition held there (the `curvature` module). At a first-order
/// point where it fails (a saddle or a maximum) the solver steps off along a
/// direction of negative curvature and continues, within the iteration budget,
/// up to `MAX_ESCAPES` times; a point it cannot leave for a local minimum is
/// returned as `Stationary` (and an objective found unbounded below on the way
/// as `Unbounded`).
pub fn solve(
    problem: &dyn SmoothProblem,
    y0: &[f64],
    method: Method,
    settings: &Settings,
) -> Result<SmoothSolution, SmoothError> {
    settings.validate()?;
    if y0.len() != problem.dim() {
        return Err(SmoothError::StartLength { found: y0.len(), expected: problem.dim() });
    }
    if !y0.iter().all(|v| v.is_finite()) {
        return Err(SmoothError::StartNotFinite);
    }
    let (n_eq, n_ineq) = (problem.n_eq(), problem.n_ineq());
    if method == Method::Newton && n_ineq > 0 {
        return Err(SmoothError::NewtonInequalities(n_ineq));
    }
    // A first-order point, and whether the solver's last factorisation
    // certified the (reduced) Hessian positive definite.
    let first_order = |y0: &[f64], max_iter: usize| {
        let settings = Settings { max_iter, ..settings.clone() };
        if n_eq == 0 && n_ineq == 0 {
            newton::solve(problem, y0, &settings)
        } else {
            interior::solve(problem, y0, &settings)
        }
    };
    let (mut sol, mut certified) = first_order(y0, settings.max_iter)?;
    for escapes in 0.. {
        if sol.status != Status::Optimal || certified {
            return Ok(sol);
        }
        let Ok(Some(nc)) = negative_curvature(problem, &sol.y, &sol.nu, &sol.lambda) else { return Ok(sol) };
        let budget = settings.max_iter.saturating_sub(sol.iterations + 1);
        let off = (escapes < MAX_ESCAPES && budget > 0)
            .then(|| escape(problem, (&sol.y, &sol.nu, &sol.lambda), &nc))
            .flatten();
        // The continued solve; a start it refuses (a constraint's Jacobian
        // outside its domain) leaves the point where it is.
        let Some(Ok((mut next, cert))) = off.map(|y1| first_order(&y1, budget)) else {
            sol.status = Status::Stationary;
            return Ok(sol);
        };
        next.iterations += sol.iterations + 1;
        match next.status {
            Status::Optimal => (sol, certified) = (next, cert),
            Status::Unbounded => return Ok(next),
            _ => {
                (sol.status, sol.iterations) = (Status::Stationary, next.iterations);
                return Ok(sol);
            }
        }
    }
    unreachable!("the loop only exits by returning")
}
