//! Compiled nodes: forward + backward of one node through each way of running
//! its kernels, in one run:
//!
//! - `evaluator`: the tree-walking evaluator (`loaded::Backend::Evaluator`);
//! - `interpreter`: the lowered programs, interpreted (`Backend::Interpreter`,
//!   what `runtime::forward` uses);
//! - `jit`: the programs as Cranelift machine code (`Backend::Jit`, what
//!   `ddnc run` uses), compiled once before timing;
//! - `module`: the module `ddnc build` generated (tests/generated/, the
//!   committed output for stdlib), through its typed `forward` / `backward`.
//!
//! Each call binds the inputs, solves and differentiates with a fixed
//! cotangent. Three problems: least squares (stdlib `least_squares`, A 64×32,
//! the QR path), the OptNet QP layer (`optnet_qp`, n = 50: the interior point
//! path), robust pooling with the pseudo-Huber penalty (`pool_pseudo_huber`,
//! 256 points in 16 dimensions: Newton on the derived expressions, where the
//! kernels are most of the work).
//!
//! Before timing, each problem checks once that the four give the same outputs
//! and gradients bit for bit, and panics if not.
//!
//! ```sh
//! cargo bench --bench compiled
//! ```

mod common;

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ddn::analysis::Analysed;
use ddn::eval::Tensor;
use ddn::faer::{Col, ColRef, Mat, MatRef};
use ddn::loaded::{Backend, LoadedNode};

use common::{bench, inputs, optnet_inputs, stdlib_node, time_once, Rng};

// Each generated module has every node of its file; this uses one of each.
#[allow(dead_code)]
mod least_squares_ddn {
    include!("../tests/generated/least_squares.rs");
}
#[allow(dead_code)]
mod optnet_qp_ddn {
    include!("../tests/generated/optnet_qp.rs");
}
#[allow(dead_code)]
mod robust_pooling_ddn {
    include!("../tests/generated/robust_pooling.rs");
}

const GROUP: &str = "compiled";

fn col(t: &Tensor) -> Col<f64> {
    Col::from_fn(t.len(), |i| t.data[i])
}

fn mat(t: &Tensor) -> Mat<f64> {
    let (m, n) = t.rows_cols();
    Mat::from_fn(m, n, |i, j| t.data[i * n + j])
}

fn flat_col(c: ColRef<'_, f64>) -> Vec<f64> {
    c.iter().copied().collect()
}

fn flat_mat(a: MatRef<'_, f64>) -> Vec<f64> {
    (0..a.nrows()).flat_map(|i| (0..a.ncols()).map(move |j| a[(i, j)])).collect()
}

/// Outputs then gradients, flattened, as bits.
type Bits = Vec<Vec<u64>>;

fn bits(vs: &[Vec<f64>]) -> Bits {
    vs.iter().map(|v| v.iter().map(|x| x.to_bits()).collect()).collect()
}

/// Forward + backward through the runtime on `backend`; outputs, then gradients
/// in parameter order.
fn runtime_call(node: &LoadedNode, values: &BTreeMap<String, Tensor>, cot: &BTreeMap<String, Tensor>) -> Vec<Vec<f64>> {
    let mut fwd = node.forward(values).expect("forward");
    let grads = node.backward(&mut fwd, cot).expect("backward");
    let mut out: Vec<Vec<f64>> = fwd.solved.outputs.iter().map(|(_, t)| t.data.clone()).collect();
    out.extend(node.node().params.iter().map(|p| grads[&p.name].data.clone()));
    out
}

/// Times the three runtime back ends and the generated `module`, after
/// checking that all four agree bit for bit.
fn compare(
    c: &mut Criterion,
    node: &Analysed<'_>,
    n: usize,
    problem: &str,
    values: Vec<(&str, Tensor)>,
    cot: (&str, Tensor),
    module: impl Fn() -> Vec<Vec<f64>>,
) {
    let values = inputs(values);
    let cot = inputs(vec![cot]);
    let backends = [("evaluator", Backend::Evaluator), ("interpreter", Backend::Interpreter), ("jit", Backend::Jit)];
    let loaded: Vec<(&str, LoadedNode)> = backends
        .iter()
        .map(|(name, b)| {
            let l = LoadedNode::new(node, *b).expect("kernels");
            l.prepare(&values).expect("prepare");
            (*name, l)
        })
        .collect();
    let (t_module, reference) = time_once(&module);
    for (name, l) in &loaded {
        assert_eq!(
            bits(&runtime_call(l, &values, &cot)),
            bits(&reference),
            "{problem}: {name} differs from the module"
        );
    }
    let mut group = c.benchmark_group(GROUP);
    let g = &mut group;
    for (name, l) in &loaded {
        let (t, _) = time_once(|| runtime_call(l, &values, &cot));
        bench(g, GROUP, &format!("{problem}_{name}"), n, t, || runtime_call(l, black_box(&values), black_box(&cot)));
    }
    bench(g, GROUP, &format!("{problem}_module"), n, t_module, &module);
    group.finish();
}

