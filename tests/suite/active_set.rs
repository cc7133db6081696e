//! The dual active-set method (`solve::active_set`) beside the interior point
//! method: the same solutions and gradients on seeded QPs, gradients against
//! central differences, its KKT solve against the assembled active-set system,
//! and every refusal handing the problem to the interior point method (which
//! then reports what the active-set method could not: infeasibility, a
//! singular P, a weakly active constraint).

use ddn::eval::Tensor;
use ddn::runtime::{bind, forward, named_tensors, Options, Status};
use ddn::solve::active_set::{ActiveSet, Refusal};
use ddn::solve::{ipm, ConeBlock, ConeProgram, Settings, Triplets};
use serde_json::{json, Value};

use super::backward::check;
use super::Rng;

const OPTNET: &str = "node optnet_qp(Q: psd[n, n], p: real[n], G: real[k, n], h: real[k],
                              A: real[q, n], b: real[q]) -> (z: real[n], dual ineq, dual eqs) {
    minimize 0.5 * quad_form(z, Q) + p @ z
    subject to {
        ineq: G @ z <= h
        eqs: A @ z == b
    }
}";

/// The same node, naming the interior point method (so it never takes the
/// active-set path), at a tight tolerance.
fn by_ipm() -> String {
    OPTNET.replacen("    }\n}", "    }\n    solve using ipm(tol = 1e-12)\n}", 1)
}

fn node(src: &str) -> ddn::analysis::Analysed<'static> {
    let c = ddn::compile("t.ddn", src);
    assert!(!c.has_errors(), "{}", super::rendered(&c));
    super::analysed(c.program.nodes[0].clone())
}

fn close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
    }
}

/// Forward (and backward with the cotangents `cot`) through the default path
/// and through the interior point method; returns the default's solver name.
fn compare_with_ipm(inputs: &Value, cot: &[(String, Tensor)]) -> String {
    let (fast, slow) = (node(OPTNET), node(&by_ipm()));
    let named = named_tensors(inputs).expect("inputs");
    let (bf, bs) = (bind(&fast, &named).expect("bind"), bind(&slow, &named).expect("bind"));
    let mut f = forward(&fast, &bf, &Options::default()).expect("forward");
    let mut s = forward(&slow, &bs, &Options::default()).expect("forward");
    assert_eq!((f.status, s.status), (Status::Optimal, Status::Optimal), "{:?} / {:?}", f.info, s.info);
    assert_eq!(s.info.solver, "ipm");
    for ((name, a), (_, b)) in f.outputs.iter().zip(&s.outputs) {
        close(&a.data, &b.data, 1e-9, &format!("{name} ({} vs ipm)", f.info.solver));
    }
    let gf = ddn::diff::backward(&fast, &bf, &mut f, cot).expect("backward");
    let gs = ddn::diff::backward(&slow, &bs, &mut s, cot).expect("backward");
    for ((p, a), b) in fast.params.iter().zip(&gf).zip(&gs) {
        close(&a.data, &b.data, 1e-8, &format!("dL/d{}", p.name));
    }
    f.info.solver.to_string()
}

/// Cotangents on z and both multipliers (a one-row constraint's is a scalar).
fn cotangents(rng: &mut Rng, n: usize, k: usize, q: usize) -> Vec<(String, Tensor)> {
    let of = |v: Vec<f64>| if v.len() == 1 { Tensor::scalar(v[0]) } else { Tensor::vector(v) };
    vec![("z".into(), Tensor::vector(rng.vec(n))), ("ineq".into(), of(rng.vec(k))), ("eqs".into(), of(rng.vec(q)))]
}

