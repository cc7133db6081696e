//! The second-order cone `{(t, u) : ‖u‖₂ ≤ t}` of dimension `d ≥ 2`, with the
//! Jordan product `x ∘ y = (xᵀy, x₀y₁ + y₀x₁)`, `e = (1, 0, …, 0)` and degree 1.
//!
//! NT scaling (Nesterov & Todd; the form of ECOS, Domahidi et al. 2013, §5):
//! with `J = diag(1, −I)` and `res(x) = x₀² − ‖x₁‖²`,
//!
//! ```text
//! η = (res(s)/res(z))^¼,   w̄ = (s/√res(s) + Jz/√res(z)) / √res(·),  res(w̄) = 1,
//! W = η [w̄₀  w̄₁ᵀ; w̄₁  I + w̄₁w̄₁ᵀ/(1 + w̄₀)],     WᵀW = η²(2w̄w̄ᵀ − J).
//! ```
//!
//! `WᵀW` is dense. For the sparse KKT path a large cone writes it in the
//! Jordan frame of w̄: with `β = w̄₀ + ‖w̄₁‖` (so `β⁻¹ = w̄₀ − ‖w̄₁‖`, as
//! `res(w̄) = 1`), `ŵ = w̄₁/‖w̄₁‖` and `f± = (1, ±ŵ)/√2`, `w̄ = (βf₊ + β⁻¹f₋)/√2`
//! and `2e₀e₀ᵀ = (f₊ + f₋)(f₊ + f₋)ᵀ` give
//!
//! ```text
//! WᵀW = η²(I + uuᵀ − vvᵀ),   u = √(β² − 1) f₊,   v = √(1 − β⁻²) f₋,
//! ```
//!
//! the eigenvalues `η²β²` on f₊, `η²β⁻²` on f₋ and η² on the rest.
//!
//! Why not the rank-2 form of Clarabel's sparse SOC expansion, `D =
//! diag(1/(2‖w̄‖²), 1, …, 1)`, `u₀ ≈ ‖w̄‖`: eliminating the cone's z rows
//! first (as the fill-reducing order may) leaves the u column a pivot of
//! `η²(1 + uᵀD⁻¹u) ≈ 2η²‖w̄‖⁴`, from which `H`'s smallest eigenvalue is
//! recovered by cancellation, with a relative error of `ε‖w̄‖⁴`. Near an
//! optimum where the cone is active, `‖w̄‖²` grows like `1/μ`; on CBLIB's
//! sched_50_50 (a cone of dimension 2 474) `w̄₀` reached 8e3, `ε‖w̄‖⁴ ≈ 1`,
//! the refined KKT residual was a third of the right-hand side's, and the
//! iterations stopped at `optimal_inaccurate` (docs/accuracy.md). In the
//! frame the pivots are `η²β²` and `−η²β⁻²` (`uᵀv = 0`), the cancellation is
//! the latter's, `ε β²`, and the block of the z rows and the v column,
//! `−η²[I v; vᵀ 1]`, is negative definite for every β (`‖v‖ < 1`), so the
//! expanded matrix is quasi-definite whatever the elimination order.

use super::{dot, norm2, Cone, HsShape};

/// The second-order cone `{(t, x) : ‖x‖ ≤ t}`, with its NT scaling (see the
/// module docs).
#[derive(Clone, Debug)]
pub struct SecondOrderCone {
    /// The normalised scaling point w̄ (`res(w̄) = 1`).
    w: Vec<f64>,
    eta: f64,
    lambda: Vec<f64>,
    /// Rank-2 representation of `WᵀW / η²` when the block is expanded.
    low_rank: Option<LowRank>,
    /// Set by [`Cone::linearise_complementarity`] (and `is_linearised` true):
    /// `H` is then this, not `WᵀW`.
    linearised: Linearised,
    is_linearised: bool,
}

