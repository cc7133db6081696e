//! The matrix atoms reduced to positive semidefinite cones — `log_det`,
//! `nuclear_norm`, `matrix_frac` — solved against closed forms (the inverse
//! of a covariance, the Steiner inellipse of a triangle, a nearest
//! correlation matrix with a log-det barrier, singular values and their soft
//! thresholding, a generalised least-norm point), their backward passes
//! against central differences and closed forms, and their values and
//! gradients on data. Matrices are built with known spectra (Householder
//! reflections of diagonals), so the closed forms need no eigensolver.

use ddn::eval::Tensor;
use ddn::ir::Family;
use ddn::runtime::{bind, forward, named_tensors, Options, Solved, Status};
use ddn::solve::Settings;
use serde_json::{json, Value};

use super::backward::{check, check_with, node_src, Stencil};
use super::psd_cone::{output, rows, with_spectrum, POINT_TOL, REF_TOL};

/// `H = I − 2uuᵀ/uᵀu`, row-major: symmetric and orthogonal.
fn householder(u: &[f64]) -> Vec<f64> {
    let n = u.len();
    let uu: f64 = u.iter().map(|x| x * x).sum();
    (0..n * n).map(|k| if k / n == k % n { 1.0 } else { 0.0 } - 2.0 * u[k / n] * u[k % n] / uu).collect()
}

/// `Σₖ σₖ uₖ vₖᵀ` (`m × n`, row-major) with `uₖ`, `vₖ` the columns of the
/// reflections of `a` (length m) and `b` (length n): singular values `σ`.
fn with_singular_values(sigma: &[f64], a: &[f64], b: &[f64]) -> Vec<f64> {
    let (m, n) = (a.len(), b.len());
    let (u, v) = (householder(a), householder(b));
    (0..m * n).map(|k| (0..sigma.len()).map(|l| u[(k / n) * m + l] * sigma[l] * v[(k % n) * n + l]).sum()).collect()
}

/// Row-major `a · b` of `m × k` and `k × n`.
fn product(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    (0..m * n).map(|e| (0..k).map(|l| a[(e / n) * k + l] * b[l * n + e % n]).sum()).collect()
}

/// A forward at default settings, optimal.
fn solved(node: &ddn::analysis::Analysed<'_>, inputs: &Value) -> Solved {
    let s = forward(
        node,
        &bind(node, &named_tensors(inputs).expect("inputs")).expect("bind"),
        &Options::default().with_settings(Settings::default()),
    )
    .expect("forward");
    assert_eq!(s.status, Status::Optimal, "{:?}", s.info);
    s
}

/// The backward pass at a forward at tight tolerances (`optimal`, or
/// `optimal_inaccurate` where the interior point method stalls first).
fn gradients(node: &ddn::analysis::Analysed<'_>, inputs: &Value, cot: &[(String, Tensor)]) -> Vec<Tensor> {
    let b = bind(node, &named_tensors(inputs).expect("inputs")).expect("bind");
    let t = 1e-12;
    let tight = Settings { tol_gap_abs: t, tol_gap_rel: t, tol_feas: t, ..Settings::default() };
    let mut s = forward(node, &b, &Options::default().with_settings(tight.clone())).expect("forward");
    assert!(matches!(s.status, Status::Optimal | Status::OptimalInaccurate), "{:?}", s.info);
    ddn::diff::backward(node, &b, &mut s, cot).expect("backward")
}

/// The optimal value of the cone program (a `maximize` node's negated).
fn objective(s: &Solved) -> f64 {
    s.info.objective().expect("objective")
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    let err = got.iter().zip(want).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(err < tol, "{what}: ‖got − want‖∞ = {err:.2e}\n got {got:?}\nwant {want:?}");
}

// ----------------------------------------------------------------- log_det ---

