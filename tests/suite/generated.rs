//! `ddnc build`: the emitted module of every stdlib file is committed in
//! `tests/generated/` and compiled into this test binary. The tests check that
//! the modules are what `ddnc build` emits today, that every kernel of every
//! node's generated `Kernels` equals the tree walk ([`Evaluated`]), the
//! interpreter ([`Interpreted`]) and the JIT bit for bit at seeded points, and
//! that the typed `forward`/`backward` (the runtime solving through the
//! generated kernels) give exactly the runtime's numbers on each of those.

use std::collections::BTreeMap;
use std::sync::Arc;

use ddn::eval::{concrete, Env, EvalError, Tensor};
use ddn::faer::{Col, ColRef, Mat, MatRef};
use ddn::ir::Node;
use ddn::kernel::{Evaluated, Interpreted, KernelSet, Kernels};
use ddn::runtime::{bind, forward, Backend, LoadedNode, RunError, Status};

use super::{seeded, Rng};

// A test calls each node through a table, not by name, so rustc sees no use
// of the modules' public items.
#[allow(dead_code)]
mod eigen_ddn {
    include!("../generated/eigen.rs");
}
#[allow(dead_code)]
mod least_squares_ddn {
    include!("../generated/least_squares.rs");
}
#[allow(dead_code)]
mod more_ddn {
    include!("../generated/more.rs");
}
#[allow(dead_code)]
mod neural_collapse_ddn {
    include!("../generated/neural_collapse.rs");
}
#[allow(dead_code)]
mod optimal_transport_ddn {
    include!("../generated/optimal_transport.rs");
}
#[allow(dead_code)]
mod optnet_qp_ddn {
    include!("../generated/optnet_qp.rs");
}
#[allow(dead_code)]
mod robust_pooling_ddn {
    include!("../generated/robust_pooling.rs");
}
#[allow(dead_code)]
mod simplex_projection_ddn {
    include!("../generated/simplex_projection.rs");
}

/// A node's outputs and dL/dparameters, flattened row-major in declaration order.
type Run = (Status, Vec<Vec<f64>>, Vec<Vec<f64>>);

/// A node's typed forward and backward, on named inputs and output cotangents.
type Typed = fn(&BTreeMap<String, Tensor>, &[(String, Tensor)]) -> Result<Run, RunError>;

/// One stdlib node's generated module: its kernels, and its typed forward and
/// backward on named inputs and output cotangents.
struct Generated {
    file: &'static str,
    node: &'static str,
    kernels: Arc<dyn Kernels>,
    typed: Typed,
}

/// A parameter or cotangent held as faer values, viewed as the typed API wants.
struct Held {
    scalar: f64,
    col: Col<f64>,
    mat: Mat<f64>,
}

impl Held {
    fn new(t: &Tensor) -> Held {
        let (m, n) = if t.rank() == 2 { t.rows_cols() } else { (0, 0) };
        Held {
            scalar: t.data.first().copied().unwrap_or(0.0),
            col: Col::from_fn(if t.rank() == 1 { t.len() } else { 0 }, |i| t.data[i]),
            mat: Mat::from_fn(m, n, |i, j| t.data[i * n + j]),
        }
    }

    fn view<'a, V: View<'a>>(&'a self) -> V {
        V::of(self)
    }
}

trait View<'a> {
    fn of(h: &'a Held) -> Self;
}

impl View<'_> for f64 {
    fn of(h: &Held) -> f64 {
        h.scalar
    }
}

impl<'a> View<'a> for ColRef<'a, f64> {
    fn of(h: &'a Held) -> Self {
        h.col.as_ref()
    }
}

impl<'a> View<'a> for MatRef<'a, f64> {
    fn of(h: &'a Held) -> Self {
        h.mat.as_ref()
    }
}

/// An output or gradient of the typed API, flattened row-major as a tensor is.
trait Flat {
    fn flat(&self) -> Vec<f64>;
}

impl Flat for f64 {
    fn flat(&self) -> Vec<f64> {
        vec![*self]
    }
}

