//! Batching: forward + backward over a batch of instances of one node, as a
//! sequential loop and through `ddn::runtime::Prepared::forward_batch`,
//! `ddn::diff::backward_batch` on the calling thread and on rayon pools of 1 and 2
//! threads.
//!
//! Two problems of 64 seeded instances each, and two small ones where the
//! hand-off to a pool is a visible part of a call:
//!
//! - `least_squares`: stdlib `least_squares`, A 64×32 (m = 64, n = 32) and b
//!   Gaussian, a Gaussian cotangent on x (the direct QR path);
//! - `optnet_qp`: stdlib `optnet_qp` with n = 50 (100 inequalities, 10
//!   equalities), the data of `benches/qp_layer.rs` (`common::optnet_inputs`),
//!   a Gaussian cotangent on z (the interior point path);
//! - `optnet_qp_n10_x1`, `optnet_qp_n10_x16`: the same node at n = 10 (20
//!   inequalities, 2 equalities), one instance and 16 (the Python layer's
//!   `Threads::Calling` case: a call on one thread).
//!
//! Per problem, in one criterion group (`batch`), each timing one whole batch
//! (inputs bound and the node prepared once beforehand, untimed, as
//! `ddn::loaded::LoadedNode` keeps it; throughput in instances/s):
//!
//! - `<problem>_sequential`: the baseline, a plain loop of
//!   `Prepared::forward` + `diff::backward` per instance on the calling thread;
//! - `<problem>_calling`: `Prepared::forward_batch` + `backward_batch` with
//!   `Threads::Calling` (no pool: what a one-thread batch should cost);
//! - `<problem>_batch_1_thread`, `<problem>_batch_2_threads`: `Prepared::forward_batch` +
//!   `backward_batch` inside `ThreadPool::install` of a pool built with
//!   `ThreadPoolBuilder::new().num_threads(k)`, `Threads::Pool`.
//!
//! faer runs sequentially (`common::single_threaded`), so the only parallelism
//! is across instances. Before timing, each problem checks once that every
//! instance is optimal and that every mode returns the sequential loop's outputs
//! and gradients bit for bit, and panics if not.
//!
//! ```sh
//! cargo bench --bench batch
//! ```

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ddn::analysis::Analysed;
use ddn::diff::backward;
use ddn::diff::backward_batch;
use ddn::eval::Tensor;
use ddn::runtime::{bind, forward, interpreted, Bound, Options, Prepared, Status, Threads};
use rayon::{ThreadPool, ThreadPoolBuilder};

use common::{bench, inputs, optnet_inputs, stdlib_node, time_once, Rng};

const GROUP: &str = "batch";
const BATCH: usize = 64;

/// Where a batch runs: on the calling thread, or across a pool of `k` threads.
enum Mode {
    Calling,
    Pool(usize, ThreadPool),
}

impl Mode {
    fn label(&self) -> String {
        match self {
            Mode::Calling => "calling".to_string(),
            Mode::Pool(1, _) => "batch_1_thread".to_string(),
            Mode::Pool(k, _) => format!("batch_{k}_threads"),
        }
    }
}

type Cotangents = Vec<(String, Tensor)>;

/// Outputs and gradients of every instance.
type Results = Vec<(Vec<(String, Tensor)>, Vec<Tensor>)>;

/// The baseline: one instance after another on this thread.
fn sequential(node: &Analysed<'_>, prepared: &Prepared, bounds: &[Bound], cots: &[Cotangents]) -> Results {
    bounds
        .iter()
        .zip(cots)
        .map(|(bound, cot)| {
            let mut solved = prepared.forward(bound).expect("forward");
            let grads = backward(node, bound, &mut solved, cot).expect("backward");
            (solved.outputs, grads)
        })
        .collect()
}

/// The batch API in `mode`, the node prepared beforehand (as `LoadedNode` keeps it).
fn batched(mode: &Mode, node: &Analysed<'_>, prepared: &Prepared, bounds: &[Bound], cots: &[Cotangents]) -> Results {
    let run = |threads| {
        let mut solved = prepared.forward_batch(bounds, threads);
        let grads = backward_batch(node, bounds, &mut solved, cots, threads);
        solved.into_iter().zip(grads).map(|(s, g)| (s.expect("forward").outputs, g.expect("backward"))).collect()
    };
    match mode {
        Mode::Calling => run(Threads::Calling),
        Mode::Pool(_, pool) => pool.install(|| run(Threads::Pool)),
    }
}

