//! Entropic optimal transport: the Sinkhorn forward (kernel and log domain)
//! against its optimality conditions, an independent 2×2 solve and each other,
//! and the closed-form backward against a dense solve of the full KKT system and
//! against central differences of the forward.
// The paper's symbols: M, P, V, K are matrices.
#![allow(non_snake_case)]

use ddn::diff::{entropic_ot_vjp, OtGradients};
use ddn::runtime::Status;
use ddn::smooth::{marginal_error, sinkhorn, Domain, SinkhornSettings, SinkhornSolution};
use faer::linalg::solvers::Solve;
use faer::{Mat, MatRef};

use super::Rng;

/// The forward's marginal tolerance for the derivative checks: central
/// differences divide the forward's error by the step, so it must be tiny.
const TIGHT: f64 = 1e-14;
/// Central-difference step (relative for γ).
const STEP: f64 = 1e-5;
/// Backward vs central differences: O(STEP²) truncation plus TIGHT/STEP noise.
const FD_TOL: f64 = 1e-6;
/// Backward vs the dense KKT solve: both exact up to conditioning.
const KKT_TOL: f64 = 1e-9;

/// A seeded instance: costs in (0, 1), marginals positive and summing to 1.
fn instance(seed: u64, m: usize, n: usize) -> (Mat<f64>, Vec<f64>, Vec<f64>) {
    let mut rng = Rng(seed);
    let cost = Mat::from_fn(m, n, |_, _| 0.5 + 0.5 * rng.next());
    let mut marginal = |k: usize| {
        let v: Vec<f64> = (0..k).map(|_| 1.0 + 0.5 * rng.next()).collect();
        let s: f64 = v.iter().sum();
        v.into_iter().map(|x| x / s).collect::<Vec<f64>>()
    };
    let r = marginal(m);
    let c = marginal(n);
    (cost, r, c)
}

fn solve(M: MatRef<'_, f64>, r: &[f64], c: &[f64], gamma: f64, tol: f64) -> SinkhornSolution {
    let settings = SinkhornSettings { tol, max_iter: 100_000, ..SinkhornSettings::default() };
    let sol = sinkhorn(M, r, c, gamma, &settings).expect("valid input");
    assert_eq!(sol.status, Status::Optimal, "error {:e} after {} iterations", sol.marginal_error, sol.iterations);
    sol
}

fn max_abs_diff(a: impl IntoIterator<Item = f64>, b: impl IntoIterator<Item = f64>) -> f64 {
    a.into_iter().zip(b).fold(0.0f64, |e, (x, y)| e.max((x - y).abs()))
}

/// Stationarity `Mᵢⱼ + (1/γ)(log Pᵢⱼ + 1) = uᵢ + vⱼ` checked from P alone: Z =
/// M + (1/γ) log P must be a sum of a row and a column term, i.e. its double
/// centring (the least-squares residual of that fit) vanishes.
fn stationarity_residual(M: MatRef<'_, f64>, P: MatRef<'_, f64>, gamma: f64) -> f64 {
    let (m, n) = M.shape();
    let Z = Mat::from_fn(m, n, |i, j| M[(i, j)] + P[(i, j)].ln() / gamma);
    let row: Vec<f64> = (0..m).map(|i| (0..n).map(|j| Z[(i, j)]).sum::<f64>() / n as f64).collect();
    let col: Vec<f64> = (0..n).map(|j| (0..m).map(|i| Z[(i, j)]).sum::<f64>() / m as f64).collect();
    let all = row.iter().sum::<f64>() / m as f64;
    let mut worst = 0.0f64;
    for i in 0..m {
        for j in 0..n {
            worst = worst.max((Z[(i, j)] - row[i] - col[j] + all).abs());
        }
    }
    worst
}