/// The linearisation of `s ∘ z = 0` in the Jordan frame `e₁,₂ = (1, ±ū)/√2` of
/// the final iterate: `L(z)Δs + L(s)Δz = 0` with `L(x) = [x₀ x̄ᵀ; x̄ x₀I]` gives
/// `Δs = −HΔz`, `H = L(z)⁻¹L(s)`, whose eigenvalues are `sᵢ/zᵢ` on `eᵢ`
/// (`sᵢ = s₀ ± s̄ᵀū`, the same for z) and `s₀/z₀` on the rest. Written as
/// `H = η²(I + uuᵀ − vvᵀ)`, `η² = s₀/z₀`.
///
/// Why not NT's `WᵀW`: it has the eigenvalues `sᵢ/zᵢ` only on the central path.
/// At an optimum with `s`, `z` on the boundary, `s₁/z₁ → ∞` and `s₂/z₂ → 0`, and
/// NT puts `√(s₁s₂/(z₁z₂))` on the tangent directions, which is the exact
/// `s₀/z₀` times `√(μ₂/μ₁)`, `μᵢ = sᵢzᵢ`: off by the iterate's
/// off-centrality however small μ is, and so is the derivative of the solution.
#[derive(Clone, Debug)]
struct Linearised {
    eta2: f64,
    u: Vec<f64>,
    v: Vec<f64>,
    /// The frame's direction ū.
    ubar: Vec<f64>,
}

impl Linearised {
    fn new(d: usize) -> Linearised {
        Linearised { eta2: 1.0, u: vec![0.0; d], v: vec![0.0; d], ubar: vec![0.0; d - 1] }
    }

    /// The linearisation at `(s, z)`, in place; false if `s₀/z₀` is not a
    /// positive number.
    fn set(&mut self, s: &[f64], z: &[f64], kappa: f64) -> bool {
        let (ns, nz) = (norm2(&s[1..]), norm2(&z[1..]));
        // The frame: s̄'s direction (or −z̄'s, z being its reflection at an optimum).
        let ubar = &mut self.ubar;
        if ns > 1e-300 && ns / s[0] >= nz / z[0] {
            ubar.iter_mut().zip(&s[1..]).for_each(|(u, x)| *u = x / ns);
        } else if nz > 1e-300 {
            ubar.iter_mut().zip(&z[1..]).for_each(|(u, x)| *u = -x / nz);
        } else {
            ubar.fill(0.0);
            ubar[0] = 1.0;
        }
        let (sp, zp) = (dot(&s[1..], ubar), dot(&z[1..], ubar));
        // Eigenvalues of s and z in the frame, floored at 1e-14 of the block's
        // size (plus one: the data are equilibrated, so 1 is the unit): an
        // inactive cone (z ≈ 0) then gets ratios of order 1e14, as an inactive
        // orthant row does, not the 1e20 of a polished z.
        let (fs, fz) = (1e-14 * (1.0 + s[0].abs()), 1e-14 * (1.0 + z[0].abs()));
        let (s1, s2) = ((s[0] + sp).max(fs), (s[0] - sp).max(fs));
        let (z1, z2) = ((z[0] + zp).max(fz), (z[0] - zp).max(fz));
        let eta2 = s[0].max(fs) / z[0].max(fz);
        if !(eta2 > 0.0 && eta2.is_finite()) {
            return false;
        }
        self.eta2 = eta2;
        // H/η² = I + (λ₁/η² − 1)e₁e₁ᵀ + (λ₂/η² − 1)e₂e₂ᵀ with the frame
        // e₁,₂ = (1, ±ū)/√2: η² is the mediant of λ₁ and λ₂, so one coefficient
        // is ≥ 0 (u) and the other in [−1, 0] (v).
        //
        // At an optimum λ₁/η² → ∞ and λ₂/η² → 0, and in the standard basis the
        // dense rank-one term swamps the tangent eigenvalue η² (a relative error
        // of κε for ratios up to κ). Capping the ratios at κ perturbs Δz along e₁
        // (and Δs along e₂) by 1/κ instead: see `KAPPA_BACKWARD`.
        let ratio = |l: f64| (l / eta2).clamp(1.0 / kappa, kappa);
        let (a1, a2) = (ratio(s1 / z1) - 1.0, ratio(s2 / z2) - 1.0);
        let ((a, sign_a), (b, sign_b)) = if a1 >= a2 { ((a1, 1.0), (a2, -1.0)) } else { ((a2, -1.0), (a1, 1.0)) };
        let (ra, rb) = (a.max(0.0).sqrt(), (-b).clamp(0.0, 1.0).sqrt());
        frame_vector(&mut self.u, ra, sign_a, ubar, 1.0);
        frame_vector(&mut self.v, rb, sign_b, ubar, 1.0);
        true
    }
}

