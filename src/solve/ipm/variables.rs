//! The iterate of the homogeneous self-dual embedding (HSDE),
//!
//! ```text
//! Px + Aᵀz + qτ = 0,   Ax + s − bτ = 0,   qᵀx + bᵀz + xᵀPx/τ + κ = 0,
//! s ∈ K, z ∈ K*, τ ≥ 0, κ ≥ 0
//! ```
//!
//! (Ye, Todd & Mizuno 1994; the quadratic form of Clarabel, Goulart & Chen
//! 2024). A solution with `τ > 0` gives the optimum `(x, s, z)/τ`; one with
//! `κ > 0` an infeasibility certificate (`bᵀz < 0` or `qᵀx < 0`).

use super::residuals::Residuals;
use crate::solve::cones::{dot, Cones};

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Variables {
    pub x: Vec<f64>,
    pub s: Vec<f64>,
    pub z: Vec<f64>,
    pub tau: f64,
    pub kappa: f64,
}

impl Variables {
    pub fn new(n: usize, m: usize) -> Self {
        Variables { x: vec![0.0; n], s: vec![0.0; m], z: vec![0.0; m], tau: 1.0, kappa: 1.0 }
    }

    /// `μ = (sᵀz + τκ)/(ν + 1)`.
    pub fn mu(&self, res: &Residuals, cones: &Cones) -> f64 {
        (res.dot_sz + self.tau * self.kappa) / (cones.degree() + 1) as f64
    }

    /// The right-hand side of the predictor (affine) step, stored in `self`:
    /// `(r_x, r_z, r_τ)` to be driven to zero, `d_s = λ ∘ λ`, `d_κ = τκ`.
    pub fn set_affine_rhs(&mut self, res: &Residuals, it: &Variables, cones: &Cones) {
        self.x.copy_from_slice(&res.rx);
        self.z.copy_from_slice(&res.rz);
        cones.affine_ds(&mut self.s);
        self.tau = res.rtau;
        self.kappa = it.tau * it.kappa;
    }

    /// The right-hand side of the combined (corrector) step: residuals scaled by
    /// `1 − σ`, and the Mehrotra terms
    /// `d_s = λ ∘ λ + m (W⁻ᵀΔsₐ) ∘ (WΔzₐ) − σμe`, `d_κ = τκ + m Δτₐ Δκₐ − σμ`,
    /// `m` damping the second-order term on the first iteration. Assumes
    /// `self.s` still holds the affine `λ ∘ λ`; overwrites `step` (the affine
    /// step); `work` has length m.
    #[allow(clippy::too_many_arguments)]
    pub fn set_combined_rhs(
        &mut self,
        res: &Residuals,
        it: &Variables,
        cones: &Cones,
        step: &mut Variables,
        sigma: f64,
        mu: f64,
        m: f64,
        work: &mut [f64],
    ) {
        let sm = sigma * mu;
        for (r, &v) in self.x.iter_mut().zip(&res.rx) {
            *r = (1.0 - sigma) * v;
        }
        for (r, &v) in self.z.iter_mut().zip(&res.rz) {
            *r = (1.0 - sigma) * v;
        }
        self.tau = (1.0 - sigma) * res.rtau;
        self.kappa = it.tau * it.kappa + m * step.tau * step.kappa - sm;
        cones.corrector(work, &mut step.z, &mut step.s, m, sm);
        for (d, &w) in self.s.iter_mut().zip(work.iter()) {
            *d += w;
        }
    }

    /// The largest `α ≤ 1` keeping `s + αΔs ∈ K`, `z + αΔz ∈ K*`, `τ, κ ≥ 0`.
    pub fn step_length(&self, step: &Variables, cones: &Cones) -> f64 {
        let mut alpha: f64 = 1.0;
        if step.tau < 0.0 {
            alpha = alpha.min(-self.tau / step.tau);
        }
        if step.kappa < 0.0 {
            alpha = alpha.min(-self.kappa / step.kappa);
        }
        alpha = cones.step_length(&self.s, &step.s, alpha, false);
        cones.step_length(&self.z, &step.z, alpha, true)
    }

    /// The distance of `v + αΔv` from the central path,
    /// `(ν + 1) log μ − log τ − log κ + Σ (fᵢ(sᵢ) + fᵢ*(zᵢ))`, zero on it and
    /// infinite (or NaN) outside the cones; `work` is scratch of length m (two).
    pub fn barrier(&self, step: &Variables, alpha: f64, cones: &Cones, work: (&mut [f64], &mut [f64])) -> f64 {
        let (tau, kappa) = (self.tau + alpha * step.tau, self.kappa + alpha * step.kappa);
        let (ws, wz) = work;
        let cone_terms = cones.barrier((&self.s, &step.s), (&self.z, &step.z), alpha, (&mut *ws, &mut *wz));
        let nu = (cones.degree() + 1) as f64;
        let mu = (dot(ws, wz) + tau * kappa) / nu;
        nu * mu.ln() - tau.ln() - kappa.ln() + cone_terms
    }

    /// `v ← v + α Δv`.
    pub fn add_step(&mut self, step: &Variables, alpha: f64) {
        for (v, d) in [(&mut self.x, &step.x), (&mut self.s, &step.s), (&mut self.z, &step.z)] {
            v.iter_mut().zip(d).for_each(|(v, d)| *v += alpha * d);
        }
        self.tau += alpha * step.tau;
        self.kappa += alpha * step.kappa;
    }

    pub fn copy_from(&mut self, other: &Variables) {
        self.x.copy_from_slice(&other.x);
        self.s.copy_from_slice(&other.s);
        self.z.copy_from_slice(&other.z);
        self.tau = other.tau;
        self.kappa = other.kappa;
    }
}
