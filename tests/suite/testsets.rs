//! The shared test sets solved by ddn's IPM and judged twice, each judge
//! independent of the solver:
//!
//! 1. as qpbenchmark judges "success" at high accuracy: from the solution as
//!    `ddnc solve` writes it (JSON in the file's own terms,
//!    [`ddn::report::solution`]), the absolute primal residual, dual residual and
//!    duality gap are recomputed here from the raw model (formulas written here
//!    from the file formats, not taken from the readers' conversions), and must
//!    all be ≤ the set's tolerance;
//! 2. the objective against the published reference optimum
//!    (|f − f*| ≤ rtol · max(1, |f*|)).
//!
//! A problem that fails either is listed below with its cause; the test fails
//! if any other problem fails, and also if a listed one starts passing (so the
//! lists stay true). Each set prints its table (`cargo test -- --nocapture`).

use ddn::io::cbf::{CbfModel, ConeKind};
use ddn::io::mps::MpsModel;
use ddn::io::Sense;
use ddn::solve::{solve, Settings};
use serde_json::Value;

use super::reference::{data, references, Reference};

/// Problems whose recomputed residuals miss the set's tolerance, with why
/// (observed 2026-12-06, with the judge's sums exact). The solver stops on
/// *relative* criteria (residuals over the data's norms, the gap over the
/// objective's size); the active-set polish then brings LPs and QPs to exact
/// complementarity where its guess of the active set is right, but the point's
/// gap, `yᵀ(primal residual) + xᵀ(dual residual)` in exact arithmetic, keeps
/// the residuals' rounding times the size of the multipliers and of x (a gap of
/// 1e-9 on an objective of 1e7 is a relative 1e-16), and where the guess is
/// wrong (degenerate rows with both slack and multiplier small: QGFRDXPN,
/// QISRAEL, …, also after the iterations went on at tightened tolerances) the
/// polished point is not kept and the IPM's stands.
const RESIDUAL_FAILURES: &[(&str, &str)] = &[
    // maros_meszaros (solver tolerance 1e-10)
    ("CVXQP3_M", "passes here (dual residual 6.5e-10, gap 5.5e-10), not by the margin of 10"),
    ("DUALC1", "passes here (dual residual 8.6e-10), not by the margin of 10"),
    ("Q25FV47", "passes here (gap 2.7e-10), not by the margin of 10"),
    ("QBEACONF", "the relative stopping criteria hold; absolute dual residual 1.3e-9"),
    ("QCAPRI", "the relative stopping criteria hold; absolute gap 6.4e-9"),
    ("QETAMACR", "the relative stopping criteria hold; absolute dual residual 1.4e-7, gap 4.6e-6"),
    ("QFFFFF80", "passes here (dual residual 7.6e-10, gap 1.8e-10), not by the margin of 10"),
    ("QFORPLAN", "the relative stopping criteria hold; absolute gap 1.1e-6"),
    (
        "QGFRDXPN",
        "the relative stopping criteria hold; absolute primal residual 6.3e-12, dual residual 1.1e-7, gap 6.1e-4",
    ),
    ("QGROW15", "the relative stopping criteria hold; absolute gap 2.7e-9"),
    ("QGROW22", "the relative stopping criteria hold; absolute gap 3.0e-9"),
    ("QGROW7", "the relative stopping criteria hold; absolute gap 1.3e-9 (6.8e-10 before the refinement target followed the tolerance)"),
    ("QISRAEL", "passes here (gap 7.4e-10), not by the margin of 10"),
    ("QPCBOEI1", "passes here (gap 8.3e-10), not by the margin of 10"),
    ("QPCBOEI2", "the relative stopping criteria hold; absolute dual residual 8.9e-9, gap 2.6e-9"),
    ("QPCSTAIR", "passes here (gap 2.8e-10), not by the margin of 10"),
    (
        "QPILOTNO",
        "the relative stopping criteria hold; absolute primal residual 1.7e-9, dual residual 2.7e-8, gap 7.6e-8",
    ),
    ("QSCAGR25", "the relative stopping criteria hold; absolute gap 1.9e-9"),
    ("QSCFXM1", "the relative stopping criteria hold; absolute gap 1.5e-9"),
    ("QSCFXM2", "the relative stopping criteria hold; absolute gap 2.4e-9"),
    ("QSCFXM3", "the relative stopping criteria hold; absolute gap 2.8e-9"),
    ("QSEBA", "the relative stopping criteria hold; absolute gap 2.5e-8"),
    ("QSHARE1B", "the relative stopping criteria hold; absolute dual residual 4.8e-8, gap 6.6e-9"),
    ("QSHELL", "the relative stopping criteria hold; absolute gap 1.7e-4"),
    ("QSHIP12S", "passes here (gap 1.7e-10), not by the margin of 10"),
    ("QSIERRA", "passes here (gap 1.2e-10), not by the margin of 10"),
    ("QSTAIR", "passes here (gap 6.2e-10), not by the margin of 10"),
    (
        "STADAT1",
        "the relative stopping criteria hold; absolute primal residual 2.7e-9, dual residual 2.3e-9, gap 3.9e-8",
    ),
    // netlib_lp (solver tolerance 1e-12)
    ("AGG2", "passes here (gap 2.5e-9), not by the margin of 10"),
    ("GROW15", "passes here (gap 1.6e-9), not by the margin of 10"),
];

