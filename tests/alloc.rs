//! A prepared node's call allocates nothing that an earlier call of the same
//! sizes already had: a counting global allocator around the allocation-free
//! core (`Prepared::solve` and `Prepared::gradient` in a kept `Workspace`).
//! Its own test binary, since a `#[global_allocator]` is process-wide; the
//! count is per thread, so the harness's own threads do not enter it.
//!
//! Covered: the direct QR path (unconstrained least squares), the dual
//! active-set path (the OptNet QP, in the workspace's kept `ActiveSet`) and the
//! interior point path (the same node naming `solve using ipm`, in the kept
//! `ipm::Workspace`). The equality-QP path still allocates its factorisation
//! per call.
//!
//! Smooth nodes: their factorisations (Newton's `∇²f + τI = LLᵀ`, the
//! backward's `K = PLBLᵀPᵀ`) run in kept buffers and allocate nothing at a size
//! already seen, tested here on `linalg::llt::Llt` and `linalg::lblt::Factored`
//! directly. A JIT kernel run into kept outputs (`Kernels::run_into`, how
//! `kernel::NodeProblem` runs every kernel) allocates nothing at a size already
//! seen; the rest of a smooth call still allocates (48 times a call for the
//! Welsch pooling node at d = 1, n = 64: `bind`'s tensors, the outputs and
//! gradients returned, one Hessian matrix per forward, which leaves with the
//! backward's context, and the backward's plumbing; Newton's passes reuse the
//! previous pass's Hessian, gradient, symbols and outputs).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ddn::eval::Tensor;
use ddn::runtime::{bind, interpreted, named_tensors, Prepared, Status, Workspace};

struct Counting;

