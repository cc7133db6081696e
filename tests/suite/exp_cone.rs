//! The exponential cone, end to end: the interior point method on hand-built
//! programs (closed-form optima, infeasibility and unboundedness certificates,
//! Clarabel.rs as an independent reference on seeded random programs), the
//! reductions of the exp/log atoms against closed forms, and the backward pass
//! through the cone against central differences of re-solves.
//!
//! Tolerances are stated once, below.

use clarabel::solver::{DefaultSettings, SolverStatus};
use ddn::solve::{solve, ConeBlock, ConeProgram, KktMethod, Settings, Solution, Status, Triplets};

use super::clarabel_problem::ClarabelProblem;
use super::Rng;

/// Distance to a closed-form or reference optimal value (relative to 1 + |f|).
const REF_TOL: f64 = 1e-7;
/// Distance to an optimal point: an objective accurate to ε puts the point
/// within √ε of a strongly convex optimum, so this is √REF_TOL-sized.
const POINT_TOL: f64 = 1e-3;
/// Certificate conditions and cone membership.
const CERT_TOL: f64 = 1e-6;

// ---------------------------------------------------------------- helpers ---

/// A program with P = 0 from dense row-major `A`.
fn lp(q: &[f64], a: &[&[f64]], b: &[f64], cones: &[ConeBlock]) -> ConeProgram {
    let (n, m) = (q.len(), b.len());
    let mut at = Triplets::new(m, n);
    for (i, row) in a.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            if v != 0.0 {
                at.push(i, j, v);
            }
        }
    }
    ConeProgram { p: Triplets::new(n, n), q: q.to_vec(), a: at, b: b.to_vec(), cones: cones.to_vec(), c0: 0.0 }
}

fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// `(x, y, w)` in the closed exponential cone, to `tol` relative.
fn in_exp(v: &[f64], tol: f64) -> bool {
    let scale = 1.0 + v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if v[1] > tol * scale {
        v[1] * (v[0] / v[1]).exp() <= v[2] + tol * scale
    } else {
        v[0] <= tol * scale && v[1] >= -tol * scale && v[2] >= -tol * scale
    }
}

/// `(u, v, w)` in the closed dual cone.
fn in_exp_dual(z: &[f64], tol: f64) -> bool {
    let scale = 1.0 + z.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if z[0] < -tol * scale {
        -z[0] * (z[1] / z[0]).exp() <= std::f64::consts::E * z[2] + tol * scale
    } else {
        z[0].abs() <= tol * scale && z[1] >= -tol * scale && z[2] >= -tol * scale
    }
}

// ------------------------------------------------------ the IPM, by hand ---

/// `min eˣ − 2x`: `min t − 2x s.t. (x, 1, t) ∈ K_exp`, optimum `x = ln 2`,
/// value `2 − 2 ln 2`.
#[test]
fn exp_minus_linear_has_its_closed_form() {
    let p = lp(&[-2.0, 1.0], &[&[-1.0, 0.0], &[0.0, 0.0], &[0.0, -1.0]], &[0.0, 1.0, 0.0], &[ConeBlock::Exponential]);
    let sol = optimal(&p, &Settings::default());
    let ln2 = 2f64.ln();
    assert!((sol.x[0] - ln2).abs() < POINT_TOL, "x = {} vs ln 2", sol.x[0]);
    assert!((sol.info.primal_objective - (2.0 - 2.0 * ln2)).abs() < REF_TOL);
    // The dual certifies it: z = (−1, ·, 1)·(scale) with −z₀ e^{z₁/z₀} = e z₂ at the optimum.
    assert!((sol.info.dual_objective - (2.0 - 2.0 * ln2)).abs() < REF_TOL);
}

/// Solves, asserts `Optimal`, and checks the point against the cones.
fn optimal(p: &ConeProgram, settings: &Settings) -> Solution {
    let sol = solve(p, settings).unwrap();
    assert_eq!(sol.status, Status::Optimal, "{:?}", sol.info);
    let mut row = 0;
    for c in &p.cones {
        let d = c.dim();
        if *c == ConeBlock::Exponential {
            assert!(in_exp(&sol.s[row..row + 3], CERT_TOL), "s ∉ K_exp: {:?}", &sol.s[row..row + 3]);
            assert!(in_exp_dual(&sol.z[row..row + 3], CERT_TOL), "z ∉ K*_exp: {:?}", &sol.z[row..row + 3]);
        }
        row += d;
    }
    eprintln!("iterations {} gap {:.1e}", sol.info.iterations, sol.info.gap);
    sol
}

