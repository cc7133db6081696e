//! The contract's statuses end to end (language.md, "`ddnc run` JSON"): a
//! smooth node's saddle left for a local minimum or reported `stationary`, a
//! singular backward KKT system reported in `info.warnings`, a stalled
//! interior point method reported `optimal_inaccurate`, and non-finite outputs
//! or gradients a `numerical_error` from every entry point.

use std::collections::BTreeMap;
use std::process::Command;

use ddn::eval::Tensor;
use ddn::loaded::{Backend, Module};
use ddn::runtime::{bind, forward_batch, named_tensors, Options, Status, Threads};
use serde_json::{json, Value};

fn module(src: &str) -> Module {
    Module::load("t.ddn", src, Backend::Interpreter).unwrap_or_else(|e| panic!("{e}"))
}

fn inputs(v: Value) -> BTreeMap<String, Tensor> {
    named_tensors(&v).expect("valid inputs")
}

fn stdlib(file: &str) -> String {
    std::fs::read_to_string(super::root().join("stdlib").join(file)).expect("stdlib file")
}

/// Welsch pooling, `F(y) = Σᵢ 1 − exp(−(xᵢ − y)²/(2α²))`, with its `init` (the
/// mean, 0) at the local maximum between two points ±1 further apart than α:
/// `F''(0) = 2(1 − 1/α²)e^{−1/(2α²)}/α² < 0`. The forward used to stop there
/// (∇F = 0) and call it optimal; it now steps off and reaches a local minimum
/// next to one of the points, checked here by F's own values: a smaller value
/// than at the start, zero slope and positive curvature by central differences,
/// and the value of the best point of a fine grid (the two minima are mirror
/// images).
#[test]
fn a_smooth_node_started_at_a_maximum_moves_to_a_local_minimum() {
    let m = module(&stdlib("robust_pooling.ddn"));
    let node = m.node("pool_welsch").expect("node");
    let alpha = 0.5;
    let fwd = node.forward(&inputs(json!({"x": [[-1.0], [1.0]], "alpha": alpha}))).expect("forward");
    let s = &fwd.solved;
    assert_eq!(s.status, Status::Optimal, "{:?}", s.info);
    let y = s.outputs[0].1.data[0];
    let f = |y: f64| [-1.0f64, 1.0].iter().map(|x| 1.0 - (-(x - y).powi(2) / (2.0 * alpha * alpha)).exp()).sum::<f64>();
    assert!(f(y) < f(0.0) - 0.1, "F({y}) = {} vs F(0) = {}", f(y), f(0.0));
    let h = 1e-4;
    let slope = (f(y + h) - f(y - h)) / (2.0 * h);
    let curvature = (f(y + h) - 2.0 * f(y) + f(y - h)) / (h * h);
    assert!(slope.abs() < 1e-6 && curvature > 1.0, "F'({y}) = {slope}, F'' = {curvature}");
    let grid_min = (0..=40_000).map(|k| f(-2.0 + 1e-4 * k as f64)).fold(f64::INFINITY, f64::min);
    assert!((f(y) - grid_min).abs() < 1e-8, "F({y}) = {} vs the grid's {grid_min}", f(y));
}

/// `a·exp(−‖y‖²)` with `a = 1` has a maximum at 0 (its `init`) and no local
/// minimum: the infimum 0 is approached only as `‖y‖ → ∞`. The forward steps
/// off, cannot reach a minimum, and reports the first-order point it found as
/// `stationary`, with outputs and gradients (the contract); `optimal` used to be
/// reported. (The first version of this test used `a·√(1 − ‖y‖²)`, whose infimum
/// is on the boundary of `√`'s domain: such a node is now refused as not smooth
/// there, issue 18.)
#[test]
fn a_node_whose_only_first_order_point_is_a_maximum_is_stationary() {
    let src = "node bump(a: real) -> y: real[2] {\n    minimize a * exp(-sum_squares(y))\n    init y = zeros(2)\n}\n";
    let m = module(src);
    let node = m.node("bump").expect("node");
    let mut fwd = node.forward(&inputs(json!({"a": 1.0}))).expect("forward");
    assert_eq!(fwd.solved.status, Status::Stationary, "{:?}", fwd.solved.info);
    assert_eq!(fwd.solved.outputs[0].1.data, vec![0.0, 0.0], "the maximum itself");
    // Its gradients exist: y = 0 for every a, so dL/da = 0.
    let grads = node.backward(&mut fwd, &inputs(json!({"y": [1.0, -2.0]}))).expect("gradients at a stationary point");
    assert_eq!(grads["a"].data, vec![0.0]);
    // The same node with a = −1 is an inverted bump: its minimum at 0 is optimal.
    let fwd = node.forward(&inputs(json!({"a": -1.0}))).expect("forward");
    assert_eq!(fwd.solved.status, Status::Optimal, "{:?}", fwd.solved.info);
}

