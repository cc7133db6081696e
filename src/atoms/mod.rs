//! The atom table: every built-in function *declares* its signature, shape rule,
//! sign, curvature, monotonicity per argument, smoothness, cone class and domain.
//! The DCP rule that combines them lives once, in [`crate::dcp`].
//!
//! One file per family: `affine`, `convex`, `concave`, `smooth`. A new atom
//! is a variant of [`Atom`] plus one entry in its family's table, and then its
//! meaning in each stage that computes with it (the compiler's exhaustive
//! matches point at most of them):
//!
//! 1. `eval/mod.rs`: its value; `eval/vjp.rs`: its vector–Jacobian product;
//! 2. `symbolic/partials.rs`: its partial derivatives as expressions (the
//!    smooth path's gradients, Hessians and mixed partials are built from them);
//! 3. `canon/reduce.rs`: its reduction to cones (`canon/objective.rs` too when
//!    it has a quadratic form), unless its cone class is `Other`;
//! 4. `jit/plan.rs`: its machine code (and so the generated Rust modules);
//! 5. `dcp/rewrite/facts.rs`: what the egg rewrite stage may assume of it;
//! 6. a sample in `tests/suite/atoms.rs`, whose walk over this table checks 1–3
//!    for every atom (and fails on an atom without a sample), and a row in
//!    `docs/language.md`'s atom table (`tests/suite/docs.rs`).

mod affine;
mod concave;
mod convex;
mod internal;
pub mod lattice;
mod smooth;

use crate::shape::{Dim, Shape};
use lattice::{Cone, Curvature, Mono, Sign, Smoothness};

/// Every built-in function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Atom {
    // affine
    Sum,
    Mean,
    Trace,
    Diag,
    Ones,
    Zeros,
    Eye,
    Hstack,
    Vstack,
    // convex
    SumSquares,
    Square,
    Abs,
    Norm,
    Norm1,
    NormInf,
    QuadForm,
    QuadOverLin,
    Pos,
    Maximum,
    Max,
    Huber,
    Exp,
    LogSumExp,
    InvPos,
    Xlogx,
    KlDiv,
    Logistic,
    LambdaMax,
    NuclearNorm,
    MatrixFrac,
    // concave
    Log,
    Sqrt,
    Entr,
    Minimum,
    Min,
    LambdaMin,
    LogDet,
    // smooth, unknown curvature
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    // internal: built by differentiation only, never looked up by name
    Spread,
    SumTo,
    Outer,
    Sign,
    Step,
    Ge,
    // built by the DCP rewrite stage only
    Hypot,
}

/// How an atom's positional arguments are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// Expressions.
    Values,
    /// Sizes: dimension names or integer literals (`ones(n)`, `eye(3)`).
    Sizes,
}

/// The argument list of an atom.
#[derive(Clone, Copy, Debug)]
pub struct Signature {
    /// Positional parameter names; each may also be passed as `name = value`.
    pub params: &'static [&'static str],
    /// How many of `params` are required; the rest have [`AtomInfo::defaults`].
    pub required: usize,
    /// Accepts any number (≥ `required`) of further arguments.
    pub variadic: bool,
    /// Accepts `axis = 0|1`.
    pub axis: bool,
    pub kind: ArgKind,
    /// Parameters that must be data (no variables), with the reason.
    pub data_only: &'static [(usize, &'static str)],
}

/// Where an atom is defined, for its first argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    All,
    /// `x >= 0`
    Nonneg,
    /// `x > 0`
    Pos,
}

/// The arguments a shape rule sees.
pub struct ShapeArgs<'a> {
    pub shapes: &'a [Shape],
    pub axis: Option<u8>,
    /// For [`ArgKind::Sizes`] atoms: the sizes given.
    pub sizes: &'a [Dim],
    /// Spells a shape for a message (`real[m, n]`).
    pub show: &'a dyn Fn(&Shape) -> String,
}

/// Everything the compiler knows about one atom.
pub struct AtomInfo {
    pub atom: Atom,
    pub name: &'static str,
    /// The definition, as a formula.
    pub doc: &'static str,
    pub sig: Signature,
    /// Default values of the optional parameters, in order.
    pub defaults: &'static [f64],
    pub shape: fn(&ShapeArgs) -> Result<Shape, String>,
    /// Sign of the result given the arguments' signs.
    pub sign: fn(&[Sign]) -> Sign,
    /// Curvature of the atom as a function of all its arguments.
    pub curvature: Curvature,
    /// Monotonicity in argument `i` given the arguments' signs.
    pub mono: fn(usize, &[Sign]) -> Mono,
    pub smoothness: Smoothness,
    /// Cone class given which arguments are data.
    pub cone: fn(&[bool]) -> Cone,
    /// Domain of the first argument.
    pub domain: Domain,
    /// The derivative is unbounded at the domain's boundary, pushing minimisers
    /// (maximisers, for concave atoms) into the interior: a bound there never binds.
    pub barrier: bool,
}

impl Atom {
    pub fn info(self) -> &'static AtomInfo {
        all().chain(internal::ATOMS).find(|i| i.atom == self).unwrap_or_else(|| unreachable_atom(self))
    }

    /// Internal atoms (derivatives only) are not part of the language.
    pub fn is_internal(self) -> bool {
        internal::ATOMS.iter().any(|i| i.atom == self)
    }

    /// The result's shape is part of the operation, not a function of the
    /// arguments (`sum_to(c)` to `[n]` or to `[m, n]`).
    pub fn carries_shape(self) -> bool {
        matches!(self, Atom::Spread | Atom::SumTo)
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }
}

