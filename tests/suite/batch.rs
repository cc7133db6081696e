//! Batches (`runtime::forward_batch`, `diff::{backward_batch, jvp_batch}`): every instance's result
//! is bit for bit the one-at-a-time result, on the calling thread and on rayon
//! pools of 1 and 2 threads (with the kernels interpreted, JIT-compiled once for the whole batch, and
//! with the node prepared once and kept from batch to batch), and a failing
//! instance fails alone.

use ddn::eval::Tensor;
use std::sync::Arc;

use ddn::analysis::Analysed;
use ddn::diff::{backward_batch, jvp_batch};
use ddn::jit::JitKernels;
use ddn::kernel::Kernels;
use ddn::loaded::{Backend, LoadedNode};
use ddn::runtime::{
    bind, forward, forward_batch, interpreted, kernel_set, named_tensors, Bound, Options, Prepared, RunError, Solved,
    Status, Threads,
};
use rayon::ThreadPoolBuilder;
use serde_json::json;

use super::backward::node_of;
use super::Rng;

type Cotangents = Vec<(String, Tensor)>;

/// What a comparison looks at: status, outputs and gradients (or the errors).
type Outcome = (Result<(Status, Vec<(String, Tensor)>), RunError>, Result<Vec<Tensor>, RunError>);

fn bound(node: &ddn::analysis::Analysed<'_>, inputs: serde_json::Value) -> Bound {
    bind(node, &named_tensors(&inputs).expect("inputs")).expect("bind")
}

fn outcome(solved: Result<Solved, RunError>, grads: Result<Vec<Tensor>, RunError>) -> Outcome {
    (solved.map(|s| (s.status, s.outputs)), grads)
}

/// Forward then backward, one instance after another on this thread.
fn one_at_a_time(node: &ddn::analysis::Analysed<'_>, bounds: &[Bound], cots: &[Cotangents]) -> Vec<Outcome> {
    bounds
        .iter()
        .zip(cots)
        .map(|(b, cot)| {
            let mut solved = forward(node, b, &Options::default());
            let grads = match &mut solved {
                Ok(s) => ddn::diff::backward(node, b, s, cot),
                Err(e) => Err(e.clone()),
            };
            outcome(solved, grads)
        })
        .collect()
}

/// Where a batch under test runs.
#[derive(Clone, Copy, Debug)]
enum On {
    /// [`Threads::Calling`]: this thread, no pool.
    Calling,
    /// [`Threads::Pool`] inside a pool of this many threads.
    Pool(usize),
}

/// Every place a batch can run: each must give the one-at-a-time numbers.
const EVERYWHERE: [On; 3] = [On::Calling, On::Pool(1), On::Pool(2)];

impl On {
    fn run<T: Send>(self, batch: impl FnOnce(Threads) -> T + Send) -> T {
        match self {
            On::Calling => batch(Threads::Calling),
            On::Pool(n) => {
                ThreadPoolBuilder::new().num_threads(n).build().expect("pool").install(|| batch(Threads::Pool))
            }
        }
    }
}

/// The batch API on `on`.
fn batched(on: On, node: &Analysed<'_>, bounds: &[Bound], cots: &[Cotangents]) -> Vec<Outcome> {
    batched_on(on, node, bounds, cots, None)
}

/// The batch API on `on`, with the node's kernels on `kernels` (the
/// interpreter when `None`).
fn batched_on(
    on: On,
    node: &Analysed<'_>,
    bounds: &[Bound],
    cots: &[Cotangents],
    kernels: Option<Arc<dyn Kernels>>,
) -> Vec<Outcome> {
    on.run(|threads| {
        let mut solved = match kernels {
            Some(k) => forward_batch(node, bounds, threads, &Options::default().with_kernels(k)),
            None => forward_batch(node, bounds, threads, &Options::default()),
        };
        let grads = backward_batch(node, bounds, &mut solved, cots, threads);
        solved.into_iter().zip(grads).map(|(s, g)| outcome(s, g)).collect()
    })
}

/// Two batches on `on` with the node kept between them,
/// the first in reverse order: the second replays a recording made at another
/// instance's values, in workspaces that solved other instances. The second's
/// outcomes, through a [`LoadedNode`] (prepared per size) and, when every
/// instance has one size, through a caller-kept [`Prepared`].
/// A batch entry point under test.
type BatchForward<'a> = dyn Fn(&[Bound], Threads) -> Vec<Result<Solved, RunError>> + Sync + 'a;

