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
use lattice::{ConeClass, Curvature, Mono, Sign, Smoothness};

/// Every built-in function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Atom {
    // affine
    /// `sum(x)`: Σᵢ xᵢ over every entry, or along `axis` of a matrix.
    Sum,
    /// `mean(x)`: (1/N) Σᵢ xᵢ, N the number of entries summed (or along `axis`).
    Mean,
    /// `trace(X)`: Σᵢ Xᵢᵢ of a square matrix.
    Trace,
    /// `diag(x)`: a vector to the diagonal matrix with it on the diagonal; a square
    /// matrix to its diagonal.
    Diag,
    /// `ones(n)`, `ones(m, n)`: the all-ones vector or matrix.
    Ones,
    /// `zeros(n)`, `zeros(m, n)`: the zero vector or matrix.
    Zeros,
    /// `eye(n)` (or `eye(m, n)`): the identity matrix.
    Eye,
    /// `hstack(a, b, ...)`: concatenation along the last axis.
    Hstack,
    /// `vstack(a, b, ...)`: stacking along the first axis (vectors become rows).
    Vstack,
    // convex
    /// `sum_squares(x)`: Σ xᵢ² over every entry.
    SumSquares,
    /// `square(x)`: xᵢ² elementwise.
    Square,
    /// `abs(x)`: |xᵢ| elementwise.
    Abs,
    /// `norm(x)`: ‖x‖₂, the Euclidean norm of a vector, the Frobenius norm of a matrix.
    Norm,
    /// `norm1(x)`: Σ |xᵢ|.
    Norm1,
    /// `norm_inf(x)`: maxᵢ |xᵢ|.
    NormInf,
    /// `quad_form(x, P)`: xᵀ P x, `P` data; convex when `P` is known psd (a `psd` parameter).
    QuadForm,
    /// `quad_over_lin(x, t)`: Σ xᵢ² / t, for a scalar t > 0.
    QuadOverLin,
    /// `pos(x)`: max(xᵢ, 0) elementwise.
    Pos,
    /// `maximum(a, b, ...)`: the elementwise maximum of its arguments (broadcast).
    Maximum,
    /// `max(x)`: maxᵢ xᵢ over every entry, or along `axis`.
    Max,
    /// `huber(x, M)`: x² if |x| ≤ M, else 2M|x| − M², elementwise (M data, 1 by default).
    Huber,
    /// `exp(x)`: eˣ elementwise.
    Exp,
    /// `log_sum_exp(x)`: log Σ exp xᵢ over every entry, or along `axis`.
    LogSumExp,
    /// `inv_pos(x)`: 1/x elementwise, for x > 0.
    InvPos,
    /// `xlogx(x)`: x log x elementwise (0 at 0), for x ≥ 0.
    Xlogx,
    /// `kl_div(x, y)`: x log(x/y) − x + y elementwise (broadcast).
    KlDiv,
    /// `logistic(x)`: log(1 + eˣ) elementwise.
    Logistic,
    /// `lambda_max(X)`: the largest eigenvalue of the symmetric part of a square `X`.
    LambdaMax,
    /// `nuclear_norm(X)`: Σᵢ σᵢ(X), the sum of the singular values of a matrix.
    NuclearNorm,
    /// `matrix_frac(X, P)`: tr(Xᵀ P⁻¹ X) (xᵀ P⁻¹ x for a vector), `P` symmetric ≻ 0.
    MatrixFrac,
    // concave
    /// `log(x)`: the natural logarithm elementwise, for x > 0.
    Log,
    /// `sqrt(x)`: √x elementwise, for x ≥ 0.
    Sqrt,
    /// `entr(x)`: −x log x elementwise (0 at 0), for x ≥ 0.
    Entr,
    /// `minimum(a, b, ...)`: the elementwise minimum of its arguments (broadcast).
    Minimum,
    /// `min(x)`: minᵢ xᵢ over every entry, or along `axis`.
    Min,
    /// `lambda_min(X)`: the smallest eigenvalue of the symmetric part of a square `X`.
    LambdaMin,
    /// `log_det(X)`: log det of the symmetric part of a square `X`, for X ≻ 0.
    LogDet,
    // smooth, unknown curvature
    /// `sin(x)` elementwise.
    Sin,
    /// `cos(x)` elementwise.
    Cos,
    /// `tanh(x)` elementwise.
    Tanh,
    /// `sigmoid(x)`: 1 / (1 + e⁻ˣ) elementwise.
    Sigmoid,
    // internal: built by differentiation only, never looked up by name
    /// `spread(c, axis)`: `c` copied over the expression's shape (along rows for
    /// `axis = 1`); the adjoint of `sum(·, axis)` and of broadcasting.
    Spread,
    /// `sum_to(c)`: `c` summed down to the expression's shape; the adjoint of broadcasting.
    SumTo,
    /// `outer(a, b)`: a bᵀ for vectors `a`, `b`; the adjoint of a matrix–vector product.
    Outer,
    /// `sign(x)`: sign x elementwise (0 at 0); the derivative of `abs` off 0.
    Sign,
    /// `step(x)`: 1 where x > 0, else 0; the derivative of `pos` off 0.
    Step,
    /// `ge(a, b)`: 1 where a ≥ b, else 0 (broadcast); the derivative of `maximum`/`max`
    /// on each smooth piece.
    Ge,
    // built by the DCP rewrite stage only
    /// `hypot(a, x)`: √(a² + xᵢ²) elementwise, or √(a² + Σ x²) along `axis`
    /// (broadcast); the second-order cone found in `sqrt(c + z^2)`-shaped expressions.
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
    /// Whether the positional arguments are expressions or sizes.
    pub kind: ArgKind,
    /// Parameters that must be data (no variables), with the reason.
    pub data_only: &'static [(usize, &'static str)],
}

