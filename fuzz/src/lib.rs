//! Fuzz targets: hostile bytes through every door a user can open.
//!
//! Each target takes arbitrary bytes and drives one of ddn's entry points the
//! way `ddnc` does. A target *passes* an input when ddn answers with a result
//! or an error and keeps its promises; it *fails* (panics, which AFL++ records
//! as a crash) when ddn panics, aborts, or breaks a promise the targets
//! assert:
//!
//! - [`check`]: `.ddn` text through parse, check and classify, the reports of
//!   `ddnc check` (text and JSON) and `ddnc explain` — a compilation with
//!   errors always renders at least one diagnostic;
//! - [`run`]: JSON inputs and cotangents (`ddnc run`'s two files) through the
//!   forward and backward passes of every stdlib node, on the interpreter and
//!   the JIT — a solved status has finite outputs, a gradient exists for
//!   every parameter with the parameter's shape and finite entries;
//! - [`readers`]: MPS/QPS and CBF bytes through the readers, the conversion
//!   to a cone program, a solve, and `ddnc solve`'s JSON.
//!
//! The same functions serve the AFL++ binaries (`src/bin/`, feature `afl`)
//! and the smoke test that CI runs (`tests/smoke.rs`).

pub mod seeds;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ddn::diag::Color;
use ddn::eval::Tensor;
use ddn::loaded::{Backend, LoadedNode};

/// Budgets far below the defaults, so that an input that passes them costs
/// milliseconds, not a second: a fuzzer is a user who asks for the largest
/// problem the bytes can describe. (With 250 000 dense entries, `fuzz_run`'s
/// queue grew smooth nodes of 150 unknowns whose solves took 0.1 s, and its
/// rate fell from thousands of executions a second to tens; 4 096 is a
/// 64 × 64 KKT matrix, larger than every seed's.) Set before anything reads
/// them ([`ddn::limits::Limits::current`] reads the environment once per
/// process).
pub fn init() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        for (var, value) in
            [("DDN_MAX_EXPR_NODES", "20000"), ("DDN_MAX_ELEMENTS", "10000"), ("DDN_MAX_DENSE_ENTRIES", "4096")]
        {
            // Edition 2021: `set_var` is safe to call; it runs before any
            // thread of ours reads the environment (OnceLock, first call).
            std::env::set_var(var, value);
        }
    });
}

/// `.ddn` text through `ddnc check` and `ddnc explain`.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let compiled = ddn::compile("fuzz.ddn", text);
    let diagnostics = compiled.diagnostics_text(Color::Never);
    assert!(
        !compiled.has_errors() || !diagnostics.trim().is_empty(),
        "a compilation with errors rendered no diagnostic"
    );
    ddn::report::check_text(&compiled);
    ddn::report::check_json(&compiled);
    if compiled.has_errors() {
        return;
    }
    for node in (0..compiled.program.nodes.len()).filter_map(|i| compiled.analysed(i)) {
        ddn::report::explain_text(&node, None);
    }
}

/// The standard library, as the targets see it (file name, source).
const STDLIB: [(&str, &str); 8] = [
    ("eigen.ddn", include_str!("../../stdlib/eigen.ddn")),
    ("least_squares.ddn", include_str!("../../stdlib/least_squares.ddn")),
    ("more.ddn", include_str!("../../stdlib/more.ddn")),
    ("neural_collapse.ddn", include_str!("../../stdlib/neural_collapse.ddn")),
    ("optimal_transport.ddn", include_str!("../../stdlib/optimal_transport.ddn")),
    ("optnet_qp.ddn", include_str!("../../stdlib/optnet_qp.ddn")),
    ("robust_pooling.ddn", include_str!("../../stdlib/robust_pooling.ddn")),
    ("simplex_projection.ddn", include_str!("../../stdlib/simplex_projection.ddn")),
];

/// One stdlib node on the two back ends a user runs.
pub struct Target {
    pub name: String,
    pub interpreted: LoadedNode<'static>,
    pub jit: LoadedNode<'static>,
}

