//! Every smooth node of the stdlib and of the language contract, forward and
//! backward through the runtime (what `ddnc run` calls), against central
//! differences of the forward in every parameter entry.

use ddn::eval::Tensor;
use serde_json::{json, Value};

use super::backward::{check, loss, node_of};
use super::{seeded, Rng};

fn pool_inputs() -> Value {
    json!({"x": [[0.1, 2.0], [0.3, -0.2], [3.5, 0.4], [-0.4, 0.1], [0.2, -2.6]], "alpha": 0.8})
}

#[test]
fn robust_pooling_nodes() {
    let cot = || vec![("y".to_string(), Tensor::vector(vec![0.6, -0.3]))];
    for name in ["pool_pseudo_huber", "pool_welsch", "pool_truncated_quadratic"] {
        let node = node_of("stdlib/robust_pooling.ddn", name);
        check(&node, pool_inputs(), cot());
    }
    let ball = node_of("stdlib/more.ddn", "pool_welsch_ball");
    check(&ball, json!({"x": [[1.1, 2.0], [1.3, 0.8], [1.5, 1.4], [0.9, 1.1]], "alpha": 1.5}), cot());
}

#[test]
fn logistic_regression_and_softmax() {
    let mut rng = Rng(5);
    let node = node_of("stdlib/more.ddn", "logistic_regression");
    let y: Vec<f64> = (0..6).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
    check(&node, json!({"X": rng.mat(6, 3), "y": y, "lam": 0.1}), vec![("w".into(), Tensor::vector(rng.vec(3)))]);
    let softmax = node_of("stdlib/more.ddn", "softmax_layer");
    let g = check(&softmax, json!({"z": [0.3, -1.0, 2.0, 0.5]}), vec![("p".into(), Tensor::vector(rng.vec(4)))]);
    // The softmax Jacobian is diag(p) − ppᵀ: its VJP sums to zero.
    assert!(g[0].data.iter().sum::<f64>().abs() < 1e-8, "{:?}", g[0]);
}

#[test]
fn orthogonality_constrained_projection() {
    let node = node_of("stdlib/neural_collapse.ddn", "etf_project");
    let mut rng = Rng(9);
    let h: Vec<Vec<f64>> = rng.mat(5, 3);
    // A start near the Stiefel manifold: the columns of I plus a little noise.
    let prox: Vec<Vec<f64>> =
        (0..5).map(|i| (0..3).map(|j| if i == j { 1.0 } else { 0.0 } + 0.1 * rng.next()).collect()).collect();
    let cot: Vec<f64> = rng.vec(15);
    check(&node, json!({"H_bar": h, "U_prox": prox, "delta": 0.5}), vec![("U".into(), Tensor::matrix(5, 3, cot))]);
}

