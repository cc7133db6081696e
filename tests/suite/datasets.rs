//! The shared test sets (`../shared/data`): every shipped MPS/QPS/CBF file parses,
//! its sizes equal `reference_optima.csv`, its cone program validates, and the
//! conversion is checked numerically against the raw model with formulas written
//! here from the data README (not taken from the readers): objectives agree at
//! random points, constraint violations agree, and "x satisfies the file's
//! constraints" ⇔ "b − Ax ∈ K" on points built to satisfy or violate them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use ddn::io::cbf::{self, CbfModel, ConeKind, Part};
use ddn::io::mps::{self, MpsModel, RowKind};
use ddn::io::{Loaded, ReadError};
use ddn::solve::{ConeBlock, ConeProgram};

use super::reference::{data, references, Reference};

// ---------------------------------------------------------------- tolerances

/// Relative rounding tolerance for comparing sums computed in different orders.
const ROUNDING: f64 = 1e-12;
/// Feasibility tolerance (relative to the size of the terms of a row).
const FEAS_TOL: f64 = 1e-9;
/// Distance from a cone's boundary of the points built to be inside or outside.
const MARGIN: f64 = 1e-3;

// ---------------------------------------------------------------- data

type MpsLoaded = Loaded<MpsModel, mps::RowOrigin>;
type CbfLoaded = Loaded<CbfModel, cbf::RowOrigin>;

/// Reads `files` on a few threads, in order.
fn read_all<T: Send>(
    files: Vec<&'static Reference>,
    read: fn(PathBuf) -> Result<T, ReadError>,
) -> Vec<(&'static Reference, Result<T, String>)> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
    let chunk = files.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|refs| {
                scope.spawn(move || {
                    refs.iter()
                        .map(|r| (*r, read(data().join(&r.file)).map_err(|e| format!("{}: {e}", r.file))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a reader thread panicked")).collect()
    })
}

/// Every shipped MPS/QPS file, read once for all tests.
fn mps_files() -> &'static [(&'static Reference, Result<MpsLoaded, String>)] {
    static FILES: OnceLock<Vec<(&'static Reference, Result<MpsLoaded, String>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let refs = references().iter().filter(|r| r.set != "cblib_socp").collect();
        read_all(refs, ddn::io::read_mps)
    })
}

/// Every shipped CBF file, read once for all tests.
fn cbf_files() -> &'static [(&'static Reference, Result<CbfLoaded, String>)] {
    static FILES: OnceLock<Vec<(&'static Reference, Result<CbfLoaded, String>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let refs = references().iter().filter(|r| r.set == "cblib_socp").collect();
        read_all(refs, ddn::io::read_cbf)
    })
}

fn mps_named(problem: &str) -> &'static MpsLoaded {
    let (_, loaded) = mps_files().iter().find(|(r, _)| r.problem == problem).unwrap_or_else(|| panic!("no {problem}"));
    loaded.as_ref().unwrap_or_else(|e| panic!("{e}"))
}

fn cbf_named(problem: &str) -> &'static CbfLoaded {
    let (_, loaded) = cbf_files().iter().find(|(r, _)| r.problem == problem).unwrap_or_else(|| panic!("no {problem}"));
    loaded.as_ref().unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------- random numbers

/// SplitMix64: seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn below(&mut self, k: usize) -> usize {
        (self.next_u64() % k as u64) as usize
    }

    fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
}

// ---------------------------------------------------------------- the cone program, evaluated

/// `½xᵀPx + qᵀx + c0` with P given by its upper triangle.
fn cone_objective(p: &ConeProgram, x: &[f64]) -> f64 {
    let quad: f64 =
        p.p.entries.iter().map(|&(i, j, v)| if i == j { 0.5 * v * x[i] * x[i] } else { v * x[i] * x[j] }).sum();
    quad + p.q.iter().zip(x).map(|(q, x)| q * x).sum::<f64>() + p.c0
}

/// `s = b − Ax` and, per row, `|b| + Σ|a_ij x_j|` (the size of the terms).
fn cone_slack(p: &ConeProgram, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut s = p.b.clone();
    let mut size: Vec<f64> = p.b.iter().map(|b| b.abs()).collect();
    for &(i, j, v) in &p.a.entries {
        s[i] -= v * x[j];
        size[i] += (v * x[j]).abs();
    }
    (s, size)
}

/// Per block of K: its rows and how far `s` is outside it (0 inside).
fn cone_violations(p: &ConeProgram, s: &[f64]) -> Vec<(std::ops::Range<usize>, f64)> {
    let mut start = 0;
    p.cones
        .iter()
        .map(|&cone| {
            let rows = start..start + cone.dim();
            start = rows.end;
            let s = &s[rows.clone()];
            let v = match cone {
                ConeBlock::Zero(_) => s.iter().map(|v| v.abs()).sum(),
                ConeBlock::Nonneg(_) => s.iter().map(|v| (-v).max(0.0)).sum(),
                ConeBlock::SecondOrder(_) => (norm(&s[1..]) - s[0]).max(0.0),
                ConeBlock::Exponential | ConeBlock::Psd(_) => {
                    unreachable!("the readers produce no exponential or PSD cone")
                }
            };
            (rows, v)
        })
        .collect()
}