/// Planted strictly complementary QPs (half the inequalities active) and QPs
/// with a random linear term (whatever active set results) at several sizes:
/// the active-set path gives the interior point method's solution, multipliers
/// and gradients.
#[test]
fn active_set_agrees_with_the_interior_point_method() {
    let mut rng = Rng(0x005e_eda5);
    // ⌈k/2⌉ + q < n rows active: the active normals independent (with k = 2n,
    // `planted_optnet` makes more rows active than there are variables; the
    // active-set method then declines, as `refusals_…` checks).
    for (n, k, q) in [(3, 2, 1), (5, 6, 1), (10, 12, 2), (20, 24, 4), (40, 60, 8)] {
        let (inputs, z) = rng.planted_optnet(n, k, q);
        let cot = cotangents(&mut rng, n, k, q);
        assert_eq!(compare_with_ipm(&inputs, &cot), "active_set", "n = {n}");
        let bound = bind(&node(OPTNET), &named_tensors(&inputs).expect("in")).expect("bind");
        let solved = forward(&node(OPTNET), &bound, &Options::default()).expect("forward");
        close(&solved.outputs[0].1.data, &z, 1e-10, "planted optimum");
    }
    let mut solved_by_active_set = 0;
    for seed in 0..12u64 {
        let mut rng = Rng(0xabc0 + seed);
        let (n, k, q) = (3 + seed as usize % 8, 12, 1 + seed as usize % 2);
        let (mut inputs, _) = rng.planted_optnet(n, k, q);
        inputs["p"] = json!(rng.vec(n).iter().map(|v| 3.0 * v).collect::<Vec<_>>());
        // Distinct positive shifts of h: no vertex where more than n rows meet.
        let h: Vec<f64> = inputs["h"].as_array().expect("h").iter().map(|v| v.as_f64().unwrap_or(0.0)).collect();
        inputs["h"] = json!(h.iter().map(|v| v + 0.2 + rng.next().abs()).collect::<Vec<_>>());
        let cot = cotangents(&mut rng, n, k, q);
        if compare_with_ipm(&inputs, &cot) == "active_set" {
            solved_by_active_set += 1;
        }
    }
    // A random p (with h in general position) is strictly complementary with
    // probability one.
    assert_eq!(solved_by_active_set, 12);
}

/// The active-set path's gradients (every parameter, cotangents on z and both
/// multipliers) against central differences of re-solves.
#[test]
fn active_set_gradients_match_central_differences() {
    let optnet = node(OPTNET);
    for (seed, (n, k, q)) in [(7u64, (5, 6, 1)), (8, (8, 10, 2))] {
        let mut rng = Rng(seed);
        let (inputs, _) = rng.planted_optnet(n, k, q);
        let bound = bind(&optnet, &named_tensors(&inputs).expect("in")).expect("bind");
        assert_eq!(forward(&optnet, &bound, &Options::default()).expect("forward").info.solver, "active_set");
        check(&optnet, inputs, cotangents(&mut rng, n, k, q));
    }
}

/// The prepared (recorded) and the unprepared (canonicalised) forwards take the
/// active-set path alike, with the same bits.
#[test]
fn prepared_and_unprepared_active_set_agree_bit_for_bit() {
    let optnet = node(OPTNET);
    let mut rng = Rng(31);
    let (inputs, _) = rng.planted_optnet(7, 8, 2);
    let bound = bind(&optnet, &named_tensors(&inputs).expect("in")).expect("bind");
    let (mut a, mut b) = (
        forward(&optnet, &bound, &Options::default()).expect("fwd"),
        forward(&optnet, &bound, &Options::default().unprepared()).expect("fwd"),
    );
    assert_eq!((a.info.solver, b.info.solver), ("active_set", "active_set"));
    assert_eq!(a.outputs, b.outputs);
    let cot = cotangents(&mut rng, 7, 8, 2);
    let ga = ddn::diff::backward(&optnet, &bound, &mut a, &cot).expect("backward");
    let gb = ddn::diff::backward(&optnet, &bound, &mut b, &cot).expect("backward");
    for (x, y) in ga.iter().zip(&gb) {
        close(&x.data, &y.data, 1e-12, "gradient");
    }
}

/// A program `min ½xᵀPx + qᵀx s.t. Ax + s = b` from dense rows.
fn program(p: &[Vec<f64>], q: &[f64], a: &[Vec<f64>], b: &[f64], cones: Vec<ConeBlock>) -> ConeProgram {
    let n = q.len();
    let mut pt = Triplets::new(n, n);
    for i in 0..n {
        for j in i..n {
            pt.push(i, j, p[i][j]);
        }
    }
    let mut at = Triplets::new(a.len(), n);
    for (i, row) in a.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            at.push(i, j, v);
        }
    }
    ConeProgram { p: pt, q: q.to_vec(), a: at, b: b.to_vec(), cones, c0: 0.0 }
}

