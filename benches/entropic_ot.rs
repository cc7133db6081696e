//! Entropic optimal transport, m = n ∈ {16, 64, 256}: costs uniform on [0, 1),
//! uniform marginals, γ = 10 (the side-by-side run's), `tol` 1e-9 (the stdlib
//! node's), a Gaussian cotangent on P.
//!
//! Per size, in one criterion group (`entropic_ot`):
//!
//! - `ddn_forward_backward`: the stdlib `entropic_ot` node, per call `bind` +
//!   `forward` + `backward` (what `ddnc bench` and the side-by-side run time);
//! - `sinkhorn_forward`: `ddn::smooth::sinkhorn` alone (γ·range(M) < 10, so the
//!   kernel domain), and `sinkhorn_forward_log` with the log domain forced;
//! - `structured_backward`: `ddn::diff::entropic_ot_vjp` at that solution (dL/dM,
//!   dL/dr, dL/dc, dL/dγ): the Schur complement of size min(m, n) by
//!   preconditioned conjugate gradients (the direct Cholesky as the fallback);
//! - `forward_backward` and `forward_backward_log`: both, called directly (so the
//!   forward's cost inside a forward + backward loop can be set beside its cost
//!   alone: the earlier log-domain code measured 2.3–2.7× slower alone);
//! - `faer_floor`: the floor, the same mathematics written by hand with faer as a
//!   user would: `K = exp(−γM)` by `f64::exp`, the kernel-domain iteration with
//!   the same stopping test (‖P1 − r‖₁ ≤ tol, from the Kβ the next update needs),
//!   then the torch peer's backward for dL/dM (the Schur complement
//!   `diag(κ') − P'ᵀ diag(1/ρ) P'` by a full faer product, faer's Cholesky);
//! - `faer_matmul`, a yardstick: a bare faer n×n by n×n product (2n³ flops);
//! - `dense_kkt_backward` (n = 16 only): the unstructured implicit solve, an LU
//!   of the (mn + m + n − 1)-square KKT matrix, for dL/dM.
//!
//! Before timing, each size checks: the kernel- and log-domain plans agree; the
//! node, the direct calls and the floor agree on P and dL/dM (relative to their
//! largest entry, to 1e-6: each forward stops within `tol` of the marginals); at
//! n = 16 the structured backward agrees with the dense KKT solve to 1e-8.
//!
//! Memory: the binary's global allocator counts live bytes, their peak, and
//! allocation calls. Before timing it asserts, in both domains, that Sinkhorn's
//! peak allocation and its number of allocations are the same for max_iter = 100
//! and 1000 (run with an unreachable `tol`, so every iteration runs): memory does
//! not grow with the iterations and nothing is allocated inside the loop. It
//! prints the peaks of forward, backward and the dense solve.
//!
//! ```sh
//! cargo bench --bench entropic_ot
//! ```

// The paper's symbols: M, P, V, K are matrices.
#![allow(non_snake_case)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use ddn::diff::{backward, entropic_ot_vjp};
use ddn::eval::Tensor;
use ddn::runtime::{bind, forward, Options, Status};
use ddn::smooth::{sinkhorn, Domain, SinkhornSettings};
use faer::linalg::solvers::Solve;
use faer::{Col, Mat, MatRef, Side};

use common::{bench, inputs, stdlib_node, time_once, Rng};

const GROUP: &str = "entropic_ot";
const SIZES: [usize; 3] = [16, 64, 256];
const GAMMA: f64 = 10.0;
const TOL: f64 = 1e-9;

/// The system allocator, counting live bytes, their high-water mark and calls.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The result of `f`, the most bytes it had allocated at once beyond what was
/// live when it started, and its number of allocations (everything runs on this
/// thread: faer is sequential here).
fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let calls = CALLS.load(Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - base, CALLS.load(Ordering::Relaxed) - calls)
}

fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

