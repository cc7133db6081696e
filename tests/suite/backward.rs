//! Backward passes of conic nodes against central differences of the forward map
//! (each perturbed problem re-solved at a tight tolerance), and least squares
//! against the seed's closed form.

use ddn::eval::Tensor;
use ddn::runtime::{bind, forward_with, named_tensors, Status};
use ddn::solve::Settings;
use serde_json::{json, Value};

use super::Rng;

fn tight() -> Settings {
    let t = 1e-12;
    Settings { tol_gap_abs: t, tol_gap_rel: t, tol_feas: t, ..Settings::default() }
}

fn node_of(file: &str, name: &str) -> ddn::ir::Node {
    let c = super::compile_path(&super::root().join(file));
    c.program.nodes.into_iter().find(|n| n.name == name).expect("node")
}

fn node_src(src: &str) -> ddn::ir::Node {
    let c = ddn::compile("t.ddn", src);
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    c.program.nodes.into_iter().next().expect("node")
}

/// L(θ) = Σ ⟨v_k, output_k(θ)⟩.
fn loss(node: &ddn::ir::Node, inputs: &Value, cot: &[(String, Tensor)]) -> f64 {
    let b = bind(node, &named_tensors(inputs).expect("inputs")).expect("bind");
    let s = forward_with(node, &b, &tight()).expect("forward");
    assert_eq!(s.status, Status::Optimal, "{:?}", s.info);
    cot.iter()
        .map(|(k, v)| {
            let o = &s.outputs.iter().find(|(n, _)| n == k).expect("output").1;
            o.data.iter().zip(&v.data).map(|(a, b)| a * b).sum::<f64>()
        })
        .sum()
}

/// The backward pass, and its check against central differences in every
/// parameter entry (symmetric pairs moved together for `sym`/`psd`).
fn check(node: &ddn::ir::Node, inputs: Value, cot: Vec<(String, Tensor)>) -> Vec<Tensor> {
    let b = bind(node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let mut s = forward_with(node, &b, &tight()).expect("forward");
    assert_eq!(s.status, Status::Optimal);
    let grads = ddn::diff::backward(node, &b, &mut s, &cot).expect("backward");
    let h = 1e-5;
    for (k, p) in node.params.iter().enumerate() {
        let symmetric = matches!(p.base, ddn::syntax::ast::BaseType::Sym | ddn::syntax::ast::BaseType::Psd);
        let value = b.params[k].clone();
        let (_, cols) = value.rows_cols();
        for i in 0..value.len() {
            let (r, c) = (i / cols.max(1), i % cols.max(1));
            if symmetric && c < r {
                continue;
            }
            let perturbed = |d: f64| {
                let mut t = value.clone();
                t.data[i] += d;
                if symmetric && r != c {
                    t.data[c * cols + r] += d;
                }
                let mut v = inputs.clone();
                v[&p.name] = ddn::runtime::tensor_to_json(&t);
                loss(node, &v, &cot)
            };
            let numeric = (perturbed(h) - perturbed(-h)) / (2.0 * h);
            let analytic = if symmetric && r != c { 2.0 * grads[k].data[i] } else { grads[k].data[i] };
            assert!(
                (numeric - analytic).abs() <= 1e-5 * (1.0 + numeric.abs()),
                "`{}` entry {i}: backward {analytic}, central difference {numeric}",
                p.name
            );
        }
    }
    grads
}

#[test]
fn least_squares_matches_differences_and_the_seed_closed_form() {
    let mut rng = Rng(3);
    let (m, n) = (6, 3);
    let (a, b, v) = (rng.mat(m, n), rng.vec(m), rng.vec(n));
    let node = node_of("stdlib/least_squares.ddn", "least_squares");
    let grads = check(&node, json!({"A": a, "b": b}), vec![("x".into(), Tensor::vector(v.clone()))]);
    // Seed: dA = r wᵀ − (A w) xᵀ, db = A w, w = (AᵀA)⁻¹ v, r = b − A x.
    let am = faer::Mat::from_fn(m, n, |i, j| a[i][j]);
    let ata = am.transpose() * &am;
    let llt = ata.llt(faer::Side::Lower).expect("AᵀA ≻ 0");
    use faer::linalg::solvers::Solve;
    let w = llt.solve(&faer::Mat::from_fn(n, 1, |i, _| v[i]));
    let atb = am.transpose() * faer::Mat::from_fn(m, 1, |i, _| b[i]);
    let x = llt.solve(&atb);
    let aw = &am * &w;
    let r = faer::Mat::from_fn(m, 1, |i, _| b[i]) - &am * &x;
    for i in 0..m {
        for j in 0..n {
            let want = r[(i, 0)] * w[(j, 0)] - aw[(i, 0)] * x[(j, 0)];
            assert!((grads[0].data[i * n + j] - want).abs() < 1e-8, "dA[{i},{j}]");
        }
        assert!((grads[1].data[i] - aw[(i, 0)]).abs() < 1e-8, "db[{i}]");
    }
}

#[test]
fn optnet_qp_gradients_for_every_parameter() {
    let mut rng = Rng(5);
    let n = 5;
    let (inputs, _) = rng.planted_optnet(n, 6, 2);
    let node = node_of("stdlib/optnet_qp.ddn", "optnet_qp");
    let grads = check(&node, inputs, vec![("z".into(), Tensor::vector(rng.vec(n)))]);
    // The gradient with respect to the psd Q is symmetric.
    for i in 0..n {
        for j in 0..n {
            assert_eq!(grads[0].data[i * n + j], grads[0].data[j * n + i]);
        }
    }
}

#[test]
fn simplex_projection_through_the_solution_and_its_multiplier() {
    let node = node_of("stdlib/simplex_projection.ddn", "project_simplex_dual");
    check(
        &node,
        json!({"y": [0.3, 1.2, -0.4, 0.8, 0.1]}),
        vec![("x".into(), Tensor::vector(vec![1.0, -2.0, 0.5, 0.3, 0.0])), ("total".into(), Tensor::scalar(0.7))],
    );
}

#[test]
fn lp_vertex_and_mean_pooling_and_a_sym_parameter() {
    let lp = node_src(
        "node lp(c: real[n], G: real[k, n], h: real[k]) -> z: real[n] {
            minimize c @ z
            subject to { G @ z <= h }
        }",
    );
    // A nondegenerate vertex: min −z₀ − 2z₁ over a triangle-ish polytope.
    check(
        &lp,
        json!({"c": [-1, -2], "G": [[1, 1], [1, -1], [-1, 0], [0, -1]], "h": [2, 1, 0.5, 0.25]}),
        vec![("z".into(), Tensor::vector(vec![0.3, -0.7]))],
    );
    let pool = node_of("stdlib/robust_pooling.ddn", "pool_quadratic");
    let g = check(&pool, json!({"x": [[1, 2], [3, -1], [0, 5]]}), vec![("y".into(), Tensor::vector(vec![0.6, -0.3]))]);
    // y is the mean: dL/dx = v/n in every row.
    for r in 0..3 {
        assert!((g[0].data[2 * r] - 0.2).abs() < 1e-9 && (g[0].data[2 * r + 1] + 0.1).abs() < 1e-9);
    }
    let sym = node_src("node s(X: sym[n, n], b: real[n]) -> x: real[n] { minimize sum_squares(X @ x - b) }");
    check(
        &sym,
        json!({"X": [[2, 0.5, 0], [0.5, 3, 1], [0, 1, 4]], "b": [1, -1, 2]}),
        vec![("x".into(), Tensor::vector(vec![1.0, 0.5, -1.0]))],
    );
}

