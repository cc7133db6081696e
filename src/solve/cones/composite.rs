//! The product cone K = K₁ × … × K_p: the blocks and the rows they own.

use std::ops::Range;

use super::{AnyCone, Cone, ExpCone, NonnegCone, PsdCone, SecondOrderCone, ZeroCone};
use crate::solve::program::ConeBlock;

/// The blocks of K with their row ranges.
#[derive(Clone, Debug)]
pub struct Cones {
    blocks: Vec<AnyCone>,
    ranges: Vec<Range<usize>>,
    degree: usize,
    /// Every block is symmetric (no exponential cone).
    symmetric: bool,
}

impl Cones {
    /// Builds the blocks; a second-order cone of dimension ≥ `low_rank_min_dim`
    /// keeps `WᵀW` as diagonal plus rank 2 (for the sparse KKT path). A
    /// second-order cone of dimension 1 (`s₀ ≥ 0`) is a nonnegative orthant.
    pub fn new(blocks: &[ConeBlock], low_rank_min_dim: usize) -> Self {
        let mut out = Cones { blocks: Vec::new(), ranges: Vec::new(), degree: 0, symmetric: true };
        let mut row = 0;
        for &b in blocks {
            let d = b.dim();
            if d == 0 {
                continue;
            }
            let cone = match b {
                ConeBlock::Zero(d) => AnyCone::Zero(ZeroCone::new(d)),
                ConeBlock::Nonneg(d) | ConeBlock::SecondOrder(d @ 1) => AnyCone::Nonneg(NonnegCone::new(d)),
                ConeBlock::SecondOrder(d) => AnyCone::SecondOrder(SecondOrderCone::new(d, d >= low_rank_min_dim)),
                ConeBlock::Exponential => AnyCone::Exponential(ExpCone::new()),
                ConeBlock::Psd(n) => AnyCone::Psd(PsdCone::new(n)),
            };
            out.degree += cone.degree();
            out.symmetric &= cone.is_symmetric();
            out.blocks.push(cone);
            out.ranges.push(row..row + d);
            row += d;
        }
        out
    }

    /// The barrier degree ν = Σ νᵢ.
    pub fn degree(&self) -> usize {
        self.degree
    }

    /// Whether every block is a symmetric cone.
    pub fn is_symmetric(&self) -> bool {
        self.symmetric
    }

    /// The blocks with their row ranges.
    pub fn iter(&self) -> impl Iterator<Item = (&AnyCone, Range<usize>)> {
        self.blocks.iter().zip(self.ranges.iter().cloned())
    }

    /// Every block's scaling to `W = I` (the initial point's KKT system).
    pub fn set_identity_scaling(&mut self) {
        self.blocks.iter_mut().for_each(|c| c.set_identity_scaling());
    }

    /// [`Cone::set_dual_scaling`] on every block.
    pub fn set_dual_scaling(&mut self, on: bool) {
        self.blocks.iter_mut().for_each(|c| c.set_dual_scaling(on));
    }

    /// `s`, `z` ← every block's unit point ([`Cone::unit_point`]).
    pub fn unit_point(&self, s: &mut [f64], z: &mut [f64]) {
        for (c, r) in self.iter() {
            c.unit_point(&mut s[r.clone()], false);
            c.unit_point(&mut z[r], true);
        }
    }

    /// `Σ` of the blocks' [`Cone::barrier`] at `(s + α ds, z + α dz)`; `work_s`,
    /// `work_z` are scratch of length m.
    pub fn barrier(
        &self,
        (s, ds): (&[f64], &[f64]),
        (z, dz): (&[f64], &[f64]),
        alpha: f64,
        work: (&mut [f64], &mut [f64]),
    ) -> f64 {
        let (ws, wz) = work;
        for (w, (v, d)) in ws.iter_mut().zip(s.iter().zip(ds)) {
            *w = v + alpha * d;
        }
        for (w, (v, d)) in wz.iter_mut().zip(z.iter().zip(dz)) {
            *w = v + alpha * d;
        }
        self.iter().map(|(c, r)| c.barrier(&ws[r.clone()], &wz[r])).sum()
    }

    /// NT scaling of every block at `(s, z)`; false if a block is not interior.
    pub fn update_scaling(&mut self, s: &[f64], z: &[f64]) -> bool {
        self.blocks.iter_mut().zip(&self.ranges).all(|(c, r)| c.update_scaling(&s[r.clone()], &z[r.clone()]))
    }