/// `K w = rhs` by the active-set factors solves the active rows' system
/// `[P A_Sᵀ; A_S 0]` with `w_z = 0` on the inactive rows (checked by the
/// assembled matrix), and matches the interior point method's solve with its
/// final KKT matrix.
#[test]
fn active_set_kkt_solve_is_the_active_rows_system() {
    let mut rng = Rng(77);
    let (n, k) = (8, 10);
    let p = rng.spd(n, 0.5);
    let mut a = rng.mat(k + 1, n);
    a.rotate_left(k); // the equality row first
    let x0 = rng.vec(n);
    let ax = |row: &[f64]| row.iter().zip(&x0).map(|(u, v)| u * v).sum::<f64>();
    // Rows 1, 3, 5, … active at x0 with multipliers 1 + |·|; the others slack.
    let b: Vec<f64> = a.iter().enumerate().map(|(i, r)| ax(r) + if i % 2 == 0 && i > 0 { 0.7 } else { 0.0 }).collect();
    let z: Vec<f64> = (0..=k)
        .map(|i| {
            if i == 0 {
                0.3
            } else if i % 2 == 1 {
                1.0 + i as f64 / 10.0
            } else {
                0.0
            }
        })
        .collect();
    let q: Vec<f64> = (0..n)
        .map(|j| -(0..n).map(|t| p[j][t] * x0[t]).sum::<f64>() - (0..=k).map(|i| a[i][j] * z[i]).sum::<f64>())
        .collect();
    let prog = program(&p, &q, &a, &b, vec![ConeBlock::Zero(1), ConeBlock::Nonneg(k)]);
    let mut qp = ActiveSet::default();
    let report = qp.solve(&prog, &Settings::default()).expect("solved");
    assert_eq!(report.active, 1 + k / 2);
    close(qp.x(), &x0, 1e-10, "x");
    close(qp.z(), &z, 1e-10, "z");
    let rhs: Vec<f64> = rng.vec(n + k + 1);
    let mut w = rhs.clone();
    qp.kkt_solve(&mut w).expect("kkt solve");
    for (i, &zi) in z.iter().enumerate() {
        if i > 0 && zi == 0.0 {
            assert_eq!(w[n + i], 0.0, "inactive row {i}");
        }
    }
    // [P A_Sᵀ; A_S 0] w = rhs on the x rows and the active rows.
    for j in 0..n {
        let kw = (0..n).map(|t| p[j][t] * w[t]).sum::<f64>() + (0..=k).map(|i| a[i][j] * w[n + i]).sum::<f64>();
        assert!((kw - rhs[j]).abs() < 1e-12 * (1.0 + rhs[j].abs()), "x row {j}: {kw} vs {}", rhs[j]);
    }
    for i in (0..=k).filter(|&i| i == 0 || i % 2 == 1) {
        let kw = ax_of(&a[i], &w[..n]);
        assert!((kw - rhs[n + i]).abs() < 1e-12 * (1.0 + rhs[n + i].abs()), "row {i}: {kw} vs {}", rhs[n + i]);
    }
    // The interior point method's final KKT matrix (H = s/z at its point) tends
    // to the same system.
    let tight = Settings { tol_gap_abs: 1e-12, tol_gap_rel: 1e-12, tol_feas: 1e-12, ..Settings::default() };
    let mut sol = ipm::solve(&prog, &tight).expect("ipm");
    let mut v = rhs.clone();
    sol.kkt.as_mut().expect("factored").solve(&mut v).expect("solve");
    close(&w, &v, 1e-7, "K⁻¹rhs, active set vs interior point");
}

fn ax_of(row: &[f64], x: &[f64]) -> f64 {
    row.iter().zip(x).map(|(u, v)| u * v).sum()
}

