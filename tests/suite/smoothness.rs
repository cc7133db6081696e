//! Smoothness from domains: an atom defined at 0 but smooth only on the open
//! domain `x > 0` (`sqrt`, `entr`, `xlogx`, `kl_div`, fractional powers) is
//! claimed smooth only where the analysis proves its argument positive;
//! elsewhere its boundary is a kink that attracts minimisers (concave atoms
//! minimised) or a barrier that repels them (convex atoms minimised). `log` and
//! `inv_pos`, defined only for `x > 0`, are smooth wherever they are defined.

use ddn::ir::Family;

use super::rendered;

/// The family of the one node in `src`, or the rendered errors.
fn family(src: &str) -> Result<Family, String> {
    let c = ddn::compile("t.ddn", src);
    if c.has_errors() {
        return Err(rendered(&c));
    }
    Ok(c.program.nodes[0].class.family)
}

#[test]
fn sqrt_of_an_expression_that_can_reach_zero_is_not_smooth() {
    // Issue 18's node: norm1(A @ x − b) written as a sum of square roots of
    // squares (the DCP rewrite stage finds `abs` there: an LP), with a term no
    // rule makes DCP, so that the verdict on the text as written stands.
    let e = family(
        "node f(A: real[m, n], b: real[m]) -> x: real[n] {\n    minimize sum(sqrt((A @ x - b)^2)) + sum(sin(x))\n}",
    )
    .expect_err("not smooth");
    assert!(e.contains("neither DCP-representable (LP/QP/SOCP) nor smooth"), "{e}");
    assert!(e.contains("not smooth: `sqrt` is smooth only where its argument is positive"), "{e}");
    assert!(e.contains("nothing proves this positive"), "{e}");
    // The same for a bare variable of unknown sign, a nonnegative one, and `entr`
    // and a fractional power of a square.
    for body in [
        "minimize sum(sqrt(x)) + sum_squares(x - a)",
        "minimize sum(sqrt(y)) - sum(sin(x))",
        "minimize sum(entr(x^2)) + sum_squares(x - a)",
        "minimize sum((x^2)^0.75) + sum(sin(x - a))",
    ] {
        let src = format!("node f(a: real[3]) -> (x: real[3], y: nonneg[3]) {{ {body} }}");
        let e = family(&src).expect_err(body);
        assert!(e.contains("is smooth only where its argument is positive"), "{body}: {e}");
    }
}

#[test]
fn atoms_of_arguments_proved_positive_are_smooth() {
    for body in [
        // sqrt(1 + z²): a positive constant plus a square.
        "minimize sum(sqrt(1 + (x - a)^2))",
        "minimize sum(log(1 + exp(x - a))) + sum(sqrt(exp(x) + x^2)) - sum(x)",
        "minimize sum(inv_pos(sigmoid(x))) + sum_squares(x - a)",
        "minimize sum(sqrt(p)) + sum(p) - 2 * sum(log(p)) + sum_squares(x - a)",
        "minimize sum(log(x^2)) + sum(inv_pos(x^2)) + sum_squares(x - a)",
        "minimize sum((1 + x^2)^0.5 * (1 + x^2)^0.5) + sum_squares(x - a)",
    ] {
        // on the text as written (some of these are DCP after rewriting)
        let src = format!("node f(a: real[3]) -> (x: real[3], p: pos[3]) {{ {body}; solve using newton }}");
        let c = ddn::compile("t.ddn", &src);
        assert!(!c.has_errors(), "{body}:\n{}", rendered(&c));
        assert_eq!(c.program.nodes[0].class.family, Family::SmoothUnconstrained, "{body}");
        assert!(c.program.nodes[0].class.notes.iter().all(|n| !n.contains("piecewise")), "{body}");
    }
}

/// A convex atom's boundary repels minimisers (its slope is −∞ or its value
/// +∞ there): minimised, the node is smooth around its solution; maximised (a
/// concave atom minimised) the boundary attracts them, and the node is refused.
#[test]
fn a_barrier_repels_minimisers_and_attracts_maximisers() {
    let entropy = "node f(z: real[n]) -> p: nonneg[n] { maximize z @ p + sum(entr(p)); subject to { sum(p) == 1 } }";
    assert_eq!(family(entropy), Ok(Family::SmoothEquality));
    let xlogx = "node f(z: real[n]) -> p: nonneg[n] { minimize sum(xlogx(p)) - z @ p }";
    assert_eq!(family(xlogx), Ok(Family::SmoothUnconstrained));
    let wrong_way = "node f(z: real[n]) -> p: nonneg[n] { minimize sum(entr(p)) + sum_squares(p - z) }";
    let e = family(wrong_way).expect_err("entr minimised");
    assert!(e.contains("not smooth: `entr` is smooth only where its argument is positive"), "{e}");
}
