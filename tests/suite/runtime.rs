//! The evaluator and the input checks, against hand-computed values.

use std::collections::BTreeMap;

use ddn::eval::{eval, Env, Tensor};
use ddn::runtime::{bind, named_tensors, tensor_from_json, tensor_to_json};
use serde_json::json;

fn node(src: &str) -> ddn::ir::Node {
    let c = ddn::compile("t.ddn", src);
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    c.program.nodes.into_iter().next().expect("a node")
}

fn inputs(v: serde_json::Value) -> BTreeMap<String, Tensor> {
    named_tensors(&v).expect("valid inputs")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()))
}

/// The objective of `node` at parameter values `p` and variable values `x`.
fn objective(n: &ddn::ir::Node, p: serde_json::Value, x: Vec<Tensor>) -> f64 {
    let b = bind(n, &inputs(p)).expect("bind");
    let env = Env { params: &b.params, vars: &x, dims: &b.dims, syms: &[] };
    eval(&n.objective.expr, &env).expect("eval").as_scalar().expect("scalar")
}

#[test]
fn evaluates_least_squares_objective() {
    let n = node("node ls(A: real[m, n], b: real[m]) -> x: real[n] { minimize sum_squares(A @ x - b) }");
    let v =
        objective(&n, json!({"A": [[1, 2], [3, 4], [5, 6]], "b": [1, 0, -1]}), vec![Tensor::vector(vec![1.0, -1.0])]);
    // A x − b = (−1 − 1, −1 − 0, −1 + 1) = (−2, −1, 0).
    assert!(close(v, 5.0), "{v}");
}

#[test]
fn evaluates_penalties_and_broadcasting() {
    // robust pooling with the prelude's pseudo-Huber: Σ α²(√(1 + (zᵢⱼ/α)²) − 1), z = x − y.
    let n = node("node pool(x: real[n, d], alpha: pos) -> y: real[d] { minimize sum(pseudo_huber(x - y, alpha)) }");
    let x = [[0.0, 1.0], [2.0, -3.0], [4.0, 0.5]];
    let y = [0.5, -0.5];
    let alpha: f64 = 1.5;
    let want: f64 = x
        .iter()
        .flat_map(|r| r.iter().zip(&y).map(|(a, b)| a - b))
        .map(|z| alpha * alpha * ((1.0 + (z / alpha).powi(2)).sqrt() - 1.0))
        .sum();
    let v = objective(&n, json!({"x": x, "alpha": alpha}), vec![Tensor::vector(y.to_vec())]);
    assert!(close(v, want), "{v} vs {want}");
}

#[test]
fn evaluates_atoms_against_closed_forms() {
    let n = node(
        "node f(X: real[2, 3], v: real[3]) -> t: real {
            minimize t + log_sum_exp(v) + huber(v[0], 0.5) + kl_div(2, 1) + entr(0.5) + max(X, axis = 0)[1] + mean(X, axis = 1)[0] + norm_inf(v) + trace(X[:, 0:2])
        }",
    );
    let (x, v) = ([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]], [1000.0, 999.0, -2.0]);
    let got = objective(&n, json!({"X": x, "v": v}), vec![Tensor::scalar(0.25)]);
    let lse = 1000.0 + (1.0 + (-1.0f64).exp() + (-1002.0f64).exp()).ln();
    let huber = 2.0 * 0.5 * 1000.0 - 0.25;
    let kl = 2.0 * 2.0f64.ln() - 2.0 + 1.0;
    let entr = -0.5 * 0.5f64.ln();
    let want = 0.25 + lse + huber + kl + entr + 4.0 + (2.0 / 3.0) + 1000.0 + (1.0 + 4.0);
    assert!(close(got, want), "{got} vs {want}");
}

#[test]
fn domain_errors_name_the_atom() {
    let n = node("node f(a: real) -> t: real { minimize t + sqrt(a) }");
    let b = bind(&n, &inputs(json!({"a": -1.0}))).expect("bind");
    let env = Env { params: &b.params, vars: &[Tensor::scalar(0.0)], dims: &b.dims, syms: &[] };
    let e = eval(&n.objective.expr, &env).expect_err("sqrt(-1)");
    assert!(e.message.contains("`sqrt`"), "{}", e.message);
}

#[test]
fn json_round_trip() {
    for v in [json!(2.5), json!([1.0, 2.0]), json!([[1.0, 2.0], [3.0, 4.0]])] {
        assert_eq!(tensor_to_json(&tensor_from_json(&v).expect("parse")), v);
    }
    assert!(tensor_from_json(&json!([[1, 2], [3]])).unwrap_err().to_string().contains("row 1"));
    assert!(tensor_from_json(&json!("x")).is_err());
    assert!(tensor_from_json(&json!([[[1]]])).is_err());
}

