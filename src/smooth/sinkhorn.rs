//! Entropic optimal transport by Sinkhorn's algorithm in the log domain.
//!
//! ```text
//! P* = argmin_P ⟨M, P⟩ + (1/γ) Σᵢⱼ Pᵢⱼ log Pᵢⱼ   s.t.  P 1 = r,  Pᵀ 1 = c
//! ```
//!
//! (the seed's "Optimal Transport" and "Solving Entropic Optimal Transport";
//! `stdlib/optimal_transport.ddn`). Stationarity of the Lagrangian gives
//! `Mᵢⱼ + (1/γ)(log Pᵢⱼ + 1) = uᵢ + vⱼ`, so the solution has the form
//! `P = diag(α) K diag(β)` with `K = exp(−γM)`, and the seed's Sinkhorn iteration
//! `α ← r ⊘ Kβ`, `β ← c ⊘ Kᵀα` finds the scalings.
//!
//! For large γ the kernel `exp(−γMᵢⱼ)` underflows (γ = 10³ and `Mᵢⱼ = 1` give
//! `e⁻¹⁰⁰⁰ = 0` in f64) and `α, β` overflow, so the iteration is carried out on the
//! dual potentials instead, `α = exp(γf)`, `β = exp(γg)`, in the cost's units:
//!
//! ```text
//! Pᵢⱼ = exp(γ (fᵢ + gⱼ − Mᵢⱼ))
//! fᵢ  ← (1/γ) [log rᵢ − LSEⱼ γ(gⱼ − Mᵢⱼ)]
//! gⱼ  ← (1/γ) [log cⱼ − LSEᵢ γ(fᵢ − Mᵢⱼ)]
//! ```
//!
//! with each log-sum-exp shifted by its largest term, so no exponent exceeds 0.
//! `P` has the `diag(α) K diag(β)` form by construction, and after a `g` update the
//! column sums equal `c` up to rounding; the row sums are what the iteration
//! drives to `r`. Their violation comes free with the next `f` update (the row
//! sum of the current plan is `exp(γfᵢ + LSEᵢ)`), which is the stopping test.
//!
//! Memory: `M` is read in place (column by column, faer's storage order) and the
//! workspace is four vectors of length m or n, allocated once; the only m×n
//! allocation is the returned plan, so the footprint does not depend on the
//! number of iterations. Each iteration costs 2mn exponentials.

// The paper's symbols: M (cost) and P (plan) are matrices.
#![allow(non_snake_case)]

use faer::{Mat, MatRef};

use crate::runtime::{RunError, Status};

/// Sinkhorn's stopping rule.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkhornSettings {
    /// The largest marginal violation accepted, `max(‖P1 − r‖∞, ‖Pᵀ1 − c‖∞)`
    /// (absolute, so relative to marginals that sum to 1). Default 1e-9, as
    /// `stdlib/optimal_transport.ddn` asks.
    pub tol: f64,
    /// The most (f, g) update pairs. Default 10 000: the iteration count grows
    /// like γ·max|M| (the contraction rate of Sinkhorn's map degrades as the
    /// kernel's dynamic range widens).
    pub max_iter: usize,
}

impl Default for SinkhornSettings {
    fn default() -> Self {
        SinkhornSettings { tol: 1e-9, max_iter: 10_000 }
    }
}

impl SinkhornSettings {
    fn validate(&self) -> Result<(), RunError> {
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(RunError(format!("sinkhorn: `tol` must be positive and finite, found {}", self.tol)));
        }
        if self.max_iter == 0 {
            return Err(RunError("sinkhorn: `max_iter` must be at least 1".into()));
        }
        Ok(())
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
    /// The number of (f, g) update pairs performed.
    pub iterations: usize,
    /// `max(‖P1 − r‖∞, ‖Pᵀ1 − c‖∞)` of the returned plan.
    pub marginal_error: f64,
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
) -> Result<SinkhornSolution, RunError> {
    settings.validate()?;
    validate(M, r, c, gamma, settings.tol)?;
    let (m, n) = M.shape();
    let log_r: Vec<f64> = r.iter().map(|x| x.ln()).collect();
    let log_c: Vec<f64> = c.iter().map(|x| x.ln()).collect();
    let mut f = vec![0.0; m];
    let mut g = vec![0.0; n];
    // LSEⱼ γ(gⱼ − Mᵢⱼ) per row, and the running row maxima that shift it.
    let mut row_lse = vec![0.0; m];
    let mut row_max = vec![0.0; m];

    let mut iterations = 0;
    while iterations < settings.max_iter {
        row_log_sum_exp(M, &g, gamma, &mut row_max, &mut row_lse);
        // After a g update the columns are exact, so the rows' violation is the
        // plan's marginal error.
        if iterations > 0 && row_violation(&f, &row_lse, r, gamma) <= settings.tol {
            break;
        }
        for i in 0..m {
            f[i] = (log_r[i] - row_lse[i]) / gamma;
        }
        for j in 0..n {
            g[j] = (log_c[j] - col_log_sum_exp(M, &f, j, gamma)) / gamma;
        }
        iterations += 1;
    }

    let P = Mat::from_fn(m, n, |i, j| (gamma * (f[i] + g[j] - M[(i, j)])).exp());
    let marginal_error = marginal_error(P.as_ref(), r, c);
    let finite = marginal_error.is_finite() && f.iter().chain(&g).all(|x| x.is_finite());
    let status = if !finite {
        Status::NumericalError
    } else if marginal_error <= settings.tol {
        Status::Optimal
    } else {
        Status::MaxIterations
    };
    Ok(SinkhornSolution { P, f, g, status, iterations, marginal_error })
}

