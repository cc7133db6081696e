//! The cones of the conic standard form, behind one trait.
//!
//! K = K₁ × … × K_p, each block a zero cone, a nonnegative orthant or a
//! second-order cone. All three are symmetric (self-scaled): each has a Jordan
//! product `∘` with identity `e`, and for interior `s`, `z` a Nesterov–Todd
//! scaling `W` with
//!
//! ```text
//! λ = W z = W⁻ᵀ s,        WᵀW z = s,
//! ```
//!
//! so the linearised complementarity `s ∘ z = σμe` becomes, in the scaled
//! space, `λ ∘ (W Δz + W⁻ᵀ Δs) = −d_s` (Nesterov & Todd 1997; Vandenberghe,
//! "The CVXOPT linear and quadratic cone program solvers", §4). The interior
//! point method only ever talks to a block through [`Cone`]; the KKT system only
//! needs `H = WᵀW` in one of the shapes of [`HsShape`].
//!
//! The zero cone `{0}` (dual cone ℝᵈ, so `z` is free) has `H = 0`: its rows are
//! equality rows of the KKT system.
//!
//! The exponential cone is not symmetric ([`ExpCone`]): it has no `W`, only an
//! `H` with `Hz = s` from its barriers, the affine `d_s = s`, a third-order
//! corrector, and step lengths by backtracking into the barrier's domain. The
//! trait's `d_s` terms are written so that both kinds fit: `Δs = −o − HΔz` with
//! the offset `o` from [`Cone::ds_offset`].
//!
//! The positive semidefinite cone ([`PsdCone`]) is symmetric, on the symmetric
//! vectorisation of its matrices; its `W` is not a symmetric operator there.

mod composite;
mod exp;
mod nonneg;
mod psd;
mod soc;
mod zero;

pub use composite::Cones;
pub use exp::ExpCone;
pub use nonneg::NonnegCone;
pub use psd::PsdCone;
pub use soc::SecondOrderCone;
pub use zero::ZeroCone;

/// How `H = WᵀW` of one block enters the KKT matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HsShape {
    /// `H` is diagonal (zero cone: `H = 0`; nonnegative orthant: `H = diag(s/z)`).
    Diagonal,
    /// `H` is a dense `d × d` block (small second-order cones, PSD cones).
    Dense,
    /// `H = η²(D + uuᵀ − vvᵀ)` with `D` diagonal: the KKT matrix gains two rows
    /// and columns per block and stays sparse (large second-order cones).
    LowRank,
}

/// What the interior point method needs of one block of K.
///
/// Slices passed in are the block's own rows. `W` is symmetric for every
/// symmetric cone here, so `Wᵀ = W`.
pub trait Cone {
    /// Number of rows of the block.
    fn dim(&self) -> usize;

    /// Barrier degree ν: `sᵀz = ν μ` on the central path (`d` for ℝᵈ₊, 1 for a
    /// second-order cone with `e = (1, 0, …, 0)`, 0 for the zero cone).
    fn degree(&self) -> usize;

    /// `(α_min, α_pos)` for the initial point: `α_min` is the largest `α` with
    /// `v − αe ∈ K` (may be negative), `α_pos` a measure of how far inside.
    fn margins(&self, v: &[f64]) -> (f64, f64);

    /// `v ← v + α e`, putting a primal zero-cone block to 0 (the dual of the zero
    /// cone is free, so a dual block is left alone).
    fn shift_by_unit(&self, v: &mut [f64], alpha: f64, dual: bool);

    /// Whether the cone is symmetric (self-scaled: NT scaling, a Jordan
    /// product); a program with a cone that is not starts from the unit point
    /// and has its steps checked for centrality.
    fn is_symmetric(&self) -> bool {
        true
    }

    /// `v ←` the unit point of the block (`e`, or the cone's analytic centre),
    /// 0 for the zero cone's primal and dual blocks.
    fn unit_point(&self, v: &mut [f64], dual: bool) {
        v.fill(0.0);
        self.shift_by_unit(v, 1.0, dual);
    }

    /// Selects the dual scaling `μ∇²f*(z)` over a primal–dual one, for cones
    /// that have the choice (the solver's fallback after a short step).
    fn set_dual_scaling(&mut self, on: bool) {
        let _ = on;
    }