/// Weighted PnP on noise-free scenes with known correspondences (W a
/// permutation): from a start 0.15 rad away, the node returns the true pose (the
/// scene's, an independent answer), a rotation (RᵀR = I, det R = 1) at zero error.
#[test]
fn pnp_recovers_the_true_pose() {
    let node = node_of("stdlib/pnp.ddn", "weighted_pnp");
    let mut rng = Rng(31);
    for n in [6, 8, 12] {
        let scene = seeded::pnp_scene(&mut rng, n, 0.0, 0.15);
        let b = ddn::runtime::bind(&node, &ddn::runtime::named_tensors(&scene.inputs).expect("in")).expect("bind");
        let s = ddn::runtime::forward(&node, &b, &ddn::runtime::Options::default()).expect("forward");
        assert_eq!(s.status, ddn::runtime::Status::Optimal, "{:?}", s.info);
        let (r, t) = (&s.outputs[0].1.data, &s.outputs[1].1.data);
        for i in 0..3 {
            assert!((t[i] - scene.t[i]).abs() < 1e-8, "n = {n}: t = {t:?}, true {:?}", scene.t);
            for j in 0..3 {
                assert!((r[3 * i + j] - scene.r[i][j]).abs() < 1e-8, "n = {n}: R = {r:?}, true {:?}", scene.r);
                let rtr: f64 = (0..3).map(|k| r[3 * k + i] * r[3 * k + j]).sum();
                assert!((rtr - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12, "n = {n}: RᵀR = I");
            }
        }
        let det = r[0] * (r[4] * r[8] - r[5] * r[7]) - r[1] * (r[3] * r[8] - r[5] * r[6])
            + r[2] * (r[3] * r[7] - r[4] * r[6]);
        assert!((det - 1.0).abs() < 1e-12, "n = {n}: det R = {det}");
        assert!(s.info.objective().is_some_and(|e| e.abs() < 1e-12), "{:?}", s.info);
    }
}

/// Weighted PnP at a generic point (soft weights, noisy bearings: a nonzero
/// error): the backward against central differences in every entry of W, f,
/// X, and of the starting pose (R0, t0), whose gradients are zero.
#[test]
fn pnp_backward_matches_differences() {
    let node = node_of("stdlib/pnp.ddn", "weighted_pnp");
    let mut rng = Rng(32);
    let mut scene = seeded::pnp_scene(&mut rng, 6, 0.3, 0.2).inputs;
    for row in scene["f"].as_array_mut().expect("f") {
        for v in row.as_array_mut().expect("row") {
            *v = json!(v.as_f64().unwrap_or(0.0) + 0.02 * rng.next());
        }
    }
    let cot = vec![("R".into(), Tensor::matrix(3, 3, rng.vec(9))), ("t".into(), Tensor::vector(rng.vec(3)))];
    let g = check(&node, scene, cot);
    assert!(g[3].data.iter().chain(&g[4].data).all(|v| *v == 0.0), "the start's gradients: {:?} {:?}", g[3], g[4]);
    assert!(g[0].data.iter().any(|v| v.abs() > 1e-3), "dL/dW vanishes: {:?}", g[0]);
}

#[test]
fn eigenvector_nodes() {
    let x = json!({"X": [[2, 0.5, 0.1], [0.5, 1, 0.3], [0.1, 0.3, -1]]});
    let max = node_of("stdlib/eigen.ddn", "max_eigvec");
    check(&max, x.clone(), vec![("u".into(), Tensor::vector(vec![1.0, -0.5, 0.2]))]);
    let full = node_of("stdlib/eigen.ddn", "eigh_full");
    let v = vec![1.0, -0.5, 0.2, 0.0, 0.1, 0.0, 0.3, 0.0, 1.0];
    check(&full, x, vec![("U".into(), Tensor::matrix(3, 3, v))]);
}

/// Entropic OT: M and γ entry by entry; the marginals only along directions
/// that keep Σr = Σc (the node is undefined elsewhere), moving r_i and c_j
/// together: the derivative along (e_i, e_j) is dL/dr_i + dL/dc_j.
fn transport_check(node: &ddn::analysis::Analysed<'_>) {
    let inputs = json!({"M": [[0.1, 0.7, 0.3], [0.5, 0.2, 0.9]], "r": [0.4, 0.6], "c": [0.3, 0.3, 0.4], "gamma": 5.0});
    let cot = vec![("P".to_string(), Tensor::matrix(2, 3, vec![1.0, 0.0, -1.0, 0.5, 0.2, 0.0]))];
    let b = ddn::runtime::bind(node, &ddn::runtime::named_tensors(&inputs).expect("in")).expect("bind");
    let mut s = ddn::runtime::forward(node, &b, &ddn::runtime::Options::default()).expect("forward");
    let g = ddn::diff::backward(node, &b, &mut s, &cot).expect("backward");
    let h = 1e-5;
    let moved = |edit: &dyn Fn(&mut Value, f64)| {
        let at = |d: f64| {
            let mut v = inputs.clone();
            edit(&mut v, d);
            loss(node, &v, &cot)
        };
        (at(h) - at(-h)) / (2.0 * h)
    };
    let close = |a: f64, n: f64, what: &str| assert!((a - n).abs() <= 1e-5 * (1.0 + n.abs()), "{what}: {a} vs {n}");
    for i in 0..2 {
        for j in 0..3 {
            let n = moved(&|v, d| v["M"][i][j] = json!(v["M"][i][j].as_f64().unwrap_or(0.0) + d));
            close(g[0].data[i * 3 + j], n, &format!("dL/dM[{i}][{j}]"));
            let n = moved(&|v, d| {
                v["r"][i] = json!(v["r"][i].as_f64().unwrap_or(0.0) + d);
                v["c"][j] = json!(v["c"][j].as_f64().unwrap_or(0.0) + d);
            });
            close(g[1].data[i] + g[2].data[j], n, &format!("along (r_{i}, c_{j})"));
        }
    }
    let n = moved(&|v, d| v["gamma"] = json!(5.0 + d));
    close(g[3].data[0], n, "dL/dγ");
}

#[test]
fn entropic_transport() {
    transport_check(&node_of("stdlib/optimal_transport.ddn", "entropic_ot"));
}

/// The contract's smooth examples, compiled from language.md itself.
#[test]
fn contract_smooth_examples() {
    let mut seen = 0;
    for b in super::contract::blocks() {
        let c = ddn::compile("language.md", &b);
        for node in (0..c.program.nodes.len()).filter_map(|i| c.analysed(i)).filter(|n| !n.class.family.is_conic()) {
            let node = &node;
            seen += 1;
            match node.name.as_str() {
                "robust_pool" => {
                    check(node, pool_inputs(), vec![("y".into(), Tensor::vector(vec![0.6, -0.3]))]);
                }
                "entropic_ot" => transport_check(node),
                "max_eigvec" => {
                    let x = json!({"X": [[2, 0.5, 0.1], [0.5, 1, 0.3], [0.1, 0.3, -1]]});
                    check(node, x, vec![("u".into(), Tensor::vector(vec![1.0, -0.5, 0.2]))]);
                }
                other => panic!("a smooth contract example without a test: {other}"),
            }
        }
    }
    assert_eq!(seen, 3);
}

/// A Hessian singular at the solution: the objective sees y only through
/// y₀ + y₁, so the minimisers form a line and H = c·11ᵀ. The forward still
/// finds one (Newton with the Hessian modified); the backward solves the
/// singular KKT system in the least-norm sense, which is exact for cotangents
/// in H's range (the derivative of y₀ + y₁, which is unique) and zero along the
/// null space (1, −1). Never NaN. (Newton converges only linearly along a
/// singular Hessian, so the forward is asked for 1e-13 to make central
/// differences meaningful.)
#[test]
fn singular_hessian_gets_the_least_norm_answer() {
    let c = ddn::compile(
        "flat.ddn",
        "node flat(x: real[n], alpha: pos) -> y: real[2] {
            minimize sum(pseudo_huber(x - sum(y), alpha))
            solve using newton(tol = 1e-13)
        }",
    );
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    let node = &c.analysed(0).expect("node");
    let inputs = json!({"x": [0.3, -1.2, 2.5, 0.7, 0.1], "alpha": 0.9});
    let g = check(node, inputs.clone(), vec![("y".into(), Tensor::vector(vec![1.0, 1.0]))]);
    assert!(g.iter().all(|t| t.data.iter().all(|v| v.is_finite())));
    let b = ddn::runtime::bind(node, &ddn::runtime::named_tensors(&inputs).expect("in")).expect("bind");
    let mut s = ddn::runtime::forward(node, &b, &ddn::runtime::Options::default()).expect("forward");
    let null = vec![("y".to_string(), Tensor::vector(vec![1.0, -1.0]))];
    let g = ddn::diff::backward(node, &b, &mut s, &null).expect("backward");
    assert!(g.iter().all(|t| t.data.iter().all(|v| v.abs() < 1e-8)), "{g:?}");
}

