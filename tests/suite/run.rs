//! Forward solves of conic nodes, end to end (compile → bind → canonicalise →
//! IPM → outputs), against closed forms and independently constructed optima.

use ddn::eval::Tensor;
use ddn::runtime::{bind, forward, named_tensors, Options, Status};
use faer::linalg::solvers::Solve;
use serde_json::json;

use super::Rng;

fn solve(path_or_src: &str, node: &str, inputs: serde_json::Value) -> ddn::runtime::Solved {
    let (name, src) = if path_or_src.ends_with(".ddn") {
        (path_or_src.to_string(), std::fs::read_to_string(super::root().join(path_or_src)).expect("read"))
    } else {
        ("t.ddn".to_string(), path_or_src.to_string())
    };
    let c = ddn::compile(&name, &src);
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    let n = &c.node(node).expect("node");
    let b = bind(n, &named_tensors(&inputs).expect("inputs")).expect("bind");
    forward(n, &b, &Options::default()).expect("forward")
}

fn out<'a>(s: &'a ddn::runtime::Solved, name: &str) -> &'a Tensor {
    &s.outputs.iter().find(|(k, _)| k == name).expect("output").1
}

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "got {got:?}, want {want:?}");
    }
}

#[test]
fn least_squares_matches_the_normal_equations() {
    let mut rng = Rng(7);
    let (m, n) = (12, 5);
    let a = rng.mat(m, n);
    let b = rng.vec(m);
    let s = solve("stdlib/least_squares.ddn", "least_squares", json!({"A": a, "b": b}));
    assert_eq!(s.status, Status::Optimal);
    // Independent reference: (AᵀA) x = Aᵀb by faer's Cholesky.
    let am = faer::Mat::from_fn(m, n, |i, j| a[i][j]);
    let bm = faer::Mat::from_fn(m, 1, |i, _| b[i]);
    let ata = am.transpose() * &am;
    let atb = am.transpose() * &bm;
    let x = ata.llt(faer::Side::Lower).expect("AᵀA ≻ 0").solve(&atb);
    let want: Vec<f64> = (0..n).map(|i| x[(i, 0)]).collect();
    assert_close(&out(&s, "x").data, &want, 1e-6);
}

/// Euclidean projection onto the simplex by sorting (Held, Wolfe, Crowder):
/// x = max(y − τ, 0) with τ chosen so that Σx = 1.
fn simplex_reference(y: &[f64]) -> (Vec<f64>, f64) {
    let mut u = y.to_vec();
    u.sort_by(|a, b| b.total_cmp(a));
    let mut cum = 0.0;
    let mut tau = 0.0;
    for (k, uk) in u.iter().enumerate() {
        cum += uk;
        let t = (cum - 1.0) / (k + 1) as f64;
        if uk - t > 0.0 {
            tau = t;
        }
    }
    (y.iter().map(|v| (v - tau).max(0.0)).collect(), tau)
}

#[test]
fn simplex_projection_and_its_multiplier() {
    let y = [0.3, 1.2, -0.4, 0.8, 0.1];
    let s = solve("stdlib/simplex_projection.ddn", "project_simplex_dual", json!({"y": y}));
    assert_eq!(s.status, Status::Optimal);
    let (x, tau) = simplex_reference(&y);
    assert_close(&out(&s, "x").data, &x, 1e-6);
    // Stationarity 2(x − y) + ν·1 − λ = 0 on the support gives ν = 2τ.
    assert_close(&out(&s, "total").data, &[2.0 * tau], 1e-6);
}

#[test]
fn norm_ball_projection_is_an_socp_with_closed_form() {
    // min ‖x − b‖² s.t. ‖x‖ ≤ r with ‖b‖ > r: x = r b/‖b‖, multiplier 2(‖b‖ − r).
    let src = "node ball(b: real[n], r: pos) -> (x: real[n], dual radius) {
        minimize sum_squares(x - b)
        subject to { radius: norm(x) <= r }
    }";
    let b = [3.0, -4.0, 12.0];
    let r = 2.0;
    let s = solve(src, "ball", json!({"b": b, "r": r}));
    assert_eq!(s.status, Status::Optimal);
    let nb = 13.0;
    assert_close(&out(&s, "x").data, &b.map(|v| r * v / nb), 1e-6);
    assert_close(&out(&s, "radius").data, &[2.0 * (nb - r)], 1e-6);
}

#[test]
fn optnet_qp_recovers_a_constructed_optimum() {
    let (inputs, z) = Rng(11).planted_optnet(8, 10, 2);
    let s = solve("stdlib/optnet_qp.ddn", "optnet_qp", inputs);
    assert_eq!(s.status, Status::Optimal);
    assert_close(&out(&s, "z").data, &z, 1e-6);
}

