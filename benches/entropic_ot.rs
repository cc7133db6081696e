//! Entropic optimal transport, m = n ∈ {16, 64, 256}: costs uniform on [0, 1),
//! uniform marginals, γ = 20, `tol` 1e-9 (the stdlib node's).
//!
//! Per size, in one criterion group (`entropic_ot`):
//!
//! - `sinkhorn_forward`: `ddn::smooth::sinkhorn` (log domain);
//! - `structured_backward`: `ddn::diff::entropic_ot_vjp` at that solution (dL/dM,
//!   dL/dr, dL/dc, dL/dγ for a fixed cotangent on P): the Schur complement of
//!   size min(m − 1, n), O(mn·min(m, n));
//! - `forward_backward`: both;
//! - `faer_matmul`, the yardstick: a bare faer n×n by n×n product (2n³ flops);
//! - `dense_kkt_backward` (n = 16 only): the unstructured implicit solve, an LU
//!   of the (mn + m + n − 1)-square KKT matrix, for dL/dM. At n = 64 that matrix
//!   is 4223-square (an LU of ~5·10¹⁰ flops), so it is left out there.
//!
//! Memory: the binary's global allocator counts live bytes and their peak. Before
//! timing it asserts that Sinkhorn's peak allocation is the same for max_iter =
//! 100 and 1000 (run with an unreachable `tol`, so every iteration runs), and it
//! prints the peak of forward, backward, and the dense solve at each size; before
//! timing, each size also checks the structured backward against the dense one
//! (n = 16) to 1e-8.
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
use ddn::diff::entropic_ot_vjp;
use ddn::runtime::Status;
use ddn::smooth::{sinkhorn, SinkhornSettings};
use faer::linalg::solvers::Solve;
use faer::{Mat, MatRef};

use common::{bench, rel_diff, time_once, Rng};

const GROUP: &str = "entropic_ot";
const SIZES: [usize; 3] = [16, 64, 256];
const GAMMA: f64 = 20.0;

/// The system allocator, counting live bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
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

/// The result of `f` and the most bytes it had allocated at once beyond what was
/// live when it started (everything runs on this thread: faer is sequential).
fn peak_bytes<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - base)
}

fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

/// dL/dM by the unstructured implicit solve: `[H Aᵀ; A 0] [w; ω] = [vec V; 0]`
/// with `H = diag(1/(γP))` and A the row sums 2..m and the column sums, densely
/// LU-factored; dL/dM = −w.
fn dense_kkt_backward(P: MatRef<'_, f64>, gamma: f64, V: MatRef<'_, f64>) -> Mat<f64> {
    let (m, n) = P.shape();
    let (mn, k) = (m * n, m + n - 1);
    let mut K = Mat::<f64>::zeros(mn + k, mn + k);
    for i in 0..m {
        for j in 0..n {
            let t = i * n + j;
            K[(t, t)] = 1.0 / (gamma * P[(i, j)]);
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

fn entries(X: MatRef<'_, f64>) -> Vec<f64> {
    (0..X.nrows()).flat_map(|i| (0..X.ncols()).map(move |j| X[(i, j)])).collect()
}

fn entropic_ot(c: &mut Criterion) {
    common::single_threaded();
    let settings = SinkhornSettings::default();
    let mut group = c.benchmark_group(GROUP);
    for n in SIZES {
        let mut rng = Rng::new(0x07_0000 + n as u64);
        let M = Mat::from_fn(n, n, |_, _| rng.uniform());
        let V = Mat::from_fn(n, n, |_, _| rng.normal());
        let B = Mat::from_fn(n, n, |_, _| rng.normal());
        let marg = vec![1.0 / n as f64; n];

        // Untimed: memory does not grow with the iteration count.
        let unreachable = |max_iter| SinkhornSettings { tol: 1e-300, max_iter };
        let (short, peak_100) = peak_bytes(|| sinkhorn(M.as_ref(), &marg, &marg, GAMMA, &unreachable(100)));
        let (long, peak_1000) = peak_bytes(|| sinkhorn(M.as_ref(), &marg, &marg, GAMMA, &unreachable(1000)));
        let (short, long) = (short.expect("input"), long.expect("input"));
        assert_eq!((short.iterations, long.iterations), (100, 1000));
        assert_eq!(peak_100, peak_1000, "n = {n}: Sinkhorn's peak allocation grows with the iteration count");

        // Untimed: the probes, the peaks, and (n = 16) the dense solve's agreement.
        let (t_fwd, (sol, peak_fwd)) =
            time_once(|| peak_bytes(|| sinkhorn(M.as_ref(), &marg, &marg, GAMMA, &settings).expect("input")));
        assert_eq!(sol.status, Status::Optimal, "n = {n}: error {:e}", sol.marginal_error);
        let (t_bwd, (grads, peak_bwd)) =
            time_once(|| peak_bytes(|| entropic_ot_vjp(M.as_ref(), GAMMA, &sol, V.as_ref()).expect("backward")));
        let (t_mm, _) = time_once(|| &M * &B);
        let dense = (n <= 16).then(|| {
            let (t, (dM, peak)) = time_once(|| peak_bytes(|| dense_kkt_backward(sol.P.as_ref(), GAMMA, V.as_ref())));
            let err = rel_diff(&entries(grads.M.as_ref()), &entries(dM.as_ref()));
            assert!(err <= 1e-8, "n = {n}: structured and dense backward differ by {err:e}");
            (t, peak, err)
        });
        println!(
            "entropic_ot n = {n}: {} Sinkhorn iterations, marginal error {:.1e}; peak allocation: forward {} \
             (max_iter 100 and 1000 alike: {}), backward {}{}; the m×n plan alone is {}",
            sol.iterations,
            sol.marginal_error,
            kib(peak_fwd),
            kib(peak_100),
            kib(peak_bwd),
            dense.map_or(String::new(), |(_, peak, err)| format!(
                ", dense KKT backward {} (agrees to {err:.1e})",
                kib(peak)
            )),
            kib(8 * n * n),
        );

        let g = &mut group;
        bench(g, GROUP, "sinkhorn_forward", n, t_fwd, || {
            sinkhorn(black_box(M.as_ref()), &marg, &marg, GAMMA, &settings).expect("input")
        });
        bench(g, GROUP, "structured_backward", n, t_bwd, || {
            entropic_ot_vjp(black_box(M.as_ref()), GAMMA, &sol, black_box(V.as_ref())).expect("backward")
        });
        bench(g, GROUP, "forward_backward", n, t_fwd + t_bwd, || {
            let sol = sinkhorn(black_box(M.as_ref()), &marg, &marg, GAMMA, &settings).expect("input");
            entropic_ot_vjp(M.as_ref(), GAMMA, &sol, black_box(V.as_ref())).expect("backward")
        });
        bench(g, GROUP, "faer_matmul", n, t_mm, || black_box(&M) * black_box(&B));
        if let Some((t_dense, _, _)) = dense {
            bench(g, GROUP, "dense_kkt_backward", n, t_dense, || {
                dense_kkt_backward(black_box(sol.P.as_ref()), GAMMA, black_box(V.as_ref()))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, entropic_ot);
criterion_main!(benches);
