//! The prepared node (`runtime::Prepared`): the recorded refill program against
//! the reductions it was recorded from, its adjoint against the tracked
//! sensitivity path, and a failing guard's fallback.

use std::collections::BTreeMap;
use std::sync::Arc;

use ddn::canon::{canonicalize_with, data_vjp, least_squares_form, record, RecordedForm, Scratch};
use ddn::eval::{Env, Tensor};
use ddn::ir::{Dim, Node};
use ddn::kernel::KernelId;
use ddn::runtime::{bind, forward, interpreted, Bound, Options, Prepared, Status};
use ddn::solve::ConeProgram;
use ddn::syntax::ast::BaseType;
use serde_json::json;

use super::{compile_path, ddn_files, root, seeded, Rng};

/// Issue 18's node: `quad_form` of a parameter matrix in a constraint, reduced
/// through the matrix square root of `P`.
pub(super) const ELLIPSOID: &str = "node ellipsoid(c: real[n], P: psd[n, n], x0: real[n]) -> x: real[n] {
    minimize c @ x
    subject to { quad_form(x - x0, P) <= 1 }
}";

/// Every conic node of the stdlib and of the contract's examples, and issue 18's
/// ellipsoid, with seeded inputs (the stdlib's own, or drawn from the declared
/// types; the contract's `qp_layer` and `least_squares` are the stdlib's
/// `optnet_qp` and `least_squares`, and take their inputs: a feasible, strictly
/// complementary QP, and a full-column-rank `A`, so each solution is unique).
pub(super) fn conic_nodes() -> Vec<(String, ddn::Compiled, usize, BTreeMap<String, Tensor>)> {
    let mut out = Vec::new();
    for path in ddn_files(&root().join("stdlib")) {
        let c = compile_path(&path);
        for (i, n) in c.program.nodes.iter().enumerate() {
            if n.class.family.is_conic() {
                out.push((n.name.clone(), compile_path(&path), i, seeded::inputs(&n.name)));
            }
        }
    }
    for (b, text) in super::contract::blocks().iter().enumerate() {
        if !text.contains("node ") {
            continue;
        }
        let compile = || ddn::compile(&format!("language.md block {b}"), text);
        let c = compile();
        for (i, n) in c.program.nodes.iter().enumerate() {
            if n.class.family.is_conic() {
                let mut rng = Rng(0xb10c ^ (b as u64) << 8 ^ i as u64);
                let inputs = match n.name.as_str() {
                    "qp_layer" => seeded::inputs("optnet_qp"),
                    "least_squares" => seeded::inputs("least_squares"),
                    _ => drawn(n, &mut rng),
                };
                out.push((format!("contract block {b}: {}", n.name), compile(), i, inputs));
            }
        }
    }
    let c = ddn::compile("ellipsoid.ddn", ELLIPSOID);
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    let inputs = drawn(&c.analysed(0).expect("node"), &mut Rng(18));
    out.push(("ellipsoid".into(), c, 0, inputs));
    out
}

/// Inputs drawn from a node's declared parameter types: each named dimension
/// 3 or 4, entries in (−1, 1); `nonneg`/`pos` positive, `sym` symmetric, `psd`
/// `LLᵀ + I`.
fn drawn(node: &Node, rng: &mut Rng) -> BTreeMap<String, Tensor> {
    let mut out = BTreeMap::new();
    for p in &node.params {
        let shape: Vec<usize> = p
            .shape
            .0
            .iter()
            .map(|d| match d {
                Dim::Fixed(v) => *v as usize,
                Dim::Named(id) => 3 + (id.0 as usize % 2),
            })
            .collect();
        let len: usize = shape.iter().product();
        let mut data = rng.vec(len);
        match p.base {
            BaseType::Nonneg | BaseType::Pos => data.iter_mut().for_each(|v| *v = v.abs() + 0.1),
            BaseType::Sym | BaseType::Psd => {
                let n = shape[0];
                let l = data.clone();
                for i in 0..n {
                    for j in 0..n {
                        data[i * n + j] = if p.base == BaseType::Psd {
                            (0..n).map(|t| l[i * n + t] * l[j * n + t]).sum::<f64>() + if i == j { 1.0 } else { 0.0 }
                        } else {
                            l[i * n + j] + l[j * n + i]
                        };
                    }
                }
            }
            BaseType::Real => {}
        }
        out.insert(p.name.clone(), Tensor { shape, data });
    }
    out
}