    /// `W = I` (zero cone: `H = 0`), the scaling used for the initial point.
    fn set_identity_scaling(&mut self);

    /// Computes the NT scaling `W` and `λ = W z` at interior `s`, `z`; false if
    /// either is not interior.
    fn update_scaling(&mut self, s: &[f64], z: &[f64]) -> bool;

    /// Sets `H` to the linearisation of complementarity `s ∘ z = 0` at the final
    /// `(s, z)`, `Δs = −H Δz`, for the KKT matrix the backward pass reuses. NT
    /// scaling is that linearisation on the central path (and for the orthant
    /// everywhere), so this is [`Cone::update_scaling`] unless a cone says
    /// otherwise. `kappa` caps the ratio of `H`'s extreme eigenvalues to its
    /// middle one where a cone has such a spread (see the second-order cone).
    fn linearise_complementarity(&mut self, s: &[f64], z: &[f64], kappa: f64) -> bool {
        let _ = kappa;
        self.update_scaling(s, z)
    }

    /// After [`Cone::linearise_complementarity`]: `L̂(z)⁻¹(s ∘ z) − s`, the part of
    /// the complementarity residual the linearised `H` (built in a frame shared
    /// by s and z) leaves out; zero for cones whose `H` is exact (the orthant).
    fn tangent_offset(&self, z: &[f64], out: &mut [f64]) {
        let _ = z;
        out.fill(0.0);
    }

    /// `y = WᵀW x`.
    fn mul_hs(&self, y: &mut [f64], x: &[f64]);

    /// `d_s = λ ∘ λ`, the affine (predictor) complementarity term (`s` for a
    /// nonsymmetric cone).
    fn affine_ds(&self, ds: &mut [f64]);

    /// The Mehrotra corrector `shift = m (W⁻ᵀΔs) ∘ (W Δz) − σμ e`, from the
    /// affine step `(Δz, Δs)`, which may be overwritten (by `WΔz`, `W⁻ᵀΔs`);
    /// for a nonsymmetric cone the centring and third-order terms.
    fn corrector(&self, shift: &mut [f64], dz: &mut [f64], ds: &mut [f64], m: f64, sigma_mu: f64);

    /// `out = Wᵀ(λ \ d_s)`, the constant part of `Δs = −Wᵀ(λ \ d_s) − WᵀWΔz`
    /// (where `λ ∘ (λ \ d) = d`; `d_s` itself for a nonsymmetric cone); `work`
    /// is scratch of the block's length.
    fn ds_offset(&self, out: &mut [f64], ds: &[f64], work: &mut [f64]);

    /// The largest `α ∈ [0, α_max]` with `v + α dv ∈ K` (the same for `K*`,
    /// every symmetric cone here being self-dual; the zero cone's dual, ℝᵈ,
    /// never limits). A nonsymmetric cone returns an `α` that keeps it in the
    /// interior, not necessarily the largest.
    fn step_length(&self, v: &[f64], dv: &[f64], alpha_max: f64) -> f64;

    /// [`Cone::step_length`] in the dual cone `K*`.
    fn step_length_dual(&self, v: &[f64], dv: &[f64], alpha_max: f64) -> f64 {
        self.step_length(v, dv, alpha_max)
    }

    /// The block's barrier terms at interior `(s, z)`, `f(s) + f*(z)` (for a
    /// symmetric cone `−log det(s ∘ z)` in its Jordan algebra), infinite
    /// outside; `Σ + (ν + 1) log μ − log τκ` measures distance from the
    /// central path (0 on it).
    fn barrier(&self, s: &[f64], z: &[f64]) -> f64;

    /// The shape `H` takes in the KKT matrix (fixed at construction).
    fn hs_shape(&self) -> HsShape;

    /// For [`HsShape::Diagonal`], the diagonal of `H`; for [`HsShape::LowRank`],
    /// the diagonal of `η²D`.
    fn hs_diag(&self, out: &mut [f64]);

    /// For [`HsShape::Dense`] (and any shape, for the dense KKT path): `H` in
    /// full, column-major `d × d`.
    fn hs_dense(&self, out: &mut [f64]);

    /// For [`HsShape::LowRank`]: `(u, v, η²)` with `H = η²(D + uuᵀ − vvᵀ)`;
    /// `None` otherwise.
    fn hs_low_rank(&self) -> Option<(&[f64], &[f64], f64)>;
}

