//! The positive semidefinite cone in the interior point method, on
//! hand-built programs with closed-form optima: the largest eigenvalue, the
//! nearest PSD matrix, a trace-constrained SDP, two blocks beside an orthant,
//! on every KKT path; infeasibility and unboundedness certificates.
//!
//! Clarabel.rs is not a reference here: its PSD cone needs its `sdp`
//! feature, which links a system BLAS/LAPACK. The matrices are built with
//! known spectra (a Householder reflection of a diagonal), so the closed
//! forms need no eigensolver.

use ddn::solve::{solve, ConeBlock, ConeProgram, KktMethod, Settings, Solution, Status, Triplets};

/// Distance to a closed-form optimal value (relative to 1 + |f|).
pub(super) const REF_TOL: f64 = 1e-7;
/// Distance to an optimal point (a strongly convex objective: √REF_TOL-sized).
pub(super) const POINT_TOL: f64 = 1e-4;

const SQRT2: f64 = std::f64::consts::SQRT_2;

/// svec of a symmetric `n × n` (row-major) matrix: the lower triangle column
/// by column, off-diagonal entries times √2.
pub fn svec(n: usize, x: &[f64]) -> Vec<f64> {
    let mut v = Vec::with_capacity(n * (n + 1) / 2);
    for j in 0..n {
        for i in j..n {
            v.push(if i == j { x[i * n + j] } else { SQRT2 * x[i * n + j] });
        }
    }
    v
}

/// `H diag(λ) H`, `H = I − 2uuᵀ/uᵀu` (row-major): a symmetric matrix with
/// eigenvalues λ and eigenvectors the columns of H.
pub fn with_spectrum(lambda: &[f64], u: &[f64]) -> Vec<f64> {
    let n = lambda.len();
    let uu: f64 = u.iter().map(|x| x * x).sum();
    let h = |i: usize, j: usize| if i == j { 1.0 } else { 0.0 } - 2.0 * u[i] * u[j] / uu;
    (0..n * n).map(|k| (0..n).map(|l| h(k / n, l) * lambda[l] * h(k % n, l)).sum()).collect()
}

fn solved(p: &ConeProgram, method: KktMethod) -> Solution {
    let settings = Settings { kkt_method: method, ..Settings::default() };
    let sol = solve(p, &settings).unwrap();
    assert_eq!(sol.status, Status::Optimal, "{method:?}: {:?}", sol.info);
    sol
}

/// `min t s.t. tI − A ⪰ 0` is `λ_max(A)`; its dual variable is the top
/// eigenvector's `vvᵀ` (`tr Z = 1`).
#[test]
fn lambda_max_is_the_top_eigenvalue() {
    for (lambda, u) in [
        (vec![3.0], vec![1.0]),
        (vec![1.0, -2.0], vec![0.3, 1.0]),
        (vec![0.5, 2.5, -1.0, 2.0], vec![1.0, -0.4, 0.7, 0.2]),
        (vec![-3.0, -1.0, -2.0, -0.5, -4.0, -1.5], vec![0.2, 1.0, -0.3, 0.5, 0.9, -0.7]),
    ] {
        let n = lambda.len();
        let a = with_spectrum(&lambda, &u);
        let sa = svec(n, &a);
        let d = sa.len();
        // s = tI − A = b − (−svec I) t.
        let mut at = Triplets::new(d, 1);
        for (k, v) in
            svec(n, &(0..n * n).map(|k| if k / n == k % n { -1.0 } else { 0.0 }).collect::<Vec<_>>()).iter().enumerate()
        {
            if *v != 0.0 {
                at.push(k, 0, *v);
            }
        }
        let p = ConeProgram {
            p: Triplets::new(1, 1),
            q: vec![1.0],
            a: at,
            b: sa.iter().map(|v| -v).collect(),
            cones: vec![ConeBlock::Psd(n)],
            c0: 0.0,
        };
        let top = lambda.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        for method in [KktMethod::Dense, KktMethod::Sparse] {
            let sol = solved(&p, method);
            assert!((sol.x[0] - top).abs() < REF_TOL * (1.0 + top.abs()), "n = {n}: {} vs {top}", sol.x[0]);
            // tr Z = 1: the dual's diagonal entries sum to the objective's coefficient.
            let mut k = 0;
            let mut trace = 0.0;
            for j in 0..n {
                trace += sol.z[k];
                k += n - j;
            }
            assert!((trace - 1.0).abs() < 1e-7, "tr Z = {trace}");
        }
    }
}

