//! Backward passes of conic nodes against central differences of the forward map
//! (each perturbed problem re-solved at a tight tolerance), and least squares
//! against the seed's closed form.

use ddn::analysis::Analysed;
use ddn::eval::Tensor;
use ddn::runtime::{bind, forward, named_tensors, Options, Status};
use ddn::solve::Settings;
use serde_json::{json, Value};

use super::Rng;

pub(super) fn tight() -> Settings {
    let t = 1e-12;
    Settings { tol_gap_abs: t, tol_gap_rel: t, tol_feas: t, ..Settings::default() }
}

/// A forward at [`tight`] settings accurate enough for central differences
/// (`h = 1e-5`, relative tolerance 1e-5): `optimal` at 1e-12, or
/// `optimal_inaccurate` (1e-12 missed: a second-order cone's polished point can
/// stop at a gap of 1e-10) with the residuals and the gap measured at the
/// returned point below 1e-9.
pub(super) fn assert_accurate(s: &ddn::runtime::Solved) {
    assert_accurate_to(s, 1e-9);
}

/// [`assert_accurate`] with `optimal_inaccurate` accepted at `near`.
fn assert_accurate_to(s: &ddn::runtime::Solved, near: f64) {
    let info = serde_json::to_value(&s.info).expect("info as JSON");
    let measure = |k: &str| info.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
    let near = || ["primal_residual", "dual_residual", "gap"].iter().all(|k| measure(k) <= near);
    let accurate = s.status == Status::Optimal || (s.status == Status::OptimalInaccurate && near());
    assert!(accurate, "{:?}: {:?}", s.status, s.info);
}

pub(super) fn node_of(file: &str, name: &str) -> Analysed<'static> {
    let c = super::compile_path(&super::root().join(file));
    super::analysed(c.program.nodes.into_iter().find(|n| n.name == name).expect("node"))
}

pub(super) fn node_src(src: &str) -> Analysed<'static> {
    let c = ddn::compile("t.ddn", src);
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    super::analysed(c.program.nodes.into_iter().next().expect("node"))
}

/// L(θ) = Σ ⟨v_k, output_k(θ)⟩.
pub(super) fn loss(node: &ddn::analysis::Analysed<'_>, inputs: &Value, cot: &[(String, Tensor)]) -> f64 {
    loss_to(node, inputs, cot, 1e-9)
}

/// [`loss`], its forward accepted as [`assert_accurate_to`] `near`.
fn loss_to(node: &ddn::analysis::Analysed<'_>, inputs: &Value, cot: &[(String, Tensor)], near: f64) -> f64 {
    let b = bind(node, &named_tensors(inputs).expect("inputs")).expect("bind");
    let s = forward(node, &b, &Options::default().with_settings(tight())).expect("forward");
    assert_accurate_to(&s, near);
    cot.iter()
        .map(|(k, v)| {
            let o = &s.outputs.iter().find(|(n, _)| n == k).expect("output").1;
            o.data.iter().zip(&v.data).map(|(a, b)| a * b).sum::<f64>()
        })
        .sum()
}

/// The backward pass, and its check against central differences in every
/// parameter entry (symmetric pairs moved together for `sym`/`psd`).
pub(super) fn check(node: &ddn::analysis::Analysed<'_>, inputs: Value, cot: Vec<(String, Tensor)>) -> Vec<Tensor> {
    check_with(node, inputs, cot, Stencil::Central)
}

/// How [`differences`] differentiates the re-solves.
#[derive(Clone, Copy, Debug)]
pub(super) enum Stencil {
    /// `(L(h) − L(−h))/2h`, h = 10⁻⁵, to 10⁻⁵ relative.
    Central,
    /// `(−L(2h) + 8L(h) − 8L(−h) + L(−2h))/12h`, h = 10⁻², to 2·10⁻⁴ relative
    /// (truncation O(h⁴)), each forward accepted as `optimal_inaccurate` with
    /// residuals and gap below 10⁻⁸: for cone programs the interior point
    /// method takes only that far (semidefinite blocks singular at the optimum
    /// beside exponential cones: the step length collapses at gaps of
    /// 10⁻⁹–10⁻⁸), where a step of 10⁻⁵ would difference the solver's error.
    /// tests/suite/exp_cone.rs uses the same stencil.
    FivePoint,
}

impl Stencil {
    /// The residuals and gap at which an `optimal_inaccurate` forward is accepted.
    fn near(self) -> f64 {
        match self {
            Stencil::Central => 1e-9,
            Stencil::FivePoint => 1e-8,
        }
    }
}