/// Problems whose objective misses the reference, with why: none since
/// 2026-12-06 (session 14: YAO, ETAMACRO and FFFFF800 no longer stall, and the
/// SOCPs are solved at 1e-10 with their KKT solves mended). The list stays so
/// that a regression names its cause here.
const OBJECTIVE_FAILURES: &[(&str, &str)] = &[];

/// Absolute residuals recomputed from a solution (qpbenchmark's definitions).
#[derive(Clone, Copy, Debug)]
struct Residuals {
    primal: f64,
    dual: f64,
    gap: f64,
}

impl Residuals {
    fn within(&self, tol: f64) -> bool {
        self.primal <= tol && self.dual <= tol && self.gap <= tol
    }
}

fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `values[name]` for each name, in order.
fn by_name(values: &Value, names: &[String]) -> Vec<f64> {
    names.iter().map(|n| number(&values[n.as_str()])).collect()
}

fn array(values: &Value) -> Vec<f64> {
    values.as_array().unwrap_or_else(|| panic!("not an array: {values}")).iter().map(number).collect()
}

/// The side of `[lo, hi]` that `y` pushes against: `support([lo, hi], y) =
/// lo·y⁻ + hi·y⁺ = side·y` (0 when `y = 0`, whatever the bounds; the product is
/// infinite when `y` pushes against an infinite side).
fn side(lo: f64, hi: f64, y: f64) -> f64 {
    if y > 0.0 {
        hi
    } else if y < 0.0 {
        lo
    } else {
        0.0
    }
}

/// A sum computed as if in exact arithmetic, then rounded once (to within a
/// few ulps): each product split into its rounded value and its exact error by
/// an FMA, and the terms added by Neumaier's compensated summation. The judge's
/// own rounding must not decide a verdict: summed naively, the gap of a problem
/// whose terms are ≈ 3e6 (QSHIP08S) carries `n·ε·Σ|terms|` ≈ 1e-9 of rounding,
/// the tolerance itself (qpbenchmark sums with numpy, pairwise, whose error
/// grows with `log n` instead of `n`).
#[derive(Clone, Copy, Default)]
struct ExactSum {
    sum: f64,
    carry: f64,
}

impl ExactSum {
    fn new(v: f64) -> Self {
        ExactSum { sum: v, carry: 0.0 }
    }

