//! Forward mode (`ddn::diff::jvp`, `ddnc run --tangents`) on every conic and
//! smooth stdlib node, the contract's conic nodes and issue 18's ellipsoid, at
//! seeded inputs, parameter tangents θ̇ and output cotangents v: the output
//! tangents against central differences of re-solves along θ̇, and against the
//! backward pass through the adjoint identity `⟨JVP(θ̇), v⟩ = ⟨θ̇, VJP(v)⟩`.
//!
//! The identity holds to rounding wherever the two passes differentiate the
//! same linearisation. The one exception is `quad_form` of a parameter matrix in
//! a constraint solved through a recording: its backward pass takes the adjoint
//! of the recorded root S = Q^½, the forward mode (like the unprepared backward)
//! differentiates the constraint xᵀQx ≤ t, and the two agree at the solution only
//! to the solver's accuracy (1e-7, as in tests/suite/backward.rs).

use std::collections::BTreeMap;

use ddn::eval::Tensor;
use ddn::runtime::{bind, forward, interpreted, Options, Prepared, Solved};
use ddn::solve::Settings;
use ddn::syntax::ast::BaseType;
use serde_json::json;

use super::{compile_path, ddn_files, root, seeded, Rng};

/// The step of the central differences, and the agreement asked of them
/// (relative to 1 + |ȯ|); the adjoint identity holds to rounding.
const H: f64 = 1e-5;
const DIFFERENCES: f64 = 1e-5;
const ADJOINT: f64 = 1e-9;
const ROOT: f64 = 1e-7;

fn tight() -> Settings {
    let t = 1e-12;
    Settings { tol_gap_abs: t, tol_gap_rel: t, tol_feas: t, ..Settings::default() }
}

fn solve(node: &ddn::analysis::Analysed<'_>, inputs: &BTreeMap<String, Tensor>) -> Solved {
    let b = bind(node, inputs).unwrap_or_else(|e| panic!("{}: {e:?}", node.name));
    let s =
        forward(node, &b, &Options::default().with_settings(tight())).unwrap_or_else(|e| panic!("{}: {e}", node.name));
    super::backward::assert_accurate(&s);
    s
}

/// A seeded tangent per parameter: symmetric for `sym`/`psd`; for entropic OT
/// the marginals' tangents sum to zero (the marginals keep equal mass).
fn tangents(
    node: &ddn::analysis::Analysed<'_>,
    inputs: &BTreeMap<String, Tensor>,
    rng: &mut Rng,
) -> Vec<(String, Tensor)> {
    node.params
        .iter()
        .map(|p| {
            let shape = inputs[&p.name].shape.clone();
            let mut t = seeded::tensor(rng, shape);
            if matches!(p.base, BaseType::Sym | BaseType::Psd) {
                let n = t.shape[0];
                t.data = (0..n * n).map(|k| 0.5 * (t.data[k] + t.data[(k % n) * n + k / n])).collect();
            }
            if node.name == "entropic_ot" && (p.name == "r" || p.name == "c") {
                let mean = t.data.iter().sum::<f64>() / t.len() as f64;
                t.data.iter_mut().for_each(|v| *v -= mean);
            }
            (p.name.clone(), t)
        })
        .collect()
}

fn moved(inputs: &BTreeMap<String, Tensor>, dots: &[(String, Tensor)], h: f64) -> BTreeMap<String, Tensor> {
    let mut out = inputs.clone();
    for (k, t) in dots {
        let v = out.get_mut(k).expect("parameter");
        v.data.iter_mut().zip(&t.data).for_each(|(a, b)| *a += h * b);
    }
    out
}

fn inner(a: &[(String, Tensor)], b: &[(String, Tensor)]) -> f64 {
    a.iter()
        .map(|(k, t)| {
            let u = &b.iter().find(|(n, _)| n == k).expect("same names").1;
            t.data.iter().zip(&u.data).map(|(x, y)| x * y).sum::<f64>()
        })
        .sum()
}