/// [`check`] with the given stencil.
pub(super) fn check_with(
    node: &ddn::analysis::Analysed<'_>,
    inputs: Value,
    cot: Vec<(String, Tensor)>,
    stencil: Stencil,
) -> Vec<Tensor> {
    let b = bind(node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let mut s = forward(node, &b, &Options::default().with_settings(tight())).expect("forward");
    assert_accurate_to(&s, stencil.near());
    let grads = ddn::diff::backward(node, &b, &mut s, &cot).expect("backward");
    if let Err(m) = differences(node, &inputs, &cot, &grads, stencil) {
        panic!("{m}");
    }
    grads
}

/// `grads` against differences of `node`'s re-solves by `stencil` in every
/// parameter entry, symmetric pairs moved together for `sym`/`psd`: the first
/// mismatch, if any.
pub(super) fn differences(
    node: &ddn::analysis::Analysed<'_>,
    inputs: &Value,
    cot: &[(String, Tensor)],
    grads: &[Tensor],
    stencil: Stencil,
) -> Result<(), String> {
    let b = bind(node, &named_tensors(inputs).expect("inputs")).expect("bind");
    for (k, p) in node.params.iter().enumerate() {
        let symmetric = matches!(p.base, ddn::syntax::ast::BaseType::Sym | ddn::syntax::ast::BaseType::Psd);
        let value = b.params[k].clone();
        let (_, cols) = value.rows_cols();
        for i in 0..value.len() {
            let (r, c) = (i / cols.max(1), i % cols.max(1));
            if symmetric && c < r {
                continue;
            }
            let perturbed = |d: f64| {
                let mut t = value.clone();
                t.data[i] += d;
                if symmetric && r != c {
                    t.data[c * cols + r] += d;
                }
                let mut v = inputs.clone();
                v[&p.name] = ddn::runtime::tensor_to_json(&t);
                loss_to(node, &v, cot, stencil.near())
            };
            let (numeric, tol) = match stencil {
                Stencil::Central => ((perturbed(1e-5) - perturbed(-1e-5)) / 2e-5, 1e-5),
                Stencil::FivePoint => {
                    let h = 1e-2;
                    let l = -perturbed(2.0 * h) + 8.0 * perturbed(h) - 8.0 * perturbed(-h) + perturbed(-2.0 * h);
                    (l / (12.0 * h), 2e-4)
                }
            };
            let analytic = if symmetric && r != c { 2.0 * grads[k].data[i] } else { grads[k].data[i] };
            if (numeric - analytic).abs() > tol * (1.0 + numeric.abs()) {
                return Err(format!("`{}` entry {i}: backward {analytic}, {stencil:?} difference {numeric}", p.name));
            }
        }
    }
    Ok(())
}

#[test]
fn least_squares_matches_differences_and_the_seed_closed_form() {
    let mut rng = Rng(3);
    let (m, n) = (6, 3);
    let (a, b, v) = (rng.mat(m, n), rng.vec(m), rng.vec(n));
    let node = node_of("stdlib/least_squares.ddn", "least_squares");
    let grads = check(&node, json!({"A": a, "b": b}), vec![("x".into(), Tensor::vector(v.clone()))]);
    // Seed: dA = r wᵀ − (A w) xᵀ, db = A w, w = (AᵀA)⁻¹ v, r = b − A x.
    let am = faer::Mat::from_fn(m, n, |i, j| a[i][j]);
    let ata = am.transpose() * &am;
    let llt = ata.llt(faer::Side::Lower).expect("AᵀA ≻ 0");
    use faer::linalg::solvers::Solve;
    let w = llt.solve(&faer::Mat::from_fn(n, 1, |i, _| v[i]));
    let atb = am.transpose() * faer::Mat::from_fn(m, 1, |i, _| b[i]);
    let x = llt.solve(&atb);
    let aw = &am * &w;
    let r = faer::Mat::from_fn(m, 1, |i, _| b[i]) - &am * &x;
    for i in 0..m {
        for j in 0..n {
            let want = r[(i, 0)] * w[(j, 0)] - aw[(i, 0)] * x[(j, 0)];
            assert!((grads[0].data[i * n + j] - want).abs() < 1e-8, "dA[{i},{j}]");
        }
        assert!((grads[1].data[i] - aw[(i, 0)]).abs() < 1e-8, "db[{i}]");
    }
}

#[test]
fn optnet_qp_gradients_for_every_parameter() {
    let mut rng = Rng(5);
    let n = 5;
    let (inputs, _) = rng.planted_optnet(n, 6, 2);
    let node = node_of("stdlib/optnet_qp.ddn", "optnet_qp");
    let grads = check(&node, inputs, vec![("z".into(), Tensor::vector(rng.vec(n)))]);
    // The gradient with respect to the psd Q is symmetric.
    for i in 0..n {
        for j in 0..n {
            assert_eq!(grads[0].data[i * n + j], grads[0].data[j * n + i]);
        }
    }
}

#[test]
fn simplex_projection_through_the_solution_and_its_multiplier() {
    let node = node_of("stdlib/simplex_projection.ddn", "project_simplex_dual");
    check(
        &node,
        json!({"y": [0.3, 1.2, -0.4, 0.8, 0.1]}),
        vec![("x".into(), Tensor::vector(vec![1.0, -2.0, 0.5, 0.3, 0.0])), ("total".into(), Tensor::scalar(0.7))],
    );
}

#[test]
fn lp_vertex_and_mean_pooling_and_a_sym_parameter() {
    let lp = node_src(
        "node lp(c: real[n], G: real[k, n], h: real[k]) -> z: real[n] {
            minimize c @ z
            subject to { G @ z <= h }
        }",
    );
    // A nondegenerate vertex: min −z₀ − 2z₁ over a triangle-ish polytope.
    check(
        &lp,
        json!({"c": [-1, -2], "G": [[1, 1], [1, -1], [-1, 0], [0, -1]], "h": [2, 1, 0.5, 0.25]}),
        vec![("z".into(), Tensor::vector(vec![0.3, -0.7]))],
    );
    let pool = node_of("stdlib/robust_pooling.ddn", "pool_quadratic");
    let g = check(&pool, json!({"x": [[1, 2], [3, -1], [0, 5]]}), vec![("y".into(), Tensor::vector(vec![0.6, -0.3]))]);
    // y is the mean: dL/dx = v/n in every row.
    for r in 0..3 {
        assert!((g[0].data[2 * r] - 0.2).abs() < 1e-9 && (g[0].data[2 * r + 1] + 0.1).abs() < 1e-9);
    }
    let sym = node_src("node s(X: sym[n, n], b: real[n]) -> x: real[n] { minimize sum_squares(X @ x - b) }");
    check(
        &sym,
        json!({"X": [[2, 0.5, 0], [0.5, 3, 1], [0, 1, 4]], "b": [1, -1, 2]}),
        vec![("x".into(), Tensor::vector(vec![1.0, 0.5, -1.0]))],
    );
}