fn kept_batches(on: On, node: &Analysed<'_>, bounds: &[Bound], cots: &[Cotangents]) -> Vec<Vec<Outcome>> {
    let reversed: Vec<Bound> = bounds.iter().rev().cloned().collect();
    let reversed_cots: Vec<Cotangents> = cots.iter().rev().cloned().collect();
    let twice = |forward: &BatchForward<'_>| {
        on.run(|threads| {
            let mut first = forward(&reversed, threads);
            backward_batch(node, &reversed, &mut first, &reversed_cots, threads);
            drop(first);
            let mut solved = forward(bounds, threads);
            let grads = backward_batch(node, bounds, &mut solved, cots, threads);
            solved.into_iter().zip(grads).map(|(s, g)| outcome(s, g)).collect()
        })
    };
    let loaded = LoadedNode::new(node, Backend::Interpreter).expect("kernels");
    let mut got = vec![twice(&|b, threads| loaded.forward_batch(b, threads))];
    if bounds.iter().all(|b| b.dims == bounds[0].dims) {
        let last = bounds.last().expect("a batch");
        let prepared = Prepared::new(node, last, interpreted(node).expect("kernels")).expect("prepared");
        got.push(twice(&|b, threads| prepared.forward_batch(b, threads)));
    }
    got
}

/// Batches on the calling thread and on 1 and 2 threads equal the one-at-a-time results exactly, and
/// every instance is optimal with gradients.
fn check_same(node: &ddn::analysis::Analysed<'_>, bounds: &[Bound], output: &str, rng: &mut Rng) {
    let cots: Vec<Cotangents> = bounds
        .iter()
        .map(|b| {
            let len = forward(node, b, &Options::default()).expect("forward").outputs[0].1.len();
            vec![(output.to_string(), Tensor::vector(rng.vec(len)))]
        })
        .collect();
    let reference = one_at_a_time(node, bounds, &cots);
    for (i, (solved, grads)) in reference.iter().enumerate() {
        assert_eq!(solved.as_ref().map(|s| s.0), Ok(Status::Optimal), "`{}` instance {i}", node.name);
        assert!(grads.is_ok(), "`{}` instance {i}: {grads:?}", node.name);
    }
    for on in EVERYWHERE {
        let got = batched(on, node, bounds, &cots);
        assert!(got == reference, "`{}`: the batch on {on:?} differs from one at a time", node.name);
        // One JIT-compiled kernel set shared by every instance of the batch.
        let jit: Arc<dyn Kernels> = Arc::new(JitKernels::new(kernel_set(node).expect("kernels")));
        let got = batched_on(on, node, bounds, &cots, Some(jit));
        assert!(got == reference, "`{}`: the JIT batch on {on:?} differs", node.name);
        for (k, got) in kept_batches(on, node, bounds, &cots).into_iter().enumerate() {
            assert!(got == reference, "`{}`: kept node {k}, {on:?}: the second batch differs", node.name);
        }
    }
}

#[test]
fn batch_of_least_squares_equals_one_at_a_time() {
    let node = node_of("stdlib/least_squares.ddn", "least_squares");
    let mut rng = Rng(0xba7c_0001);
    let bounds: Vec<Bound> = (0..8).map(|_| bound(&node, json!({"A": rng.mat(12, 5), "b": rng.vec(12)}))).collect();
    check_same(&node, &bounds, "x", &mut rng);
}

#[test]
fn batch_of_optnet_qps_equals_one_at_a_time() {
    let node = node_of("stdlib/optnet_qp.ddn", "optnet_qp");
    let mut rng = Rng(0xba7c_0002);
    let bounds: Vec<Bound> = (0..8).map(|_| bound(&node, rng.planted_optnet(6, 8, 2).0)).collect();
    check_same(&node, &bounds, "z", &mut rng);
}

#[test]
fn batch_of_smooth_nodes_equals_one_at_a_time() {
    let node = node_of("stdlib/robust_pooling.ddn", "pool_pseudo_huber");
    let mut rng = Rng(0xba7c_0003);
    let bounds: Vec<Bound> =
        (0..6).map(|i| bound(&node, json!({"x": rng.mat(10 + i, 3), "alpha": 0.5 + 0.1 * i as f64}))).collect();
    check_same(&node, &bounds, "y", &mut rng);
}

