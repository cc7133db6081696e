//! The eigen nodes (`stdlib/eigen.ddn`), m ∈ {8, 32, 128}: X = A + Aᵀ with A
//! standard normal, a Gaussian cotangent on the output.
//!
//! Per node and size, in one criterion group (`eigen`):
//!
//! - `ddn_max_eigvec` / `ddn_eigh_full`: the stdlib node, per call `bind` +
//!   `forward` + `backward` (what `ddnc bench` times);
//! - `faer_max_eigvec` / `faer_eigh_full`: the same mathematics written by hand
//!   with faer: `self_adjoint_eigen` of X, the same sign rule (each eigenvector's
//!   largest-magnitude entry positive), then the closed-form backward:
//!   `dL/dX = −½(w yᵀ + y wᵀ)`, `w = Σ_{i<m} y_i (y_iᵀv)/(λ_i − λ_max)` for the
//!   largest eigenvector, `dL/dX = ½(G + Gᵀ)`, `G = Y (F ∘ YᵀV) Yᵀ`,
//!   `F_ik = 1/(λ_k − λ_i)`, for the full decomposition.
//!
//! Before timing, each case checks that the node and the hand-written version
//! agree on the output and on dL/dX (to 1e-9 relative to the largest entry).
//!
//! ```sh
//! cargo bench --bench eigen
//! ```

// The paper's symbols: X, Y, V, G are matrices.
#![allow(non_snake_case)]

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ddn::diff::backward;
use ddn::eval::Tensor;
use ddn::runtime::{bind, forward, Options, Status};
use faer::{Col, Mat, MatRef, Side};

use common::{bench, inputs, stdlib_node, time_once, Rng};

const GROUP: &str = "eigen";
const SIZES: [usize; 3] = [8, 32, 128];

/// The eigenvalues (ascending) and eigenvectors of X, each eigenvector's
/// largest-magnitude entry positive.
fn eigh(X: MatRef<'_, f64>) -> (Vec<f64>, Mat<f64>) {
    let m = X.nrows();
    let evd = X.self_adjoint_eigen(Side::Lower).expect("converged");
    let lambda = (0..m).map(|k| evd.S()[k]).collect();
    let mut Y = evd.U().to_owned();
    for k in 0..m {
        let col = Y.col(k);
        let big = (0..m).fold(0, |b, i| if col[i].abs() > col[b].abs() { i } else { b });
        if col[big] < 0.0 {
            Y.col_mut(k).iter_mut().for_each(|x| *x = -*x);
        }
    }
    (lambda, Y)
}

/// u = the eigenvector of λ_max, and dL/dX for the cotangent v.
fn faer_max_eigvec(X: MatRef<'_, f64>, v: &Col<f64>) -> (Col<f64>, Mat<f64>) {
    let m = X.nrows();
    let (lambda, Y) = eigh(X);
    let top = m - 1;
    let mut z = Y.transpose() * v;
    for i in 0..m {
        z[i] = if i == top { 0.0 } else { z[i] / (lambda[i] - lambda[top]) };
    }
    let w = &Y * &z;
    let y = Y.col(top);
    (y.to_owned(), Mat::from_fn(m, m, |i, j| -0.5 * (w[i] * y[j] + y[i] * w[j])))
}

/// U = the eigenbasis, and dL/dX for the cotangent V.
fn faer_eigh_full(X: MatRef<'_, f64>, V: MatRef<'_, f64>) -> (Mat<f64>, Mat<f64>) {
    let m = X.nrows();
    let (lambda, Y) = eigh(X);
    let C = Y.transpose() * V;
    let FC = Mat::from_fn(m, m, |i, k| if i == k { 0.0 } else { C[(i, k)] / (lambda[k] - lambda[i]) });
    let G = &Y * FC * Y.transpose();
    let dX = Mat::from_fn(m, m, |i, j| 0.5 * (G[(i, j)] + G[(j, i)]));
    (Y, dX)
}

/// Row-major entries.
fn entries(X: MatRef<'_, f64>) -> Vec<f64> {
    (0..X.nrows()).flat_map(|i| (0..X.ncols()).map(move |j| X[(i, j)])).collect()
}