/// Each refusal, and the node's answer then coming from the interior point
/// method: an infeasible problem (its certificate and status), a singular P,
/// linearly dependent equalities, a weakly active constraint (reported).
#[test]
fn refusals_fall_back_to_the_interior_point_method() {
    let settings = Settings::default();
    let eye = |n: usize| (0..n).map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect()).collect::<Vec<_>>();
    // x₀ ≤ −1 and −x₀ ≤ −1: infeasible.
    let infeasible =
        program(&eye(2), &[0.0, 0.0], &[vec![1.0, 0.0], vec![-1.0, 0.0]], &[-1.0, -1.0], vec![ConeBlock::Nonneg(2)]);
    assert_eq!(ActiveSet::default().solve(&infeasible, &settings), Err(Refusal::Infeasible));
    // P = diag(1, 0).
    let singular =
        program(&[vec![1.0, 0.0], vec![0.0, 0.0]], &[1.0, 1.0], &[vec![1.0, 1.0]], &[1.0], vec![ConeBlock::Nonneg(1)]);
    assert_eq!(ActiveSet::default().solve(&singular, &settings), Err(Refusal::NotPositiveDefinite));
    // x₀ + x₁ = 1 twice.
    let dependent =
        program(&eye(2), &[0.0, 0.0], &[vec![1.0, 1.0], vec![2.0, 2.0]], &[1.0, 2.0], vec![ConeBlock::Zero(2)]);
    assert_eq!(ActiveSet::default().solve(&dependent, &settings), Err(Refusal::DependentConstraints));
    // min ½‖x − (1, 0)‖² s.t. x₀ ≤ 1: active with a zero multiplier.
    let weak = program(&eye(2), &[-1.0, 0.0], &[vec![1.0, 0.0]], &[1.0], vec![ConeBlock::Nonneg(1)]);
    assert_eq!(ActiveSet::default().solve(&weak, &settings), Err(Refusal::Degenerate));
    // A second-order cone is not this method's.
    let soc =
        program(&eye(2), &[1.0, 0.0], &[vec![1.0, 0.0], vec![0.0, 1.0]], &[1.0, 0.0], vec![ConeBlock::SecondOrder(2)]);
    assert_eq!(ActiveSet::default().solve(&soc, &settings), Err(Refusal::Structure));

    // More rows active than variables (LICQ fails): the multipliers are not
    // unique, and an active row is left out of the active set with slack 0.
    let mut rng = Rng(5);
    let (inputs, _) = rng.planted_optnet(4, 8, 1);
    let (fast, slow) = (node(OPTNET), node(&by_ipm()));
    let named = named_tensors(&inputs).expect("in");
    let s = forward(&fast, &bind(&fast, &named).expect("bind"), &Options::default()).expect("forward");
    let r = forward(&slow, &bind(&slow, &named).expect("bind"), &Options::default()).expect("forward");
    assert_eq!((s.status, Some(s.info.solver)), (Status::Optimal, Some("ipm")));
    close(&s.outputs[0].1.data, &r.outputs[0].1.data, 1e-7, "z of an over-determined vertex");

    // Through the node: the statuses and reports of the interior point method.
    let optnet = node(OPTNET);
    let run = |inputs: Value| {
        let bound = bind(&optnet, &named_tensors(&inputs).expect("in")).expect("bind");
        forward(&optnet, &bound, &Options::default()).expect("forward")
    };
    let base =
        |g: Value, h: Value| json!({"Q": [[1, 0], [0, 1]], "p": [-1, 0], "G": g, "h": h, "A": [[0, 1]], "b": [0]});
    let s = run(base(json!([[1, 0], [-1, 0]]), json!([-1, -1])));
    assert_eq!((s.status, Some(s.info.solver)), (Status::Infeasible, Some("ipm")));
    let s = run(base(json!([[1, 0]]), json!([1])));
    assert_eq!((s.status, Some(s.info.solver)), (Status::Optimal, Some("ipm")));
    assert_eq!(s.info.weakly_active, ["ineq"]);
    let mut singular = base(json!([[1, 0]]), json!([0.5]));
    singular["Q"] = json!([[1, 0], [0, 0]]);
    let s = run(singular);
    assert_eq!((s.status, Some(s.info.solver)), (Status::Optimal, Some("ipm")));
    close(&s.outputs[0].1.data, &[0.5, 0.0], 1e-7, "singular Q's solution");
}

