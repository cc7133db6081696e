//! Entropic optimal transport by Sinkhorn's algorithm, in the kernel domain when
//! the kernel fits in floating point and in the log domain otherwise.
//!
//! ```text
//! P* = argmin_P ⟨M, P⟩ + (1/γ) Σᵢⱼ Pᵢⱼ log Pᵢⱼ   s.t.  P 1 = r,  Pᵀ 1 = c
//! ```
//!
//! (the seed's "Optimal Transport" and "Solving Entropic Optimal Transport";
//! `stdlib/optimal_transport.ddn`). Stationarity of the Lagrangian gives
//! `Mᵢⱼ + (1/γ)(log Pᵢⱼ + 1) = uᵢ + vⱼ`, so the solution has the form
//! `P = diag(α) K diag(β)` with `K = exp(−γM)`, and the seed's Sinkhorn iteration
//!
//! ```text
//! α ← r ⊘ Kβ,   β ← c ⊘ Kᵀα
//! ```
//!
//! finds the scalings. In dual potentials, in the cost's units (`α = exp(γf)`,
//! `β = exp(γg)`, `Pᵢⱼ = exp(γ(fᵢ + gⱼ − Mᵢⱼ))`), the same iteration reads
//!
//! ```text
//! fᵢ ← (1/γ) [log rᵢ − LSEⱼ γ(gⱼ − Mᵢⱼ)],   gⱼ ← (1/γ) [log cⱼ − LSEᵢ γ(fᵢ − Mᵢⱼ)]
//! ```
//!
//! **The domain.** Shifting the cost by its minimum μ only rescales α, and leaves
//! the kernel `K = exp(−γ(M − μ))` with entries in `[e^{−s}, 1]`,
//! `s = γ (max M − min M)`. When `s` is below [`SinkhornSettings::kernel_range`]
//! (default 100: K ≥ 4·10⁻⁴⁴, the scalings within ~e^{±s}, far inside f64's
//! ~e^{±708}), the iteration runs in the *kernel domain*: mn exponentials once,
//! then per iteration the products `Kᵀα` and `Kβ` in one sweep over K
//! ([`round_trip`]: each column is read once for both). Otherwise (γ = 10³ and
//! `Mᵢⱼ = 1` give `e⁻¹⁰⁰⁰ = 0`) it runs in the *log domain*: each log-sum-exp
//! shifted by its largest term, so no exponent exceeds 0, at 2mn exponentials
//! per iteration. Both start from β = 1 (g = 0), make the same updates and stop
//! by the same test, so they return the same plan up to rounding; which one ran
//! is [`SinkhornSolution::domain`] (the node's `info` reports it).
//!
//! **Stopping test.** After a β (g) update the column sums equal c up to
//! rounding; the row sums are what the iteration drives to r. Their violation
//! comes free with the next α (f) update: the i-th row sum of the current plan
//! is `αᵢ (Kβ)ᵢ` (`exp(γfᵢ + LSEⱼ γ(gⱼ − Mᵢⱼ))`). The iteration stops when
//! `‖P1 − r‖₁ ≤ tol`, which is the test of the torch peer
//! (`/work/shared/bench/peers/bench_sinkhorn.py`: `(a * (K @ b) - r).abs().sum()
//! < tol` after each b update), and the returned plan is `Optimal` when
//! `max(‖P1 − r‖₁, ‖Pᵀ1 − c‖₁) ≤ tol`, measured on the plan itself: the same
//! test, with the columns' rounding counted too.
//!
//! Memory: `M` is read in place, the workspace is four vectors of length m or n,
//! allocated once (nothing is allocated inside the loop), and the only m×n
//! allocation is the plan (in the kernel domain K is built in the plan's storage
//! and scaled into it at the end), so the footprint does not depend on the number
//! of iterations.

// The paper's symbols: M (cost), K (kernel) and P (plan) are matrices.
#![allow(non_snake_case)]

use faer::{Mat, MatRef};

use super::SmoothError::{self, InvalidInput};
use crate::linalg::{dot, vectorised};
use crate::status::Status;