    /// Neumaier's step: the low-order bits the addition loses go to `carry`.
    fn add(&mut self, v: f64) {
        let t = self.sum + v;
        self.carry += if self.sum.abs() >= v.abs() { (self.sum - t) + v } else { (v - t) + self.sum };
        self.sum = t;
    }

    /// `a·b` added exactly: `fma(a, b, −p)` is the product's rounding error
    /// (an infinite product is added as it is: its error term would be NaN).
    fn add_product(&mut self, a: f64, b: f64) {
        let p = a * b;
        self.add(p);
        if p.is_finite() {
            self.add(a.mul_add(b, -p));
        }
    }

    /// `a·b·c`, the error of `a·b` carried into the second product.
    fn add_triple(&mut self, a: f64, b: f64, c: f64) {
        let p = a * b;
        self.add_product(p, c);
        if p.is_finite() {
            self.add_product(a.mul_add(b, -p), c);
        }
    }

    fn value(self) -> f64 {
        self.sum + self.carry
    }
}

/// MPS/QPS: `min c0 + cᵀx + ½xᵀQx` s.t. `lo ≤ Ax ≤ hi`, `l ≤ x ≤ u`, with
/// `Qx + c + Aᵀy + z = 0` at an optimum (for `−f` when the file maximises):
/// primal = worst bound violation of `Ax` and `x`, dual = ‖Qx + c + Aᵀy + z‖∞,
/// gap = |xᵀQx + cᵀx + Σ support([lo, hi], y) + Σ support([l, u], z)|, every
/// sum an [`ExactSum`].
fn mps_residuals(model: &MpsModel, out: &Value) -> Residuals {
    let (n, m) = (model.n(), model.m());
    let x = by_name(&out["x"], &model.col_names);
    let y = by_name(&out["row_duals"], &model.row_names);
    let z = by_name(&out["bound_duals"], &model.col_names);
    let sign = if model.sense == Sense::Maximize { -1.0 } else { 1.0 };
    let mut ax = vec![ExactSum::default(); m];
    let mut dual: Vec<ExactSum> = (0..n)
        .map(|j| {
            let mut s = ExactSum::new(sign * model.c[j]);
            s.add(z[j]);
            s
        })
        .collect();
    for &(i, j, a) in &model.entries {
        ax[i].add_product(a, x[j]);
        dual[j].add_product(a, y[i]);
    }
    let mut gap = ExactSum::default();
    for &(i, j, q) in &model.quad {
        dual[i].add_product(sign * q, x[j]);
        if i == j {
            gap.add_triple(sign * q, x[i], x[i]);
        } else {
            dual[j].add_product(sign * q, x[i]);
            gap.add_triple(sign * 2.0 * q, x[i], x[j]);
        }
    }
    for (c, x) in model.c.iter().zip(&x) {
        gap.add_product(sign * c, *x);
    }
    let violation = |v: f64, lo: f64, hi: f64| (lo - v).max(v - hi).max(0.0);
    let rows = (0..m).map(|i| {
        let (lo, hi) = model.row_bounds(i);
        (violation(ax[i].value(), lo, hi), side(lo, hi, y[i]), y[i])
    });
    let cols = (0..n).map(|j| {
        let (lo, hi) = (model.lower[j], model.upper[j]);
        (violation(x[j], lo, hi), side(lo, hi, z[j]), z[j])
    });
    let mut primal = 0.0f64;
    for (v, bound, dual) in rows.chain(cols) {
        primal = primal.max(v);
        gap.add_product(bound, dual);
    }
    Residuals { primal, dual: dual.iter().fold(0.0, |a, d| a.max(d.value().abs())), gap: gap.value().abs() }
}