/// `b − Ax ∈ K`, each row with tolerance `FEAS_TOL · (1 + its terms)`.
fn cone_feasible(p: &ConeProgram, x: &[f64]) -> bool {
    let (s, size) = cone_slack(p, x);
    let mut start = 0;
    p.cones.iter().all(|&cone| {
        let rows = start..start + cone.dim();
        start = rows.end;
        let tol = |i: usize| FEAS_TOL * (1.0 + size[i]);
        match cone {
            ConeBlock::Zero(_) => rows.into_iter().all(|i| s[i].abs() <= tol(i)),
            ConeBlock::Nonneg(_) => rows.into_iter().all(|i| s[i] >= -tol(i)),
            ConeBlock::SecondOrder(_) => {
                let scale = rows.clone().map(tol).fold(0.0, f64::max);
                s[rows.start] >= norm(&s[rows.start + 1..rows.end]) - scale
            }
            ConeBlock::Exponential | ConeBlock::Psd(_) => {
                unreachable!("the readers produce no exponential or PSD cone")
            }
        }
    })
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|v| v * v).sum::<f64>().sqrt()
}

// ---------------------------------------------------------------- MPS semantics (from the README)

/// `[lo, hi]` for a row of kind `kind` with RHS `b` and optional range `r`:
/// E: `[b, b+|R|]` if R > 0, `[b−|R|, b]` if R < 0; L: `[b−|R|, b]`; G: `[b, b+|R|]`.
fn mps_interval(kind: RowKind, b: f64, r: Option<f64>) -> (f64, f64) {
    let inf = f64::INFINITY;
    match (kind, r) {
        (RowKind::Free, _) => (-inf, inf),
        (RowKind::Equal, None) => (b, b),
        (RowKind::Equal, Some(r)) if r > 0.0 => (b, b + r.abs()),
        (RowKind::Equal, Some(r)) if r < 0.0 => (b - r.abs(), b),
        (RowKind::Equal, Some(_)) => (b, b),
        (RowKind::Less, None) => (-inf, b),
        (RowKind::Less, Some(r)) => (b - r.abs(), b),
        (RowKind::Greater, None) => (b, inf),
        (RowKind::Greater, Some(r)) => (b, b + r.abs()),
    }
}

/// `c0 + cᵀx + ½xᵀQx`, each QUADOBJ off-diagonal entry standing for Q[i,j] and Q[j,i].
fn mps_objective(m: &MpsModel, x: &[f64]) -> (f64, f64) {
    let mut terms: Vec<f64> = vec![m.c0];
    terms.extend(m.c.iter().zip(x).map(|(c, x)| c * x));
    for &(i, j, v) in &m.quad {
        let qij = v * x[i] * x[j];
        terms.push(if i == j { 0.5 * qij } else { qij });
    }
    (terms.iter().sum(), terms.iter().map(|t| t.abs()).sum())
}

/// Row activities `a_i·x` and their sizes `Σ_j |a_ij x_j|`.
fn mps_activity(m: &MpsModel, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (mut r, mut size) = (vec![0.0; m.m()], vec![0.0; m.m()]);
    for &(i, j, v) in &m.entries {
        r[i] += v * x[j];
        size[i] += (v * x[j]).abs();
    }
    (r, size)
}

fn distance(v: f64, lo: f64, hi: f64) -> f64 {
    (lo - v).max(0.0) + (v - hi).max(0.0)
}

/// Total violation of the rows and bounds, and whether all hold within tolerance.
fn mps_violation(m: &MpsModel, x: &[f64]) -> (f64, bool) {
    let (r, size) = mps_activity(m, x);
    let mut total = 0.0;
    let mut feasible = true;
    for i in 0..m.m() {
        let (lo, hi) = mps_interval(m.row_kinds[i], m.rhs[i], m.ranges[i]);
        let d = distance(r[i], lo, hi);
        total += d;
        let scale =
            1.0 + size[i] + if lo.is_finite() { lo.abs() } else { 0.0 } + if hi.is_finite() { hi.abs() } else { 0.0 };
        feasible &= d <= FEAS_TOL * scale;
    }
    for (j, &xj) in x.iter().enumerate() {
        let d = distance(xj, m.lower[j], m.upper[j]);
        total += d;
        feasible &= d <= FEAS_TOL * (1.0 + xj.abs());
    }
    (total, feasible)
}

