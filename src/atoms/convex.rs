//! Convex atoms (CVXPY's definitions where the names agree; language.md lists them).

use super::*;

fn quad_form_shape(a: &ShapeArgs) -> Result<Shape, String> {
    let (x, p) = (&a.shapes[0], &a.shapes[1]);
    match (x.rank(), p.rank()) {
        (1, 2) if p.0[0] == x.0[0] && p.0[1] == x.0[0] => Ok(Shape::scalar()),
        _ => Err(format!(
            "`quad_form(x, P)` needs `x: real[n]` and `P: real[n, n]`, found `{}` and `{}`",
            (a.show)(x),
            (a.show)(p)
        )),
    }
}

fn nuclear_norm_shape(a: &ShapeArgs) -> Result<Shape, String> {
    match a.shapes[0].rank() {
        2 => Ok(Shape::scalar()),
        _ => Err(format!("`nuclear_norm(X)` needs a matrix, found `{}`", (a.show)(&a.shapes[0]))),
    }
}

/// `matrix_frac(X, P)`: `X: real[n]` or `real[n, k]`, `P: real[n, n]`.
fn matrix_frac_shape(a: &ShapeArgs) -> Result<Shape, String> {
    let (x, p) = (&a.shapes[0], &a.shapes[1]);
    match (x.rank(), p.rank()) {
        (1 | 2, 2) if p.0[0] == x.0[0] && p.0[1] == x.0[0] => Ok(Shape::scalar()),
        _ => Err(format!(
            "`matrix_frac(X, P)` needs `X: real[n]` or `real[n, k]` and `P: real[n, n]`, found `{}` and `{}`",
            (a.show)(x),
            (a.show)(p)
        )),
    }
}

fn quad_over_lin_shape(a: &ShapeArgs) -> Result<Shape, String> {
    if a.shapes[1].is_scalar() {
        Ok(Shape::scalar())
    } else {
        Err(format!("`quad_over_lin(x, t)` needs a scalar `t`, found `{}`", (a.show)(&a.shapes[1])))
    }
}

fn huber_shape(a: &ShapeArgs) -> Result<Shape, String> {
    match a.shapes.get(1) {
        Some(m) if !m.is_scalar() => Err(format!("`huber(x, M)` needs a scalar `M`, found `{}`", (a.show)(m))),
        _ => Ok(a.shapes[0].clone()),
    }
}

fn max_sign(s: &[Sign]) -> Sign {
    if s.iter().any(|x| x.is_nonneg()) {
        Sign::Nonneg
    } else if s.iter().all(|x| x.is_nonpos()) {
        Sign::Nonpos
    } else {
        Sign::Unknown
    }
}

/// x ≥ 0 ⇒ quad_over_lin is increasing in x; always decreasing in t > 0.
fn quad_over_lin_mono(i: usize, s: &[Sign]) -> Mono {
    if i == 0 {
        Mono::by_sign(s[0])
    } else {
        Mono::Decreasing
    }
}

/// `x² / t` is a quadratic when `t` is data, a rotated cone otherwise.
fn quad_over_lin_cone(data: &[bool]) -> ConeClass {
    if data.get(1).copied().unwrap_or(false) {
        ConeClass::Quadratic
    } else {
        ConeClass::SecondOrder
    }
}

fn decreasing(_: usize, _: &[Sign]) -> Mono {
    Mono::Decreasing
}

const UNARY: Signature = values(&["x"]);
const REDUCE_SIG: Signature =
    Signature { params: &["x"], required: 1, variadic: false, axis: true, kind: ArgKind::Values, data_only: &[] };

#[allow(clippy::too_many_arguments)]
const fn convex(
    atom: Atom,
    name: &'static str,
    doc: &'static str,
    sig: Signature,
    shape: fn(&ShapeArgs) -> Result<Shape, String>,
    sign: fn(&[Sign]) -> Sign,
    mono: fn(usize, &[Sign]) -> Mono,
    smoothness: Smoothness,
    cone: fn(&[bool]) -> ConeClass,
) -> AtomInfo {
    AtomInfo {
        atom,
        name,
        doc,
        sig,
        defaults: &[],
        shape,
        sign,
        curvature: Curvature::Convex,
        mono,
        smoothness,
        cone,
        domain: Domain::All,
        barrier: false,
    }
}