/// `maximize log det X − tr(SX)` is `X = S⁻¹` (the Gaussian maximum-likelihood
/// precision for covariance S); with cotangent V on X, `dL/dS = −X sym(V) X`,
/// symmetric. Against the closed form and central differences.
#[test]
fn log_det_minus_a_trace_is_maximised_at_the_inverse() {
    let node = node_src("node f(S: psd[n, n]) -> X: sym[n, n] { maximize log_det(X) - trace(S @ X) }");
    assert_eq!(node.class.family, Family::Sdp, "{}", node.class.reason);
    let (lambda, u) = ([2.0, 0.5, 1.25, 4.0], [0.3, -0.8, 0.5, 1.0]);
    let s = with_spectrum(&lambda, &u);
    let x = output(&node, json!({ "S": rows(4, &s) }), "X");
    let inverse = with_spectrum(&lambda.map(|l| 1.0 / l), &u);
    assert_close("X = S⁻¹", &x.data, &inverse, POINT_TOL);
    let v: Vec<f64> = (0..16).map(|k| ((k * 5 % 7) as f64 - 3.0) / 4.0).collect();
    let g = check_with(
        &node,
        json!({ "S": rows(4, &s) }),
        vec![("X".into(), Tensor::matrix(4, 4, v.clone()))],
        Stencil::FivePoint,
    );
    let sym_v: Vec<f64> = (0..16).map(|k| 0.5 * (v[k] + v[(k % 4) * 4 + k / 4])).collect();
    let want: Vec<f64> = product(&product(&inverse, &sym_v, 4, 4, 4), &inverse, 4, 4, 4).iter().map(|x| -x).collect();
    assert_close("dL/dS = −X sym(V) X", &g[0].data, &want, 1e-6);
}

/// Hadamard: `maximize log det X s.t. diag X = d` is `X = diag d`, value
/// `Σ log dᵢ`; through an objective whose other term is an equality.
#[test]
fn log_det_under_a_fixed_diagonal_is_hadamards_bound() {
    let node = node_src("node f(d: pos[n]) -> X: sym[n, n] { maximize log_det(X)\nsubject to { diag(X) == d } }");
    assert_eq!(node.class.family, Family::Sdp, "{}", node.class.reason);
    let d = [0.5, 2.0, 1.5];
    let x = output(&node, json!({ "d": d }), "X");
    let want: Vec<f64> = (0..9).map(|k| if k / 3 == k % 3 { d[k / 3] } else { 0.0 }).collect();
    assert_close("X = diag d", &x.data, &want, POINT_TOL);
    // dX/dd = the diagonal's unit matrices: L = Σ vᵢ Xᵢᵢ has dL/dd = v.
    let v = [0.3, -1.0, 0.7];
    let mut cot = vec![0.0; 9];
    (0..3).for_each(|i| cot[i * 3 + i] = v[i]);
    let g = check_with(&node, json!({ "d": d }), vec![("X".into(), Tensor::matrix(3, 3, cot))], Stencil::FivePoint);
    assert_close("dL/dd", &g[0].data, &v, 1e-6);
}

