//! Kernels (`ddn::kernel`): lowering shares subexpressions, and a node solved
//! through its interpreted programs gives the evaluator's numbers bit for bit,
//! forward and backward.

use std::sync::Arc;

use ddn::eval::Tensor;
use ddn::ir::{Expr, Node};
use ddn::kernel::{Evaluated, KernelId, Kernels};
use ddn::runtime::{bind, forward, interpreted, kernel_set, named_tensors, Options};
use serde_json::{json, Value};

use super::backward::node_of;

fn tree_size(e: &Expr) -> usize {
    1 + e.children().into_iter().map(tree_size).sum::<usize>()
}

/// Every subexpression of `e`, printed (equal text, equal expression).
fn subexpressions(node: &Node, e: &Expr, into: &mut std::collections::BTreeSet<String>) {
    into.insert(node.expr_str(e));
    e.children().into_iter().for_each(|c| subexpressions(node, c, into));
}

/// The Hessian–vector product of robust pooling repeats the residual `x − y`
/// and the square root: the program has a step per distinct subexpression at
/// most, fewer than the expressions have nodes.
#[test]
fn lowering_shares_subexpressions() {
    let node = node_of("stdlib/robust_pooling.ddn", "pool_pseudo_huber");
    let set = kernel_set(&node).expect("kernels");
    let hvp = set.get(KernelId::Hvp).expect("hvp kernel");
    let tree: usize = hvp.exprs.iter().map(tree_size).sum();
    let mut distinct = std::collections::BTreeSet::new();
    hvp.exprs.iter().for_each(|e| subexpressions(&node, e, &mut distinct));
    let steps = hvp.program.steps.len();
    assert!(distinct.len() < tree, "{} distinct subexpressions in {tree} nodes: nothing to share", distinct.len());
    assert!(steps <= distinct.len(), "{steps} steps for {} distinct subexpressions ({tree} nodes)", distinct.len());
    // Each step reads only earlier steps.
    for (k, s) in hvp.program.steps.iter().enumerate() {
        assert!(s.args.iter().all(|a| a.index() < k));
    }
}

