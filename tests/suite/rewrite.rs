//! The DCP rewrite stage (`dcp::rewrite`): a corpus of convex problems written
//! as people write them, their families after rewriting; side conditions that
//! block a rewrite; DCP nodes untouched; the forward each rewritten node gets
//! (the cone program when it is not smooth as written, the smooth path on the
//! text by default when it is, the cone program under `solve using ipm`); the
//! cone program against the smooth path and central differences; the family
//! of a sum independent of the order of its terms; `ddnc explain` pinned.

use ddn::dcp::rewrite::{RULES, VERDICT};
use ddn::eval::Tensor;
use ddn::ir::{Family, Node};
use ddn::runtime::{bind, forward, named_tensors};
use serde_json::json;

use super::backward::check;
use super::rewrite_corpus::{CORPUS, HEAD, NOT_YET};
use super::{rendered, Rng};

fn node(src: &str) -> Node {
    let c = ddn::compile("t.ddn", src);
    assert!(!c.has_errors(), "{src}\n{}", rendered(&c));
    c.program.nodes.into_iter().next().expect("node")
}

/// A node of the corpus head with `body` (its outputs that do not occur are
/// pinned by a small quadratic, so that every output is in the problem).
fn corpus_node(body: &str) -> Node {
    node(&format!("{HEAD} {{ {body} }}"))
}

fn rewritten(n: &Node) -> bool {
    n.class.notes.iter().any(|s| s.starts_with(RULES))
}

/// Every corpus entry is convex after rewriting. By default it is solved as
/// written when smooth as written (a smooth family) and as its DCP form
/// otherwise (that family); `solve using ipm` gives the DCP form's family.
#[test]
fn corpus_of_convex_problems_written_as_people_write_them() {
    let mut done = 0;
    for (body, family) in CORPUS {
        let n = corpus_node(body);
        assert!(rewritten(&n), "{body}: not rewritten\n{:?}", n.class);
        assert!(n.class.convex && n.class.reason.starts_with(VERDICT), "{body}: {:?}", n.class);
        let ipm = corpus_node(&format!("{body}\n solve using ipm"));
        assert!(rewritten(&ipm) && ipm.class.convex, "{body}: {:?}", ipm.class);
        match family {
            Some(f) => {
                assert_eq!(ipm.class.family, *f, "{body}: {:?}", ipm.class);
                assert!(n.class.family == *f || !n.class.family.is_conic(), "{body}: {:?}", n.class);
            }
            None => assert!(!n.class.family.is_conic() && !ipm.class.family.is_conic(), "{body}: {:?}", n.class),
        }
        done += 1;
    }
    for (body, why) in NOT_YET {
        let n = corpus_node(body);
        assert!(!rewritten(&n), "{body} ({why}) is rewritten now: move it to the corpus");
    }
    assert!(done >= 25 && CORPUS.len() + NOT_YET.len() >= 30);
}

/// `sum(sqrt((A @ x - b)^2))` is `norm1(A @ x - b)`: not smooth as written (a
/// kink at every zero residual) and not DCP as written (once a UI example of a
/// refused node), it is an LP after rewriting, solved by the interior point
/// method to norm1's optimal value.
#[test]
fn sqrt_of_a_square_is_an_lp() {
    let written = node(
        "node f(A: real[m, n], b: real[m]) -> x: real[n] {
            minimize sum(sqrt((A @ x - b)^2))
        }",
    );
    assert_eq!(written.class.family, Family::Lp, "{:?}", written.class);
    assert!(written.class.reason.starts_with(VERDICT), "{:?}", written.class);
    let norm1 = node(
        "node f(A: real[m, n], b: real[m]) -> x: real[n] {
            minimize norm1(A @ x - b)
        }",
    );
    let mut rng = Rng(5);
    let (m, n) = (7, 3);
    let a: Vec<Vec<f64>> = (0..m).map(|_| rng.vec(n)).collect();
    let inputs = json!({"A": a, "b": rng.vec(m)});
    let values = named_tensors(&inputs).expect("inputs");
    let objective = |node: &Node| {
        let s = forward(node, &bind(node, &values).expect("bind")).expect("forward");
        assert_eq!(s.status, ddn::runtime::Status::Optimal);
        let x = &s.outputs[0].1.data;
        (0..m)
            .map(|i| ((0..n).map(|j| a[i][j] * x[j]).sum::<f64>() - inputs["b"][i].as_f64().unwrap()).abs())
            .sum::<f64>()
    };
    let (p, q) = (objective(&written), objective(&norm1));
    assert!((p - q).abs() <= 1e-7 * (1.0 + q), "{p} vs {q}");
}

