//! The adjoint identity ⟨v, J u⟩ = ⟨Jᵀv, u⟩ on seeded random instances of every
//! class of node: J u by central differences of the forward along a random
//! direction u in parameter space, Jᵀv by the backward pass. One difference
//! quotient per instance checks every parameter at once (the entrywise checks
//! are in `backward` and `smooth_nodes`).

use ddn::eval::Tensor;
use ddn::runtime::{bind, forward, named_tensors, Options, Status};
use serde_json::{json, Value};

use super::backward::{loss, node_of};
use super::Rng;

/// ⟨Jᵀv, u⟩ from the backward and ⟨v, J u⟩ from differences with step `h`,
/// agreeing to `tol` relative; `sym`/`psd` parameters move symmetrically.
fn adjoint_identity(
    node: &ddn::analysis::Analysed<'_>,
    inputs: &Value,
    cot: &[(String, Tensor)],
    rng: &mut Rng,
    h: f64,
) {
    let b = bind(node, &named_tensors(inputs).expect("inputs")).expect("bind");
    let mut s = forward(node, &b, &Options::default()).expect("forward");
    assert_eq!(s.status, Status::Optimal, "{}: {:?}", node.name, s.info);
    let grads = ddn::diff::backward(node, &b, &mut s, cot).expect("backward");
    let mut dirs = Vec::new();
    for (p, value) in node.params.iter().zip(&b.params) {
        let mut u = Tensor { shape: value.shape.clone(), data: rng.vec(value.len()) };
        if matches!(p.base, ddn::syntax::ast::BaseType::Sym | ddn::syntax::ast::BaseType::Psd) {
            let (n, _) = value.rows_cols();
            for i in 0..n {
                for j in 0..i {
                    u.data[i * n + j] = u.data[j * n + i];
                }
            }
        }
        dirs.push(u);
    }
    let predicted: f64 =
        grads.iter().zip(&dirs).map(|(g, u)| g.data.iter().zip(&u.data).map(|(a, b)| a * b).sum::<f64>()).sum();
    let moved = |t: f64| {
        let mut v = inputs.clone();
        for ((p, value), u) in node.params.iter().zip(&b.params).zip(&dirs) {
            let data = value.data.iter().zip(&u.data).map(|(x, d)| x + t * d).collect();
            v[&p.name] = ddn::runtime::tensor_to_json(&Tensor { shape: value.shape.clone(), data });
        }
        loss(node, &v, cot)
    };
    let measured = (moved(h) - moved(-h)) / (2.0 * h);
    assert!(
        (predicted - measured).abs() <= 1e-5 * (1.0 + measured.abs()),
        "{}: ⟨Jᵀv, u⟩ = {predicted}, ⟨v, Ju⟩ = {measured}",
        node.name
    );
}

fn vector(rng: &mut Rng, name: &str, n: usize) -> Vec<(String, Tensor)> {
    vec![(name.to_string(), Tensor::vector(rng.vec(n)))]
}

#[test]
fn random_lps() {
    let node = node_of("stdlib/more.ddn", "lp_layer");
    let mut rng = Rng(101);
    for _ in 0..4 {
        let n = 4;
        // Random rows plus a box |z| ≤ 2, so the LP is bounded; a generic c picks a
        // nondegenerate vertex.
        let mut g = rng.mat(6, n);
        let mut h: Vec<f64> = (0..6).map(|_| 1.0 + rng.next().abs()).collect();
        for i in 0..n {
            let mut e = vec![0.0; n];
            e[i] = 1.0;
            g.push(e.clone());
            g.push(e.iter().map(|x| -x).collect());
            h.extend([2.0, 2.0]);
        }
        let inputs = json!({"c": rng.vec(n), "G": g, "h": h});
        adjoint_identity(&node, &inputs, &vector(&mut rng, "z", n), &mut rng, 1e-6);
    }
}

