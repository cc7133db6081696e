//! Choosing and running a smooth forward solver.

use super::{interior, newton, Settings, SmoothProblem, SmoothSolution};

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

impl Method {
    /// The method a `solve using name` names; `None` for names that are not
    /// smooth forward methods.
    pub fn from_name(name: &str) -> Option<Method> {
        match name {
            "newton" => Some(Method::Newton),
            "sqp" => Some(Method::Sqp),
            _ => None,
        }
    }
}

/// Finds a first-order point of `problem` from `y0` (the node's `init`, which
/// need not satisfy the constraints but must lie in the domain).
///
/// `Err` is for invalid input only (bad settings, `y0` of the wrong length or
/// outside the domain, `newton` asked to handle inequalities); every outcome of
/// the iterations is a [`Status`](super::Status) in the solution, and
/// `Optimal` is only returned after the first-order conditions were verified at
/// the answer.
pub fn solve(
    problem: &dyn SmoothProblem,
    y0: &[f64],
    method: Method,
    settings: &Settings,
) -> Result<SmoothSolution, String> {
    settings.validate()?;
    if y0.len() != problem.dim() {
        return Err(format!("the starting point has length {}, expected {}", y0.len(), problem.dim()));
    }
    if !y0.iter().all(|v| v.is_finite()) {
        return Err("the starting point is not finite".into());
    }
    let (n_eq, n_ineq) = (problem.n_eq(), problem.n_ineq());
    if method == Method::Newton && n_ineq > 0 {
        return Err(format!("`newton` cannot handle the {n_ineq} inequality constraint(s); use `sqp`"));
    }
    if n_eq == 0 && n_ineq == 0 {
        newton::solve(problem, y0, settings)
    } else {
        interior::solve(problem, y0, settings)
    }
}
