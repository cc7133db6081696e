//! The exponential cone and its dual (the convention of SCS, Clarabel and CVXPY),
//!
//! ```text
//! K  = cl{(x, y, w) : y > 0, y e^{x/y} ≤ w},
//! K* = cl{(u, v, w) : u < 0, −u e^{v/u} ≤ e w},
//! ```
//!
//! a nonsymmetric cone of barrier degree 3: there is no Jordan product and no
//! Nesterov–Todd point, so the interior point method works with barriers
//! instead (Dahl & Andersen, "A primal-dual interior-point algorithm for
//! nonsymmetric exponential-cone optimization", Math. Program. 2022; the
//! form Clarabel uses). The dual barrier is
//!
//! ```text
//! f*(z) = −log(−z₀) − log z₂ − log r,   r = z₁ − z₀ − z₀ log(−z₂/z₀),
//! ```
//!
//! and the primal barrier `f` its conjugate. On the central path
//! `s = −μ∇f*(z)`; the Newton step on that relation is
//! `Δs + H Δz = −(s + σμ∇f*(z)) − η` with
//!
//! - `H` the primal–dual scaling: symmetric positive definite with `Hz = s` and
//!   `H∇f(s) = ∇f*(z)`, the rank-3 form `ssᵀ/⟨s,z⟩ + δsδsᵀ/⟨δs,δz⟩ + t aaᵀ`
//!   (`δs = s + μ∇f*(z)`, `δz = z + μ∇f(s)`, `a ∝ z × ∇f(s)`, `t` from the
//!   Frobenius norm of the dual Hessian's remainder); `μ∇²f*(z)` (dual
//!   scaling) where that is ill-defined (on the central path) or when the
//!   solver falls back to it;
//! - `η = −½∇³f*(z)[Δz, ∇²f*(z)⁻¹Δs]` the third-order correction, from the
//!   affine step; `∇³f*` is taken as the derivative of `∇²f*` along `Δz` by
//!   forward-mode dual numbers (exact, no formula of its own to get wrong).
//!
//! Steps are limited by backtracking into the barrier's domain (there is no
//! closed form for the distance to the boundary), and the solver adds a
//! centrality check on the combined barrier (`Variables::barrier`).

use std::ops::{Add, Div, Mul, Neg, Sub};

use super::{dot, norm2, Cone, HsShape};

type Mat3 = [[f64; 3]; 3];

/// The analytic centre of the cone, `s = z = −∇f*(z)`: the initial point
/// (Newton's method on `s + ∇f*(s) = 0` in 40-digit arithmetic; the digits
/// often quoted, −1.051383945322714, …, are off from the fixed point by 5e-9).
const CENTRE: [f64; 3] = [-1.051_383_943_750_229, 0.556_409_618_604_338, 1.258_967_886_464_46];

/// Backtracking factor of the step to the barrier's domain, and the step below
/// which it gives up (no step).
const BACKTRACK: f64 = 0.8;
const MIN_STEP: f64 = 1e-10;

/// The exponential cone `{(x, y, z) : y e^{x/y} ≤ z, y > 0}` (closure
/// included), nonsymmetric: scaled as the module docs describe.
#[derive(Clone, Debug)]
pub struct ExpCone {
    /// `H` of the KKT matrix: the scaling, or the linearisation at the end.
    hs: Mat3,
    /// `∇²f*(z)` and `∇f*(z)` at the scaling point.
    h_dual: Mat3,
    grad: [f64; 3],
    s: [f64; 3],
    z: [f64; 3],
    /// Scale by `μ∇²f*(z)` instead of the primal–dual `H`.
    dual_scaling: bool,
}

impl Default for ExpCone {
    fn default() -> Self {
        ExpCone::new()
    }
}

impl ExpCone {
    /// A cone with `s = z` at the barrier's central point and `H = I`.
    pub fn new() -> Self {
        let id = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        ExpCone { hs: id, h_dual: id, grad: [0.0; 3], s: CENTRE, z: CENTRE, dual_scaling: false }
    }
}

