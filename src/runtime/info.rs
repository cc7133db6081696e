//! What a forward solve reports beside its status: the solver that ran, its
//! iterations and its last figures. One constructor per solver path; a field a
//! path does not measure is absent (`None`, or an empty list) and is left out
//! of the JSON, so `ddnc run`'s `info` and the Python package's `Solution.info`
//! keep their keys. JSON is made only where it is written (`ddnc`, the Python
//! extension), by serialising this struct.

use serde::Serialize;

use crate::ir::Family;
use crate::smooth::{SinkhornSolution, SmoothSolution};
use crate::solve::ipm;

/// A forward solve's facts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Info {
    /// The node's family (`lp`, `qp`, …, `unconstrained`, …).
    pub family: Family,
    /// `ipm`, `qr`, `kkt`, `active_set`, `newton`, `interior point`,
    /// `sinkhorn` or `eigh`.
    pub solver: &'static str,
    /// The interior point method's KKT factorisation ([`ipm::KktMethod::name`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kkt: Option<&'static str>,
    /// Iterations (a one-factorisation solve counts one).
    pub iterations: u64,
    /// The objective at the returned point (the standard form's, for a conic node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objective: Option<f64>,
    /// The largest violation of the constraints (Sinkhorn: of the marginals).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primal_residual: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dual_residual: Option<f64>,
    /// The interior point method's duality gap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap: Option<f64>,
    /// A smooth solver's scaled first-order residuals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stationarity: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complementarity: Option<f64>,
    /// The interior point method's polishing steps kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub polish_steps: Option<u32>,
    /// The optimality criterion an unsolved or inaccurate point misses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmet: Option<ipm::Unmet>,
    /// Sinkhorn's domain (`kernel` or `log`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<&'static str>,
    /// `eigh`: every eigenvalue, ascending (a full decomposition) …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eigenvalues: Option<Vec<f64>>,
    /// … or the one of the eigenvector returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eigenvalue: Option<f64>,
    /// Inequality constraints active with a zero multiplier (a kink of the
    /// solution map), by name or as `#k`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub weakly_active: Vec<String>,
    /// Caveats on the outputs or the gradients, each once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why the status is `numerical_error` when the solver did not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The standard form's sizes (conic nodes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variables: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<usize>,
}

/// What a one-factorisation solve (QR, the equality QP's LBLᵀ, the dual
/// active-set method) measured at its point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DirectFacts {
    /// `qr`, `kkt` or `active_set`.
    pub solver: &'static str,
    pub objective: f64,
    pub primal_residual: f64,
    /// Not measured by least squares (no multipliers).
    pub dual_residual: Option<f64>,
    pub iterations: u32,
}

impl DirectFacts {
    /// The dual active-set method's facts.
    pub fn active_set(r: &crate::solve::active_set::Report) -> DirectFacts {
        DirectFacts {
            solver: "active_set",
            objective: r.objective,
            primal_residual: r.primal_residual,
            dual_residual: Some(r.dual_residual),
            iterations: r.iterations,
        }
    }
}

impl Info {
    /// The conic interior point method's report on a program with `n`
    /// variables and `m` rows.
    pub fn ipm(family: Family, info: &ipm::Info, weakly_active: Vec<String>, (n, m): (usize, usize)) -> Info {
        Info {
            kkt: Some(info.kkt_method.name()),
            primal_residual: Some(info.primal_residual),
            dual_residual: Some(info.dual_residual),
            gap: Some(info.gap),
            objective: Some(info.primal_objective),
            polish_steps: Some(info.polish_steps),
            unmet: info.unmet,
            weakly_active,
            variables: Some(n),
            constraints: Some(m),
            ..Info::base(family, "ipm", info.iterations.into())
        }
    }

    /// A direct solve's report ([`DirectFacts`]) on `n` variables and `m` rows.
    pub fn direct(family: Family, facts: DirectFacts, (n, m): (usize, usize)) -> Info {
        Info {
            objective: Some(facts.objective),
            primal_residual: Some(facts.primal_residual),
            dual_residual: facts.dual_residual,
            variables: Some(n),
            constraints: Some(m),
            ..Info::base(family, facts.solver, facts.iterations.into())
        }
    }

    /// A smooth node's Newton (`constrained` false) or interior point report.
    pub fn smooth(family: Family, constrained: bool, sol: &SmoothSolution, weakly_active: Vec<String>) -> Info {
        Info {
            objective: Some(sol.objective),
            stationarity: Some(sol.residuals.stationarity),
            primal_residual: Some(sol.residuals.primal_feasibility),
            complementarity: Some(sol.residuals.complementarity),
            weakly_active,
            ..Info::base(family, if constrained { "interior point" } else { "newton" }, sol.iterations as u64)
        }
    }

    /// `solve using sinkhorn`'s report.
    pub fn sinkhorn(family: Family, sol: &SinkhornSolution) -> Info {
        Info {
            domain: Some(sol.domain.name()),
            primal_residual: Some(sol.marginal_error),
            ..Info::base(family, "sinkhorn", sol.iterations as u64)
        }
    }

    /// `solve using eigh`'s report: the eigenvalues `lambda`, all of them or
    /// (`returned = Some(k)`) the one of the eigenvector returned.
    pub fn eigh(family: Family, lambda: &[f64], returned: Option<usize>) -> Info {
        let (eigenvalues, eigenvalue) = match returned {
            None => (Some(lambda.to_vec()), None),
            Some(k) => (None, lambda.get(k).copied()),
        };
        Info { eigenvalues, eigenvalue, ..Info::base(family, "eigh", 1) }
    }

    /// The facts every path reports; the rest absent.
    fn base(family: Family, solver: &'static str, iterations: u64) -> Info {
        Info {
            family,
            solver,
            kkt: None,
            iterations,
            objective: None,
            primal_residual: None,
            dual_residual: None,
            gap: None,
            stationarity: None,
            complementarity: None,
            polish_steps: None,
            unmet: None,
            domain: None,
            eigenvalues: None,
            eigenvalue: None,
            weakly_active: Vec::new(),
            warnings: Vec::new(),
            message: None,
            variables: None,
            constraints: None,
        }
    }
}