/// Nodes whose standard form has epigraph variables or cones: the gradient goes
/// through the reductions themselves (`canon::data_vjp`).
#[test]
fn epigraph_nodes_match_central_differences() {
    let lasso = node_of("stdlib/more.ddn", "lasso");
    let g = check(
        &lasso,
        json!({"A": [[1, 0.2, -0.3], [0.1, 1, 0.4], [-0.2, 0.3, 1], [0.5, -0.1, 0.2]], "b": [1, -0.05, 0.6, 0.4], "lam": 0.3}),
        vec![("x".into(), Tensor::vector(vec![0.7, -0.4, 0.25]))],
    );
    assert!(g[2].data[0].abs() > 1e-3, "lam must matter: {:?}", g[2]);
    let huber = node_of("stdlib/robust_pooling.ddn", "pool_huber");
    check(
        &huber,
        json!({"x": [[0.1, 2.0], [0.3, -0.2], [3.5, 0.4], [-0.4, 0.1], [0.2, -2.6]], "alpha": 0.8}),
        vec![("y".into(), Tensor::vector(vec![0.6, -0.3]))],
    );
    // A second-order cone constraint, active: the solution and its multiplier.
    let ball = node_of("stdlib/more.ddn", "ls_norm_ball");
    check(
        &ball,
        json!({"A": [[1, 0.3], [0.2, 1], [0.5, -0.4]], "b": [2, 1.5, 0.3], "r": 0.7}),
        vec![("x".into(), Tensor::vector(vec![0.4, -1.1])), ("radius".into(), Tensor::scalar(0.8))],
    );
}