/// `max Σ −xᵢ log xᵢ s.t. Σ xᵢ = 1`: the uniform distribution, value `log n`.
/// Variables `(x, t)`, `min −Σ tᵢ`, `(tᵢ, xᵢ, 1) ∈ K_exp`.
#[test]
fn entropy_on_the_simplex_is_uniform() {
    for n in [1usize, 2, 5, 20] {
        let mut a = Triplets::new(1 + 3 * n, 2 * n);
        let mut b = vec![0.0; 1 + 3 * n];
        (0..n).for_each(|i| a.push(0, i, 1.0));
        b[0] = 1.0;
        for i in 0..n {
            a.push(1 + 3 * i, n + i, -1.0);
            a.push(2 + 3 * i, i, -1.0);
            b[3 + 3 * i] = 1.0;
        }
        let mut cones = vec![ConeBlock::Zero(1)];
        cones.extend(std::iter::repeat_n(ConeBlock::Exponential, n));
        let q: Vec<f64> = (0..2 * n).map(|j| if j < n { 0.0 } else { -1.0 }).collect();
        let p = ConeProgram { p: Triplets::new(2 * n, 2 * n), q, a, b, cones, c0: 0.0 };
        let sol = optimal(&p, &Settings::default());
        let want = -(n as f64).ln();
        assert!((sol.info.primal_objective - want).abs() < REF_TOL * (1.0 + want.abs()), "n = {n}");
        for &x in &sol.x[..n] {
            assert!((x - 1.0 / n as f64).abs() < POINT_TOL, "n = {n}: x = {x}");
        }
    }
}

/// `min_u log Σ e^{uᵢ} − cᵀu` over `u` with `u_n = 0`, `c` in the simplex:
/// minus the conjugate of log-sum-exp, `−Σ cᵢ log cᵢ`, at `u = log c − log c_n`.
/// Variables `(u, t, w)`: `Σ wᵢ ≤ 1`, `(uᵢ − t, 1, wᵢ) ∈ K_exp`.
#[test]
fn log_sum_exp_meets_its_conjugate() {
    let c = [0.1, 0.2, 0.3, 0.4];
    let n = c.len();
    let (nv, m) = (2 * n + 1, 2 + 3 * n);
    let mut a = Triplets::new(m, nv);
    let mut b = vec![0.0; m];
    a.push(0, n - 1, 1.0); // u_n = 0
    (0..n).for_each(|i| a.push(1, n + 1 + i, 1.0)); // 1 − Σw ≥ 0
    b[1] = 1.0;
    for i in 0..n {
        let r = 2 + 3 * i;
        a.push(r, i, -1.0);
        a.push(r, n, 1.0);
        b[r + 1] = 1.0;
        a.push(r + 2, n + 1 + i, -1.0);
    }
    let mut q = vec![0.0; nv];
    for i in 0..n {
        q[i] = -c[i];
    }
    q[n] = 1.0;
    let mut cones = vec![ConeBlock::Zero(1), ConeBlock::Nonneg(1)];
    cones.extend(std::iter::repeat_n(ConeBlock::Exponential, n));
    let p = ConeProgram { p: Triplets::new(nv, nv), q, a, b, cones, c0: 0.0 };
    let sol = optimal(&p, &Settings::default());
    let want: f64 = -c.iter().map(|ci| ci * ci.ln()).sum::<f64>();
    let got = sol.info.primal_objective;
    assert!((got - want).abs() < REF_TOL * (1.0 + want.abs()), "{got} vs {want}: {:?}", sol.x);
    for i in 0..n {
        assert!((sol.x[i] - (c[i] / c[n - 1]).ln()).abs() < POINT_TOL, "u{i} = {}", sol.x[i]);
    }
}

