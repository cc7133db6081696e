//! What a forward solve reports beside its status: the solver that ran, its
//! iterations and what that solver path measured ([`Facts`], one variant per
//! path, each built by one constructor of [`Info`]). JSON is made only where
//! it is written (`ddnc run`, the Python extension's `Solution.info`), by
//! serialising this struct: the facts' fields sit beside `family`, `solver`
//! and `iterations`, and what a path does not measure is absent.

use serde::Serialize;

use crate::ir::Family;
use crate::linalg::norm_inf;
use crate::smooth::{SinkhornSolution, SmoothSolution};
use crate::solve::active_set::Report;
use crate::solve::{ipm, ConeProgram};

/// A forward solve's facts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Info {
    /// The node's family (`lp`, `qp`, …, `unconstrained`, …).
    pub family: Family,
    /// `ipm`, `qr`, `kkt`, `active_set`, `newton`, `interior point`,
    /// `sinkhorn` or `eigh`.
    pub solver: &'static str,
    /// Iterations (a one-factorisation solve counts one).
    pub iterations: u64,
    /// What the solver path measured.
    #[serde(flatten)]
    pub facts: Facts,
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
}

/// What one solver path measured at its returned point. Conic paths measure
/// the standard form (`variables`, `constraints`: its n and m); residuals are
/// the largest violations.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Facts {
    /// The conic interior point method ([`ipm::Summary`]).
    Ipm {
        /// The KKT factorisation ([`ipm::KktMethod::name`]).
        kkt: &'static str,
        /// The primal objective at the returned point.
        objective: f64,
        /// The relative primal residual ([`ipm::Summary`]'s definition).
        primal_residual: f64,
        /// The relative dual residual.
        dual_residual: f64,
        /// `|pobj − dobj|`.
        gap: f64,
        /// Newton steps of the polish on the KKT conditions.
        polish_steps: u32,
        /// The optimality criterion an unsolved or inaccurate point misses.
        #[serde(skip_serializing_if = "Option::is_none")]
        unmet: Option<ipm::Unmet>,
        /// The standard form's n.
        variables: usize,
        /// The standard form's m.
        constraints: usize,
    },
    /// A one-factorisation solve or the dual active-set method ([`DirectFacts`]).
    Direct {
        /// The objective at the solution.
        objective: f64,
        /// The largest constraint violation, relative as the IPM's.
        primal_residual: f64,
        /// Not measured by least squares (no multipliers).
        #[serde(skip_serializing_if = "Option::is_none")]
        dual_residual: Option<f64>,
        /// The standard form's n.
        variables: usize,
        /// The standard form's m.
        constraints: usize,
    },
    /// A smooth node's Newton or interior point method: its scaled
    /// first-order residuals ([`crate::smooth::Residuals`]).
    Smooth {
        /// `f` at the point.
        objective: f64,
        /// The scaled stationarity residual.
        stationarity: f64,
        /// The largest constraint violation.
        primal_residual: f64,
        /// The scaled complementarity.
        complementarity: f64,
    },
    /// `solve using sinkhorn`: the domain it ran in (`kernel` or `log`) and
    /// the marginals' error.
    Sinkhorn {
        /// `kernel` or `log`.
        domain: &'static str,
        /// The marginals' error `max(‖P1 − r‖₁, ‖Pᵀ1 − c‖₁)` of the returned plan.
        primal_residual: f64,
    },
    /// `solve using eigh` with every eigenvector: the eigenvalues, ascending.
    Eigh {
        /// Every eigenvalue, ascending.
        eigenvalues: Vec<f64>,
    },
    /// `solve using eigh` with one eigenvector: its eigenvalue.
    Eigenvector {
        /// The chosen eigenvector's eigenvalue.
        eigenvalue: f64,
    },
}

/// What a one-factorisation solve (QR, the equality QP's LBLᵀ) or the dual
/// active-set method measured, kept until the report is made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DirectFacts {
    /// `qr`, `kkt` or `active_set`.
    pub solver: &'static str,
    /// The objective at the solution.
    pub objective: f64,
    /// The largest constraint violation, relative.
    pub primal_residual: f64,
    /// The dual residual, where the path has multipliers.
    pub dual_residual: Option<f64>,
    /// Active-set changes, or 1 for a one-factorisation solve.
    pub iterations: u32,
}