/// The same inputs with every parameter scaled by its own factor in [0.9, 1.1]:
/// new values on the same side of every sign decision (and of symmetry and
/// definiteness).
fn rescaled(inputs: &BTreeMap<String, Tensor>, rng: &mut Rng) -> BTreeMap<String, Tensor> {
    inputs.iter().map(|(k, t)| (k.clone(), t.scaled(1.0 + 0.1 * rng.next()))).collect()
}

fn data(node: &ddn::analysis::Analysed<'_>, bound: &Bound) -> Vec<Tensor> {
    let env = Env { params: &bound.params, vars: &[], dims: &bound.dims, syms: &[] };
    interpreted(node).expect("kernels").run(KernelId::Data, &env).expect("data kernel")
}

/// `program` without the entries of P and A that are exactly zero: the
/// recording keeps a parameter-dependent coefficient that is zero at these
/// values (its sensitivity is not), the `f64` reductions drop it.
fn without_zeros(program: &ConeProgram) -> ConeProgram {
    let mut p = program.clone();
    p.p.entries.retain(|e| e.2 != 0.0);
    p.a.entries.retain(|e| e.2 != 0.0);
    p
}

#[test]
fn the_refill_equals_the_reductions_and_its_adjoint_the_tracked_path() {
    let nodes = conic_nodes();
    assert!(nodes.len() >= 10, "{} conic nodes", nodes.len());
    let mut checked = Vec::new();
    for (name, compiled, i, inputs) in &nodes {
        let node = &compiled.analysed(*i).expect("node");
        let bound = bind(node, inputs).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let recorded =
            record(node, &bound, &data(node, &bound)).unwrap_or_else(|e| panic!("{name}: not recorded: {e}"));
        let mut rng = Rng(0x7e57 ^ name.len() as u64);
        let second = bind(node, &rescaled(inputs, &mut rng)).expect("bind");
        let d2 = data(node, &second);
        let mut scratch = Scratch::default();
        recorded.replay(&second, &d2, &mut scratch).unwrap_or_else(|m| panic!("{name}: replay missed: {m:?}"));

        // The refill equals the reductions at the new values, entry for entry, in order.
        let (n, m) = match &recorded.form {
            RecordedForm::Cone { program, .. } => {
                let mut refilled = program.clone();
                recorded.fill(&scratch.values, &mut refilled);
                let reference = canonicalize_with(node, &second, &d2).expect("canonicalize").program;
                assert_eq!(without_zeros(&refilled), without_zeros(&reference), "{name}");
                (reference.n(), reference.m())
            }
            RecordedForm::LeastSquares { rows, cols, m, d, .. } => {
                let reference = least_squares_form(node, &second, &d2).expect("least squares").expect("form");
                let mut refilled = ddn::faer::Mat::<f64>::zeros(*rows, *cols);
                for &(i, j, v) in m {
                    refilled[(i, j)] += ddn::canon::value_of(v, &scratch.values);
                }
                let dd: Vec<f64> = d.iter().map(|v| ddn::canon::value_of(*v, &scratch.values)).collect();
                assert!(refilled == reference.m && dd == reference.d, "{name}: M, d differ");
                (*cols, 0)
            }
        };

        // The adjoint equals ψ's gradient by the reductions over tracked numbers,
        // at any point, except through `quad_form`'s root: there the recording
        // differentiates S = Q^½ and the reductions the constraint xᵀQx ≤ t, two
        // functions of (x, z, w) that agree only at a solution with its adjoint
        // (tests/suite/backward.rs and quad_form.rs compare them there).
        if !recorded.refill.roots.is_empty() {
            checked.push(name.clone());
            continue;
        }
        let (x, z, wx, wz) = (rng.vec(n), rng.vec(m), rng.vec(n), rng.vec(m));
        match recorded.form {
            RecordedForm::Cone { .. } => recorded.seed_cone(&x, &z, &wx, &wz, &mut scratch),
            RecordedForm::LeastSquares { .. } => recorded.seed_least_squares(&x, &wx, &mut scratch),
        }
        let mut grads: Vec<Tensor> = second.params.iter().map(|p| Tensor::filled(p.shape.clone(), 0.0)).collect();
        recorded.to_params(node, &second, &mut scratch, &mut Vec::new(), &mut grads).expect("adjoint");
        let tracked = data_vjp(node, &second, &x, &z, &wx, &wz).expect("tracked");
        for (g, t) in grads.iter().zip(&tracked) {
            let scale = 1.0 + t.data.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            for (a, b) in g.data.iter().zip(&t.data) {
                assert!((a - b).abs() <= 1e-12 * scale, "{name}: adjoint {a} vs tracked {b}");
            }
        }
        checked.push(name.clone());
    }
    for expected in [
        "least_squares",
        "optnet_qp",
        "lasso",
        "ls_norm_ball",
        "lp_layer",
        "pool_huber",
        "project_simplex",
        "ellipsoid",
    ] {
        assert!(checked.iter().any(|c| c == expected), "{expected} not checked: {checked:?}");
    }
}