/// How far `g` is outside the cone (0 inside): per entry for the orthants and
/// the zero cone, `‖g₂:d‖ − g₁` for `Q`, and for `QR` the `Q` violation of its
/// image `(g₁+g₂, g₁−g₂, √2·g₃:d)` over √2 (and `g₁, g₂ ≥ 0`).
fn cone_violation(cone: ConeKind, g: &[f64]) -> f64 {
    let worst = |it: &mut dyn Iterator<Item = f64>| it.fold(0.0f64, f64::max);
    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    match cone {
        ConeKind::Free => 0.0,
        ConeKind::Nonneg => worst(&mut g.iter().map(|&v| -v)),
        ConeKind::Nonpos => worst(&mut g.iter().copied()),
        ConeKind::Zero => worst(&mut g.iter().map(|v| v.abs())),
        ConeKind::Quad => (norm(&g[1..]) - g[0]).max(0.0),
        ConeKind::RotatedQuad => {
            let mut image = vec![g[0] - g[1]];
            image.extend(g[2..].iter().map(|v| std::f64::consts::SQRT_2 * v));
            let soc = (norm(&image) - (g[0] + g[1])) / std::f64::consts::SQRT_2;
            soc.max(-g[0]).max(-g[1]).max(0.0)
        }
    }
}

/// The dual cone of each CBF cone (the orthants, `Q` and `QR` are self-dual;
/// the zero cone and the free cone are each other's).
fn dual_cone(cone: ConeKind) -> ConeKind {
    match cone {
        ConeKind::Free => ConeKind::Zero,
        ConeKind::Zero => ConeKind::Free,
        c => c,
    }
}

/// `(cone, its entries of v)` for each block.
fn blocks<'a>(cones: &'a [(ConeKind, usize)], v: &'a [f64]) -> impl Iterator<Item = (ConeKind, &'a [f64])> + 'a {
    cones.iter().scan(0, move |at, &(cone, dim)| {
        let block = &v[*at..*at + dim];
        *at += dim;
        Some((cone, block))
    })
}

/// CBF: `min cᵀx + c0` s.t. `g = Ax + β ∈ K_con`, `x ∈ K_var`, with
/// `c = Aᵀy + v`, `y ∈ K_con*`, `v ∈ K_var*` at an optimum (for `−f` when the
/// file maximises): primal = worst cone violation of `g` and `x`, dual = the
/// worst of ‖c − Aᵀy − v‖∞ and the dual cones' violations, gap = |cᵀx + βᵀy|,
/// every sum an [`ExactSum`].
fn cbf_residuals(model: &CbfModel, out: &Value) -> Residuals {
    let x = array(&out["x"]);
    let y = array(&out["con_duals"]);
    let v = array(&out["var_duals"]);
    let sign = if model.sense == Sense::Maximize { -1.0 } else { 1.0 };
    let mut g = vec![ExactSum::default(); model.m];
    let mut stationarity: Vec<ExactSum> = v.iter().map(|v| ExactSum::new(-v)).collect();
    for &(j, c) in &model.c {
        stationarity[j].add(sign * c);
    }
    let mut gap = ExactSum::default();
    for &(i, b) in &model.b {
        g[i].add(b);
        gap.add_product(b, y[i]);
    }
    for &(i, j, a) in &model.a {
        g[i].add_product(a, x[j]);
        stationarity[j].add_product(-a, y[i]);
    }
    for &(j, c) in &model.c {
        gap.add_product(sign * c, x[j]);
    }
    let g: Vec<f64> = g.into_iter().map(ExactSum::value).collect();
    let primal = blocks(&model.con_cones, &g).chain(blocks(&model.var_cones, &x)).map(|(k, b)| cone_violation(k, b));
    let cones = blocks(&model.con_cones, &y).chain(blocks(&model.var_cones, &v));
    let dual = cones.map(|(k, b)| cone_violation(dual_cone(k), b)).chain(stationarity.iter().map(|s| s.value().abs()));
    Residuals { primal: primal.fold(0.0, f64::max), dual: dual.fold(0.0, f64::max), gap: gap.value().abs() }
}

