//! Concave atoms.

use super::*;

fn min_sign(s: &[Sign]) -> Sign {
    if s.iter().any(|x| x.is_nonpos()) {
        Sign::Nonpos
    } else if s.iter().all(|x| x.is_nonneg()) {
        Sign::Nonneg
    } else {
        Sign::Unknown
    }
}

const UNARY: Signature = values(&["x"]);
const REDUCE_SIG: Signature =
    Signature { params: &["x"], required: 1, variadic: false, axis: true, kind: ArgKind::Values, data_only: &[] };

#[allow(clippy::too_many_arguments)]
const fn concave(
    atom: Atom,
    name: &'static str,
    doc: &'static str,
    sig: Signature,
    shape: fn(&ShapeArgs) -> Result<Shape, String>,
    sign: fn(&[Sign]) -> Sign,
    mono: fn(usize, &[Sign]) -> Mono,
    smoothness: Smoothness,
    cone: fn(&[bool]) -> ConeClass,
    domain: Domain,
    barrier: bool,
) -> AtomInfo {
    AtomInfo {
        atom,
        name,
        doc,
        sig,
        defaults: &[],
        shape,
        sign,
        curvature: Curvature::Concave,
        mono,
        smoothness,
        cone,
        domain,
        barrier,
    }
}

pub(super) const ATOMS: &[AtomInfo] = &[
    concave(
        Atom::LambdaMin,
        "lambda_min",
        "smallest eigenvalue of the symmetric part of a square X",
        values(&["X"]),
        square_to_scalar,
        unknown_sign,
        not_monotone,
        Smoothness::Nonsmooth,
        cone_sdp,
        Domain::All,
        false,
    ),
    // Smooth on its domain X ≻ 0, which is not entrywise (so `Domain::All`);
    // not monotone entrywise, so DCP needs an affine X (as CVXPY's).
    concave(
        Atom::LogDet,
        "log_det",
        "log det of the symmetric part of a square X, X ≻ 0",
        values(&["X"]),
        square_to_scalar,
        unknown_sign,
        not_monotone,
        Smoothness::Smooth,
        cone_sdp,
        Domain::All,
        false,
    ),
    concave(
        Atom::Log,
        "log",
        "natural logarithm, x > 0",
        UNARY,
        same_shape,
        unknown_sign,
        increasing,
        Smoothness::Smooth,
        cone_exp,
        Domain::Pos,
        true,
    ),
    concave(
        Atom::Sqrt,
        "sqrt",
        "√x, x ≥ 0",
        UNARY,
        same_shape,
        nonneg,
        increasing,
        Smoothness::Smooth,
        cone_soc,
        Domain::Nonneg,
        true,
    ),
    concave(
        Atom::Entr,
        "entr",
        "−x log x (0 at 0)",
        UNARY,
        same_shape,
        unknown_sign,
        not_monotone,
        Smoothness::Smooth,
        cone_exp,
        Domain::Nonneg,
        true,
    ),
    concave(
        Atom::Minimum,
        "minimum",
        "elementwise minimum of its arguments (broadcast)",
        Signature {
            params: &["a", "b"],
            required: 2,
            variadic: true,
            axis: false,
            kind: ArgKind::Values,
            data_only: &[],
        },
        broadcast_all,
        min_sign,
        increasing,
        Smoothness::ConcaveKink,
        cone_pwl,
        Domain::All,
        false,
    ),
    concave(
        Atom::Min,
        "min",
        "minᵢ xᵢ (or along `axis`)",
        REDUCE_SIG,
        reduce,
        first_sign,
        increasing,
        Smoothness::ConcaveKink,
        cone_pwl,
        Domain::All,
        false,
    ),
];
