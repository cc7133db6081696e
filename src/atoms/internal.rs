//! Internal atoms: the operations derivatives and the DCP rewrite stage need that
//! the surface language does not offer. They are absent from [`super::all`], so
//! [`super::lookup`] (the only way source text names an atom) never finds them;
//! only [`crate::symbolic`] and [`crate::dcp::rewrite`] build them.
//!
//! - `spread(c, axis)`: the adjoint of `sum(·, axis)` and of numpy broadcasting:
//!   copies `c` over the expression's shape (along rows for `axis = 1`).
//! - `sum_to(c)`: the adjoint of broadcasting: sums `c` down to the expression's shape.
//! - `sign(x)`, `step(x) = [x > 0]`, `ge(a, b) = [a ≥ b]`: the derivatives of
//!   `abs`, `pos`, `maximum`/`max` on each smooth piece (constant there).
//! - `outer(a, b) = a bᵀ`: the adjoint of a matrix–vector product.
//! - `hypot(a, x) = √(a² + x²)` elementwise, or `√(a² + Σ x²)` along `axis`
//!   (`‖(a, x)‖₂` per entry or per row/column): the second-order cone the rewrite
//!   stage finds in `sqrt(c + z^2)`-shaped expressions (pseudo-Huber), convex and,
//!   like `norm`, nondecreasing in each argument where it is nonnegative.

use super::*;

/// The target shape is the expression's own; the arguments do not determine it.
fn carried(_: &ShapeArgs) -> Result<Shape, String> {
    Err("internal atom: its shape is carried by the expression".into())
}

fn outer_shape(a: &ShapeArgs) -> Result<Shape, String> {
    match (a.shapes[0].0.as_slice(), a.shapes[1].0.as_slice()) {
        ([m], [n]) => Ok(Shape::matrix(*m, *n)),
        _ => Err("`outer` takes two vectors".into()),
    }
}

/// `hypot(a, x)`: `x`'s shape (reduced along `axis` when given), broadcast with `a`'s.
fn hypot_shape(a: &ShapeArgs) -> Result<Shape, String> {
    let x = if a.axis.is_some() {
        reduce(&ShapeArgs { shapes: &a.shapes[1..], axis: a.axis, sizes: a.sizes, show: a.show })?
    } else {
        a.shapes[1].clone()
    };
    x.broadcast(&a.shapes[0]).ok_or_else(|| "`hypot` shapes do not broadcast".into())
}

/// A piecewise-constant indicator: zero derivative wherever it is defined.
const fn indicator(atom: Atom, name: &'static str, doc: &'static str, params: &'static [&'static str]) -> AtomInfo {
    AtomInfo {
        atom,
        name,
        doc,
        sig: values(params),
        defaults: &[],
        shape: broadcast_all,
        sign: unknown_sign,
        curvature: Curvature::Unknown,
        mono: not_monotone,
        smoothness: Smoothness::Nonsmooth,
        cone: cone_other,
        domain: Domain::All,
        barrier: false,
    }
}

/// A linear map of its argument(s).
const fn linear(
    atom: Atom,
    name: &'static str,
    doc: &'static str,
    params: &'static [&'static str],
    shape: fn(&ShapeArgs) -> Result<Shape, String>,
) -> AtomInfo {
    AtomInfo {
        atom,
        name,
        doc,
        sig: values(params),
        defaults: &[],
        shape,
        sign: unknown_sign,
        curvature: Curvature::Unknown,
        mono: not_monotone,
        smoothness: Smoothness::Smooth,
        cone: cone_other,
        domain: Domain::All,
        barrier: false,
    }
}

pub(super) const ATOMS: &[AtomInfo] = &[
    linear(Atom::Spread, "spread", "c copied over the result's shape (the adjoint of sum)", &["c"], carried),
    linear(Atom::SumTo, "sum_to", "c summed down to the result's shape (the adjoint of broadcasting)", &["c"], carried),
    linear(Atom::Outer, "outer", "a bᵀ for vectors a, b", &["a", "b"], outer_shape),
    indicator(Atom::Sign, "sign", "sign x elementwise (0 at 0)", &["x"]),
    indicator(Atom::Step, "step", "1 where x > 0, else 0", &["x"]),
    indicator(Atom::Ge, "ge", "1 where a ≥ b, else 0 (broadcast)", &["a", "b"]),
    AtomInfo {
        atom: Atom::Hypot,
        name: "hypot",
        doc: "√(a² + xᵢ²) elementwise, or √(a² + Σ x²) along `axis` (broadcast)",
        sig: Signature {
            params: &["a", "x"],
            required: 2,
            variadic: false,
            axis: true,
            kind: ArgKind::Values,
            data_only: &[],
        },
        defaults: &[],
        shape: hypot_shape,
        sign: nonneg,
        curvature: Curvature::Convex,
        mono: by_sign,
        smoothness: Smoothness::ConvexKink,
        cone: cone_soc,
        domain: Domain::All,
        barrier: false,
    },
];