/// The sphere projection with its equality written twice: the backward KKT
/// matrix is singular along the duplicated multiplier (one degenerate
/// direction), which `info.warnings` now says; the gradient is still the
/// derivative (`y = x/‖x‖`, so `dL/dx = (I − yyᵀ)v/‖x‖`).
#[test]
fn a_singular_backward_kkt_system_is_a_warning_with_its_degenerate_count() {
    let src = "node sphere2(x: real[n]) -> y: real[n] {\n    minimize sum_squares(y - x)\n    subject to {\n        sum_squares(y) == 1\n        sum_squares(y) == 1\n    }\n    init y = x\n}\n";
    let m = module(src);
    let node = m.node("sphere2").expect("node");
    let x = [0.3, -1.2, 0.5];
    let mut fwd = node.forward(&inputs(json!({ "x": x }))).expect("forward");
    assert_eq!(fwd.solved.status, Status::Optimal, "{:?}", fwd.solved.info);
    assert!(fwd.solved.info.warnings.is_empty(), "{:?}", fwd.solved.info);
    let v = [1.0, 0.4, -0.3];
    let grads = node.backward(&mut fwd, &inputs(json!({ "y": v }))).expect("backward");
    let warnings = &fwd.solved.info.warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert!(w.contains("singular backward KKT system (1 degenerate direction"), "{w}");
    let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
    let y: Vec<f64> = x.iter().map(|v| v / norm).collect();
    let yv: f64 = y.iter().zip(&v).map(|(a, b)| a * b).sum();
    for k in 0..3 {
        let want = (v[k] - y[k] * yv) / norm;
        assert!((grads["x"].data[k] - want).abs() < 1e-6, "dL/dx[{k}] = {} vs {want}", grads["x"].data[k]);
    }
}

