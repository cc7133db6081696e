//! Least squares, `min ‖Ax − b‖²` with A m×n, m = 2n, seeded Gaussian data.
//!
//! Per size, in one criterion group (`least_squares`):
//!
//! - `faer_qr`: the baseline, a bare faer QR of the same A and the least-squares
//!   solve with it;
//! - `faer_qr_forward_backward`: the same by hand with the QR: the solve, then
//!   w = (AᵀA)⁻¹v = R⁻¹R⁻ᵀv, dL/dA = r wᵀ − (Aw) xᵀ, dL/db = Aw
//!   (stdlib/least_squares.ddn's formulas): the floor the ddn rows are divided by;
//! - `ddn_qr`, `ddn_qr_forward_backward`: the same two with ddn's own blocked
//!   QR (`ddn::linalg::qr`) in place of faer's, its buffers kept across calls
//!   as the prepared node keeps them;
//! - `ddn_prepared_forward_backward`: the stdlib `least_squares` node prepared
//!   once for the size (`runtime::Prepared`), per call `bind` +
//!   `Prepared::forward` + `ddn::diff::backward` with a fixed cotangent on x
//!   (dL/dA, dL/db): what a layer called repeatedly pays;
//! - `ddn_prepared_core`: the same without `bind` and the named outputs:
//!   `Prepared::solve` + `Prepared::gradient` in a kept `Workspace`;
//! - `ddn_prepared_forward`: `bind` + `Prepared::forward`;
//! - `ddn_forward_backward`: `bind` + `runtime::forward` + backward, the
//!   stateless entry point (which prepares the node on every call);
//! - `ddn_unprepared_forward_backward`: `bind` + `runtime::forward` with `Options::unprepared` +
//!   backward: the node canonicalised on every call and the backward through
//!   the node's expressions, the path before the prepared node (the "before"
//!   column of docs/benchmarks.md).
//!
//! Before timing, each size checks once that every ddn path and the QR agree
//! on x and on both gradients to 1e-6, and panics if not.
//!
//! ```sh
//! cargo bench --bench least_squares
//! ```

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ddn::diff::backward;
use ddn::eval::Tensor;
use ddn::linalg::qr::Qr;
use ddn::runtime::{bind, forward, interpreted, Options, Prepared, Status, Workspace};
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

/// [`qr_forward_backward`] with ddn's QR, factored in `qr`'s kept buffers.
fn ddn_qr_forward_backward(qr: &mut Qr, a: &Mat<f64>, b: &Col<f64>, v: &Col<f64>) -> (Col<f64>, Mat<f64>, Col<f64>) {
    let x = ddn_qr_solve(qr, a, b);
    let mut w: Vec<f64> = v.iter().copied().collect();
    qr.solve_normal_in_place(&mut w);
    let w = Col::from_fn(v.nrows(), |i| w[i]);
    let aw = a * &w;
    let r = b - a * &x;
    let da = &r * w.transpose() - &aw * x.transpose();
    (x, da, aw)
}

/// `argmin ‖Ax − b‖` by ddn's QR.
fn ddn_qr_solve(qr: &mut Qr, a: &Mat<f64>, b: &Col<f64>) -> Col<f64> {
    qr.factor(a.as_ref());
    let mut rhs: Vec<f64> = b.iter().copied().collect();
    qr.solve_lstsq_in_place(&mut rhs);
    Col::from_fn(a.ncols(), |i| rhs[i])
}