/// Every variant has an entry (the `every_atom_has_an_entry` test checks it).
#[cold]
fn unreachable_atom(a: Atom) -> ! {
    panic!("atom {a:?} has no table entry")
}

/// Every atom of the language, family by family (internal atoms excluded).
pub fn all() -> impl Iterator<Item = &'static AtomInfo> {
    affine::ATOMS.iter().chain(convex::ATOMS).chain(concave::ATOMS).chain(smooth::ATOMS)
}

/// Any atom by name, internal ones included: for the compiler's own tables
/// (the egg language), never for source text, which goes through [`lookup`].
pub fn by_name(name: &str) -> Option<Atom> {
    all().chain(internal::ATOMS).find(|i| i.name == name).map(|i| i.atom)
}

/// The atom called `name`, if any.
pub fn lookup(name: &str) -> Option<&'static AtomInfo> {
    all().find(|i| i.name == name)
}

// ---- shared rules, used by the family tables ------------------------------------

pub(crate) fn same_shape(a: &ShapeArgs) -> Result<Shape, String> {
    Ok(a.shapes[0].clone())
}

pub(crate) fn scalar_shape(_: &ShapeArgs) -> Result<Shape, String> {
    Ok(Shape::scalar())
}

/// A square matrix to a scalar (`lambda_max`, `lambda_min`, `log_det`).
pub(crate) fn square_to_scalar(a: &ShapeArgs) -> Result<Shape, String> {
    let s = &a.shapes[0];
    if s.rank() == 2 && s.0[0] == s.0[1] {
        Ok(Shape::scalar())
    } else {
        Err(format!("a square matrix is needed here, found `{}`", (a.show)(s)))
    }
}

pub(crate) fn broadcast_all(a: &ShapeArgs) -> Result<Shape, String> {
    let mut out = a.shapes[0].clone();
    for s in &a.shapes[1..] {
        out =
            out.broadcast(s).ok_or_else(|| format!("cannot broadcast `{}` with `{}`", (a.show)(&out), (a.show)(s)))?;
    }
    Ok(out)
}

/// A reduction: to a scalar, or along `axis` of a matrix (axis 0 sums down the
/// columns, leaving one entry per column, as numpy does).
pub(crate) fn reduce(a: &ShapeArgs) -> Result<Shape, String> {
    let s = &a.shapes[0];
    match (a.axis, s.rank()) {
        (None, _) => Ok(Shape::scalar()),
        (Some(0), 1) => Ok(Shape::scalar()),
        (Some(ax @ (0 | 1)), 2) => Ok(Shape::vector(s.0[1 - ax as usize])),
        (Some(ax), _) => Err(format!("axis {ax} is out of range for `{}`", (a.show)(s))),
    }
}

pub(crate) fn first_sign(s: &[Sign]) -> Sign {
    s[0]
}

pub(crate) fn nonneg(_: &[Sign]) -> Sign {
    Sign::Nonneg
}

pub(crate) fn unknown_sign(_: &[Sign]) -> Sign {
    Sign::Unknown
}

pub(crate) fn increasing(_: usize, _: &[Sign]) -> Mono {
    Mono::Increasing
}

pub(crate) fn not_monotone(_: usize, _: &[Sign]) -> Mono {
    Mono::None
}

/// |x|, x², ‖x‖: increasing for x ≥ 0, decreasing for x ≤ 0.
pub(crate) fn by_sign(i: usize, s: &[Sign]) -> Mono {
    Mono::by_sign(s[i])
}

pub(crate) fn cone_affine(_: &[bool]) -> Cone {
    Cone::Affine
}

pub(crate) fn cone_pwl(_: &[bool]) -> Cone {
    Cone::PiecewiseLinear
}

pub(crate) fn cone_quadratic(_: &[bool]) -> Cone {
    Cone::Quadratic
}

pub(crate) fn cone_soc(_: &[bool]) -> Cone {
    Cone::SecondOrder
}

pub(crate) fn cone_exp(_: &[bool]) -> Cone {
    Cone::Exponential
}

pub(crate) fn cone_sdp(_: &[bool]) -> Cone {
    Cone::Semidefinite
}

pub(crate) fn cone_other(_: &[bool]) -> Cone {
    Cone::Other
}

/// A signature of `n` required value arguments named `params`.
pub(crate) const fn values(params: &'static [&'static str]) -> Signature {
    Signature { params, required: params.len(), variadic: false, axis: false, kind: ArgKind::Values, data_only: &[] }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every atom the contract (language.md, "Atoms") lists is in the table.
    #[test]
    fn contract_atoms_exist() {
        let contract = "sum mean trace diag ones zeros eye hstack vstack sum_squares square abs norm norm1 \
            norm_inf quad_form quad_over_lin pos maximum max huber exp log_sum_exp inv_pos xlogx kl_div log sqrt \
            entr minimum min sin cos tanh sigmoid";
        for name in contract.split_whitespace() {
            assert!(lookup(name).is_some(), "`{name}` missing");
        }
    }

    #[test]
    fn names_are_unique_and_lookups_agree() {
        let mut names: Vec<&str> = all().map(|i| i.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
        for i in all() {
            assert_eq!(lookup(i.name).map(|j| j.atom), Some(i.atom));
            assert_eq!(i.atom.info().name, i.name);
            assert!(i.sig.required <= i.sig.params.len());
            if i.sig.kind == ArgKind::Values {
                assert_eq!(i.defaults.len(), i.sig.params.len() - i.sig.required, "{}", i.name);
            }
        }
    }
}