/// Forward mode over a batch: each instance's output tangents are exactly its
/// one-at-a-time `diff::jvp`, wherever the batch runs, and an infeasible
/// instance has none (alone).
#[test]
fn batch_jvp_equals_one_at_a_time() {
    let node = node_of("stdlib/optnet_qp.ddn", "optnet_qp");
    let mut rng = Rng(0xba7c_0005);
    let mut bounds: Vec<Bound> = (0..5).map(|_| bound(&node, rng.planted_optnet(4, 6, 1).0)).collect();
    bounds[2] = bound(
        &node,
        json!({"Q": rng.spd(4, 1.0), "p": rng.vec(4), "G": [[1.0, 0.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0],
               [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]],
               "h": [-1.0, -1.0, 1.0, 1.0, 1.0, 1.0], "A": [rng.vec(4)], "b": [0.0]}),
    );
    let dots: Vec<Cotangents> =
        (0..bounds.len()).map(|_| vec![("p".to_string(), Tensor::vector(rng.vec(4)))]).collect();
    let reference: Vec<Result<Vec<(String, Tensor)>, RunError>> = bounds
        .iter()
        .zip(&dots)
        .map(|(b, dot)| forward(&node, b, &Options::default()).and_then(|mut s| ddn::diff::jvp(&node, b, &mut s, dot)))
        .collect();
    assert!(reference.iter().enumerate().all(|(i, r)| r.is_ok() == (i != 2)), "{reference:?}");
    for on in EVERYWHERE {
        let got = on.run(|threads| {
            let mut solved = forward_batch(&node, &bounds, threads, &Options::default());
            jvp_batch(&node, &bounds, &mut solved, &dots, threads)
        });
        for (i, (got, want)) in got.iter().zip(&reference).enumerate() {
            match (got, want) {
                (Ok(got), Ok(want)) => assert!(got == want, "instance {i} on {on:?}"),
                (Err(e), Err(_)) => assert!(e.to_string().contains("infeasible"), "instance {i} on {on:?}: {e:?}"),
                _ => panic!("instance {i} on {on:?}: {got:?} against {want:?}"),
            }
        }
    }
}

#[test]
fn an_infeasible_or_malformed_instance_fails_alone() {
    let node = node_of("stdlib/optnet_qp.ddn", "optnet_qp");
    let mut rng = Rng(0xba7c_0004);
    let planted = |rng: &mut Rng| bound(&node, rng.planted_optnet(2, 4, 1).0);
    // G z ≤ h with rows z₀ ≤ −1 and −z₀ ≤ −1: no z satisfies both.
    let infeasible = bound(
        &node,
        json!({"Q": [[1.0, 0.0], [0.0, 1.0]], "p": [0.0, 0.0], "G": [[1.0, 0.0], [-1.0, 0.0]], "h": [-1.0, -1.0],
               "A": [[0.0, 1.0]], "b": [0.0]}),
    );
    // Built by hand, past `bind`'s checks: no parameter values at all.
    let malformed = Bound { params: Vec::new(), dims: infeasible.dims.clone() };
    let bounds = vec![planted(&mut rng), infeasible, planted(&mut rng), malformed, planted(&mut rng)];
    let cots: Vec<Cotangents> =
        (0..bounds.len()).map(|_| vec![("z".to_string(), Tensor::vector(rng.vec(2)))]).collect();

    for on in EVERYWHERE {
        let got = batched(on, &node, &bounds, &cots);
        for i in [0, 2, 4] {
            assert_eq!(got[i], one_at_a_time(&node, &bounds[i..=i], &cots[i..=i])[0], "instance {i}");
            assert_eq!(got[i].0.as_ref().map(|s| s.0), Ok(Status::Optimal));
            assert!(got[i].1.is_ok());
        }
        assert_eq!(got[1].0.as_ref().map(|s| s.0), Ok(Status::Infeasible));
        let Err(e) = &got[1].1 else { panic!("gradients of an infeasible instance") };
        assert!(e.to_string().contains("infeasible"), "{e:?}");
        let Err(e) = &got[3].0 else { panic!("a forward without parameters") };
        assert!(got[3].1.as_ref().is_err_and(|g| g.to_string().contains(&e.to_string())), "{:?}", got[3].1);
    }
}