/// A QP asked for an accuracy double precision cannot give (`tol = 1e-20`):
/// the interior point method stalls at a point that meets its reduced
/// tolerances only, and polishing cannot reach the full ones either. That is
/// `optimal_inaccurate` (it used to be `optimal`, with an undocumented
/// `info.reduced_accuracy`): `info.unmet` names the criterion missed and by how
/// much, `info.warnings` says the gradients are those of an inexact point, and
/// both outputs and gradients are given (`ddnc run`, exit 0).
#[test]
fn a_stalled_interior_point_solve_is_optimal_inaccurate() {
    let file = "node box(c: real[n]) -> x: real[n] {\n    minimize sum_squares(x - c) + sum(x)\n    subject to { x >= 0; x <= 1 }\n    solve using ipm(tol = 1e-20)\n}\n";
    let c = [0.3, -0.7, 1.6, 0.55, 2.0, -0.1];
    let m = module(file);
    let node = m.node("box").expect("node");
    let fwd = node.forward(&inputs(json!({ "c": c }))).expect("forward");
    // Read as `ddnc run` writes it.
    let info = &serde_json::to_value(&fwd.solved.info).expect("info as JSON");
    assert_eq!(fwd.solved.status, Status::OptimalInaccurate, "{info:?}");
    let unmet = &info["unmet"];
    let criterion = unmet["criterion"].as_str().expect("a criterion");
    let (value, tol) = (unmet["value"].as_f64().expect("value"), unmet["tolerance"].as_f64().expect("tol"));
    assert!(value > tol && tol == 1e-20, "{unmet}");
    if criterion != "gap" {
        assert_eq!(info[criterion].as_f64(), Some(value), "{info:?}");
    }
    assert!(info["warnings"][0].as_str().is_some_and(|w| w.contains("inexact point")), "{info:?}");
    // The point is the box QP's: x = clamp(c − ½, 0, 1), to the reduced tolerances.
    for (x, c) in fwd.solved.outputs[0].1.data.iter().zip(c) {
        assert!((x - (c - 0.5f64).clamp(0.0, 1.0)).abs() < 1e-4, "{x} vs c = {c}");
    }
    let dir = super::root().join("target").join("statuses-inaccurate");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::write(dir.join("box.ddn"), file).expect("write");
    std::fs::write(dir.join("in.json"), json!({ "c": c }).to_string()).expect("write");
    std::fs::write(dir.join("cot.json"), r#"{"x": [1, 1, 1, 1, 1, 1]}"#).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_ddnc"))
        .args(["run", "box.ddn", "box", "--inputs", "in.json", "--cotangents", "cot.json"])
        .current_dir(&dir)
        .output()
        .expect("ddnc runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["status"], "optimal_inaccurate", "{v}");
    assert_eq!(v["info"]["unmet"]["criterion"], criterion, "{v}");
    // dL/dc = ∂x/∂c = 1 on the free coordinates (0 < c − ½ < 1), 0 on the clamped ones.
    let grads = v["gradients"]["c"].as_array().expect("gradients");
    for (g, c) in grads.iter().zip(c) {
        let want = if (0.0..1.0).contains(&(c - 0.5)) { 1.0 } else { 0.0 };
        assert!((g.as_f64().expect("number") - want).abs() < 1e-3, "{g} vs {want} at c = {c}");
    }
}

/// `optimal` must mean the same point whatever the objective's scale: the
/// minimiser of `c (‖x − a‖ + ‖x‖²)` is `x = a/(2‖a‖)` (for ‖a‖ > ½) for every
/// `c > 0`, so an `optimal` answer must be that point, to 1e-9, at every `c`,
/// and the backward pass `∂L/∂a = (v − x̂x̂ᵀv)/(2‖a‖)`, `∂L/∂c = 0` (x̂ = a/‖a‖)
/// for a cotangent v, which central differences of re-solves confirm.
///
/// At `c = 1e-8` the interior point method used to say `optimal` 1.4e-3 away
/// (gap 1.5e-10, primal residual 7.1e-10, dual residual 2.2e-13): Clarabel's
/// tests, an absolute gap of 1e-8 and a dual residual over `max(1, ‖q‖∞ +
/// ‖x‖∞ + ‖z‖∞)`, pass once the objective is of order 1e-8. They are now taken
/// in the objective's unit ω (`solve::Summary`).
#[test]
fn optimal_is_the_optimum_whatever_the_objective_scale() {
    let m = module("node g(c: pos, a: real[n]) -> x: real[n] { minimize c * (norm(x - a) + sum_squares(x)) }");
    let node = m.node("g").expect("node");
    let a = [0.7, -1.3, 2.9, 0.05];
    let v = [0.4, 1.0, -0.2, 0.7];
    let norm = a.iter().map(|v| v * v).sum::<f64>().sqrt();
    let xhat: Vec<f64> = a.iter().map(|ai| ai / norm).collect();
    let xv: f64 = xhat.iter().zip(&v).map(|(p, q)| p * q).sum();
    let solve = |c: f64, a: &[f64]| {
        let fwd = node.forward(&inputs(json!({ "c": c, "a": a }))).expect("forward");
        assert_eq!(fwd.solved.status, Status::Optimal, "c = {c}: {:?}", fwd.solved.info);
        fwd
    };
    for c in [1e-8, 1e-6, 1e-2, 1.0, 1e2, 1e6] {
        let mut fwd = solve(c, &a);
        for (x, ai) in fwd.solved.outputs[0].1.data.iter().zip(a) {
            let want = ai / (2.0 * norm);
            assert!((x - want).abs() < 1e-9, "c = {c}: x = {x} vs {want}, {:?}", fwd.solved.info);
        }
        let grads = node.backward(&mut fwd, &inputs(json!({ "x": v }))).expect("backward");
        // dL/dc is the derivative per unit of c, so its error scales as 1/c: the
        // scale-free dL/d(log c) = c·dL/dc is what must vanish.
        assert!((c * grads["c"].data[0]).abs() < 1e-9, "c = {c}: dL/dc = {}", grads["c"].data[0]);
        for k in 0..4 {
            let want = (v[k] - xhat[k] * xv) / (2.0 * norm);
            let g = grads["a"].data[k];
            assert!((g - want).abs() < 1e-6, "c = {c}: dL/da[{k}] = {g} vs {want}");
            let h = 1e-5;
            let loss = |d: f64| {
                let mut ap = a;
                ap[k] += d;
                let out = &solve(c, &ap).solved.outputs[0].1.data;
                out.iter().zip(&v).map(|(p, q)| p * q).sum::<f64>()
            };
            let numeric = (loss(h) - loss(-h)) / (2.0 * h);
            assert!((g - numeric).abs() < 1e-6, "c = {c}: dL/da[{k}] = {g}, central difference {numeric}");
        }
    }
}

/// Weak activity is judged in the objective's unit ω too: the interior point
/// method's projection of `a` onto the orthant, `c·‖x − a‖²` with `x ≥ 0`, has
/// multipliers `zᵢ = −2c·aᵢ` on the rows where `aᵢ < 0` (of order `c`, as
/// everything dual), and a row is weakly active only where `aᵢ = 0`. At
/// `c = 1e-8` the absolute test used to name the constraint weakly active
/// from multipliers 1.4e-8 and 4e-8 (below its 1e-3 floor) although the
/// objective itself is 4.5e-8. And where the active-set polish ran (here at
/// `c ≥ 1e2`) the weakly active row came out with `s = 0` and `z = 0` exactly,
/// which the ratio test (`s` and `z` of one order) missed. The point's `x = max(a, 0)` checks the solve
/// (to 1e-8: the gap in ω's unit, 2e-9 at `c = 1e-8`, is below the tolerance
/// at which the active-set polish is skipped, and x is 1e-9 off there).
#[test]
fn weak_activity_is_judged_in_the_objective_unit() {
    let m = module(
        "node s(a: real[n], c: pos) -> x: real[n] {\n minimize c * sum_squares(x - a)\n subject to { x >= 0 }\n solve using ipm\n}",
    );
    let node = m.node("s").expect("node");
    for c in [1e-8, 1e-6, 1e-2, 1.0, 1e2, 1e6] {
        for (a, weak) in [([1.5f64, -0.7, 0.3, -2.0, 0.9], &[][..]), ([1.5, -0.7, 0.0, -2.0, 0.9], &["#0"][..])] {
            let fwd = node.forward(&inputs(json!({ "a": a, "c": c }))).expect("forward");
            let info = &fwd.solved.info;
            assert_eq!((fwd.solved.status, info.solver), (Status::Optimal, "ipm"), "c = {c}: {info:?}");
            // The weakly active entry converges as √μ, like any interior point
            // method's at a point without strict complementarity: not checked.
            for (x, ai) in fwd.solved.outputs[0].1.data.iter().zip(a).filter(|(_, ai)| *ai != 0.0) {
                assert!((x - ai.max(0.0)).abs() < 1e-8, "c = {c}, a = {a:?}: x = {x}, {info:?}");
            }
            assert_eq!(info.weakly_active, weak, "c = {c}, a = {a:?}: {info:?}");
        }
    }
}

/// `4a` overflows for `a = 1e308`: the outputs are infinite, which every entry
/// point now reports as `numerical_error` with a message (the library used to
/// say `optimal` and leave it to `ddnc run` to notice); an infinite gradient
/// makes the backward pass an error and the status `numerical_error` too.
#[test]
fn non_finite_outputs_and_gradients_are_a_numerical_error_everywhere() {
    let src = "node scale(a: real[n]) -> x: real[n] {\n    minimize sum_squares(x - 4 * a)\n}\n";
    let big = inputs(json!({"a": [1e308, 1.0]}));
    let m = module(src);
    let loaded = m.node("scale").expect("node");
    let expect_error = |status: Status, info: &ddn::runtime::Info, what: &str| {
        assert_eq!(status, Status::NumericalError, "{what}: {info:?}");
        let message = info.message.as_deref().unwrap_or_else(|| panic!("{what}: no message in {info:?}"));
        assert!(message.starts_with("output `x` has a non-finite entry ("), "{what}: {message}");
    };
    let fwd = loaded.forward(&big).expect("forward");
    expect_error(fwd.solved.status, &fwd.solved.info, "LoadedNode::forward");
    let node = &loaded.analysed();
    let bound = bind(node, &big).expect("bind");
    let solved = ddn::runtime::forward(node, &bound, &Options::default()).expect("forward");
    expect_error(solved.status, &solved.info, "runtime::forward");
    let solved = ddn::runtime::forward(node, &bound, &Options::default().unprepared()).expect("forward");
    expect_error(solved.status, &solved.info, "runtime::forward, unprepared");
    for (i, r) in forward_batch(node, &[bound.clone(), bound], Threads::Pool, &Options::default()).iter().enumerate() {
        let solved = r.as_ref().expect("forward");
        expect_error(solved.status, &solved.info, &format!("forward_batch[{i}]"));
    }
    // Gradients: dL/da = 4 dL/dx overflows.
    let mut fwd = loaded.forward(&inputs(json!({"a": [1.0, 1.0]}))).expect("forward");
    assert_eq!(fwd.solved.status, Status::Optimal);
    let err = loaded.backward(&mut fwd, &inputs(json!({"x": [1e308, 0.0]}))).expect_err("an infinite gradient");
    assert!(err.to_string().starts_with("numerical_error: gradient `a` has a non-finite entry ("), "{err}");
    assert_eq!(fwd.solved.status, Status::NumericalError);
}
