//! Canonicalisation: the standard form of small nodes against closed forms.

use ddn::runtime::{bind, named_tensors};
use ddn::solve::ConeBlock;
use serde_json::json;

fn canon(src: &str, inputs: serde_json::Value) -> ddn::canon::Canonical {
    let c = ddn::compile("t.ddn", src);
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    let node = &c.program.nodes[0];
    let b = bind(node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let k = ddn::canon::canonicalize(node, &b).expect("canonicalize");
    k.program.validate().expect("valid program");
    k
}

fn dense(t: &ddn::solve::Triplets) -> Vec<Vec<f64>> {
    let mut m = vec![vec![0.0; t.ncols]; t.nrows];
    for &(i, j, v) in &t.entries {
        m[i][j] += v;
    }
    m
}

#[test]
fn least_squares_is_a_qp_with_p_2ata() {
    let k = canon(
        "node ls(A: real[m, n], b: real[m]) -> x: real[n] { minimize sum_squares(A @ x - b) }",
        json!({"A": [[1, 2], [3, 4], [5, 6]], "b": [1, 0, -1]}),
    );
    // ‖Ax − b‖² = xᵀAᵀAx − 2bᵀAx + bᵀb: P = 2AᵀA (upper triangle), q = −2Aᵀb, c0 = bᵀb.
    let p = dense(&k.program.p);
    assert_eq!(p, vec![vec![70.0, 88.0], vec![0.0, 112.0]]);
    assert_eq!(k.program.q, vec![8.0, 8.0]);
    assert_eq!(k.program.c0, 2.0);
    assert!(k.program.cones.is_empty());
}

#[test]
fn simplex_projection_rows_and_duals() {
    let k = canon(
        "node proj(y: real[n]) -> (x: real[n], dual total) {
            minimize sum_squares(x - y)
            subject to { x >= 0; total: sum(x) == 1 }
        }",
        json!({"y": [0.2, 0.9, -0.3]}),
    );
    assert_eq!(k.program.cones, vec![ConeBlock::Zero(1), ConeBlock::Nonneg(3)]);
    // total: sum(x) == 1 is the row −(1 − Σx) ∈ {0}: A row = [1, 1, 1], b = 1.
    assert_eq!(dense(&k.program.a)[0], vec![1.0, 1.0, 1.0]);
    assert_eq!(k.program.b[0], 1.0);
    // x >= 0: u = x ≥ 0, rows −I, b = 0.
    assert_eq!(dense(&k.program.a)[1], vec![-1.0, 0.0, 0.0]);
    assert_eq!(k.layout.constraint_rows[1].0.start, 0);
}

#[test]
fn socp_and_lp_reductions_have_the_expected_cones() {
    let k = canon(
        "node f(c: real[n], r: pos) -> x: real[n] { minimize norm1(x - c); subject to { norm(x) <= r } }",
        json!({"c": [1, 2], "r": 0.5}),
    );
    assert_eq!(k.program.cones, vec![ConeBlock::Nonneg(5), ConeBlock::SecondOrder(3)]);
    assert!(k.log.iter().any(|l| l.starts_with("norm1")) && k.log.iter().any(|l| l.starts_with("norm:")));
}

/// `ddnc explain`'s account of a few nodes at fixed inputs: the inlined problem,
/// the standard form's size and the reductions, pinned.
#[test]
fn explain_snapshots() {
    let cases = [
        ("stdlib/least_squares.ddn", "least_squares", json!({"A": [[1, 0], [1, 1], [1, 2]], "b": [1, 2, 4]})),
        ("stdlib/robust_pooling.ddn", "pool_huber", json!({"x": [[0.0, 1.0], [0.2, 0.0], [5.0, 2.0]], "alpha": 0.5})),
        ("stdlib/more.ddn", "lasso", json!({"A": [[1, 2], [3, 4], [5, 6]], "b": [1, 0, 1], "lam": 0.1})),
        ("stdlib/more.ddn", "ls_norm_ball", json!({"A": [[1, 2], [3, 4]], "b": [1, 0], "r": 0.5})),
        ("stdlib/simplex_projection.ddn", "project_simplex_dual", json!({"y": [0.1, 0.2, 0.3]})),
    ];
    let mut report = String::new();
    for (file, name, inputs) in cases {
        let c = super::compile_path(&super::root().join(file));
        let node = &c.node(name).expect("node");
        let b = bind(node, &named_tensors(&inputs).expect("inputs")).expect("bind");
        let k = ddn::canon::canonicalize(node, &b).expect("canonicalize");
        report.push_str(&ddn::report::explain_text(node, Some(&k)));
    }
    insta::assert_snapshot!("explain", report);
}