pub(super) const ATOMS: &[AtomInfo] = &[
    convex(
        Atom::SumSquares,
        "sum_squares",
        "Σ xᵢ² (every entry)",
        UNARY,
        scalar_shape,
        nonneg,
        by_sign,
        Smoothness::Smooth,
        cone_quadratic,
    ),
    convex(
        Atom::Square,
        "square",
        "xᵢ² elementwise",
        UNARY,
        same_shape,
        nonneg,
        by_sign,
        Smoothness::Smooth,
        cone_quadratic,
    ),
    convex(Atom::Abs, "abs", "|xᵢ| elementwise", UNARY, same_shape, nonneg, by_sign, Smoothness::ConvexKink, cone_pwl),
    convex(
        Atom::Norm,
        "norm",
        "‖x‖₂ (Frobenius for a matrix)",
        UNARY,
        scalar_shape,
        nonneg,
        by_sign,
        Smoothness::ConvexKink,
        cone_soc,
    ),
    convex(Atom::Norm1, "norm1", "Σ |xᵢ|", UNARY, scalar_shape, nonneg, by_sign, Smoothness::ConvexKink, cone_pwl),
    convex(
        Atom::NormInf,
        "norm_inf",
        "maxᵢ |xᵢ|",
        UNARY,
        scalar_shape,
        nonneg,
        by_sign,
        Smoothness::ConvexKink,
        cone_pwl,
    ),
    convex(
        Atom::LambdaMax,
        "lambda_max",
        "largest eigenvalue of the symmetric part of a square X",
        values(&["X"]),
        square_to_scalar,
        unknown_sign,
        not_monotone,
        Smoothness::Nonsmooth,
        cone_sdp,
    ),
    // The dual norm of the spectral norm: a supremum of linear functions, so kinks.
    convex(
        Atom::NuclearNorm,
        "nuclear_norm",
        "Σᵢ σᵢ(X), the sum of the singular values of a matrix X",
        values(&["X"]),
        nuclear_norm_shape,
        nonneg,
        not_monotone,
        Smoothness::ConvexKink,
        cone_sdp,
    ),
    // Jointly convex in (X, P) (CVXPY's `matrix_frac`), smooth where P ≻ 0.
    convex(
        Atom::MatrixFrac,
        "matrix_frac",
        "tr(Xᵀ P⁻¹ X) (xᵀP⁻¹x for a vector), P symmetric ≻ 0",
        values(&["X", "P"]),
        matrix_frac_shape,
        nonneg,
        not_monotone,
        Smoothness::Smooth,
        cone_sdp,
    ),
    convex(
        Atom::QuadForm,
        "quad_form",
        "xᵀ P x, P a `psd` parameter",
        Signature {
            params: &["x", "P"],
            required: 2,
            variadic: false,
            axis: false,
            kind: ArgKind::Values,
            data_only: &[(1, "`P` must be data (a `psd` parameter): xᵀPx with variable P is not convex")],
        },
        quad_form_shape,
        nonneg,
        by_sign,
        Smoothness::Smooth,
        cone_quadratic,
    ),
    AtomInfo {
        domain: Domain::All,
        ..convex(
            Atom::QuadOverLin,
            "quad_over_lin",
            "Σ xᵢ² / t, for t > 0",
            values(&["x", "t"]),
            quad_over_lin_shape,
            nonneg,
            quad_over_lin_mono,
            Smoothness::Smooth,
            quad_over_lin_cone,
        )
    },
    convex(
        Atom::Pos,
        "pos",
        "max(xᵢ, 0) elementwise",
        UNARY,
        same_shape,
        nonneg,
        increasing,
        Smoothness::ConvexKink,
        cone_pwl,
    ),
    convex(
        Atom::Maximum,
        "maximum",
        "elementwise maximum of its arguments (broadcast)",
        Signature {
            params: &["a", "b"],
            required: 2,
            variadic: true,
            axis: false,
            kind: ArgKind::Values,
            data_only: &[],
        },
        broadcast_all,
        max_sign,
        increasing,
        Smoothness::ConvexKink,
        cone_pwl,
    ),
    convex(
        Atom::Max,
        "max",
        "maxᵢ xᵢ (or along `axis`)",
        REDUCE_SIG,
        reduce,
        first_sign,
        increasing,
        Smoothness::ConvexKink,
        cone_pwl,
    ),
    AtomInfo {
        defaults: &[1.0],
        ..convex(
            Atom::Huber,
            "huber",
            "x² if |x| ≤ M, else 2M|x| − M² (elementwise; M = 1 by default)",
            Signature {
                params: &["x", "M"],
                required: 1,
                variadic: false,
                axis: false,
                kind: ArgKind::Values,
                data_only: &[(1, "the threshold `M` must be data")],
            },
            huber_shape,
            nonneg,
            by_sign,
            Smoothness::C1,
            cone_quadratic,
        )
    },
    convex(Atom::Exp, "exp", "eˣ elementwise", UNARY, same_shape, nonneg, increasing, Smoothness::Smooth, cone_exp),
    convex(
        Atom::LogSumExp,
        "log_sum_exp",
        "log Σ exp xᵢ (or along `axis`)",
        REDUCE_SIG,
        reduce,
        unknown_sign,
        increasing,
        Smoothness::Smooth,
        cone_exp,
    ),
    AtomInfo {
        domain: Domain::Pos,
        barrier: true,
        ..convex(
            Atom::InvPos,
            "inv_pos",
            "1/x for x > 0",
            UNARY,
            same_shape,
            nonneg,
            decreasing,
            Smoothness::Smooth,
            cone_soc,
        )
    },
    AtomInfo {
        domain: Domain::Nonneg,
        barrier: true,
        ..convex(
            Atom::Xlogx,
            "xlogx",
            "x log x (0 at 0)",
            UNARY,
            same_shape,
            unknown_sign,
            not_monotone,
            Smoothness::Smooth,
            cone_exp,
        )
    },
    AtomInfo {
        domain: Domain::Nonneg,
        barrier: true,
        ..convex(
            Atom::KlDiv,
            "kl_div",
            "x log(x/y) − x + y elementwise",
            values(&["x", "y"]),
            broadcast_all,
            nonneg,
            not_monotone,
            Smoothness::Smooth,
            cone_exp,
        )
    },
    convex(
        Atom::Logistic,
        "logistic",
        "log(1 + eˣ) elementwise",
        UNARY,
        same_shape,
        nonneg,
        increasing,
        Smoothness::Smooth,
        cone_exp,
    ),
];