/// Benchmarks one problem: `instances` are the named inputs, `output` the name
/// the cotangents go to.
fn problem(
    c: &mut Criterion,
    modes: &[Mode],
    name: &str,
    node: &Analysed<'_>,
    instances: Vec<Vec<(&str, Tensor)>>,
    output: &str,
    seed: u64,
) {
    let bounds: Vec<Bound> = instances.into_iter().map(|i| bind(node, &inputs(i)).expect("bind")).collect();
    let mut rng = Rng::new(seed);
    let cots: Vec<Cotangents> = bounds
        .iter()
        .map(|b| {
            let len = forward(node, b, &Options::default()).expect("forward").outputs[0].1.len();
            vec![(output.to_string(), Tensor::vector(rng.normals(len)))]
        })
        .collect();

    let count = bounds.len();
    // Once, untimed: every instance optimal, every mode bit for bit the loop.
    let statuses: Vec<Status> =
        bounds.iter().map(|b| forward(node, b, &Options::default()).expect("forward").status).collect();
    assert!(statuses.iter().all(|s| *s == Status::Optimal), "{name}: statuses {statuses:?}");
    let prepared = Prepared::new(node, &bounds[0], interpreted(node).expect("kernels")).expect("prepare");
    let (t_seq, reference) = time_once(|| sequential(node, &prepared, &bounds, &cots));
    let mut probes = Vec::new();
    for mode in modes {
        let (t, results) = time_once(|| batched(mode, node, &prepared, &bounds, &cots));
        assert!(results == reference, "{name}: the {} batch differs from the sequential loop", mode.label());
        probes.push(t);
    }
    println!("{name}: {count} instances, all optimal; every mode equals the loop bit for bit");

    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(count as u64));
    let g = &mut group;
    bench(g, GROUP, &format!("{name}_sequential"), count, t_seq, || {
        sequential(node, &prepared, black_box(&bounds), black_box(&cots))
    });
    for (mode, probe) in modes.iter().zip(probes) {
        bench(g, GROUP, &format!("{name}_{}", mode.label()), count, probe, || {
            batched(mode, node, &prepared, black_box(&bounds), black_box(&cots))
        });
    }
    group.finish();
}

fn batch(c: &mut Criterion) {
    common::single_threaded();
    let pool = |k| Mode::Pool(k, ThreadPoolBuilder::new().num_threads(k).build().expect("pool"));
    let modes = [Mode::Calling, pool(1), pool(2)];

    let ls = stdlib_node("least_squares.ddn", include_str!("../stdlib/least_squares.ddn"), "least_squares");
    let (m, n) = (64, 32);
    let mut rng = Rng::new(0xba_0001);
    let instances = (0..BATCH)
        .map(|_| vec![("A", Tensor::matrix(m, n, rng.normals(m * n))), ("b", Tensor::vector(rng.normals(m)))])
        .collect();
    problem(c, &modes, "least_squares", &ls, instances, "x", 0xba_0002);

    let qp = stdlib_node("optnet_qp.ddn", include_str!("../stdlib/optnet_qp.ddn"), "optnet_qp");
    let mut rng = Rng::new(0xba_0003);
    let instances = (0..BATCH).map(|_| optnet_inputs(&mut rng, 50)).collect();
    problem(c, &modes, "optnet_qp", &qp, instances, "z", 0xba_0004);

    // Small calls: the hand-off to a pool thread and back against the solve.
    let mut rng = Rng::new(0xba_0005);
    for count in [1, 16] {
        let instances = (0..count).map(|_| optnet_inputs(&mut rng, 10)).collect();
        problem(c, &modes[..2], &format!("optnet_qp_n10_x{count}"), &qp, instances, "z", 0xba_0006);
    }
}

criterion_group!(benches, batch);
criterion_main!(benches);