impl Flat for Col<f64> {
    fn flat(&self) -> Vec<f64> {
        self.iter().copied().collect()
    }
}

impl Flat for Mat<f64> {
    fn flat(&self) -> Vec<f64> {
        let n = self.ncols();
        (0..self.nrows() * n).map(|k| self[(k / n, k % n)]).collect()
    }
}

/// The table entry of node `$m::$node` with parameters `$p` and outputs `$o`.
macro_rules! generated {
    ($file:literal, $m:ident :: $node:ident, [$($p:ident),*], [$($o:ident),*]) => {
        Generated {
            file: $file,
            node: stringify!($node),
            kernels: Arc::new($m::$node::Kernels),
            typed: |inputs, cot| {
                use $m::$node as g;
                $(let $p = Held::new(&inputs[stringify!($p)]);)*
                let p = g::Params { $($p: $p.view()),* };
                let mut s = g::forward(&p)?;
                let outputs = vec![$(s.$o.flat()),*];
                let cot: BTreeMap<&str, Held> = cot.iter().map(|(k, t)| (k.as_str(), Held::new(t))).collect();
                let c = g::Cotangents { $($o: cot.get(stringify!($o)).map(|h| h.view())),* };
                let grads = g::backward(&p, &mut s, &c)?;
                Ok((s.status, outputs, vec![$(grads.$p.flat()),*]))
            },
        }
    };
}

/// Every stdlib node (`stdlib_nodes_are_all_covered` checks the list is complete).
// The entries bind each parameter by its name in the node (`A`, `H_bar`).
#[allow(non_snake_case)]
fn generated() -> Vec<Generated> {
    vec![
        generated!("eigen", eigen_ddn::max_eigvec, [X], [u]),
        generated!("eigen", eigen_ddn::eigh_full, [X], [U]),
        generated!("least_squares", least_squares_ddn::least_squares, [A, b], [x]),
        generated!("more", more_ddn::lp_layer, [c, G, h], [z]),
        generated!("more", more_ddn::ls_norm_ball, [A, b, r], [x, radius]),
        generated!("more", more_ddn::lasso, [A, b, lam], [x]),
        generated!("more", more_ddn::logistic_regression, [X, y, lam], [w]),
        generated!("more", more_ddn::softmax_layer, [z], [p]),
        generated!("more", more_ddn::pool_welsch_ball, [x, alpha], [y]),
        generated!("neural_collapse", neural_collapse_ddn::etf_project, [H_bar, U_prox, delta], [U]),
        generated!("optimal_transport", optimal_transport_ddn::entropic_ot, [M, r, c, gamma], [P]),
        generated!("optnet_qp", optnet_qp_ddn::optnet_qp, [Q, p, G, h, A, b], [z]),
        generated!("robust_pooling", robust_pooling_ddn::pool_quadratic, [x], [y]),
        generated!("robust_pooling", robust_pooling_ddn::pool_pseudo_huber, [x, alpha], [y]),
        generated!("robust_pooling", robust_pooling_ddn::pool_huber, [x, alpha], [y]),
        generated!("robust_pooling", robust_pooling_ddn::pool_welsch, [x, alpha], [y]),
        generated!("robust_pooling", robust_pooling_ddn::pool_truncated_quadratic, [x, alpha], [y]),
        generated!("simplex_projection", simplex_projection_ddn::project_simplex, [y], [x]),
        generated!("simplex_projection", simplex_projection_ddn::project_simplex_dual, [y], [x, total]),
    ]
}

/// The stdlib files that declare nodes (prelude.ddn has only `def`s), by stem.
fn stdlib_files_with_nodes() -> Vec<(String, ddn::Compiled, String)> {
    super::ddn_files(&super::root().join("stdlib"))
        .into_iter()
        .filter_map(|path| {
            let stem = path.file_stem().expect("stem").to_string_lossy().into_owned();
            let source = std::fs::read_to_string(&path).expect("stdlib file");
            let c = ddn::compile(&format!("{stem}.ddn"), &source);
            (!c.program.nodes.is_empty()).then_some((stem, c, source))
        })
        .collect()
}