/// The family of a sum does not depend on the order of its terms: a convex
/// quadratic plus a piecewise-linear term is a QP either way round (the cone
/// classes of a sum's terms are joined before composing).
#[test]
fn family_of_a_sum_does_not_depend_on_term_order() {
    let head = "node f(a: real[3]) -> x: real[3]";
    for (p, q, family) in [
        ("sum_squares(x - a)", "norm1(x)", Family::Qp),
        ("sum_squares(x - a)", "sum(abs(x))", Family::Qp),
        ("sum(square(x))", "max(x - a)", Family::Qp),
        ("norm(x - a)", "sum_squares(x)", Family::Socp),
        ("sum(x)", "norm1(x - a)", Family::Lp),
    ] {
        for body in [format!("{p} + {q}"), format!("{q} + {p}"), format!("{q} + 2 * {p} + {q}")] {
            let n = node(&format!("{head} {{ minimize {body} }}"));
            assert_eq!(n.class.family, family, "{body}: {:?}", n.class);
        }
    }
}

/// Each side condition, unmet, leaves the node as it was.
#[test]
fn unmet_side_conditions_block_the_rewrite() {
    for body in [
        // x²/y with y of unknown sign (quad_over_lin needs y > 0)
        "minimize u^2 / v + (u - 1)^2 + y + sum_squares(x - a)",
        // 1/u for u of unknown sign
        "minimize 1 / u + (v - 1)^2 + y + sum_squares(x - a)",
        // √(r + z²) with r of unknown sign is no norm
        "minimize sum(sqrt(r + (x - a)^2)) + (u - 1)^2 + (v - 1)^2 + y",
        // (√u)² is u only where u ≥ 0, which is not known
        "minimize sqrt(u)^2 + (u - 1)^2 + (v - 1)^2 + y + sum_squares(x - a)",
    ] {
        let src = format!("{HEAD} {{ {body} }}");
        let c = ddn::compile("t.ddn", &src);
        if let Some(n) = c.program.nodes.first() {
            assert!(!rewritten(n) && !n.class.family.is_conic(), "{body}: {:?}", n.class);
        }
    }
}

/// Rewriting never changes a problem that is already DCP: every DCP node of the
/// stdlib keeps its text and its verdict.
#[test]
fn dcp_nodes_are_not_rewritten() {
    for path in super::ddn_files(&super::root().join("stdlib")) {
        let c = super::compile_path(&path);
        for n in &c.program.nodes {
            if n.class.reason.starts_with("DCP-convex") {
                assert!(!rewritten(n), "{}: {:?}", n.name, n.class);
            }
        }
    }
    let n = corpus_node("minimize u^2 / c + norm(x - a) + (v - 1)^2 + y");
    assert!(n.class.reason.starts_with("DCP-convex") && !rewritten(&n));
}

const POOL_ROWS: &str = "node pool(x: real[n, d], alpha: pos) -> y: real[d] {
    minimize alpha^2 * sum(sqrt(1 + sum((x - y)^2, axis = 1) / alpha^2) - 1)
    init y = mean(x, axis = 0)
    SOLVE
}";

const POOL_ENTRIES: &str = "node pool(x: real[n, d], alpha: pos) -> y: real[d] {
    minimize sum(alpha^2 * (sqrt(1 + ((x - y) / alpha)^2) - 1))
    init y = mean(x, axis = 0)
    SOLVE
}";

const QUAD_OVER_LIN: &str = "node f(a: real, b: pos) -> (u: real, y: pos) {
    minimize u^2 / y + b * y + (u - a)^2
    SOLVE
    init y = 1
}";

