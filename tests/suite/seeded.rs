//! Seeded, valid inputs for every stdlib node, and a seeded cotangent per
//! output: what the back-end comparisons (`generated.rs`) run every node on.
//! Valid means the node is solvable there: symmetric matrices for the eigen
//! nodes, positive marginals of equal mass for transport, a feasible OptNet QP
//! with strict complementarity, positive `pos` parameters, a bounded LP, a
//! camera scene for PnP.

use std::collections::BTreeMap;

use ddn::eval::Tensor;
use serde_json::json;

use super::Rng;

/// The node's inputs, by parameter name; panics for a node not in the stdlib.
pub fn inputs(node: &str) -> BTreeMap<String, Tensor> {
    let mut rng = Rng(0x5eed ^ node.len() as u64);
    let pool = |rng: &mut Rng| json!({"x": rng.mat(5, 2), "alpha": 0.8});
    let value = match node {
        "max_eigvec" | "eigh_full" => {
            // A symmetric matrix with well-separated eigenvalues (the eigenvector
            // derivatives divide by their gaps).
            let s = rng.mat(3, 3);
            let x: Vec<Vec<f64>> = (0..3)
                .map(|i| (0..3).map(|j| 0.1 * (s[i][j] + s[j][i]) + if i == j { i as f64 } else { 0.0 }).collect())
                .collect();
            json!({ "X": x })
        }
        "least_squares" => json!({"A": rng.mat(4, 2), "b": rng.vec(4)}),
        "lp_layer" => {
            // Random rows plus the box |z| ≤ 2, so the LP is bounded.
            let n = 3;
            let mut g = rng.mat(4, n);
            let mut h: Vec<f64> = (0..4).map(|_| 1.0 + rng.next().abs()).collect();
            for i in 0..n {
                let e: Vec<f64> = (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect();
                g.push(e.clone());
                g.push(e.iter().map(|x| -x).collect());
                h.extend([2.0, 2.0]);
            }
            json!({"c": rng.vec(n), "G": g, "h": h})
        }
        "ls_norm_ball" => json!({"A": rng.mat(3, 2), "b": [2.0, 1.5, 0.3], "r": 0.7}),
        "lasso" => json!({"A": rng.mat(4, 3), "b": rng.vec(4), "lam": 0.3}),
        "logistic_regression" => {
            let y: Vec<f64> = (0..6).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
            json!({"X": rng.mat(6, 3), "y": y, "lam": 0.1})
        }
        "softmax_layer" => json!({ "z": rng.vec(4) }),
        "pool_welsch_ball" => {
            // Points around (1, 1): the pooled vector sits on the unit ball's boundary.
            let x: Vec<Vec<f64>> = (0..5).map(|_| vec![1.0 + 0.3 * rng.next(), 1.0 + 0.3 * rng.next()]).collect();
            json!({"x": x, "alpha": 1.5})
        }
        "etf_project" => {
            // U_prox near the Stiefel manifold: the columns of I plus a little noise.
            let prox: Vec<Vec<f64>> =
                (0..4).map(|i| (0..2).map(|j| if i == j { 1.0 } else { 0.0 } + 0.1 * rng.next()).collect()).collect();
            json!({"H_bar": rng.mat(4, 2), "U_prox": prox, "delta": 0.5})
        }
        "entropic_ot" => {
            // Positive marginals of equal mass (1).
            let (r, c) = (positive(&mut rng, 2), positive(&mut rng, 3));
            json!({"M": rng.mat(2, 3), "r": r, "c": c, "gamma": 5.0})
        }
        "optnet_qp" => rng.planted_optnet(4, 5, 1).0,
        "pool_quadratic" => json!({ "x": rng.mat(5, 2) }),
        "pool_pseudo_huber" | "pool_huber" | "pool_welsch" | "pool_truncated_quadratic" => pool(&mut rng),
        "project_simplex" | "project_simplex_dual" => json!({ "y": rng.vec(5) }),
        // Every weight positive (central differences move each one both ways).
        "weighted_pnp" => pnp_scene(&mut rng, 5, 0.2, 0.1).inputs,
        "project_ellipsoid" => {
            // A positive definite P and y outside the ellipsoid: the constraint is active.
            let y: Vec<f64> = rng.vec(3).iter().map(|v| 3.0 + v).collect();
            json!({"y": y, "P": rng.spd(3, 0.5), "x0": rng.vec(3)})
        }
        other => panic!("no seeded inputs for `{other}`: add them here"),
    };
    ddn::runtime::named_tensors(&value).expect("seeded inputs")
}

/// `n` positive weights summing to one.
fn positive(rng: &mut Rng, n: usize) -> Vec<f64> {
    let w: Vec<f64> = (0..n).map(|_| 1.0 + 0.5 * rng.next()).collect();
    let total: f64 = w.iter().sum();
    w.iter().map(|x| x / total).collect()
}

/// A 3 × 3 matrix as rows.
pub type Mat3 = [[f64; 3]; 3];

/// The rotation by angle ‖w‖ about w/‖w‖ (Rodrigues):
/// R = I + (sin θ/θ) [w]ₓ + ((1 − cos θ)/θ²) [w]ₓ².
pub fn rotation(w: [f64; 3]) -> Mat3 {
    let theta = (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]).sqrt();
    let k = [[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]];
    let (a, b) = if theta == 0.0 { (1.0, 0.5) } else { (theta.sin() / theta, (1.0 - theta.cos()) / (theta * theta)) };
    let mut r = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            let kk: f64 = (0..3).map(|l| k[i][l] * k[l][j]).sum();
            r[i][j] = if i == j { 1.0 } else { 0.0 } + a * k[i][j] + b * kk;
        }
    }
    r
}

