//! `quad_form(x, P)` in a constraint with a singular psd parameter P (issue 18):
//! the reduction takes `S = P^½`, which moves like √ε where P is singular, but the
//! backward differentiates the constraint in P itself. Each gradient is checked
//! against a closed form and against central differences of re-solves along
//! curves that keep P positive semidefinite.

use ddn::eval::Tensor;
use ddn::runtime::{bind, forward, named_tensors, Options, Status};
use ddn::solve::Settings;
use serde_json::{json, Value};

use super::backward::{assert_accurate, node_of};
use super::Rng;

fn tight() -> Settings {
    let t = 1e-12;
    Settings { tol_gap_abs: t, tol_gap_rel: t, tol_feas: t, ..Settings::default() }
}

fn node_src(src: &str) -> ddn::analysis::Analysed<'static> {
    let c = ddn::compile("t.ddn", src);
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    super::analysed(c.program.nodes.into_iter().next().expect("node"))
}

/// The backward pass through the recording (or its fallback) and through the
/// reductions afresh; the two agree.
fn gradients(node: &ddn::analysis::Analysed<'_>, inputs: &Value, cot: &[(String, Tensor)]) -> Vec<Tensor> {
    let b = bind(node, &named_tensors(inputs).expect("inputs")).expect("bind");
    let mut s = forward(node, &b, &Options::default().with_settings(tight())).expect("forward");
    assert_accurate(&s);
    let grads = ddn::diff::backward(node, &b, &mut s, cot).expect("backward");
    let mut unprepared = ddn::runtime::forward(node, &b, &Options::default().unprepared()).expect("forward");
    let other = ddn::diff::backward(node, &b, &mut unprepared, cot).expect("backward");
    for (g, h) in grads.iter().zip(&other) {
        for (a, b) in g.data.iter().zip(&h.data) {
            assert!((a - b).abs() < 1e-7 * (1.0 + b.abs()), "prepared {a} vs unprepared {b}");
        }
    }
    grads
}

/// `L = Σ ⟨v_k, output_k⟩` at a P on a PSD curve, which may be nearly singular
/// (an eigenvalue of order h²): solved at the tight settings, and accepted at the
/// IPM's reduced tolerances (a gap up to 1e-8) when the residuals are below 1e-9.
fn loss(node: &ddn::analysis::Analysed<'_>, inputs: &Value, cot: &[(String, Tensor)]) -> f64 {
    let b = bind(node, &named_tensors(inputs).expect("inputs")).expect("bind");
    let s = forward(node, &b, &Options::default().with_settings(tight())).expect("forward");
    let info = serde_json::to_value(&s.info).expect("info as JSON");
    let measure = |k: &str| info.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
    let near = measure("primal_residual") <= 1e-9 && measure("dual_residual") <= 1e-9 && measure("gap") <= 1e-8;
    assert!(s.status == Status::Optimal || (s.status == Status::OptimalInaccurate && near), "{:?}", s.info);
    cot.iter()
        .map(|(k, v)| {
            let o = &s.outputs.iter().find(|(n, _)| n == k).expect("output").1;
            o.data.iter().zip(&v.data).map(|(a, b)| a * b).sum::<f64>()
        })
        .sum()
}

/// `U diag(d) Uᵀ` for a rotation U of R³ (rows of `u`).
fn rotated(u: &[[f64; 3]; 3], d: [f64; 3]) -> Vec<Vec<f64>> {
    (0..3).map(|i| (0..3).map(|j| (0..3).map(|k| u[k][i] * d[k] * u[k][j]).sum()).collect()).collect()
}

/// An orthonormal basis of R³ (rows), from Gram–Schmidt on seeded vectors.
fn basis(rng: &mut Rng) -> [[f64; 3]; 3] {
    let mut u = [[0.0; 3]; 3];
    for k in 0..3 {
        let mut v = [rng.next(), rng.next(), rng.next()];
        for p in u.iter().take(k) {
            let d: f64 = (0..3).map(|i| v[i] * p[i]).sum();
            (0..3).for_each(|i| v[i] -= d * p[i]);
        }
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        u[k] = v.map(|x| x / n);
    }
    u
}