/// Sinkhorn's stopping rule and domain choice.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkhornSettings {
    /// The largest marginal violation accepted, `max(‖P1 − r‖₁, ‖Pᵀ1 − c‖₁)`
    /// (absolute, so relative to marginals that sum to 1). Default 1e-9, as
    /// `stdlib/optimal_transport.ddn` asks.
    pub tol: f64,
    /// The most (α, β) update pairs. Default 10 000: the iteration count grows
    /// like γ·max|M| (the contraction rate of Sinkhorn's map degrades as the
    /// kernel's dynamic range widens).
    pub max_iter: usize,
    /// The kernel domain is used when `γ (max M − min M) < kernel_range`, the
    /// log domain otherwise. Default 100 (see the module docs); 0 forces the log
    /// domain; at most [`MAX_KERNEL_RANGE`].
    pub kernel_range: f64,
}

/// The largest `kernel_range` accepted: `e^{−700}` is still a normal f64.
pub const MAX_KERNEL_RANGE: f64 = 700.0;

impl Default for SinkhornSettings {
    fn default() -> Self {
        SinkhornSettings { tol: 1e-9, max_iter: 10_000, kernel_range: 100.0 }
    }
}

impl SinkhornSettings {
    fn validate(&self) -> Result<(), SmoothError> {
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(InvalidInput(format!("sinkhorn: `tol` must be positive and finite, found {}", self.tol)));
        }
        if self.max_iter == 0 {
            return Err(InvalidInput("sinkhorn: `max_iter` must be at least 1".into()));
        }
        if !(0.0..=MAX_KERNEL_RANGE).contains(&self.kernel_range) {
            return Err(InvalidInput(format!(
                "sinkhorn: `kernel_range` must be in [0, {MAX_KERNEL_RANGE}], found {}",
                self.kernel_range
            )));
        }
        Ok(())
    }
}

/// Where the iteration ran (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Scalings `α, β` and the kernel `K = exp(−γ(M − min M))`: products with K and Kᵀ.
    Kernel,
    /// Potentials `f, g` and shifted log-sum-exps.
    Log,
}

impl Domain {
    /// How `info` reports it: `kernel` or `log`.
    pub fn name(self) -> &'static str {
        match self {
            Domain::Kernel => "kernel",
            Domain::Log => "log",
        }
    }
}

/// A Sinkhorn solve: the plan, its potentials and how the iteration ended.
#[derive(Clone, Debug)]
pub struct SinkhornSolution {
    /// The transport plan, m×n, `Pᵢⱼ = exp(γ(fᵢ + gⱼ − Mᵢⱼ))`.
    pub P: Mat<f64>,
    /// Row potentials (length m), in the cost's units: `α = exp(γf)`.
    pub f: Vec<f64>,
    /// Column potentials (length n): `β = exp(γg)`.
    pub g: Vec<f64>,
    /// `Optimal` when the marginal error is within `tol`, `MaxIterations` when the
    /// budget ran out first, `NumericalError` if a non-finite value appeared.
    pub status: Status,
    /// The number of (α, β) update pairs performed.
    pub iterations: usize,
    /// `max(‖P1 − r‖₁, ‖Pᵀ1 − c‖₁)` of the returned plan.
    pub marginal_error: f64,
    /// The domain the iteration ran in.
    pub domain: Domain,
}

/// Solves the entropic OT problem for cost `M` (m×n), marginals `r` (m) and `c`
/// (n), both positive with equal sums, and regularisation weight `γ > 0` (the
/// entropy term is `(1/γ) Σ P log P`, so larger γ is closer to unregularised OT).
///
/// Bad input (shapes, non-finite costs, non-positive marginals or γ, marginal
/// sums that differ by more than `tol`: then no plan meets both within `tol`) is
/// an `Err`; the solver's outcome is the returned `status`.
pub fn sinkhorn(
    M: MatRef<'_, f64>,
    r: &[f64],
    c: &[f64],
    gamma: f64,
    settings: &SinkhornSettings,
) -> Result<SinkhornSolution, SmoothError> {
    settings.validate()?;
    let (lo, hi) = validate(M, r, c, gamma, settings.tol)?;
    let (domain, (P, f, g, iterations, marginal_error)) = if gamma * (hi - lo) < settings.kernel_range {
        (Domain::Kernel, kernel_domain(M, r, c, gamma, lo, settings))
    } else {
        (Domain::Log, log_domain(M, r, c, gamma, settings))
    };
    let finite = marginal_error.is_finite() && f.iter().chain(&g).all(|x| x.is_finite());
    let status = if !finite {
        Status::NumericalError
    } else if marginal_error <= settings.tol {
        Status::Optimal
    } else {
        Status::MaxIterations
    };
    Ok(SinkhornSolution { P, f, g, status, iterations, marginal_error, domain })
}