/// `u` and `v` of `WᵀW = η²(I + uuᵀ − vvᵀ)` (see the module docs).
#[derive(Clone, Debug)]
struct LowRank {
    u: Vec<f64>,
    v: Vec<f64>,
}

/// `out = r (1, sign·x/‖x‖)/√2`: `r` times a vector of a Jordan frame whose
/// direction is x's (`norm` = ‖x‖ > 0).
fn frame_vector(out: &mut [f64], r: f64, sign: f64, x: &[f64], norm: f64) {
    let c = r * std::f64::consts::FRAC_1_SQRT_2;
    out[0] = c;
    out[1..].iter_mut().zip(x).for_each(|(o, xi)| *o = c * (sign * xi / norm));
}

/// `x₀² − ‖x₁‖²`, factored to limit cancellation.
fn residual(x: &[f64]) -> f64 {
    let n1 = norm2(&x[1..]);
    (x[0] - n1) * (x[0] + n1)
}

/// `out = x ∘ y`.
fn circ(out: &mut [f64], x: &[f64], y: &[f64]) {
    out[0] = dot(x, y);
    for i in 1..out.len() {
        out[i] = x[0] * y[i] + y[0] * x[i];
    }
}

impl SecondOrderCone {
    /// `low_rank`: represent `WᵀW` as diagonal plus rank 2 in the KKT matrix.
    pub fn new(dim: usize, low_rank: bool) -> Self {
        debug_assert!(dim >= 2);
        let mut c = SecondOrderCone {
            w: vec![0.0; dim],
            eta: 1.0,
            lambda: vec![0.0; dim],
            low_rank: low_rank.then(|| LowRank { u: vec![0.0; dim], v: vec![0.0; dim] }),
            linearised: Linearised::new(dim),
            is_linearised: false,
        };
        c.set_identity_scaling();
        c
    }

    /// The linearisation, when it is what `H` is.
    fn lin(&self) -> Option<&Linearised> {
        self.is_linearised.then_some(&self.linearised)
    }

    fn update_low_rank(&mut self) {
        let Some(lr) = &mut self.low_rank else { return };
        let w = &self.w;
        let n1 = norm2(&w[1..]);
        if n1 == 0.0 {
            // w̄ = e: WᵀW = η²I.
            lr.u.fill(0.0);
            lr.v.fill(0.0);
            return;
        }
        // β⁻¹ = 1/β rather than w̄₀ − ‖w̄₁‖, which cancels.
        let beta = w[0] + n1;
        let inv = 1.0 / beta;
        frame_vector(&mut lr.u, ((beta - 1.0) * (beta + 1.0)).max(0.0).sqrt(), 1.0, &w[1..], n1);
        frame_vector(&mut lr.v, ((1.0 - inv) * (1.0 + inv)).max(0.0).sqrt(), -1.0, &w[1..], n1);
    }

