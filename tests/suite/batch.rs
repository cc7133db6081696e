//! Batches (`runtime::forward_batch`, `diff::backward_batch`): every instance's result
//! is bit for bit the one-at-a-time result, on rayon pools of 1 and 2 threads
//! (with the kernels interpreted, JIT-compiled once for the whole batch, and
//! with the node prepared once and kept from batch to batch), and a failing
//! instance fails alone.

use ddn::eval::Tensor;
use std::sync::Arc;

use ddn::diff::backward_batch;
use ddn::jit::JitKernels;
use ddn::kernel::Kernels;
use ddn::loaded::{Backend, LoadedNode};
use ddn::runtime::{
    bind, forward, forward_batch, forward_batch_prepared, forward_batch_with_kernels, interpreted, kernel_set,
    named_tensors, Bound, Prepared, RunError, Solved, Status,
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
            let mut solved = forward(node, b);
            let grads = match &mut solved {
                Ok(s) => ddn::diff::backward(node, b, s, cot),
                Err(e) => Err(e.clone()),
            };
            outcome(solved, grads)
        })
        .collect()
}

/// The batch API on a pool of `threads` threads.
fn batched(threads: usize, node: &ddn::analysis::Analysed<'_>, bounds: &[Bound], cots: &[Cotangents]) -> Vec<Outcome> {
    batched_on(threads, node, bounds, cots, None)
}

/// The batch API on a pool of `threads` threads, with the node's kernels on
/// `kernels` (the interpreter when `None`).
fn batched_on(
    threads: usize,
    node: &ddn::analysis::Analysed<'_>,
    bounds: &[Bound],
    cots: &[Cotangents],
    kernels: Option<Arc<dyn Kernels>>,
) -> Vec<Outcome> {
    let pool = ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
    pool.install(|| {
        let mut solved = match kernels {
            Some(k) => forward_batch_with_kernels(node, bounds, k),
            None => forward_batch(node, bounds),
        };
        let grads = backward_batch(node, bounds, &mut solved, cots);
        solved.into_iter().zip(grads).map(|(s, g)| outcome(s, g)).collect()
    })
}

/// Two batches on a pool of `threads` threads with the node kept between them,
/// the first in reverse order: the second replays a recording made at another
/// instance's values, in workspaces that solved other instances. The second's
/// outcomes, through a [`LoadedNode`] (prepared per size) and, when every
/// instance has one size, through a caller-kept [`Prepared`].
/// A batch entry point under test.
type BatchForward<'a> = dyn Fn(&[Bound]) -> Vec<Result<Solved, RunError>> + Sync + 'a;

fn kept_batches(
    threads: usize,
    node: &ddn::analysis::Analysed<'_>,
    bounds: &[Bound],
    cots: &[Cotangents],
) -> Vec<Vec<Outcome>> {
    let pool = ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
    let reversed: Vec<Bound> = bounds.iter().rev().cloned().collect();
    let reversed_cots: Vec<Cotangents> = cots.iter().rev().cloned().collect();
    let twice = |forward: &BatchForward<'_>| {
        pool.install(|| {
            let mut first = forward(&reversed);
            backward_batch(node, &reversed, &mut first, &reversed_cots);
            drop(first);
            let mut solved = forward(bounds);
            let grads = backward_batch(node, bounds, &mut solved, cots);
            solved.into_iter().zip(grads).map(|(s, g)| outcome(s, g)).collect()
        })
    };
    let loaded = LoadedNode::new(node, Backend::Interpreter).expect("kernels");
    let mut got = vec![twice(&|b| loaded.forward_batch(b))];
    if bounds.iter().all(|b| b.dims == bounds[0].dims) {
        let last = bounds.last().expect("a batch");
        let prepared = Prepared::new(node, last, interpreted(node).expect("kernels")).expect("prepared");
        got.push(twice(&|b| forward_batch_prepared(&prepared, b)));
    }
    got
}

/// Batches on 1 and 2 threads equal the one-at-a-time results exactly, and
/// every instance is optimal with gradients.
fn check_same(node: &ddn::analysis::Analysed<'_>, bounds: &[Bound], output: &str, rng: &mut Rng) {
    let cots: Vec<Cotangents> = bounds
        .iter()
        .map(|b| {
            let len = forward(node, b).expect("forward").outputs[0].1.len();
            vec![(output.to_string(), Tensor::vector(rng.vec(len)))]
        })
        .collect();
    let reference = one_at_a_time(node, bounds, &cots);
    for (i, (solved, grads)) in reference.iter().enumerate() {
        assert_eq!(solved.as_ref().map(|s| s.0), Ok(Status::Optimal), "`{}` instance {i}", node.name);
        assert!(grads.is_ok(), "`{}` instance {i}: {grads:?}", node.name);
    }
    for threads in [1, 2] {
        let got = batched(threads, node, bounds, &cots);
        assert!(got == reference, "`{}`: the batch on {threads} thread(s) differs from one at a time", node.name);
        // One JIT-compiled kernel set shared by every instance of the batch.
        let jit: Arc<dyn Kernels> = Arc::new(JitKernels::new(kernel_set(node).expect("kernels")));
        let got = batched_on(threads, node, bounds, &cots, Some(jit));
        assert!(got == reference, "`{}`: the JIT batch on {threads} thread(s) differs", node.name);
        for (k, got) in kept_batches(threads, node, bounds, &cots).into_iter().enumerate() {
            assert!(got == reference, "`{}`: kept node {k}, {threads} thread(s): the second batch differs", node.name);
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

    for threads in [1, 2] {
        let got = batched(threads, &node, &bounds, &cots);
        for i in [0, 2, 4] {
            assert_eq!(got[i], one_at_a_time(&node, &bounds[i..=i], &cots[i..=i])[0], "instance {i}");
            assert_eq!(got[i].0.as_ref().map(|s| s.0), Ok(Status::Optimal));
            assert!(got[i].1.is_ok());
        }
        assert_eq!(got[1].0.as_ref().map(|s| s.0), Ok(Status::Infeasible));
        let Err(e) = &got[1].1 else { panic!("gradients of an infeasible instance") };
        assert!(e.0.contains("infeasible"), "{e:?}");
        let Err(e) = &got[3].0 else { panic!("a forward without parameters") };
        assert!(got[3].1.as_ref().is_err_and(|g| g.0.contains(&e.0)), "{:?}", got[3].1);
    }
}