/// `u vᵀ + v uᵀ` (or `u uᵀ` for u = v).
fn sym_outer(u: &[f64], v: &[f64], same: bool) -> Vec<Vec<f64>> {
    let n = u.len();
    (0..n).map(|i| (0..n).map(|j| if same { u[i] * u[j] } else { u[i] * v[j] + v[i] * u[j] }).collect()).collect()
}

/// `⟨G, E⟩` for a gradient G and a direction E (both n × n).
fn along(g: &Tensor, e: &[Vec<f64>]) -> f64 {
    let n = e.len();
    (0..n * n).map(|k| g.data[k] * e[k / n][k % n]).sum()
}

/// The derivative of `L(P)` along every basis direction of the symmetric
/// matrices in P's eigenbasis `u` (eigenvalues `d`, the last one 0), by re-solves
/// along curves that stay PSD: `P + hE` two-sided within the range;
/// `P + h(u_k u₃ᵀ + u₃ u_kᵀ) + h²(2/d_k) u₃u₃ᵀ` (PSD by its Schur complement;
/// the h² term cancels in the central difference) across range and null space;
/// and the one-sided `(−3L(0) + 4L(h) − L(2h))/2h` along `P + h u₃u₃ᵀ`, all
/// with h = 1e-3 (truncation O(h²), the solves' error over h of the same order).
/// Asserts each against `⟨G, E⟩` to 1e-5 relative.
fn psd_differences(
    node: &ddn::analysis::Analysed<'_>,
    inputs: &Value,
    cot: &[(String, Tensor)],
    u: &[[f64; 3]; 3],
    d: [f64; 3],
    g: &Tensor,
) {
    let p = rotated(u, d);
    let at = |e: &[Vec<f64>], f: &[Vec<f64>], h: f64| {
        let moved: Vec<Vec<f64>> =
            (0..3).map(|i| (0..3).map(|j| p[i][j] + h * e[i][j] + h * h * f[i][j]).collect()).collect();
        let mut v = inputs.clone();
        v["P"] = json!(moved);
        loss(node, &v, cot)
    };
    let h = 1e-3;
    let zero = vec![vec![0.0; 3]; 3];
    for k in 0..3 {
        for l in k..3 {
            let e = sym_outer(&u[k], &u[l], k == l);
            let numeric = match (k, l) {
                (2, 2) => (-3.0 * at(&e, &zero, 0.0) + 4.0 * at(&e, &zero, h) - at(&e, &zero, 2.0 * h)) / (2.0 * h),
                (_, 2) => {
                    let f: Vec<Vec<f64>> = sym_outer(&u[2], &u[2], true)
                        .into_iter()
                        .map(|r| r.into_iter().map(|x| x * 2.0 / d[k]).collect())
                        .collect();
                    (at(&e, &f, h) - at(&e, &f, -h)) / (2.0 * h)
                }
                _ => (at(&e, &zero, h) - at(&e, &zero, -h)) / (2.0 * h),
            };
            let analytic = along(g, &e);
            assert!(
                (numeric - analytic).abs() <= 1e-5 * (1.0 + numeric.abs()),
                "direction ({k}, {l}): backward {analytic}, differences {numeric}"
            );
        }
    }
}

