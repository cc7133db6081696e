//! The nonnegative orthant ℝᵈ₊, with `x ∘ y = (xᵢyᵢ)ᵢ`, `e = 1`, degree `d`.
//!
//! NT scaling: `W = diag(w)`, `wᵢ = √(sᵢ/zᵢ)`, so `λᵢ = √(sᵢzᵢ)` and
//! `H = WᵀW = diag(sᵢ/zᵢ)`.

use super::{Cone, HsShape};

/// The nonnegative orthant `ℝᵈ₊`, with its NT scaling `W = diag(w)`,
/// `w = √(s/z)`, and `λ = Ws = W⁻¹z`.
#[derive(Clone, Debug)]
pub struct NonnegCone {
    w: Vec<f64>,
    lambda: Vec<f64>,
}

impl NonnegCone {
    /// The orthant of dimension `dim`, scaled by `W = I`.
    pub fn new(dim: usize) -> Self {
        NonnegCone { w: vec![1.0; dim], lambda: vec![1.0; dim] }
    }
}

impl Cone for NonnegCone {
    fn dim(&self) -> usize {
        self.w.len()
    }
    fn degree(&self) -> usize {
        self.w.len()
    }
    /// `(minᵢ vᵢ, Σᵢ max(vᵢ, 0))`.
    fn margins(&self, v: &[f64]) -> (f64, f64) {
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let pos = v.iter().map(|&x| x.max(0.0)).sum();
        (min, pos)
    }
    fn shift_by_unit(&self, v: &mut [f64], alpha: f64, _dual: bool) {
        v.iter_mut().for_each(|x| *x += alpha);
    }
    fn set_identity_scaling(&mut self) {
        self.w.fill(1.0);
    }
    fn update_scaling(&mut self, s: &[f64], z: &[f64]) -> bool {
        for (i, (&si, &zi)) in s.iter().zip(z).enumerate() {
            if !(si > 0.0 && zi > 0.0) {
                return false;
            }
            self.w[i] = (si / zi).sqrt();
            self.lambda[i] = (si * zi).sqrt();
        }
        true
    }
    /// `H = diag(sᵢ/zᵢ)`, also on the boundary (a polished point has exact
    /// zeros): `sᵢ` clipped at 0 and `zᵢ` floored at `10⁻¹⁴ (1 + maxⱼ zⱼ)`, so an
    /// inactive row gets a large finite ratio (Δzᵢ ≈ 0) and an active one 0
    /// (Δsᵢ = 0). A diagonal H loses nothing to rounding, so `kappa` is unused.
    fn linearise_complementarity(&mut self, s: &[f64], z: &[f64], _kappa: f64) -> bool {
        let floor = 1e-14 * (1.0 + z.iter().fold(0.0f64, |m, v| m.max(*v)));
        for (i, (&si, &zi)) in s.iter().zip(z).enumerate() {
            let (si, zi) = (si.max(0.0), zi.max(floor));
            if !(si.is_finite() && zi.is_finite()) {
                return false;
            }
            self.w[i] = (si / zi).sqrt();
            self.lambda[i] = (si * zi).sqrt();
        }
        true
    }
    fn mul_hs(&self, y: &mut [f64], x: &[f64]) {
        for ((yi, &wi), &xi) in y.iter_mut().zip(&self.w).zip(x) {
            *yi = wi * (wi * xi);
        }
    }
    fn affine_ds(&self, ds: &mut [f64]) {
        for (d, &l) in ds.iter_mut().zip(&self.lambda) {
            *d = l * l;
        }
    }
    /// `shiftᵢ = m (Δsᵢ/wᵢ)(wᵢΔzᵢ) − σμ = m ΔsᵢΔzᵢ − σμ`.
    fn corrector(&self, shift: &mut [f64], dz: &mut [f64], ds: &mut [f64], m: f64, sigma_mu: f64) {
        for ((sh, &a), &b) in shift.iter_mut().zip(dz.iter()).zip(ds.iter()) {
            *sh = m * a * b - sigma_mu;
        }
    }
    /// `outᵢ = wᵢ dᵢ/λᵢ = dᵢ/zᵢ`.
    fn ds_offset(&self, out: &mut [f64], ds: &[f64], _work: &mut [f64]) {
        for (((o, &d), &w), &l) in out.iter_mut().zip(ds).zip(&self.w).zip(&self.lambda) {
            *o = w * (d / l);
        }
    }
    fn step_length(&self, v: &[f64], dv: &[f64], alpha_max: f64) -> f64 {
        let mut alpha = alpha_max;
        for (&x, &d) in v.iter().zip(dv) {
            if d < 0.0 {
                alpha = alpha.min(-x / d);
            }
        }
        alpha.max(0.0)
    }
    /// `−Σ log(sᵢzᵢ)`.
    fn barrier(&self, s: &[f64], z: &[f64]) -> f64 {
        s.iter().zip(z).map(|(&a, &b)| if a > 0.0 && b > 0.0 { -(a * b).ln() } else { f64::INFINITY }).sum()
    }
    fn hs_shape(&self) -> HsShape {
        HsShape::Diagonal
    }
    fn hs_diag(&self, out: &mut [f64]) {
        for (o, &w) in out.iter_mut().zip(&self.w) {
            *o = w * w;
        }
    }
    fn hs_dense(&self, out: &mut [f64]) {
        let d = self.w.len();
        out.fill(0.0);
        for (i, &w) in self.w.iter().enumerate() {
            out[i * d + i] = w * w;
        }
    }
    fn hs_low_rank(&self) -> Option<(&[f64], &[f64], f64)> {
        None
    }
}
