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
/// complementarity where its guess of the active set is right. The problems
/// listed are of three kinds:
///
/// - [`Miss::Rounding`], asserted: every measure over the tolerance is within
///   what rounding the exact solution to doubles can do to it ([`Rounding`]).
///   The gaps of these problems are sums of terms up to 1e12 (QSHELL), so a
///   gap of 1e-9 is a relative 1e-16 to 1e-21; on all of them but QGROW7 the
///   gap's σ, what the rounded exact optimum shows on average, is itself over
///   1e-9 (`typical`, asserted too). A double-precision answer passes these by the luck of its rounding
///   (some problems with a σ over 1e-9 do pass: QSCAGR7, QISRAEL, …), or by
///   choosing which way to round, which would fit the judge, not the problem.
/// - [`Miss::Solver`]: a measure is beyond its rounding floor, so a better
///   point exists in double precision: the polish's guess of the active set
///   was wrong (degenerate rows with both slack and multiplier small), also
///   after the iterations went on at tightened tolerances, and the IPM's point
///   stands.
/// - [`Miss::Margin`]: passes here, but not by the margin of 10 that a listed
///   problem needs to count as passing again.
const RESIDUAL_FAILURES: &[(&str, Miss)] = &[
    // maros_meszaros (solver tolerance 1e-10)
    ("CVXQP3_M", Miss::Margin("dual residual 6.5e-10, gap 5.5e-10")),
    ("Q25FV47", Miss::Margin("gap 2.6e-10")),
    ("QBEACONF", Miss::Margin("dual residual 8.2e-10")),
    ("QCAPRI", Miss::Rounding { typical: true }),
    ("QFFFFF80", Miss::Margin("gap 1.9e-10")),
    ("QFORPLAN", Miss::Rounding { typical: true }),
    ("QGFRDXPN", Miss::Rounding { typical: true }),
    ("QGROW15", Miss::Rounding { typical: true }),
    ("QGROW22", Miss::Rounding { typical: true }),
    ("QGROW7", Miss::Rounding { typical: false }),
    ("QISRAEL", Miss::Margin("gap 7.4e-10")),
    ("QPCBOEI1", Miss::Margin("gap 8.3e-10")),
    ("QPCBOEI2", Miss::Rounding { typical: true }),
    ("QPCSTAIR", Miss::Margin("gap 2.8e-10")),
    (
        "QPILOTNO",
        Miss::Solver(
            "gap 7.6e-8 (21 times its rounding floor), primal residual 1.7e-9; dual residual 2.5e-9, column \
             UR501's rounding (its bound multiplier −1.2e8, half an ulp 7.5e-9)",
        ),
    ),
    ("QSCAGR25", Miss::Rounding { typical: true }),
    ("QSCFXM1", Miss::Rounding { typical: true }),
    ("QSCFXM2", Miss::Rounding { typical: true }),
    ("QSCFXM3", Miss::Rounding { typical: true }),
    ("QSEBA", Miss::Rounding { typical: true }),
    ("QSHELL", Miss::Rounding { typical: true }),
    ("QSHIP12S", Miss::Margin("gap 1.7e-10")),
    ("QSIERRA", Miss::Margin("gap 3.6e-10")),
    ("QSTAIR", Miss::Margin("gap 6.2e-10")),
    ("STADAT1", Miss::Rounding { typical: true }),
    // netlib_lp (solver tolerance 1e-12)
    ("AGG2", Miss::Margin("gap 2.5e-9")),
    ("GROW15", Miss::Margin("gap 1.6e-9")),
];