#[test]
fn sinkhorn_plan_meets_the_optimality_conditions() {
    for (seed, m, n, gamma) in [(1, 3, 4, 1.0), (2, 5, 3, 10.0), (3, 8, 8, 50.0)] {
        let (M, r, c) = instance(seed, m, n);
        let sol = solve(M.as_ref(), &r, &c, gamma, 1e-12);
        let P = sol.P.as_ref();
        assert!(marginal_error(P, &r, &c) <= 1e-12);
        assert_eq!(sol.marginal_error, marginal_error(P, &r, &c));
        // The error is the larger of the two marginals' ℓ₁ violations.
        let rows: f64 = (0..m).map(|i| ((0..n).map(|j| P[(i, j)]).sum::<f64>() - r[i]).abs()).sum();
        let cols: f64 = (0..n).map(|j| ((0..m).map(|i| P[(i, j)]).sum::<f64>() - c[j]).abs()).sum();
        assert!((sol.marginal_error - rows.max(cols)).abs() <= 1e-15, "{} vs {}", sol.marginal_error, rows.max(cols));
        assert!(P.col_iter().flat_map(|col| col.iter().copied().collect::<Vec<_>>()).all(|p| p > 0.0));
        let res = stationarity_residual(M.as_ref(), P, gamma);
        assert!(res <= 1e-12 * (1.0 + 1.0 / gamma) * 10.0, "({m}×{n}, γ = {gamma}): stationarity residual {res:e}");
        // The returned potentials reproduce the plan: P = diag(α) K diag(β).
        for i in 0..m {
            for j in 0..n {
                let p = (gamma * (sol.f[i] + sol.g[j] - M[(i, j)])).exp();
                assert!((p - P[(i, j)]).abs() <= 1e-15);
            }
        }
    }
}

/// The 2×2 plan has one degree of freedom x = P₁₁; stationarity makes
/// `log x + log(r₂ − c₁ + x) − log(r₁ − x) − log(c₁ − x) = −γ(M₁₁ + M₂₂ − M₁₂ − M₂₁)`,
/// increasing in x on the feasible interval: solved here by bisection.
fn two_by_two(M: [[f64; 2]; 2], r: [f64; 2], c: [f64; 2], gamma: f64) -> [[f64; 2]; 2] {
    let delta = M[0][0] + M[1][1] - M[0][1] - M[1][0];
    let phi = |x: f64| x.ln() + (r[1] - c[0] + x).ln() - (r[0] - x).ln() - (c[0] - x).ln() + gamma * delta;
    let (mut lo, mut hi) = ((c[0] - r[1]).max(0.0), r[0].min(c[0]));
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if phi(mid) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let x = 0.5 * (lo + hi);
    [[x, r[0] - x], [c[0] - x, r[1] - c[0] + x]]
}

#[test]
fn sinkhorn_matches_an_independent_two_by_two_solve() {
    let cost = [[0.2, 0.7], [0.9, 0.1]];
    let (r, c) = ([0.3, 0.7], [0.6, 0.4]);
    // γ = 10³ is far past where the plain kernel exp(−γM) underflows (e^{−900}).
    for gamma in [1.0, 10.0, 1e3] {
        let M = Mat::from_fn(2, 2, |i, j| cost[i][j]);
        // The marginal error is the ℓ₁ norm over the two rows, up to twice the
        // largest row's; at γ = 10³ each entry exp(γ(fᵢ + gⱼ − Mᵢⱼ)) carries a
        // relative rounding of ~γε ≈ 2e-13 (the potentials are in the cost's
        // units), so 2e-13 is the floor of the plan as returned.
        let sol = solve(M.as_ref(), &r, &c, gamma, 2e-13);
        let want = two_by_two(cost, r, c, gamma);
        for i in 0..2 {
            for j in 0..2 {
                assert!(
                    (sol.P[(i, j)] - want[i][j]).abs() <= 1e-12,
                    "γ = {gamma}: P[{i},{j}] = {} but the bisection gives {}",
                    sol.P[(i, j)],
                    want[i][j]
                );
            }
        }
    }
}

#[test]
fn additive_costs_give_the_independent_coupling() {
    // Mᵢⱼ = aᵢ + bⱼ is constant on the feasible set, so only the entropy acts: P = r cᵀ.
    let (a, b) = ([0.3, -1.2, 2.0], [0.5, 0.1, -0.4, 1.5]);
    let (_, r, c) = instance(7, 3, 4);
    let M = Mat::from_fn(3, 4, |i, j| a[i] + b[j]);
    let sol = solve(M.as_ref(), &r, &c, 5.0, 1e-13);
    for i in 0..3 {
        for j in 0..4 {
            assert!((sol.P[(i, j)] - r[i] * c[j]).abs() <= 1e-13);
        }
    }
}