/// The projection onto `{x : xᵀPx ≤ 1}` with `P = diag(1, 0)` (a slab) from
/// `y = (3, 2)`: `x* = (1, 2)`, λ = 2, and by hand (implicit differentiation of
/// `x − y + λPx = 0`, `xᵀPx = 1`) `dx₁ = −(e₁₁ + 4e₁₂ + 4e₂₂)/2`,
/// `dx₂ = −2e₁₂ − 4e₂₂` for `dP = [e₁₁ e₁₂; e₁₂ e₂₂]`: so for `L = vᵀx` the
/// symmetric gradient is `[−v₁/2, −v₁ − v₂; −v₁ − v₂, −2v₁ − 4v₂]`. Its (2, 2)
/// entry is the one the root cannot give (S moves like √ε along it).
#[test]
fn the_projection_onto_a_slab_has_the_hand_derived_gradient() {
    let node = node_of("stdlib/ellipsoid.ddn", "project_ellipsoid");
    let v = [0.7, -1.3];
    let inputs = json!({"y": [3.0, 2.0], "P": [[1.0, 0.0], [0.0, 0.0]], "x0": [0.0, 0.0]});
    let cot = vec![("x".to_string(), Tensor::vector(v.to_vec()))];
    let b = bind(&node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let s = forward(&node, &b, &Options::default().with_settings(tight())).expect("forward");
    let (x, lam) = (&s.outputs[0].1.data, s.outputs[1].1.data[0]);
    assert!((x[0] - 1.0).abs() < 1e-9 && (x[1] - 2.0).abs() < 1e-9 && (lam - 2.0).abs() < 1e-8, "{x:?}, λ = {lam}");
    let g = &gradients(&node, &inputs, &cot)[1];
    let want = [-v[0] / 2.0, -v[0] - v[1], -v[0] - v[1], -2.0 * v[0] - 4.0 * v[1]];
    for (k, (a, w)) in g.data.iter().zip(want).enumerate() {
        assert!((a - w).abs() < 1e-7, "dP entry {k}: {a} vs {w}");
    }
}

/// `project_ellipsoid` at a seeded rank-2 P in R³ (a rotated elliptic
/// cylinder): x* and λ against bisection on the secular equation
/// `Σ dᵢwᵢ²/(1 + λdᵢ)² = 1` (w = Uᵀ(y − x0)); every gradient, for a loss on x and
/// on the multiplier, against implicit differentiation of `x − y + λP(x − x0) = 0`,
/// `aᵀPa = 1` (a = x − x0) solved densely here, and against central differences
/// (P along PSD curves).
#[test]
fn the_projection_onto_a_cylinder_matches_its_closed_form_and_differences() {
    use faer::linalg::solvers::Solve;
    let node = node_of("stdlib/ellipsoid.ddn", "project_ellipsoid");
    let mut rng = Rng(0x5149);
    let u = basis(&mut rng);
    let d = [1.5 + rng.next().abs(), 0.5 + rng.next().abs(), 0.0];
    let p = rotated(&u, d);
    let (x0, v, v_lam) = (rng.vec(3), rng.vec(3), 0.4);
    // y well outside along both range directions.
    let y: Vec<f64> = (0..3).map(|i| x0[i] + 2.0 * u[0][i] - 1.5 * u[1][i] + 0.7 * u[2][i]).collect();
    let inputs = json!({"y": y, "P": p, "x0": x0});
    let cot = vec![("x".to_string(), Tensor::vector(v.clone())), ("inside".to_string(), Tensor::scalar(v_lam))];

    // The closed form: λ by bisection, then x = x0 + U(I + λD)⁻¹Uᵀ(y − x0).
    let w: Vec<f64> = (0..3).map(|k| (0..3).map(|i| u[k][i] * (y[i] - x0[i])).sum()).collect();
    let g = |lam: f64| (0..3).map(|k| d[k] * w[k] * w[k] / (1.0 + lam * d[k]).powi(2)).sum::<f64>() - 1.0;
    let (mut lo, mut hi) = (0.0, 1e3);
    assert!(g(lo) > 0.0 && g(hi) < 0.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if g(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let lam = 0.5 * (lo + hi);
    let x: Vec<f64> =
        (0..3).map(|i| x0[i] + (0..3).map(|k| u[k][i] * w[k] / (1.0 + lam * d[k])).sum::<f64>()).collect();
    let b = bind(&node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let s = forward(&node, &b, &Options::default().with_settings(tight())).expect("forward");
    for i in 0..3 {
        assert!((s.outputs[0].1.data[i] - x[i]).abs() < 1e-8, "x[{i}] {} vs {}", s.outputs[0].1.data[i], x[i]);
    }
    assert!((s.outputs[1].1.data[0] - lam).abs() < 1e-8, "λ {} vs {lam}", s.outputs[1].1.data[0]);

    // Implicit differentiation: J = [I + λP, Pa; 2(Pa)ᵀ, 0], ξ = J⁻ᵀ(v, v_λ);
    // dL/dy = ξ_x, dL/dx0 = λPξ_x + 2ξ_λ Pa, dL/dP = −λ sym(ξ_x aᵀ) − ξ_λ aaᵀ.
    let a: Vec<f64> = (0..3).map(|i| x[i] - x0[i]).collect();
    let pa: Vec<f64> = (0..3).map(|i| (0..3).map(|j| p[i][j] * a[j]).sum()).collect();
    let j = faer::Mat::from_fn(4, 4, |r, c| match (r, c) {
        (3, 3) => 0.0,
        (3, c) => 2.0 * pa[c],
        (r, 3) => pa[r],
        (r, c) => lam * p[r][c] + if r == c { 1.0 } else { 0.0 },
    });
    let rhs = faer::Mat::from_fn(4, 1, |r, _| if r < 3 { v[r] } else { v_lam });
    let xi = j.transpose().to_owned().partial_piv_lu().solve(&rhs);
    let grads = gradients(&node, &inputs, &cot);
    for i in 0..3 {
        let dx0 = lam * (0..3).map(|k| p[i][k] * xi[(k, 0)]).sum::<f64>() + 2.0 * xi[(3, 0)] * pa[i];
        assert!((grads[0].data[i] - xi[(i, 0)]).abs() < 1e-7, "dy[{i}]: {} vs {}", grads[0].data[i], xi[(i, 0)]);
        assert!((grads[2].data[i] - dx0).abs() < 1e-7, "dx0[{i}]: {} vs {dx0}", grads[2].data[i]);
        for k in 0..3 {
            let dp = -lam * 0.5 * (xi[(i, 0)] * a[k] + a[i] * xi[(k, 0)]) - xi[(3, 0)] * a[i] * a[k];
            assert!((grads[1].data[i * 3 + k] - dp).abs() < 1e-7, "dP[{i},{k}]: {} vs {dp}", grads[1].data[i * 3 + k]);
        }
    }
    psd_differences(&node, &inputs, &cot, &u, d, &grads[1]);
}

/// Issue 18's node at a singular P, `min cᵀx s.t. (x − x0)ᵀP(x − x0) ≤ 1`, with
/// the null direction pinned (`aᵀx = β`, a = e₃) so the solution is unique.
/// With `P = [R p; pᵀ π]` (R ≻ 0 the range block, p = 0 and π = 0 at the base),
/// δ = β − x0₃ and u = x₁₂ − x0₁₂, completing the square gives
/// `u* = −δR⁻¹p − r R⁻¹c₁₂ / √(c₁₂ᵀR⁻¹c₁₂)`, `r² = 1 − πδ² + δ²pᵀR⁻¹p`: a closed
/// form in every entry of P (singular or not) whose derivatives, taken by
/// differences of the formula, the backward pass must match; and central
/// differences of re-solves along PSD curves.
#[test]
fn the_ellipsoid_node_at_a_singular_matrix_matches_its_closed_form() {
    let node = node_src(
        "node ellipsoid(c: real[n], P: psd[n, n], x0: real[n], a: real[n], beta: real) -> x: real[n] {
            minimize c @ x
            subject to {
                quad_form(x - x0, P) <= 1
                a @ x == beta
            }
        }",
    );
    let mut rng = Rng(0x18);
    let r = [[1.2 + rng.next().abs(), 0.3 * rng.next()], [0.0, 0.6 + rng.next().abs()]];
    let base = [[r[0][0], r[0][1], 0.0], [r[0][1], r[1][1], 0.0], [0.0, 0.0, 0.0]];
    let (c, x0, v) = (rng.vec(3), rng.vec(3), rng.vec(3));
    let beta = x0[2] + 0.8;
    let closed = |c: &[f64], p: &[[f64; 3]; 3], x0: &[f64], beta: f64| -> [f64; 3] {
        let det = p[0][0] * p[1][1] - p[0][1] * p[1][0];
        let rinv = |z: [f64; 2]| [(p[1][1] * z[0] - p[0][1] * z[1]) / det, (p[0][0] * z[1] - p[1][0] * z[0]) / det];
        let delta = beta - x0[2];
        let pv = [0.5 * (p[0][2] + p[2][0]), 0.5 * (p[1][2] + p[2][1])];
        let rp = rinv(pv);
        let rc = rinv([c[0], c[1]]);
        let radius = (1.0 - p[2][2] * delta * delta + delta * delta * (pv[0] * rp[0] + pv[1] * rp[1])).sqrt();
        let norm = (c[0] * rc[0] + c[1] * rc[1]).sqrt();
        [x0[0] - delta * rp[0] - radius * rc[0] / norm, x0[1] - delta * rp[1] - radius * rc[1] / norm, beta]
    };
    let lossf = |c: &[f64], p: &[[f64; 3]; 3], x0: &[f64], beta: f64| -> f64 {
        closed(c, p, x0, beta).iter().zip(&v).map(|(a, b)| a * b).sum()
    };
    let inputs = json!({"c": c, "P": base, "x0": x0, "a": [0.0, 0.0, 1.0], "beta": beta});
    let cot = vec![("x".to_string(), Tensor::vector(v.clone()))];
    let b = bind(&node, &named_tensors(&inputs).expect("inputs")).expect("bind");
    let s = forward(&node, &b, &Options::default().with_settings(tight())).expect("forward");
    let want = closed(&c, &base, &x0, beta);
    for i in 0..3 {
        assert!((s.outputs[0].1.data[i] - want[i]).abs() < 1e-8, "x[{i}] {} vs {}", s.outputs[0].1.data[i], want[i]);
    }
    let grads = gradients(&node, &inputs, &cot);
    let h = 1e-6;
    let close = |a: f64, b: f64, what: &str| assert!((a - b).abs() < 1e-6 * (1.0 + b.abs()), "{what}: {a} vs {b}");
    for i in 0..3 {
        let (mut cp, mut cm, mut xp, mut xm) = (c.clone(), c.clone(), x0.clone(), x0.clone());
        cp[i] += h;
        cm[i] -= h;
        xp[i] += h;
        xm[i] -= h;
        close(grads[0].data[i], (lossf(&cp, &base, &x0, beta) - lossf(&cm, &base, &x0, beta)) / (2.0 * h), "dc");
        close(grads[2].data[i], (lossf(&c, &base, &xp, beta) - lossf(&c, &base, &xm, beta)) / (2.0 * h), "dx0");
        for k in i..3 {
            // The formula is smooth in P, so P may leave the PSD cone here.
            let moved = |t: f64| {
                let mut p = base;
                p[i][k] += t;
                if i != k {
                    p[k][i] += t;
                }
                lossf(&c, &p, &x0, beta)
            };
            let numeric = (moved(h) - moved(-h)) / (2.0 * h);
            let analytic = if i == k { grads[1].data[i * 3 + k] } else { 2.0 * grads[1].data[i * 3 + k] };
            close(analytic, numeric, &format!("dP[{i},{k}]"));
        }
    }
    close(grads[4].data[0], (lossf(&c, &base, &x0, beta + h) - lossf(&c, &base, &x0, beta - h)) / (2.0 * h), "dβ");
    let d = {
        // R's eigenvalues in the basis of its eigenvectors: rotate the test's
        // curves into P's eigenbasis (R's eigenvectors, then e₃).
        let (p00, p01, p11) = (base[0][0], base[0][1], base[1][1]);
        let tr = 0.5 * (p00 + p11);
        let disc = (0.25 * (p00 - p11).powi(2) + p01 * p01).sqrt();
        [tr + disc, tr - disc, 0.0]
    };
    let theta = 0.5 * (2.0 * base[0][1]).atan2(base[0][0] - base[1][1]);
    let u = [[theta.cos(), theta.sin(), 0.0], [-theta.sin(), theta.cos(), 0.0], [0.0, 0.0, 1.0]];
    psd_differences(&node, &inputs, &cot, &u, d, &grads[1]);
}