/// Why a listed problem misses the tolerance ([`RESIDUAL_FAILURES`]).
#[derive(Clone, Copy, Debug)]
enum Miss {
    /// Within the rounding floor of every measure it misses (asserted), and,
    /// where `typical`, the gap's σ over the tolerance too (asserted): the
    /// exact optimum, rounded, misses on average.
    Rounding { typical: bool },
    /// The solver's: the measures, beyond their rounding floors.
    Solver(&'static str),
    /// Passes here, not by the margin of 10: the measures.
    Margin(&'static str),
}

impl Miss {
    /// The table's "why" column.
    fn why(self) -> String {
        match self {
            Miss::Rounding { typical: true } => "at the rounding floor, σ over the tolerance".into(),
            Miss::Rounding { typical: false } => "at the rounding floor".into(),
            Miss::Solver(what) => format!("the solver's: {what}"),
            Miss::Margin(what) => format!("passes, not by 10×: {what}"),
        }
    }
}

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
    /// How the three compare with what rounding alone does (MPS/QPS only).
    rounding: Option<Rounding>,
}

/// What rounding the exact solution to doubles does to the judge's measures.
/// Rounding moves each entry `v` by up to `u·|v|` (u = 2⁻⁵³), so moves a sum
/// Σ tₖ of products of entries by up to `u·Σ|tₖ|` to first order — for a
/// residual row `u·Σⱼ|aᵢⱼxⱼ|`, for the gap `u·Σⱼ|(2Qx + c)ⱼxⱼ| +
/// u·Σ|bound·multiplier|` — and, with independent errors uniform in
/// `[−u|v|, u|v|]`, by `σ = u·‖t‖₂/√3` on average.
#[derive(Clone, Copy, Debug)]
struct Rounding {
    /// Primal residual, dual residual and gap over their worst-case floors
    /// `u·Σ|tₖ|` (for the residuals the worst row or column).
    over_floor: [f64; 3],
    /// The gap's σ: where it exceeds the tolerance, the exact optimum itself,
    /// rounded, shows a gap over the tolerance on average.
    gap_sigma: f64,
}

impl Residuals {
    fn within(&self, tol: f64) -> bool {
        self.primal <= tol && self.dual <= tol && self.gap <= tol
    }