/// A random point, mostly within the bounds, some coordinates outside.
fn random_point(rng: &mut Rng, lower: &[f64], upper: &[f64]) -> Vec<f64> {
    lower
        .iter()
        .zip(upper)
        .map(|(&l, &u)| match (l.is_finite(), u.is_finite()) {
            (true, true) => {
                let w = u - l + 1.0;
                rng.uniform(l - 0.1 * w, u + 0.1 * w)
            }
            (true, false) => l + rng.uniform(-1.0, 10.0),
            (false, true) => u - rng.uniform(-1.0, 10.0),
            (false, false) => rng.uniform(-10.0, 10.0),
        })
        .collect()
}

// ---------------------------------------------------------------- CBF semantics (from the README)

/// Whether `g` lies in the cone, within `tol` relative to `1 + max|g|`.
fn cbf_in_cone(cone: ConeKind, g: &[f64]) -> bool {
    let scale = 1.0 + g.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let tol = FEAS_TOL * scale;
    match cone {
        ConeKind::Free => true,
        ConeKind::Nonneg => g.iter().all(|&v| v >= -tol),
        ConeKind::Nonpos => g.iter().all(|&v| v <= tol),
        ConeKind::Zero => g.iter().all(|&v| v.abs() <= tol),
        ConeKind::Quad => g[0] >= norm(&g[1..]) - tol,
        ConeKind::RotatedQuad => {
            let rest: f64 = g[2..].iter().map(|v| v * v).sum();
            g[0] >= -tol && g[1] >= -tol && 2.0 * g[0] * g[1] >= rest - tol * scale
        }
    }
}

/// `g = Ax + β` for all constraint rows.
fn cbf_g(m: &CbfModel, x: &[f64]) -> Vec<f64> {
    let mut g = vec![0.0; m.m];
    for &(i, v) in &m.b {
        g[i] += v;
    }
    for &(i, j, v) in &m.a {
        g[i] += v * x[j];
    }
    g
}

/// The blocks of a VAR or CON list as ranges of entries.
fn blocks(cones: &[(ConeKind, usize)]) -> Vec<(ConeKind, std::ops::Range<usize>)> {
    let mut start = 0;
    cones
        .iter()
        .map(|&(cone, dim)| {
            start += dim;
            (cone, start - dim..start)
        })
        .collect()
}

fn cbf_feasible(m: &CbfModel, x: &[f64]) -> bool {
    let g = cbf_g(m, x);
    blocks(&m.var_cones).into_iter().all(|(cone, r)| cbf_in_cone(cone, &x[r]))
        && blocks(&m.con_cones).into_iter().all(|(cone, r)| cbf_in_cone(cone, &g[r]))
}

/// A random point of `cone` (`inside`) or not in it. The second-order points are
/// mostly close to the boundary (a relative distance of 1–10%), where a wrong
/// scaling of the cone would put them on the other side.
fn cbf_sample(rng: &mut Rng, cone: ConeKind, dim: usize, inside: bool) -> Vec<f64> {
    let mut v: Vec<f64> = (0..dim).map(|_| rng.uniform(-2.0, 2.0)).collect();
    let margin = MARGIN + rng.uniform(0.0, 1.0);
    let near = rng.uniform(0.01, 0.1);
    match (cone, inside) {
        (ConeKind::Free, _) => {}
        (ConeKind::Nonneg, true) => v.iter_mut().for_each(|x| *x = x.abs() + margin),
        (ConeKind::Nonpos, true) => v.iter_mut().for_each(|x| *x = -x.abs() - margin),
        (ConeKind::Zero, true) => v.iter_mut().for_each(|x| *x = 0.0),
        (ConeKind::Nonneg | ConeKind::Nonpos | ConeKind::Zero, false) => {
            // In the cone except for one entry.
            let mut w = cbf_sample(rng, cone, dim, true);
            let k = rng.below(dim);
            w[k] = match cone {
                ConeKind::Nonneg => -margin,
                ConeKind::Nonpos => margin,
                _ if rng.coin() => margin,
                _ => -margin,
            };
            return w;
        }
        (ConeKind::Quad, _) => {
            let t = norm(&v[1..]);
            v[0] = match (inside, rng.below(3)) {
                (true, 0) => t + margin,
                (true, _) => t * (1.0 + near) + MARGIN,
                (false, 0) => -t - margin,
                (false, _) => t * (1.0 - near) - MARGIN,
            };
        }
        (ConeKind::RotatedQuad, _) => {
            if dim > 2 && v[2].abs() < 0.5 {
                v[2] += 1.0; // keep ‖g₃‖ away from 0 so "near the boundary" means something
            }
            let rest: f64 = v[2..].iter().map(|x| x * x).sum();
            let g1 = rng.uniform(0.5, 2.0);
            let g2 = rest / (2.0 * g1);
            (v[0], v[1]) = match (inside, rng.below(4)) {
                (true, 0) => (g1, g2 + margin),
                (true, _) => (g1, g2 * (1.0 + near) + MARGIN),
                // 2·g₁·g₂ < ‖g₃‖², just.
                (false, 0 | 1) => (g1, g2 * (1.0 - near) - MARGIN),
                // 2·g₁·g₂ ≥ ‖g₃‖² but both negative: outside.
                (false, 2) => (-g1, -g2 - margin),
                // One negative.
                (false, _) => (-margin, g2 + margin),
            };
        }
    }
    v
}