fn node(g: &Generated) -> Node {
    super::backward::node_of(&format!("stdlib/{}.ddn", g.file), g.node)
}

/// Each committed module is today's `ddnc build` output, and there is one per
/// stdlib file with nodes (regenerate with
/// `ddnc build stdlib/F.ddn -o tests/generated/F.rs`).
#[test]
fn committed_modules_are_current() {
    let files = stdlib_files_with_nodes();
    for (stem, c, source) in &files {
        let emitted = ddn::codegen::emit(&format!("{stem}.ddn"), source, &c.program).expect("emit");
        let committed = std::fs::read_to_string(super::root().join(format!("tests/generated/{stem}.rs")))
            .unwrap_or_else(|_| panic!("tests/generated/{stem}.rs is missing"));
        assert!(emitted == committed, "tests/generated/{stem}.rs is stale: regenerate it with `ddnc build`");
    }
    let committed = std::fs::read_dir(super::root().join("tests/generated")).expect("dir").count();
    assert_eq!(committed, files.len(), "tests/generated/ holds a module of no stdlib file");
}

#[test]
fn stdlib_nodes_are_all_covered() {
    let mut want: Vec<(String, String)> = stdlib_files_with_nodes()
        .into_iter()
        .flat_map(|(stem, c, _)| c.program.nodes.into_iter().map(move |n| (stem.clone(), n.name)))
        .collect();
    let mut have: Vec<(String, String)> = generated().iter().map(|g| (g.file.into(), g.node.into())).collect();
    want.sort();
    have.sort();
    assert_eq!(have, want);
}

/// The emitted Rust of two small nodes, pinned.
#[test]
fn emitted_rust_snapshots() {
    for f in ["least_squares", "simplex_projection"] {
        let text = std::fs::read_to_string(super::root().join(format!("tests/generated/{f}.rs"))).expect("module");
        insta::assert_snapshot!(format!("generated_{f}"), text);
    }
}

/// A kernel's outputs as shapes and bits (so NaNs compare, and -0 ≠ 0), or its error.
type Bits = Result<Vec<(Vec<usize>, Vec<u64>)>, EvalError>;

fn bits(r: Result<Vec<Tensor>, EvalError>) -> Bits {
    r.map(|ts| ts.into_iter().map(|t| (t.shape, t.data.iter().map(|x| x.to_bits()).collect())).collect())
}

/// The kernel back ends, the reference first.
fn back_ends(set: &Arc<KernelSet>, generated: &Arc<dyn Kernels>) -> Vec<(&'static str, Arc<dyn Kernels>)> {
    vec![
        ("evaluated", Arc::new(Evaluated(set.clone()))),
        ("interpreted", Arc::new(Interpreted(set.clone()))),
        ("jit", Arc::new(ddn::jit::JitKernels::new(set.clone()))),
        ("generated", generated.clone()),
    ]
}

/// Every kernel of every stdlib node, at the seeded parameters and seeded
/// variables and symbols (in (0.1, 1.1), inside every atom's domain), agrees
/// across the back ends bit for bit.
#[test]
fn generated_kernels_equal_the_interpreter_and_the_tree_walk() {
    let mut rng = Rng(0x6e7);
    for g in generated() {
        let node = node(&g);
        let set = ddn::runtime::kernel_set(&node).expect("kernels");
        let bound = bind(&node, &seeded::inputs(g.node)).expect("bind");
        let mut point = |shapes: Vec<Vec<usize>>| -> Vec<Tensor> {
            shapes
                .into_iter()
                .map(|s| {
                    let t = seeded::tensor(&mut rng, s);
                    Tensor { data: t.data.iter().map(|x| 0.6 + 0.5 * x).collect(), ..t }
                })
                .collect()
        };
        let vars = point(node.vars.iter().map(|v| concrete(&v.shape, &bound.dims)).collect());
        let derived = node.derived.get().and_then(|d| d.as_ref().ok()).cloned();
        let syms = point(derived.iter().flat_map(|d| &d.syms).map(|s| concrete(&s.shape, &bound.dims)).collect());
        let env = Env { params: &bound.params, vars: &vars, dims: &bound.dims, syms: &syms };
        let ends = back_ends(&set, &g.kernels);
        for k in &set.kernels {
            let want = bits(ends[0].1.run(k.id, &env));
            assert!(want.is_ok(), "{}: kernel {:?} fails at the seeded point: {want:?}", g.node, k.id);
            for (name, end) in &ends[1..] {
                assert!(bits(end.run(k.id, &env)) == want, "{}: kernel {:?}, {name} differs", g.node, k.id);
            }
        }
    }
}

