//! The zero cone `{0}ᵈ`: equality rows. Its dual is ℝᵈ, so `z` is free; `s = 0`
//! always, `H = WᵀW = 0`, and it adds nothing to the barrier degree.

use super::{Cone, HsShape};

/// The zero cone `{0}ᵈ` (its dual is all of `ℝᵈ`): equality rows, `H = 0`.
#[derive(Clone, Debug)]
pub struct ZeroCone {
    dim: usize,
}

impl ZeroCone {
    /// The zero cone of dimension `dim`.
    pub fn new(dim: usize) -> Self {
        ZeroCone { dim }
    }
}

impl Cone for ZeroCone {
    fn dim(&self) -> usize {
        self.dim
    }
    fn degree(&self) -> usize {
        0
    }
    /// No constraint on the free dual; the primal is forced to 0 by the shift.
    fn margins(&self, _v: &[f64]) -> (f64, f64) {
        (f64::INFINITY, 0.0)
    }
    fn shift_by_unit(&self, v: &mut [f64], _alpha: f64, dual: bool) {
        if !dual {
            v.fill(0.0);
        }
    }
    fn set_identity_scaling(&mut self) {}
    fn update_scaling(&mut self, _s: &[f64], _z: &[f64]) -> bool {
        true
    }
    fn mul_hs(&self, y: &mut [f64], _x: &[f64]) {
        y.fill(0.0);
    }
    /// No complementarity, no barrier.
    fn barrier(&self, _s: &[f64], _z: &[f64]) -> f64 {
        0.0
    }
    fn affine_ds(&self, ds: &mut [f64]) {
        ds.fill(0.0);
    }
    fn corrector(&self, shift: &mut [f64], _dz: &mut [f64], _ds: &mut [f64], _m: f64, _sigma_mu: f64) {
        shift.fill(0.0);
    }
    fn ds_offset(&self, out: &mut [f64], _ds: &[f64], _work: &mut [f64]) {
        out.fill(0.0);
    }
    fn step_length(&self, _v: &[f64], _dv: &[f64], alpha_max: f64) -> f64 {
        alpha_max
    }
    fn hs_shape(&self) -> HsShape {
        HsShape::Diagonal
    }
    fn hs_diag(&self, out: &mut [f64]) {
        out.fill(0.0);
    }
    fn hs_dense(&self, out: &mut [f64]) {
        out.fill(0.0);
    }
    fn hs_low_rank(&self) -> Option<(&[f64], &[f64], f64)> {
        None
    }
}