    /// Every measure over `tol` is within its worst-case rounding floor: the
    /// exact solution, rounded to doubles, could show it.
    fn at_rounding_floor(&self, tol: f64) -> bool {
        let Some(rounding) = self.rounding else { return false };
        [self.primal, self.dual, self.gap].iter().zip(rounding.over_floor).all(|(v, r)| *v <= tol || r <= 1.0)
    }
}

/// The unit roundoff of a double.
const U: f64 = f64::EPSILON / 2.0;

/// `v` over the worst-case rounding floor `u·size` of a sum whose terms'
/// magnitudes add up to `size` ([`Rounding`]).
fn over_floor(v: f64, size: f64) -> f64 {
    if v == 0.0 {
        0.0
    } else {
        v / (U * size)
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
    // Σ|terms| of each row of Ax and of each column of the stationarity sum.
    let mut ax_size = vec![0.0f64; m];
    let mut dual_size: Vec<f64> = z.iter().map(|z| z.abs()).collect();
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
        ax_size[i] += (a * x[j]).abs();
        dual_size[j] += (a * y[i]).abs();
    }
    let mut gap = ExactSum::default();
    let mut grad: Vec<f64> = model.c.iter().map(|c| sign * c).collect();
    for &(i, j, q) in &model.quad {
        grad[i] += 2.0 * sign * q * x[j];
        dual_size[i] += (q * x[j]).abs();
        if i != j {
            grad[j] += 2.0 * sign * q * x[i];
            dual_size[j] += (q * x[i]).abs();
        }
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
        (violation(ax[i].value(), lo, hi), ax_size[i], side(lo, hi, y[i]), y[i])
    });
    let cols = (0..n).map(|j| {
        let (lo, hi) = (model.lower[j], model.upper[j]);
        (violation(x[j], lo, hi), x[j].abs(), side(lo, hi, z[j]), z[j])
    });
    let (mut primal, mut primal_over) = (0.0f64, 0.0f64);
    // An entry of x at one of its bounds is a double, exactly: no rounding.
    let at_bound = |j: usize| x[j] == model.lower[j] || x[j] == model.upper[j];
    let gap_terms: Vec<f64> = (0..n).filter(|&j| !at_bound(j)).map(|j| grad[j] * x[j]).collect();
    let (mut gap_size, mut gap_squares) =
        (gap_terms.iter().map(|t| t.abs()).sum::<f64>(), gap_terms.iter().map(|t| t * t).sum::<f64>());
    for (v, size, bound, dual) in rows.chain(cols) {
        primal = primal.max(v);
        primal_over = primal_over.max(over_floor(v, size));
        gap.add_product(bound, dual);
        if dual != 0.0 {
            gap_size += (bound * dual).abs();
            gap_squares += (bound * dual).powi(2);
        }
    }
    let dual: Vec<f64> = dual.iter().map(|d| d.value().abs()).collect();
    let dual_over = dual.iter().zip(&dual_size).fold(0.0f64, |a, (d, s)| a.max(over_floor(*d, *s)));
    let gap = gap.value().abs();
    Residuals {
        primal,
        dual: dual.iter().fold(0.0, |a, d| a.max(*d)),
        gap,
        rounding: Some(Rounding {
            over_floor: [primal_over, dual_over, over_floor(gap, gap_size)],
            gap_sigma: U * gap_squares.sqrt() / 3f64.sqrt(),
        }),
    }
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
    Residuals {
        primal: primal.fold(0.0, f64::max),
        dual: dual.fold(0.0, f64::max),
        gap: gap.value().abs(),
        rounding: None,
    }
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
    Residuals { primal: f64::INFINITY, dual: f64::INFINITY, gap: f64::INFINITY, rounding: None }
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
        "| {set} | status | primal residual | dual residual | duality gap | missed measures over their rounding floors | gap's rounding σ | ≤ {tol:e} | objective vs reference | why it is listed |"
    )];
    table.push("|---|---|---|---|---|---|---|---|---|---|".into());
    let (mut unexpected, mut now_passing) = (Vec::new(), Vec::new());
    let (mut residuals_ok, mut objective_ok, mut noisy) = (0, 0, 0);
    for r in &problems {
        let (out, res) = solve_problem(r, &settings);
        let status = out["status"].as_str().unwrap_or("?").to_string();
        let optimal = status == "optimal";
        let within = optimal && res.within(tol);
        let objective = out.get("objective").map(number);
        let accepted = optimal && objective.is_some_and(|f| r.accepts(f));
        residuals_ok += usize::from(within);
        noisy += usize::from(res.rounding.is_some_and(|r| r.gap_sigma > tol));
        objective_ok += usize::from(accepted);
        let miss = RESIDUAL_FAILURES.iter().find(|(p, _)| *p == r.problem).map(|(_, m)| *m);
        let objective_miss = OBJECTIVE_FAILURES.iter().find(|(p, _)| *p == r.problem).map(|(_, why)| *why);
        table.push(format!(
            "| {} | {status} | {:.1e} | {:.1e} | {:.1e} | {} | {} | {} | {} |",
            r.problem,
            res.primal,
            res.dual,
            res.gap,
            res.rounding.map_or("– | –".into(), |r| {
                // Only the measures that miss the tolerance are shown.
                let measures = [res.primal, res.dual, res.gap];
                let over: Vec<String> = measures
                    .iter()
                    .zip(r.over_floor)
                    .map(|(v, o)| if *v > tol { format!("{o:.1e}") } else { "·".into() })
                    .collect();
                format!("{} | {:.1e}", over.join(" / "), r.gap_sigma)
            }),
            if within { "yes" } else { "no" },
            if accepted { "yes" } else { "no" },
            [miss.map(Miss::why), objective_miss.map(String::from)]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ")
        ));
        // A listed problem counts as passing again only with a margin of 10 (its
        // residuals sit near the threshold, where rounding may differ by machine).
        let clearly_within = optimal && res.within(tol / 10.0);
        let judged = [
            (within, clearly_within, miss.is_some(), "residuals"),
            (accepted, accepted, objective_miss.is_some(), "objective"),
        ];
        if let Some(Miss::Rounding { typical }) = miss {
            if !within && !res.at_rounding_floor(tol) {
                unexpected.push(format!("{} is listed as at its rounding floor, but is not: {res:?}", r.problem));
            }
            if typical && !res.rounding.is_some_and(|r| r.gap_sigma > tol) {
                unexpected.push(format!("{} is listed with a gap's σ over {tol:e}, but it is not: {res:?}", r.problem));
            }
        }
        for (ok, clearly_ok, listed, what) in judged {
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
    if noisy > 0 {
        eprintln!("{set}: {noisy} problems' gaps have a rounding σ over {tol:e} (the exact optimum, rounded, shows a larger gap on average)");
    }
    assert!(unexpected.is_empty(), "{set}: unexpected failures:\n{}", unexpected.join("\n"));
    assert!(now_passing.is_empty(), "{set}: now passing, remove from the known failures: {now_passing:?}");
}

/// The solver stops on relative criteria and the judge is absolute, so each
/// set is solved at a tighter solver tolerance than it is judged at; the
/// tolerances are those measured best by the judge (2026-12-06, the exact
/// judge and the polish's residuals in twice the precision): here 1e-10 (81
/// pass; 79 at 1e-11); with the tightenings after a missed active-set polish
/// (`MAX_TIGHTENINGS`, session 13) 83 pass at 1e-10; 84 with the re-solve
/// after a stall (`STALL_REG_FACTOR`, session 14: YAO); 85 with the zero
/// bounds' multipliers from stationarity (session 15: QBEACONF); 86 with the polish's
/// steps along a face (session 16: QETAMACR); 87 with the best of its active
/// sets' points and steps to a face's minimiser (session 17: QSHARE1B). The
/// other tolerances were last compared in session 14.
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
    // x₁ at its active lower bound 2 exactly (it was written 1.9999999999999998,
    // outside its bound by the KKT solve's rounding).
    assert!(number(&x[&cols[0]]) == 2.0 && close(&x[&cols[1]], 0.0), "{x}");
    assert!(close(&z[&cols[0]], -0.04) && close(&z[&cols[1]], 0.0), "{z}");
    assert!(close(&out["row_duals"][&loaded.model.row_names[0]], 0.0), "{}", out["row_duals"]);
    assert!(close(&out["objective"], -99.96), "{}", out["objective"]);
}

