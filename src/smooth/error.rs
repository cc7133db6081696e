//! The smooth layer's errors: a point outside a function's domain (which line
//! searches recover from) and why a forward could not start (which they do not).
//! Neither is a solver outcome: those are a [`super::Status`].

/// `y` lies outside the objective's or a constraint's domain (the log of a
/// negative, a division by zero): line searches treat it as an infinite value and
/// backtrack.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DomainError(pub String);

/// Why a smooth forward (Newton, interior point, `sinkhorn`, `eigh`) could not
/// start.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SmoothError {
    /// A setting outside its range (the message names the first bad field).
    #[error("{0}")]
    Settings(String),
    /// A specialised forward's data are invalid (a non-square or asymmetric
    /// matrix, a non-positive tolerance).
    #[error("{0}")]
    InvalidInput(String),
    /// A starting point of the wrong length.
    #[error("the starting point has length {found}, expected {expected}")]
    StartLength {
        /// The length given.
        found: usize,
        /// The number of variables' entries.
        expected: usize,
    },
    /// A starting point with a NaN or an infinity.
    #[error("the starting point is not finite")]
    StartNotFinite,
    /// A starting point outside the domain.
    #[error("the starting point is outside the domain: {0}")]
    StartOutsideDomain(DomainError),
    /// `solve using newton` on a problem with inequalities.
    #[error("`newton` cannot handle the {0} inequality constraint(s); use `sqp`")]
    NewtonInequalities(usize),
}