impl DirectFacts {
    /// A least-squares solve by QR: `objective = ‖Mx + d‖²`; no constraints,
    /// no multipliers.
    pub fn least_squares(objective: f64) -> DirectFacts {
        DirectFacts { solver: "qr", objective, primal_residual: 0.0, dual_residual: None, iterations: 1 }
    }

    /// An equality-constrained QP solved by one KKT factorisation: its
    /// objective and residuals measured at `(x, z)` (the slacks are zero).
    pub fn equality_qp(p: &ConeProgram, x: &[f64], z: &[f64]) -> DirectFacts {
        let (dual, primal) = p.residuals(x, &vec![0.0; z.len()], z);
        DirectFacts {
            solver: "kkt",
            objective: p.objectives(x, z).0,
            primal_residual: norm_inf(&primal),
            dual_residual: Some(norm_inf(&dual)),
            iterations: 1,
        }
    }

    /// The dual active-set method's.
    pub fn active_set(r: &Report) -> DirectFacts {
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
    fn new(family: Family, solver: &'static str, iterations: u64, facts: Facts) -> Info {
        Info { family, solver, iterations, facts, weakly_active: Vec::new(), warnings: Vec::new(), message: None }
    }

    /// The conic interior point method's report on a program with `n`
    /// variables and `m` rows.
    pub fn ipm(family: Family, info: &ipm::Summary, weakly_active: Vec<String>, (n, m): (usize, usize)) -> Info {
        let facts = Facts::Ipm {
            kkt: info.kkt_method.name(),
            objective: info.primal_objective,
            primal_residual: info.primal_residual,
            dual_residual: info.dual_residual,
            gap: info.gap,
            polish_steps: info.polish_steps,
            unmet: info.unmet,
            variables: n,
            constraints: m,
        };
        Info { weakly_active, ..Info::new(family, "ipm", info.iterations.into(), facts) }
    }

    /// A direct solve's report on `n` variables and `m` rows.
    pub fn direct(family: Family, d: DirectFacts, (n, m): (usize, usize)) -> Info {
        let facts = Facts::Direct {
            objective: d.objective,
            primal_residual: d.primal_residual,
            dual_residual: d.dual_residual,
            variables: n,
            constraints: m,
        };
        Info::new(family, d.solver, d.iterations.into(), facts)
    }

    /// A smooth node's Newton (`constrained` false) or interior point report.
    pub fn smooth(family: Family, constrained: bool, sol: &SmoothSolution, weakly_active: Vec<String>) -> Info {
        let r = &sol.residuals;
        let facts = Facts::Smooth {
            objective: sol.objective,
            stationarity: r.stationarity,
            primal_residual: r.primal_feasibility,
            complementarity: r.complementarity,
        };
        let solver = if constrained { "interior point" } else { "newton" };
        Info { weakly_active, ..Info::new(family, solver, sol.iterations as u64, facts) }
    }

    /// `solve using sinkhorn`'s report.
    pub fn sinkhorn(family: Family, sol: &SinkhornSolution) -> Info {
        let facts = Facts::Sinkhorn { domain: sol.domain.name(), primal_residual: sol.marginal_error };
        Info::new(family, "sinkhorn", sol.iterations as u64, facts)
    }

    /// `solve using eigh`'s report: the eigenvalues `lambda`, all of them or
    /// (`returned = Some(k)`) the one of the eigenvector returned.
    pub fn eigh(family: Family, lambda: &[f64], returned: Option<usize>) -> Info {
        let facts = match returned.and_then(|k| lambda.get(k)) {
            Some(&eigenvalue) => Facts::Eigenvector { eigenvalue },
            None => Facts::Eigh { eigenvalues: lambda.to_vec() },
        };
        Info::new(family, "eigh", 1, facts)
    }

    /// The objective at the returned point (the standard form's, for a conic
    /// node), where the path measures one.
    pub fn objective(&self) -> Option<f64> {
        match self.facts {
            Facts::Ipm { objective, .. } | Facts::Direct { objective, .. } | Facts::Smooth { objective, .. } => {
                Some(objective)
            }
            Facts::Sinkhorn { .. } | Facts::Eigh { .. } | Facts::Eigenvector { .. } => None,
        }
    }
}