/// `s ∈ int K`: `s₁, s₂ > 0` and `s₁ log(s₂/s₁) − s₀ > 0`.
pub(crate) fn primal_interior(s: &[f64]) -> bool {
    s[1] > 0.0 && s[2] > 0.0 && s[1] * (s[2] / s[1]).ln() - s[0] > 0.0
}

/// `z ∈ int K*`: `z₀ < 0`, `z₂ > 0` and `r = z₁ − z₀ − z₀ log(−z₂/z₀) > 0`.
pub(crate) fn dual_interior(z: &[f64]) -> bool {
    z[0] < 0.0 && z[2] > 0.0 && z[1] - z[0] - z[0] * (-z[2] / z[0]).ln() > 0.0
}

/// `f*(z) = −log(−z₀z₂) − log r`.
fn dual_barrier(z: &[f64]) -> f64 {
    let r = z[1] - z[0] - z[0] * (-z[2] / z[0]).ln();
    -(-z[0] * z[2]).ln() - r.ln()
}

/// Wright's ω: the solution `y` of `y + log y = a`, for `a ≥ 1` (so `y ≥ 1`).
/// Newton's method from below the root (`1`, or `a − log a`), where the
/// function being concave and increasing makes it converge monotonically.
fn wright_omega(a: f64) -> f64 {
    let mut y = if a < 2.0 { 1.0 } else { a - a.ln() };
    for _ in 0..50 {
        let step = (y + y.ln() - a) / (1.0 + 1.0 / y);
        y -= step;
        if step.abs() <= 4.0 * f64::EPSILON * y {
            break;
        }
    }
    y
}

/// `ω(1 − s₀/s₁ − log(s₁/s₂))`, the quantity the conjugate barrier is written
/// in (`s ∈ int K` makes the argument exceed 1).
fn omega_of(s: &[f64]) -> f64 {
    wright_omega(1.0 - s[0] / s[1] - (s[1] / s[2]).ln())
}

/// The primal barrier, the conjugate of `f*`:
/// `f(s) = −2 log s₁ − log s₂ − log((ω − 1)²/ω) − 3`.
fn primal_barrier(s: &[f64]) -> f64 {
    let w = omega_of(s);
    -((w - 1.0) * (w - 1.0) / w).ln() - 2.0 * s[1].ln() - s[2].ln() - 3.0
}

/// `∇f(s)`: `g₀ = 1/((ω − 1)s₁)`, `g₁ = g₀ + g₀ log(ωs₁/s₂) − 1/s₁`,
/// `g₂ = ω/((1 − ω)s₂)` (differentiating `f` through `ω′ = ω/(1 + ω)`).
fn primal_gradient(s: &[f64]) -> [f64; 3] {
    let w = omega_of(s);
    let g0 = 1.0 / ((w - 1.0) * s[1]);
    [g0, g0 + g0 * (w * s[1] / s[2]).ln() - 1.0 / s[1], w / ((1.0 - w) * s[2])]
}

/// The arithmetic the dual barrier's derivatives are written once for: `f64`,
/// and [`Dual`] numbers for the third derivative.
trait Real:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> + Neg<Output = Self>
{
    fn c(v: f64) -> Self;
    fn ln(self) -> Self;
}

impl Real for f64 {
    fn c(v: f64) -> Self {
        v
    }
    fn ln(self) -> Self {
        f64::ln(self)
    }
}

/// `a + bε` with `ε² = 0`: `f(x + vε) = f(x) + f′(x)v ε`.
#[derive(Clone, Copy, Debug)]
struct Dual {
    a: f64,
    b: f64,
}