/// Data that enters through parameter expressions no DPP rule would allow: row
/// norms of A as weights of an ℓ1 fit, a parameter scaling a norm, a keyword
/// parameter of an atom.
#[test]
fn parameters_inside_reductions_match_central_differences() {
    let weighted = node_src(
        "node w(A: real[m, n], b: real[m]) -> x: real[n] {
            minimize sum(sqrt(sum(A * A, axis = 1)) * abs(A @ x - b)) + sum_squares(x)
        }",
    );
    check(
        &weighted,
        json!({"A": [[1, 0.4], [0.3, -1], [0.8, 0.9], [-0.5, 0.2]], "b": [0.3, -0.7, 1.4, 2.1]}),
        vec![("x".into(), Tensor::vector(vec![1.0, -0.6]))],
    );
    let scaled = node_src("node a(c: real[n], s: pos) -> x: real[n] { minimize s * norm(x - 1) + sum_squares(x - c) }");
    let g = check(&scaled, json!({"c": [2.0, -1.0], "s": 0.45}), vec![("x".into(), Tensor::vector(vec![1.0, -0.6]))]);
    assert!(g[1].data[0].abs() > 0.1, "s must matter: {:?}", g[1]);
    let huber = node_src(
        "node h(A: real[m, n], b: real[m], M: pos) -> x: real[n] {
            minimize sum(huber(A @ x - b, M))
            subject to { x >= -1 }
        }",
    );
    check(
        &huber,
        json!({"A": [[1, 0.4], [0.3, -1], [0.8, 0.9], [-0.5, 0.2], [0.1, 0.1]], "b": [0.3, -2.7, 1.4, 2.1, 0.0], "M": 0.5}),
        vec![("x".into(), Tensor::vector(vec![0.3, 0.9]))],
    );
}

/// A second-order-cone constraint, active, against the closed form: with A = I,
/// `ls_norm_ball` projects b onto the ball of radius r < ‖b‖, so x = r b/‖b‖ and
/// the multiplier of `‖x‖ ≤ r` is λ = 2(‖b‖ − r); hence
/// dL/db = (r/‖b‖)(I − b̂b̂ᵀ)v_x + 2 v_λ b̂ and dL/dr = b̂ᵀv_x − 2 v_λ.
#[test]
fn active_norm_ball_matches_its_closed_form() {
    let ball = node_of("stdlib/more.ddn", "ls_norm_ball");
    let (bv, r) = ([2.0, -1.0, 0.5], 0.7);
    let inputs = json!({"A": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "b": bv, "r": r});
    let b = bind(&ball, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let mut s = forward(&ball, &b, &Options::default().with_settings(Settings::default())).expect("forward");
    let vx = [0.4, -1.1, 0.3];
    let vl = 0.8;
    let cot = vec![("x".to_string(), Tensor::vector(vx.to_vec())), ("radius".to_string(), Tensor::scalar(vl))];
    let g = ddn::diff::backward(&ball, &b, &mut s, &cot).expect("backward");
    let nb = bv.iter().map(|x| x * x).sum::<f64>().sqrt();
    let bh: Vec<f64> = bv.iter().map(|x| x / nb).collect();
    let vb: f64 = bh.iter().zip(&vx).map(|(a, b)| a * b).sum();
    let lam = s.outputs.iter().find(|(n, _)| n == "radius").expect("dual").1.data[0];
    assert!((lam - 2.0 * (nb - r)).abs() < 1e-7, "λ = {lam}");
    for i in 0..3 {
        let want = r / nb * (vx[i] - vb * bh[i]) + 2.0 * vl * bh[i];
        assert!((g[1].data[i] - want).abs() < 1e-6, "dL/db[{i}] = {}, closed form {want}", g[1].data[i]);
    }
    let want_r = vb - 2.0 * vl;
    assert!((g[2].data[0] - want_r).abs() < 1e-6, "dL/dr = {}, closed form {want_r}", g[2].data[0]);
}

/// Issue 18's node, `min cᵀx s.t. (x − x0)ᵀP(x − x0) ≤ 1`, against central
/// differences (through the recording) and its closed form
/// `x* = x0 − y/s`, `y = P⁻¹c`, `s = √(cᵀy)`: for `L = vᵀx*`, with `u = P⁻¹v`,
/// `dL/dx0 = v`, `dL/dc = −u/s + y(yᵀv)/s³`,
/// `dL/dP = (u yᵀ + y uᵀ)/(2s) − (vᵀy) y yᵀ/(2s³)` (symmetric).
/// The unprepared path (the reductions over tracked numbers) agrees.
#[test]
fn quad_form_of_a_parameter_matrix_in_a_constraint_matches_differences_and_the_closed_form() {
    use faer::linalg::solvers::Solve;
    let node = node_src(super::prepared::ELLIPSOID);
    let mut rng = Rng(18);
    let n = 3;
    let l = rng.mat(n, n);
    let p: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n).map(|j| (0..n).map(|t| l[i][t] * l[j][t]).sum::<f64>() + if i == j { 0.5 } else { 0.0 }).collect()
        })
        .collect();
    let (c, x0, v) = (rng.vec(n), rng.vec(n), rng.vec(n));
    let inputs = json!({"c": c, "P": p, "x0": x0});
    let cot = vec![("x".to_string(), Tensor::vector(v.clone()))];
    let grads = check(&node, inputs.clone(), cot.clone());

    let pm = faer::Mat::from_fn(n, n, |i, j| p[i][j]);
    let llt = pm.llt(faer::Side::Lower).expect("P ≻ 0");
    let col = |x: &[f64]| faer::Mat::from_fn(n, 1, |i, _| x[i]);
    let (y, u) = (llt.solve(&col(&c)), llt.solve(&col(&v)));
    let s = (0..n).map(|i| c[i] * y[(i, 0)]).sum::<f64>().sqrt();
    let vy: f64 = (0..n).map(|i| v[i] * y[(i, 0)]).sum();
    let b = bind(&node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let solved = forward(&node, &b, &Options::default().with_settings(tight())).expect("forward");
    for i in 0..n {
        let x = solved.outputs[0].1.data[i];
        assert!((x - (x0[i] - y[(i, 0)] / s)).abs() < 1e-9, "x[{i}] = {x}");
        let dc = -u[(i, 0)] / s + y[(i, 0)] * vy / s.powi(3);
        assert!((grads[0].data[i] - dc).abs() < 1e-7, "dc[{i}]: {} vs {dc}", grads[0].data[i]);
        assert!((grads[2].data[i] - v[i]).abs() < 1e-7, "dx0[{i}]: {}", grads[2].data[i]);
        for j in 0..n {
            let dp = (u[(i, 0)] * y[(j, 0)] + y[(i, 0)] * u[(j, 0)]) / (2.0 * s)
                - vy * y[(i, 0)] * y[(j, 0)] / (2.0 * s.powi(3));
            assert!((grads[1].data[i * n + j] - dp).abs() < 1e-7, "dP[{i},{j}]: {} vs {dp}", grads[1].data[i * n + j]);
        }
    }

    let mut unprepared = ddn::runtime::forward(&node, &b, &Options::default().unprepared()).expect("forward");
    let other = ddn::diff::backward(&node, &b, &mut unprepared, &cot).expect("backward");
    for (g, h) in grads.iter().zip(&other) {
        for (a, b) in g.data.iter().zip(&h.data) {
            assert!((a - b).abs() < 1e-7 * (1.0 + b.abs()), "prepared {a} vs unprepared {b}");
        }
    }
}