#[test]
fn sinkhorn_is_stable_for_large_gamma() {
    let (m, n) = (6, 6);
    let (M, r, c) = instance(11, m, n);
    for gamma in [1e3, 1e4] {
        // The plain kernel underflows entrywise at this γ ...
        let underflowed =
            (0..m).flat_map(|i| (0..n).map(move |j| (i, j))).filter(|&(i, j)| (-gamma * M[(i, j)]).exp() == 0.0);
        assert!(underflowed.count() > 0, "γ = {gamma}: pick costs that make exp(−γM) underflow");
        // ... the log-domain iteration does not.
        let settings = SinkhornSettings { tol: 1e-9, max_iter: 200_000, ..SinkhornSettings::default() };
        let sol = sinkhorn(M.as_ref(), &r, &c, gamma, &settings).expect("valid input");
        assert_eq!(sol.domain, Domain::Log, "γ = {gamma}: the kernel is out of range");
        assert!(sol.f.iter().chain(&sol.g).all(|x| x.is_finite()));
        assert!(sol.P.col_iter().all(|col| col.iter().all(|p| p.is_finite() && *p >= 0.0)));
        assert_eq!(sol.status, Status::Optimal, "γ = {gamma}: error {:e}", sol.marginal_error);
        assert!(sol.marginal_error <= 1e-9);
        // Its backward pass is finite too.
        let V = Mat::from_fn(m, n, |i, j| ((i * n + j) as f64).sin());
        let grads = entropic_ot_vjp(M.as_ref(), gamma, &sol, V.as_ref()).expect("backward");
        assert!(grads.M.col_iter().all(|col| col.iter().all(|x| x.is_finite())));
        assert!(grads.r.iter().chain(&grads.c).all(|x| x.is_finite()) && grads.gamma.is_finite());
    }
}

#[test]
fn sinkhorn_reports_the_iteration_limit() {
    let (M, r, c) = instance(5, 4, 4);
    let settings = SinkhornSettings { tol: 1e-14, max_iter: 3, ..SinkhornSettings::default() };
    let sol = sinkhorn(M.as_ref(), &r, &c, 100.0, &settings).expect("valid input");
    assert_eq!(sol.status, Status::MaxIterations);
    assert_eq!(sol.iterations, 3);
    assert!(sol.marginal_error > 1e-14 && sol.marginal_error.is_finite());
}

#[test]
fn sinkhorn_rejects_bad_input() {
    let (M, r, c) = instance(5, 3, 4);
    let s = SinkhornSettings::default();
    let err = |M: MatRef<'_, f64>, r: &[f64], c: &[f64], gamma: f64, s: &SinkhornSettings| {
        sinkhorn(M, r, c, gamma, s).expect_err("must be rejected").to_string()
    };
    assert!(err(M.as_ref(), &r[..2], &c, 1.0, &s).contains("r needs 3 entries and c 4; found 2 and 4"));
    let mut neg = r.clone();
    neg[1] = -neg[1];
    assert!(err(M.as_ref(), &neg, &c, 1.0, &s).contains("the marginal r must be positive, but r[1]"));
    let mut heavy = c.clone();
    heavy[0] += 1e-3;
    assert!(err(M.as_ref(), &r, &heavy, 1.0, &s).contains("must have equal sums"));
    assert!(err(M.as_ref(), &r, &c, 0.0, &s).contains("gamma must be positive"));
    assert!(err(M.as_ref(), &r, &c, f64::INFINITY, &s).contains("gamma must be positive"));
    let mut bad = M.clone();
    bad[(2, 1)] = f64::NAN;
    assert!(err(bad.as_ref(), &r, &c, 1.0, &s).contains("M[2, 1] = NaN is not finite"));
    let empty = Mat::<f64>::zeros(0, 4);
    assert!(err(empty.as_ref(), &[], &c, 1.0, &s).contains("needs at least one row"));
    let loose = SinkhornSettings { tol: 0.0, ..SinkhornSettings::default() };
    assert!(err(M.as_ref(), &r, &c, 1.0, &loose).contains("`tol` must be positive"));
    for kernel_range in [-1.0, 701.0, f64::NAN] {
        let s = SinkhornSettings { kernel_range, ..SinkhornSettings::default() };
        assert!(err(M.as_ref(), &r, &c, 1.0, &s).contains("`kernel_range` must be in [0, 700]"));
    }
}