/// One block of K, dispatched statically.
#[derive(Clone, Debug)]
pub enum AnyCone {
    /// `{0}ᵈ`: equality rows.
    Zero(ZeroCone),
    /// `ℝᵈ₊`.
    Nonneg(NonnegCone),
    /// `{(t, x) : ‖x‖ ≤ t}`.
    SecondOrder(SecondOrderCone),
    /// The exponential cone.
    Exponential(ExpCone),
    /// The PSD cone on an svec.
    Psd(PsdCone),
}

macro_rules! dispatch {
    ($self:ident, $c:ident => $e:expr) => {
        match $self {
            AnyCone::Zero($c) => $e,
            AnyCone::Nonneg($c) => $e,
            AnyCone::SecondOrder($c) => $e,
            AnyCone::Exponential($c) => $e,
            AnyCone::Psd($c) => $e,
        }
    };
}

impl Cone for AnyCone {
    fn dim(&self) -> usize {
        dispatch!(self, c => c.dim())
    }
    fn degree(&self) -> usize {
        dispatch!(self, c => c.degree())
    }
    fn margins(&self, v: &[f64]) -> (f64, f64) {
        dispatch!(self, c => c.margins(v))
    }
    fn shift_by_unit(&self, v: &mut [f64], alpha: f64, dual: bool) {
        dispatch!(self, c => c.shift_by_unit(v, alpha, dual))
    }
    fn is_symmetric(&self) -> bool {
        dispatch!(self, c => c.is_symmetric())
    }
    fn unit_point(&self, v: &mut [f64], dual: bool) {
        dispatch!(self, c => c.unit_point(v, dual))
    }
    fn set_dual_scaling(&mut self, on: bool) {
        dispatch!(self, c => c.set_dual_scaling(on))
    }
    fn set_identity_scaling(&mut self) {
        dispatch!(self, c => c.set_identity_scaling())
    }
    fn update_scaling(&mut self, s: &[f64], z: &[f64]) -> bool {
        dispatch!(self, c => c.update_scaling(s, z))
    }
    fn linearise_complementarity(&mut self, s: &[f64], z: &[f64], kappa: f64) -> bool {
        dispatch!(self, c => c.linearise_complementarity(s, z, kappa))
    }
    fn tangent_offset(&self, z: &[f64], out: &mut [f64]) {
        dispatch!(self, c => c.tangent_offset(z, out))
    }
    fn mul_hs(&self, y: &mut [f64], x: &[f64]) {
        dispatch!(self, c => c.mul_hs(y, x))
    }
    fn affine_ds(&self, ds: &mut [f64]) {
        dispatch!(self, c => c.affine_ds(ds))
    }
    fn corrector(&self, shift: &mut [f64], dz: &mut [f64], ds: &mut [f64], m: f64, sigma_mu: f64) {
        dispatch!(self, c => c.corrector(shift, dz, ds, m, sigma_mu))
    }
    fn ds_offset(&self, out: &mut [f64], ds: &[f64], work: &mut [f64]) {
        dispatch!(self, c => c.ds_offset(out, ds, work))
    }
    fn step_length(&self, v: &[f64], dv: &[f64], alpha_max: f64) -> f64 {
        dispatch!(self, c => c.step_length(v, dv, alpha_max))
    }
    fn step_length_dual(&self, v: &[f64], dv: &[f64], alpha_max: f64) -> f64 {
        dispatch!(self, c => c.step_length_dual(v, dv, alpha_max))
    }
    fn barrier(&self, s: &[f64], z: &[f64]) -> f64 {
        dispatch!(self, c => c.barrier(s, z))
    }
    fn hs_shape(&self) -> HsShape {
        dispatch!(self, c => c.hs_shape())
    }
    fn hs_diag(&self, out: &mut [f64]) {
        dispatch!(self, c => c.hs_diag(out))
    }
    fn hs_dense(&self, out: &mut [f64]) {
        dispatch!(self, c => c.hs_dense(out))
    }
    fn hs_low_rank(&self) -> Option<(&[f64], &[f64], f64)> {
        dispatch!(self, c => c.hs_low_rank())
    }
}

/// `xᵀy`.
pub(crate) fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// `‖x‖₂`.
pub(crate) fn norm2(x: &[f64]) -> f64 {
    dot(x, x).sqrt()
}