/// The maximum-volume ellipsoid `{Bu + d : ‖u‖ ≤ 1}` in a triangle is its
/// Steiner inellipse: d the centroid g, `B² = Σₖ (vₖ − g)(vₖ − g)ᵀ / 6` (the
/// affine image of an equilateral triangle's incircle). `log_det` beside
/// second-order cones; the backward pass against central differences.
#[test]
fn max_det_ellipsoid_in_a_triangle_is_the_steiner_inellipse() {
    let node = node_src(
        "node mve(A: real[3, 2], b: real[3]) -> (B: sym[2, 2], d: real[2]) {
            maximize log_det(B)
            subject to {
                norm(B @ A[0, :]) + A[0, :] @ d <= b[0]
                norm(B @ A[1, :]) + A[1, :] @ d <= b[1]
                norm(B @ A[2, :]) + A[2, :] @ d <= b[2]
            }
        }",
    );
    assert_eq!(node.class.family, Family::Sdp, "{}", node.class.reason);
    let v = [[0.0, 0.0], [3.0, 0.5], [1.0, 2.0]];
    // Edge (vᵢ, vⱼ): the outward unit normal a ⟂ vⱼ − vᵢ, b = aᵀvᵢ.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (i, j, k) in [(0, 1, 2), (1, 2, 0), (2, 0, 1)] {
        let mut n = [v[i][1] - v[j][1], v[j][0] - v[i][0]];
        let sign = if n[0] * (v[k][0] - v[i][0]) + n[1] * (v[k][1] - v[i][1]) > 0.0 { -1.0 } else { 1.0 };
        let norm = f64::hypot(n[0], n[1]);
        n = [sign * n[0] / norm, sign * n[1] / norm];
        a.push(n.to_vec());
        b.push(n[0] * v[i][0] + n[1] * v[i][1]);
    }
    let inputs = json!({ "A": a, "b": b });
    let g = [(v[0][0] + v[1][0] + v[2][0]) / 3.0, (v[0][1] + v[1][1] + v[2][1]) / 3.0];
    let mut c = [0.0f64; 4];
    for p in &v {
        let e = [p[0] - g[0], p[1] - g[1]];
        (0..4).for_each(|k| c[k] += e[k / 2] * e[k % 2] / 6.0);
    }
    // √M for a 2 × 2 M ≻ 0: (M + √det M · I) / √(tr M + 2√det M).
    let root_det = (c[0] * c[3] - c[1] * c[2]).sqrt();
    let scale = (c[0] + c[3] + 2.0 * root_det).sqrt();
    let want_b: Vec<f64> = (0..4).map(|k| (c[k] + if k % 3 == 0 { root_det } else { 0.0 }) / scale).collect();
    assert_close("B", &output(&node, inputs.clone(), "B").data, &want_b, POINT_TOL);
    assert_close("d", &output(&node, inputs.clone(), "d").data, &g, POINT_TOL);
    let cot = vec![
        ("B".into(), Tensor::matrix(2, 2, vec![0.4, -0.3, 0.2, 1.0])),
        ("d".into(), Tensor::vector(vec![-0.6, 0.5])),
    ];
    check_with(&node, inputs, cot, Stencil::FivePoint);
}

/// The nearest correlation matrix with a log-det barrier: `min ‖X − A‖²_F −
/// μ log det X s.t. diag X = 1`. At n = 2, `X = [[1, r], [r, 1]]` and r solves
/// `F = 4(r − a) + 2μr/(1 − r²) = 0` (bisection, independent of the cone
/// program), so `dr/da = 4/F_r` and `dr/dμ = −(2r/(1 − r²))/F_r` with
/// `F_r = 4 + 2μ(1 + r²)/(1 − r²)²`: the backward pass against those and
/// differences of re-solves.
#[test]
fn nearest_correlation_with_a_log_det_barrier() {
    let node = node_src(
        "node nc(A: sym[n, n], mu: pos) -> X: sym[n, n] {
            minimize sum_squares(X - A) - mu * log_det(X)
            subject to { diag(X) == ones(n) }
        }",
    );
    assert_eq!(node.class.family, Family::Sdp, "{}", node.class.reason);
    for (a, mu) in [(0.9, 0.5), (-1.4, 0.1), (0.3, 2.0)] {
        let slope = |r: f64| 4.0 * (r - a) + 2.0 * mu * r / (1.0 - r * r);
        let (mut lo, mut hi) = (-1.0 + 1e-15, 1.0 - 1e-15);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if slope(mid) > 0.0 {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let r = 0.5 * (lo + hi);
        let inputs = json!({ "A": [[2.0, a], [a, -1.0]], "mu": mu });
        let x = output(&node, inputs.clone(), "X");
        assert_close(&format!("a = {a}, μ = {mu}"), &x.data, &[1.0, r, r, 1.0], POINT_TOL);
        // L = X₁₂ (cotangent ½ on each off-diagonal entry): dL/dA₁₂ + dL/dA₂₁ = dr/da.
        let f_r = 4.0 + 2.0 * mu * (1.0 + r * r) / (1.0 - r * r).powi(2);
        let g = gradients(&node, &inputs, &[("X".into(), Tensor::matrix(2, 2, vec![0.0, 0.5, 0.5, 0.0]))]);
        assert!((g[0].data[1] + g[0].data[2] - 4.0 / f_r).abs() < 1e-6, "dr/da = {:?} vs {}", g[0].data, 4.0 / f_r);
        let dmu = -2.0 * r / (1.0 - r * r) / f_r;
        assert!((g[1].data[0] - dmu).abs() < 1e-6, "dr/dμ = {} vs {dmu}", g[1].data[0]);
    }
    check_with(
        &node,
        json!({ "A": [[2.0, 0.9], [0.9, -1.0]], "mu": 0.5 }),
        vec![("X".into(), Tensor::matrix(2, 2, vec![0.3, -1.0, 0.5, 0.2]))],
        Stencil::FivePoint,
    );
}

