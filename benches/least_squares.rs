//! Least squares, `min ‖Ax − b‖²` with A m×n, m = 2n, seeded Gaussian data.
//!
//! Per size, four measurements in one criterion group (`least_squares`):
//!
//! - `ddn_forward`: the compiled stdlib `least_squares` node, per call `bind` +
//!   `forward` (what a user pays per layer evaluation; compiling is done once);
//! - `faer_qr`: the baseline, a bare faer QR of the same A and the least-squares
//!   solve with it;
//! - `ddn_canonicalize`: canonicalisation alone (bound inputs → cone program);
//! - `ddn_ipm`: ddn's interior point method alone on that cone program;
//! - `ddn_forward_backward`: `bind` + `forward` + `ddn::diff::backward` with a
//!   fixed cotangent on x (dL/dA, dL/db);
//! - `faer_qr_forward_backward`: the same by hand with the QR: the solve, then
//!   w = (AᵀA)⁻¹v = R⁻¹R⁻ᵀv, dL/dA = r wᵀ − (Aw) xᵀ, dL/db = Aw
//!   (stdlib/least_squares.ddn's formulas).
//!
//! Before timing, each size checks once that ddn and the QR agree on x and on
//! both gradients to 1e-6, and panics if not.
//!
//! ```sh
//! cargo bench --bench least_squares
//! ```

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ddn::canon::canonicalize;
use ddn::diff::backward;
use ddn::eval::Tensor;
use ddn::runtime::{bind, forward, Status};
use ddn::solve::{solve, Settings};
use faer::linalg::solvers::SolveLstsq;
use faer::linalg::triangular_solve::{solve_lower_triangular_in_place, solve_upper_triangular_in_place};
use faer::{Col, Mat, Par};

use common::{bench, inputs, rel_diff, stdlib_node, time_once, Rng};

const GROUP: &str = "least_squares";
const SIZES: [usize; 4] = [8, 32, 128, 512];

/// The least-squares solution x and, for the cotangent v on x, dL/dA and dL/db,
/// from one QR of A.
fn qr_forward_backward(a: &Mat<f64>, b: &Col<f64>, v: &Col<f64>) -> (Col<f64>, Mat<f64>, Col<f64>) {
    let qr = a.qr();
    let x = qr.solve_lstsq(b);
    let r_factor = qr.thin_R();
    let mut w = v.clone();
    solve_lower_triangular_in_place(r_factor.transpose(), w.as_mat_mut(), Par::Seq);
    solve_upper_triangular_in_place(r_factor, w.as_mat_mut(), Par::Seq);
    let aw = a * &w;
    let r = b - a * &x;
    let da = &r * w.transpose() - &aw * x.transpose();
    (x, da, aw)
}

fn least_squares(c: &mut Criterion) {
    let node = stdlib_node("least_squares.ddn", include_str!("../stdlib/least_squares.ddn"), "least_squares");
    let settings = Settings::default();
    common::single_threaded();
    let mut group = c.benchmark_group(GROUP);
    for n in SIZES {
        let m = 2 * n;
        let mut rng = Rng::new(0x15_0000 + n as u64);
        let a = rng.normals(m * n);
        let b = rng.normals(m);
        let named = inputs(vec![("A", Tensor::matrix(m, n, a.clone())), ("b", Tensor::vector(b.clone()))]);
        let v = rng.normals(n);
        let cot = vec![("x".to_string(), Tensor::vector(v.clone()))];
        let a_mat = Mat::from_fn(m, n, |i, j| a[i * n + j]);
        let b_col = Col::from_fn(m, |i| b[i]);
        let v_col = Col::from_fn(n, |i| v[i]);

        // Once, untimed: the two answers agree, and the probe times pick the settings.
        let (t_fwd, solved) = time_once(|| forward(&node, &bind(&node, &named).expect("bind")).expect("forward"));
        assert_eq!(solved.status, Status::Optimal, "n = {n}: {:?}", solved.info);
        let x_ddn = &solved.outputs[0].1.data;
        let (t_qr, x_qr) = time_once(|| a_mat.qr().solve_lstsq(&b_col));
        let x_qr: Vec<f64> = x_qr.iter().copied().collect();
        let err = rel_diff(x_ddn, &x_qr);
        assert!(err <= 1e-6, "n = {n}: ddn and QR disagree, relative difference {err:e}");
        let bound = bind(&node, &named).expect("bind");
        let (t_fb, grads) = time_once(|| {
            let mut solved = forward(&node, &bound).expect("forward");
            backward(&node, &bound, &mut solved, &cot).expect("backward")
        });
        let (t_qr_fb, (_, da, db)) = time_once(|| qr_forward_backward(&a_mat, &b_col, &v_col));
        let da: Vec<f64> = (0..m * n).map(|k| da[(k / n, k % n)]).collect();
        let db: Vec<f64> = db.iter().copied().collect();
        let err_grad = rel_diff(&grads[0].data, &da).max(rel_diff(&grads[1].data, &db));
        assert!(err_grad <= 1e-6, "n = {n}: ddn and QR gradients disagree, relative difference {err_grad:e}");
        let (t_canon, canon) = time_once(|| canonicalize(&node, &bound).expect("canonicalize"));
        let (t_ipm, _) = time_once(|| solve(&canon.program, &settings).expect("solve"));
        println!(
            "least_squares n = {n}: cone program {} variables, {} rows, P nnz {}; \
             ddn/QR max relative difference {err:.1e} (x), {err_grad:.1e} (gradients); iterations {}",
            canon.program.n(),
            canon.program.m(),
            canon.program.p.entries.len(),
            solved.info["iterations"],
        );

        let g = &mut group;
        bench(g, GROUP, "ddn_forward", n, t_fwd, || {
            let bound = bind(&node, black_box(&named)).expect("bind");
            forward(&node, &bound).expect("forward")
        });
        bench(g, GROUP, "faer_qr", n, t_qr, || black_box(&a_mat).qr().solve_lstsq(black_box(&b_col)));
        bench(g, GROUP, "ddn_forward_backward", n, t_fb, || {
            let bound = bind(&node, black_box(&named)).expect("bind");
            let mut solved = forward(&node, &bound).expect("forward");
            backward(&node, &bound, &mut solved, black_box(&cot)).expect("backward")
        });
        bench(g, GROUP, "faer_qr_forward_backward", n, t_qr_fb, || {
            qr_forward_backward(black_box(&a_mat), black_box(&b_col), black_box(&v_col))
        });
        bench(g, GROUP, "ddn_canonicalize", n, t_canon, || canonicalize(&node, black_box(&bound)).expect("canon"));
        bench(g, GROUP, "ddn_ipm", n, t_ipm, || solve(black_box(&canon.program), &settings).expect("solve"));
    }
    group.finish();
}

criterion_group!(benches, least_squares);
criterion_main!(benches);