/// Every conic node of the stdlib and of the contract, and issue 18's, is
/// differentiated in every parameter through both conic backward paths (the
/// recording, and the reductions over tracked numbers): no path refuses, and
/// the recording's gradients match central differences entry by entry.
#[test]
fn every_conic_node_has_a_gradient_in_every_parameter() {
    let nodes = super::prepared::conic_nodes();
    for (name, compiled, i, inputs) in &nodes {
        let node = &compiled.analysed(*i).expect("node");
        let json_inputs: serde_json::Map<String, Value> =
            inputs.iter().map(|(k, t)| (k.clone(), ddn::runtime::tensor_to_json(t))).collect();
        let b = bind(node, inputs).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let solved =
            forward(node, &b, &Options::default().with_settings(tight())).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(solved.status, Status::Optimal, "{name}");
        let cot = super::seeded::cotangents(name, &solved);
        let grads = check(node, Value::Object(json_inputs), cot.clone());
        assert_eq!(grads.len(), node.params.len(), "{name}");
        let mut unprepared = ddn::runtime::forward(node, &b, &Options::default().unprepared()).expect("forward");
        let other = ddn::diff::backward(node, &b, &mut unprepared, &cot)
            .unwrap_or_else(|e| panic!("{name}: the unprepared backward refused: {e}"));
        for (g, h) in grads.iter().zip(&other) {
            for (a, b) in g.data.iter().zip(&h.data) {
                assert!((a - b).abs() < 1e-6 * (1.0 + b.abs()), "{name}: prepared {a} vs unprepared {b}");
            }
        }
    }
}