/// `log_det` of data: the evaluator's value `Σ log λᵢ` and its gradient `A⁻¹`
/// (through the node's data kernel) against differences; outside the domain a
/// clear error.
#[test]
fn log_det_of_data_and_its_gradient() {
    let node = node_src("node f(A: psd[n, n]) -> t: real { minimize t\nsubject to { t >= log_det(A) } }");
    let (lambda, u) = ([0.5, 3.0, 1.25], [0.6, -0.2, 0.9]);
    let a = with_spectrum(&lambda, &u);
    let t = output(&node, json!({ "A": rows(3, &a) }), "t").data[0];
    let want: f64 = lambda.iter().map(|l| l.ln()).sum();
    assert!((t - want).abs() < REF_TOL * (1.0 + want.abs()), "log det A = {t} vs {want}");
    let g = check(&node, json!({ "A": rows(3, &a) }), vec![("t".into(), Tensor::scalar(1.0))]);
    assert_close("d log det A / dA = A⁻¹", &g[0].data, &with_spectrum(&lambda.map(|l| 1.0 / l), &u), 1e-6);
    let node = node_src("node f(A: sym[n, n]) -> t: real { minimize t\nsubject to { t >= log_det(A) } }");
    let b = bind(&node, &named_tensors(&json!({ "A": [[1.0, 2.0], [2.0, 1.0]] })).expect("inputs")).expect("bind");
    let err = forward(&node, &b, &Options::default().with_settings(Settings::default()))
        .map(|_| ())
        .expect_err("log det of an indefinite matrix");
    assert!(format!("{err}").contains("positive definite"), "{err}");
}

// ------------------------------------------------------------ nuclear_norm ---

/// `minimize nuclear_norm(X) s.t. X = A` is `Σ σᵢ(A)`, for tall, wide and
/// square A; of data, the value and its gradient `UVᵀ` against differences.
#[test]
fn nuclear_norm_is_the_sum_of_the_singular_values() {
    let node = node_src("node f(A: real[m, n]) -> X: real[m, n] { minimize nuclear_norm(X)\nsubject to { X == A } }");
    assert_eq!(node.class.family, Family::Sdp, "{}", node.class.reason);
    let data = node_src("node f(A: real[m, n]) -> t: real { minimize t\nsubject to { t >= nuclear_norm(A) } }");
    for (sigma, a, b) in [
        (vec![3.0, 0.5], vec![0.4, -0.9, 0.3], vec![1.0, 0.25]),
        (vec![2.0, 1.0], vec![0.7, 0.2], vec![0.1, -0.5, 0.8, 0.3]),
        (vec![1.5, 1.0, 0.25], vec![0.2, 0.6, -0.4], vec![0.9, -0.1, 0.3]),
    ] {
        let (m, n) = (a.len(), b.len());
        let inputs = json!({ "A": rows(n, &with_singular_values(&sigma, &a, &b)) });
        let want: f64 = sigma.iter().sum();
        let got = objective(&solved(&node, &inputs));
        assert!((got - want).abs() < REF_TOL * (1.0 + want), "{m} × {n}: ‖A‖_* = {got} vs {want}");
        let t = output(&data, inputs.clone(), "t").data[0];
        assert!((t - want).abs() < 1e-12 * (1.0 + want), "{m} × {n}: ‖A‖_* of data = {t} vs {want}");
        // d‖A‖_*/dA = UVᵀ: the reflections' leading columns.
        let g = check(&data, inputs, vec![("t".into(), Tensor::scalar(1.0))]);
        assert_close("UVᵀ", &g[0].data, &with_singular_values(&vec![1.0; sigma.len()], &a, &b), 1e-9);
    }
}

