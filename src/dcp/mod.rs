//! Disciplined convex programming, written once.
//!
//! The small lattices (sign, curvature, monotonicity, smoothness, cone class) are
//! the atoms' vocabulary ([`crate::atoms::lattice`], re-exported here); [`analyze`]
//! walks a checked expression bottom-up and combines each operation's declared
//! properties with its arguments' by one composition rule
//! (Grant, Boyd & Ye, "Disciplined convex programming", 2006):
//!
//! f(g₁, …, gₖ) is convex if f is convex and, for every i, gᵢ is affine, or f is
//! nondecreasing in argument i and gᵢ is convex, or f is nonincreasing in i and gᵢ is
//! concave; concave symmetrically. Expressions of parameters only are data: any
//! curvature is fine there.

mod analyze;
pub mod rewrite;

pub use crate::atoms::lattice::{ConeClass, Curvature, Mono, Sign, Smoothness};
pub use analyze::{analyze, analyze_with, Analysis, Culprit};