/// The kernel and the log domain make the same updates from the same start, so
/// where both apply they give the same plan, potentials and iteration count.
#[test]
fn kernel_and_log_domains_agree_where_both_apply() {
    for (seed, m, n, gamma) in [(61, 7, 5, 10.0), (62, 4, 9, 60.0), (63, 12, 12, 1.0)] {
        let (M, r, c) = instance(seed, m, n);
        let settings = SinkhornSettings { tol: 1e-12, max_iter: 100_000, ..SinkhornSettings::default() };
        // Costs span (0.5, 1), so γ·range < 100 = the default kernel_range.
        let kernel = sinkhorn(M.as_ref(), &r, &c, gamma, &settings).expect("input");
        let log = SinkhornSettings { kernel_range: 0.0, ..settings };
        let log = sinkhorn(M.as_ref(), &r, &c, gamma, &log).expect("input");
        assert_eq!((kernel.domain, log.domain), (Domain::Kernel, Domain::Log));
        assert_eq!((kernel.status, log.status), (Status::Optimal, Status::Optimal));
        assert_eq!(kernel.iterations, log.iterations, "{m}×{n}, γ = {gamma}");
        let scale = entries(&log.P).iter().fold(0.0f64, |a, x| a.max(x.abs()));
        let dP = max_abs_diff(entries(&kernel.P), entries(&log.P));
        assert!(dP <= 1e-13 * scale, "{m}×{n}, γ = {gamma}: plans differ by {dP:e}");
        let dfg = max_abs_diff(kernel.f.iter().chain(&kernel.g).copied(), log.f.iter().chain(&log.g).copied());
        assert!(dfg <= 1e-12, "{m}×{n}, γ = {gamma}: potentials differ by {dfg:e}");
    }
    // Past kernel_range the log domain is chosen by itself.
    let (M, r, c) = instance(64, 3, 3);
    let all = entries(&M);
    let spread =
        all.iter().fold(f64::NEG_INFINITY, |a, &x| a.max(x)) - all.iter().fold(f64::INFINITY, |a, &x| a.min(x));
    for (gamma, domain) in [(99.0 / spread, Domain::Kernel), (101.0 / spread, Domain::Log)] {
        let sol = sinkhorn(M.as_ref(), &r, &c, gamma, &SinkhornSettings::default()).expect("input");
        assert_eq!(sol.domain, domain, "γ·range = {}", gamma * spread);
    }
}