/// `(x, y, w) ∈ K_exp` with `w ≤ −1`: infeasible, and the certificate
/// `z ∈ K*`, `Aᵀz = 0`, `bᵀz = −1` holds.
#[test]
fn infeasible_exp_program_has_a_certificate() {
    let p = lp(
        &[0.0, 0.0, 0.0],
        &[&[0.0, 0.0, 1.0], &[-1.0, 0.0, 0.0], &[0.0, -1.0, 0.0], &[0.0, 0.0, -1.0]],
        &[-1.0, 0.0, 0.0, 0.0],
        &[ConeBlock::Nonneg(1), ConeBlock::Exponential],
    );
    let sol = solve(&p, &Settings::default()).unwrap();
    assert_eq!(sol.status, Status::PrimalInfeasible, "{:?}", sol.info);
    let z = &sol.z;
    assert!((dot(&p.b, z) + 1.0).abs() < CERT_TOL);
    let mut atz = vec![0.0; 3];
    for &(i, j, v) in &p.a.entries {
        atz[j] += v * z[i];
    }
    assert!(atz.iter().all(|v| v.abs() < CERT_TOL), "Aᵀz = {atz:?}");
    assert!(z[0] >= -CERT_TOL && in_exp_dual(&z[1..], CERT_TOL));
}

/// `min x s.t. x ≤ log t, t ≤ 1` (`(x, 1, t) ∈ K_exp`): unbounded below, and the
/// certificate `qᵀx < 0`, `Ax + s = 0`, `s ∈ K` holds.
#[test]
fn unbounded_exp_program_has_a_certificate() {
    let p = lp(
        &[1.0, 0.0],
        &[&[0.0, 1.0], &[-1.0, 0.0], &[0.0, 0.0], &[0.0, -1.0]],
        &[1.0, 0.0, 1.0, 0.0],
        &[ConeBlock::Nonneg(1), ConeBlock::Exponential],
    );
    let sol = solve(&p, &Settings::default()).unwrap();
    assert_eq!(sol.status, Status::DualInfeasible, "{:?}", sol.info);
    assert!((dot(&p.q, &sol.x) + 1.0).abs() < CERT_TOL);
    let mut r: Vec<f64> = sol.s.clone();
    for &(i, j, v) in &p.a.entries {
        r[i] += v * sol.x[j];
    }
    assert!(r.iter().all(|v| v.abs() < CERT_TOL), "Ax + s = {r:?}");
    assert!(sol.s[0] >= -CERT_TOL && in_exp(&sol.s[1..], CERT_TOL));
}

// ------------------------------------------- Clarabel as the reference ---

/// Clarabel's optimal value of `p` (default settings).
fn clarabel_value(p: &ConeProgram) -> f64 {
    let settings = DefaultSettings { verbose: false, ..DefaultSettings::default() };
    let s = ClarabelProblem::new(p).solve(&settings);
    assert_eq!(s.solution.status, SolverStatus::Solved);
    s.solution.obj_val
}

/// A seeded random program with exponential, second-order and orthant cones
/// and an optimum: `min qᵀx + ½‖x‖²·[qp]` s.t. `(aᵢᵀx + αᵢ, 1, cᵢᵀx + γᵢ) ∈ K_exp`
/// (feasible at x = 0: `γᵢ > e^{αᵢ}`), `‖x‖ ≤ 3`, `x ≥ −2`.
fn random_program(rng: &mut Rng, n: usize, k: usize, qp: bool) -> ConeProgram {
    let m = 3 * k + (n + 1) + n;
    let mut a = Triplets::new(m, n);
    let mut b = vec![0.0; m];
    let mut cones = Vec::new();
    let mut row = 0;
    // x ≥ −2: −x + s = 2.
    for j in 0..n {
        a.push(row + j, j, -1.0);
        b[row + j] = 2.0;
    }
    cones.push(ConeBlock::Nonneg(n));
    row += n;
    // (3, x) ∈ SOC.
    b[row] = 3.0;
    for j in 0..n {
        a.push(row + 1 + j, j, -1.0);
    }
    cones.push(ConeBlock::SecondOrder(n + 1));
    row += n + 1;
    for _ in 0..k {
        let alpha = 0.5 * rng.next();
        b[row] = alpha;
        b[row + 1] = 1.0;
        b[row + 2] = alpha.exp() + 0.5 + rng.next().abs();
        for j in 0..n {
            a.push(row, j, -rng.next());
            a.push(row + 2, j, -0.5 * rng.next());
        }
        cones.push(ConeBlock::Exponential);
        row += 3;
    }
    let mut p = Triplets::new(n, n);
    if qp {
        (0..n).for_each(|j| p.push(j, j, 1.0));
    }
    ConeProgram { p, q: rng.vec(n), a, b, cones, c0: 0.0 }
}