/// Every stdlib node, in file order then declaration order (an input's first
/// byte picks one, modulo their number). Loaded once per process: compiling
/// derives the smooth nodes' derivatives, which is the fuzzer's time to spend
/// on inputs instead.
pub fn targets() -> &'static [Target] {
    static TARGETS: OnceLock<Vec<Target>> = OnceLock::new();
    TARGETS.get_or_init(|| {
        let mut targets = Vec::new();
        for (file, source) in STDLIB {
            let compiled: &'static ddn::Compiled = Box::leak(Box::new(ddn::compile(file, source)));
            assert!(!compiled.has_errors(), "stdlib file {file} does not compile");
            for node in (0..compiled.program.nodes.len()).filter_map(|i| compiled.analysed(i)) {
                let load = |backend| {
                    LoadedNode::new(&node, backend)
                        .unwrap_or_else(|e| panic!("stdlib node {} does not load: {e}", node.name))
                };
                targets.push(Target {
                    name: node.name.clone(),
                    interpreted: load(Backend::Interpreter),
                    jit: load(Backend::Jit),
                });
            }
        }
        targets
    })
}

/// `ddnc run` with inputs and cotangents: byte 0 picks the node, byte 1's low
/// bit the back end (JIT when set), the rest is one JSON object
/// `{"inputs": {…}, "cotangents": {…}}` (the two files of `ddnc run`).
pub fn run(data: &[u8]) {
    let [pick, backend, json @ ..] = data else { return };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else { return };
    let all = targets();
    let target = &all[usize::from(*pick) % all.len()];
    let node = if backend & 1 == 1 { &target.jit } else { &target.interpreted };
    let Some(Ok(inputs)) = value.get("inputs").map(ddn::runtime::named_tensors) else { return };
    let Ok(mut forward) = node.forward(&inputs) else { return };
    let solved = &forward.solved;
    if !solved.status.is_solved() {
        return;
    }
    if let Some(what) = ddn::runtime::node::non_finite("output", &solved.outputs) {
        panic!("{}: status {} with {what}", target.name, solved.status.name());
    }
    let Some(Ok(cotangents)) = value.get("cotangents").map(ddn::runtime::named_tensors) else { return };
    let Ok(gradients) = node.backward(&mut forward, &cotangents) else { return };
    check_gradients(&target.name, node, &inputs, &gradients);
}

/// A backward pass that returns gradients returns one per parameter, shaped
/// like the parameter's value, every entry finite.
fn check_gradients(
    name: &str,
    node: &LoadedNode<'_>,
    inputs: &BTreeMap<String, Tensor>,
    gradients: &BTreeMap<String, Tensor>,
) {
    for p in &node.node().params {
        let Some(g) = gradients.get(&p.name) else { panic!("{name}: no gradient for `{}`", p.name) };
        // A scalar parameter may be given as a one-entry array: compare entries.
        let value = &inputs[&p.name];
        assert_eq!(g.data.len(), value.data.len(), "{name}: gradient of `{}` has the wrong size", p.name);
        if let Some(i) = g.data.iter().position(|x| !x.is_finite()) {
            panic!("{name}: gradient of `{}` has a non-finite entry at {i}", p.name);
        }
    }
}

/// `ddnc solve` on MPS/QPS (byte 0 even) or CBF (odd) bytes.
pub fn readers(data: &[u8]) {
    let [kind, bytes @ ..] = data else { return };
    // Enough iterations to reach every stopping rule on the small problems
    // bytes describe.
    let settings = ddn::solve::Settings { max_iter: 60, ..Default::default() };
    if kind & 1 == 0 {
        let Ok(model) = ddn::io::mps::parse(bytes) else { return };
        let (program, origins) = ddn::io::mps::convert(&model);
        let loaded = ddn::io::Loaded { model, program, origins };
        if let Ok(solution) = ddn::solve::solve(&loaded.program, &settings) {
            ddn::report::solution::mps_json(&loaded, &solution);
        }
    } else {
        let Ok(model) = ddn::io::cbf::parse(bytes) else { return };
        let (program, origins) = ddn::io::cbf::convert(&model);
        let loaded = ddn::io::Loaded { model, program, origins };
        if let Ok(solution) = ddn::solve::solve(&loaded.program, &settings) {
            ddn::report::solution::cbf_json(&loaded, &solution);
        }
    }
}