    /// [`Cone::linearise_complementarity`] blockwise.
    pub fn linearise_complementarity(&mut self, s: &[f64], z: &[f64], kappa: f64) -> bool {
        self.blocks
            .iter_mut()
            .zip(&self.ranges)
            .all(|(c, r)| c.linearise_complementarity(&s[r.clone()], &z[r.clone()], kappa))
    }

    /// [`Cone::tangent_offset`] blockwise.
    pub fn tangent_offset(&self, z: &[f64], out: &mut [f64]) {
        for (c, r) in self.iter() {
            c.tangent_offset(&z[r.clone()], &mut out[r]);
        }
    }

    /// `y = WᵀW x` blockwise.
    pub fn mul_hs(&self, y: &mut [f64], x: &[f64]) {
        for (c, r) in self.iter() {
            c.mul_hs(&mut y[r.clone()], &x[r]);
        }
    }

    /// `d_s = λ ∘ λ` blockwise.
    pub fn affine_ds(&self, ds: &mut [f64]) {
        for (c, r) in self.iter() {
            c.affine_ds(&mut ds[r]);
        }
    }

    /// The Mehrotra corrector blockwise (see [`Cone::corrector`]).
    pub fn corrector(&self, shift: &mut [f64], dz: &mut [f64], ds: &mut [f64], m: f64, sigma_mu: f64) {
        for (c, r) in self.iter() {
            c.corrector(&mut shift[r.clone()], &mut dz[r.clone()], &mut ds[r], m, sigma_mu);
        }
    }

    /// `out = Wᵀ(λ \ d_s)` blockwise.
    pub fn ds_offset(&self, out: &mut [f64], ds: &[f64], work: &mut [f64]) {
        for (c, r) in self.iter() {
            c.ds_offset(&mut out[r.clone()], &ds[r.clone()], &mut work[r]);
        }
    }

    /// The largest `α ≤ α_max` keeping `v + α dv` in K (or K*, the same here
    /// except that the dual of a zero cone never limits; `dual` selects it).
    ///
    /// Nonsymmetric cones come last, from at most `1 − √ε` (Clarabel's order):
    /// their backtracking then starts from the symmetric cones' limit, and a
    /// full step never lands exactly on a boundary their barriers are
    /// evaluated at.
    pub fn step_length(&self, v: &[f64], dv: &[f64], alpha_max: f64, dual: bool) -> f64 {
        let mut alpha = alpha_max;
        for (c, r) in self.iter() {
            if (dual && matches!(c, AnyCone::Zero(_))) || !c.is_symmetric() {
                continue;
            }
            alpha = c.step_length(&v[r.clone()], &dv[r], alpha);
        }
        if self.symmetric {
            return alpha;
        }
        alpha = alpha.min(1.0 - f64::EPSILON.sqrt());
        for (c, r) in self.iter().filter(|(c, _)| !c.is_symmetric()) {
            let (v, dv) = (&v[r.clone()], &dv[r]);
            alpha = if dual { c.step_length_dual(v, dv, alpha) } else { c.step_length(v, dv, alpha) };
        }
        alpha
    }

    /// Moves `v` into the interior of K (primal) or K* (dual), as in Clarabel's
    /// symmetric initialisation: with `α_min` the largest `α` such that
    /// `v − αe ∈ K`, shift by `e(target − α_min)` where needed, `target =
    /// max(1, 0.1 Σα_pos/ν)`. A primal zero-cone block is set to 0.
    pub fn shift_to_interior(&self, v: &mut [f64], dual: bool) {
        let (mut min, mut pos) = (f64::INFINITY, 0.0);
        for (c, r) in self.iter() {
            let (a, b) = c.margins(&v[r]);
            min = min.min(a);
            pos += b;
        }
        let target = (0.1 * pos / self.degree.max(1) as f64).max(1.0);
        let shift = if min <= 0.0 {
            // In two stages so that a large −α_min does not absorb the target.
            for (c, r) in self.iter() {
                c.shift_by_unit(&mut v[r], -min, dual);
            }
            target
        } else if min < target {
            target - min
        } else {
            0.0
        };
        for (c, r) in self.iter() {
            c.shift_by_unit(&mut v[r], shift, dual);
        }
    }
}