/// The accuracy test of the BPQP paper: random QPs, the mean absolute error of
/// the gradient against a reference (here central differences of re-solves at
/// tolerance 1e-12). cvxpylayers' published figure is 2.1e-2.
#[test]
fn random_qp_gradient_accuracy() {
    let node = node_of("stdlib/optnet_qp.ddn", "optnet_qp");
    let mut rng = Rng(17);
    let (n, k, q) = (10, 20, 2);
    let (mut total, mut count) = (0.0, 0usize);
    for _ in 0..5 {
        let qm = rng.spd(n, 0.1);
        let (g, a, z0) = (rng.mat(k, n), rng.mat(q, n), rng.vec(n));
        let p = rng.vec(n);
        let h: Vec<f64> =
            (0..k).map(|r| (0..n).map(|j| g[r][j] * z0[j]).sum::<f64>() + 0.1 + rng.next().abs()).collect();
        let b: Vec<f64> = (0..q).map(|r| (0..n).map(|j| a[r][j] * z0[j]).sum::<f64>()).collect();
        let inputs = json!({"Q": qm, "p": p, "G": g, "h": h, "A": a, "b": b});
        let cot = vec![("z".to_string(), Tensor::vector(rng.vec(n)))];
        let bound = bind(&node, &named_tensors(&inputs).expect("in")).expect("bind");
        let mut s = forward(&node, &bound, &Options::default().with_settings(tight())).expect("forward");
        let grads = ddn::diff::backward(&node, &bound, &mut s, &cot).expect("backward");
        // Reference for p and h (the layer's usual learnable inputs).
        for (name, k) in [("p", 1usize), ("h", 3usize)] {
            for i in 0..bound.params[k].len() {
                let moved = |d: f64| {
                    let mut v = inputs.clone();
                    let mut t = bound.params[k].clone();
                    t.data[i] += d;
                    v[name] = ddn::runtime::tensor_to_json(&t);
                    loss(&node, &v, &cot)
                };
                let numeric = (moved(1e-5) - moved(-1e-5)) / 2e-5;
                total += (numeric - grads[k].data[i]).abs();
                count += 1;
            }
        }
    }
    let mean = total / count as f64;
    eprintln!("random QPs (n = {n}, {k} inequalities, {q} equalities): mean |gradient error| = {mean:.1e} over {count} entries");
    assert!(mean < 1e-6, "mean absolute gradient error {mean:e}");
}

/// Equality-constrained QPs take the direct path (one LBLᵀ of [P Aᵀ; A 0]); the
/// solution, the multiplier and every gradient against central differences.
#[test]
fn equality_qp_by_one_kkt_factorisation() {
    let node = node_src(
        "node eqp(Q: psd[n, n], p: real[n], A: real[k, n], b: real[k]) -> (x: real[n], dual eqs) {
            minimize 0.5 * quad_form(x, Q) + p @ x
            subject to { eqs: A @ x == b }
        }",
    );
    let mut rng = Rng(41);
    let (n, k) = (4, 2);
    let inputs = json!({"Q": rng.spd(n, 0.5), "p": rng.vec(n), "A": rng.mat(k, n), "b": rng.vec(k)});
    let bound = bind(&node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let s = forward(&node, &bound, &Options::default().with_settings(tight())).expect("forward");
    assert_eq!(s.info.solver, "kkt");
    // The same node through the interior point method, an independent solver.
    let by_ipm = node_src(
        "node eqp(Q: psd[n, n], p: real[n], A: real[k, n], b: real[k]) -> (x: real[n], dual eqs) {
            minimize 0.5 * quad_form(x, Q) + p @ x
            subject to { eqs: A @ x == b }
            solve using ipm(tol = 1e-12)
        }",
    );
    let r = forward(
        &by_ipm,
        &bind(&by_ipm, &named_tensors(&inputs).expect("in")).expect("bind"),
        &Options::default().with_settings(tight()),
    )
    .expect("forward");
    assert_eq!(r.info.solver, "ipm");
    for ((name, direct), (_, ipm)) in s.outputs.iter().zip(&r.outputs) {
        for (a, b) in direct.data.iter().zip(&ipm.data) {
            assert!((a - b).abs() < 1e-8 * (1.0 + b.abs()), "{name}: direct {a}, IPM {b}");
        }
    }
    check(&node, inputs, vec![("x".into(), Tensor::vector(rng.vec(n))), ("eqs".into(), Tensor::vector(rng.vec(k)))]);
}

/// Unconstrained least squares takes the QR path; a rank-deficient A (the
/// minimiser is not unique) falls back to the interior point method, and so
/// does a node that names its method.
#[test]
fn least_squares_paths() {
    let node = node_of("stdlib/least_squares.ddn", "least_squares");
    let run = |node: &ddn::analysis::Analysed<'_>, a: Value| {
        let b = bind(node, &named_tensors(&json!({"A": a, "b": [1, 2, 3]})).expect("in")).expect("bind");
        forward(node, &b, &Options::default().with_settings(Settings::default())).expect("forward")
    };
    assert_eq!(run(&node, json!([[1, 0], [0, 1], [1, 1]])).info.solver, "qr");
    let deficient = run(&node, json!([[1, 2], [2, 4], [3, 6]]));
    assert_eq!((deficient.info.solver, deficient.status), ("ipm", Status::Optimal));
    let named = node_src(
        "node ls(A: real[m, n], b: real[m]) -> x: real[n] {
            minimize sum_squares(A @ x - b)
            solve using ipm
        }",
    );
    assert_eq!(run(&named, json!([[1, 0], [0, 1], [1, 1]])).info.solver, "ipm");
}