/// `min ‖X − A‖²_F s.t. X ⪰ 0` is A with its negative eigenvalues clipped
/// (svec is an isometry, so the objective is `‖x − svec A‖²`).
#[test]
fn nearest_psd_matrix_clips_the_eigenvalues() {
    for (lambda, u) in [
        (vec![2.0, -1.0, 0.5], vec![1.0, 0.5, -0.25]),
        (vec![1.0, -0.5, -2.0, 3.0, 0.25], vec![0.1, -0.7, 0.4, 1.0, 0.3]),
    ] {
        let n = lambda.len();
        let sa = svec(n, &with_spectrum(&lambda, &u));
        let d = sa.len();
        let mut p2 = Triplets::new(d, d);
        let mut a = Triplets::new(d, d);
        for k in 0..d {
            p2.push(k, k, 2.0);
            a.push(k, k, -1.0);
        }
        let p = ConeProgram {
            p: p2,
            q: sa.iter().map(|v| -2.0 * v).collect(),
            a,
            b: vec![0.0; d],
            cones: vec![ConeBlock::Psd(n)],
            c0: sa.iter().map(|v| v * v).sum(),
        };
        let clipped: Vec<f64> = lambda.iter().map(|l| l.max(0.0)).collect();
        let want = svec(n, &with_spectrum(&clipped, &u));
        let value: f64 = lambda.iter().map(|l| l.min(0.0).powi(2)).sum();
        for method in [KktMethod::Dense, KktMethod::Sparse] {
            let sol = solved(&p, method);
            let err = sol.x.iter().zip(&want).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < POINT_TOL, "n = {n}, {method:?}: ‖x − x*‖∞ = {err:.1e}");
            assert!(
                (sol.info.primal_objective - value).abs() < REF_TOL * (1.0 + value),
                "{}",
                sol.info.primal_objective
            );
        }
    }
}

/// `min ⟨C, X⟩ s.t. tr X = 1, X ⪰ 0` is `λ_min(C)`; beside it a second
/// block `Y ⪰ 0` with `Y₁₁ = 1`, `min 2Y₂₁` (`−2`, Y the all-ones matrix),
/// and an orthant row `X₁₁ ≤ 10` that is inactive: one program, every KKT path.
#[test]
fn two_blocks_and_an_orthant_on_every_kkt_path() {
    let (lambda, u) = (vec![1.5, -0.75, 2.0, 0.25], vec![0.6, -0.2, 0.9, 0.4]);
    let n = 4;
    let c = svec(n, &with_spectrum(&lambda, &u));
    let dx = c.len();
    // Variables: svec X (dx), svec Y (3).
    let nv = dx + 3;
    let mut q = c.clone();
    q.extend([0.0, SQRT2, 0.0]); // 2Y₂₁ = √2 · svec(Y)₁
                                 // Rows: tr X = 1, Y₁₁ = 1, Y₂₂ = 1 (zero cone, 3); X₁₁ ≤ 10 (orthant, 1);
                                 // −svec X + s = 0 (PSD n); −svec Y + s = 0 (PSD 2).
    let mut a = Triplets::new(3 + 1 + dx + 3, nv);
    let mut k = 0;
    for j in 0..n {
        a.push(0, k, 1.0);
        k += n - j;
    }
    a.push(1, dx, 1.0);
    a.push(2, dx + 2, 1.0);
    a.push(3, 0, 1.0);
    for i in 0..dx + 3 {
        a.push(4 + i, i, -1.0);
    }
    let mut b = vec![1.0, 1.0, 1.0, 10.0];
    b.extend(vec![0.0; dx + 3]);
    let p = ConeProgram {
        p: Triplets::new(nv, nv),
        q,
        a,
        b,
        cones: vec![ConeBlock::Zero(3), ConeBlock::Nonneg(1), ConeBlock::Psd(n), ConeBlock::Psd(2)],
        c0: 0.0,
    };
    let want = -0.75 - 2.0;
    for method in [KktMethod::Auto, KktMethod::Dense, KktMethod::Condensed, KktMethod::Sparse] {
        let sol = solved(&p, method);
        assert!((sol.info.primal_objective - want).abs() < REF_TOL * 4.0, "{method:?}: {}", sol.info.primal_objective);
        assert!((sol.x[dx + 1] / SQRT2 + 1.0).abs() < POINT_TOL, "Y₂₁ = {}", sol.x[dx + 1] / SQRT2);
    }
}