/// The stdlib node reports the domain, and returns the plan of a direct call
/// (it solves the transposed problem, so the two agree to the tolerance).
#[test]
fn the_node_reports_its_domain() {
    let source = include_str!("../../stdlib/optimal_transport.ddn");
    let compiled = ddn::compile("optimal_transport.ddn", source);
    assert!(!compiled.has_errors());
    let node = &compiled.analysed(0).expect("node");
    let (m, n) = (4, 6);
    let (M, r, c) = instance(71, m, n);
    for (gamma, domain) in [(5.0, "kernel"), (1e3, "log")] {
        let named: std::collections::BTreeMap<String, ddn::eval::Tensor> = [
            (
                "M",
                ddn::eval::Tensor::matrix(
                    m,
                    n,
                    (0..m).flat_map(|i| (0..n).map(move |j| (i, j))).map(|(i, j)| M[(i, j)]).collect(),
                ),
            ),
            ("r", ddn::eval::Tensor::vector(r.clone())),
            ("c", ddn::eval::Tensor::vector(c.clone())),
            ("gamma", ddn::eval::Tensor::scalar(gamma)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let bound = ddn::runtime::bind(node, &named).expect("bind");
        let solved = ddn::runtime::forward(node, &bound, &ddn::runtime::Options::default()).expect("forward");
        assert_eq!(solved.status, Status::Optimal);
        assert_eq!(serde_json::to_value(&solved.info).expect("info")["domain"], domain, "γ = {gamma}");
        let direct = solve(M.as_ref(), &r, &c, gamma, 1e-9);
        let plan = &solved.outputs[0].1.data;
        let diff = max_abs_diff(
            plan.iter().copied(),
            (0..m).flat_map(|i| (0..n).map(move |j| (i, j))).map(|(i, j)| direct.P[(i, j)]),
        );
        assert!(diff <= 1e-8, "γ = {gamma}: node and direct call differ by {diff:e}");
    }
}

/// dL/dθ from a dense solve of the full KKT system over the mn entries of P,
///
/// ```text
/// [H Aᵀ; A 0] [w; ω] = [v; 0],   H = diag(1/(γP)), A = the m row sums and n column sums but one,
/// ```
///
/// so that `dL/dθ = −wᵀB − ωᵀC` (B = f_Pθ, C = ∂(Ap − b)/∂θ): `dL/dM = −w`,
/// `dL/dγ = wᵀ(log P + 1)/γ²`, `dL/dr = ω_rows`, `dL/dc = ω_cols` (0 for the
/// `dropped` constraint: rows are 0..m, columns m..m + n; the seed drops 0), with
/// the marginal pair then projected onto `Σ dr = Σ dc` as the library does.
fn dense_kkt_vjp(P: MatRef<'_, f64>, gamma: f64, V: MatRef<'_, f64>, dropped: usize) -> OtGradients {
    let (m, n) = P.shape();
    let (mn, k) = (m * n, m + n - 1);
    let at = |i: usize, j: usize| i * n + j;
    // The KKT row of constraint `con`, if kept.
    let kkt_row = |con: usize| (con != dropped).then(|| mn + if con < dropped { con } else { con - 1 });
    let mut K = Mat::<f64>::zeros(mn + k, mn + k);
    for i in 0..m {
        for j in 0..n {
            K[(at(i, j), at(i, j))] = 1.0 / (gamma * P[(i, j)]);
            for row in [kkt_row(i), kkt_row(m + j)].into_iter().flatten() {
                K[(row, at(i, j))] = 1.0;
                K[(at(i, j), row)] = 1.0;
            }
        }
    }
    let rhs = Mat::from_fn(mn + k, 1, |t, _| if t < mn { V[(t / n, t % n)] } else { 0.0 });
    let sol = K.partial_piv_lu().solve(&rhs);
    let w = |i: usize, j: usize| sol[(at(i, j), 0)];
    let dM = Mat::from_fn(m, n, |i, j| -w(i, j));
    let dgamma = (0..m)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .map(|(i, j)| w(i, j) * (P[(i, j)].ln() + 1.0) / (gamma * gamma))
        .sum();
    let multiplier = |con: usize| kkt_row(con).map_or(0.0, |row| sol[(row, 0)]);
    let mut r: Vec<f64> = (0..m).map(&multiplier).collect();
    let mut c: Vec<f64> = (0..n).map(|j| multiplier(m + j)).collect();
    let t = (r.iter().sum::<f64>() - c.iter().sum::<f64>()) / (m + n) as f64;
    r.iter_mut().for_each(|x| *x -= t);
    c.iter_mut().for_each(|x| *x += t);
    OtGradients { M: dM, r, c, gamma: dgamma }
}

fn entries(X: &Mat<f64>) -> Vec<f64> {
    X.col_iter().flat_map(|col| col.iter().copied().collect::<Vec<_>>()).collect()
}

#[test]
fn ot_backward_matches_the_dense_kkt_solve() {
    for (seed, m, n, gamma) in [(21, 3, 4, 2.0), (22, 5, 3, 5.0), (23, 4, 3, 1.0), (24, 1, 4, 3.0), (25, 6, 2, 20.0)] {
        let (M, r, c) = instance(seed, m, n);
        let sol = solve(M.as_ref(), &r, &c, gamma, 1e-13);
        let mut rng = Rng(seed + 100);
        let V = Mat::from_fn(m, n, |_, _| rng.next());
        let got = entropic_ot_vjp(M.as_ref(), gamma, &sol, V.as_ref()).expect("backward");
        // The seed's dropped constraint (the first row sum), and the last column
        // sum: the projected marginal gradient must not depend on the choice.
        for dropped in [0, m + n - 1] {
            let want = dense_kkt_vjp(sol.P.as_ref(), gamma, V.as_ref(), dropped);
            let scale = 1.0 + entries(&want.M).iter().fold(0.0f64, |a, x| a.max(x.abs()));
            let at = |what: &str, e: f64| {
                assert!(e <= KKT_TOL * scale, "{m}×{n}, γ = {gamma}, dropped {dropped}: {what} differs by {e:e}")
            };
            at("dM", max_abs_diff(entries(&got.M), entries(&want.M)));
            at("dr", max_abs_diff(got.r.clone(), want.r.clone()));
            at("dc", max_abs_diff(got.c.clone(), want.c.clone()));
            at("dγ", (got.gamma - want.gamma).abs());
        }
        let scale = 1.0 + entries(&got.M).iter().fold(0.0f64, |a, x| a.max(x.abs()));
        // The projected marginal gradient: Σ dr = Σ dc.
        assert!((got.r.iter().sum::<f64>() - got.c.iter().sum::<f64>()).abs() <= 1e-12 * scale);
    }
}

#[test]
fn ot_backward_matches_central_differences() {
    for (seed, m, n, gamma) in [(31, 3, 4, 3.0), (32, 5, 3, 8.0)] {
        let (M, r, c) = instance(seed, m, n);
        let mut rng = Rng(seed + 100);
        let V = Mat::from_fn(m, n, |_, _| rng.next());
        let loss = |M: &Mat<f64>, r: &[f64], c: &[f64], gamma: f64| {
            let sol = solve(M.as_ref(), r, c, gamma, TIGHT);
            (0..m).flat_map(|i| (0..n).map(move |j| (i, j))).map(|(i, j)| V[(i, j)] * sol.P[(i, j)]).sum::<f64>()
        };
        let sol = solve(M.as_ref(), &r, &c, gamma, TIGHT);
        let grads = entropic_ot_vjp(M.as_ref(), gamma, &sol, V.as_ref()).expect("backward");
        let check = |what: String, numeric: f64, analytic: f64| {
            assert!(
                (numeric - analytic).abs() <= FD_TOL * (1.0 + numeric.abs()),
                "{m}×{n}, γ = {gamma}: {what}: backward {analytic}, central difference {numeric}"
            );
        };
        for i in 0..m {
            for j in 0..n {
                let moved = |d: f64| {
                    let mut Mp = M.clone();
                    Mp[(i, j)] += d;
                    loss(&Mp, &r, &c, gamma)
                };
                check(format!("dM[{i},{j}]"), (moved(STEP) - moved(-STEP)) / (2.0 * STEP), grads.M[(i, j)]);
            }
        }
        // Marginals move only along feasible directions (1ᵀdr = 1ᵀdc): r_i and c_j
        // together, whose derivative is dr_i + dc_j. These m·n directions span the
        // feasible set, and Σ dr = Σ dc (tested above) fixes the rest.
        for i in 0..m {
            for j in 0..n {
                let moved = |d: f64| {
                    let (mut rp, mut cp) = (r.clone(), c.clone());
                    rp[i] += d;
                    cp[j] += d;
                    loss(&M, &rp, &cp, gamma)
                };
                let numeric = (moved(STEP) - moved(-STEP)) / (2.0 * STEP);
                check(format!("dr[{i}] + dc[{j}]"), numeric, grads.r[i] + grads.c[j]);
            }
        }
        let h = STEP * gamma;
        let numeric = (loss(&M, &r, &c, gamma + h) - loss(&M, &r, &c, gamma - h)) / (2.0 * h);
        check("dγ".into(), numeric, grads.gamma);
    }
}

#[test]
fn ot_backward_needs_a_converged_forward() {
    let (M, r, c) = instance(41, 3, 3);
    let settings = SinkhornSettings { tol: 1e-14, max_iter: 2, ..SinkhornSettings::default() };
    let sol = sinkhorn(M.as_ref(), &r, &c, 100.0, &settings).expect("input");
    let V = Mat::<f64>::zeros(3, 3);
    let e = entropic_ot_vjp(M.as_ref(), 100.0, &sol, V.as_ref()).expect_err("not converged");
    assert!(e.to_string().contains("forward status is max_iterations"), "{e}");
    let sol = solve(M.as_ref(), &r, &c, 1.0, 1e-12);
    let e = entropic_ot_vjp(M.as_ref(), 1.0, &sol, Mat::<f64>::zeros(2, 3).as_ref()).expect_err("shape");
    assert!(e.to_string().contains("dL/dP is 2×3"), "{e}");
}
