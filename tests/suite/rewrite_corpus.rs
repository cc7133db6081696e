//! The DCP rewrite stage's corpus: convex problems written as people write
//! them (not DCP as written), each with its family after rewriting, and those
//! the stage does not rewrite yet, with why. Shared by tests/suite/rewrite.rs
//! and benches/dcp_rewrite.rs (included there by path).

use ddn::ir::Family;

/// The node every corpus entry is a body of.
pub const HEAD: &str = "node f(a: real[3], b: real[4], A: real[4, 3], Z: real[4, 3], c: pos, q: nonneg, r: real) \
    -> (x: real[3], u: real, v: real, y: pos)";

/// (body, family after rewriting; `None`: convex, needing the exponential cone).
pub const CORPUS: &[(&str, Option<Family>)] = &[
    // norms and cones
    (
        "minimize c^2 * sum(sqrt(1 + sum((Z - x)^2, axis = 1) / c^2) - 1) + (u - 1)^2 + (v - 1)^2 + y",
        Some(Family::Socp),
    ),
    ("minimize sum(c^2 * (sqrt(1 + ((x - a) / c)^2) - 1)) + (u - 1)^2 + (v - 1)^2 + y", Some(Family::Socp)),
    ("minimize sum(sqrt(1 + (x - a)^2)) + (u - 1)^2 + (v - 1)^2 + y", Some(Family::Socp)),
    ("minimize sum(sqrt((x - a)^2 + 1)) + (u - 1)^2 + (v - 1)^2 + y", Some(Family::Socp)),
    ("minimize sqrt(1 + sum_squares(x - a)) + (u - 1)^2 + (v - 1)^2 + y", Some(Family::Socp)),
    ("minimize sqrt(1 + sum((x - a)^2)) + (u - 1)^2 + (v - 1)^2 + y", Some(Family::Socp)),
    ("minimize sqrt(sum((x - a)^2)) + (u - 1)^2 + (v - 1)^2 + y", Some(Family::Socp)),
    ("minimize sqrt(sum_squares(A @ x - b)) + (u - 1)^2 + (v - 1)^2 + y", Some(Family::Socp)),
    ("minimize sqrt(c^2 + sum_squares(x - a)) + (u - 1)^2 + (v - 1)^2 + y", Some(Family::Socp)),
    ("minimize c^2 * sqrt(1 + sum_squares(x - a) / c^2) + (u - 1)^2 + (v - 1)^2 + y", Some(Family::Socp)),
    ("maximize -sqrt(1 + sum_squares(x - a)) - (u - 1)^2 - (v - 1)^2 - y", Some(Family::Socp)),
    ("minimize sum(sqrt(q + (x - a)^2)) + (u - 1)^2 + (v - 1)^2 + y", Some(Family::Socp)),
    ("minimize sqrt(u * u + 1) + (v - 1)^2 + y + sum_squares(x - a)", Some(Family::Socp)),
    ("minimize sum(x) + (u - 1)^2 + (v - 1)^2 + y\n subject to { sqrt(1 + sum_squares(x)) <= 3 }", Some(Family::Socp)),
    // powers and roots
    ("minimize sum(sqrt((x - a)^2)) + abs(u - 1) + abs(v - 1) + y", Some(Family::Lp)),
    ("minimize sum(((x - a)^2)^0.5) + abs(u - 1) + abs(v - 1) + y", Some(Family::Lp)),
    ("minimize sqrt((u - 2)^2) + abs(v - 1) + y + norm1(x - a)", Some(Family::Lp)),
    ("minimize (sqrt(y))^2 + abs(u - 1) + abs(v - 1) + norm1(x - a)", Some(Family::Lp)),
    // fractions
    ("minimize u^2 / y + y + (u - 2)^2 + (v - 1)^2 + sum_squares(x - a)", Some(Family::Socp)),
    ("minimize u * u / y + y + (u - 2)^2 + (v - 1)^2 + sum_squares(x - a)", Some(Family::Socp)),
    ("minimize sum_squares(x - a) / y + y + (u - 1)^2 + (v - 1)^2", Some(Family::Socp)),
    ("minimize sum((x - a)^2) / y + y + (u - 1)^2 + (v - 1)^2", Some(Family::Socp)),
    ("minimize 1 / y + y + (u - 1)^2 + (v - 1)^2 + sum_squares(x - a)", Some(Family::Socp)),
    ("minimize c / y + y + (u - 1)^2 + (v - 1)^2 + sum_squares(x - a)", Some(Family::Socp)),
    ("minimize sum_squares(x - a) + (u - 1)^2 + (v - 1)^2 + y\n subject to { u^2 / y <= 1 }", Some(Family::Socp)),
    // exp and log
    ("minimize log(exp(u) + exp(v)) + u^2 + v^2 + y + sum_squares(x - a)", None),
    ("minimize sum(log(exp(x) + exp(a))) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + y", None),
    ("minimize log(sum(exp(x - a))) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + y", None),
    ("minimize sum(log(1 + exp(x - a))) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + y", None),
    ("minimize sum(log(sum(exp(Z - x), axis = 1))) + sum_squares(x) + (u - 1)^2 + (v - 1)^2 + y", None),
    ("minimize exp(u) * exp(v) + u^2 + v^2 + y + sum_squares(x - a)", None),
    ("minimize exp(u) / exp(v) + u^2 + v^2 + y + sum_squares(x - a)", None),
    ("minimize sum(log(exp(A @ x))) + abs(u - 1) + abs(v - 1) + y + norm1(x)", Some(Family::Lp)),
    ("maximize log(y^3) - y - (u - 1)^2 - (v - 1)^2 - sum_squares(x - a)", None),
    ("maximize log(y^2 / c) - y - (u - 1)^2 - (v - 1)^2 - sum_squares(x - a)", None),
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