#[test]
fn lp_vertex_infeasible_and_unbounded() {
    let lp = "node lp(c: real[n], G: real[k, n], h: real[k]) -> z: real[n] {
        minimize c @ z
        subject to { G @ z <= h }
    }";
    // min −z₀ − z₁ over the unit box: the vertex (1, 1).
    let g = json!([[1, 0], [0, 1], [-1, 0], [0, -1]]);
    let s = solve(lp, "lp", json!({"c": [-1, -1], "G": g, "h": [1, 1, 0, 0]}));
    assert_eq!(s.status, Status::Optimal);
    assert_close(&out(&s, "z").data, &[1.0, 1.0], 1e-6);
    // z₀ ≤ −1 and −z₀ ≤ 0: empty.
    let s = solve(lp, "lp", json!({"c": [1, 0], "G": [[1, 0], [-1, 0]], "h": [-1, 0]}));
    assert_eq!(s.status, Status::Infeasible);
    // min −z₀ with only z₀ ≥ 0: unbounded.
    let s = solve(lp, "lp", json!({"c": [-1, 0], "G": [[-1, 0]], "h": [0]}));
    assert_eq!(s.status, Status::Unbounded);
}

/// The same statuses for a QP and an SOCP (the LP's are above).
#[test]
fn qp_and_socp_infeasible_and_unbounded() {
    // A QP whose constraints z₀ ≤ −1 and z₀ ≥ 0 conflict.
    let qp = "node qp(p: real[n], G: real[k, n], h: real[k]) -> z: real[n] {
        minimize sum_squares(z) + p @ z
        subject to { G @ z <= h }
    }";
    let s = solve(qp, "qp", json!({"p": [1, 0], "G": [[1, 0], [-1, 0]], "h": [-1, 0]}));
    assert_eq!(s.status, Status::Infeasible);
    // An SOCP whose ball ‖z‖ ≤ r misses the half-plane z₀ ≥ 2r.
    let socp = "node socp(c: real[n], r: pos) -> z: real[n] {
        minimize c @ z
        subject to {
            norm(z) <= r
            z[0] >= 2 * r
        }
    }";
    let s = solve(socp, "socp", json!({"c": [1, 1], "r": 1.0}));
    assert_eq!(s.status, Status::Infeasible);
    // An SOCP unbounded below: ‖z‖ ≤ z₁ + 1 lets z₀ = −t, z₁ = t grow forever.
    let open = "node open(c: real[n]) -> z: real[n] {
        minimize c @ z
        subject to { norm(z) <= z[1] + 1 }
    }";
    let s = solve(open, "open", json!({"c": [1, -2]}));
    assert_eq!(s.status, Status::Unbounded);
}

#[test]
fn lasso_and_huber_pooling_agree_with_their_optimality_conditions() {
    // Huber pooling of one dimension: the minimiser y of Σ ½huber(xᵢ − y, α)
    // satisfies Σ clip(xᵢ − y, ±α) = 0.
    let x = [[0.0], [0.2], [0.4], [5.0], [-3.0]];
    let alpha = 0.5;
    let s = solve("stdlib/robust_pooling.ddn", "pool_huber", json!({"x": x, "alpha": alpha}));
    assert_eq!(s.status, Status::Optimal);
    let y = out(&s, "y").data[0];
    let psi: f64 = x.iter().map(|r| (r[0] - y).clamp(-alpha, alpha)).sum();
    assert!(psi.abs() < 1e-6, "Σψ = {psi} at y = {y}");

    // Lasso with A = I: soft thresholding, x = sign(b)·max(|b| − λ/2, 0).
    let b = [1.0, -0.2, 0.05, -2.0];
    let lam = 0.6;
    let eye: Vec<Vec<f64>> = (0..4).map(|i| (0..4).map(|j| if i == j { 1.0 } else { 0.0 }).collect()).collect();
    let s = solve("stdlib/more.ddn", "lasso", json!({"A": eye, "b": b, "lam": lam}));
    assert_eq!(s.status, Status::Optimal, "{:?}", s.info);
    let want: Vec<f64> = b.iter().map(|v: &f64| v.signum() * (v.abs() - lam / 2.0).max(0.0)).collect();
    assert_close(&out(&s, "x").data, &want, 1e-6);
}