/// The plan, the potentials `(f, g)`, the iteration count and the plan's
/// [`marginal_error`] (measured while the plan is written).
type Iterates = (Mat<f64>, Vec<f64>, Vec<f64>, usize, f64);

/// The iteration on the scalings, with `K = exp(−γ(M − μ))` held in the plan's
/// storage and `P = diag(α) K diag(β)` formed in place at the end; `f = μ +
/// log(α)/γ`, `g = log(β)/γ`.
fn kernel_domain(
    M: MatRef<'_, f64>,
    r: &[f64],
    c: &[f64],
    gamma: f64,
    mu: f64,
    settings: &SinkhornSettings,
) -> Iterates {
    let (m, n) = M.shape();
    let mut K = Mat::<f64>::zeros(m, n);
    for j in 0..n {
        K.col_mut(j).copy_from(M.col(j));
        exp_of_affine(K.col_as_slice_mut(j), -gamma, -mu);
    }
    let mut alpha = vec![1.0; m];
    let mut beta = vec![1.0; n];
    // Kβ for β = 1: K's row sums.
    let mut K_beta = vec![0.0; m];
    vectorised(
        #[inline(always)]
        || {
            for j in 0..n {
                K_beta.iter_mut().zip(K.col_as_slice(j)).for_each(|(s, k)| *s += k);
            }
        },
    );
    let mut iterations = 0;
    while iterations < settings.max_iter {
        // The row sums of the current plan are αᵢ (Kβ)ᵢ.
        if iterations > 0 {
            let violation: f64 = (0..m).map(|i| (alpha[i] * K_beta[i] - r[i]).abs()).sum();
            if violation <= settings.tol {
                break;
            }
        }
        for i in 0..m {
            alpha[i] = r[i] / K_beta[i];
        }
        // β = c ⊘ Kᵀα, and the next check's Kβ, in one sweep over K.
        round_trip(&K, &alpha, &mut beta, &mut K_beta, |j, d| c[j] / d);
        iterations += 1;
    }

    let mut marginals = Marginals::new(m);
    vectorised(
        #[inline(always)]
        || {
            for (j, &bj) in beta.iter().enumerate() {
                let column = K.col_as_slice_mut(j);
                for (p, &ai) in column.iter_mut().zip(&alpha) {
                    *p *= ai * bj;
                }
                marginals.add(column, c[j]);
            }
        },
    );
    let f = alpha.iter().map(|a| mu + a.ln() / gamma).collect();
    let g = beta.iter().map(|b| b.ln() / gamma).collect();
    (K, f, g, iterations, marginals.error(r))
}

