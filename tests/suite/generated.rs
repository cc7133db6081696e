//! `ddnc build`: the emitted module of every stdlib file is committed in
//! `tests/generated/` and compiled into this test binary. The tests check that
//! the modules are what `ddnc build` emits today, that every kernel of every
//! node's generated `Kernels` equals the tree walk ([`Evaluated`]), the
//! interpreter ([`Interpreted`]) and the JIT bit for bit at seeded points, and
//! that the typed `forward`/`backward` (the runtime solving through the
//! generated kernels) give exactly the runtime's numbers on each of those.

use std::collections::BTreeMap;
use std::sync::Arc;

use ddn::analysis::Analysed;
use ddn::canon::{record, Recorded, RecordedForm, Scratch};
use ddn::eval::{concrete, Env, EvalError, Tensor};
use ddn::faer::{Col, ColRef, Mat, MatRef};
use ddn::kernel::{Evaluated, Interpreted, KernelId, KernelSet, Kernels};
use ddn::loaded::{Backend, LoadedNode};
use ddn::runtime::{bind, forward, Options, RunError, Status};
use serde_json::json;

use super::{seeded, Rng};

// A test calls each node through a table, not by name, so rustc sees no use
// of the modules' public items.
#[allow(dead_code)]
mod eigen_ddn {
    include!("../generated/eigen.rs");
}
#[allow(dead_code)]
mod ellipsoid_ddn {
    include!("../generated/ellipsoid.rs");
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
mod pnp_ddn {
    include!("../generated/pnp.rs");
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

/// One stdlib node's generated module: its node and kernels, the recordings
/// made at build time and the node prepared with them, and its typed forward
/// and backward on named inputs and output cotangents.
struct Generated {
    file: &'static str,
    node: &'static str,
    checked: fn() -> Analysed<'static>,
    kernels: Arc<dyn Kernels>,
    recorded: &'static [ddn::codegen::runtime::RecordedAt],
    loaded: fn() -> Result<&'static LoadedNode<'static>, RunError>,
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
            checked: $m::$node::analysed,
            kernels: Arc::new($m::$node::Kernels),
            recorded: $m::$node::RECORDED,
            loaded: $m::$node::loaded,
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
        generated!("ellipsoid", ellipsoid_ddn::project_ellipsoid, [y, P, x0], [x, inside]),
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
        generated!("pnp", pnp_ddn::weighted_pnp, [W, f, X, R0, t0], [R, t]),
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

/// The node of `g` compiled from its stdlib file now.
fn node_of(g: &Generated) -> Analysed<'static> {
    super::backward::node_of(&format!("stdlib/{}.ddn", g.file), g.node)
}

/// The inputs each conic node of `program` is prepared at in the committed
/// modules: `tests/generated/prepare/NODE.json` (the node's seeded inputs,
/// [`prepare_inputs_are_the_seeded_ones`]).
fn prepare(program: &ddn::ir::Program) -> Vec<ddn::codegen::Prepare> {
    let dir = super::root().join("tests/generated/prepare");
    program
        .nodes
        .iter()
        .filter_map(|n| {
            let json = std::fs::read_to_string(dir.join(format!("{}.json", n.name))).ok()?;
            Some(ddn::codegen::Prepare::from_json(&n.name, &json).expect("prepare inputs"))
        })
        .collect()
}

/// Each committed module is today's `ddnc build` output, and there is one per
/// stdlib file with nodes (regenerate with
/// `ddnc build stdlib/F.ddn --prepare-dir tests/generated/prepare -o tests/generated/F.rs`).
#[test]
fn committed_modules_are_current() {
    let files = stdlib_files_with_nodes();
    for (stem, c, _) in &files {
        let emitted = ddn::codegen::emit(&format!("{stem}.ddn"), c, &prepare(&c.program)).expect("emit");
        let committed = std::fs::read_to_string(super::root().join(format!("tests/generated/{stem}.rs")))
            .unwrap_or_else(|_| panic!("tests/generated/{stem}.rs is missing"));
        assert!(
            emitted == committed,
            "tests/generated/{stem}.rs is stale: regenerate it with \
             `ddnc build stdlib/{stem}.ddn --prepare-dir tests/generated/prepare -o tests/generated/{stem}.rs`"
        );
    }
    let modules = std::fs::read_dir(super::root().join("tests/generated"))
        .expect("dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "rs")))
        .count();
    assert_eq!(modules, files.len(), "tests/generated/ holds a module of no stdlib file");
}

/// Every conic stdlib node is prepared at build time at its seeded inputs (so
/// the comparisons below, which run at those inputs, run the emitted refill),
/// and nothing else is.
#[test]
fn prepare_inputs_are_the_seeded_ones() {
    let dir = super::root().join("tests/generated/prepare");
    let mut conic = Vec::new();
    for g in generated() {
        let node = &(g.checked)();
        let path = dir.join(format!("{}.json", g.node));
        if !node.class.family.is_conic() {
            assert!(!path.exists(), "{}: only conic nodes are prepared", g.node);
            assert!(g.recorded.is_empty(), "{}", g.node);
            continue;
        }
        conic.push(g.node);
        let json = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} is missing", path.display()));
        let given = ddn::codegen::Prepare::from_json(g.node, &json).expect("inputs").inputs;
        let seeded = seeded::inputs(g.node);
        assert_eq!(given.keys().collect::<Vec<_>>(), seeded.keys().collect::<Vec<_>>(), "{}", g.node);
        for (k, t) in &seeded {
            assert_eq!(given[k].shape, t.shape, "{}: {k}", g.node);
            for (a, b) in given[k].data.iter().zip(&t.data) {
                assert!((a - b).abs() <= 1e-15 * b.abs(), "{}: {k}: {a} vs {b}", g.node);
            }
        }
        let dims = bind(node, &seeded).expect("bind").dims;
        assert!(g.recorded.iter().any(|(d, _)| *d == dims.as_slice()), "{}: not prepared at {dims:?}", g.node);
    }
    assert!(conic.len() >= 8, "{conic:?}");
}

/// A generated module holds its node as data: the text has no source and no
/// call of the parser or the checker, and the node it builds is the checked
/// node field for field (a smooth node's derivation included, so the runtime
/// derives nothing).
#[test]
fn generated_modules_parse_nothing_at_run_time() {
    for entry in std::fs::read_dir(super::root().join("tests/generated")).expect("dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("module");
        // The entry points of the parser, the checker, the derivation and the recording.
        let banned =
            ["SOURCE", "compile(", "parse(", "parse_expr(", "sema::", "derive(node", "record(node", "canonicalize"];
        for banned in banned {
            assert!(!text.contains(banned), "{}: contains `{banned}`", path.display());
        }
    }
    for g in generated() {
        let emitted = &(g.checked)();
        let node = node_of(&g);
        assert_eq!(emitted.name, node.name);
        assert_eq!(emitted.span, node.span, "{}", g.node);
        assert_eq!(emitted.dims, node.dims, "{}", g.node);
        assert_eq!(emitted.params, node.params, "{}", g.node);
        assert_eq!(emitted.vars, node.vars, "{}", g.node);
        assert_eq!(emitted.outputs, node.outputs, "{}", g.node);
        assert_eq!(emitted.objective, node.objective, "{}", g.node);
        assert_eq!(emitted.constraints, node.constraints, "{}", g.node);
        assert_eq!(emitted.solve, node.solve, "{}", g.node);
        assert_eq!(emitted.inits, node.inits, "{}", g.node);
        assert_eq!(emitted.class, node.class, "{}", g.node);
        // The runtime's derivation of the checked node, if it has one, is the emitted one.
        ddn::runtime::prepare(&node).expect("prepare");
        let derivation = |n: &Analysed| n.analysis.derivation().map(|d| format!("{:?}", d.as_ref().expect("derived")));
        assert_eq!(derivation(emitted), derivation(&node), "{}: derivation", g.node);
    }
}

/// The bits of a replay's values, or the miss.
fn replayed(r: &Recorded, bound: &ddn::runtime::Bound, data: &[Tensor], s: &mut Scratch) -> Result<Vec<u64>, String> {
    r.replay(bound, data, s).map(|()| s.values.iter().map(|v| v.to_bits()).collect()).map_err(|m| format!("{m:?}"))
}

/// For every conic stdlib node, the standard form emitted at build time is the
/// one the runtime records at the same inputs, entry for entry and in order
/// (leaves, steps, guards, block products, where each value goes, layout), and
/// its straight-line refill and adjoint compute the interpreted refill's and
/// adjoint's numbers bit for bit: at the seeded inputs, at rescaled ones, and
/// at negated ones (where a guard may fail: the same guard, or none, in both).
#[test]
fn emitted_refill_equals_the_recording() {
    let mut checked = Vec::new();
    for g in generated().into_iter().filter(|g| !g.recorded.is_empty()) {
        let node = &(g.checked)();
        let interpreted = ddn::runtime::interpreted(node).expect("kernels");
        let data = |b: &ddn::runtime::Bound| {
            let env = Env { params: &b.params, vars: &[], dims: &b.dims, syms: &[] };
            interpreted.run(KernelId::Data, &env).expect("data kernel")
        };
        let inputs = seeded::inputs(g.node);
        let bound = bind(node, &inputs).expect("bind");
        let recorded = record(node, &bound, &data(&bound)).expect("recorded");
        let (_, emitted) = g.recorded.iter().find(|(d, _)| *d == bound.dims.as_slice()).expect("prepared");
        let emitted = emitted();
        assert!(emitted.compiled.is_some() && recorded.compiled.is_none(), "{}", g.node);
        let (a, b) = (&emitted.refill, &recorded.refill);
        assert!(a.steps == b.steps && a.leaves == b.leaves && a.blocks == b.blocks, "{}: steps", g.node);
        assert!(a.guards == b.guards && a.grams == b.grams && a.reads_data == b.reads_data, "{}: guards", g.node);
        assert_eq!(format!("{:?}", emitted.form), format!("{:?}", recorded.form), "{}: form", g.node);
        assert_eq!(format!("{:?}", emitted.layout), format!("{:?}", recorded.layout), "{}: layout", g.node);
        assert_eq!(emitted.log, recorded.log, "{}: log", g.node);

        let mut rng = Rng(0xe3 ^ g.node.len() as u64);
        let rescaled: BTreeMap<String, Tensor> =
            inputs.iter().map(|(k, t)| (k.clone(), t.scaled(1.0 + 0.1 * rng.next()))).collect();
        let negated: BTreeMap<String, Tensor> = inputs.iter().map(|(k, t)| (k.clone(), t.scaled(-1.0))).collect();
        for (at, values) in [("seeded", &inputs), ("rescaled", &rescaled), ("negated", &negated)] {
            let Ok(b) = bind(node, values) else { continue };
            let d = data(&b);
            let (mut se, mut sr) = (Scratch::default(), Scratch::default());
            let (re, rr) = (replayed(&emitted, &b, &d, &mut se), replayed(&recorded, &b, &d, &mut sr));
            assert_eq!(re, rr, "{} at {at}: replay", g.node);
            if rr.is_err() {
                continue;
            }
            // Every step's adjoint seeded (not only the outputs'), so the
            // whole sweep is compared; a few seeds are zero, as most are in use.
            let seed: Vec<f64> = (0..sr.values.len()).map(|k| if k % 5 == 0 { 0.0 } else { rng.next() }).collect();
            se.adj.clone_from(&seed);
            sr.adj = seed;
            emitted.adjoint(&mut se);
            recorded.adjoint(&mut sr);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&se.adj), bits(&sr.adj), "{} at {at}: adjoint", g.node);
            // And through the seeds of ψ to the parameters.
            let (n, m) = match &recorded.form {
                RecordedForm::Cone { program, .. } => (program.n(), program.m()),
                RecordedForm::LeastSquares { cols, .. } => (*cols, 0),
            };
            let (x, z, wx, wz) = (rng.vec(n), rng.vec(m), rng.vec(n), rng.vec(m));
            let mut grads = Vec::new();
            for (r, s) in [(&emitted, &mut se), (&recorded, &mut sr)] {
                match r.form {
                    RecordedForm::Cone { .. } => r.seed_cone(&x, &z, &wx, &wz, s),
                    RecordedForm::LeastSquares { .. } => r.seed_least_squares(&x, &wx, s),
                }
                let mut gr: Vec<Tensor> = b.params.iter().map(|p| Tensor::filled(p.shape.clone(), 0.0)).collect();
                r.to_params(node, &b, s, &mut Vec::new(), &mut gr).expect("adjoint");
                grads.push(gr.iter().flat_map(|t| bits(&t.data)).collect::<Vec<_>>());
            }
            assert_eq!(grads[0], grads[1], "{} at {at}: gradient", g.node);
        }
        checked.push(g.node);
    }
    for expected in ["least_squares", "optnet_qp", "lasso", "ls_norm_ball", "lp_layer", "pool_huber", "project_simplex"]
    {
        assert!(checked.contains(&expected), "{expected} not checked: {checked:?}");
    }
}