/// Without constraints `L_y` is `f_y`: one program, run under either name.
#[test]
fn equal_kernels_are_lowered_once() {
    let node = node_of("stdlib/robust_pooling.ddn", "pool_pseudo_huber");
    let set = kernel_set(&node).expect("kernels");
    assert_eq!(set.index(KernelId::LagrangianGradient), set.index(KernelId::Gradient));
    assert!(set.kernels.iter().all(|k| k.id != KernelId::LagrangianGradient));
    let inputs = json!({"x": [[0.1, 2.0], [0.3, -0.2], [3.5, 0.4]], "alpha": 0.8});
    let bound = bind(&node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let y = [Tensor::vector(vec![0.4, -0.3])];
    let env = ddn::eval::Env { params: &bound.params, vars: &y, dims: &bound.dims, syms: &[] };
    let kernels = interpreted(&node).expect("kernels");
    let grad = kernels.run(KernelId::Gradient, &env).expect("f_y");
    assert_eq!(bits(&grad), bits(&kernels.run(KernelId::LagrangianGradient, &env).expect("L_y")));
    // The tree walk of the gradient's own expressions agrees.
    let evaluated = Evaluated(set.clone());
    assert_eq!(bits(&grad), bits(&evaluated.run(KernelId::Gradient, &env).expect("f_y")));
}

fn bits(ts: &[Tensor]) -> Vec<(Vec<usize>, Vec<u64>)> {
    ts.iter().map(|t| (t.shape.clone(), t.data.iter().map(|x| x.to_bits()).collect())).collect()
}

/// Forward and backward of `node` at `inputs` with the cotangents, through `kernels`.
fn solve(
    node: &ddn::analysis::Analysed<'_>,
    inputs: &Value,
    cot: &Value,
    kernels: Arc<dyn Kernels>,
) -> (Vec<Tensor>, Vec<Tensor>) {
    let bound = bind(node, &named_tensors(inputs).expect("inputs")).expect("bind");
    let mut solved = forward(node, &bound, &Options::default().with_kernels(kernels)).expect("forward");
    let cot: Vec<(String, Tensor)> = named_tensors(cot).expect("cotangents").into_iter().collect();
    let grads = ddn::diff::backward(node, &bound, &mut solved, &cot).expect("backward");
    (solved.outputs.into_iter().map(|(_, t)| t).collect(), grads)
}

#[test]
fn interpreted_nodes_equal_the_evaluator_bit_for_bit() {
    let pool = json!({"x": [[0.1, 2.0], [0.3, -0.2], [3.5, 0.4], [-0.4, 0.1], [0.2, -2.6]], "alpha": 0.8});
    let cases = [
        ("stdlib/robust_pooling.ddn", "pool_pseudo_huber", pool.clone(), json!({"y": [0.3, -0.7]})),
        ("stdlib/robust_pooling.ddn", "pool_welsch", pool, json!({"y": [0.3, -0.7]})),
        (
            "stdlib/more.ddn",
            "logistic_regression",
            json!({"X": [[1.0, 0.5], [-0.3, 1.2], [0.8, -1.0], [0.1, 0.2]], "y": [1.0, -1.0, 1.0, -1.0], "lam": 0.5}),
            json!({"w": [0.4, -1.1]}),
        ),
        (
            "stdlib/simplex_projection.ddn",
            "project_simplex",
            json!({"y": [0.9, -0.3, 0.4, 1.2]}),
            json!({"x": [1.0, -0.5, 0.25, 2.0]}),
        ),
    ];
    for (file, name, inputs, cot) in cases {
        let node = node_of(file, name);
        let evaluated: Arc<dyn Kernels> = Arc::new(Evaluated(kernel_set(&node).expect("kernels")));
        let (out_e, grad_e) = solve(&node, &inputs, &cot, evaluated);
        let (out_i, grad_i) = solve(&node, &inputs, &cot, interpreted(&node).expect("kernels"));
        assert_eq!(bits(&out_e), bits(&out_i), "{name}: outputs");
        assert_eq!(bits(&grad_e), bits(&grad_i), "{name}: gradients");
    }
}

/// A conic node whose data subexpressions are not bare parameters: the `Data`
/// kernel computes them, and the standard form is the one the evaluator builds.
#[test]
fn conic_data_kernel_gives_the_evaluators_standard_form() {
    let c = ddn::compile(
        "t.ddn",
        "node weighted(A: real[m, n], b: real[m]) -> x: real[n] {
            minimize sum(sqrt(sum(A * A, axis = 1)) * abs(A @ x - b)) + sum_squares(x)
        }",
    );
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    let node = &c.analysed(0).expect("node");
    let inputs = json!({"A": [[1.0, 0.5], [-0.3, 1.2], [0.8, -1.0]], "b": [0.3, -0.1, 0.7]});
    let bound = bind(node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let env = ddn::eval::Env { params: &bound.params, vars: &[], dims: &bound.dims, syms: &[] };
    let data = interpreted(node).expect("kernels").run(KernelId::Data, &env).expect("data");
    assert!(data.len() >= 2, "the weights and A, b are data: {data:?}");
    let with = ddn::canon::canonicalize_with(node, &bound, &data).expect("canon");
    let without = ddn::canon::canonicalize(node, &bound).expect("canon");
    assert_eq!(format!("{:?}", with.program), format!("{:?}", without.program));
    let cot = json!({"x": [1.0, -2.0]});
    let evaluated: Arc<dyn Kernels> = Arc::new(Evaluated(kernel_set(node).expect("kernels")));
    let (out_e, grad_e) = solve(node, &inputs, &cot, evaluated);
    let (out_i, grad_i) = solve(node, &inputs, &cot, interpreted(node).expect("kernels"));
    assert_eq!(bits(&out_e), bits(&out_i));
    assert_eq!(bits(&grad_e), bits(&grad_i));
}