/// The floor: Sinkhorn in the kernel domain and the torch peer's Schur backward,
/// written directly with faer. Returns P and dL/dM for the cotangent V.
fn faer_floor(M: MatRef<'_, f64>, r: &Col<f64>, c: &Col<f64>, V: MatRef<'_, f64>) -> (Mat<f64>, Mat<f64>) {
    let (m, n) = M.shape();
    let K = Mat::from_fn(m, n, |i, j| (-GAMMA * M[(i, j)]).exp());
    let mut a = Col::<f64>::ones(m);
    let mut b = Col::<f64>::ones(n);
    for it in 0.. {
        let Kb = &K * &b;
        if it > 0 && (0..m).map(|i| (a[i] * Kb[i] - r[i]).abs()).sum::<f64>() <= TOL {
            break;
        }
        a = Col::from_fn(m, |i| r[i] / Kb[i]);
        let Kta = K.transpose() * &a;
        b = Col::from_fn(n, |j| c[j] / Kta[j]);
    }
    let P = Mat::from_fn(m, n, |i, j| a[i] * K[(i, j)] * b[j]);
    // dL/dM = γ P ∘ (y_u 1ᵀ + 1 y_wᵀ − V), y from the reduced system with the last
    // column condition dropped: S = diag(κ') − P'ᵀ diag(1/ρ) P', P' = P[:, :n−1].
    let G = Mat::from_fn(m, n, |i, j| V[(i, j)] * P[(i, j)]);
    let ones_n = Col::<f64>::ones(n);
    let (rho, kappa) = (&P * &ones_n, P.transpose() * Col::<f64>::ones(m));
    let (g_rows, g_cols) = (&G * &ones_n, G.transpose() * Col::<f64>::ones(m));
    let Pp = P.subcols(0, n - 1);
    let Pp_scaled = Mat::from_fn(m, n - 1, |i, j| Pp[(i, j)] / rho[i]);
    let mut S = -(Pp.transpose() * &Pp_scaled);
    for j in 0..n - 1 {
        S[(j, j)] += kappa[j];
    }
    let u = Col::from_fn(m, |i| g_rows[i] / rho[i]);
    let t = Col::from_fn(n - 1, |j| g_cols[j]) - Pp.transpose() * &u;
    let yw = S.llt(Side::Lower).expect("positive definite").solve(&t);
    let yu = Col::from_fn(m, |i| (g_rows[i] - (0..n - 1).map(|j| Pp[(i, j)] * yw[j]).sum::<f64>()) / rho[i]);
    let yw_at = |j: usize| if j < n - 1 { yw[j] } else { 0.0 };
    let dM = Mat::from_fn(m, n, |i, j| GAMMA * (P[(i, j)] * (yu[i] + yw_at(j)) - G[(i, j)]));
    (P, dM)
}