/// The acceptance test is the interior point method's, in the objective's unit
/// ω (`ConeProgram::objective_scale`): a projection onto the orthant scaled by
/// c from 1e-8 to 1e6 is solved by the active-set method at every c, with the
/// closed-form answer x = max(a, 0) and gradients dL/da = v where a > 0 (0
/// elsewhere), dL/dc = 0.
#[test]
fn active_set_accepts_and_is_exact_at_every_objective_scale() {
    let n =
        node("node s(a: real[n], c: pos) -> x: real[n] {\n minimize c * sum_squares(x - a)\n subject to { x >= 0 }\n}");
    let a: [f64; 5] = [1.5, -0.7, 0.3, -2.0, 0.9];
    let v = [0.4, -1.1, 2.0, 0.6, -0.3];
    for c in [1e-8, 1e-3, 1.0, 1e6] {
        let b = bind(&n, &named_tensors(&json!({"a": a, "c": c})).expect("inputs")).expect("bind");
        let mut s = forward(&n, &b, &Options::default()).expect("forward");
        assert_eq!(s.status, Status::Optimal, "c = {c}: {:?}", s.info);
        assert_eq!(s.info.solver, "active_set", "c = {c}: {:?}", s.info);
        let want: Vec<f64> = a.iter().map(|x| x.max(0.0)).collect();
        close(&s.outputs[0].1.data, &want, 1e-12, &format!("x at c = {c}"));
        let cot = vec![("x".to_string(), Tensor::vector(v.to_vec()))];
        let g = ddn::diff::backward(&n, &b, &mut s, &cot).expect("backward");
        let da: Vec<f64> = a.iter().zip(&v).map(|(a, v)| if *a > 0.0 { *v } else { 0.0 }).collect();
        close(&g[0].data, &da, 1e-9, &format!("dL/da at c = {c}"));
        assert!(g[1].data[0].abs() <= 1e-9, "dL/dc at c = {c}: {}", g[1].data[0]);
    }
}

/// A variable on an active bound is returned exactly on it by both paths
/// (`solve::program::snap_to_bounds`): `x ≥ 0` gives 0 (never −0.0 or
/// −1e-25, which a `log` or `sqrt` downstream turns into NaN) and `x ≤ 1`
/// gives 1. Before, the dual active-set method returned entries of −3.7e-32
/// and the interior point method's polish −1.5e-25 on this node (n = 12): the
/// rounding of the KKT solves that found them; and at n = 100 the interior
/// point method returned its interior point, entries of 4.6e-15, since its
/// absolute error (gap 5.9e-11) was below `tol_gap_abs` and the active-set
/// polish did not run.
#[test]
fn active_bounds_hold_exactly_on_both_paths() {
    const BOX: &str = "node box_qp(c: real[n]) -> x: real[n] {
        minimize c @ x + 0.1 * sum_squares(x)
        subject to {
            x >= 0
            x <= 1
            sum(x) == 2.5
        }
    }";
    let by_ipm = BOX.replacen("    }\n    }", "    }\n        solve using ipm\n    }", 1);
    assert_ne!(by_ipm, BOX);
    let mut rng = Rng(3);
    for (src, n, solver) in [(BOX, 12, "active_set"), (by_ipm.as_str(), 12, "ipm"), (BOX, 100, "ipm")] {
        let node = node(src);
        let c = rng.vec(n);
        let bound = bind(&node, &named_tensors(&json!({ "c": c })).expect("inputs")).expect("bind");
        let out = forward(&node, &bound, &Options::default()).expect("forward");
        assert_eq!((out.status, out.info.solver), (Status::Optimal, solver), "n = {n}: {:?}", out.info);
        let x = &out.outputs[0].1.data;
        let on_bound = x.iter().filter(|v| **v == 1.0 || (**v == 0.0 && v.is_sign_positive())).count();
        assert!(on_bound >= n / 2, "{solver}, n = {n}: {on_bound} entries on a bound: {x:?}");
        for (j, v) in x.iter().enumerate() {
            let on = *v == 1.0 || (*v == 0.0 && v.is_sign_positive());
            // Inactive entries keep a margin from their bounds (no rounding
            // residue passing for an interior value).
            assert!(on || (1e-6..=1.0 - 1e-6).contains(v), "{solver}, n = {n}: x[{j}] = {v:e}");
        }
        assert!((x.iter().sum::<f64>() - 2.5).abs() <= 1e-13, "{solver}, n = {n}: Σx = {}", x.iter().sum::<f64>());
    }
}