/// A guard of the emitted refill that fails falls back as the runtime does:
/// the node prepared from the module's recordings, called at inputs on the
/// other side of a data-dependent decision, records again and gives the
/// runtime's answer bit for bit (or the same error).
#[test]
fn a_failing_emitted_guard_falls_back() {
    let mut fell_back = Vec::new();
    for g in generated().into_iter().filter(|g| !g.recorded.is_empty()) {
        let node = &(g.checked)();
        let own = ddn::codegen::runtime::loaded(node, g.kernels.clone(), g.recorded).expect("loaded");
        let inputs = seeded::inputs(g.node);
        if g.recorded.iter().all(|(_, r)| r().refill.guards.is_empty()) {
            continue;
        }
        let negated: BTreeMap<String, Tensor> = inputs.iter().map(|(k, t)| (k.clone(), t.scaled(-1.0))).collect();
        let Ok(bound) = bind(node, &negated) else { continue };
        let prepared = own.prepared(&bound).expect("prepared");
        let before = prepared.recorded().expect("emitted");
        assert!(before.compiled.is_some(), "{}", g.node);
        let mine = prepared.forward(&bound);
        let after = prepared.recorded().expect("recorded");
        if after.compiled.is_some() {
            continue; // every guard held at the negated inputs
        }
        let fresh = node_of(&g);
        let reference = LoadedNode::new(&fresh, Backend::Interpreter).expect("kernels").forward(&negated);
        match (mine, reference) {
            (Ok(a), Ok(b)) => {
                let bits = |s: &ddn::runtime::Solved| -> Vec<Vec<u64>> {
                    s.outputs.iter().map(|(_, t)| t.data.iter().map(|v| v.to_bits()).collect()).collect()
                };
                assert_eq!((a.status, bits(&a)), (b.solved.status, bits(&b.solved)), "{}", g.node);
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{}", g.node),
            (a, b) => panic!("{}: {:?} vs {:?}", g.node, a.map(|s| s.status), b.map(|f| f.solved.status)),
        }
        fell_back.push(g.node);
    }
    assert!(!fell_back.is_empty(), "no emitted guard failed at negated inputs");
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
        let node = node_of(&g);
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
        let derived = node.analysis.derivation().and_then(|d| d.as_ref().ok()).cloned();
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
        let node = node_of(&g);
        let inputs = seeded::inputs(g.node);
        let bound = bind(&node, &inputs).expect("bind");
        let solved = forward(&node, &bound, &Options::default()).unwrap_or_else(|e| panic!("{}: {e:?}", g.node));
        assert_eq!(solved.status, Status::Optimal, "{}", g.node);
        let cot = seeded::cotangents(g.node, &solved);
        let (status, outputs, typed_grads) = (g.typed)(&inputs, &cot).unwrap_or_else(|e| panic!("{}: {e:?}", g.node));
        let as_bits = |v: Vec<Vec<f64>>| -> Vec<Vec<u64>> {
            v.into_iter().map(|x| x.into_iter().map(f64::to_bits).collect()).collect()
        };
        if node.class.family.is_conic() {
            // The module solved through the refill it was built with.
            let prepared = (g.loaded)().expect("loaded").prepared(&bound).expect("prepared");
            assert!(prepared.recorded().is_some_and(|r| r.compiled.is_some()), "{}: emitted refill unused", g.node);
        }
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

/// At sizes not prepared at build time, a module records on first use (as the
/// runtime does) and still gives the runtime's numbers bit for bit.
#[test]
fn sizes_not_prepared_are_recorded_on_first_use() {
    let mut rng = Rng(0x512e);
    let cases = [
        ("least_squares", json!({"A": rng.mat(7, 3), "b": rng.vec(7)}), "x"),
        ("project_simplex", json!({"y": rng.vec(8)}), "x"),
    ];
    for (name, inputs, output) in cases {
        let g = generated().into_iter().find(|g| g.node == name).expect("node");
        let inputs = ddn::runtime::named_tensors(&inputs).expect("inputs");
        let node = &(g.checked)();
        let bound = bind(node, &inputs).expect("bind");
        assert!(g.recorded.iter().all(|(d, _)| *d != bound.dims.as_slice()), "{name}: prepared at these sizes");
        let len = concrete(&node.vars[0].shape, &bound.dims).iter().product();
        let cot = vec![(output.to_string(), Tensor::vector(rng.vec(len)))];
        let (status, outputs, grads) = (g.typed)(&inputs, &cot).expect("typed");
        let fresh = node_of(&g);
        let loaded = LoadedNode::new(&fresh, Backend::Interpreter).expect("kernels");
        let mut fwd = loaded.forward(&inputs).expect("forward");
        let want = loaded.backward(&mut fwd, &cot.iter().cloned().collect()).expect("backward");
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(status, fwd.solved.status, "{name}");
        assert_eq!(bits(&outputs[0]), bits(&fwd.solved.outputs[0].1.data), "{name}: outputs");
        for (p, got) in node.params.iter().zip(&grads) {
            assert_eq!(bits(got), bits(&want[&p.name].data), "{name}: dL/d{}", p.name);
        }
        let prepared = (g.loaded)().expect("loaded").prepared(&bound).expect("prepared");
        assert!(prepared.recorded().is_some_and(|r| r.compiled.is_none()), "{name}: recorded at run time");
    }
}

/// The build-script API writes one module per file, and refuses a bad file
/// with its diagnostics.
#[test]
fn build_script_api_writes_modules_and_reports_errors() {
    use ddn::codegen::BuildError;
    let dir = std::env::temp_dir().join(format!("ddn-codegen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = super::root().join("stdlib/least_squares.ddn");
    let c = super::compile_path(&good);
    ddn::codegen::compile_files_into(&[good.to_str().expect("utf-8 path")], &prepare(&c.program), &dir)
        .expect("compile");
    let written = std::fs::read_to_string(dir.join("least_squares.rs")).expect("written");
    let committed = std::fs::read_to_string(super::root().join("tests/generated/least_squares.rs")).expect("committed");
    assert_eq!(written, committed);
    let bad = dir.join("bad.ddn");
    std::fs::write(&bad, "node k(A: real[m, n]) -> x: real[n] { minimize sum_squares(A @ y) }").expect("write");
    let e = ddn::codegen::compile_files_into(&[bad.to_str().expect("utf-8 path")], &[], &dir).expect_err("bad file");
    assert!(matches!(e, BuildError::Diagnostics(_)), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("error") && e.contains('y'), "{e}");
    // Preparing a node the files do not have, or a smooth node, is refused.
    let elsewhere =
        ddn::codegen::Prepare::from_json("lasso", r#"{"A": [[1.0]], "b": [1.0], "lam": 0.1}"#).expect("json");
    let e = ddn::codegen::compile_files_into(&[good.to_str().expect("utf-8 path")], &[elsewhere], &dir)
        .expect_err("no such node");
    assert!(matches!(&e, BuildError::NoSuchNode { node, .. } if node == "lasso"), "{e:?}");
    assert!(e.to_string().contains("no node `lasso`"), "{e}");
    let pooling = super::root().join("stdlib/robust_pooling.ddn");
    let smooth = ddn::codegen::Prepare::from_json("pool_welsch", r#"{"x": [[1.0]], "alpha": 1.0}"#).expect("json");
    let e = ddn::codegen::compile_files_into(&[pooling.to_str().expect("utf-8 path")], &[smooth], &dir)
        .expect_err("smooth");
    assert!(matches!(&e, BuildError::Node { node, .. } if node == "pool_welsch"), "{e:?}");
    assert!(e.to_string().contains("only conic nodes"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