/// The iteration on the potentials, each log-sum-exp shifted by its largest term.
fn log_domain(M: MatRef<'_, f64>, r: &[f64], c: &[f64], gamma: f64, settings: &SinkhornSettings) -> Iterates {
    let (m, n) = M.shape();
    let log_r: Vec<f64> = r.iter().map(|x| x.ln()).collect();
    let log_c: Vec<f64> = c.iter().map(|x| x.ln()).collect();
    let mut f = vec![0.0; m];
    let mut g = vec![0.0; n];
    // LSEⱼ γ(gⱼ − Mᵢⱼ) per row, and the running row maxima that shift it.
    let mut row_lse = vec![0.0; m];
    let mut row_max = vec![0.0; m];
    // One column's exponents γ(fᵢ − Mᵢⱼ), then their exponentials.
    let mut column = vec![0.0; m];

    let mut iterations = 0;
    while iterations < settings.max_iter {
        row_log_sum_exp(M, &g, gamma, &mut row_max, &mut row_lse);
        // After a g update the columns are exact, so the rows' violation is the
        // plan's marginal error.
        if iterations > 0 {
            let violation: f64 = (0..m).map(|i| ((gamma * f[i] + row_lse[i]).exp() - r[i]).abs()).sum();
            if violation <= settings.tol {
                break;
            }
        }
        for i in 0..m {
            f[i] = (log_r[i] - row_lse[i]) / gamma;
        }
        for j in 0..n {
            g[j] = (log_c[j] - col_log_sum_exp(M, &f, j, gamma, &mut column)) / gamma;
        }
        iterations += 1;
    }

    let mut P = Mat::<f64>::zeros(m, n);
    let mut marginals = Marginals::new(m);
    for j in 0..n {
        P.col_mut(j).copy_from(M.col(j));
        let col = P.col_as_slice_mut(j);
        for (p, fi) in col.iter_mut().zip(&f) {
            *p = fi + g[j] - *p;
        }
        exp_of_affine(col, gamma, 0.0);
        marginals.add(col, c[j]);
    }
    let error = marginals.error(r);
    (P, f, g, iterations, error)
}

/// `lse[i] = LSEⱼ γ(gⱼ − Mᵢⱼ)`, shifted by the row maximum `max[i]`. Two sweeps
/// over `M` column by column (faer's storage order): maxima, then shifted sums.
fn row_log_sum_exp(M: MatRef<'_, f64>, g: &[f64], gamma: f64, max: &mut [f64], lse: &mut [f64]) {
    max.fill(f64::NEG_INFINITY);
    for (j, &gj) in g.iter().enumerate() {
        for (mx, &mij) in max.iter_mut().zip(M.col(j).iter()) {
            *mx = mx.max(gamma * (gj - mij));
        }
    }
    lse.fill(0.0);
    vectorised(
        #[inline(always)]
        || {
            for (j, &gj) in g.iter().enumerate() {
                for ((s, &mx), &mij) in lse.iter_mut().zip(max.iter()).zip(M.col(j).iter()) {
                    *s += exp(gamma * (gj - mij) - mx);
                }
            }
        },
    );
    for (s, &mx) in lse.iter_mut().zip(max.iter()) {
        *s = mx + s.ln();
    }
}

/// `LSEᵢ γ(fᵢ − Mᵢⱼ)` for column j, shifted by its maximum; `column` is scratch
/// of length m.
fn col_log_sum_exp(M: MatRef<'_, f64>, f: &[f64], j: usize, gamma: f64, column: &mut [f64]) -> f64 {
    for ((x, fi), mij) in column.iter_mut().zip(f).zip(M.col(j).iter()) {
        *x = fi - mij;
    }
    let (_, max, _) = range(column);
    exp_of_affine(column, gamma, -max);
    max * gamma + sum(column).ln()
}

/// `y = K s` with `sⱼ = φ(j, (Kᵀx)ⱼ)` (s is written too), in one sweep over K's
/// columns: each is read once for its dot product with x and, still in the L1
/// cache, added into y scaled by sⱼ. Two matrix–vector products would read K
/// twice, and reading K is what bounds them (an m×n kernel rarely fits in L1).
/// Sinkhorn's half-iteration `β = c ⊘ Kᵀα` with the next `Kβ` is one sweep, and
/// so is the OT backward's `P diag(κ)⁻¹ Pᵀ p`.
pub(crate) fn round_trip(K: &Mat<f64>, x: &[f64], s: &mut [f64], y: &mut [f64], phi: impl Fn(usize, f64) -> f64) {
    y.fill(0.0);
    vectorised(
        #[inline(always)]
        || {
            for (j, sj) in s.iter_mut().enumerate() {
                let column = K.col_as_slice(j);
                *sj = phi(j, dot(column, x));
                for (yi, &kij) in y.iter_mut().zip(column) {
                    *yi += *sj * kij;
                }
            }
        },
    );
}