/// At a weakly active constraint (active, zero multiplier) the solution map has a
/// kink: the forward names the constraint in `info.weakly_active`, and the
/// backward's answer is finite and lies between the two one-sided derivatives.
#[test]
fn weakly_active_constraint_gets_a_bracketed_answer() {
    let node = node_src(
        "node clip(y: real[n]) -> x: real[n] {
            minimize sum_squares(x - y)
            subject to { cap: x <= 0 }
        }",
    );
    let y = [0.0, -0.5, 0.7];
    let inputs = json!({ "y": y });
    let b = bind(&node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let mut s = forward(&node, &b, &Options::default().with_settings(tight())).expect("forward");
    assert_eq!(s.info.weakly_active, ["cap"]);
    let cot = vec![("x".to_string(), Tensor::vector(vec![1.0, 1.0, 1.0]))];
    let g = ddn::diff::backward(&node, &b, &mut s, &cot).expect("backward");
    // One-sided derivatives of x₀ = min(y₀, 0) at y₀ = 0: 1 from below, 0 from above.
    let one_sided = |d: f64| {
        let mut v = inputs.clone();
        v["y"][0] = json!(d);
        loss(&node, &v, &cot)
    };
    let h = 1e-6;
    let (below, above) = ((one_sided(0.0) - one_sided(-h)) / h, (one_sided(h) - one_sided(0.0)) / h);
    let (lo, hi) = (below.min(above), below.max(above));
    assert!(
        g[0].data[0].is_finite() && g[0].data[0] >= lo - 1e-6 && g[0].data[0] <= hi + 1e-6,
        "{} ∉ [{lo}, {hi}]",
        g[0].data[0]
    );
    // The entries away from the kink are the usual ones.
    assert!((g[0].data[1] - 1.0).abs() < 1e-6 && g[0].data[2].abs() < 1e-6, "{:?}", g[0]);
}
/// The minimiser of `‖Ax − b‖²` over the ball `‖x‖ ≤ r` (r below the
/// unconstrained minimiser's norm): `(AᵀA + λI)x = Aᵀb` with `‖x‖ = r`, the
/// secular equation, by bisection on λ.
fn secular(a: &[[f64; 2]; 3], bv: &[f64; 3], r: f64) -> [f64; 2] {
    let x_of = |lam: f64| {
        let (mut m, mut v) = ([[0.0; 2]; 2], [0.0; 2]);
        for i in 0..3 {
            for j in 0..2 {
                v[j] += a[i][j] * bv[i];
                for k in 0..2 {
                    m[j][k] += a[i][j] * a[i][k];
                }
            }
        }
        m[0][0] += lam;
        m[1][1] += lam;
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        [(m[1][1] * v[0] - m[0][1] * v[1]) / det, (m[0][0] * v[1] - m[1][0] * v[0]) / det]
    };
    let (mut lo, mut hi) = (0.0, 100.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        let x = x_of(mid);
        if (x[0] * x[0] + x[1] * x[1]).sqrt() > r {
            lo = mid
        } else {
            hi = mid
        }
    }
    x_of(0.5 * (lo + hi))
}

