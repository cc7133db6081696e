//! Why a solver could not run: invalid settings or data, or a KKT solve asked
//! of a factorisation that cannot answer. Not a solver outcome: those are a
//! [`super::Status`] with its [`super::Summary`].

/// The solve layer's error.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SolveError {
    /// A setting outside its range (the message names the first bad field).
    #[error("{0}")]
    Settings(String),
    /// A malformed [`super::ConeProgram`]: inconsistent sizes, an entry out of
    /// range, a NaN or an infinity.
    #[error("{0}")]
    Program(String),
    /// A program whose sparsity pattern or cones are not those a workspace was
    /// built for.
    #[error("{0}")]
    Pattern(String),
    /// The sparse KKT factorisation could not be set up.
    #[error("the sparse KKT factorisation could not be set up (out of memory or index overflow)")]
    KktSetup,
    /// No factorisation to solve with at the solution.
    #[error("{0}")]
    NoFactorisation(&'static str),
    /// A right-hand side of the wrong length.
    #[error("the right-hand side has length {found}, expected n + m = {expected}")]
    RhsLength {
        /// The length given.
        found: usize,
        /// `n + m`.
        expected: usize,
    },
    /// `y = Hx` with vectors of the wrong length.
    #[error("H is {m}×{m}, found vectors of length {x} and {y}")]
    HLength {
        /// H's order.
        m: usize,
        /// x's length.
        x: usize,
        /// y's length.
        y: usize,
    },
    /// A right-hand side with a NaN or an infinity.
    #[error("the right-hand side has a NaN or infinite entry")]
    NonFiniteRhs,
    /// A KKT solve whose result is not finite.
    #[error("the KKT solve produced a non-finite value")]
    NonFiniteSolution,
}