/// `X ⪰ 0` with `X₁₁ = −1` has no point; `min X₂₁` over `X ⪰ 0` no bound.
#[test]
fn infeasible_and_unbounded_sdps_are_certified() {
    // Variables svec X (3): X₁₁ = −1 (zero row), −svec X + s = 0 (PSD 2).
    let mut a = Triplets::new(4, 3);
    a.push(0, 0, 1.0);
    for i in 0..3 {
        a.push(1 + i, i, -1.0);
    }
    let infeasible = ConeProgram {
        p: Triplets::new(3, 3),
        q: vec![1.0, 0.0, 1.0],
        a: a.clone(),
        b: vec![-1.0, 0.0, 0.0, 0.0],
        cones: vec![ConeBlock::Zero(1), ConeBlock::Psd(2)],
        c0: 0.0,
    };
    let sol = solve(&infeasible, &Settings::default()).unwrap();
    assert_eq!(sol.status, Status::PrimalInfeasible, "{:?}", sol.info);
    // The certificate: z with Aᵀz = 0, bᵀz < 0, z ∈ {free} × S₊²: z = (t, t, 0, 0)-like.
    let mut a = Triplets::new(3, 3);
    for i in 0..3 {
        a.push(i, i, -1.0);
    }
    let unbounded = ConeProgram {
        p: Triplets::new(3, 3),
        q: vec![0.0, 1.0, 0.0],
        a,
        b: vec![0.0; 3],
        cones: vec![ConeBlock::Psd(2)],
        c0: 0.0,
    };
    let sol = solve(&unbounded, &Settings::default()).unwrap();
    assert_eq!(sol.status, Status::DualInfeasible, "{:?}", sol.info);
}

// ------------------------------------------------ the language, end to end ---

use ddn::eval::Tensor;
use ddn::ir::Family;
use ddn::runtime::{bind, forward, named_tensors, Options};
use serde_json::{json, Value};

use super::backward::{check, node_src};