fn least_squares(c: &mut Criterion) {
    let node = stdlib_node("least_squares.ddn", include_str!("../stdlib/least_squares.ddn"), "least_squares");
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
        let bound = bind(&node, &named).expect("bind");
        let prepared = Prepared::new(&node, &bound, interpreted(&node).expect("kernels")).expect("prepare");

        // Once, untimed: every path agrees with the QR, and the probe times pick the settings.
        let (t_qr, x_qr) = time_once(|| a_mat.qr().solve_lstsq(&b_col));
        let x_qr: Vec<f64> = x_qr.iter().copied().collect();
        let (t_qr_fb, (_, da, db)) = time_once(|| qr_forward_backward(&a_mat, &b_col, &v_col));
        let mut qr = Qr::default();
        let (t_ddn_qr_fb, (x_ddn, da_ddn, db_ddn)) =
            time_once(|| ddn_qr_forward_backward(&mut qr, &a_mat, &b_col, &v_col));
        let da: Vec<f64> = (0..m * n).map(|k| da[(k / n, k % n)]).collect();
        let db: Vec<f64> = db.iter().copied().collect();
        let mut worst: f64 = 0.0;
        let mut check = |label: &str, x: &[f64], grads: &[Tensor]| {
            let err = rel_diff(x, &x_qr).max(rel_diff(&grads[0].data, &da)).max(rel_diff(&grads[1].data, &db));
            assert!(err <= 1e-6, "n = {n}, {label}: ddn and QR disagree, relative difference {err:e}");
            worst = worst.max(err);
        };
        let fb = |f: &dyn Fn(&ddn::runtime::Bound) -> ddn::runtime::Solved| {
            let bound = bind(&node, black_box(&named)).expect("bind");
            let mut solved = f(&bound);
            let grads = backward(&node, &bound, &mut solved, black_box(&cot)).expect("backward");
            (solved, grads)
        };
        let stateless = |b: &ddn::runtime::Bound| forward(&node, b, &Options::default()).expect("forward");
        let unprepared =
            |b: &ddn::runtime::Bound| forward(&node, b, &Options::default().unprepared()).expect("forward");
        let with_prepared = |b: &ddn::runtime::Bound| prepared.forward(b).expect("forward");
        let x_ddn: Vec<f64> = x_ddn.iter().copied().collect();
        let da_ddn: Vec<f64> = (0..m * n).map(|k| da_ddn[(k / n, k % n)]).collect();
        let db_ddn: Vec<f64> = db_ddn.iter().copied().collect();
        check("ddn QR", &x_ddn, &[Tensor::matrix(m, n, da_ddn), Tensor::vector(db_ddn)]);
        let (t_fb, (solved, grads)) = time_once(|| fb(&stateless));
        assert_eq!(solved.status, Status::Optimal, "n = {n}: {:?}", solved.info);
        check("forward", &solved.outputs[0].1.data, &grads);
        let (t_un, (solved, grads)) = time_once(|| fb(&unprepared));
        check("unprepared", &solved.outputs[0].1.data, &grads);
        let (t_pfb, (solved, grads)) = time_once(|| fb(&with_prepared));
        check("prepared", &solved.outputs[0].1.data, &grads);
        let (t_pf, _) = time_once(|| prepared.forward(&bind(&node, &named).expect("bind")).expect("forward"));
        let mut ws = Workspace::default();
        let mut rhs = vec![0.0; n];
        let mut core_grads: Vec<Tensor> = bound.params.iter().map(|p| Tensor::filled(p.shape.clone(), 0.0)).collect();
        let core = |ws: &mut Workspace, rhs: &mut [f64], grads: &mut [Tensor]| {
            prepared.solve(black_box(&bound), ws).expect("solve");
            rhs.copy_from_slice(black_box(&v));
            prepared.gradient(&bound, ws, rhs, grads).expect("gradient");
        };
        let (t_core, ()) = time_once(|| core(&mut ws, &mut rhs, &mut core_grads));
        check("prepared core", ws.x(), &core_grads);
        println!("least_squares n = {n}: every ddn path within {worst:.1e} (relative) of the QR's x and gradients");

        let g = &mut group;
        bench(g, GROUP, "faer_qr", n, t_qr, || black_box(&a_mat).qr().solve_lstsq(black_box(&b_col)));
        bench(g, GROUP, "faer_qr_forward_backward", n, t_qr_fb, || {
            qr_forward_backward(black_box(&a_mat), black_box(&b_col), black_box(&v_col))
        });
        bench(g, GROUP, "ddn_qr", n, t_qr, || ddn_qr_solve(&mut qr, black_box(&a_mat), black_box(&b_col)));
        bench(g, GROUP, "ddn_qr_forward_backward", n, t_ddn_qr_fb, || {
            ddn_qr_forward_backward(&mut qr, black_box(&a_mat), black_box(&b_col), black_box(&v_col))
        });
        bench(g, GROUP, "ddn_prepared_forward_backward", n, t_pfb, || fb(&with_prepared));
        bench(g, GROUP, "ddn_prepared_core", n, t_core, || core(&mut ws, &mut rhs, &mut core_grads));
        bench(g, GROUP, "ddn_prepared_forward", n, t_pf, || {
            prepared.forward(&bind(&node, black_box(&named)).expect("bind")).expect("forward")
        });
        bench(g, GROUP, "ddn_forward_backward", n, t_fb, || fb(&stateless));
        bench(g, GROUP, "ddn_unprepared_forward_backward", n, t_un, || fb(&unprepared));
    }
    group.finish();
}

criterion_group!(benches, least_squares);
criterion_main!(benches);
