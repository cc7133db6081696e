//! The DCP rewrite stage's corpus: convex problems written as people write
//! them (not DCP as written), each with its family after rewriting and the
//! reference its rewritten cone program is checked against, and those the
//! stage does not rewrite yet, with why. Shared by tests/suite/rewrite.rs and
//! benches/dcp_rewrite.rs (included there by path).
//!
//! Every output occurs in every entry, pinned where the expression rewritten
//! does not involve it (`(y - 1)^2`, or `y` on an LP, which puts it on its
//! bound `y >= 0`), and the vector `x` is pulled away from the kink or centre
//! of the rewritten term (`sum_squares(x)`) so that its gradients depend on
//! that term's curvature.

use ddn::ir::Family;

/// The node every corpus entry is a body of.
pub const HEAD: &str = "node f(a: real[3], b: real[4], A: real[4, 3], Z: real[4, 3], c: pos, q: nonneg, r: real) \
    -> (x: real[3], u: real, v: real, y: pos)";

/// What an entry's rewritten cone program (`solve using ipm`) is checked
/// against, besides central differences of its own re-solves.
pub enum Reference {
    /// The smooth path (Newton, or the smooth interior method under
    /// constraints) on the text as written: the entry is smooth as written.
    Smooth,
    /// The entry is not smooth as written (why), so the smooth path does not
    /// take it: an equal body written in DCP with ddn's atoms, solved by the
    /// interior point method through a different reduction.
    Dcp(&'static str, &'static str),
}

pub struct Entry {
    pub body: &'static str,
    /// Its family after rewriting (the cone program `solve using ipm` solves).
    pub family: Family,
    pub reference: Reference,
}

const fn smooth(body: &'static str, family: Family) -> Entry {
    Entry { body, family, reference: Reference::Smooth }
}

const fn dcp(body: &'static str, family: Family, written: &'static str, why: &'static str) -> Entry {
    Entry { body, family, reference: Reference::Dcp(written, why) }
}