/// One problem solved: the JSON `ddnc solve` writes and the recomputed residuals.
fn solve_problem(r: &Reference, settings: &Settings) -> (Value, Residuals) {
    let path = data().join(&r.file);
    if r.file.ends_with(".cbf") {
        let loaded = ddn::io::read_cbf(&path).unwrap_or_else(|e| panic!("{}: {e}", r.problem));
        let sol = solve(&loaded.program, settings).unwrap_or_else(|e| panic!("{}: {e}", r.problem));
        let out = ddn::report::solution::cbf_json(&loaded, &sol);
        let res = if out.get("x").is_some() { cbf_residuals(&loaded.model, &out) } else { unsolved() };
        (out, res)
    } else {
        let loaded = ddn::io::read_mps(&path).unwrap_or_else(|e| panic!("{}: {e}", r.problem));
        let sol = solve(&loaded.program, settings).unwrap_or_else(|e| panic!("{}: {e}", r.problem));
        let out = ddn::report::solution::mps_json(&loaded, &sol);
        let res = if out.get("x").is_some() { mps_residuals(&loaded.model, &out) } else { unsolved() };
        (out, res)
    }
}

fn unsolved() -> Residuals {
    Residuals { primal: f64::INFINITY, dual: f64::INFINITY, gap: f64::INFINITY }
}

/// Solves every shipped problem of `set` at the solver tolerance `solver_tol`
/// and judges it at `tol` (recomputed residuals) and by the reference optimum.
fn check_set(set: &str, solver_tol: Option<f64>, tol: f64) {
    let mut settings = Settings::default();
    if let Some(t) = solver_tol {
        (settings.tol_gap_abs, settings.tol_gap_rel, settings.tol_feas) = (t, t, t);
    }
    let problems: Vec<_> = references().iter().filter(|r| r.set == set).collect();
    let mut table = vec![format!(
        "| {set} | status | primal residual | dual residual | duality gap | ≤ {tol:e} | objective vs reference |"
    )];
    table.push("|---|---|---|---|---|---|---|".into());
    let (mut unexpected, mut now_passing) = (Vec::new(), Vec::new());
    let (mut residuals_ok, mut objective_ok) = (0, 0);
    for r in &problems {
        let (out, res) = solve_problem(r, &settings);
        let status = out["status"].as_str().unwrap_or("?").to_string();
        let optimal = status == "optimal";
        let within = optimal && res.within(tol);
        let objective = out.get("objective").map(number);
        let accepted = optimal && objective.is_some_and(|f| r.accepts(f));
        residuals_ok += usize::from(within);
        objective_ok += usize::from(accepted);
        table.push(format!(
            "| {} | {status} | {:.1e} | {:.1e} | {:.1e} | {} | {} |",
            r.problem,
            res.primal,
            res.dual,
            res.gap,
            if within { "yes" } else { "no" },
            if accepted { "yes" } else { "no" }
        ));
        // A listed problem counts as passing again only with a margin of 10 (its
        // residuals sit near the threshold, where rounding may differ by machine).
        let clearly_within = optimal && res.within(tol / 10.0);
        let judged = [
            (within, clearly_within, RESIDUAL_FAILURES, "residuals"),
            (accepted, accepted, OBJECTIVE_FAILURES, "objective"),
        ];
        for (ok, clearly_ok, known, what) in judged {
            let listed = known.iter().any(|(p, _)| *p == r.problem);
            if !ok && !listed {
                unexpected.push(format!(
                    "{} ({what}): {status}, residuals {:.1e} / {:.1e} / {:.1e}, objective {:?} vs {:e}",
                    r.problem, res.primal, res.dual, res.gap, objective, r.recommended_obj
                ));
            }
            if clearly_ok && listed {
                now_passing.push(format!("{} ({what})", r.problem));
            }
        }
    }
    let n = problems.len();
    eprintln!("{}\n{set}: recomputed residuals ≤ {tol:e}: {residuals_ok}/{n}; objective within the reference's tolerance: {objective_ok}/{n}", table.join("\n"));
    assert!(unexpected.is_empty(), "{set}: unexpected failures:\n{}", unexpected.join("\n"));
    assert!(now_passing.is_empty(), "{set}: now passing, remove from the known failures: {now_passing:?}");
}