/// `a b` for 3 × 3 matrices.
pub fn product(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut c = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            c[i][j] = (0..3).map(|l| a[i][l] * b[l][j]).sum();
        }
    }
    c
}

/// A synthetic perspective-n-point scene and its true pose.
pub struct PnpScene {
    /// `W`, `f`, `X`, `R0`, `t0` of `weighted_pnp`.
    pub inputs: serde_json::Value,
    pub r: Mat3,
    pub t: [f64; 3],
}

/// `n` points uniform in the cube (−1, 1)³ and a camera about 4 units away,
/// turned by a random rotation of angle up to √3 rad; the bearing vectors
/// fᵢ = N(R x_π(i) + t) of the points in a shuffled order π; the weights
/// W = (1 − blur)·Π/n + blur/n² (Π the permutation matrix of π), so W sums to
/// one; and a starting pose (R0, t0) with R0 = R_δ R, R_δ a rotation by
/// `offset` rad about a random axis, and t0 = t + offset·(random in the cube).
pub fn pnp_scene(rng: &mut Rng, n: usize, blur: f64, offset: f64) -> PnpScene {
    let r = rotation([rng.next(), rng.next(), rng.next()]);
    let t = [0.3 * rng.next(), 0.3 * rng.next(), 4.0 + 0.3 * rng.next()];
    let x = rng.mat(n, 3);
    let mut pi: Vec<usize> = (0..n).collect();
    for k in (1..n).rev() {
        let j = (((rng.next() + 1.0) / 2.0 * (k + 1) as f64) as usize).min(k);
        pi.swap(k, j);
    }
    let f: Vec<Vec<f64>> = pi
        .iter()
        .map(|&j| {
            let c: Vec<f64> = (0..3).map(|i| (0..3).map(|l| r[i][l] * x[j][l]).sum::<f64>() + t[i]).collect();
            let norm = c.iter().map(|v| v * v).sum::<f64>().sqrt();
            c.iter().map(|v| v / norm).collect()
        })
        .collect();
    let w: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n).map(|j| if pi[i] == j { (1.0 - blur) / n as f64 } else { 0.0 } + blur / (n * n) as f64).collect()
        })
        .collect();
    let axis = [rng.next(), rng.next(), rng.next()];
    let len = (axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]).sqrt();
    let r0 = product(&rotation(axis.map(|a| offset * a / len)), &r);
    let t0: Vec<f64> = t.iter().map(|v| v + offset * rng.next()).collect();
    PnpScene { inputs: json!({"W": w, "f": f, "X": x, "R0": r0, "t0": t0}), r, t }
}

/// A seeded cotangent for each output of `node` at its solution `solved`
/// (shapes from the outputs themselves).
pub fn cotangents(node: &str, solved: &ddn::runtime::Solved) -> Vec<(String, Tensor)> {
    let mut rng = Rng(0xc07 ^ node.len() as u64);
    solved
        .outputs
        .iter()
        .map(|(name, t)| (name.clone(), Tensor { shape: t.shape.clone(), data: rng.vec(t.data.len()) }))
        .collect()
}

/// A seeded tensor of `shape`.
pub fn tensor(rng: &mut Rng, shape: Vec<usize>) -> Tensor {
    let len = shape.iter().product();
    Tensor { shape, data: rng.vec(len) }
}
