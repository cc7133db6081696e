//! Dense linear algebra the numerical layers share ([`crate::solve`],
//! [`crate::smooth`], [`crate::diff`]): one home per factorisation, below all
//! of them (this module imports nothing of the crate).

pub mod lblt;

/// `‖v‖∞ = max |vᵢ|` (0 for an empty vector).
pub(crate) fn inf_norm(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}