/// `minimize sum_squares(x − y) + c·sum(x)`: the objective's weight `c` decides
/// a bound direction from its sign, so the recording guards it. Prepared at
/// c = 0.5 and called at c = −0.5, the guard fails; the call records again and
/// still gives x = y − c/2 and its gradient.
#[test]
fn a_failing_guard_falls_back_to_the_right_answer() {
    let c =
        ddn::compile("g.ddn", "node g(y: real[n], c: real) -> x: real[n] { minimize sum_squares(x - y) + c * sum(x) }");
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    let node = &c.analysed(0).expect("node");
    let at = |c: f64| {
        let inputs = ddn::runtime::named_tensors(&json!({"y": [0.3, -1.2, 0.8], "c": c})).expect("inputs");
        bind(node, &inputs).expect("bind")
    };
    let prepared = Prepared::new(node, &at(0.5), interpreted(node).expect("kernels")).expect("prepare");
    let first = prepared.recorded().expect("recorded");
    assert!(!first.refill.guards.is_empty(), "the sign of c is a guarded decision");

    let bound = at(-0.5);
    let mut solved = prepared.forward(&bound).expect("forward");
    let again = prepared.recorded().expect("recorded again");
    assert!(!Arc::ptr_eq(&first, &again), "the failed guard records the other side");
    assert_eq!(solved.status, Status::Optimal);
    let x = &solved.outputs[0].1.data;
    let unprepared = forward(node, &bound, &Options::default().unprepared()).expect("unprepared");
    for ((xi, yi), ui) in x.iter().zip([0.3, -1.2, 0.8]).zip(&unprepared.outputs[0].1.data) {
        assert!((xi - (yi + 0.25)).abs() < 1e-12 && (xi - ui).abs() < 1e-12, "{xi} vs {yi} + 0.25 and {ui}");
    }

    // dL/d(y, c) for L = vᵀx against central differences through the prepared node.
    let v = [0.7, -0.4, 1.1];
    let cot = vec![("x".to_string(), Tensor::vector(v.to_vec()))];
    let grads = ddn::diff::backward(node, &bound, &mut solved, &cot).expect("backward");
    let loss = |c: f64, dy: &[f64]| {
        let inputs = ddn::runtime::named_tensors(&json!({
            "y": [0.3 + dy[0], -1.2 + dy[1], 0.8 + dy[2]], "c": c
        }))
        .expect("inputs");
        let x = prepared.forward(&bind(node, &inputs).expect("bind")).expect("forward").outputs[0].1.data.clone();
        x.iter().zip(v).map(|(a, b)| a * b).sum::<f64>()
    };
    let h = 1e-6;
    let dc = (loss(-0.5 + h, &[0.0; 3]) - loss(-0.5 - h, &[0.0; 3])) / (2.0 * h);
    assert!((grads[1].data[0] - dc).abs() < 1e-7, "dL/dc {} vs {dc}", grads[1].data[0]);
    for k in 0..3 {
        let mut e = [0.0; 3];
        e[k] = h;
        let plus = loss(-0.5, &e);
        e[k] = -h;
        let dy = (plus - loss(-0.5, &e)) / (2.0 * h);
        assert!((grads[0].data[k] - dy).abs() < 1e-7, "dL/dy[{k}] {} vs {dy}", grads[0].data[k]);
    }
}

