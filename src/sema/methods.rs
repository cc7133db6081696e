//! The forward methods a node may name in `solve using`, and their options.
//! Sema resolves a name here to a [`Kind`] once; everything after it matches on
//! [`crate::ir::SolveMethod`].

/// Which method a name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `ipm`: the primal-dual interior point method (conic nodes).
    Ipm,
    /// `newton`: Newton's method (Newton–KKT with equalities).
    Newton,
    /// `sqp`: sequential quadratic programming.
    Sqp,
    /// `sinkhorn`: Sinkhorn iterations on an entropic optimal transport.
    Sinkhorn,
    /// `eigh`: the symmetric eigendecomposition of an eigenvector problem.
    Eigh,
}

/// A method and the options it accepts.
pub struct Method {
    /// The name `solve using NAME` spells.
    pub name: &'static str,
    /// Which method it is.
    pub kind: Kind,
    /// What it is, in a few words.
    pub what: &'static str,
    /// `(option, meaning, must be a positive integer)`.
    pub options: &'static [(&'static str, &'static str, bool)],
}

const TOL: (&str, &str, bool) = ("tol", "stopping tolerance on the optimality residuals (> 0)", false);
const MAX_ITER: (&str, &str, bool) = ("max_iter", "iteration limit (a positive integer)", true);

/// Every method the compiler knows.
pub const METHODS: &[Method] = &[
    method("ipm", Kind::Ipm, "primal-dual interior point method", &[TOL, MAX_ITER]),
    method("newton", Kind::Newton, "Newton's method with a line search", &[TOL, MAX_ITER]),
    method("sqp", Kind::Sqp, "sequential quadratic programming", &[TOL, MAX_ITER]),
    method(
        "sinkhorn",
        Kind::Sinkhorn,
        "Sinkhorn iterations, kernel or log domain (entropic optimal transport)",
        &[TOL, MAX_ITER],
    ),
    method("eigh", Kind::Eigh, "symmetric eigendecomposition (eigenvector problems)", &[]),
];

/// A row of [`METHODS`].
const fn method(
    name: &'static str,
    kind: Kind,
    what: &'static str,
    options: &'static [(&'static str, &'static str, bool)],
) -> Method {
    Method { name, kind, what, options }
}

/// The method called `name`, if any.
pub fn lookup(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}
