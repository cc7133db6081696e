//! The forward methods a node may name in `solve using`, and their options.
//! Sema resolves a name here to a [`Kind`] once; everything after it matches on
//! [`crate::ir::SolveMethod`].

/// Which method a name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ipm,
    Newton,
    Sqp,
    Sinkhorn,
    Eigh,
}

/// A method and the options it accepts.
pub struct Method {
    pub name: &'static str,
    pub kind: Kind,
    pub what: &'static str,
    /// `(option, meaning, must be a positive integer)`.
    pub options: &'static [(&'static str, &'static str, bool)],
}

const TOL: (&str, &str, bool) = ("tol", "stopping tolerance on the optimality residuals (> 0)", false);
const MAX_ITER: (&str, &str, bool) = ("max_iter", "iteration limit (a positive integer)", true);

/// Every method the compiler knows.
pub const METHODS: &[Method] = &[
    Method { name: "ipm", kind: Kind::Ipm, what: "primal-dual interior point method", options: &[TOL, MAX_ITER] },
    Method {
        name: "newton",
        kind: Kind::Newton,
        what: "Newton's method with a line search",
        options: &[TOL, MAX_ITER],
    },
    Method { name: "sqp", kind: Kind::Sqp, what: "sequential quadratic programming", options: &[TOL, MAX_ITER] },
    Method {
        name: "sinkhorn",
        kind: Kind::Sinkhorn,
        what: "Sinkhorn iterations, kernel or log domain (entropic optimal transport)",
        options: &[TOL, MAX_ITER],
    },
    Method {
        name: "eigh",
        kind: Kind::Eigh,
        what: "symmetric eigendecomposition (eigenvector problems)",
        options: &[],
    },
];

pub fn lookup(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}