/// The solver stops on relative criteria and the judge is absolute, so each
/// set is solved at a tighter solver tolerance than it is judged at; the
/// tolerances are those measured best by the judge (2026-12-06, the exact
/// judge and the polish's residuals in twice the precision): here 1e-10 (81
/// pass; 79 at 1e-11); with the tightenings after a missed active-set polish
/// (`MAX_TIGHTENINGS`, session 13) 83 pass at 1e-10; 84 with the re-solve
/// after a stall (`STALL_REG_FACTOR`, session 14: YAO).
#[test]
fn maros_meszaros_qps() {
    check_set("maros_meszaros", Some(1e-10), 1e-9);
}

/// Solver tolerance 1e-12 (51 pass; 48 at 1e-10, 49 at 1e-11, measured
/// 2026-12-06 as above; 52 with the tightenings; all 54 since the KKT solves'
/// refinement target follows the tolerance (`Settings::refine_target`):
/// ETAMACRO and FFFFF800 had stalled at `optimal_inaccurate` at 1e-12 on the
/// refinement's floor).
#[test]
fn netlib_lps() {
    check_set("netlib_lp", Some(1e-12), 1e-8);
}

/// Solver tolerance 1e-10: all 9 pass, and every objective is within the
/// reference's tolerance (2026-12-06, session 14, with the second-order cones'
/// frame form and their slacks from the primal rows; at 1e-9 8 pass, sched_50_50_orig's gap
/// 5.4e-6, and nql30's and qssp30's objectives are 1.5e-7 and 9.3e-7 off; at
/// 1e-11 chainsing-1000-3, nql30 and sambal stop `optimal_inaccurate`). Before
/// those changes 7 passed at 1e-9, 4 at the default 1e-8, and at 1e-10 most
/// stalled at `optimal_inaccurate`.
#[test]
fn cblib_socps() {
    check_set("cblib_socp", Some(1e-10), 1e-8);
}

/// HS21 by hand: `min 0.01 x₁² + x₂² − 100` s.t. `10x₁ − x₂ ≥ 10`, `2 ≤ x₁ ≤ 50`,
/// `−50 ≤ x₂ ≤ 50`. The optimum is `x = (2, 0)`, `f = −99.96`; the row is
/// inactive (`10·2 − 0 = 20 > 10`), so its dual is 0, and the active lower bound
/// of `x₁` carries `z₁ = −(Qx + c)₁ = −0.02·2 = −0.04` (≤ 0: a lower side).
#[test]
fn solution_json_matches_hs21_by_hand() {
    let loaded = ddn::io::read_mps(data().join("maros_meszaros/HS21.qps")).unwrap();
    let settings = Settings { tol_gap_abs: 1e-10, tol_gap_rel: 1e-10, tol_feas: 1e-10, ..Settings::default() };
    let out = ddn::report::solution::mps_json(&loaded, &solve(&loaded.program, &settings).unwrap());
    assert_eq!(out["status"], "optimal");
    let (x, z) = (&out["x"], &out["bound_duals"]);
    let cols = &loaded.model.col_names;
    let close = |v: &Value, want: f64| (number(v) - want).abs() <= 1e-8;
    assert!(close(&x[&cols[0]], 2.0) && close(&x[&cols[1]], 0.0), "{x}");
    assert!(close(&z[&cols[0]], -0.04) && close(&z[&cols[1]], 0.0), "{z}");
    assert!(close(&out["row_duals"][&loaded.model.row_names[0]], 0.0), "{}", out["row_duals"]);
    assert!(close(&out["objective"], -99.96), "{}", out["objective"]);
}