impl Add for Dual {
    type Output = Dual;
    fn add(self, o: Dual) -> Dual {
        Dual { a: self.a + o.a, b: self.b + o.b }
    }
}
impl Sub for Dual {
    type Output = Dual;
    fn sub(self, o: Dual) -> Dual {
        Dual { a: self.a - o.a, b: self.b - o.b }
    }
}
impl Mul for Dual {
    type Output = Dual;
    fn mul(self, o: Dual) -> Dual {
        Dual { a: self.a * o.a, b: self.a * o.b + self.b * o.a }
    }
}
impl Div for Dual {
    type Output = Dual;
    fn div(self, o: Dual) -> Dual {
        Dual { a: self.a / o.a, b: (self.b * o.a - self.a * o.b) / (o.a * o.a) }
    }
}
impl Neg for Dual {
    type Output = Dual;
    fn neg(self) -> Dual {
        Dual { a: -self.a, b: -self.b }
    }
}
impl Real for Dual {
    fn c(v: f64) -> Self {
        Dual { a: v, b: 0.0 }
    }
    fn ln(self) -> Self {
        Dual { a: self.a.ln(), b: self.b / self.a }
    }
}

/// `∇f*(z)` and `∇²f*(z)`. With `l = log(−z₂/z₀)`, `r = z₁ − z₀ − z₀l`,
/// `∇r = (−l, 1, −z₀/z₂)` and `∇²r` nonzero only in `r₀₀ = 1/z₀`,
/// `r₀₂ = −1/z₂`, `r₂₂ = z₀/z₂²`:
/// `∇f* = (−1/z₀, 0, −1/z₂) − ∇r/r`,
/// `∇²f* = diag(1/z₀², 0, 1/z₂²) + ∇r∇rᵀ/r² − ∇²r/r`.
fn dual_derivatives<T: Real>(z: [T; 3]) -> ([T; 3], [[T; 3]; 3]) {
    let one = T::c(1.0);
    let l = (-z[2] / z[0]).ln();
    let r = z[1] - z[0] - z[0] * l;
    let dr = [-l, one, -z[0] / z[2]];
    let g = [-one / z[0] - dr[0] / r, -dr[1] / r, -one / z[2] - dr[2] / r];
    let r2 = r * r;
    let mut h = [[T::c(0.0); 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            h[i][j] = dr[i] * dr[j] / r2;
        }
    }
    h[0][0] = h[0][0] + one / (z[0] * z[0]) - one / (z[0] * r);
    h[0][2] = h[0][2] + one / (z[2] * r);
    h[2][0] = h[0][2];
    h[2][2] = h[2][2] + one / (z[2] * z[2]) - z[0] / (z[2] * z[2] * r);
    (g, h)
}

fn mat_vec(m: &Mat3, x: &[f64]) -> [f64; 3] {
    [dot(&m[0], x), dot(&m[1], x), dot(&m[2], x)]
}