/// A node's outputs at `inputs` (default settings), with its status.
pub(super) fn run(node: &ddn::analysis::Analysed<'_>, inputs: Value) -> (ddn::runtime::Status, Vec<(String, Tensor)>) {
    let b = bind(node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let s = forward(node, &b, &Options::default().with_settings(Settings::default())).expect("forward");
    (s.status, s.outputs)
}

pub(super) fn output(node: &ddn::analysis::Analysed<'_>, inputs: Value, name: &str) -> Tensor {
    let (status, out) = run(node, inputs);
    assert_eq!(status, ddn::runtime::Status::Optimal);
    out.into_iter().find(|(n, _)| n == name).expect("output").1
}

/// A row-major matrix of `n` columns (`n × n` for the square ones) as JSON rows.
pub(super) fn rows(n: usize, a: &[f64]) -> Value {
    json!(a.chunks(n).map(<[f64]>::to_vec).collect::<Vec<_>>())
}

/// `psd` variables: the nearest PSD matrix in Frobenius norm clips A's
/// eigenvalues; the backward pass against central differences (symmetric
/// perturbations) of re-solves.
#[test]
fn psd_variable_nearest_matrix_and_its_backward() {
    let n = node_src("node nearest(A: sym[n, n]) -> X: psd[n, n] { minimize sum_squares(X - A) }");
    assert_eq!(n.class.family, Family::Sdp, "{}", n.class.reason);
    let (lambda, u) = ([1.0, -0.5, 2.0, -1.5], [0.3, -0.8, 0.5, 1.0]);
    let a = with_spectrum(&lambda, &u);
    let x = output(&n, json!({ "A": rows(4, &a) }), "X");
    let clipped: Vec<f64> = lambda.iter().map(|l| l.max(0.0)).collect();
    let want = with_spectrum(&clipped, &u);
    let err = x.data.iter().zip(&want).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(err < POINT_TOL, "‖X − X*‖∞ = {err:.1e}");
    let v: Vec<f64> = (0..16).map(|k| ((k * 7 % 5) as f64 - 2.0) / 3.0).collect();
    check(&n, json!({ "A": rows(4, &a) }), vec![("X".into(), Tensor { shape: vec![4, 4], data: v })]);
}

/// `t I >> A` gives `λ_max(A)`, and its derivative in A the top eigenvector's
/// `vvᵀ` (a simple eigenvalue): against the closed form and differences.
#[test]
fn lambda_max_by_a_semidefinite_constraint_and_its_gradient() {
    let n = node_src("node top(A: sym[n, n]) -> t: real { minimize t\nsubject to { t * eye(n) >> A } }");
    assert_eq!(n.class.family, Family::Sdp, "{}", n.class.reason);
    let (lambda, u) = ([0.5, 2.5, -1.0, 2.0], [1.0, -0.4, 0.7, 0.2]);
    let a = with_spectrum(&lambda, &u);
    let t = output(&n, json!({ "A": rows(4, &a) }), "t").data[0];
    assert!((t - 2.5).abs() < REF_TOL * 3.5, "λ_max = {t}");
    let g = check(&n, json!({ "A": rows(4, &a) }), vec![("t".into(), Tensor::scalar(1.0))]);
    // v = H e₂ (the eigenvector of 2.5): H = I − 2uuᵀ/uᵀu.
    let uu: f64 = u.iter().map(|x| x * x).sum();
    let v: Vec<f64> = (0..4).map(|i| if i == 1 { 1.0 } else { 0.0 } - 2.0 * u[i] * u[1] / uu).collect();
    for i in 0..4 {
        for j in 0..4 {
            let want = v[i] * v[j];
            assert!((g[0].data[i * 4 + j] - want).abs() < 1e-6, "∂λ/∂A[{i}, {j}] = {} vs {want}", g[0].data[i * 4 + j]);
        }
    }
}

/// `min tr(CX) s.t. tr X = 1, X >> 0` (X `sym`) is `λ_min(C)`; the same with
/// `0 << X`; both SDP.
#[test]
fn trace_constrained_sdp_is_the_smallest_eigenvalue() {
    let (lambda, u) = ([1.5, -0.75, 2.0], [0.6, -0.2, 0.9]);
    let c = with_spectrum(&lambda, &u);
    for constraint in ["X >> 0", "0 << X"] {
        let src = format!(
            "node low(C: sym[n, n]) -> X: sym[n, n] {{ minimize trace(C @ X)\nsubject to {{ trace(X) == 1\n {constraint} }} }}"
        );
        let n = node_src(&src);
        assert_eq!(n.class.family, Family::Sdp, "{}", n.class.reason);
        let x = output(&n, json!({ "C": rows(3, &c) }), "X");
        let value: f64 = (0..9).map(|k| c[k] * x.data[k]).sum();
        assert!((value + 0.75).abs() < REF_TOL * 2.0, "{constraint}: tr(CX) = {value}");
    }
}

/// `trace(X) == −1` over `X: psd` is infeasible; `min tr(CX)` over `X: psd`
/// with an indefinite C unbounded.
#[test]
fn infeasible_and_unbounded_sdp_nodes() {
    let n = node_src("node f(c: real) -> X: psd[2, 2] { minimize trace(X)\nsubject to { trace(X) == c } }");
    let (status, _) = run(&n, json!({ "c": -1.0 }));
    assert_eq!(status, ddn::runtime::Status::Infeasible);
    let n = node_src("node f(C: sym[2, 2]) -> X: psd[2, 2] { minimize trace(C @ X) }");
    let (status, _) = run(&n, json!({ "C": [[0.0, 1.0], [1.0, 0.0]] }));
    assert_eq!(status, ddn::runtime::Status::Unbounded);
}

/// Semidefinite constraints need affine sides and square matrices.
#[test]
fn semidefinite_constraints_are_checked() {
    let c = ddn::compile("t.ddn", "node f(A: real[3, 2]) -> X: real[3, 2] { minimize sum(X)\nsubject to { X >> A } }");
    assert!(c.has_errors() && super::rendered(&c).contains("`>>` needs square matrices"), "{}", super::rendered(&c));
    let c = ddn::compile(
        "t.ddn",
        "node f(A: sym[n, n]) -> X: sym[n, n] { minimize sum(X)\nsubject to { square(X) >> A } }",
    );
    assert!(c.has_errors() || c.program.nodes[0].class.family != Family::Sdp);
}

/// `lambda_max(A + xB)` and `lambda_min(A + xB)` for commuting `A = H diag(a) H`,
/// `B = H diag(b) H` are `maxᵢ`/`minᵢ (aᵢ + x bᵢ)`: piecewise linear in x, with
/// closed-form optima; the backward pass against central differences where
/// the optimum is at a simple eigenvalue (at a crossing of two, the dual is
/// not unique and the backward is not checked: see the report of issue 16).
#[test]
fn lambda_max_and_lambda_min_atoms_meet_their_closed_forms() {
    let u = [0.4, -0.9, 0.3];
    let inputs = |a: [f64; 3], b: [f64; 3]| json!({ "A": rows(3, &with_spectrum(&a, &u)), "B": rows(3, &with_spectrum(&b, &u)) });
    // max(−x, 3 + x, −5): x = −1.5.
    let top = node_src("node f(A: sym[n, n], B: sym[n, n]) -> x: real { minimize lambda_max(A + x * B) }");
    assert_eq!(top.class.family, Family::Sdp, "{}", top.class.reason);
    let x = output(&top, inputs([0.0, 3.0, -5.0], [-1.0, 1.0, 0.0]), "x").data[0];
    assert!((x + 1.5).abs() < POINT_TOL, "lambda_max: x = {x}");
    // min(x, 3 − x, 5): x = 1.5.
    let low = node_src("node f(A: sym[n, n], B: sym[n, n]) -> x: real { maximize lambda_min(A + x * B) }");
    assert_eq!(low.class.family, Family::Sdp, "{}", low.class.reason);
    let x = output(&low, inputs([0.0, 3.0, 5.0], [1.0, -1.0, 0.0]), "x").data[0];
    assert!((x - 1.5).abs() < POINT_TOL, "lambda_min: x = {x}");
    // min(x, 3 − x, 5) − x²: x = ½ with the first eigenvalue alone the least,
    // so x = b₁/2 and ∂x/∂B = ½v₁v₁ᵀ, ∂x/∂A = 0.
    let smooth =
        node_src("node f(A: sym[n, n], B: sym[n, n]) -> x: real { maximize lambda_min(A + x * B) - square(x) }");
    let x = output(&smooth, inputs([0.0, 3.0, 5.0], [1.0, -1.0, 0.0]), "x").data[0];
    assert!((x - 0.5).abs() < POINT_TOL, "lambda_min − x²: x = {x}");
    let g = check(&smooth, inputs([0.0, 3.0, 5.0], [1.0, -1.0, 0.0]), vec![("x".into(), Tensor::scalar(1.0))]);
    let uu: f64 = u.iter().map(|x| x * x).sum();
    let v: Vec<f64> = (0..3).map(|i| if i == 0 { 1.0 } else { 0.0 } - 2.0 * u[i] * u[0] / uu).collect();
    for k in 0..9 {
        assert!(g[0].data[k].abs() < 1e-6, "∂x/∂A = {:?}", g[0].data);
        assert!((g[1].data[k] - 0.5 * v[k / 3] * v[k % 3]).abs() < 1e-6, "∂x/∂B = {:?}", g[1].data);
    }
    // Of data: the evaluator's value (the top eigenvalue) and its VJP (vvᵀ),
    // against differences.
    let data = node_src("node f(A: sym[n, n]) -> t: real { minimize t\nsubject to { t >= lambda_max(A) } }");
    let a = with_spectrum(&[0.5, -2.0, 1.25], &u);
    let t = output(&data, json!({ "A": rows(3, &a) }), "t").data[0];
    assert!((t - 1.25).abs() < REF_TOL * 2.25, "lambda_max(A) = {t}");
    check(&data, json!({ "A": rows(3, &a) }), vec![("t".into(), Tensor::scalar(1.0))]);
}