/// Denoising, `min ½‖X − A‖²_F + λ‖X‖_*`, is singular value soft
/// thresholding, `X = Σ (σᵢ − λ)₊ uᵢvᵢᵀ`; with σ away from λ the solution is
/// unique and strictly complementary, and `dX/dλ = −Σ_{σᵢ > λ} uᵢvᵢᵀ`. The
/// backward pass against that and central differences in A and λ.
#[test]
fn nuclear_norm_denoising_is_singular_value_soft_thresholding() {
    let node = node_src(
        "node denoise(A: real[m, n], lam: pos) -> X: real[m, n] { minimize 0.5 * sum_squares(X - A) + lam * nuclear_norm(X) }",
    );
    assert_eq!(node.class.family, Family::Sdp, "{}", node.class.reason);
    let (sigma, a, b, lam) = ([3.0, 1.5, 0.4], [0.2, 0.6, -0.4, 0.5], [0.9, -0.1, 0.3], 1.0);
    let inputs = json!({ "A": rows(3, &with_singular_values(&sigma, &a, &b)), "lam": lam });
    let x = output(&node, inputs.clone(), "X");
    let shrunk: Vec<f64> = sigma.iter().map(|s| (s - lam).max(0.0)).collect();
    assert_close("X", &x.data, &with_singular_values(&shrunk, &a, &b), POINT_TOL);
    let v: Vec<f64> = (0..12).map(|k| ((k * 7 % 5) as f64 - 2.0) / 3.0).collect();
    let g = check_with(&node, inputs, vec![("X".into(), Tensor::matrix(4, 3, v.clone()))], Stencil::FivePoint);
    let kept: Vec<f64> = sigma.iter().map(|&s| if s > lam { 1.0 } else { 0.0 }).collect();
    let dx = with_singular_values(&kept, &a, &b);
    let want: f64 = -v.iter().zip(&dx).map(|(p, q)| p * q).sum::<f64>();
    assert!((g[1].data[0] - want).abs() < 1e-6, "dL/dλ = {} vs {want}", g[1].data[0]);
}

// ------------------------------------------------------------- matrix_frac ---