/// The checks of the module doc on one node; the forward mode through the
/// prepared path and the unprepared one agree.
fn check(name: &str, node: &ddn::analysis::Analysed<'_>, inputs: &BTreeMap<String, Tensor>) {
    let mut rng = Rng(0x1f0 ^ name.len() as u64);
    let dots = tangents(node, inputs, &mut rng);
    let bound = bind(node, inputs).expect("bind");
    let mut solved = solve(node, inputs);
    let jvp = ddn::diff::jvp(node, &bound, &mut solved, &dots).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(jvp.len(), solved.outputs.len(), "{name}");

    // ⟨JVP(θ̇), v⟩ = ⟨θ̇, VJP(v)⟩.
    let cot = seeded::cotangents(name, &solved);
    let identity = |solved: &mut Solved, jvp: &[(String, Tensor)], tol: f64| {
        let grads = ddn::diff::backward(node, &bound, solved, &cot).expect("backward");
        let grads: Vec<(String, Tensor)> = node.params.iter().map(|p| p.name.clone()).zip(grads).collect();
        let (lhs, rhs) = (inner(jvp, &cot), inner(&dots, &grads));
        assert!((lhs - rhs).abs() <= tol * (1.0 + lhs.abs() + rhs.abs()), "{name}: ⟨JVP, v⟩ = {lhs}, ⟨θ̇, VJP⟩ = {rhs}");
    };
    let root = node.class.family.is_conic()
        && Prepared::new(node, &bound, interpreted(node).expect("kernels"))
            .expect("prepare")
            .recorded()
            .is_some_and(|r| !r.refill.roots.is_empty());
    identity(&mut solved, &jvp, if root { ROOT } else { ADJOINT });

    // Central differences of the outputs along θ̇.
    let (plus, minus) = (solve(node, &moved(inputs, &dots, H)), solve(node, &moved(inputs, &dots, -H)));
    for ((k, t), ((_, p), (_, m))) in jvp.iter().zip(plus.outputs.iter().zip(&minus.outputs)) {
        for i in 0..t.len() {
            let numeric = (p.data[i] - m.data[i]) / (2.0 * H);
            assert!(
                (numeric - t.data[i]).abs() <= DIFFERENCES * (1.0 + numeric.abs()),
                "{name}: output `{k}`[{i}]: forward mode {}, central difference {numeric}",
                t.data[i]
            );
        }
    }

    if node.class.family.is_conic() {
        let mut other = forward(node, &bound, &Options::default().unprepared()).expect("forward");
        let again = ddn::diff::jvp(node, &bound, &mut other, &dots).expect("jvp");
        identity(&mut other, &again, ADJOINT);
        for ((k, a), (_, b)) in jvp.iter().zip(&again) {
            for (x, y) in a.data.iter().zip(&b.data) {
                assert!((x - y).abs() <= 1e-7 * (1.0 + y.abs()), "{name}: `{k}` prepared {x} vs unprepared {y}");
            }
        }
    }
}

#[test]
fn forward_mode_on_every_conic_node() {
    let nodes = super::prepared::conic_nodes();
    assert!(nodes.iter().any(|(n, ..)| n == "project_ellipsoid"));
    for (name, compiled, i, inputs) in &nodes {
        check(name, &compiled.analysed(*i).expect("node"), inputs);
    }
}

#[test]
fn forward_mode_on_every_smooth_stdlib_node() {
    let mut count = 0;
    for path in ddn_files(&root().join("stdlib")) {
        let c = compile_path(&path);
        for node in (0..c.program.nodes.len()).filter_map(|i| c.analysed(i)).filter(|n| !n.class.family.is_conic()) {
            check(&node.name, &node, &seeded::inputs(&node.name));
            count += 1;
        }
    }
    assert!(count >= 10, "{count} smooth stdlib nodes");
}

/// Bad tangents are errors naming the problem; a missing one is zero.
#[test]
fn tangents_are_checked() {
    let c = compile_path(&root().join("stdlib/least_squares.ddn"));
    let node = &c.analysed(0).expect("node");
    let inputs = seeded::inputs("least_squares");
    let bound = bind(node, &inputs).expect("bind");
    let mut s = solve(node, &inputs);
    let err = |dots: Vec<(String, Tensor)>, s: &mut Solved| {
        ddn::diff::jvp(node, &bound, s, &dots).expect_err("bad").to_string()
    };
    assert!(err(vec![("Z".into(), Tensor::scalar(1.0))], &mut s).contains("unknown tangent `Z`"));
    assert!(err(vec![("b".into(), Tensor::vector(vec![1.0; 3]))], &mut s).contains("tangent `b`"));
    assert!(err(vec![("b".into(), Tensor::vector(vec![f64::NAN, 0.0, 0.0, 0.0]))], &mut s).contains("non-finite"));
    let none = ddn::diff::jvp(node, &bound, &mut s, &[]).expect("no tangents");
    assert!(none.iter().all(|(_, t)| t.data.iter().all(|&v| v == 0.0)));
}

/// `ddnc run --tangents` prints the output tangents: least squares with
/// `A = [1 0; 1 1; 1 2]`, `db = e₁` gives `dx = (AᵀA)⁻¹Aᵀe₁ = (5/6, −1/2)`.
#[test]
fn ddnc_run_prints_output_tangents() {
    let dir = std::env::temp_dir().join(format!("ddn-jvp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let inputs = dir.join("in.json");
    let dots = dir.join("dx.json");
    std::fs::write(&inputs, json!({"A": [[1, 0], [1, 1], [1, 2]], "b": [1, 2, 4]}).to_string()).expect("write");
    std::fs::write(&dots, json!({"b": [1, 0, 0]}).to_string()).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ddnc"))
        .args(["run", "stdlib/least_squares.ddn", "least_squares", "--inputs"])
        .arg(&inputs)
        .arg("--tangents")
        .arg(&dots)
        .current_dir(root())
        .output()
        .expect("ddnc");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let dx = v["output_tangents"]["x"].as_array().expect("x");
    assert!((dx[0].as_f64().expect("f64") - 5.0 / 6.0).abs() < 1e-12, "{v}");
    assert!((dx[1].as_f64().expect("f64") + 0.5).abs() < 1e-12, "{v}");
    std::fs::remove_dir_all(&dir).ok();
}