fn compiled(c: &mut Criterion) {
    common::single_threaded();
    let mut rng = Rng::new(5);

    // Least squares, A 64×32.
    let (m, n) = (64, 32);
    let node = stdlib_node("least_squares.ddn", include_str!("../stdlib/least_squares.ddn"), "least_squares");
    let (a, b, v) =
        (Tensor::matrix(m, n, rng.normals(m * n)), Tensor::vector(rng.normals(m)), Tensor::vector(rng.normals(n)));
    let (am, bc, vc) = (mat(&a), col(&b), col(&v));
    compare(c, &node, n, "least_squares", vec![("A", a), ("b", b)], ("x", v), || {
        use least_squares_ddn::least_squares as ls;
        let p = ls::Params { A: am.as_ref(), b: bc.as_ref() };
        let mut s = ls::forward(black_box(&p)).expect("forward");
        let g = ls::backward(&p, &mut s, &ls::Cotangents { x: Some(vc.as_ref()) }).expect("backward");
        vec![flat_col(s.x.as_ref()), flat_mat(g.A.as_ref()), flat_col(g.b.as_ref())]
    });

    // The OptNet QP layer, n = 50.
    let n = 50;
    let node = stdlib_node("optnet_qp.ddn", include_str!("../stdlib/optnet_qp.ddn"), "optnet_qp");
    let data = optnet_inputs(&mut rng, n);
    let v = Tensor::vector(rng.normals(n));
    let held: Vec<(Mat<f64>, Col<f64>)> = data
        .iter()
        .map(|(_, t)| if t.rank() == 2 { (mat(t), Col::zeros(0)) } else { (Mat::zeros(0, 0), col(t)) })
        .collect();
    let vc = col(&v);
    compare(c, &node, n, "optnet_qp", data, ("z", v), || {
        use optnet_qp_ddn::optnet_qp as qp;
        let p = qp::Params {
            Q: held[0].0.as_ref(),
            p: held[1].1.as_ref(),
            G: held[2].0.as_ref(),
            h: held[3].1.as_ref(),
            A: held[4].0.as_ref(),
            b: held[5].1.as_ref(),
        };
        let mut s = qp::forward(black_box(&p)).expect("forward");
        let g = qp::backward(&p, &mut s, &qp::Cotangents { z: Some(vc.as_ref()) }).expect("backward");
        vec![
            flat_col(s.z.as_ref()),
            flat_mat(g.Q.as_ref()),
            flat_col(g.p.as_ref()),
            flat_mat(g.G.as_ref()),
            flat_col(g.h.as_ref()),
            flat_mat(g.A.as_ref()),
            flat_col(g.b.as_ref()),
        ]
    });

    // Robust pooling (pseudo-Huber), 256 points in 16 dimensions.
    let (points, d) = (256, 16);
    let node = stdlib_node("robust_pooling.ddn", include_str!("../stdlib/robust_pooling.ddn"), "pool_pseudo_huber");
    let x = Tensor::matrix(points, d, rng.normals(points * d));
    let v = Tensor::vector(rng.normals(d));
    let (xm, vc) = (mat(&x), col(&v));
    compare(c, &node, points, "pool_pseudo_huber", vec![("x", x), ("alpha", Tensor::scalar(1.0))], ("y", v), || {
        use robust_pooling_ddn::pool_pseudo_huber as pool;
        let p = pool::Params { x: xm.as_ref(), alpha: 1.0 };
        let mut s = pool::forward(black_box(&p)).expect("forward");
        let g = pool::backward(&p, &mut s, &pool::Cotangents { y: Some(vc.as_ref()) }).expect("backward");
        vec![flat_col(s.y.as_ref()), flat_mat(g.x.as_ref()), vec![g.alpha]]
    });
}

criterion_group!(benches, compiled);
criterion_main!(benches);