/// `(min x, max x, every x finite)`, in eight interleaved lanes: independent
/// chains the compiler can vectorise (a single running minimum waits on each
/// compare's latency). NaN entries are reported by the flag, not the extremes.
#[inline(always)]
fn range(x: &[f64]) -> (f64, f64, bool) {
    let (mut lo, mut hi, mut finite) = ([f64::INFINITY; 8], [f64::NEG_INFINITY; 8], [true; 8]);
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder();
    for ch in chunks {
        for k in 0..8 {
            let v = ch[k];
            lo[k] = if v < lo[k] { v } else { lo[k] };
            hi[k] = if v > hi[k] { v } else { hi[k] };
            finite[k] &= v.is_finite();
        }
    }
    for (k, &v) in tail.iter().enumerate() {
        lo[k] = lo[k].min(v);
        hi[k] = hi[k].max(v);
        finite[k] &= v.is_finite();
    }
    let lo = lo.iter().fold(f64::INFINITY, |a, &b| a.min(b));
    let hi = hi.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    (lo, hi, finite.iter().all(|&f| f))
}

/// `Σ xᵢ` in four interleaved partial sums (which the compiler can keep in one
/// vector register; a single running sum fixes the order and cannot be).
fn sum(x: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let chunks = x.chunks_exact(4);
    let tail: f64 = chunks.remainder().iter().sum();
    for ch in chunks {
        for k in 0..4 {
            acc[k] += ch[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `xᵢ ← exp(a (xᵢ + b))` over a slice, vectorised: the loop runs under
/// [`vectorised`], compiled for the best instruction set the CPU has, and
/// [`exp`] is branch-free so the compiler can vectorise it.
fn exp_of_affine(x: &mut [f64], a: f64, b: f64) {
    vectorised(
        #[inline(always)]
        || {
            for v in x.iter_mut() {
                *v = exp(a * (*v + b));
            }
        },
    );
}

/// `eˣ` without branches (so a loop of it vectorises), as fdlibm reduces it:
/// `x = k ln 2 + t` with k the nearest integer to x/ln 2 (by the 1.5·2⁵² rounding
/// trick, which also leaves k in the low bits), `|t| ≤ ln 2 / 2`, `ln 2` split in
/// two (Cody–Waite) so `k ln 2` is exact; `eᵗ` by its Taylor polynomial of
/// degree 13 (truncation below 5·10⁻¹⁸ relative); `2ᵏ` built in the exponent
/// bits. Mul and add only (no fused multiply–add), so every CPU rounds alike.
///
/// Within 2 ulp of `f64::exp` for x ∈ [−708, 709] (a test checks); 0 below
/// −708 (where eˣ is subnormal or 0), +∞ above 709 (where the exponent field
/// would wrap: a plan read off an iterate that diverged must not come back
/// finite), NaN for NaN.
#[inline(always)]
fn exp(x: f64) -> f64 {
    const SHIFTER: f64 = 6_755_399_441_055_744.0; // 1.5 · 2⁵²
    const LN2_HI: f64 = 0.693_147_180_369_123_8; // 0x3FE62E42FEE00000
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const LOWEST: f64 = -708.0;
    const HIGHEST: f64 = 709.0;
    let shifted = x * std::f64::consts::LOG2_E + SHIFTER;
    let k = shifted - SHIFTER;
    let t = (x - k * LN2_HI) - k * LN2_LO;
    // 1 + t + t²/2! + … + t¹³/13!, by Horner.
    let mut p = 1.0 / 6_227_020_800.0;
    for d in (1..=12).rev() {
        p = p * t + INV_FACTORIAL[d];
    }
    p = p * t + 1.0;
    // The low bits of `shifted` hold 2⁵¹ + k: shifted by 52 with the bias added,
    // they are the exponent field of 2ᵏ.
    let two_k = f64::from_bits(shifted.to_bits().wrapping_add(1023) << 52);
    if x < LOWEST {
        0.0
    } else if x > HIGHEST {
        f64::INFINITY
    } else {
        p * two_k
    }
}

/// `1/d!` for d = 0..=12.
const INV_FACTORIAL: [f64; 13] = [
    1.0,
    1.0,
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5_040.0,
    1.0 / 40_320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
    1.0 / 479_001_600.0,
];

/// `max(‖P1 − r‖₁, ‖Pᵀ1 − c‖₁)`.
pub fn marginal_error(P: MatRef<'_, f64>, r: &[f64], c: &[f64]) -> f64 {
    let mut marginals = Marginals::new(P.nrows());
    let mut scratch = vec![0.0; P.nrows()];
    for (j, &cj) in c.iter().enumerate() {
        let column = match P.col(j).try_as_col_major() {
            Some(column) => column.as_slice(),
            None => {
                scratch.iter_mut().zip(P.col(j).iter()).for_each(|(s, &p)| *s = p);
                &scratch
            }
        };
        marginals.add(column, cj);
    }
    marginals.error(r)
}

/// A plan's row sums and its columns' ℓ₁ violation, accumulated column by column
/// (so the pass that writes the plan measures it while each column is in cache).
struct Marginals {
    rows: Vec<f64>,
    cols: f64,
}

impl Marginals {
    fn new(m: usize) -> Self {
        Marginals { rows: vec![0.0; m], cols: 0.0 }
    }

    /// Adds a column, whose sum should be `cⱼ`.
    #[inline(always)]
    fn add(&mut self, column: &[f64], cj: f64) {
        for (row, &p) in self.rows.iter_mut().zip(column) {
            *row += p;
        }
        self.cols += (sum(column) - cj).abs();
    }

    /// `max(‖P1 − r‖₁, ‖Pᵀ1 − c‖₁)`.
    fn error(&self, r: &[f64]) -> f64 {
        let rows: f64 = self.rows.iter().zip(r).map(|(s, ri)| (s - ri).abs()).sum();
        rows.max(self.cols)
    }
}

/// Checks the input and returns `(min M, max M)`.
fn validate(M: MatRef<'_, f64>, r: &[f64], c: &[f64], gamma: f64, tol: f64) -> Result<(f64, f64), SmoothError> {
    let (m, n) = M.shape();
    if m == 0 || n == 0 {
        return Err(InvalidInput(format!(
            "sinkhorn: the cost matrix M is {m}×{n}; it needs at least one row and column"
        )));
    }
    if r.len() != m || c.len() != n {
        return Err(InvalidInput(format!(
            "sinkhorn: M is {m}×{n}, so r needs {m} entries and c {n}; found {} and {}",
            r.len(),
            c.len()
        )));
    }
    if !(gamma.is_finite() && gamma > 0.0) {
        return Err(InvalidInput(format!("sinkhorn: gamma must be positive and finite, found {gamma}")));
    }
    let (lo, hi, finite) = vectorised(
        #[inline(always)]
        || {
            (0..n).fold((f64::INFINITY, f64::NEG_INFINITY, true), |(lo, hi, finite), j| {
                let (l, h, f) = match M.col(j).try_as_col_major() {
                    Some(col) => range(col.as_slice()),
                    None => M.col(j).iter().fold((f64::INFINITY, f64::NEG_INFINITY, true), |(l, h, f), &x| {
                        (l.min(x), h.max(x), f && x.is_finite())
                    }),
                };
                (lo.min(l), hi.max(h), finite && f)
            })
        },
    );
    if !finite {
        for j in 0..n {
            if let Some(i) = M.col(j).iter().position(|x| !x.is_finite()) {
                return Err(InvalidInput(format!("sinkhorn: M[{i}, {j}] = {} is not finite", M[(i, j)])));
            }
        }
    }
    for (name, v) in [("r", r), ("c", c)] {
        if let Some(i) = v.iter().position(|x| !(x.is_finite() && *x > 0.0)) {
            return Err(InvalidInput(format!(
                "sinkhorn: the marginal {name} must be positive, but {name}[{i}] = {}",
                v[i]
            )));
        }
    }
    let (sum_r, sum_c) = (r.iter().sum::<f64>(), c.iter().sum::<f64>());
    if (sum_r - sum_c).abs() > tol {
        return Err(InvalidInput(format!(
            "sinkhorn: the marginals must have equal sums (within tol = {tol:e}), \
             but sum(r) = {sum_r} and sum(c) = {sum_c}; no plan can meet both"
        )));
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vectorised_exp_is_within_two_ulp_of_the_library_exp() {
        let mut worst = 0.0f64;
        let steps = 2_000_000;
        for k in 0..=steps {
            let x = -708.0 + 1417.0 * k as f64 / steps as f64;
            let (got, want) = (exp(x), x.exp());
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst <= 2.0 * f64::EPSILON, "largest relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-708.5), 0.0);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(709.5), f64::INFINITY);
        assert_eq!(exp(1e6), f64::INFINITY);
        assert!(exp(f64::NAN).is_nan());
        let mut x = vec![-1.0, 0.0, 2.0];
        exp_of_affine(&mut x, -3.0, 0.5);
        assert_eq!(x, vec![exp(1.5), exp(-1.5), exp(-7.5)]);
    }

    #[test]
    fn the_eight_lane_range_is_the_range() {
        let x: Vec<f64> = (0..19).map(|k| ((k * 7) % 19) as f64 - 4.0).collect();
        assert_eq!(range(&x), (-4.0, 14.0, true));
        assert_eq!(range(&[2.5]), (2.5, 2.5, true));
        for bad in [f64::NAN, f64::INFINITY] {
            let mut y = x.clone();
            y[11] = bad;
            assert!(!range(&y).2);
        }
    }

    #[test]
    fn the_sixteen_lane_dot_is_the_dot() {
        for len in [0, 5, 16, 37, 256] {
            // Integers: every order of summation is exact.
            let a: Vec<f64> = (0..len).map(|k| ((k * 7) % 11) as f64 - 5.0).collect();
            let b: Vec<f64> = (0..len).map(|k| ((k * 3) % 13) as f64).collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert_eq!(dot(&a, &b), want, "length {len}");
        }
    }

    /// The loops run under `vectorised` compute what the same code compiled
    /// without it computes, bit for bit (whichever instruction set it picks).
    #[test]
    fn vectorised_kernels_compute_the_plain_bits() {
        let x: Vec<f64> = (0..301).map(|k| (k as f64 * 0.37).sin()).collect();
        let y: Vec<f64> = (0..301).map(|k| (k as f64 * 0.11).cos()).collect();
        let mut e = x.clone();
        exp_of_affine(&mut e, -3.0, 0.25);
        let plain: Vec<f64> = x.iter().map(|v| exp(-3.0 * (v + 0.25))).collect();
        assert_eq!(
            e.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            plain.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(
            vectorised(
                #[inline(always)]
                || dot(&x, &y)
            )
            .to_bits(),
            dot(&x, &y).to_bits()
        );
    }

    /// `y = K s`, `sⱼ = φ(j, (Kᵀx)ⱼ)`, against faer's two products.
    #[test]
    fn a_round_trip_is_two_products() {
        let (m, n) = (37, 21);
        let K = Mat::from_fn(m, n, |i, j| ((i * 5 + j * 3) % 17) as f64 / 17.0 + 0.1);
        let x: Vec<f64> = (0..m).map(|i| 1.0 + (i as f64).sin()).collect();
        let (mut s, mut y) = (vec![0.0; n], vec![7.0; m]);
        round_trip(&K, &x, &mut s, &mut y, |j, d| (j as f64 + 1.0) / d);
        let Kt_x = K.transpose() * faer::Col::from_fn(m, |i| x[i]);
        let want_s = faer::Col::from_fn(n, |j| (j as f64 + 1.0) / Kt_x[j]);
        let want_y = &K * &want_s;
        for j in 0..n {
            assert!((s[j] - want_s[j]).abs() <= 1e-14 * want_s[j].abs(), "s[{j}]");
        }
        for i in 0..m {
            assert!((y[i] - want_y[i]).abs() <= 1e-14 * want_y[i].abs(), "y[{i}]");
        }
    }

    #[test]
    fn the_four_way_sum_is_the_sum() {
        let x: Vec<f64> = (0..11).map(|k| k as f64).collect();
        assert_eq!(sum(&x), 55.0);
        assert_eq!(sum(&[]), 0.0);
    }
}