#[test]
fn nodes_beyond_the_supported_class_say_so() {
    let node = node_of("stdlib/more.ddn", "lasso");
    let b = bind(&node, &named_tensors(&json!({"A": [[1, 0], [0, 1]], "b": [1, 2], "lam": 0.1})).expect("in"))
        .expect("bind");
    let mut s = forward_with(&node, &b, &tight()).expect("forward");
    let e = ddn::diff::backward(&node, &b, &mut s, &[("x".into(), Tensor::vector(vec![1.0, 0.0]))]).expect_err("lasso");
    assert!(e.0.contains("auxiliary variables"), "{}", e.0);
}

/// The accuracy test of the BPQP paper: random QPs, the mean absolute error of
/// the gradient against a reference (here central differences of re-solves at
/// tolerance 1e-12). cvxpylayers' published figure is 2.1e-2.
#[test]
fn random_qp_gradient_accuracy() {
    let node = node_of("stdlib/optnet_qp.ddn", "optnet_qp");
    let mut rng = Rng(17);
    let (n, k, q) = (10, 20, 2);
    let (mut total, mut count) = (0.0, 0usize);
    for _ in 0..5 {
        let qm = rng.spd(n, 0.1);
        let (g, a, z0) = (rng.mat(k, n), rng.mat(q, n), rng.vec(n));
        let p = rng.vec(n);
        let h: Vec<f64> =
            (0..k).map(|r| (0..n).map(|j| g[r][j] * z0[j]).sum::<f64>() + 0.1 + rng.next().abs()).collect();
        let b: Vec<f64> = (0..q).map(|r| (0..n).map(|j| a[r][j] * z0[j]).sum::<f64>()).collect();
        let inputs = json!({"Q": qm, "p": p, "G": g, "h": h, "A": a, "b": b});
        let cot = vec![("z".to_string(), Tensor::vector(rng.vec(n)))];
        let bound = bind(&node, &named_tensors(&inputs).expect("in")).expect("bind");
        let mut s = forward_with(&node, &bound, &tight()).expect("forward");
        let grads = ddn::diff::backward(&node, &bound, &mut s, &cot).expect("backward");
        // Reference for p and h (the layer's usual learnable inputs).
        for (name, k) in [("p", 1usize), ("h", 3usize)] {
            for i in 0..bound.params[k].len() {
                let moved = |d: f64| {
                    let mut v = inputs.clone();
                    let mut t = bound.params[k].clone();
                    t.data[i] += d;
                    v[name] = ddn::runtime::tensor_to_json(&t);
                    loss(&node, &v, &cot)
                };
                let numeric = (moved(1e-5) - moved(-1e-5)) / 2e-5;
                total += (numeric - grads[k].data[i]).abs();
                count += 1;
            }
        }
    }
    let mean = total / count as f64;
    eprintln!("random QPs (n = {n}, {k} inequalities, {q} equalities): mean |gradient error| = {mean:.1e} over {count} entries");
    assert!(mean < 1e-6, "mean absolute gradient error {mean:e}");
}