/// Where an atom is defined, for its first argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Every real number.
    All,
    /// `x >= 0`
    Nonneg,
    /// `x > 0`
    Pos,
}

/// The arguments a shape rule sees.
pub struct ShapeArgs<'a> {
    /// The positional value arguments' shapes, in order.
    pub shapes: &'a [Shape],
    /// The `axis = 0|1` argument, if given.
    pub axis: Option<u8>,
    /// For [`ArgKind::Sizes`] atoms: the sizes given.
    pub sizes: &'a [Dim],
    /// Spells a shape for a message (`real[m, n]`).
    pub show: &'a dyn Fn(&Shape) -> String,
}

/// Everything the compiler knows about one atom.
pub struct AtomInfo {
    /// The atom this entry describes.
    pub atom: Atom,
    /// Its name in source text (and in the egg language, for internal atoms).
    pub name: &'static str,
    /// The definition, as a formula.
    pub doc: &'static str,
    /// Its argument list.
    pub sig: Signature,
    /// Default values of the optional parameters, in order.
    pub defaults: &'static [f64],
    /// The result's shape given the arguments', or the message saying why they do not fit.
    pub shape: fn(&ShapeArgs) -> Result<Shape, String>,
    /// Sign of the result given the arguments' signs.
    pub sign: fn(&[Sign]) -> Sign,
    /// Curvature of the atom as a function of all its arguments.
    pub curvature: Curvature,
    /// Monotonicity in argument `i` given the arguments' signs.
    pub mono: fn(usize, &[Sign]) -> Mono,
    /// How differentiable it is on its domain (smooth, C¹, or with kinks of a known kind).
    pub smoothness: Smoothness,
    /// ConeClass class given which arguments are data.
    pub cone: fn(&[bool]) -> ConeClass,
    /// Domain of the first argument.
    pub domain: Domain,
    /// The derivative is unbounded at the domain's boundary, pushing minimisers
    /// (maximisers, for concave atoms) into the interior: a bound there never binds.
    pub barrier: bool,
}

impl Atom {
    /// Its table entry (every variant has one, internal atoms included).
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

    /// Its name in source text (see [`AtomInfo::name`]).
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

pub(crate) fn cone_affine(_: &[bool]) -> ConeClass {
    ConeClass::Affine
}

pub(crate) fn cone_pwl(_: &[bool]) -> ConeClass {
    ConeClass::PiecewiseLinear
}

pub(crate) fn cone_quadratic(_: &[bool]) -> ConeClass {
    ConeClass::Quadratic
}

pub(crate) fn cone_soc(_: &[bool]) -> ConeClass {
    ConeClass::SecondOrder
}

pub(crate) fn cone_exp(_: &[bool]) -> ConeClass {
    ConeClass::Exponential
}

pub(crate) fn cone_sdp(_: &[bool]) -> ConeClass {
    ConeClass::Semidefinite
}

pub(crate) fn cone_other(_: &[bool]) -> ConeClass {
    ConeClass::Other
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