/// dL/dM by the unstructured implicit solve: `[H Aᵀ; A 0] [w; ω] = [vec V; 0]`
/// with `H = diag(1/(γP))` and A the row sums 2..m and the column sums, densely
/// LU-factored; dL/dM = −w.
fn dense_kkt_backward(P: MatRef<'_, f64>, V: MatRef<'_, f64>) -> Mat<f64> {
    let (m, n) = P.shape();
    let (mn, k) = (m * n, m + n - 1);
    let mut K = Mat::<f64>::zeros(mn + k, mn + k);
    for i in 0..m {
        for j in 0..n {
            let t = i * n + j;
            K[(t, t)] = 1.0 / (GAMMA * P[(i, j)]);
            let rows = if i > 0 { vec![i - 1, m - 1 + j] } else { vec![m - 1 + j] };
            for row in rows {
                K[(mn + row, t)] = 1.0;
                K[(t, mn + row)] = 1.0;
            }
        }
    }
    let rhs = Mat::from_fn(mn + k, 1, |t, _| if t < mn { V[(t / n, t % n)] } else { 0.0 });
    let w = K.partial_piv_lu().solve(&rhs);
    Mat::from_fn(m, n, |i, j| -w[(i * n + j, 0)])
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

fn entropic_ot(c: &mut Criterion) {
    common::single_threaded();
    let node = stdlib_node("optimal_transport.ddn", include_str!("../stdlib/optimal_transport.ddn"), "entropic_ot");
    let settings = SinkhornSettings { tol: TOL, ..SinkhornSettings::default() };
    let log = SinkhornSettings { kernel_range: 0.0, ..settings.clone() };
    let mut group = c.benchmark_group(GROUP);
    for n in SIZES {
        let mut rng = Rng::new(0x07_0000 + n as u64);
        let M = Mat::from_fn(n, n, |_, _| rng.uniform());
        let V = Mat::from_fn(n, n, |_, _| rng.normal());
        let B = Mat::from_fn(n, n, |_, _| rng.normal());
        let marg = vec![1.0 / n as f64; n];
        let marg_col = Col::from_fn(n, |i| marg[i]);
        let named = inputs(vec![
            ("M", Tensor::matrix(n, n, entries(M.as_ref()))),
            ("r", Tensor::vector(marg.clone())),
            ("c", Tensor::vector(marg.clone())),
            ("gamma", Tensor::scalar(GAMMA)),
        ]);
        let cot = vec![("P".to_string(), Tensor::matrix(n, n, entries(V.as_ref())))];

        // Untimed: memory and allocations do not grow with the iteration count.
        for s in [&settings, &log] {
            let unreachable = |max_iter| SinkhornSettings { tol: 1e-300, max_iter, ..s.clone() };
            let (short, peak_100, calls_100) =
                allocations(|| sinkhorn(M.as_ref(), &marg, &marg, GAMMA, &unreachable(100)).expect("input"));
            let (long, peak_1000, calls_1000) =
                allocations(|| sinkhorn(M.as_ref(), &marg, &marg, GAMMA, &unreachable(1000)).expect("input"));
            assert_eq!((short.iterations, long.iterations), (100, 1000));
            assert_eq!(peak_100, peak_1000, "n = {n}, {:?}: the peak allocation grows with the iterations", s);
            assert_eq!(calls_100, calls_1000, "n = {n}, {:?}: the loop allocates", s);
        }

        // Untimed: the probes, the peaks, and the answers checked equal.
        let (t_fwd, (sol, peak_fwd, _)) =
            time_once(|| allocations(|| sinkhorn(M.as_ref(), &marg, &marg, GAMMA, &settings).expect("input")));
        assert_eq!((sol.status, sol.domain), (Status::Optimal, Domain::Kernel), "n = {n}: {:e}", sol.marginal_error);
        let (t_log, sol_log) = time_once(|| sinkhorn(M.as_ref(), &marg, &marg, GAMMA, &log).expect("input"));
        assert_eq!((sol_log.status, sol_log.domain), (Status::Optimal, Domain::Log));
        let plan = entries(sol.P.as_ref());
        let err_log = relative(&entries(sol_log.P.as_ref()), &plan);
        assert!(err_log <= 1e-12, "n = {n}: the kernel- and log-domain plans differ by {err_log:e}");
        // The first product on a thread reserves faer's (private-gemm's) packing
        // buffer, twice the L3 size the CPU reports, kept for the thread's life.
        let (_, peak_first, _) =
            allocations(|| entropic_ot_vjp(M.as_ref(), GAMMA, &sol, V.as_ref()).expect("backward"));
        let (t_bwd, (grads, peak_bwd, _)) =
            time_once(|| allocations(|| entropic_ot_vjp(M.as_ref(), GAMMA, &sol, V.as_ref()).expect("backward")));
        let dM = entries(grads.M.as_ref());
        let (t_node, node_grads) = time_once(|| {
            let bound = bind(&node, &named).expect("bind");
            let mut solved = forward(&node, &bound, &Options::default()).expect("forward");
            assert_eq!(solved.status, Status::Optimal);
            assert_eq!(serde_json::to_value(&solved.info).expect("info")["domain"], "kernel");
            let err = relative(&solved.outputs[0].1.data, &plan);
            assert!(err <= 1e-6, "n = {n}: the node's plan and the direct call's differ by {err:e}");
            backward(&node, &bound, &mut solved, &cot).expect("backward")
        });
        let err_node = relative(&node_grads[0].data, &dM);
        assert!(err_node <= 1e-6, "n = {n}: the node's dL/dM and the direct call's differ by {err_node:e}");
        let (t_floor, (P_floor, dM_floor)) = time_once(|| faer_floor(M.as_ref(), &marg_col, &marg_col, V.as_ref()));
        let (err_floor_P, err_floor) =
            (relative(&entries(P_floor.as_ref()), &plan), relative(&entries(dM_floor.as_ref()), &dM));
        assert!(
            err_floor_P <= 1e-6 && err_floor <= 1e-6,
            "n = {n}: the floor differs ({err_floor_P:e}, {err_floor:e})"
        );
        let (t_mm, _) = time_once(|| &M * &B);
        let dense = (n <= 16).then(|| {
            let (t, (dM_dense, peak, _)) = time_once(|| allocations(|| dense_kkt_backward(sol.P.as_ref(), V.as_ref())));
            let err = relative(&dM, &entries(dM_dense.as_ref()));
            assert!(err <= 1e-8, "n = {n}: structured and dense backward differ by {err:e}");
            (t, peak, err)
        });
        println!(
            "entropic_ot n = {n}: {} Sinkhorn iterations (log domain {}), marginal error {:.1e}; plans: log vs \
             kernel {err_log:.1e}, floor {err_floor_P:.1e}; dL/dM: node {err_node:.1e}, floor {err_floor:.1e}{}; \
             peak allocation: forward {}, backward {} (the thread's first: {}){}; the m×n plan alone is {}",
            sol.iterations,
            sol_log.iterations,
            sol.marginal_error,
            dense.map_or(String::new(), |(_, _, err)| format!(", dense KKT {err:.1e}")),
            kib(peak_fwd),
            kib(peak_bwd),
            kib(peak_first),
            dense.map_or(String::new(), |(_, peak, _)| format!(", dense KKT backward {}", kib(peak))),
            kib(8 * n * n),
        );

        let g = &mut group;
        bench(g, GROUP, "ddn_forward_backward", n, t_node, || {
            let bound = bind(&node, black_box(&named)).expect("bind");
            let mut solved = forward(&node, &bound, &Options::default()).expect("forward");
            backward(&node, &bound, &mut solved, black_box(&cot)).expect("backward")
        });
        bench(g, GROUP, "faer_floor", n, t_floor, || {
            faer_floor(black_box(M.as_ref()), &marg_col, &marg_col, black_box(V.as_ref()))
        });
        bench(g, GROUP, "forward_backward", n, t_fwd + t_bwd, || {
            let sol = sinkhorn(black_box(M.as_ref()), &marg, &marg, GAMMA, &settings).expect("input");
            entropic_ot_vjp(M.as_ref(), GAMMA, &sol, black_box(V.as_ref())).expect("backward")
        });
        bench(g, GROUP, "forward_backward_log", n, t_log + t_bwd, || {
            let sol = sinkhorn(black_box(M.as_ref()), &marg, &marg, GAMMA, &log).expect("input");
            entropic_ot_vjp(M.as_ref(), GAMMA, &sol, black_box(V.as_ref())).expect("backward")
        });
        bench(g, GROUP, "sinkhorn_forward", n, t_fwd, || {
            sinkhorn(black_box(M.as_ref()), &marg, &marg, GAMMA, &settings).expect("input")
        });
        bench(g, GROUP, "sinkhorn_forward_log", n, t_log, || {
            sinkhorn(black_box(M.as_ref()), &marg, &marg, GAMMA, &log).expect("input")
        });
        bench(g, GROUP, "structured_backward", n, t_bwd, || {
            entropic_ot_vjp(black_box(M.as_ref()), GAMMA, &sol, black_box(V.as_ref())).expect("backward")
        });
        bench(g, GROUP, "faer_matmul", n, t_mm, || black_box(&M) * black_box(&B));
        if let Some((t_dense, _, _)) = dense {
            bench(g, GROUP, "dense_kkt_backward", n, t_dense, || {
                dense_kkt_backward(black_box(sol.P.as_ref()), black_box(V.as_ref()))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, entropic_ot);
criterion_main!(benches);