fn bind_errors(n: &ddn::ir::Node, v: serde_json::Value) -> Vec<String> {
    bind(n, &inputs(v)).expect_err("should fail").0
}

#[test]
fn input_checks_name_the_problem() {
    let n = node(
        "node q(Q: psd[n, n], p: real[n], G: real[k, n], h: nonneg[k], s: pos, S: sym[2, 2]) -> z: real[n] {
            minimize 0.5 * quad_form(z, Q) + p @ z
            subject to { G @ z <= h }
        }",
    );
    let good = json!({"Q": [[2, 0], [0, 1]], "p": [1, 1], "G": [[1, 0]], "h": [1], "s": 2, "S": [[1, 2], [2, 1]]});
    let b = bind(&n, &inputs(good.clone())).expect("good inputs bind");
    assert_eq!(b.dims, vec![2, 1]);

    let with = |k: &str, v: serde_json::Value| {
        let mut g = good.clone();
        g[k] = v;
        g
    };
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (with("extra", json!(1)), "unknown input `extra`"),
        (with("p", json!([1, 2, 3])), "dimension `n` is 2 (from `Q` axis 0) but input `p` has 3 on axis 0"),
        (with("p", json!(1)), "input `p` must be real[n], found a scalar"),
        (with("h", json!([-1])), "input `h` must be nonnegative (`nonneg`), but entry 0 is -1"),
        (with("s", json!(0)), "input `s` must be positive (`pos`)"),
        (with("S", json!([[1, 2], [3, 1]])), "input `S` must be symmetric (`sym`)"),
        (with("Q", json!([[1, 0], [0, -1]])), "input `Q` must be positive semidefinite (`psd`)"),
        (with("S", json!([[1, 2, 3], [2, 1, 0]])), "input `S` must be sym[2, 2], but axis 1 has length 3"),
    ];
    for (v, want) in cases {
        let errs = bind_errors(&n, v);
        assert!(errs.iter().any(|e| e.contains(want)), "wanted `{want}` in {errs:?}");
    }
    let mut missing = good.clone();
    missing.as_object_mut().expect("object").remove("G");
    assert!(bind_errors(&n, missing).iter().any(|e| e.contains("missing input `G` (real[k, n])")));
}

/// The `psd` check's threshold, λ_min ≥ −1e-9·max(1, max|λ|) = −3e-9 here, on
/// both of its sides, for a singular psd matrix (the Cholesky fast path must
/// not refuse one), and at λ₂ = −2e-9, which the shifted Cholesky (shift
/// 1e-9·max|Q| ≈ 1.9e-9) refuses and the eigenvalues accept:
/// Q = λ₁u₁u₁ᵀ + λ₂u₂u₂ᵀ with u₁ = (0.6, 0.8), u₂ = (−0.8, 0.6).
#[test]
fn psd_check_threshold() {
    let n = node("node q(Q: psd[2, 2], p: real[2]) -> z: real[2] { minimize quad_form(z, Q) + p @ z }");
    let q = |l1: f64, l2: f64| {
        let (c, s) = (0.6, 0.8);
        json!([[l1 * c * c + l2 * s * s, (l1 - l2) * c * s], [(l1 - l2) * c * s, l1 * s * s + l2 * c * c]])
    };
    for (l2, ok) in [(0.0, true), (1e-300, true), (-1e-9, true), (-2e-9, true), (-4e-9, false), (-1.0, false)] {
        let v = json!({"Q": q(3.0, l2), "p": [1, 1]});
        match bind(&n, &inputs(v)) {
            Ok(_) => assert!(ok, "λ₂ = {l2:e} accepted"),
            Err(e) => {
                assert!(!ok, "λ₂ = {l2:e} refused: {e:?}");
                assert!(
                    e.0[0].contains("input `Q` must be positive semidefinite (`psd`), but its smallest eigenvalue is")
                );
            }
        }
    }
}

/// The dense-matrix budget counts what the QR path builds, M with one row per
/// residual entry (m × n), not the largest subexpression times n: least squares
/// at m = 1024, n = 512 (M has 524 288 entries) binds, and so would any size
/// whose M fits the budget.
#[test]
fn least_squares_budget_counts_the_residual_rows() {
    let n = node("node ls(A: real[m, n], b: real[m]) -> x: real[n] { minimize sum_squares(A @ x - b) }");
    let (m, cols) = (1024, 512);
    let mut params = BTreeMap::new();
    params.insert("A".to_string(), Tensor::matrix(m, cols, vec![0.5; m * cols]));
    params.insert("b".to_string(), Tensor::vector(vec![1.0; m]));
    assert!(bind(&n, &params).is_ok());
}