/// `min xᵀP⁻¹x s.t. cᵀx = 1` is `x = Pc/(cᵀPc)`, value `1/(cᵀPc)`; the
/// backward pass in P (symmetric) and c against the derivatives of that
/// closed form. (Not against re-solves: perturbed instances stall with
/// primal residuals of ~2·10⁻⁸, see the report of issue 16.)
#[test]
fn matrix_frac_least_norm_point_in_a_metric() {
    let node = node_src(
        "node f(P: psd[n, n], c: real[n]) -> x: real[n] { minimize matrix_frac(x, P)\nsubject to { c @ x == 1 } }",
    );
    assert_eq!(node.class.family, Family::Sdp, "{}", node.class.reason);
    let p = with_spectrum(&[2.0, 0.5, 1.0], &[0.3, 0.8, -0.5]);
    let c = [1.0, -0.5, 2.0];
    let pc: Vec<f64> = (0..3).map(|i| (0..3).map(|j| p[i * 3 + j] * c[j]).sum()).collect();
    let cpc: f64 = c.iter().zip(&pc).map(|(a, b)| a * b).sum();
    let inputs = json!({ "P": rows(3, &p), "c": c });
    let s = solved(&node, &inputs);
    assert!((objective(&s) - 1.0 / cpc).abs() < REF_TOL, "{} vs {}", objective(&s), 1.0 / cpc);
    let x = &s.outputs[0].1;
    assert_close("x = Pc/cᵀPc", &x.data, &pc.iter().map(|v| v / cpc).collect::<Vec<_>>(), POINT_TOL);
    // L = vᵀx: dL/dP = sym(vcᵀ)/cᵀPc − (vᵀPc) ccᵀ/(cᵀPc)², dL/dc = Pv/cᵀPc − 2(vᵀPc) Pc/(cᵀPc)².
    let v = [0.5, 1.0, -0.7];
    let g = gradients(&node, &inputs, &[("x".into(), Tensor::vector(v.to_vec()))]);
    let vpc: f64 = v.iter().zip(&pc).map(|(a, b)| a * b).sum();
    let dp: Vec<f64> = (0..9)
        .map(|k| {
            let (i, j) = (k / 3, k % 3);
            0.5 * (v[i] * c[j] + v[j] * c[i]) / cpc - vpc * c[i] * c[j] / (cpc * cpc)
        })
        .collect();
    assert_close("dL/dP", &g[0].data, &dp, 1e-6);
    let pv: Vec<f64> = (0..3).map(|i| (0..3).map(|j| p[i * 3 + j] * v[j]).sum()).collect();
    let dc: Vec<f64> = (0..3).map(|i| pv[i] / cpc - 2.0 * vpc * pc[i] / (cpc * cpc)).collect();
    assert_close("dL/dc", &g[1].data, &dc, 1e-6);
}