#[test]
fn random_inequality_and_equality_qps() {
    let node = node_of("stdlib/optnet_qp.ddn", "optnet_qp");
    let mut rng = Rng(102);
    for _ in 0..4 {
        let (inputs, _) = rng.planted_optnet(6, 8, 2);
        adjoint_identity(&node, &inputs, &vector(&mut rng, "z", 6), &mut rng, 1e-6);
    }
    // Equalities only: the direct path (one LBLᵀ of the KKT matrix).
    let c = ddn::compile(
        "eqp.ddn",
        "node eqp(Q: psd[n, n], p: real[n], A: real[k, n], b: real[k]) -> (x: real[n], dual eqs) {
            minimize 0.5 * quad_form(x, Q) + p @ x
            subject to { eqs: A @ x == b }
        }",
    );
    let eqp = &c.analysed(0).expect("node");
    for _ in 0..4 {
        let inputs = json!({"Q": rng.spd(5, 0.5), "p": rng.vec(5), "A": rng.mat(2, 5), "b": rng.vec(2)});
        let mut cot = vector(&mut rng, "x", 5);
        cot.extend(vector(&mut rng, "eqs", 2));
        adjoint_identity(eqp, &inputs, &cot, &mut rng, 1e-6);
    }
}

#[test]
fn random_smooth_unconstrained_equality_and_inequality_nodes() {
    let mut rng = Rng(103);
    let pool = node_of("stdlib/robust_pooling.ddn", "pool_pseudo_huber");
    let softmax = node_of("stdlib/more.ddn", "softmax_layer");
    let ball = node_of("stdlib/more.ddn", "pool_welsch_ball");
    for _ in 0..3 {
        let x = rng.mat(7, 3);
        adjoint_identity(&pool, &json!({"x": x, "alpha": 0.7}), &vector(&mut rng, "y", 3), &mut rng, 1e-6);
        let z = rng.vec(5);
        adjoint_identity(&softmax, &json!({"z": z}), &vector(&mut rng, "p", 5), &mut rng, 1e-6);
        // Points around (1, 1): the pooled vector sits on the unit ball's boundary.
        let x: Vec<Vec<f64>> = (0..6).map(|_| vec![1.0 + 0.3 * rng.next(), 1.0 + 0.3 * rng.next()]).collect();
        adjoint_identity(&ball, &json!({"x": x, "alpha": 1.5}), &vector(&mut rng, "y", 2), &mut rng, 1e-6);
    }
}

/// The exponential and PSD cones (issue 16): log-sum-exp with an ℓ₁ term (an
/// exponential-cone program: the ℓ₁ term makes it conic), and the nearest PSD
/// matrix to a positive definite `cA`, whose PSD block is interior at the
/// optimum (X = cA: the cone's linearisation at a point where Z = 0). The
/// exponential-cone program's difference step is 1e-3: its points are not
/// polished (accurate to ≈ 1e-9), which a step of 1e-6 would amplify to
/// ≈ 1e-3 in the quotient, past the tolerance (measured: 2% off); the
/// truncation error at 1e-3 is O(h²).
#[test]
fn random_exp_and_psd_cone_nodes() {
    let mut rng = Rng(104);
    let c = ddn::compile(
        "cones.ddn",
        "node lse(A: real[m, n], b: real[m]) -> x: real[n] {
            minimize log_sum_exp(A @ x + b) + norm1(x) / 4 + sum_squares(x) / 2
        }
        node nearest_psd(A: sym[n, n], c: real) -> X: psd[n, n] {
            minimize sum_squares(X - c * A)
        }",
    );
    let (lse, psd) = (&c.analysed(0).expect("lse"), &c.analysed(1).expect("nearest_psd"));
    for _ in 0..3 {
        let inputs = json!({"A": rng.mat(5, 3), "b": rng.vec(5)});
        adjoint_identity(lse, &inputs, &vector(&mut rng, "x", 3), &mut rng, 1e-3);
        let n = 3;
        let a = rng.spd(n, 0.5);
        let cot: Vec<f64> = rng.vec(n * n);
        let cot = vec![("X".to_string(), Tensor::matrix(n, n, cot))];
        adjoint_identity(psd, &json!({"A": a, "c": 1.0 + 0.3 * rng.next().abs()}), &cot, &mut rng, 1e-6);
    }
}