// ---------------------------------------------------------------- the tests

#[test]
fn every_shipped_file_has_a_reference_row() {
    let refs = references();
    for (folder, ext, count) in [("maros_meszaros", "qps", 102), ("netlib_lp", "mps", 54), ("cblib_socp", "cbf", 9)] {
        let mut on_disk: Vec<String> = std::fs::read_dir(data().join(folder))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|f| f.ends_with(&format!(".{ext}")))
            .map(|f| format!("{folder}/{f}"))
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = refs.iter().filter(|r| r.set == folder).map(|r| r.file.clone()).collect();
        listed.sort();
        assert_eq!(on_disk, listed, "{folder}: the files on disk and the CSV rows with a file differ");
        assert_eq!(on_disk.len(), count, "{folder}");
    }
}

#[test]
fn every_mps_file_parses_with_the_reference_sizes_and_validates() {
    let mut failures = Vec::new();
    for (r, loaded) in mps_files() {
        let l = match loaded {
            Ok(l) => l,
            Err(e) => {
                failures.push(e.clone());
                continue;
            }
        };
        let m = &l.model;
        // nnz_Q_lower counts nonzero entries: LASER lists 771 explicit zeros in QUADOBJ
        // (4002 lines, reference 3231). No A entry in the shipped files is zero.
        let mut q_lower: HashMap<(usize, usize), f64> = HashMap::new();
        for &(i, j, v) in &m.quad {
            *q_lower.entry((i.max(j), i.min(j))).or_default() += v;
        }
        let nnz_q = q_lower.values().filter(|&&v| v != 0.0).count();
        let got = (m.n(), m.m(), m.entries.len(), nnz_q);
        let want = (r.n, r.m, r.nnz_a, r.nnz_q_lower);
        if got != want {
            failures.push(format!("{}: (n, m, nnz_A, nnz_Q_lower) = {got:?}, reference {want:?}", r.file));
        }
        if m.c0 != r.obj_constant {
            failures.push(format!("{}: objective constant {} (reference {})", r.file, m.c0, r.obj_constant));
        }
        if let Err(e) = l.program.validate() {
            failures.push(format!("{}: invalid cone program: {e}", r.file));
        }
        if l.program.n() != m.n() || l.origins.len() != l.program.m() {
            failures.push(format!("{}: cone program sizes", r.file));
        }
    }
    // Coefficients below 1e-9 are kept (KSIP in A, LASER in Q).
    let tiny = |v: f64| v != 0.0 && v.abs() < 1e-9;
    assert!(mps_named("KSIP").model.entries.iter().any(|e| tiny(e.2)), "KSIP: tiny coefficients dropped");
    assert!(mps_named("LASER").model.quad.iter().any(|e| tiny(e.2)), "LASER: tiny coefficients dropped");
    assert!(mps_named("LASER").program.p.entries.iter().any(|e| tiny(e.2)), "LASER: tiny coefficients dropped");
    assert_eq!(mps_files().len(), 156);
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_cbf_file_parses_with_the_reference_sizes_and_validates() {
    let mut failures = Vec::new();
    for (r, loaded) in cbf_files() {
        let l = match loaded {
            Ok(l) => l,
            Err(e) => {
                failures.push(e.clone());
                continue;
            }
        };
        let m = &l.model;
        let got = (m.n, m.m, m.a.len(), 0, m.c0);
        let want = (r.n, r.m, r.nnz_a, r.nnz_q_lower, r.obj_constant);
        if got != want {
            failures.push(format!("{}: (n, m, nnz_A, nnz_Q_lower, c0) = {got:?}, reference {want:?}", r.file));
        }
        let version = if r.problem == "sambal" { 2 } else { 1 };
        if m.version != version {
            failures.push(format!("{}: VER {} (expected {version})", r.file, m.version));
        }
        if let Err(e) = l.program.validate() {
            failures.push(format!("{}: invalid cone program: {e}", r.file));
        }
        // F blocks give no rows; every other block one row per entry.
        let rows: usize =
            m.var_cones.iter().chain(&m.con_cones).filter(|(c, _)| *c != ConeKind::Free).map(|(_, d)| d).sum();
        if l.program.m() != rows || l.origins.len() != rows || !l.program.p.entries.is_empty() {
            failures.push(format!("{}: {} cone-program rows, expected {rows}", r.file, l.program.m()));
        }
    }
    assert_eq!(cbf_files().len(), 9);
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// The cone program at known optimal points reproduces the published optima
/// (HS21: x = (2, 0); HS35: (4/3, 7/9, 4/9); TAME: (½, ½); QPTEST: (0.7625, 0.475),
/// the last from the KKT conditions with `2x₁ + x₂ ≥ 2` active), and the points are feasible.
#[test]
fn known_optimal_points_reach_the_reference_optima() {
    let cases: [(&str, &[f64]); 4] = [
        ("HS21", &[2.0, 0.0]),
        ("HS35", &[4.0 / 3.0, 7.0 / 9.0, 4.0 / 9.0]),
        ("TAME", &[0.5, 0.5]),
        ("QPTEST", &[0.7625, 0.475]),
    ];
    for (name, x) in cases {
        let l = mps_named(name);
        let r = references().iter().find(|r| r.problem == name).unwrap();
        let f = cone_objective(&l.program, x);
        let err = (f - r.recommended_obj).abs() / r.recommended_obj.abs().max(1.0);
        assert!(err <= r.recommended_rtol, "{name}: objective {f} at the optimum, reference {}", r.recommended_obj);
        assert!(cone_feasible(&l.program, x), "{name}: the optimal point is not feasible in the cone program");
        assert!(mps_violation(&l.model, x).1, "{name}: the optimal point violates the file's constraints");
    }
}

/// For every MPS/QPS file and random points: the cone program's objective equals
/// `c0 + cᵀx + ½xᵀQx`, and the total violation `Σ dist(b − Ax, K)` (Zero |s|, Nonneg
/// max(−s, 0)) equals the total distance of the rows' activities and of x to
/// their intervals: each side of each row and bound is a row of the program.
#[test]
fn mps_conversion_preserves_objective_and_violations() {
    let mut rng = Rng(0x5eed_0001);
    for (r, loaded) in mps_files() {
        let l = loaded.as_ref().unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..3 {
            let x = random_point(&mut rng, &l.model.lower, &l.model.upper);
            let (f, size) = mps_objective(&l.model, &x);
            let g = cone_objective(&l.program, &x);
            assert!((f - g).abs() <= ROUNDING * (1.0 + size), "{}: objective {g}, raw {f}", r.file);

            let (raw, _) = mps_violation(&l.model, &x);
            let (s, sizes) = cone_slack(&l.program, &x);
            let cone: f64 = cone_violations(&l.program, &s).iter().map(|(_, v)| v).sum();
            let scale = 1.0 + sizes.iter().sum::<f64>();
            assert!((raw - cone).abs() <= ROUNDING * scale, "{}: violation {cone} in K, raw {raw}", r.file);
        }
    }
}

/// Rewrites the RHS, ranges and bounds of `m` around the activities at `x` so that x
/// satisfies every row and bound with a margin, except for `violate` (a row index,
/// or `m + j` for column j's bounds), which it misses by a margin. Row kinds stay;
/// ranges are drawn afresh (none, positive, negative, zero) so every case occurs.
fn mps_around(rng: &mut Rng, m: &MpsModel, x: &[f64], violate: Option<usize>) -> MpsModel {
    let mut m = m.clone();
    let (r, size) = mps_activity(&m, x);
    let inf = f64::INFINITY;
    for i in 0..m.m() {
        let margin = MARGIN * (1.0 + size[i]) * rng.uniform(1.0, 10.0);
        m.ranges[i] = match rng.below(4) {
            0 => None,
            1 => Some(rng.uniform(3.0, 5.0) * margin),
            2 => Some(-rng.uniform(3.0, 5.0) * margin),
            _ => Some(0.0),
        };
        // The interval is [b + α, b + β].
        let (alpha, beta) = mps_interval(m.row_kinds[i], 0.0, m.ranges[i]);
        m.rhs[i] = if violate == Some(i) {
            let above = beta.is_finite() && (!alpha.is_finite() || rng.coin());
            if above {
                r[i] - beta - margin
            } else if alpha.is_finite() {
                r[i] - alpha + margin
            } else {
                0.0 // a free row cannot be violated; the caller avoids it
            }
        } else {
            match (alpha.is_finite(), beta.is_finite()) {
                (true, true) if alpha == beta => r[i] - alpha,
                (true, true) => r[i] - 0.5 * (alpha + beta),
                (true, false) => r[i] - alpha - margin,
                (false, true) => r[i] - beta + margin,
                (false, false) => rng.uniform(-1.0, 1.0),
            }
        };
    }
    for (j, &xj) in x.iter().enumerate() {
        let margin = MARGIN * (1.0 + xj.abs()) * rng.uniform(1.0, 10.0);
        let (l, u) = match rng.below(5) {
            0 => (xj, xj),
            1 => (xj - margin, xj + 2.0 * margin),
            2 => (xj - margin, inf),
            3 => (-inf, xj + margin),
            _ => (-inf, inf),
        };
        (m.lower[j], m.upper[j]) = if violate == Some(m.m() + j) {
            if rng.coin() {
                (xj + margin, if u.is_finite() { xj + 3.0 * margin } else { inf })
            } else {
                (if l.is_finite() { xj - 3.0 * margin } else { -inf }, xj - margin)
            }
        } else {
            (l, u)
        };
    }
    m
}

/// "x satisfies the file's constraints" ⇔ "b − Ax ∈ K", on points built to satisfy
/// all constraints and to violate exactly one (row or bound, either side), with the
/// RHS, ranges and bounds rewritten around the point (see `mps_around`), and on the
/// files' own data at random points.
#[test]
fn mps_feasibility_agrees_with_the_cone_program() {
    let mut rng = Rng(0x5eed_0002);
    let names = ["HS21", "HS35", "HS118", "QAFIRO", "AFIRO", "BOEING2", "DPKLO1", "QFORPLAN", "E226", "PILOT4"];
    for name in names {
        let l = mps_named(name);
        let model = &l.model;
        let (mut feasible, mut infeasible) = (0, 0);
        for trial in 0..40 {
            let x = random_point(&mut rng, &model.lower, &model.upper);
            let violate = if trial % 2 == 0 {
                None
            } else {
                // Any row that is not free, or any column.
                let candidates: Vec<usize> = (0..model.m())
                    .filter(|&i| model.row_kinds[i] != RowKind::Free)
                    .chain(model.m()..model.m() + model.n())
                    .collect();
                Some(candidates[rng.below(candidates.len())])
            };
            let modified = mps_around(&mut rng, model, &x, violate);
            let raw = mps_violation(&modified, &x).1;
            assert_eq!(raw, violate.is_none(), "{name}: the test's own construction failed ({violate:?})");
            let (program, _) = mps::convert(&modified);
            program.validate().unwrap();
            assert_eq!(cone_feasible(&program, &x), raw, "{name}: trial {trial}, violating {violate:?}");
            if raw {
                feasible += 1
            } else {
                infeasible += 1
            }

            // The file's own data at a random point.
            let raw = mps_violation(model, &x).1;
            assert_eq!(cone_feasible(&l.program, &x), raw, "{name}: file data, trial {trial}");
        }
        assert!(feasible > 0 && infeasible > 0, "{name}");
    }

    // With the files' own data, both outcomes occur for the small ones.
    for name in ["HS21", "HS35", "QPTEST"] {
        let l = mps_named(name);
        let mut outcomes = [0, 0];
        for _ in 0..200 {
            let x = random_point(&mut rng, &l.model.lower, &l.model.upper);
            let raw = mps_violation(&l.model, &x).1;
            assert_eq!(cone_feasible(&l.program, &x), raw, "{name}");
            outcomes[raw as usize] += 1;
        }
        assert!(outcomes[0] > 0 && outcomes[1] > 0, "{name}: {outcomes:?}");
    }
}

/// For every CBF file and random points: `qᵀx + c0 = cᵀx + c0`, and for each VAR and
/// CON block (found through the row origins) "its g lies in the cone" ⇔ "its rows of
/// b − Ax lie in their block of K".
#[test]
fn cbf_conversion_preserves_objective_and_cone_membership() {
    let mut rng = Rng(0x5eed_0003);
    for (r, loaded) in cbf_files() {
        let l = loaded.as_ref().unwrap_or_else(|e| panic!("{e}"));
        let m = &l.model;
        // Rows of each (part, block), in order, and the K block containing them.
        let mut rows_of: HashMap<(Part, usize), Vec<usize>> = HashMap::new();
        for (row, o) in l.origins.iter().enumerate() {
            rows_of.entry((o.part, o.block)).or_default().push(row);
        }
        let mut block_of_row = vec![0; l.program.m()];
        let mut start = 0;
        for (k, cone) in l.program.cones.iter().enumerate() {
            block_of_row[start..start + cone.dim()].fill(k);
            start += cone.dim();
        }
        for _ in 0..3 {
            let x: Vec<f64> = (0..m.n).map(|_| rng.uniform(-3.0, 3.0)).collect();
            let mut c = vec![0.0; m.n];
            for &(j, v) in &m.c {
                c[j] += v;
            }
            let f: f64 = c.iter().zip(&x).map(|(c, x)| c * x).sum::<f64>() + m.c0;
            let size: f64 = c.iter().zip(&x).map(|(c, x)| (c * x).abs()).sum::<f64>() + m.c0.abs();
            let g_obj = cone_objective(&l.program, &x);
            assert!((f - g_obj).abs() <= ROUNDING * (1.0 + size), "{}: objective {g_obj}, raw {f}", r.file);

            let g = cbf_g(m, &x);
            let (s, sizes) = cone_slack(&l.program, &x);
            for (part, list, values) in [(Part::Var, &m.var_cones, &x), (Part::Con, &m.con_cones, &g)] {
                for (b, (cone, range)) in blocks(list).into_iter().enumerate() {
                    let raw = cbf_in_cone(cone, &values[range.clone()]);
                    let Some(rows) = rows_of.get(&(part, b)) else {
                        assert_eq!(cone, ConeKind::Free, "{}: {part:?} block {b} has no rows", r.file);
                        continue;
                    };
                    assert_eq!(rows.len(), range.len(), "{}: {part:?} block {b}", r.file);
                    let k = block_of_row[rows[0]];
                    let cone_k = l.program.cones[k];
                    let tol = rows.iter().map(|&i| FEAS_TOL * (1.0 + sizes[i])).fold(0.0, f64::max);
                    let ss: Vec<f64> = rows.iter().map(|&i| s[i]).collect();
                    let in_k = match cone_k {
                        ConeBlock::Zero(_) => ss.iter().all(|v| v.abs() <= tol),
                        ConeBlock::Nonneg(_) => ss.iter().all(|&v| v >= -tol),
                        ConeBlock::SecondOrder(d) => {
                            assert_eq!(d, rows.len(), "{}: a cone split across K blocks", r.file);
                            ss[0] >= norm(&ss[1..]) - tol
                        }
                        ConeBlock::Exponential | ConeBlock::Psd(_) => {
                            unreachable!("the readers produce no exponential or PSD cone")
                        }
                    };
                    assert_eq!(in_k, raw, "{}: {part:?} block {b} ({cone:?})", r.file);
                }
            }
        }
    }
}

/// "x ∈ K_var and Ax + β ∈ K_con" ⇔ "b − Ax ∈ K" on points built to satisfy every
/// cone and to violate exactly one (including the QR point with g₁, g₂ < 0 and
/// 2g₁g₂ ≥ ‖g₃‖²), with β rewritten so that each constraint block's g is the point
/// wanted. Whole-program check: it does not use the row origins.
#[test]
fn cbf_feasibility_agrees_with_the_cone_program() {
    let mut rng = Rng(0x5eed_0004);
    for name in ["sambal", "chainsing-1000-3", "nb", "nql30"] {
        let l = cbf_named(name);
        let m = &l.model;
        let (var_blocks, con_blocks) = (blocks(&m.var_cones), blocks(&m.con_cones));
        // Blocks that can be violated, grouped by (part, cone) so that each kind is
        // violated equally often however rare it is in the file.
        let mut kinds: Vec<((Part, ConeKind), Vec<usize>)> = Vec::new();
        for (part, list) in [(Part::Var, &var_blocks), (Part::Con, &con_blocks)] {
            for (b, (cone, _)) in list.iter().enumerate().filter(|(_, (c, _))| *c != ConeKind::Free) {
                match kinds.iter_mut().find(|(k, _)| *k == (part, *cone)) {
                    Some((_, v)) => v.push(b),
                    None => kinds.push(((part, *cone), vec![b])),
                }
            }
        }
        let (mut feasible, mut infeasible) = (0, 0);
        for trial in 0..16 * kinds.len() {
            let violate = if trial % 2 == 0 {
                None
            } else {
                let ((part, _), list) = &kinds[(trial / 2) % kinds.len()];
                Some((*part, list[rng.below(list.len())]))
            };
            let mut x = vec![0.0; m.n];
            for (b, (cone, range)) in var_blocks.iter().enumerate() {
                let inside = violate != Some((Part::Var, b));
                x[range.clone()].copy_from_slice(&cbf_sample(&mut rng, *cone, range.len(), inside));
            }
            let mut target = vec![0.0; m.m];
            for (b, (cone, range)) in con_blocks.iter().enumerate() {
                let inside = violate != Some((Part::Con, b));
                target[range.clone()].copy_from_slice(&cbf_sample(&mut rng, *cone, range.len(), inside));
            }
            // β = target − Ax.
            let mut modified = m.clone();
            let mut beta = target;
            for &(i, j, v) in &m.a {
                beta[i] -= v * x[j];
            }
            modified.b = beta.into_iter().enumerate().collect();
            let raw = cbf_feasible(&modified, &x);
            assert_eq!(raw, violate.is_none(), "{name}: the test's own construction failed ({violate:?})");
            let (program, _) = cbf::convert(&modified);
            program.validate().unwrap();
            assert_eq!(cone_feasible(&program, &x), raw, "{name}: trial {trial}, violating {violate:?}");
            if raw {
                feasible += 1
            } else {
                infeasible += 1
            }
        }
        assert!(feasible > 0 && infeasible > 0, "{name}");
    }
}

// ---------------------------------------------------------------- malformed input

fn syntax_error<T: std::fmt::Debug>(result: Result<T, ReadError>) -> (usize, String) {
    match result {
        Err(ReadError::Syntax { line, message }) => (line, message),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

/// A shipped file's text with `edit` applied to its lines.
fn edited(file: &str, edit: impl FnOnce(&mut Vec<String>)) -> Vec<u8> {
    let text = std::fs::read_to_string(data().join(file)).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    edit(&mut lines);
    (lines.join("\n") + "\n").into_bytes()
}

fn line_of(file: &str, pred: impl Fn(&str) -> bool) -> usize {
    let text = std::fs::read_to_string(data().join(file)).unwrap();
    text.lines().position(pred).expect("a matching line") + 1
}

#[test]
fn malformed_mps_files_are_errors_with_line_numbers() {
    let file = "maros_meszaros/HS21.qps";
    // Truncated before ENDATA.
    let text = edited(file, |l| l.truncate(l.len() - 2));
    let (line, msg) = syntax_error(mps::parse(&text));
    assert!(msg.contains("ENDATA"), "{msg}");
    assert_eq!(line, line_of(file, |l| l.contains("C------1  C------1")));

    // A bad number.
    let at = line_of(file, |l| l.contains("R------1  0.100000e+02") && l.contains("C------1"));
    let text = edited(file, |l| l[at - 1] = l[at - 1].replace("0.100000e+02", "0.1000x0e+02"));
    let (line, msg) = syntax_error(mps::parse(&text));
    assert_eq!(line, at);
    assert!(msg.contains("bad number `0.1000x0e+02`"), "{msg}");

    // An unknown section.
    let at = line_of(file, |l| l == "RANGES");
    let text = edited(file, |l| l[at - 1] = "RANGERS".into());
    let (line, msg) = syntax_error(mps::parse(&text));
    assert_eq!(line, at);
    assert!(msg.contains("unknown section `RANGERS`"), "{msg}");

    // A shifted field (free-format spacing) in a name-with-blanks file.
    let file = "netlib_lp/forplan.mps";
    let at = line_of(file, |l| l.starts_with("    ") && l.len() > 40);
    let text = edited(file, |l| l[at - 1].insert(0, ' '));
    let (line, msg) = syntax_error(mps::parse(&text));
    assert_eq!(line, at, "{msg}");

    // An unreadable file is an I/O error without a line.
    let e = ddn::io::read_mps(data().join("no/such/file.mps")).unwrap_err();
    assert!(matches!(e, ReadError::Io { .. }) && e.line().is_none(), "{e}");
}

#[test]
fn malformed_cbf_files_are_errors_with_line_numbers() {
    let file = "cblib_socp/sambal.cbf";
    let total = std::fs::read_to_string(data().join(file)).unwrap().lines().count();
    // Truncated inside ACOORD.
    let acoord = line_of(file, |l| l == "ACOORD");
    let text = edited(file, |l| l.truncate(acoord + 10));
    let (line, msg) = syntax_error(cbf::parse(&text));
    assert_eq!(line, acoord + 11);
    assert!(msg.contains("ends inside ACOORD"), "{msg}");
    assert!(line <= total);

    // A bad number.
    let text = edited(file, |l| l[acoord + 2] = "1 0 -1.0.0".into());
    let (line, msg) = syntax_error(cbf::parse(&text));
    assert_eq!(line, acoord + 3);
    assert!(msg.contains("bad number `-1.0.0`"), "{msg}");

    // An unknown section, and the unsupported ones.
    for (keyword, expect) in
        [("OBJACOORDS", "unknown section"), ("PSDCON", "semidefinite"), ("INT", "integer"), ("POWCONES", "power")]
    {
        let at = line_of(file, |l| l == "OBJACOORD");
        let text = edited(file, |l| l[at - 1] = keyword.into());
        let (line, msg) = syntax_error(cbf::parse(&text));
        assert_eq!(line, at, "{keyword}");
        assert!(msg.contains(expect), "{keyword}: {msg}");
    }
}

/// A CBF reader allocates only what the file's bytes can back: a 30-byte file
/// declaring 10¹² variables is an error naming the line (it used to abort the
/// process when the conversion allocated q), a huge entry count reserves only
/// what the rest of the file can fill, and a short file may still declare up to
/// `FREE_ENTRIES`.
#[test]
fn cbf_declared_sizes_are_backed_by_the_bytes() {
    let error = |text: &str| match cbf::parse(text.as_bytes()) {
        Err(ReadError::Syntax { line, message }) => (line, message),
        other => panic!("expected an error for {text:?}, got {other:?}"),
    };
    let text = "VER\n3\nVAR\n1000000000000 1\nF 1000000000000\n";
    assert_eq!(text.len(), 42);
    let (line, msg) = error(text);
    assert_eq!(line, 4);
    assert!(msg.contains("VAR declares 1000000000000 entries, more than a file of its length can back"), "{msg}");
    let (line, msg) = error("VER\n3\nVAR\n1 1\nF 1\nCON\n99999999999 1\nL+ 99999999999\n");
    assert_eq!(line, 7);
    assert!(msg.contains("CON declares 99999999999 entries"), "{msg}");
    let (_, msg) = error("VER\n3\nVAR\n1 1\nF 1\nOBJACOORD\n100000000000000\n0 1\n");
    assert!(msg.contains("ends inside OBJACOORD"), "{msg}");
    let free = cbf::FREE_ENTRIES;
    let m = cbf::parse(format!("VER\n3\nVAR\n{free} 1\nL+ {free}\n").as_bytes()).expect("a backed size");
    assert_eq!(m.n, free);
    assert_eq!(cbf::convert(&m).0.b.len(), free);
}