thread_local! {
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn count() -> usize {
    COUNT.with(Cell::get)
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter is a const-initialised thread-local without a destructor, so
// touching it never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        COUNT.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        COUNT.with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn a_prepared_least_squares_call_allocates_nothing_after_the_first() {
    ddn::faer::set_global_parallelism(ddn::faer::Par::Seq);
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stdlib/least_squares.ddn"))
        .expect("stdlib/least_squares.ddn");
    let c = ddn::compile("least_squares.ddn", &source);
    let node = &c.analysed(0).expect("node");
    let (m, n) = (12, 5);
    let a: Vec<Vec<f64>> =
        (0..m).map(|i| (0..n).map(|j| ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0).collect()).collect();
    let b: Vec<f64> = (0..m).map(|i| (i as f64 * 0.37).sin()).collect();
    let bound = bind(node, &named_tensors(&serde_json::json!({"A": a, "b": b})).expect("inputs")).expect("bind");
    let prepared = Prepared::new(node, &bound, interpreted(node).expect("kernels")).expect("prepare");
    let v: Vec<f64> = (0..n).map(|j| 1.0 - 0.3 * j as f64).collect();
    let mut ws = Workspace::default();
    let mut rhs = vec![0.0; n];
    let mut grads: Vec<Tensor> = bound.params.iter().map(|p| Tensor::filled(p.shape.clone(), 0.0)).collect();
    let mut counts = Vec::new();
    for _ in 0..3 {
        let before = count();
        let status = prepared.solve(&bound, &mut ws).expect("solve");
        rhs.copy_from_slice(&v);
        prepared.gradient(&bound, &mut ws, &mut rhs, &mut grads).expect("gradient");
        counts.push(count() - before);
        assert_eq!(status, Some(Status::Optimal));
    }
    assert!(counts[0] > 0, "the first call sizes the workspace");
    assert_eq!(&counts[1..], &[0, 0], "allocations per call: {counts:?}");

    // What was computed without allocating is the backward pass's answer.
    let mut solved = prepared.forward(&bound).expect("forward");
    assert_eq!(solved.outputs[0].1.data, ws.x());
    let cot = vec![("x".to_string(), Tensor::vector(v))];
    let reference = ddn::diff::backward(node, &bound, &mut solved, &cot).expect("backward");
    assert_eq!(reference, grads);
}

#[test]
fn a_prepared_active_set_call_allocates_nothing_after_the_first() {
    optnet_call_allocates_nothing_after_the_first(false);
}

#[test]
fn a_prepared_interior_point_call_allocates_nothing_after_the_first() {
    optnet_call_allocates_nothing_after_the_first(true);
}

/// The OptNet QP by its default path (the active-set method), or naming the
/// interior point method.
fn optnet_call_allocates_nothing_after_the_first(ipm: bool) {
    ddn::faer::set_global_parallelism(ddn::faer::Par::Seq);
    let mut source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stdlib/optnet_qp.ddn"))
        .expect("stdlib/optnet_qp.ddn");
    if ipm {
        source = source.replacen("    }\n}", "    }\n    solve using ipm\n}", 1);
    }
    let c = ddn::compile("optnet_qp.ddn", &source);
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    let node = &c.analysed(0).expect("node");
    // Q = I + 0.1·(ones), G = [I; −I] (box |z| ≤ h), one equality sum(z) = 0.5.
    let n = 4;
    let q: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| if i == j { 1.1 } else { 0.1 }).collect()).collect();
    // With p = 1 − 0.7i a box row is weakly active (the IPM reports it; the
    // active-set method declines); 0.9 − 0.55i is strictly complementary.
    let p: Vec<f64> = (0..n).map(|i| if ipm { 1.0 - 0.7 * i as f64 } else { 0.9 - 0.55 * i as f64 }).collect();
    let g: Vec<Vec<f64>> = (0..2 * n)
        .map(|r| {
            (0..n)
                .map(|j| {
                    if r % n == j {
                        if r < n {
                            1.0
                        } else {
                            -1.0
                        }
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    let h = vec![0.6; 2 * n];
    let a = vec![vec![1.0; n]];
    let inputs = serde_json::json!({"Q": q, "p": p, "G": g, "h": h, "A": a, "b": [0.5]});
    let bound = bind(node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let prepared = Prepared::new(node, &bound, interpreted(node).expect("kernels")).expect("prepare");
    let v: Vec<f64> = (0..n).map(|j| 0.5 - 0.2 * j as f64).collect();
    let mut ws = Workspace::default();
    let mut grads: Vec<Tensor> = bound.params.iter().map(|p| Tensor::filled(p.shape.clone(), 0.0)).collect();
    let (mut counts, mut rhs) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let before = count();
        let status = prepared.solve(&bound, &mut ws).expect("solve");
        let solve_allocations = count() - before;
        // The test's own right-hand side: sized on the first call, outside the count.
        rhs.clear();
        rhs.resize(ws.x().len() + ws.z().len(), 0.0);
        rhs[..n].copy_from_slice(&v);
        let before_gradient = count();
        prepared.gradient(&bound, &mut ws, &mut rhs, &mut grads).expect("gradient");
        counts.push(solve_allocations + (count() - before_gradient));
        assert_eq!(status, Some(Status::Optimal));
    }
    assert!(counts[0] > 0, "the first call sizes the workspace");
    assert_eq!(&counts[1..], &[0, 0], "allocations per call: {counts:?}");

    let mut solved = prepared.forward(&bound).expect("forward");
    assert_eq!(solved.info.solver, if ipm { "ipm" } else { "active_set" });
    assert_eq!(solved.outputs[0].1.data, &ws.x()[..n]);
    let cot = vec![("z".to_string(), Tensor::vector(v))];
    let reference = ddn::diff::backward(node, &bound, &mut solved, &cot).expect("backward");
    assert_eq!(reference, grads);
}

/// Newton's Cholesky of `H + τI` and the backward's Bunch–Kaufman of a KKT
/// matrix `[H Jᵀ; J 0]`, refactored at sizes already seen (largest first, then
/// smaller ones), allocate nothing, solves included.
#[test]
fn smooth_factorisations_allocate_nothing_at_a_size_seen() {
    use ddn::linalg::lblt::Factored;
    use ddn::linalg::llt::Llt;
    ddn::faer::set_global_parallelism(ddn::faer::Par::Seq);
    let h = |n: usize, i: usize, j: usize| 1.0 / (1.0 + i as f64 + j as f64) + if i == j { n as f64 } else { 0.0 };
    let (mut llt, mut kkt) = (Llt::default(), Factored::default());
    let mut x = Vec::with_capacity(64);
    let mut run = |n: usize, m: usize, x: &mut Vec<f64>| {
        let hess = ddn::faer::Mat::from_fn(n, n, |i, j| h(n, i, j));
        let before = count();
        assert!(llt.factor_shifted(hess.as_ref(), 0.5));
        x.clear();
        x.extend((0..n).map(|i| i as f64));
        llt.solve_in_place(x);
        let k = kkt.k_zeroed(n + m);
        for j in 0..n {
            for i in 0..n {
                k[(i, j)] = h(n, i, j);
            }
            for r in 0..m {
                k[(n + r, j)] = if r == j { 1.0 } else { 0.1 };
                k[(j, n + r)] = k[(n + r, j)];
            }
        }
        kkt.refactor();
        x.clear();
        x.extend((0..n + m).map(|i| i as f64));
        kkt.solve_in_place(x);
        let (y, degenerate) = kkt.solve_or_min_norm(x);
        let allocations = count() - before;
        drop(hess);
        assert_eq!(degenerate, 0);
        drop(y);
        allocations
    };
    run(16, 3, &mut x);
    // `solve_or_min_norm` returns its solution in a new vector: one allocation.
    for (n, m) in [(16, 3), (1, 0), (4, 1), (16, 3)] {
        assert_eq!(run(n, m, &mut x), 1, "n = {n}, m = {m}");
    }
}

/// A JIT kernel run into kept outputs (`Kernels::run_into`) allocates nothing
/// after the first call at the same sizes: its arena is kept, its tables of
/// inputs are on the stack and its outputs are overwritten in place. Newton
/// runs the `Hessian` kernel so at every iterate (`kernel::NodeProblem`).
#[test]
fn a_jit_kernel_run_into_kept_outputs_allocates_nothing_after_the_first() {
    use ddn::eval::{concrete, Env};
    use ddn::kernel::{KernelId, Kernels};
    use ddn::loaded::{Backend, LoadedNode};
    ddn::faer::set_global_parallelism(ddn::faer::Par::Seq);
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stdlib/robust_pooling.ddn"))
        .expect("stdlib/robust_pooling.ddn");
    let c = ddn::compile("robust_pooling.ddn", &source);
    let index = c.program.nodes.iter().position(|n| n.name == "pool_welsch").expect("pool_welsch");
    let node = &c.analysed(index).expect("node");
    let (n, d) = (12, 3);
    let x: Vec<Vec<f64>> =
        (0..n).map(|i| (0..d).map(|j| ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0).collect()).collect();
    let bound = bind(node, &named_tensors(&serde_json::json!({"x": x, "alpha": 1.5})).expect("inputs")).expect("bind");
    let kernels = LoadedNode::new(node, Backend::Jit).expect("kernels").kernels();
    kernels.prepare(&bound.dims).expect("the JIT compiles");
    let derived = node.derived().expect("derived");
    let syms: Vec<Tensor> = derived.syms.iter().map(|s| Tensor::filled(concrete(&s.shape, &bound.dims), 0.0)).collect();
    let mut vars = vec![Tensor::vector(vec![0.1, -0.2, 0.3])];
    let mut out = Vec::new();
    let mut counts = Vec::new();
    for step in 0..3 {
        vars[0].data[0] += 0.01 * step as f64;
        let env = Env { params: &bound.params, vars: &vars, dims: &bound.dims, syms: &syms };
        let before = count();
        kernels.run_into(KernelId::Hessian, &env, &mut out).expect("the Hessian kernel runs");
        counts.push(count() - before);
        // The interpreter's outputs, bit for bit.
        let expected = ddn::kernel::Interpreted(node.kernels().expect("kernels")).run(KernelId::Hessian, &env);
        let bits =
            |ts: &[Tensor]| ts.iter().map(|t| t.data.iter().map(|v| v.to_bits()).collect()).collect::<Vec<Vec<_>>>();
        assert_eq!(bits(&out), bits(&expected.expect("interpreted")), "call {step}");
    }
    assert_eq!(&counts[1..], [0, 0], "allocations per call: {counts:?}");
}