/// The motivating example of the issue and its elementwise twin (the stdlib's
/// pseudo-Huber pooling) are SOCPs after rewriting, and smooth as written, so
/// by default they keep the smooth forward on the text (Newton: the faster
/// path), convex; `solve using ipm` solves the cone program. The interior point
/// method on the rewritten form finds Newton's minimiser, and the conic
/// backward pass agrees with the smooth path's implicit gradients, which agree
/// with central differences of Newton's re-solves. (Central differences of the
/// interior point method's re-solves are no reference here: at tol = 1e-12 a
/// polished SOCP point can sit ~1e-6 from the optimum along a flat direction,
/// which h = 1e-5 turns into a 10% error.)
#[test]
fn rewritten_nodes_solve_as_the_text_as_written() {
    let mut rng = Rng(11);
    let x: Vec<Vec<f64>> =
        (0..7).map(|i| rng.vec(3).iter().map(|v| v + if i == 0 { 4.0 } else { 0.0 }).collect()).collect();
    let pool = json!({"x": x, "alpha": 0.7});
    let cases = [(POOL_ROWS, pool.clone()), (POOL_ENTRIES, pool), (QUAD_OVER_LIN, json!({"a": 1.5, "b": 0.8}))];
    for (src, inputs) in cases {
        let conic = node(&src.replace("SOLVE", "solve using ipm"));
        let smooth = node(&src.replace("SOLVE", ""));
        assert_eq!(conic.class.family, Family::Socp, "{src}");
        assert!(conic.class.reason.starts_with(VERDICT), "{src}: {:?}", conic.class);
        assert!(!smooth.class.family.is_conic() && smooth.class.convex, "{src}: {:?}", smooth.class);
        assert!(smooth.class.reason.starts_with(VERDICT) && rewritten(&smooth), "{src}: {:?}", smooth.class);
        let b = bind(&conic, &named_tensors(&inputs).expect("inputs")).expect("bind");
        let mut sc = forward(&conic, &b).expect("conic forward");
        let ss = forward(&smooth, &b).expect("smooth forward");
        assert_eq!(ss.status, ddn::runtime::Status::Optimal, "{src}");
        let mut cot = Vec::new();
        for ((name, yc), (_, ys)) in sc.outputs.iter().zip(&ss.outputs) {
            for (p, q) in yc.data.iter().zip(&ys.data) {
                assert!((p - q).abs() <= 1e-6 * (1.0 + q.abs()), "{src} {name}: {yc:?} vs {ys:?}");
            }
            cot.push((name.clone(), Tensor { shape: yc.shape.clone(), data: rng.vec(yc.data.len()) }));
        }
        let gc = ddn::diff::backward(&conic, &b, &mut sc, &cot).expect("conic backward");
        let gs = check(&smooth, inputs, cot);
        for (a, b) in gc.iter().zip(&gs) {
            for (p, q) in a.data.iter().zip(&b.data) {
                assert!((p - q).abs() <= 1e-5 * (1.0 + q.abs()), "{src}: {a:?} vs {b:?}");
            }
        }
    }
}

/// `ddnc explain` of rewritten nodes: the rules used, in order, and the
/// rewritten problem — with its standard form when the cone program solves it
/// (`solve using ipm`, or an LP like `sqrt(x^2)` by default), with the DCP form
/// and the smooth derivation when the text as written is solved (the default
/// for the smooth pooling node).
#[test]
fn explain_rewritten_nodes() {
    let pool = json!({"x": [[0.1, 2.0], [0.3, -0.2], [3.5, 0.4]], "alpha": 0.8});
    let ipm = "solve using ipm";
    let cases = [
        (POOL_ROWS.replace("SOLVE", ""), None),
        (POOL_ENTRIES.replace("SOLVE", ipm), Some(pool)),
        (QUAD_OVER_LIN.replace("SOLVE", ipm), Some(json!({"a": 1.5, "b": 0.8}))),
        (
            "node f(A: real[m, n], b: real[m]) -> x: real[n] { minimize sum(sqrt((A @ x - b)^2)) }".into(),
            Some(json!({"A": [[1.0, 0.5], [0.2, -1.0], [0.3, 0.3]], "b": [1.0, 0.0, -1.0]})),
        ),
    ];
    let mut report = String::new();
    for (src, inputs) in cases {
        let n = node(&src);
        let k = inputs.map(|inputs| {
            let b = bind(&n, &named_tensors(&inputs).expect("inputs")).expect("bind");
            ddn::canon::canonicalize(&n, &b).expect("canonicalize")
        });
        report.push_str(&ddn::report::explain_text(&n, k.as_ref()));
    }
    insta::assert_snapshot!("explain_rewritten", report);
}