/// The same least-norm point asked for at tolerance 1e-11: `optimal`, and
/// closer to `Pc/cᵀPc` than at the default. The PSD block is singular at the
/// optimum; the combined step's `Δs` offset recomputed `s` through the NT
/// factors, and its rounding in s's small eigendirections made `Δτ` noise
/// below gaps of 1e-10 (the primal residual jumped from 1.5e-11 to 1.7e-8 and
/// the iterations stopped `optimal_inaccurate` at a gap of 2.8e-11, 8.3e-7
/// from the closed form). Clarabel.rs 0.11 takes the same iterates.
#[test]
fn matrix_frac_least_norm_point_at_a_tight_tolerance() {
    let node = node_src(
        "node f(P: psd[n, n], c: real[n]) -> x: real[n] { minimize matrix_frac(x, P)\nsubject to { c @ x == 1 } }",
    );
    let p = with_spectrum(&[2.0, 0.5, 1.0], &[0.3, 0.8, -0.5]);
    let c = [1.0, -0.5, 2.0];
    let pc: Vec<f64> = (0..3).map(|i| (0..3).map(|j| p[i * 3 + j] * c[j]).sum()).collect();
    let cpc: f64 = c.iter().zip(&pc).map(|(a, b)| a * b).sum();
    let inputs = json!({ "P": rows(3, &p), "c": c });
    let b = bind(&node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let t = 1e-11;
    let s = forward(
        &node,
        &b,
        &Options::default().with_settings(Settings {
            tol_gap_abs: t,
            tol_gap_rel: t,
            tol_feas: t,
            ..Settings::default()
        }),
    )
    .expect("forward");
    assert_eq!(s.status, Status::Optimal, "{:?}", s.info);
    assert_close("x = Pc/cᵀPc", &s.outputs[0].1.data, &pc.iter().map(|v| v / cpc).collect::<Vec<_>>(), 5e-7);
}

/// Jointly in a variable P: `min tr(YᵀP⁻¹Y) + tr P` is `P = (YYᵀ)^½`, value
/// `2‖Y‖_*` (for each eigenvalue μ of P, `s²/μ + μ` is least at μ = s); and
/// of data, the value and the gradients `2P⁻¹X`, `−P⁻¹XXᵀP⁻¹` against differences.
#[test]
fn matrix_frac_in_both_arguments_and_of_data() {
    let node = node_src("node f(Y: real[n, k]) -> P: sym[n, n] { minimize matrix_frac(Y, P) + trace(P) }");
    assert_eq!(node.class.family, Family::Sdp, "{}", node.class.reason);
    let (sigma, a, b) = ([2.0, 0.5, 1.25], [0.3, -0.8, 0.5], [0.4, 0.1, -0.6, 0.9]);
    let inputs = json!({ "Y": rows(4, &with_singular_values(&sigma, &a, &b)) });
    let s = solved(&node, &inputs);
    let want: f64 = 2.0 * sigma.iter().sum::<f64>();
    assert!((objective(&s) - want).abs() < REF_TOL * (1.0 + want), "{} vs {want}", objective(&s));
    assert_close("P = (YYᵀ)^½", &s.outputs[0].1.data, &with_spectrum(&sigma, &a), POINT_TOL);
    let data = node_src(
        "node f(Y: real[n, k], P: psd[n, n]) -> t: real { minimize t\nsubject to { t >= matrix_frac(Y, P) } }",
    );
    let p = with_spectrum(&[2.0, 0.5, 1.0], &[0.3, 0.8, -0.5]);
    let y = with_singular_values(&sigma, &a, &b);
    let inputs = json!({ "Y": rows(4, &y), "P": rows(3, &p) });
    let t = output(&data, inputs.clone(), "t").data[0];
    // tr(YᵀP⁻¹Y) with P⁻¹ of the reflected spectrum.
    let inv = with_spectrum(&[0.5, 2.0, 1.0], &[0.3, 0.8, -0.5]);
    let yt: Vec<f64> = (0..12).map(|e| y[(e % 3) * 4 + e / 3]).collect();
    let want: f64 = (0..4).map(|k| product(&product(&yt, &inv, 4, 3, 3), &y, 4, 3, 4)[k * 4 + k]).sum();
    assert!((t - want).abs() < 1e-12 * (1.0 + want), "tr(YᵀP⁻¹Y) = {t} vs {want}");
    check(&data, inputs, vec![("t".into(), Tensor::scalar(1.0))]);
}

// ---------------------------------------------------------------- checking ---

/// The matrix atoms need affine arguments, the right curvature direction,
/// and matrices of the right shapes: each a diagnostic, never a panic.
#[test]
fn matrix_atoms_are_checked() {
    for (src, want) in [
        ("node f(A: real[3, 2]) -> t: real { minimize t\nsubject to { t >= -log_det(A) } }", "square matrix"),
        ("node f(a: real[3]) -> t: real { minimize t\nsubject to { t >= nuclear_norm(a) } }", "needs a matrix"),
        (
            "node f(a: real[3], P: psd[2, 2]) -> t: real { minimize t\nsubject to { t >= matrix_frac(a, P) } }",
            "matrix_frac",
        ),
    ] {
        let c = ddn::compile("t.ddn", src);
        assert!(c.has_errors() && super::rendered(&c).contains(want), "{src}: {}", super::rendered(&c));
    }
    for src in [
        "node f(A: sym[2, 2]) -> X: sym[2, 2] { minimize log_det(X) + sum_squares(X - A) }",
        "node f(A: sym[2, 2]) -> X: sym[2, 2] { maximize log_det(square(X)) - sum_squares(X - A) }",
        "node f(A: real[2, 3]) -> X: real[2, 3] { minimize nuclear_norm(abs(X)) + sum_squares(X - A) }",
    ] {
        let c = ddn::compile("t.ddn", src);
        assert!(c.has_errors() || c.program.nodes[0].class.family != Family::Sdp, "{src}: accepted as an SDP");
    }
}

// --------------------------------------------- an independent reference ---

/// The ddn node of each instance of tests/data/sdp/reference.json (written by
/// make_reference.py beside it: CVXPY with Clarabel, the same problems).
fn reference_node(name: &str, data: &Value) -> String {
    match name {
        "nearest_correlation" => {
            "node f(A: sym[n, n]) -> X: psd[n, n] { minimize sum_squares(X - A)\nsubject to { diag(X) == ones(n) } }"
                .into()
        }
        "nearest_correlation_log_det" => "node f(A: sym[n, n], mu: pos) -> X: sym[n, n] {
            minimize sum_squares(X - A) - mu * log_det(X)
            subject to { diag(X) == ones(n) }
        }"
        .into(),
        "max_det_ellipsoid" => {
            let m = data["A"].as_array().map_or(0, Vec::len);
            let rows: String =
                (0..m).map(|i| format!("        norm(B @ A[{i}, :]) + A[{i}, :] @ d <= b[{i}]\n")).collect();
            format!(
                "node f(A: real[m, n], b: real[m]) -> (B: sym[n, n], d: real[n]) {{\n    minimize -log_det(B)\n    subject to {{\n{rows}    }}\n}}"
            )
        }
        "nuclear_norm_completion" => "node f(A: real[m, n], M: real[m, n], lam: pos) -> X: real[m, n] {
            minimize sum_squares(M * (X - A)) + lam * nuclear_norm(X) + 0.1 * sum_squares(X)
        }"
        .into(),
        "matrix_frac_regression" => "node f(A: real[m, n], b: real[m], S: psd[m, m], lam: pos) -> w: real[n] {
            minimize matrix_frac(A @ w - b, S) + lam * norm1(w)
        }"
        .into(),
        "lambda_max_pencil" => "node f(A0: sym[n, n], A1: sym[n, n], A2: sym[n, n]) -> x: real[2] {
            minimize lambda_max(A0 + x[0] * A1 + x[1] * A2) + 0.1 * sum_squares(x)
        }"
        .into(),
        _ => panic!("reference.json has an instance `{name}` this test does not know"),
    }
}