/// `max |a − b| / max |b|`.
fn relative(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |s, x| s.max(x.abs()));
    a.iter().zip(b).fold(0.0f64, |e, (x, y)| e.max((x - y).abs())) / scale
}

fn eigen(c: &mut Criterion) {
    common::single_threaded();
    let source = include_str!("../stdlib/eigen.ddn");
    let max_node = stdlib_node("eigen.ddn", source, "max_eigvec");
    let full_node = stdlib_node("eigen.ddn", source, "eigh_full");
    let mut group = c.benchmark_group(GROUP);
    for m in SIZES {
        let mut rng = Rng::new(0xe1_0000 + m as u64);
        let A = Mat::from_fn(m, m, |_, _| rng.normal());
        let X = Mat::from_fn(m, m, |i, j| A[(i, j)] + A[(j, i)]);
        let v = Col::from_fn(m, |_| rng.normal());
        let V = Mat::from_fn(m, m, |_, _| rng.normal());
        let named = inputs(vec![("X", Tensor::matrix(m, m, entries(X.as_ref())))]);
        let cot_u = vec![("u".to_string(), Tensor::vector(v.iter().copied().collect()))];
        let cot_U = vec![("U".to_string(), Tensor::matrix(m, m, entries(V.as_ref())))];
        let ddn = |node: &ddn::analysis::Analysed<'_>, cot: &[(String, Tensor)]| {
            let bound = bind(node, &named).expect("bind");
            let mut solved = forward(node, &bound, &Options::default()).expect("forward");
            assert_eq!(solved.status, Status::Optimal);
            let out = solved.outputs[0].1.data.clone();
            (out, backward(node, &bound, &mut solved, cot).expect("backward"))
        };

        // Untimed: the node and the hand-written version agree.
        let (t_ddn_max, (u, g)) = time_once(|| ddn(&max_node, &cot_u));
        let (t_faer_max, (u_faer, dX)) = time_once(|| faer_max_eigvec(X.as_ref(), &v));
        let err_max =
            relative(&u, &u_faer.iter().copied().collect::<Vec<_>>()).max(relative(&g[0].data, &entries(dX.as_ref())));
        assert!(err_max <= 1e-9, "m = {m}: max_eigvec differs from the hand-written version by {err_max:e}");
        let (t_ddn_full, (U, g)) = time_once(|| ddn(&full_node, &cot_U));
        let (t_faer_full, (U_faer, dX)) = time_once(|| faer_eigh_full(X.as_ref(), V.as_ref()));
        let err_full = relative(&U, &entries(U_faer.as_ref())).max(relative(&g[0].data, &entries(dX.as_ref())));
        assert!(err_full <= 1e-9, "m = {m}: eigh_full differs from the hand-written version by {err_full:e}");
        println!("eigen m = {m}: node vs hand-written, max_eigvec {err_max:.1e}, eigh_full {err_full:.1e}");

        let g = &mut group;
        bench(g, GROUP, "ddn_max_eigvec", m, t_ddn_max, || {
            let bound = bind(&max_node, black_box(&named)).expect("bind");
            let mut solved = forward(&max_node, &bound, &Options::default()).expect("forward");
            backward(&max_node, &bound, &mut solved, black_box(&cot_u)).expect("backward")
        });
        bench(g, GROUP, "faer_max_eigvec", m, t_faer_max, || faer_max_eigvec(black_box(X.as_ref()), black_box(&v)));
        bench(g, GROUP, "ddn_eigh_full", m, t_ddn_full, || {
            let bound = bind(&full_node, black_box(&named)).expect("bind");
            let mut solved = forward(&full_node, &bound, &Options::default()).expect("forward");
            backward(&full_node, &bound, &mut solved, black_box(&cot_U)).expect("backward")
        });
        bench(g, GROUP, "faer_eigh_full", m, t_faer_full, || {
            faer_eigh_full(black_box(X.as_ref()), black_box(V.as_ref()))
        });
    }
    group.finish();
}

criterion_group!(benches, eigen);
criterion_main!(benches);
