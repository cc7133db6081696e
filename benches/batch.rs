//! Batching: forward + backward over a batch of 64 instances of one node, as a
//! sequential loop and through `ddn::runtime::forward_batch`, `ddn::diff::backward_batch` on
//! rayon pools of 1 and 2 threads.
//!
//! Two problems, 64 seeded instances each:
//!
//! - `least_squares`: stdlib `least_squares`, A 64×32 (m = 64, n = 32) and b
//!   Gaussian, a Gaussian cotangent on x (the direct QR path);
//! - `optnet_qp`: stdlib `optnet_qp` with n = 50 (100 inequalities, 10
//!   equalities), the data of `benches/qp_layer.rs` (`common::optnet_inputs`),
//!   a Gaussian cotangent on z (the interior point path).
//!
//! Per problem, in one criterion group (`batch`), each timing one whole batch
//! (inputs bound once beforehand, untimed; throughput in instances/s):
//!
//! - `<problem>_sequential`: the baseline, a plain loop of
//!   `Prepared::forward` + `diff::backward` per instance on the calling thread,
//!   the node prepared once for the batch as `forward_batch` does;
//! - `<problem>_batch_1_thread`, `<problem>_batch_2_threads`: `forward_batch` +
//!   `backward_batch` inside `ThreadPool::install` of a pool built with
//!   `ThreadPoolBuilder::new().num_threads(k)`.
//!
//! faer runs sequentially (`common::single_threaded`), so the only parallelism
//! is across instances. Before timing, each problem checks once that every
//! instance is optimal and that both pools return the sequential loop's outputs
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
use ddn::runtime::{bind, forward, forward_batch, interpreted, Bound, Prepared, Status, Threads};
use rayon::{ThreadPool, ThreadPoolBuilder};

use common::{bench, inputs, optnet_inputs, stdlib_node, time_once, Rng};

const GROUP: &str = "batch";
const BATCH: usize = 64;

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

/// The batch API on `pool`.
fn batched(pool: &ThreadPool, node: &Analysed<'_>, bounds: &[Bound], cots: &[Cotangents]) -> Results {
    pool.install(|| {
        let mut solved = forward_batch(node, bounds, Threads::Pool);
        let grads = backward_batch(node, bounds, &mut solved, cots, Threads::Pool);
        solved.into_iter().zip(grads).map(|(s, g)| (s.expect("forward").outputs, g.expect("backward"))).collect()
    })
}

/// Benchmarks one problem: `instances` are the named inputs, `output` the name
/// the cotangents go to.
fn problem(
    c: &mut Criterion,
    pools: &[(usize, ThreadPool)],
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
            let len = forward(node, b).expect("forward").outputs[0].1.len();
            vec![(output.to_string(), Tensor::vector(rng.normals(len)))]
        })
        .collect();

    // Once, untimed: every instance optimal, every pool bit for bit the loop.
    let statuses: Vec<Status> = bounds.iter().map(|b| forward(node, b).expect("forward").status).collect();
    assert!(statuses.iter().all(|s| *s == Status::Optimal), "{name}: statuses {statuses:?}");
    let prepared = Prepared::new(node, &bounds[0], interpreted(node).expect("kernels")).expect("prepare");
    let (t_seq, reference) = time_once(|| sequential(node, &prepared, &bounds, &cots));
    let mut probes = Vec::new();
    for (k, pool) in pools {
        let (t, results) = time_once(|| batched(pool, node, &bounds, &cots));
        assert!(results == reference, "{name}: the {k}-thread batch differs from the sequential loop");
        probes.push(t);
    }
    println!("{name}: {BATCH} instances, all optimal; batches on 1 and 2 threads equal the loop bit for bit");

    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(BATCH as u64));
    let g = &mut group;
    bench(g, GROUP, &format!("{name}_sequential"), BATCH, t_seq, || {
        sequential(node, &prepared, black_box(&bounds), black_box(&cots))
    });
    for ((k, pool), probe) in pools.iter().zip(probes) {
        let label = if *k == 1 { "1_thread".to_string() } else { format!("{k}_threads") };
        bench(g, GROUP, &format!("{name}_batch_{label}"), BATCH, probe, || {
            batched(pool, node, black_box(&bounds), black_box(&cots))
        });
    }
    group.finish();
}

fn batch(c: &mut Criterion) {
    common::single_threaded();
    let pools: Vec<(usize, ThreadPool)> =
        [1, 2].into_iter().map(|k| (k, ThreadPoolBuilder::new().num_threads(k).build().expect("pool"))).collect();

    let ls = stdlib_node("least_squares.ddn", include_str!("../stdlib/least_squares.ddn"), "least_squares");
    let (m, n) = (64, 32);
    let mut rng = Rng::new(0xba_0001);
    let instances = (0..BATCH)
        .map(|_| vec![("A", Tensor::matrix(m, n, rng.normals(m * n))), ("b", Tensor::vector(rng.normals(m)))])
        .collect();
    problem(c, &pools, "least_squares", &ls, instances, "x", 0xba_0002);

    let qp = stdlib_node("optnet_qp.ddn", include_str!("../stdlib/optnet_qp.ddn"), "optnet_qp");
    let mut rng = Rng::new(0xba_0003);
    let instances = (0..BATCH).map(|_| optnet_inputs(&mut rng, 50)).collect();
    problem(c, &pools, "optnet_qp", &qp, instances, "z", 0xba_0004);
}

criterion_group!(benches, batch);
criterion_main!(benches);