/// Every instance of the reference: ddn's optimal value against CVXPY +
/// Clarabel's (to 10⁻⁷ relative: both solvers at 10⁻⁸ or tighter), and the
/// solution (unique in every instance) to [`POINT_TOL`].
#[test]
fn sdp_atoms_meet_the_cvxpy_reference() {
    let path = super::root().join("tests/data/sdp/reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reference: Value = serde_json::from_str(&text).expect("reference.json");
    let instances = reference["instances"].as_array().expect("instances");
    assert_eq!(instances.len(), 6);
    for case in instances {
        let name = case["name"].as_str().expect("name");
        let node = node_src(&reference_node(name, &case["data"]));
        assert_eq!(node.class.family, Family::Sdp, "{name}: {}", node.class.reason);
        let s = solved(&node, &case["data"]);
        let want = case["optimum"].as_f64().expect("optimum");
        let got = objective(&s);
        assert!((got - want).abs() < REF_TOL * (1.0 + want.abs()), "{name}: optimum {got} vs CVXPY {want}");
        for (output, value) in case["solution"].as_object().expect("solution") {
            let want: Vec<f64> = match value {
                Value::Array(rows) if rows.iter().all(Value::is_array) => rows
                    .iter()
                    .flat_map(|r| r.as_array().expect("row").iter().map(|v| v.as_f64().expect("entry")))
                    .collect(),
                Value::Array(v) => v.iter().map(|v| v.as_f64().expect("entry")).collect(),
                _ => panic!("{name}: `{output}` is not an array"),
            };
            let got = &s.outputs.iter().find(|(n, _)| n == output).expect("output").1;
            assert_close(&format!("{name}: {output}"), &got.data, &want, POINT_TOL);
        }
    }
}