/// `max(‖P1 − r‖∞, ‖Pᵀ1 − c‖∞)`.
pub fn marginal_error(P: MatRef<'_, f64>, r: &[f64], c: &[f64]) -> f64 {
    let mut rows = vec![0.0; P.nrows()];
    let mut err = 0.0f64;
    for (j, &cj) in c.iter().enumerate() {
        let mut col = 0.0;
        for (i, &p) in P.col(j).iter().enumerate() {
            rows[i] += p;
            col += p;
        }
        err = err.max((col - cj).abs());
    }
    rows.iter().zip(r).fold(err, |e, (s, ri)| e.max((s - ri).abs()))
}

/// `lse[i] = LSEⱼ γ(gⱼ − Mᵢⱼ)`, shifted by the row maximum `max[i]`. Two sweeps
/// over `M` column by column (its storage order): maxima, then shifted sums.
fn row_log_sum_exp(M: MatRef<'_, f64>, g: &[f64], gamma: f64, max: &mut [f64], lse: &mut [f64]) {
    max.fill(f64::NEG_INFINITY);
    for (j, &gj) in g.iter().enumerate() {
        for (mx, &mij) in max.iter_mut().zip(M.col(j).iter()) {
            *mx = mx.max(gamma * (gj - mij));
        }
    }
    lse.fill(0.0);
    for (j, &gj) in g.iter().enumerate() {
        for ((s, &mx), &mij) in lse.iter_mut().zip(max.iter()).zip(M.col(j).iter()) {
            *s += (gamma * (gj - mij) - mx).exp();
        }
    }
    for (s, &mx) in lse.iter_mut().zip(max.iter()) {
        *s = mx + s.ln();
    }
}

/// `LSEᵢ γ(fᵢ − Mᵢⱼ)` for column j, shifted by its maximum.
fn col_log_sum_exp(M: MatRef<'_, f64>, f: &[f64], j: usize, gamma: f64) -> f64 {
    let col = M.col(j);
    let max = f.iter().zip(col.iter()).fold(f64::NEG_INFINITY, |mx, (fi, mij)| mx.max(gamma * (fi - mij)));
    let sum: f64 = f.iter().zip(col.iter()).map(|(fi, mij)| (gamma * (fi - mij) - max).exp()).sum();
    max + sum.ln()
}

/// `‖P1 − r‖∞` for the plan of potentials `(f, g)`, whose i-th row sum is
/// `exp(γfᵢ + LSEⱼ γ(gⱼ − Mᵢⱼ))`.
fn row_violation(f: &[f64], row_lse: &[f64], r: &[f64], gamma: f64) -> f64 {
    f.iter().zip(row_lse).zip(r).fold(0.0f64, |e, ((fi, lse), ri)| e.max(((gamma * fi + lse).exp() - ri).abs()))
}

fn validate(M: MatRef<'_, f64>, r: &[f64], c: &[f64], gamma: f64, tol: f64) -> Result<(), RunError> {
    let (m, n) = M.shape();
    if m == 0 || n == 0 {
        return Err(RunError(format!("sinkhorn: the cost matrix M is {m}×{n}; it needs at least one row and column")));
    }
    if r.len() != m || c.len() != n {
        return Err(RunError(format!(
            "sinkhorn: M is {m}×{n}, so r needs {m} entries and c {n}; found {} and {}",
            r.len(),
            c.len()
        )));
    }
    if !(gamma.is_finite() && gamma > 0.0) {
        return Err(RunError(format!("sinkhorn: gamma must be positive and finite, found {gamma}")));
    }
    for j in 0..n {
        if let Some(i) = M.col(j).iter().position(|x| !x.is_finite()) {
            return Err(RunError(format!("sinkhorn: M[{i}, {j}] = {} is not finite", M[(i, j)])));
        }
    }
    for (name, v) in [("r", r), ("c", c)] {
        if let Some(i) = v.iter().position(|x| !(x.is_finite() && *x > 0.0)) {
            return Err(RunError(format!(
                "sinkhorn: the marginal {name} must be positive, but {name}[{i}] = {}",
                v[i]
            )));
        }
    }
    let (sum_r, sum_c) = (r.iter().sum::<f64>(), c.iter().sum::<f64>());
    if (sum_r - sum_c).abs() > tol {
        return Err(RunError(format!(
            "sinkhorn: the marginals must have equal sums (within tol = {tol:e}), \
             but sum(r) = {sum_r} and sum(c) = {sum_c}; no plan can meet both"
        )));
    }
    Ok(())
}