/// The written bound multipliers at a zero bound are column j's stationarity
/// solved for `z_j` and rounded once (`report::solution`): each such column's
/// exact residual `(Qx + c + Aᵀy + z)_j` is at most half an ulp of `z_j`
/// (where that keeps the bound's side).
/// QBEACONF's column 94751, at `z_j ≈ −1.6e7` (half an ulp 9.3e-10), had
/// 1.3e-9 from the KKT solve's `ζ`, which failed the judge's 1e-9.
#[test]
fn zero_bound_multipliers_are_stationarity_rounded_once() {
    let settings = Settings { tol_gap_abs: 1e-10, tol_gap_rel: 1e-10, tol_feas: 1e-10, ..Settings::default() };
    let mut checked = 0;
    for problem in ["QBEACONF", "QPILOTNO", "QSCAGR7"] {
        let r = references().iter().find(|r| r.problem == problem).expect("a shipped problem");
        let (out, res) = solve_problem(r, &settings);
        if problem == "QBEACONF" {
            assert!(res.within(1e-9), "QBEACONF: {res:?}");
        }
        let model = ddn::io::read_mps(data().join(&r.file)).unwrap().model;
        let x = by_name(&out["x"], &model.col_names);
        let y = by_name(&out["row_duals"], &model.row_names);
        let z = by_name(&out["bound_duals"], &model.col_names);
        let sign = if model.sense == Sense::Maximize { -1.0 } else { 1.0 };
        let mut r_d: Vec<ExactSum> = (0..model.n()).map(|j| ExactSum::new(sign * model.c[j])).collect();
        for &(i, j, a) in &model.entries {
            r_d[j].add_product(a, y[i]);
        }
        for &(i, j, q) in &model.quad {
            r_d[i].add_product(sign * q, x[j]);
            if i != j {
                r_d[j].add_product(sign * q, x[i]);
            }
        }
        for j in 0..model.n() {
            let bound = if z[j] > 0.0 { model.upper[j] } else { model.lower[j] };
            // Where the recomputed value would flip the side, the solver's stands.
            if z[j] != 0.0 && bound == 0.0 && -r_d[j].value() * z[j] > 0.0 {
                let mut sum = r_d[j];
                sum.add(z[j]);
                let half_ulp = (z[j].abs() * f64::EPSILON / 2.0).max(f64::MIN_POSITIVE);
                assert!(
                    sum.value().abs() <= half_ulp * 1.01,
                    "{problem} column {}: {:e}",
                    model.col_names[j],
                    sum.value()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} columns at a zero bound");
}
