//! Affine atoms: sums, traces, diagonals, constant matrices, concatenation.

use super::*;

const REDUCE_SIG: Signature =
    Signature { params: &["x"], required: 1, variadic: false, axis: true, kind: ArgKind::Values, data_only: &[] };

const SIZES: Signature =
    Signature { params: &["m", "n"], required: 1, variadic: false, axis: false, kind: ArgKind::Sizes, data_only: &[] };

fn trace_shape(a: &ShapeArgs) -> Result<Shape, String> {
    let s = &a.shapes[0];
    if s.rank() == 2 && s.0[0] == s.0[1] {
        Ok(Shape::scalar())
    } else {
        Err(format!("`trace` needs a square matrix, found `{}`", (a.show)(s)))
    }
}

/// `diag(x)`: vector → diagonal matrix; square matrix → its diagonal (numpy's rule).
fn diag_shape(a: &ShapeArgs) -> Result<Shape, String> {
    let s = &a.shapes[0];
    match s.rank() {
        1 => Ok(Shape::matrix(s.0[0], s.0[0])),
        2 if s.0[0] == s.0[1] => Ok(Shape::vector(s.0[0])),
        _ => Err(format!("`diag` needs a vector or a square matrix, found `{}`", (a.show)(s))),
    }
}

fn fill_shape(a: &ShapeArgs) -> Result<Shape, String> {
    Ok(Shape(a.sizes.to_vec()))
}

fn eye_shape(a: &ShapeArgs) -> Result<Shape, String> {
    match a.sizes {
        [n] => Ok(Shape::matrix(*n, *n)),
        [m, n] => Ok(Shape::matrix(*m, *n)),
        _ => Err("`eye` takes one or two sizes".into()),
    }
}

/// Sum of literal lengths; concatenating named dimensions would need symbolic
/// sums, which shapes do not have yet.
fn concat_len(ds: &[Dim], what: &str) -> Result<Dim, String> {
    let mut total = 0u64;
    for d in ds {
        match d {
            Dim::Fixed(v) => total += v,
            Dim::Named(_) => {
                return Err(format!(
                    "`{what}` along a named dimension is not supported yet: the joined length must be a literal"
                ))
            }
        }
    }
    Ok(Dim::Fixed(total))
}

/// `hstack`: vectors end to end; matrices side by side (equal row counts).
fn hstack_shape(a: &ShapeArgs) -> Result<Shape, String> {
    let r = a.shapes[0].rank();
    if a.shapes.iter().any(|s| s.rank() != r) || r == 0 {
        return Err("`hstack` needs all vectors or all matrices".into());
    }
    if r == 1 {
        let lens: Vec<Dim> = a.shapes.iter().map(|s| s.0[0]).collect();
        return Ok(Shape::vector(concat_len(&lens, "hstack")?));
    }
    let rows = a.shapes[0].0[0];
    if let Some(s) = a.shapes.iter().find(|s| s.0[0] != rows) {
        return Err(format!(
            "`hstack` needs equal row counts, found `{}` and `{}`",
            (a.show)(&a.shapes[0]),
            (a.show)(s)
        ));
    }
    let cols: Vec<Dim> = a.shapes.iter().map(|s| s.0[1]).collect();
    Ok(Shape::matrix(rows, concat_len(&cols, "hstack")?))
}

/// `vstack`: vectors become the rows of a matrix; matrices stack (equal column counts).
fn vstack_shape(a: &ShapeArgs) -> Result<Shape, String> {
    let r = a.shapes[0].rank();
    if a.shapes.iter().any(|s| s.rank() != r) || r == 0 {
        return Err("`vstack` needs all vectors or all matrices".into());
    }
    let cols = a.shapes[0].0[r - 1];
    if let Some(s) = a.shapes.iter().find(|s| s.0[r - 1] != cols) {
        return Err(format!("`vstack` needs equal lengths, found `{}` and `{}`", (a.show)(&a.shapes[0]), (a.show)(s)));
    }
    if r == 1 {
        return Ok(Shape::matrix(Dim::Fixed(a.shapes.len() as u64), cols));
    }
    let rows: Vec<Dim> = a.shapes.iter().map(|s| s.0[0]).collect();
    Ok(Shape::matrix(concat_len(&rows, "vstack")?, cols))
}

fn join_signs(s: &[Sign]) -> Sign {
    s.iter().copied().reduce(Sign::join).unwrap_or(Sign::Unknown)
}

fn zero(_: &[Sign]) -> Sign {
    Sign::Zero
}

const fn affine(
    atom: Atom,
    name: &'static str,
    doc: &'static str,
    sig: Signature,
    shape: fn(&ShapeArgs) -> Result<Shape, String>,
    sign: fn(&[Sign]) -> Sign,
) -> AtomInfo {
    AtomInfo {
        atom,
        name,
        doc,
        sig,
        defaults: &[],
        shape,
        sign,
        curvature: Curvature::Affine,
        mono: increasing,
        smoothness: Smoothness::Smooth,
        cone: cone_affine,
        domain: Domain::All,
        barrier: false,
    }
}

pub(super) const ATOMS: &[AtomInfo] = &[
    affine(Atom::Sum, "sum", "Σᵢ xᵢ (or along `axis`)", REDUCE_SIG, reduce, first_sign),
    affine(Atom::Mean, "mean", "(1/N) Σᵢ xᵢ (or along `axis`)", REDUCE_SIG, reduce, first_sign),
    affine(Atom::Trace, "trace", "Σᵢ Xᵢᵢ", values(&["X"]), trace_shape, unknown_sign),
    affine(
        Atom::Diag,
        "diag",
        "vector → diagonal matrix; square matrix → its diagonal",
        values(&["x"]),
        diag_shape,
        first_sign,
    ),
    affine(Atom::Ones, "ones", "the all-ones vector `ones(n)` or matrix `ones(m, n)`", SIZES, fill_shape, nonneg),
    affine(Atom::Zeros, "zeros", "the zero vector `zeros(n)` or matrix `zeros(m, n)`", SIZES, fill_shape, zero),
    affine(Atom::Eye, "eye", "the identity matrix `eye(n)` (or `eye(m, n)`)", SIZES, eye_shape, nonneg),
    affine(
        Atom::Hstack,
        "hstack",
        "concatenation along the last axis",
        Signature { params: &["a"], required: 1, variadic: true, axis: false, kind: ArgKind::Values, data_only: &[] },
        hstack_shape,
        join_signs,
    ),
    affine(
        Atom::Vstack,
        "vstack",
        "stacking along the first axis (vectors become rows)",
        Signature { params: &["a"], required: 1, variadic: true, axis: false, kind: ArgKind::Values, data_only: &[] },
        vstack_shape,
        join_signs,
    ),
];