/// An active norm constraint against an independent reference: least squares
/// in a ball against the secular equation ([`secular`]). The interior point
/// method alone stops with x off by 2e-7 along the sphere (the objective is
/// flat to second order there); the polishing Newton steps bring it to
/// rounding level.
#[test]
fn norm_ball_solution_against_the_secular_equation() {
    let node = node_of("stdlib/more.ddn", "ls_norm_ball");
    let a = [[1.0, 0.3], [0.2, 1.0], [0.5, -0.4]];
    let bv = [2.0, 1.5, 0.3];
    let r = 0.7;
    let want = secular(&a, &bv, r);
    let inputs = json!({"A": a, "b": bv, "r": r});
    let b = bind(&node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let s = forward(&node, &b, &Options::default().with_settings(Settings::default())).expect("forward");
    let x = &s.outputs[0].1.data;
    for k in 0..2 {
        assert!((x[k] - want[k]).abs() < 1e-10, "x = {x:?}, the secular equation gives {want:?}");
    }
    let raw = forward(&node, &b, &Options::default().with_settings(Settings { polish: false, ..Settings::default() }))
        .expect("forward");
    assert!((raw.outputs[0].1.data[0] - want[0]).abs() > 1e-8, "the IPM alone was expected to be less accurate");
}

/// The same with the objective scaled by `c` from 1e-10 to 1e4: the polishing
/// steps' KKT error is taken in the objective's unit ω (`polish::kkt_error`),
/// so they bring x to the secular equation's solution whatever c. With the
/// error in absolute terms the dual side vanished at small c and the steps
/// stopped early: x was 2.5e-6 off at c = 1e-8 and 1.2e-5 at c = 1e-6, each
/// reported `optimal`.
#[test]
fn norm_ball_polish_is_accurate_whatever_the_objective_scale() {
    let node = node_src(
        "node f(A: real[m, n], b: real[m], r: pos, c: pos) -> x: real[n] {
            minimize c * sum_squares(A @ x - b)
            subject to { norm(x) <= r }
        }",
    );
    let a = [[1.0, 0.3], [0.2, 1.0], [0.5, -0.4]];
    let bv = [2.0, 1.5, 0.3];
    let r = 0.7;
    let want = secular(&a, &bv, r);
    for c in [1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 1.0, 1e2, 1e4] {
        let inputs = json!({"A": a, "b": bv, "r": r, "c": c});
        let b = bind(&node, &named_tensors(&inputs).expect("inputs")).expect("bind");
        let s = forward(&node, &b, &Options::default().with_settings(Settings::default())).expect("forward");
        assert_eq!(s.status, Status::Optimal, "c = {c}: {:?}", s.info);
        let x = &s.outputs[0].1.data;
        for k in 0..2 {
            assert!((x[k] - want[k]).abs() < 1e-9, "c = {c}: x = {x:?}, the secular equation gives {want:?}");
        }
    }
}

/// Seeded random SOCPs with a cone in the objective and one in the constraints.
#[test]
fn random_socps_match_central_differences() {
    let node = node_src(
        "node socp(A: real[m, n], b: real[m], c: real[n], r: pos) -> x: real[n] {
            minimize c @ x + norm(A @ x - b)
            subject to { norm(x) <= r }
        }",
    );
    let mut rng = Rng(29);
    for _ in 0..3 {
        let (m, n) = (5, 3);
        let inputs = json!({"A": rng.mat(m, n), "b": rng.vec(m), "c": rng.vec(n), "r": 0.5 + rng.next().abs()});
        check(&node, inputs, vec![("x".into(), Tensor::vector(rng.vec(n)))]);
    }
}

/// `runtime::check::check_gradients` (`ddnc run --check-gradients`) finds the
/// backward pass of the OptNet QP right in every parameter (Q is `psd`: perturbed
/// symmetrically), and finds a gradient with one entry changed wrong.
#[test]
fn check_gradients_accepts_the_backward_pass_and_catches_a_wrong_entry() {
    let node = node_of("stdlib/optnet_qp.ddn", "optnet_qp");
    let inputs = json!({
        "Q": [[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 1.5]],
        "p": [1.0, -1.0, 0.5],
        "G": [[1.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 1.0]],
        "h": [0.5, 5.0, 5.0],
        "A": [[1.0, 1.0, 1.0]],
        "b": [1.0],
    });
    let values = named_tensors(&inputs).unwrap();
    let loaded = ddn::loaded::LoadedNode::new(&node, ddn::loaded::Backend::Interpreter).unwrap();
    let mut fwd = loaded.forward(&values).unwrap();
    assert_eq!(fwd.solved.status, Status::Optimal);
    let cot = named_tensors(&json!({"z": [1.0, -2.0, 0.5]})).unwrap();
    let grads = loaded.backward(&mut fwd, &cot).unwrap();
    let report = ddn::runtime::check::check_gradients(&node, &values, &cot, &grads);
    assert_eq!(report.len(), 6);
    // Only the equality (and perhaps the first inequality) is active: Q's gradient is not 0.
    assert!(grads["Q"].data.iter().any(|g| g.abs() > 1e-3), "{:?}", grads["Q"]);
    for c in &report {
        assert!(c.checked == c.entries && c.checked > 0, "{c:?}");
        assert!(c.worst_relative_error < 1e-5, "{c:?}");
    }
    assert_eq!(report.iter().find(|c| c.parameter == "Q").map(|c| c.entries), Some(6));
    let mut wrong = grads.clone();
    wrong.get_mut("h").unwrap().data[0] += 0.1;
    let report = ddn::runtime::check::check_gradients(&node, &values, &cot, &wrong);
    let h = report.iter().find(|c| c.parameter == "h").unwrap();
    assert!(h.worst_relative_error > 1e-2, "{h:?}");
}