/// ddn's optimal value equals Clarabel's on seeded random programs, on every
/// KKT path.
#[test]
fn random_exp_programs_match_clarabel() {
    let mut rng = Rng(0x5eed_e4bc);
    for case in 0..12 {
        let (n, k) = (2 + case % 5, 1 + 3 * case);
        let p = random_program(&mut rng, n, k, case % 2 == 1);
        let want = clarabel_value(&p);
        for kkt_method in [KktMethod::Auto, KktMethod::Dense, KktMethod::Condensed, KktMethod::Sparse] {
            let sol = optimal(&p, &Settings { kkt_method, ..Settings::default() });
            let got = sol.info.primal_objective;
            assert!(
                (got - want).abs() < 1e-6 * (1.0 + want.abs()),
                "case {case} {kkt_method:?}: {got} vs Clarabel {want}"
            );
        }
    }
}

// ------------------------------------------- nodes: families and reductions ---

use ddn::eval::Tensor;
use ddn::ir::Family;
use ddn::runtime::{bind, forward, named_tensors, Options};
use serde_json::{json, Value};

use super::backward::{loss, node_src};

/// Central differences' step and tolerance for nodes through exponential cones.
/// Their forwards are not polished: at the tight tolerance most stop at a gap
/// near 1e-12 with the point accurate to ~1e-9, but some stall at
/// `optimal_inaccurate` (gap ~4e-11) with the point off by ~1e-6 (measured:
/// `xlogx` at c₀ = 0.499). The five-point stencil with h = 1e-2 keeps that
/// noise, `1.5·1e-6/h`, near 1e-4·|v| and its truncation error `h⁴/30·L⁽⁵⁾`
/// negligible; the closed-form checks beside it hold to 1e-6.
const FD_STEP: f64 = 1e-2;
const FD_TOL: f64 = 2e-4;

/// The backward pass at the forward's point, solved at the tight tolerance.
fn gradients(node: &ddn::analysis::Analysed<'_>, inputs: &Value, cot: &[(String, Tensor)]) -> Vec<Tensor> {
    let b = bind(node, &named_tensors(inputs).expect("inputs")).expect("bind");
    let tight = Settings { tol_gap_abs: 1e-12, tol_gap_rel: 1e-12, tol_feas: 1e-12, ..Settings::default() };
    let mut s = forward(node, &b, &Options::default().with_settings(tight.clone())).expect("forward");
    ddn::diff::backward(node, &b, &mut s, cot).expect("backward")
}