/// Solves `M u = b` for a symmetric positive definite 3×3 `M` by Cholesky;
/// `None` if `M` is not (numerically) positive definite.
fn spd_solve(m: &Mat3, b: &[f64]) -> Option<[f64; 3]> {
    let mut l = [[0.0; 3]; 3];
    for j in 0..3 {
        let d = m[j][j] - (0..j).map(|k| l[j][k] * l[j][k]).sum::<f64>();
        if d.is_nan() || d <= 0.0 {
            return None;
        }
        l[j][j] = d.sqrt();
        for i in j + 1..3 {
            l[i][j] = (m[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>()) / l[j][j];
        }
    }
    let mut y = [0.0; 3];
    for i in 0..3 {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut u = [0.0; 3];
    for i in (0..3).rev() {
        u[i] = (y[i] - (i + 1..3).map(|k| l[k][i] * u[k]).sum::<f64>()) / l[i][i];
    }
    Some(u)
}

fn cross(a: &[f64], b: &[f64]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

/// `Σ hₖ vₖvₖᵀ`, exactly symmetric (the upper triangle mirrored).
fn rank_sum(terms: &[(f64, [f64; 3])]) -> Mat3 {
    let mut m = [[0.0; 3]; 3];
    for (h, v) in terms {
        for i in 0..3 {
            for j in i..3 {
                m[i][j] += h * v[i] * v[j];
            }
        }
    }
    for i in 0..3 {
        for j in 0..i {
            m[i][j] = m[j][i];
        }
    }
    m
}

fn normalised(v: [f64; 3]) -> Option<[f64; 3]> {
    let n = norm2(&v);
    (n > 0.0 && n.is_finite()).then(|| v.map(|x| x / n))
}

impl ExpCone {
    /// The primal–dual scaling of Dahl & Andersen (§5 of the paper): with
    /// `s̃ = ∇f*(z)`, `z̃ = ∇f(s)` (the sign convention of the gradients, not the
    /// paper's), `μ = ⟨s,z⟩/3`, `μ̃ = ⟨s̃,z̃⟩/3`, `δs = s + μs̃`, `δz = z + μz̃`,
    ///
    /// ```text
    /// H = ssᵀ/⟨s,z⟩ + δsδsᵀ/⟨δs,δz⟩ + t aaᵀ,   a = (z × z̃)/‖z × z̃‖,
    /// t = μ‖∇²f*(z) − s̃s̃ᵀ/3 − ddᵀ/(z̃ᵀ∇²f*(z)z̃ − 3μ̃²)‖_F,   d = μ̃s̃ − ∇²f*(z)z̃;
    /// ```
    ///
    /// `⟨δs, z⟩ = ⟨s,z⟩ + μ⟨∇f*(z), z⟩ = 0` (f* is 3-logarithmically
    /// homogeneous) and `aᵀz = 0`, so `Hz = s`. `None` near the central path
    /// (`μμ̃ ≈ 1`, where it degenerates and `μ∇²f*(z)` is the right scaling)
    /// or when a denominator is not positive.
    ///
    /// `d` and the denominator are computed from `e = z̃ − kz`, the part of `z̃`
    /// orthogonal to z (`k = ⟨z̃,z⟩/⟨z,z⟩`), by the same homogeneity
    /// (`∇²f*(z)z = −s̃`, `⟨s̃, z⟩ = −3`): `d = (⟨s̃,e⟩/3)s̃ − ∇²f*(z)e` and
    /// `z̃ᵀ∇²f*(z)z̃ − 3μ̃² = eᵀ∇²f*(z)e − ⟨s̃,e⟩²/3`, equal in exact arithmetic.
    /// Near the end of a solve z̃ ≈ −z/μ and z is within 1e-7 of K*'s boundary,
    /// so `∇²f*(z)` has entries of 1e14 known to 1e-9 (its `1/r²`, `r` the
    /// cancelling `z₁ − z₀ − z₀ log(−z₂/z₀)`); the direct form's denominator
    /// cancels three digits of that and took `t` 4.4× off (5.7e5 against
    /// 2.48e6 in 60-digit arithmetic at a traced logistic iterate; this form:
    /// within 5e-9).
    fn primal_dual_scaling(&self, s: &[f64], z: &[f64]) -> Option<Mat3> {
        let zt = primal_gradient(s);
        let st = self.grad;
        let dot_sz = dot(s, z);
        let mu = dot_sz / 3.0;
        let mut_ = dot(&st, &zt) / 3.0;
        let ds: [f64; 3] = std::array::from_fn(|i| s[i] + mu * st[i]);
        let dz: [f64; 3] = std::array::from_fn(|i| z[i] + mu * zt[i]);
        let dot_d = dot(&ds, &dz);
        let k = dot(&zt, z) / dot(z, z);
        let e: [f64; 3] = std::array::from_fn(|i| zt[i] - k * z[i]);
        let he = mat_vec(&self.h_dual, &e);
        let se = dot(&st, &e);
        let de2 = dot(&e, &he) - se * se / 3.0;
        let usable =
            (mu * mut_ - 1.0).abs() > f64::EPSILON.sqrt() && de2.abs() > f64::EPSILON && dot_sz > 0.0 && dot_d > 0.0;
        if !usable {
            return None;
        }
        let d: [f64; 3] = std::array::from_fn(|i| se / 3.0 * st[i] - he[i]);
        let mut frob = 0.0;
        for i in 0..3 {
            for j in 0..3 {
                let v = self.h_dual[i][j] - st[i] * st[j] / 3.0 - d[i] * d[j] / de2;
                frob += v * v;
            }
        }
        let t = mu * frob.sqrt();
        let a = normalised(cross(z, &zt))?;
        let h = rank_sum(&[(1.0 / dot_sz, [s[0], s[1], s[2]]), (1.0 / dot_d, ds), (t, a)]);
        h.iter().flatten().all(|v| v.is_finite()).then_some(h)
    }

    /// `η = −½∇³f*(z)[Δz, u]`, `∇²f*(z)u = Δs`: the derivative of `∇²f*` along
    /// `Δz` (dual numbers) applied to `u`; zero if `∇²f*(z)` is not positive
    /// definite in floating point.
    fn third_order(&self, dz: &[f64], ds: &[f64]) -> [f64; 3] {
        let Some(u) = spd_solve(&self.h_dual, ds) else { return [0.0; 3] };
        let zd: [Dual; 3] = std::array::from_fn(|i| Dual { a: self.z[i], b: dz[i] });
        let (_, h) = dual_derivatives(zd);
        std::array::from_fn(|i| -0.5 * (0..3).map(|j| h[i][j].b * u[j]).sum::<f64>())
    }

    /// The complementarity linearised at the final `(s, z)`, from the cone's
    /// geometry (see [`Cone::linearise_complementarity`]): with `v = s − z`,
    /// `s = Π_K(v)` and `z = Π_{K*}(−v)`, so `Δs = DΠ Δv`, `Δz = (DΠ − I)Δv` and
    /// `H = DΠ(I − DΠ)⁻¹`.
    ///
    /// - `v ∈ int K` (an inactive cone, z ≈ 0): `DΠ = I`, H infinite; `−v ∈ int K*`
    ///   (s ≈ 0): `DΠ = 0`, `H = 0`. Both as `‖s‖/‖z‖ I` with the small one floored.
    /// - Otherwise s is on the boundary `ψ(s) = y e^{x/y} − w = 0` and
    ///   `z = −z₂∇ψ(s)`. `DΠ` has the eigenvalue 1 on s, 0 on `∇ψ(s)` (the
    ///   direction of z), and on the third direction `c` of the frame
    ///   `1/(1 + z₂ cᵀ∇²ψ(s)c)`, since `∇²ψ(s)s = 0` (ψ is homogeneous). So
    ///   `H = κh aaᵀ + (h/κ) bbᵀ + h ccᵀ`, `h = 1/(z₂ cᵀ∇²ψ(s)c)` with
    ///   `∇²ψ = (e^{x/y}/y)(1, −x/y, 0)(1, −x/y, 0)ᵀ`, the two infinite and zero
    ///   eigenvalues capped at κ of the finite one as the second-order cone's are.
    ///
    /// Not `μ∇²f*(z)` (the central path's linearisation): an iterate is central
    /// only to within the solver's neighbourhood, and the tangent eigenvalue
    /// would inherit its off-centrality. Falls back to it on the face `y = 0`,
    /// where ψ is not differentiable.
    fn linearised(s: &[f64], z: &[f64], kappa: f64) -> Option<Mat3> {
        let id = |h: f64| [[h, 0.0, 0.0], [0.0, h, 0.0], [0.0, 0.0, h]];
        let v = [s[0] - z[0], s[1] - z[1], s[2] - z[2]];
        let (ns, nz) = (norm2(s), norm2(z));
        if primal_interior(&v) {
            return Some(id(ns / nz.max(1e-14 * (1.0 + ns))));
        }
        if dual_interior(&v.map(|x| -x)) {
            return Some(id(ns.max(1e-14 * (1.0 + nz)) / nz));
        }
        let on_boundary = || {
            let (x, y) = (s[0], s[1]);
            if y.is_nan() || y <= 1e-12 * ns {
                return None;
            }
            let r = x / y;
            let e = r.exp();
            let grad_psi = [e, e * (1.0 - r), -1.0];
            let a = normalised([s[0], s[1], s[2]])?;
            let along = dot(&grad_psi, &a);
            let b = normalised(std::array::from_fn(|i| grad_psi[i] - along * a[i]))?;
            let c = cross(&a, &b);
            let curv = e / y * (c[0] - r * c[1]).powi(2);
            let h = 1.0 / (z[2] * curv);
            (h > 0.0 && h.is_finite()).then(|| rank_sum(&[(kappa * h, a), (h / kappa, b), (h, c)]))
        };
        on_boundary().or_else(|| {
            dual_interior(z).then(|| {
                let (_, h) = dual_derivatives([z[0], z[1], z[2]]);
                let mu = dot(s, z) / 3.0;
                h.map(|row| row.map(|x| mu * x))
            })
        })
    }

    fn backtrack(v: &[f64], dv: &[f64], alpha_max: f64, inside: fn(&[f64]) -> bool) -> f64 {
        let mut alpha = alpha_max;
        while alpha >= MIN_STEP {
            let p: [f64; 3] = std::array::from_fn(|i| v[i] + alpha * dv[i]);
            if inside(&p) {
                return alpha;
            }
            alpha *= BACKTRACK;
        }
        0.0
    }
}

impl Cone for ExpCone {
    fn dim(&self) -> usize {
        3
    }
    fn degree(&self) -> usize {
        3
    }
    fn is_symmetric(&self) -> bool {
        false
    }
    /// Never shifted: a program with a nonsymmetric cone starts from the unit
    /// point ([`Cone::unit_point`]), so this only says "inside".
    fn margins(&self, _v: &[f64]) -> (f64, f64) {
        (f64::INFINITY, 0.0)
    }
    fn shift_by_unit(&self, _v: &mut [f64], _alpha: f64, _dual: bool) {}
    fn unit_point(&self, v: &mut [f64], _dual: bool) {
        v.copy_from_slice(&CENTRE);
    }
    fn set_identity_scaling(&mut self) {
        self.hs = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    }
    fn set_dual_scaling(&mut self, on: bool) {
        self.dual_scaling = on;
    }
    fn update_scaling(&mut self, s: &[f64], z: &[f64]) -> bool {
        if !(primal_interior(s) && dual_interior(z)) {
            return false;
        }
        self.s.copy_from_slice(s);
        self.z.copy_from_slice(z);
        (self.grad, self.h_dual) = dual_derivatives([z[0], z[1], z[2]]);
        let pd = if self.dual_scaling { None } else { self.primal_dual_scaling(s, z) };
        self.hs = pd.unwrap_or_else(|| {
            let mu = dot(s, z) / 3.0;
            self.h_dual.map(|row| row.map(|x| mu * x))
        });
        self.hs.iter().flatten().all(|v| v.is_finite())
    }
    fn linearise_complementarity(&mut self, s: &[f64], z: &[f64], kappa: f64) -> bool {
        match ExpCone::linearised(s, z, kappa) {
            Some(h) => {
                self.hs = h;
                true
            }
            None => false,
        }
    }
    fn mul_hs(&self, y: &mut [f64], x: &[f64]) {
        y.copy_from_slice(&mat_vec(&self.hs, x));
    }
    /// `d_s = s`: the affine step drives `s + μ∇f*(z)` to `s`'s zero.
    fn affine_ds(&self, ds: &mut [f64]) {
        ds.copy_from_slice(&self.s);
    }
    /// `shift = σμ∇f*(z) + m η` (the centring term and the third-order
    /// correction from the affine step `(Δz, Δs)`, left as it is).
    fn corrector(&self, shift: &mut [f64], dz: &mut [f64], ds: &mut [f64], m: f64, sigma_mu: f64) {
        let eta = self.third_order(dz, ds);
        for i in 0..3 {
            shift[i] = sigma_mu * self.grad[i] + m * eta[i];
        }
    }
    /// `Δs = −d_s − HΔz`: the offset is `d_s` itself.
    fn ds_offset(&self, out: &mut [f64], ds: &[f64], _work: &mut [f64]) {
        out.copy_from_slice(ds);
    }
    /// Backtracking by 0.8 from `α_max` until `v + α dv ∈ int K`.
    fn step_length(&self, v: &[f64], dv: &[f64], alpha_max: f64) -> f64 {
        ExpCone::backtrack(v, dv, alpha_max, primal_interior)
    }
    fn step_length_dual(&self, v: &[f64], dv: &[f64], alpha_max: f64) -> f64 {
        ExpCone::backtrack(v, dv, alpha_max, dual_interior)
    }
    /// `f(s) + f*(z)`, infinite outside the domains.
    fn barrier(&self, s: &[f64], z: &[f64]) -> f64 {
        if primal_interior(s) && dual_interior(z) {
            primal_barrier(s) + dual_barrier(z)
        } else {
            f64::INFINITY
        }
    }
    fn hs_shape(&self) -> HsShape {
        HsShape::Dense
    }
    fn hs_diag(&self, out: &mut [f64]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.hs[i][i];
        }
    }
    fn hs_dense(&self, out: &mut [f64]) {
        for j in 0..3 {
            for i in 0..3 {
                out[j * 3 + i] = self.hs[i][j];
            }
        }
    }
    fn hs_low_rank(&self) -> Option<(&[f64], &[f64], f64)> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Interior points of K and K*, seeded.
    fn points() -> Vec<([f64; 3], [f64; 3])> {
        let mut out = Vec::new();
        for k in 0..6 {
            let t = k as f64;
            let (x, y) = (0.7 * t - 1.5, 0.3 + 0.25 * t);
            let s = [x, y, y * (x / y).exp() * (1.2 + 0.3 * t)];
            let (u, w) = (-0.4 - 0.2 * t, 0.5 + 0.1 * t);
            // v > u log(−w/u) + u, so r > 0.
            let z = [u, u * (-w / u).ln() - u + 0.2 + 0.1 * t, w];
            out.push((s, z));
        }
        out
    }

    #[test]
    fn interior_tests_and_centre() {
        for (s, z) in points() {
            assert!(primal_interior(&s) && dual_interior(&z), "{s:?} {z:?}");
        }
        // The centre is self-dual: s = −∇f*(s).
        let (g, _) = dual_derivatives(CENTRE);
        for i in 0..3 {
            assert!((CENTRE[i] + g[i]).abs() < 1e-14, "{i}: {} vs {}", CENTRE[i], -g[i]);
        }
    }

    /// Gradients and Hessian against central differences of the barriers (steps
    /// relative to each entry: a point near the boundary has entries of 1e-3),
    /// and the third derivative against differences of the Hessian.
    #[test]
    fn derivatives_by_central_differences() {
        let h = 1e-6;
        for (s, z) in points() {
            let (g, hess) = dual_derivatives(z);
            let gp = primal_gradient(&s);
            for i in 0..3 {
                let (hs, hz) = (h * s[i].abs().max(1e-2), h * z[i].abs().max(1e-2));
                let (mut zp, mut zm, mut sp, mut sm) = (z, z, s, s);
                zp[i] += hz;
                zm[i] -= hz;
                sp[i] += hs;
                sm[i] -= hs;
                let fd = (dual_barrier(&zp) - dual_barrier(&zm)) / (2.0 * hz);
                assert!((fd - g[i]).abs() < 1e-6 * (1.0 + g[i].abs()), "∇f*[{i}] {fd} vs {}", g[i]);
                let fd = (primal_barrier(&sp) - primal_barrier(&sm)) / (2.0 * hs);
                assert!((fd - gp[i]).abs() < 1e-6 * (1.0 + gp[i].abs()), "∇f[{i}] {fd} vs {}", gp[i]);
                let (gp_, _) = dual_derivatives(zp);
                let (gm_, _) = dual_derivatives(zm);
                for j in 0..3 {
                    let fd = (gp_[j] - gm_[j]) / (2.0 * hz);
                    assert!((fd - hess[i][j]).abs() < 1e-5 * (1.0 + hess[i][j].abs()));
                }
            }
            let (dz, u) = ([0.3, -0.2, 0.5], [0.1, 0.4, -0.3]);
            let zd: [Dual; 3] = std::array::from_fn(|i| Dual { a: z[i], b: dz[i] });
            let (_, hd) = dual_derivatives(zd);
            let zp: [f64; 3] = std::array::from_fn(|i| z[i] + h * dz[i]);
            let zm: [f64; 3] = std::array::from_fn(|i| z[i] - h * dz[i]);
            let ((_, hp), (_, hm)) = (dual_derivatives(zp), dual_derivatives(zm));
            for i in 0..3 {
                let fd: f64 = (0..3).map(|j| (hp[i][j] - hm[i][j]) / (2.0 * h) * u[j]).sum();
                let ad: f64 = (0..3).map(|j| hd[i][j].b * u[j]).sum();
                assert!((fd - ad).abs() < 1e-5 * (1.0 + ad.abs()), "∇³f*: {fd} vs {ad}");
            }
        }
    }

    /// The conjugate pair: at `s = −μ∇f*(z)`, `∇f(s) = −z/μ` and
    /// `f(s) + f*(z) = −3 log μ − 3` (the centrality measure is then 0).
    #[test]
    fn barriers_are_conjugate() {
        for (_, z) in points() {
            let (g, _) = dual_derivatives(z);
            let mu = 0.7;
            let s = g.map(|x| -mu * x);
            assert!(primal_interior(&s));
            let gp = primal_gradient(&s);
            for i in 0..3 {
                assert!((gp[i] + z[i] / mu).abs() < 1e-9 * (1.0 + z[i].abs() / mu));
            }
            let sum = primal_barrier(&s) + dual_barrier(&z);
            assert!((sum - (-3.0 * mu.ln() - 3.0)).abs() < 1e-9, "{sum}");
        }
    }

    /// The primal–dual scaling maps z to s and ∇f(s) to ∇f*(z), and is
    /// symmetric positive definite.
    #[test]
    fn primal_dual_scaling_maps_z_to_s() {
        for (s, z) in points() {
            let mut c = ExpCone::new();
            assert!(c.update_scaling(&s, &z));
            let h = c.primal_dual_scaling(&s, &z).expect("off the central path");
            let hz = mat_vec(&h, &z);
            let hg = mat_vec(&h, &primal_gradient(&s));
            for i in 0..3 {
                assert!((hz[i] - s[i]).abs() < 1e-9 * (1.0 + s[i].abs()), "Hz = s");
                assert!(
                    (hg[i] - c.grad[i]).abs() < 1e-7 * (1.0 + c.grad[i].abs()),
                    "H∇f(s) = ∇f*(z): {hg:?} {:?}",
                    c.grad
                );
                for j in 0..3 {
                    assert_eq!(h[i][j], h[j][i]);
                }
            }
            assert!(spd_solve(&h, &[1.0, 0.0, 0.0]).is_some());
        }
    }

    #[test]
    fn wright_omega_solves_its_equation() {
        for a in [1.0, 1.0 + 1e-9, 1.5, 2.0, 3.7, 10.0, 1e3, 1e8, 1e15] {
            let y = wright_omega(a);
            assert!((y + y.ln() - a).abs() <= 4.0 * f64::EPSILON * a, "a = {a}: y = {y}");
        }
    }

    #[test]
    fn backtracking_stays_inside() {
        let c = ExpCone::new();
        let a = c.step_length(&CENTRE, &[0.0, 0.0, -10.0], 1.0);
        assert!(a > 0.0 && a < 1.0 && primal_interior(&[CENTRE[0], CENTRE[1], CENTRE[2] - 10.0 * a]));
        assert_eq!(c.step_length(&CENTRE, &[0.0, 0.0, 1.0], 1.0), 1.0);
        let a = c.step_length_dual(&CENTRE, &[2.0, 0.0, 0.0], 1.0);
        assert!(a > 0.0 && a < 1.0 && dual_interior(&[CENTRE[0] + 2.0 * a, CENTRE[1], CENTRE[2]]));
    }
}
