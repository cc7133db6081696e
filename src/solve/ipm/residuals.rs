//! The HSDE residuals at the current iterate (scaled data):
//!
//! ```text
//! r_x = Px + Aᵀz + qτ,   r_z = Ax + s − bτ,   r_τ = qᵀx + bᵀz + κ + xᵀPx/τ,
//! ```
//!
//! and the pieces the infeasibility tests need (`Aᵀz`, `Ax + s`, `Px`).

use super::data::ProblemData;
use super::variables::Variables;
use crate::solve::cones::dot;

#[derive(Clone, Debug)]
pub(crate) struct Residuals {
    pub rx: Vec<f64>,
    pub rz: Vec<f64>,
    pub rtau: f64,
    /// `Aᵀz`.
    pub atz: Vec<f64>,
    /// `Ax + s`.
    pub ax_s: Vec<f64>,
    /// `Px`.
    pub px: Vec<f64>,
    pub dot_qx: f64,
    pub dot_bz: f64,
    pub dot_sz: f64,
    pub dot_xpx: f64,
}

impl Residuals {
    pub fn new(n: usize, m: usize) -> Self {
        Residuals {
            rx: vec![0.0; n],
            rz: vec![0.0; m],
            rtau: 0.0,
            atz: vec![0.0; n],
            ax_s: vec![0.0; m],
            px: vec![0.0; n],
            dot_qx: 0.0,
            dot_bz: 0.0,
            dot_sz: 0.0,
            dot_xpx: 0.0,
        }
    }

    pub fn update(&mut self, v: &Variables, data: &ProblemData) {
        self.px.fill(0.0);
        data.p.sym_mul_add(&mut self.px, &v.x, 1.0);
        self.atz.fill(0.0);
        data.a.t_mul_add(&mut self.atz, &v.z, 1.0);
        self.ax_s.copy_from_slice(&v.s);
        data.a.mul_add(&mut self.ax_s, &v.x, 1.0);
        for i in 0..data.n {
            self.rx[i] = self.px[i] + self.atz[i] + data.q[i] * v.tau;
        }
        for i in 0..data.m {
            self.rz[i] = self.ax_s[i] - data.b[i] * v.tau;
        }
        self.dot_qx = dot(&data.q, &v.x);
        self.dot_bz = dot(&data.b, &v.z);
        self.dot_sz = dot(&v.s, &v.z);
        self.dot_xpx = dot(&v.x, &self.px);
        self.rtau = self.dot_qx + self.dot_bz + v.kappa + self.dot_xpx / v.tau;
    }
}