    /// `y₀ = η(w̄₀x₀ + w̄₁ᵀx₁)`, `y₁ = η(x₁ + (x₀ + w̄₁ᵀx₁/(1 + w̄₀)) w̄₁)`.
    fn mul_w(&self, y: &mut [f64], x: &[f64]) {
        let w = &self.w;
        let zeta = dot(&w[1..], &x[1..]);
        let c = x[0] + zeta / (1.0 + w[0]);
        y[0] = self.eta * (w[0] * x[0] + zeta);
        for i in 1..y.len() {
            y[i] = self.eta * (x[i] + c * w[i]);
        }
    }
    /// `y₀ = (w̄₀x₀ − w̄₁ᵀx₁)/η`, `y₁ = (x₁ + (−x₀ + w̄₁ᵀx₁/(1 + w̄₀)) w̄₁)/η`.
    fn mul_winv(&self, y: &mut [f64], x: &[f64]) {
        let w = &self.w;
        let zeta = dot(&w[1..], &x[1..]);
        let c = -x[0] + zeta / (1.0 + w[0]);
        y[0] = (w[0] * x[0] - zeta) / self.eta;
        for i in 1..y.len() {
            y[i] = (x[i] + c * w[i]) / self.eta;
        }
    }
}

impl Cone for SecondOrderCone {
    fn dim(&self) -> usize {
        self.w.len()
    }
    fn degree(&self) -> usize {
        1
    }
    /// `(v₀ − ‖v₁‖, max(0, v₀ − ‖v₁‖))`.
    fn margins(&self, v: &[f64]) -> (f64, f64) {
        let a = v[0] - norm2(&v[1..]);
        (a, a.max(0.0))
    }
    fn shift_by_unit(&self, v: &mut [f64], alpha: f64, _dual: bool) {
        v[0] += alpha;
    }
    fn set_identity_scaling(&mut self) {
        self.is_linearised = false;
        self.w.fill(0.0);
        self.w[0] = 1.0;
        self.eta = 1.0;
        self.lambda.fill(0.0);
        self.lambda[0] = 1.0;
        self.update_low_rank();
    }
    fn update_scaling(&mut self, s: &[f64], z: &[f64]) -> bool {
        self.is_linearised = false;
        let (rs, rz) = (residual(s), residual(z));
        if !(s[0] > 0.0 && z[0] > 0.0 && rs > 0.0 && rz > 0.0) {
            return false;
        }
        let (ss, zs) = (rs.sqrt(), rz.sqrt());
        self.eta = (ss / zs).sqrt();
        self.w[0] = s[0] / ss + z[0] / zs;
        for i in 1..s.len() {
            self.w[i] = s[i] / ss - z[i] / zs;
        }
        let rw = residual(&self.w);
        if !(rw > 0.0 && rw.is_finite()) {
            return false;
        }
        let ws = rw.sqrt();
        self.w.iter_mut().for_each(|x| *x /= ws);
        // Re-impose res(w̄) = 1 exactly.
        self.w[0] = (1.0 + dot(&self.w[1..], &self.w[1..])).sqrt();
        let mut lambda = std::mem::take(&mut self.lambda);
        self.mul_w(&mut lambda, z);
        self.lambda = lambda;
        self.update_low_rank();
        true
    }
    /// Needs only `s₀, z₀ > 0`: at a polished point s and z lie on the boundary,
    /// where NT scaling does not exist (only the linearisation is used after).
    fn linearise_complementarity(&mut self, s: &[f64], z: &[f64], kappa: f64) -> bool {
        self.is_linearised = self.linearised.set(s, z, kappa);
        self.is_linearised
    }
    /// `η²(z̄ − (z̄ᵀū)ū)`: z's part off the linearisation's frame, which the
    /// frame's `H` does not see (see `Cone::tangent_offset`).
    fn tangent_offset(&self, z: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        if let Some(l) = self.lin() {
            let along = dot(&z[1..], &l.ubar);
            for i in 1..out.len() {
                out[i] = l.eta2 * (z[i] - along * l.ubar[i - 1]);
            }
        }
    }
    /// `y = η²(2(w̄ᵀx) w̄ − Jx)` (or the linearised `H`).
    fn mul_hs(&self, y: &mut [f64], x: &[f64]) {
        if let Some(l) = self.lin() {
            let (cu, cv) = (dot(&l.u, x), dot(&l.v, x));
            for i in 0..y.len() {
                y[i] = l.eta2 * (x[i] + cu * l.u[i] - cv * l.v[i]);
            }
            return;
        }
        let c = 2.0 * dot(&self.w, x);
        let e2 = self.eta * self.eta;
        y[0] = e2 * (c * self.w[0] - x[0]);
        for i in 1..y.len() {
            y[i] = e2 * (c * self.w[i] + x[i]);
        }
    }
    fn affine_ds(&self, ds: &mut [f64]) {
        circ(ds, &self.lambda, &self.lambda);
    }
    fn corrector(&self, shift: &mut [f64], dz: &mut [f64], ds: &mut [f64], m: f64, sigma_mu: f64) {
        shift.copy_from_slice(dz);
        self.mul_w(dz, shift);
        shift.copy_from_slice(ds);
        self.mul_winv(ds, shift);
        circ(shift, ds, dz);
        shift.iter_mut().for_each(|x| *x *= m);
        shift[0] -= sigma_mu;
    }
    /// `λ \ d` solves the arrow system `[λ₀ λ₁ᵀ; λ₁ λ₀I] x = d`:
    /// `x₀ = (λ₀d₀ − λ₁ᵀd₁)/res(λ)`, `x₁ = (d₁ − x₀λ₁)/λ₀`; then `out = W x`.
    fn ds_offset(&self, out: &mut [f64], ds: &[f64], work: &mut [f64]) {
        let l = &self.lambda;
        let x0 = (l[0] * ds[0] - dot(&l[1..], &ds[1..])) / residual(l);
        work[0] = x0;
        for i in 1..work.len() {
            work[i] = (ds[i] - x0 * l[i]) / l[0];
        }
        self.mul_w(out, work);
    }
    /// The smallest positive root of `res(v + α dv) = aα² + bα + c`, also kept
    /// on the positive nappe (`v₀ + α dv₀ ≥ 0`); the roots are taken in the
    /// cancellation-free form `r₁ = t/a`, `r₂ = c/t`, `t = −(b + sign(b)√(b² − 4ac))/2`.
    fn step_length(&self, v: &[f64], dv: &[f64], alpha_max: f64) -> f64 {
        let mut alpha = alpha_max;
        if dv[0] < 0.0 {
            alpha = alpha.min(-v[0] / dv[0]);
        }
        let a = residual(dv);
        let b = 2.0 * (v[0] * dv[0] - dot(&v[1..], &dv[1..]));
        let c = residual(v).max(0.0);
        if c == 0.0 {
            // On the boundary: only a direction into the cone can move.
            return if a >= 0.0 && b >= 0.0 { alpha.max(0.0) } else { 0.0 };
        }
        let disc = b * b - 4.0 * a * c;
        if disc < 0.0 {
            return alpha.max(0.0);
        }
        let t = -0.5 * (b + b.signum() * disc.sqrt());
        for r in [if a != 0.0 { t / a } else { f64::INFINITY }, if t != 0.0 { c / t } else { f64::INFINITY }] {
            if r > 0.0 {
                alpha = alpha.min(r);
            }
        }
        alpha.max(0.0)
    }
    /// `−½ log(res(s) res(z))`.
    fn barrier(&self, s: &[f64], z: &[f64]) -> f64 {
        let (rs, rz) = (residual(s), residual(z));
        if s[0] > 0.0 && z[0] > 0.0 && rs > 0.0 && rz > 0.0 {
            -0.5 * (rs * rz).ln()
        } else {
            f64::INFINITY
        }
    }
    fn hs_shape(&self) -> HsShape {
        if self.low_rank.is_some() {
            HsShape::LowRank
        } else {
            HsShape::Dense
        }
    }
    fn hs_diag(&self, out: &mut [f64]) {
        if let (Some(l), Some(_)) = (self.lin(), &self.low_rank) {
            out.fill(l.eta2);
            return;
        }
        let e2 = self.eta * self.eta;
        if self.low_rank.is_some() {
            out.fill(e2);
            return;
        }
        let c = 2.0 * e2;
        out[0] = e2 * (2.0 * self.w[0] * self.w[0] - 1.0);
        for i in 1..out.len() {
            out[i] = c * self.w[i] * self.w[i] + e2;
        }
    }
    fn hs_dense(&self, out: &mut [f64]) {
        let d = self.w.len();
        if let Some(l) = self.lin() {
            for j in 0..d {
                for i in 0..d {
                    out[j * d + i] = l.eta2 * (l.u[i] * l.u[j] - l.v[i] * l.v[j] + if i == j { 1.0 } else { 0.0 });
                }
            }
            return;
        }
        let e2 = self.eta * self.eta;
        for j in 0..d {
            for i in 0..d {
                out[j * d + i] = 2.0 * e2 * self.w[i] * self.w[j];
            }
        }
        out[0] -= e2;
        for i in 1..d {
            out[i * d + i] += e2;
        }
    }
    fn hs_low_rank(&self) -> Option<(&[f64], &[f64], f64)> {
        if let (Some(l), Some(_)) = (self.lin(), &self.low_rank) {
            return Some((&l.u[..], &l.v[..], l.eta2));
        }
        self.low_rank.as_ref().map(|lr| (&lr.u[..], &lr.v[..], self.eta * self.eta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interior(seed: u64, d: usize) -> Vec<f64> {
        let mut x: Vec<f64> = (0..d).map(|i| ((seed * 31 + i as u64 * 17) % 13) as f64 / 7.0 - 0.9).collect();
        x[0] = norm2(&x[1..]) + 0.3 + seed as f64 * 0.1;
        x
    }

    #[test]
    fn nt_scaling_maps_z_to_s() {
        for d in [2, 3, 6] {
            let (s, z) = (interior(1, d), interior(2, d));
            let mut c = SecondOrderCone::new(d, d > 4);
            assert!(c.update_scaling(&s, &z));
            let mut hz = vec![0.0; d];
            c.mul_hs(&mut hz, &z);
            for i in 0..d {
                assert!((hz[i] - s[i]).abs() < 1e-12, "WᵀWz = s, d = {d}");
            }
            // W⁻ᵀ s = λ = W z
            let (mut a, mut b) = (vec![0.0; d], vec![0.0; d]);
            c.mul_w(&mut a, &z);
            c.mul_winv(&mut b, &s);
            for i in 0..d {
                assert!((a[i] - b[i]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn dense_and_low_rank_forms_agree_with_mul_hs() {
        let d = 6;
        let (s, z) = (interior(3, d), interior(4, d));
        let mut c = SecondOrderCone::new(d, true);
        assert!(c.update_scaling(&s, &z));
        let mut dense = vec![0.0; d * d];
        c.hs_dense(&mut dense);
        let mut diag = vec![0.0; d];
        c.hs_diag(&mut diag);
        let (u, v, e2) = c.hs_low_rank().unwrap();
        for j in 0..d {
            let mut ej = vec![0.0; d];
            ej[j] = 1.0;
            let mut col = vec![0.0; d];
            c.mul_hs(&mut col, &ej);
            for i in 0..d {
                let lr = if i == j { diag[i] } else { 0.0 } + e2 * (u[i] * u[j] - v[i] * v[j]);
                assert!((dense[j * d + i] - col[i]).abs() < 1e-10);
                assert!((lr - col[i]).abs() < 1e-10, "({i},{j}) {lr} vs {}", col[i]);
            }
        }
    }

    /// Near an optimum (s and z within `gap` of their boundaries, on opposite
    /// rays, so `β = w̄₀ + ‖w̄₁‖` grows like `gap^(−½)`) the rank-2 form
    /// keeps `uᵀv = 0` and `‖v‖ < 1` (the block of the z rows and the v column,
    /// `−η²[I v; vᵀ 1]`, negative definite: the KKT matrix quasi-definite),
    /// and its eigenvalues on `f₊`, `f₋` are `η²β²` and `η²β⁻²`, the latter
    /// to a relative `εβ²`, not lost to the former.
    #[test]
    fn low_rank_frame_form_is_quasi_definite_near_the_boundary() {
        let d = 5;
        for gap in [1e-2, 1e-6, 1e-10] {
            let (mut s, mut z) = (vec![0.0; d], vec![0.0; d]);
            (s[0], s[1], s[2]) = (5.0 * (1.0 + gap), 3.0, 4.0);
            (z[0], z[1], z[2]) = (1.0 + gap, -0.6, -0.8);
            let mut c = SecondOrderCone::new(d, true);
            assert!(c.update_scaling(&s, &z));
            let (u, v, e2) = c.hs_low_rank().unwrap();
            let beta = c.w[0] + norm2(&c.w[1..]);
            assert!(beta * beta > 0.1 / gap, "gap {gap}: β = {beta}");
            assert!(dot(v, v) < 1.0);
            assert!(dot(u, v).abs() <= 1e-15 * norm2(u));
            // f± = (1, ±ŵ)/√2 with ŵ = (0.6, 0.8, 0, 0).
            let h = std::f64::consts::FRAC_1_SQRT_2;
            let f = |sign: f64| vec![h, sign * 0.6 * h, sign * 0.8 * h, 0.0, 0.0];
            // The small one by cancellation, relative error of order εβ²
            // (Clarabel's form: ε‖w̄‖⁴ ≈ εβ⁴/16, above 1 at gap 1e-10).
            let eps = f64::EPSILON;
            for (sign, want, tol) in
                [(1.0, e2 * beta * beta, 1e-12), (-1.0, e2 / (beta * beta), 100.0 * eps * beta * beta)]
            {
                let fv = f(sign);
                let got = e2 * (1.0 + dot(u, &fv).powi(2) - dot(v, &fv).powi(2));
                assert!((got - want).abs() <= tol * want, "gap {gap}, f{sign}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn ds_offset_inverts_the_jordan_product() {
        let d = 4;
        let (s, z) = (interior(5, d), interior(6, d));
        let mut c = SecondOrderCone::new(d, false);
        assert!(c.update_scaling(&s, &z));
        // λ ∘ (λ \ d) = d, checked through out = W(λ \ d): W⁻¹out ∘ λ = d.
        let ds = vec![0.3, -0.2, 0.5, 0.1];
        let (mut out, mut work) = (vec![0.0; d], vec![0.0; d]);
        c.ds_offset(&mut out, &ds, &mut work);
        let mut x = vec![0.0; d];
        c.mul_winv(&mut x, &out); // W symmetric: W⁻ᵀ = W⁻¹
        let mut back = vec![0.0; d];
        circ(&mut back, &c.lambda, &x);
        for i in 0..d {
            assert!((back[i] - ds[i]).abs() < 1e-12);
        }
        // The affine shortcut: Wᵀ(λ \ λ∘λ) = Wᵀλ = s.
        let mut ll = vec![0.0; d];
        c.affine_ds(&mut ll);
        c.ds_offset(&mut out, &ll, &mut work);
        for i in 0..d {
            assert!((out[i] - s[i]).abs() < 1e-12);
        }
    }

    #[test]
    fn step_to_boundary() {
        let c = SecondOrderCone::new(3, false);
        // From (1, 0, 0) toward (−1, 1, 0): boundary where 1 − α = α, α = ½.
        let a = c.step_length(&[1.0, 0.0, 0.0], &[-1.0, 1.0, 0.0], 10.0);
        assert!((a - 0.5).abs() < 1e-14);
        // A direction inside the cone never reaches the boundary.
        assert_eq!(c.step_length(&[1.0, 0.0, 0.0], &[2.0, 1.0, 0.0], 10.0), 10.0);
        // Along the lateral direction: 1 = α.
        let a = c.step_length(&[1.0, 0.0, 0.0], &[0.0, 0.0, 1.0], 10.0);
        assert!((a - 1.0).abs() < 1e-14);
    }
}