pub const CORPUS: &[Entry] = &[
    // norms and cones
    smooth(
        "minimize c^2 * sum(sqrt(1 + sum((Z - x)^2, axis = 1) / c^2) - 1) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2",
        Family::Socp,
    ),
    smooth(
        "minimize sum(c^2 * (sqrt(1 + ((x - a) / c)^2) - 1)) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2",
        Family::Socp,
    ),
    smooth("minimize sum(sqrt(1 + (x - a)^2)) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2", Family::Socp),
    smooth("minimize sum(sqrt((x - a)^2 + 1)) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2", Family::Socp),
    smooth("minimize sqrt(1 + sum_squares(x - a)) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2", Family::Socp),
    smooth("minimize sqrt(1 + sum((x - a)^2)) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2", Family::Socp),
    dcp(
        "minimize sqrt(sum((x - a)^2)) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2",
        Family::Socp,
        "minimize norm(x - a) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2",
        "a norm: a kink at x = a",
    ),
    dcp(
        "minimize sqrt(sum_squares(A @ x - b)) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2",
        Family::Socp,
        "minimize norm(A @ x - b) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2",
        "a norm: a kink where A x = b",
    ),
    smooth(
        "minimize sqrt(c^2 + sum_squares(x - a)) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2",
        Family::Socp,
    ),
    smooth(
        "minimize c^2 * sqrt(1 + sum_squares(x - a) / c^2) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2",
        Family::Socp,
    ),
    smooth("maximize -sqrt(1 + sum_squares(x - a)) - sum_squares(x) - (u - 1)^2 - (v - 1)^2 - (y - 1)^2", Family::Socp),
    dcp(
        "minimize sum(sqrt(q + (x - a)^2)) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2",
        Family::Socp,
        "minimize norm(hstack(sqrt(q) * ones(1), (x[0] - a[0]) * ones(1))) \
         + norm(hstack(sqrt(q) * ones(1), (x[1] - a[1]) * ones(1))) \
         + norm(hstack(sqrt(q) * ones(1), (x[2] - a[2]) * ones(1))) \
         + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2",
        "q may be 0, where it has a kink at x = a",
    ),
    dcp(
        "minimize sqrt(u * u + 1) + (u - r)^2 + (v - 1)^2 + (y - 1)^2 + sum_squares(x - a)",
        Family::Socp,
        "minimize norm(hstack(u * ones(1), ones(1))) + (u - r)^2 + (v - 1)^2 + (y - 1)^2 + sum_squares(x - a)",
        "`u * u` is not proved nonnegative as written, so neither is the root's argument",
    ),
    smooth(
        "minimize sum(a * x) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2\n subject to { sqrt(1 + sum_squares(x)) <= 3 }",
        Family::Socp,
    ),
    // powers and roots
    dcp(
        "minimize sum(sqrt((A @ x - b)^2)) + abs(u - 1) + abs(v - 1) + y",
        Family::Lp,
        "minimize norm1(A @ x - b) + abs(u - 1) + abs(v - 1) + y",
        "absolute values: kinks at the solution",
    ),
    dcp(
        "minimize sum(((x - a)^2)^0.5) + abs(u - 1) + abs(v - 1) + y",
        Family::Lp,
        "minimize norm1(x - a) + abs(u - 1) + abs(v - 1) + y",
        "absolute values: kinks at the solution",
    ),
    dcp(
        "minimize sqrt((u - 2)^2) + abs(v - 1) + y + norm1(x - a)",
        Family::Lp,
        "minimize abs(u - 2) + abs(v - 1) + y + norm1(x - a)",
        "absolute values: kinks at the solution",
    ),
    dcp(
        "minimize (sqrt(y))^2 + abs(u - 1) + abs(v - 1) + norm1(x - a)",
        Family::Lp,
        "minimize y + abs(u - 1) + abs(v - 1) + norm1(x - a)",
        "absolute values: kinks at the solution",
    ),
    // fractions
    smooth("minimize u^2 / y + y + (u - 2 * c)^2 + (v - 1)^2 + sum_squares(x - a)", Family::Socp),
    smooth("minimize u * u / y + y + (u - 2 * c)^2 + (v - 1)^2 + sum_squares(x - a)", Family::Socp),
    smooth("minimize sum_squares(x - a) / y + sum_squares(x) + (y - 1)^2 + (u - 1)^2 + (v - 1)^2", Family::Socp),
    smooth("minimize sum((x - a)^2) / y + sum_squares(x) + (y - 1)^2 + (u - 1)^2 + (v - 1)^2", Family::Socp),
    smooth("minimize 1 / y + c * y + (u - 1)^2 + (v - 1)^2 + sum_squares(x - a)", Family::Socp),
    smooth("minimize c / y + y + (u - 1)^2 + (v - 1)^2 + sum_squares(x - a)", Family::Socp),
    smooth("minimize sum_squares(x - a) + (u - c)^2 + (v - 1)^2 + y\n subject to { u^2 / y <= 1 }", Family::Socp),
    // exp and log
    smooth("minimize log(exp(u) + exp(v)) + (u - r)^2 + v^2 + (y - 1)^2 + sum_squares(x - a)", Family::Exp),
    smooth("minimize sum(log(exp(x) + exp(a))) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2", Family::Exp),
    smooth("minimize log(sum(exp(x - a))) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2", Family::Exp),
    smooth("minimize sum(log(1 + exp(x - a))) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2", Family::Exp),
    smooth(
        "minimize sum(log(sum(exp(Z - x), axis = 1))) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + (y - 1)^2",
        Family::Exp,
    ),
    smooth("minimize exp(u) * exp(v) + (u - r)^2 + v^2 + (y - 1)^2 + sum_squares(x - a)", Family::Exp),
    smooth("minimize exp(u) / exp(v) + (u - r)^2 + v^2 + (y - 1)^2 + sum_squares(x - a)", Family::Exp),
    dcp(
        "minimize sum(log(exp(A @ x - b))) + 4 * norm1(x - a) + abs(u - 1) + abs(v - 1) + y",
        Family::Lp,
        "minimize sum(A @ x - b) + 4 * norm1(x - a) + abs(u - 1) + abs(v - 1) + y",
        "absolute values: kinks at the solution",
    ),
    smooth("maximize log(y^3) - c * y - (u - 1)^2 - (v - 1)^2 - sum_squares(x - a)", Family::Exp),
    smooth("maximize log(y^2 / c) - c * y - (u - 1)^2 - (v - 1)^2 - sum_squares(x - a)", Family::Exp),
];

/// Convex, but not rewritten: what the stage lacks for each.
pub const NOT_YET: &[(&str, &str)] = &[
    // √(y·v) is the geometric mean: no `geo_mean` atom (a hypograph cone) yet
    ("maximize sqrt(y * c) - y - (u - 1)^2 - (v - 1)^2 - sum_squares(x - a)", "no geo_mean atom"),
    // elementwise x²/y of vectors: `quad_over_lin` takes a scalar y
    ("minimize sum((x - a)^2 / y) + y + (u - 1)^2 + (v - 1)^2", "quad_over_lin of vectors is a sum, not elementwise"),
    // √(1 + z⁴) is ‖(1, z²)‖: needs a rule for a square inside the cone
    ("minimize sum(sqrt(1 + (x - a)^4)) + (u - 1)^2 + (v - 1)^2 + y", "no rule for powers above 2 inside a root"),
    // √(eˣ) = e^(x/2): no rule for roots of exponentials
    ("minimize sum(sqrt(exp(x) + 1)) + sum_squares(x - a) + (u - 1)^2 + (v - 1)^2 + y", "no root-of-exp rule"),
];