/// A prepared node solves many parameter values at one size with the answers
/// of the unprepared path, forward and backward.
#[test]
fn prepared_least_squares_and_qp_match_the_unprepared_path() {
    for name in ["least_squares", "optnet_qp", "lasso"] {
        let file = match name {
            "least_squares" => "least_squares.ddn",
            "optnet_qp" => "optnet_qp.ddn",
            _ => "more.ddn",
        };
        let c = compile_path(&root().join("stdlib").join(file));
        let node = &c.node(name).expect("node");
        let inputs = seeded::inputs(name);
        let prepared = Prepared::new(node, &bind(node, &inputs).expect("bind"), interpreted(node).expect("kernels"))
            .expect("prepare");
        let mut rng = Rng(0x9e9 ^ name.len() as u64);
        for _ in 0..3 {
            let bound = bind(node, &rescaled(&inputs, &mut rng)).expect("bind");
            let mut a = prepared.forward(&bound).expect("prepared");
            let mut b = forward(node, &bound, &Options::default().unprepared()).expect("unprepared");
            assert_eq!((a.status, b.status), (Status::Optimal, Status::Optimal), "{name}");
            let cot = seeded::cotangents(name, &a);
            let ga = ddn::diff::backward(node, &bound, &mut a, &cot).expect("backward");
            let gb = ddn::diff::backward(node, &bound, &mut b, &cot).expect("backward");
            let close = |x: &[f64], y: &[f64]| x.iter().zip(y).all(|(p, q)| (p - q).abs() <= 1e-7 * (1.0 + q.abs()));
            for ((_, x), (_, y)) in a.outputs.iter().zip(&b.outputs) {
                assert!(close(&x.data, &y.data), "{name}: outputs {x:?} vs {y:?}");
            }
            for (x, y) in ga.iter().zip(&gb) {
                assert!(close(&x.data, &y.data), "{name}: gradients {x:?} vs {y:?}");
            }
        }
    }
}

/// `quad_form(x, P)` in a constraint is recorded with its square root as one
/// block step; a replay at a singular `P` (whose root has no bounded
/// derivative) misses, and the call falls back to canonicalising afresh: the
/// same solution and gradients.
#[test]
fn a_singular_quad_form_matrix_falls_back_cleanly() {
    let c = ddn::compile(
        "s.ddn",
        "node f(y: real[3], P: psd[3, 3]) -> x: real[3] { minimize sum_squares(x - y); subject to { quad_form(x, P) <= 1 } }",
    );
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    let node = &c.analysed(0).expect("node");
    let at = |p: [[f64; 3]; 3]| {
        let inputs = ddn::runtime::named_tensors(&json!({"y": [2.0, -1.5, 0.5], "P": p})).expect("inputs");
        bind(node, &inputs).expect("bind")
    };
    let definite = at([[2.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]]);
    let prepared = Prepared::new(node, &definite, interpreted(node).expect("kernels")).expect("prepare");
    let recorded = prepared.recorded().expect("a definite P is recorded");
    assert_eq!(recorded.refill.roots.len(), 1, "one square-root block");

    // P singular: the replay misses, recording again is refused, the node is canonicalised.
    let singular = at([[2.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 0.0]]);
    let mut scratch = Scratch::default();
    assert_eq!(recorded.replay(&singular, &[], &mut scratch), Err(ddn::canon::Miss::Root(0)));
    let mut solved = prepared.forward(&singular).expect("forward");
    let reference = forward(node, &singular, &Options::default().unprepared()).expect("unprepared");
    assert_eq!(solved.status, Status::Optimal);
    for (a, b) in solved.outputs[0].1.data.iter().zip(&reference.outputs[0].1.data) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
    // The backward differentiates the constraint in P (tests/suite/quad_form.rs
    // checks its numbers): no refusal, and the fallback's gradients are the
    // unprepared path's.
    let cot = vec![("x".to_string(), Tensor::vector(vec![1.0, 0.5, -0.3]))];
    let grads = ddn::diff::backward(node, &singular, &mut solved, &cot).expect("backward at a singular P");
    let mut reference = reference;
    let want = ddn::diff::backward(node, &singular, &mut reference, &cot).expect("backward");
    for (g, w) in grads.iter().zip(&want) {
        for (a, b) in g.data.iter().zip(&w.data) {
            assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}