#[test]
fn weakly_active_constraints_are_reported() {
    // Projecting (0.5, 0.5, 0) onto the simplex: x = y, τ = 0, so x₃ = 0 sits on its
    // bound with a zero multiplier.
    let s = solve("stdlib/simplex_projection.ddn", "project_simplex", json!({"y": [0.5, 0.5, 0.0]}));
    assert_eq!(s.status, Status::Optimal);
    assert_eq!(s.info.weakly_active, ["#0"], "{:?}", s.info);
    // A generic point has none.
    let s = solve("stdlib/simplex_projection.ddn", "project_simplex", json!({"y": [0.3, 1.2, -0.4]}));
    assert!(s.info.weakly_active.is_empty(), "{:?}", s.info);
}

/// Every cone reduction, solved where the optimum is known in closed form.
#[test]
fn cone_reductions_reach_closed_form_optima() {
    let cases: Vec<(&str, serde_json::Value, &str, Vec<f64>)> = vec![
        // max Σx s.t. ‖x‖² ≤ 1: x = 1/√n.
        ("node f(c: real[n]) -> x: real[n] { maximize sum(x); subject to { sum_squares(x) <= 1 } }", json!({"c": [0, 0, 0, 0]}), "x", vec![0.5; 4]),
        // min Σ 1/xᵢ s.t. Σx = 1: x = 1/n.
        ("node f(c: real[n]) -> x: real[n] { minimize sum(inv_pos(x)); subject to { sum(x) == 1 } }", json!({"c": [0, 0, 0, 0]}), "x", vec![0.25; 4]),
        // max Σ√xᵢ s.t. Σx = 1: x = 1/n.
        ("node f(c: real[n]) -> x: real[n] { maximize sum(sqrt(x)); subject to { sum(x) == 1 } }", json!({"c": [0, 0, 0, 0]}), "x", vec![0.25; 4]),
        // max Σx s.t. xᵢ² ≤ cᵢ: x = √c.
        ("node f(c: nonneg[n]) -> x: real[n] { maximize sum(x); subject to { square(x) <= c } }", json!({"c": [4, 9, 1]}), "x", vec![2.0, 3.0, 1.0]),
        // min y s.t. ‖x‖²/y ≤ 1, x = c: y = ‖c‖².
        ("node f(c: real[n]) -> (y: real, x: real[n]) { minimize y; subject to { quad_over_lin(x, y) <= 1; x == c } }", json!({"c": [1, 2]}), "y", vec![5.0]),
        // max x s.t. huber(x, 1) ≤ 3: 2|x| − 1 = 3, x = 2.
        ("node f(m: pos) -> x: real { maximize x; subject to { huber(x, m) <= 3 } }", json!({"m": 1}), "x", vec![2.0]),
        // min max(|x − c|) + ½ Σ pos(x): max/abs/pos epigraphs; x = c when c ≤ 0.
        ("node f(c: real[n]) -> x: real[n] { minimize norm_inf(x - c) + sum(pos(x)) + max(abs(x - c)) }", json!({"c": [-1, -2]}), "x", vec![-1.0, -2.0]),
        // max cᵀx s.t. xᵀQx ≤ 1 (Q = diag(4, 1), c = (1, 1)): x = Q⁻¹c / √(cᵀQ⁻¹c).
        ("node f(Q: psd[2, 2], c: real[2]) -> x: real[2] { maximize c @ x; subject to { quad_form(x, Q) <= 1 } }", json!({"Q": [[4, 0], [0, 1]], "c": [1, 1]}), "x", vec![0.25 / 1.25f64.sqrt(), 1.0 / 1.25f64.sqrt()]),
        // min ‖xB − c‖² (data on the right of @): x = (BBᵀ)⁻¹Bc; B = [1 1 0; 0 1 1], c = (1, 2, 3):
        // BBᵀ = [2 1; 1 2], Bc = (3, 5), x = (1/3, 7/3).
        ("node f(B: real[2, 3], c: real[3]) -> x: real[2] { minimize sum_squares(x @ B - c) }", json!({"B": [[1, 1, 0], [0, 1, 1]], "c": [1, 2, 3]}), "x", vec![1.0 / 3.0, 7.0 / 3.0]),
        // max min(x₁, x₂) s.t. x₁ + 2x₂ ≤ 3: x₁ = x₂ = 1.
        ("node f(a: real[2]) -> x: real[2] { maximize min(x); subject to { a @ x <= 3 } }", json!({"a": [1, 2]}), "x", vec![1.0, 1.0]),
    ];
    for (src, inputs, name, want) in cases {
        let s = solve(src, "f", inputs);
        assert_eq!(s.status, Status::Optimal, "{src}: {:?}", s.info);
        let got = &out(&s, name).data;
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-6 * (1.0 + w.abs()), "{src}: got {got:?}, want {want:?}");
        }
    }
}