/// For every stdlib node, the generated module's typed forward and backward
/// (the runtime solving through the generated kernels) equal the runtime's
/// forward and backward on the evaluator, the interpreter (`runtime::forward`)
/// and the JIT (what `ddnc run` uses) bit for bit, on seeded inputs and cotangents.
#[test]
fn generated_forward_and_backward_equal_the_runtime() {
    for g in generated() {
        let node = node(&g);
        let inputs = seeded::inputs(g.node);
        let bound = bind(&node, &inputs).expect("bind");
        let solved = forward(&node, &bound).unwrap_or_else(|e| panic!("{}: {e:?}", g.node));
        assert_eq!(solved.status, Status::Optimal, "{}", g.node);
        let cot = seeded::cotangents(g.node, &solved);
        let (status, outputs, typed_grads) = (g.typed)(&inputs, &cot).unwrap_or_else(|e| panic!("{}: {e:?}", g.node));
        let as_bits = |v: Vec<Vec<f64>>| -> Vec<Vec<u64>> {
            v.into_iter().map(|x| x.into_iter().map(f64::to_bits).collect()).collect()
        };
        let cot_named: BTreeMap<String, Tensor> = cot.iter().cloned().collect();
        for backend in [Backend::Evaluator, Backend::Interpreter, Backend::Jit] {
            let loaded = LoadedNode::new(&node, backend).expect("kernels");
            let mut fwd = loaded.forward(&inputs).unwrap_or_else(|e| panic!("{} on {backend:?}: {e:?}", g.node));
            let grads = loaded.backward(&mut fwd, &cot_named).expect("backward");
            assert_eq!(status, fwd.solved.status, "{} on {backend:?}", g.node);
            assert_eq!(
                as_bits(outputs.clone()),
                as_bits(fwd.solved.outputs.iter().map(|(_, t)| t.data.clone()).collect()),
                "{} on {backend:?}: outputs, bit for bit",
                g.node
            );
            assert_eq!(
                as_bits(typed_grads.clone()),
                as_bits(node.params.iter().map(|p| grads[&p.name].data.clone()).collect()),
                "{} on {backend:?}: dL/dparameters, bit for bit",
                g.node
            );
        }
    }
}

/// The build-script API writes one module per file, and refuses a bad file
/// with its diagnostics.
#[test]
fn build_script_api_writes_modules_and_reports_errors() {
    let dir = std::env::temp_dir().join(format!("ddn-codegen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = super::root().join("stdlib/least_squares.ddn");
    ddn::codegen::compile_files_into(&[good.to_str().expect("utf-8 path")], &dir).expect("compile");
    let written = std::fs::read_to_string(dir.join("least_squares.rs")).expect("written");
    let committed = std::fs::read_to_string(super::root().join("tests/generated/least_squares.rs")).expect("committed");
    assert_eq!(written, committed);
    let bad = dir.join("bad.ddn");
    std::fs::write(&bad, "node k(A: real[m, n]) -> x: real[n] { minimize sum_squares(A @ y) }").expect("write");
    let e = ddn::codegen::compile_files_into(&[bad.to_str().expect("utf-8 path")], &dir).expect_err("bad file");
    assert!(e.contains("error") && e.contains('y'), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