/// The backward pass against differences of re-solves (the five-point stencil
/// `(−L(2h) + 8L(h) − 8L(−h) + L(−2h))/12h`) in every entry of every
/// parameter; returns the gradients.
fn check(node: &ddn::analysis::Analysed<'_>, inputs: Value, cot: Vec<(String, Tensor)>) -> Vec<Tensor> {
    let grads = gradients(node, &inputs, &cot);
    let b = bind(node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    for (k, p) in node.params.iter().enumerate() {
        for i in 0..b.params[k].len() {
            let perturbed = |d: f64| {
                let mut t = b.params[k].clone();
                t.data[i] += d;
                let mut v = inputs.clone();
                v[&p.name] = ddn::runtime::tensor_to_json(&t);
                loss(node, &v, &cot)
            };
            let h = FD_STEP;
            let numeric =
                (-perturbed(2.0 * h) + 8.0 * perturbed(h) - 8.0 * perturbed(-h) + perturbed(-2.0 * h)) / (12.0 * h);
            let analytic = grads[k].data[i];
            assert!(
                (numeric - analytic).abs() <= FD_TOL * (1.0 + numeric.abs()),
                "`{}` entry {i}: backward {analytic}, central difference {numeric}",
                p.name
            );
        }
    }
    grads
}

/// A node's outputs at `inputs`, solved as its family says, with its status.
fn outputs(node: &ddn::analysis::Analysed<'_>, inputs: Value) -> Vec<(String, Tensor)> {
    let b = bind(node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let s = forward(node, &b, &Options::default().with_settings(Settings::default())).expect("forward");
    assert_eq!(s.status, ddn::runtime::Status::Optimal, "{:?}", s.info);
    s.outputs
}

fn output(node: &ddn::analysis::Analysed<'_>, inputs: Value, name: &str) -> Tensor {
    outputs(node, inputs).into_iter().find(|(n, _)| n == name).expect("output").1
}

/// Every atom with a reduction, in a node that is DCP and not smooth (a kink
/// that is inactive at the optimum), so it is an EXP cone program, against
/// its closed form.
#[test]
fn exp_atoms_reduce_to_the_exponential_cone_and_meet_closed_forms() {
    // eˣ − 2x + |x − 5|: eˣ = 3 left of the kink.
    let n = node_src("node f() -> x: real { minimize exp(x) - 2 * x + abs(x - 5) }");
    assert_eq!(n.class.family, Family::Exp, "{}", n.class.reason);
    let x = output(&n, json!({}), "x").data[0];
    assert!((x - 3f64.ln()).abs() < POINT_TOL, "exp: {x}");

    // Σ log xᵢ over ‖x‖₁ ≤ 1 (x > 0 by the domain): uniform.
    let n = node_src("node f(k: real[n]) -> x: real[n] { maximize sum(log(x))\nsubject to { norm1(x) <= 1 } }");
    assert_eq!(n.class.family, Family::Exp, "{}", n.class.reason);
    let x = output(&n, json!({"k": [0, 0, 0, 0]}), "x");
    assert!(x.data.iter().all(|v| (v - 0.25).abs() < POINT_TOL), "log: {:?}", x.data);

    // Entropy on the simplex, with a maximum bounded above: uniform.
    let n = node_src(
        "node f(k: real[n]) -> x: real[n] { maximize sum(entr(x))\nsubject to { sum(x) == 1\n max(x) <= 1 } }",
    );
    assert_eq!(n.class.family, Family::Exp, "{}", n.class.reason);
    let x = output(&n, json!({"k": [0, 0, 0, 0, 0]}), "x");
    assert!(x.data.iter().all(|v| (v - 0.2).abs() < POINT_TOL), "entr: {:?}", x.data);

    // x log x − cx: x = e^{c−1}.
    let n =
        node_src("node f(c: real[n]) -> x: real[n] { minimize sum(xlogx(x)) - c @ x\nsubject to { norm1(x) <= 100 } }");
    assert_eq!(n.class.family, Family::Exp, "{}", n.class.reason);
    let c = [0.5, -1.0, 1.5];
    let x = output(&n, json!({ "c": c }), "x");
    for (xi, ci) in x.data.iter().zip(c) {
        assert!((xi - (ci - 1.0f64).exp()).abs() < POINT_TOL, "xlogx: {xi}");
    }

    // kl_div(x, p) − cx: x = p e^c.
    let n = node_src(
        "node f(p: real[n], c: real[n]) -> x: real[n] { minimize sum(kl_div(x, p)) - c @ x\nsubject to { norm_inf(x) <= 100 } }",
    );
    assert_eq!(n.class.family, Family::Exp, "{}", n.class.reason);
    let (p, c) = ([0.2, 0.5, 1.3], [0.4, -0.3, 0.1]);
    let x = output(&n, json!({"p": p, "c": c}), "x");
    for ((xi, pi), ci) in x.data.iter().zip(p).zip(c) {
        assert!((xi - pi * f64::exp(ci)).abs() < POINT_TOL, "kl_div: {xi}");
    }

    // log(1 + eˣ) + 3x/4 + |x − 10|: left of the kink σ(x) + 3/4 − 1 = 0, x = −ln 3.
    let n = node_src("node f() -> x: real { minimize logistic(x) + 0.75 * x + abs(x - 10) }");
    assert_eq!(n.class.family, Family::Exp, "{}", n.class.reason);
    let x = output(&n, json!({}), "x").data[0];
    assert!((x + 3f64.ln()).abs() < POINT_TOL, "logistic: {x}");

    // log Σ e^{uᵢ} − cᵀu + |u_n|: u = log(c/c_n), the conjugate's closed form.
    let n = node_src("node f(c: real[4]) -> u: real[4] { minimize log_sum_exp(u) - c @ u + abs(u[3]) }");
    assert_eq!(n.class.family, Family::Exp, "{}", n.class.reason);
    let c = [0.1, 0.2, 0.3, 0.4];
    let u = output(&n, json!({ "c": c }), "u");
    for (ui, ci) in u.data.iter().zip(c) {
        assert!((ui - (ci / 0.4f64).ln()).abs() < POINT_TOL, "log_sum_exp: {:?}", u.data);
    }
}

/// A node both smooth and DCP with exponential cones keeps its smooth solver
/// (issue 16, item 4): every stdlib node's family is unchanged, none is EXP.
#[test]
fn smooth_exp_nodes_keep_their_smooth_solver() {
    let n = node_src("node f(c: real[n]) -> x: real[n] { minimize sum(exp(x)) - c @ x }");
    assert_eq!(n.class.family, Family::SmoothUnconstrained, "{}", n.class.reason);
    for file in super::ddn_files(&super::root().join("stdlib")) {
        let c = super::compile_path(&file);
        for node in &c.program.nodes {
            assert_ne!(node.class.family, Family::Exp, "{}: {}", file.display(), node.name);
        }
    }
}

/// The backward pass through exponential cones (complementarity linearised at
/// the returned point from the cone's geometry) against closed-form
/// derivatives (differences of re-solves: the test after this one).
#[test]
fn exp_nodes_backward_matches_closed_forms() {
    let xlogx =
        node_src("node f(c: real[n]) -> x: real[n] { minimize sum(xlogx(x)) - c @ x\nsubject to { norm1(x) <= 100 } }");
    // The closed forms first: x = e^{c−1}, ∂L/∂c = v ⊙ x; x = p e^c, ∂L/∂p = v ⊙ e^c.
    let (c, v) = ([0.5, -1.0, 1.5], [0.3, -0.7, 0.2]);
    let g = gradients(&xlogx, &json!({ "c": c }), &[("x".into(), Tensor::vector(v.to_vec()))]);
    for i in 0..3 {
        let want = v[i] * f64::exp(c[i] - 1.0);
        assert!((g[0].data[i] - want).abs() < 1e-6 * (1.0 + want.abs()), "xlogx: {} vs {want}", g[0].data[i]);
    }
    let kl = node_src(
        "node f(p: real[n], c: real[n]) -> x: real[n] { minimize sum(kl_div(x, p)) - c @ x\nsubject to { norm_inf(x) <= 100 } }",
    );
    let (p, c, v) = ([0.2, 0.5, 1.3], [0.4, -0.3, 0.1], [1.0, 0.5, -0.4]);
    let g = gradients(&kl, &json!({"p": p, "c": c}), &[("x".into(), Tensor::vector(v.to_vec()))]);
    for i in 0..3 {
        let (dp, dc) = (v[i] * f64::exp(c[i]), v[i] * p[i] * f64::exp(c[i]));
        assert!((g[0].data[i] - dp).abs() < 1e-6 * (1.0 + dp.abs()), "kl_div ∂p: {} vs {dp}", g[0].data[i]);
        assert!((g[1].data[i] - dc).abs() < 1e-6 * (1.0 + dc.abs()), "kl_div ∂c: {} vs {dc}", g[1].data[i]);
    }
    // An active exponential-cone constraint, a budget on Σ eˣ, against the closed
    // form: with aᵢ = cᵢ − sign(xᵢ)/10 (signs + + − here), x = log(a r/Σa), so
    // ∂L/∂r = Σv/r and ∂L/∂cⱼ = vⱼ/aⱼ − Σv/Σa. (Differences of re-solves are not
    // used: some perturbed solves stall at optimal_inaccurate, gap ~1e-9.)
    let budget = node_src(
        "node f(c: real[n], r: real) -> x: real[n] { maximize c @ x - norm1(x) / 10\nsubject to { sum(exp(x)) <= r } }",
    );
    assert_eq!(budget.class.family, Family::Exp);
    let (c, r, v) = ([1.0, 2.0, 0.5], 4.0, [0.3, -0.2, 0.6]);
    let a = [c[0] - 0.1, c[1] - 0.1, c[2] + 0.1];
    let x = output(&budget, json!({"c": c, "r": r}), "x");
    let (sa, sv) = (a.iter().sum::<f64>(), v.iter().sum::<f64>());
    for i in 0..3 {
        assert!((x.data[i] - (a[i] * r / sa).ln()).abs() < POINT_TOL, "budget x: {:?}", x.data);
    }
    let g = gradients(&budget, &json!({"c": c, "r": r}), &[("x".into(), Tensor::vector(v.to_vec()))]);
    for j in 0..3 {
        let want = v[j] / a[j] - sv / sa;
        assert!((g[0].data[j] - want).abs() < 1e-6, "budget ∂c{j}: {} vs {want}", g[0].data[j]);
    }
    assert!((g[1].data[0] - sv / r).abs() < 1e-6, "budget ∂r: {} vs {}", g[1].data[0], sv / r);
    let ent = node_src(
        "node f(c: real[n]) -> x: real[n] { maximize sum(entr(x)) + c @ x\nsubject to { sum(x) == 1\n max(x) <= 1 } }",
    );
    // x = softmax(c): ∂L/∂c = x ⊙ v − x (xᵀv).
    let (c, v) = ([0.3, -0.2, 0.5, 0.1], [1.0, -0.5, 0.2, 0.3]);
    let g = gradients(&ent, &json!({ "c": c }), &[("x".into(), Tensor::vector(v.to_vec()))]);
    let total: f64 = c.iter().map(|ci| f64::exp(*ci)).sum();
    let x: Vec<f64> = c.iter().map(|ci| f64::exp(*ci) / total).collect();
    let xv: f64 = x.iter().zip(v).map(|(a, b)| a * b).sum();
    for i in 0..4 {
        let want = x[i] * v[i] - x[i] * xv;
        assert!((g[0].data[i] - want).abs() < 1e-6, "entr ∂c{i}: {} vs {want}", g[0].data[i]);
    }
}

/// Log-sum-exp and logistic regression (with ℓ1 and ridge terms, so EXP)
/// against differences of re-solves: no closed form.
///
/// Every one of the 105 forwards (the point and every entry ±h, ±2h,
/// h = 1e-2) must meet 1e-12, or `optimal_inaccurate` with its residuals and
/// gap below 1e-9. Until session 11, 13 did not (gaps up to 2.0e-8): near
/// μ ≈ 1e-9 the exponential cones' `H` carries rounding of ε/μ, the
/// denominator of `Δτ` came out as noise (negative, or far from its other
/// exact form `κ/τ + (ξ − x₂)ᵀP(ξ − x₂) + z₂ᵀHz₂`), and `Δτ` of 0.1–0.3
/// against `τ ≈ 1` threw the iterates off the central path until the steps
/// collapsed. The KKT step now takes `Δτ = 0` where the two forms disagree
/// (`kkt::TAU_DEN_AGREEMENT`); all 105 meet the bar, the worst gap 7.8e-10.
#[test]
fn lse_and_logistic_nodes_backward_matches_differences() {
    let lse = node_src(
        "node f(A: real[m, n], b: real[m]) -> x: real[n] { minimize log_sum_exp(A @ x + b) + norm1(x) / 4 + sum_squares(x) / 2 }",
    );
    check(
        &lse,
        json!({"A": [[1.0, 0.3], [-0.5, 1.2], [0.2, -0.8]], "b": [0.1, -0.4, 0.3]}),
        vec![("x".into(), Tensor::vector(vec![0.8, -0.6]))],
    );
    let logreg = node_src(
        "node f(X: real[m, n], y: real[m]) -> w: real[n] { minimize sum(logistic(-(y * (X @ w)))) + norm1(w) / 5 + sum_squares(w) / 2 }",
    );
    check(
        &logreg,
        json!({"X": [[1.0, 0.3], [-0.5, 1.2], [0.2, -0.8], [0.7, 0.1]], "y": [1, -1, 1, -1]}),
        vec![("w".into(), Tensor::vector(vec![0.5, 1.0]))],
    );
}