/// A smooth node whose unconstrained minimiser lies exactly on its constraint's
/// boundary: the constraint is active with a zero multiplier, the forward names
/// it in `info.weakly_active`, and the backward's answer is finite and between
/// the one-sided derivatives (which are the identity inside and the sphere's
/// tangent projection outside).
#[test]
fn weakly_active_smooth_constraint_is_reported() {
    let c = ddn::compile(
        "ball.ddn",
        "node ball(x: real[n]) -> y: real[n] {
            minimize sum(pseudo_huber(y - x, 1))
            subject to { ball: sum_squares(y) <= 1 }
        }",
    );
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    let node = &c.analysed(0).expect("node");
    assert!(!node.class.family.is_conic(), "{:?}", node.class.family);
    let inputs = json!({"x": [0.6, 0.8]});
    let b = ddn::runtime::bind(node, &ddn::runtime::named_tensors(&inputs).expect("in")).expect("bind");
    let mut s = ddn::runtime::forward(node, &b, &ddn::runtime::Options::default()).expect("forward");
    assert_eq!(s.info.weakly_active, ["ball"], "{:?}", s.info);
    // Along the normal x itself: moving outward the answer stays on the sphere
    // (derivative 0 along x), inward it follows x (derivative 1).
    let cot = vec![("y".to_string(), Tensor::vector(vec![0.6, 0.8]))];
    let g = ddn::diff::backward(node, &b, &mut s, &cot).expect("backward");
    let along: f64 = g[0].data.iter().zip([0.6, 0.8]).map(|(a, b)| a * b).sum();
    assert!(along.is_finite() && (-1e-6..=1.0 + 1e-6).contains(&along), "{along}");
}
