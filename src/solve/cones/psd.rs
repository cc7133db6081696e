//! The cone of positive semidefinite `n × n` matrices `S₊ⁿ`, on the symmetric
//! vectorisation
//!
//! ```text
//! svec(X) = (X₁₁, √2 X₂₁, …, √2 Xₙ₁, X₂₂, √2 X₃₂, …, Xₙₙ)
//! ```
//!
//! (the lower triangle column by column, off-diagonal entries times √2), an
//! isometry: `svec(X)ᵀsvec(Y) = tr(XY)`. The block has `n(n + 1)/2` rows, the
//! Jordan product `X ∘ Y = (XY + YX)/2`, `e = I` and degree `n`.
//!
//! NT scaling (Vandenberghe, "The CVXOPT linear and quadratic cone program
//! solvers", §4.4; Todd, Toh & Tütüncü 1998): with Cholesky factors
//! `S = L_s L_sᵀ`, `Z = L_z L_zᵀ` and the SVD `L_zᵀL_s = UΛVᵀ`,
//!
//! ```text
//! R = L_s V Λ^(−½),   R⁻¹ = Λ^(−½) Uᵀ L_zᵀ,
//! W(X) = RᵀXR,   W⁻ᵀ(X) = R⁻¹XR⁻ᵀ,   λ = W(Z) = W⁻ᵀ(S) = Λ,
//! H(X) = WᵀW(X) = wXw,   w = RRᵀ,
//! ```
//!
//! `w` being the NT scaling point (`wZw = S`). The scaled point `λ` is
//! diagonal, so `λ \ D` (the `X` with `λ ∘ X = D`) is `Xᵢⱼ = 2Dᵢⱼ/(λᵢ + λⱼ)`,
//! and `W` is not symmetric on svec (`Wᵀ(X) = RXRᵀ`), which the trait's
//! `ds_offset` and `corrector` spell out. `H` is a dense block of the KKT
//! matrix, `H = w ⊛ w` (the symmetric Kronecker product on svec).
//!
//! Each update factors two matrices, takes one SVD and allocates: the cone is
//! for blocks of modest size, where the `O(n³)` work per iteration is small
//! beside the KKT factorisation's `O(n⁶)`.

use std::cell::RefCell;

use faer::linalg::matmul::matmul;
use faer::linalg::triangular_solve::solve_lower_triangular_in_place;
use faer::{Accum, Mat, MatRef, Par, Side};

use super::{Cone, HsShape};

const SQRT2: f64 = std::f64::consts::SQRT_2;

/// The cone of `n × n` PSD matrices on their svec, with the NT scaling
/// `W(X) = RᵀXR` (see the module docs).
#[derive(Clone, Debug)]
pub struct PsdCone {
    n: usize,
    /// `R` of `W(X) = RᵀXR`.
    r: Mat<f64>,
    /// `R⁻¹`.
    rinv: Mat<f64>,
    /// The scaling point `w = RRᵀ`.
    w: Mat<f64>,
    /// The diagonal of the scaled point `λ`.
    lambda: Vec<f64>,
    /// `s` at the scaling: `Wᵀλ`, which [`Cone::ds_offset`] adds exactly.
    s: Vec<f64>,
    /// Set by [`Cone::linearise_complementarity`]: `H` is then this, not `w ⊛ w`.
    linearised: Option<Linearised>,
    /// [`Cone::mul_hs`]'s matrices, kept: the refinement calls it on every
    /// pass, and at n = 10 its four `n × n` allocations cost about what its
    /// products do (boxed, so the cone enum's variants stay small).
    hs_work: Box<RefCell<HsWork>>,
}

/// The `n × n` scratch of [`Cone::mul_hs`]: `X`, and the two products of
/// each congruence.
#[derive(Clone, Debug)]
struct HsWork {
    x: Mat<f64>,
    t: Mat<f64>,
    u: Mat<f64>,
}

impl HsWork {
    fn new(n: usize) -> Self {
        HsWork { x: Mat::zeros(n, n), t: Mat::zeros(n, n), u: Mat::zeros(n, n) }
    }
}

/// Complementarity linearised at the final `(S, Z)`: with `V = S − Z = Q diag(v) Qᵀ`,
/// `S = Π(V)` and `Z = Π(−V)` (the Moreau decomposition), and the projection's
/// derivative `DΠ(X) = Q(Γ ⊙ QᵀXQ)Qᵀ`, `Γᵢⱼ = (sᵢ + sⱼ)/(|vᵢ| + |vⱼ|)`
/// (`sᵢ = max(vᵢ, 0)`, `zᵢ = max(−vᵢ, 0)`). From `ΔS = DΠ ΔV`,
/// `ΔZ = (DΠ − I)ΔV`, `ΔS = −HΔZ` with
///
/// ```text
/// H(X) = Q(G ⊙ QᵀXQ)Qᵀ,    Gᵢⱼ = Γᵢⱼ/(1 − Γᵢⱼ) = (sᵢ + sⱼ)/(zᵢ + zⱼ),
/// ```
///
/// which is also the Jordan linearisation `L(Z)ΔS + L(S)ΔZ = 0` in the common
/// eigenbasis. NT's `w ⊛ w` has these eigenvalues only on the central path.
/// The ratios are taken with `sᵢ`, `zᵢ` floored at `10⁻¹⁴(1 + max)` and
/// capped at `κ^{±1}` times `η² = tr S/tr Z`, as the second-order cone does
/// (`KAPPA_BACKWARD`: a dense block with ratio κ loses its small
/// eigenvalues to rounding by κε).
#[derive(Clone, Debug)]
struct Linearised {
    q: Mat<f64>,
    g: Mat<f64>,
}

/// Row of `(i, j)`, `i ≥ j`, in svec of an `n × n` matrix.
fn index(n: usize, i: usize, j: usize) -> usize {
    j * (2 * n + 1 - j) / 2 + (i - j)
}

/// `mat(v)`, the symmetric matrix of svec `v`.
fn mat(n: usize, v: &[f64]) -> Mat<f64> {
    let mut x = Mat::zeros(n, n);
    mat_into(v, &mut x);
    x
}

/// [`mat`] into `x` (`n × n`), every entry written.
fn mat_into(v: &[f64], x: &mut Mat<f64>) {
    let n = x.nrows();
    let mut k = 0;
    for j in 0..n {
        x[(j, j)] = v[k];
        k += 1;
        for i in j + 1..n {
            let e = v[k] / SQRT2;
            x[(i, j)] = e;
            x[(j, i)] = e;
            k += 1;
        }
    }
}

/// `out = svec((X + Xᵀ)/2)`.
fn svec(x: MatRef<'_, f64>, out: &mut [f64]) {
    let n = x.nrows();
    let mut k = 0;
    for j in 0..n {
        out[k] = x[(j, j)];
        k += 1;
        for i in j + 1..n {
            out[k] = (x[(i, j)] + x[(j, i)]) / SQRT2;
            k += 1;
        }
    }
}

/// `A X Aᵀ`.
fn congruence(a: MatRef<'_, f64>, x: MatRef<'_, f64>) -> Mat<f64> {
    a * x * a.transpose()
}

/// [`congruence`] into `out`, through `t = A X`: the same two products as
/// faer's operators (same kernels, same parallelism), so the same bits.
fn congruence_into(a: MatRef<'_, f64>, x: MatRef<'_, f64>, t: &mut Mat<f64>, out: &mut Mat<f64>) {
    let par = faer::get_global_parallelism();
    matmul(t.as_mut(), Accum::Replace, a, x, 1.0, par);
    matmul(out.as_mut(), Accum::Replace, t.as_ref(), a.transpose(), 1.0, par);
}

/// `svec(A ∘ B) = svec((AB + BA)/2)` into `out`.
fn jordan(a: MatRef<'_, f64>, b: MatRef<'_, f64>, out: &mut [f64]) {
    let ab = a * b;
    // svec symmetrises: svec((AB + (AB)ᵀ)/2) = svec((AB + BA)/2) for symmetric A, B.
    svec(ab.as_ref(), out);
}

/// The lower Cholesky factor of `X`, or `None` if `X` is not (numerically)
/// positive definite.
fn cholesky(x: &Mat<f64>) -> Option<Mat<f64>> {
    let l = x.llt(Side::Lower).ok()?.L().to_owned();
    (0..x.nrows()).all(|i| l[(i, i)] > 0.0 && l[(i, i)].is_finite()).then_some(l)
}

/// `1/√2` on svec's diagonal rows, 1 elsewhere: with it the svec basis is
/// `Bₚ = (fₚ/√2)(Eᵢⱼ + Eⱼᵢ)` for `p = (i, j)` (`Eᵢᵢ`, `(Eᵢⱼ + Eⱼᵢ)/√2`).
fn basis_scale(i: usize, j: usize) -> f64 {
    if i == j {
        std::f64::consts::FRAC_1_SQRT_2
    } else {
        1.0
    }
}

/// The svec matrix of the congruence `X ↦ AXAᵀ` (for symmetric `A`, the
/// symmetric Kronecker product `A ⊛ A`), column-major `d × d` into `out`:
/// with `⟨Eₐᵦ, A E_cd Aᵀ⟩ = A_ac A_bd` and [`basis_scale`]'s `Bₚ`, entry
/// `(p, q)`, `p = (i, j)`, `q = (k, l)`, is
///
/// ```text
/// fₚ f_q (A_ik A_jl + A_il A_jk).
/// ```
///
/// For a fixed column `q` and row block `j` that is
/// `A_{·k}(f_q A_jl) + A_{·l}(f_q A_jk)` down rows `i ≥ j`: two scaled
/// columns of `A`, `d²` multiply–adds in all (the dense block the KKT
/// system needs costs what writing it does).
fn congruence_matrix(a: &Mat<f64>, out: &mut [f64]) {
    let n = a.nrows();
    let d = n * (n + 1) / 2;
    let mut q = 0;
    for l in 0..n {
        let al = a.col_as_slice(l);
        for k in l..n {
            let (ak, fq) = (a.col_as_slice(k), basis_scale(k, l));
            let col = &mut out[q * d..(q + 1) * d];
            let mut p = 0;
            for j in 0..n {
                let (c1, c2) = (fq * al[j], fq * ak[j]);
                let rows = &mut col[p..p + n - j];
                for ((o, x), y) in rows.iter_mut().zip(&ak[j..]).zip(&al[j..]) {
                    *o = x * c1 + y * c2;
                }
                rows[0] *= std::f64::consts::FRAC_1_SQRT_2;
                p += n - j;
            }
            q += 1;
        }
    }
}

impl PsdCone {
    /// The cone of `n × n` positive semidefinite matrices (`n ≥ 1`).
    pub fn new(n: usize) -> Self {
        let mut c = PsdCone {
            n,
            r: Mat::identity(n, n),
            rinv: Mat::identity(n, n),
            w: Mat::identity(n, n),
            lambda: vec![1.0; n],
            s: vec![0.0; n * (n + 1) / 2],
            linearised: None,
            hs_work: Box::new(RefCell::new(HsWork::new(n))),
        };
        c.set_identity_scaling();
        c
    }

    /// `RᵀXR`.
    fn mul_w(&self, x: &[f64], out: &mut [f64]) {
        let y = congruence(self.r.transpose(), mat(self.n, x).as_ref());
        svec(y.as_ref(), out);
    }

    /// `R⁻¹XR⁻ᵀ`.
    fn mul_winv_t(&self, x: &[f64], out: &mut [f64]) {
        let y = congruence(self.rinv.as_ref(), mat(self.n, x).as_ref());
        svec(y.as_ref(), out);
    }

    /// `H` of [`Linearised`] at `(s, z)`, or `None` if an eigensolve fails or a
    /// ratio is not a number.
    fn linearised(n: usize, s: &[f64], z: &[f64], kappa: f64) -> Option<Linearised> {
        let (sm, zm) = (mat(n, s), mat(n, z));
        let v = &sm - &zm;
        let eig = v.self_adjoint_eigen(Side::Lower).ok()?;
        let q = eig.U().to_owned();
        // The eigenvalues of S and Z in the frame (their diagonals there).
        let sd = congruence(q.transpose(), sm.as_ref());
        let zd = congruence(q.transpose(), zm.as_ref());
        let (si, zi): (Vec<f64>, Vec<f64>) = (0..n).map(|i| (sd[(i, i)].max(0.0), zd[(i, i)].max(0.0))).unzip();
        let big = |x: &[f64]| x.iter().fold(0.0f64, |m, v| m.max(*v));
        let (fs, fz) = (1e-14 * (1.0 + big(&si)), 1e-14 * (1.0 + big(&zi)));
        let (si, zi): (Vec<f64>, Vec<f64>) = si.iter().zip(&zi).map(|(s, z)| (s.max(fs), z.max(fz))).unzip();
        let eta2 = si.iter().sum::<f64>() / zi.iter().sum::<f64>();
        if !(eta2 > 0.0 && eta2.is_finite()) {
            return None;
        }
        let g = Mat::from_fn(n, n, |i, j| eta2 * ((si[i] + si[j]) / (zi[i] + zi[j]) / eta2).clamp(1.0 / kappa, kappa));
        Some(Linearised { q, g })
    }
}

impl Cone for PsdCone {
    fn dim(&self) -> usize {
        self.n * (self.n + 1) / 2
    }
    fn degree(&self) -> usize {
        self.n
    }
    /// `(λ_min(V), Σ max(λᵢ(V), 0))`, as the orthant's on the eigenvalues.
    fn margins(&self, v: &[f64]) -> (f64, f64) {
        match mat(self.n, v).self_adjoint_eigenvalues(Side::Lower) {
            Ok(e) => (e.iter().copied().fold(f64::INFINITY, f64::min), e.iter().map(|x| x.max(0.0)).sum()),
            Err(_) => (f64::NEG_INFINITY, 0.0),
        }
    }
    fn shift_by_unit(&self, v: &mut [f64], alpha: f64, _dual: bool) {
        for j in 0..self.n {
            v[index(self.n, j, j)] += alpha;
        }
    }
    fn set_identity_scaling(&mut self) {
        self.linearised = None;
        self.r = Mat::identity(self.n, self.n);
        self.rinv = Mat::identity(self.n, self.n);
        self.w = Mat::identity(self.n, self.n);
        self.lambda.fill(1.0);
    }
    fn update_scaling(&mut self, s: &[f64], z: &[f64]) -> bool {
        self.linearised = None;
        let n = self.n;
        let (Some(ls), Some(lz)) = (cholesky(&mat(n, s)), cholesky(&mat(n, z))) else { return false };
        let Ok(svd) = (lz.transpose() * &ls).svd() else { return false };
        let lambda: Vec<f64> = (0..n).map(|i| svd.S()[i]).collect();
        if !lambda.iter().all(|l| *l > 0.0 && l.is_finite()) {
            return false;
        }
        let (u, v) = (svd.U(), svd.V());
        self.r = Mat::from_fn(n, n, |i, j| (0..n).map(|k| ls[(i, k)] * v[(k, j)]).sum::<f64>() / lambda[j].sqrt());
        self.rinv = Mat::from_fn(n, n, |i, j| (0..n).map(|k| u[(k, i)] * lz[(j, k)]).sum::<f64>() / lambda[i].sqrt());
        self.w = &self.r * self.r.transpose();
        self.lambda = lambda;
        self.s.copy_from_slice(s);
        true
    }
    /// The DΠ linearisation of `Linearised`; needs only an eigendecomposition
    /// of `S − Z`, so it holds on the boundary, where NT scaling does not exist.
    fn linearise_complementarity(&mut self, s: &[f64], z: &[f64], kappa: f64) -> bool {
        self.linearised = PsdCone::linearised(self.n, s, z, kappa);
        self.linearised.is_some()
    }
    /// `y = svec(w X w)` (or the linearised `Q(G ⊙ QᵀXQ)Qᵀ`).
    fn mul_hs(&self, y: &mut [f64], x: &[f64]) {
        let mut work = self.hs_work.borrow_mut();
        let HsWork { x: xm, t, u } = &mut *work;
        mat_into(x, xm);
        match &self.linearised {
            Some(l) => {
                congruence_into(l.q.transpose(), xm.as_ref(), t, u);
                for j in 0..self.n {
                    for i in 0..self.n {
                        xm[(i, j)] = l.g[(i, j)] * u[(i, j)];
                    }
                }
                congruence_into(l.q.as_ref(), xm.as_ref(), t, u);
            }
            None => {
                congruence_into(self.r.transpose(), xm.as_ref(), t, u);
                congruence_into(self.r.as_ref(), u.as_ref(), t, xm);
                std::mem::swap(u, xm);
            }
        }
        svec(u.as_ref(), y);
    }
    /// `svec(Λ²)`.
    fn affine_ds(&self, ds: &mut [f64]) {
        ds.fill(0.0);
        for (j, l) in self.lambda.iter().enumerate() {
            ds[index(self.n, j, j)] = l * l;
        }
    }
    fn corrector(&self, shift: &mut [f64], dz: &mut [f64], ds: &mut [f64], m: f64, sigma_mu: f64) {
        shift.copy_from_slice(dz);
        self.mul_w(shift, dz);
        shift.copy_from_slice(ds);
        self.mul_winv_t(shift, ds);
        jordan(mat(self.n, ds).as_ref(), mat(self.n, dz).as_ref(), shift);
        shift.iter_mut().for_each(|x| *x *= m);
        for j in 0..self.n {
            shift[index(self.n, j, j)] -= sigma_mu;
        }
    }
    /// `λ \ D` is `2Dᵢⱼ/(λᵢ + λⱼ)` (λ diagonal); then `out = R(λ \ D)Rᵀ`.
    /// `d_s = λ∘λ + shift` (the combined step's), and `Wᵀ(λ \ λ∘λ) = Wᵀλ = s`
    /// exactly, so `out = s + R(λ \ shift)Rᵀ`: recomputing `s` as `RΛRᵀ`
    /// costs it absolute rounding of ε in the directions where its
    /// eigenvalues are of order μ, which near a singular optimum turned
    /// `Δτ` into noise (a combined `Δτ` of −5.6e-2 where the affine one was
    /// −4e-7, the primal residual up from 1.5e-11 to 1.7e-8, the iterations
    /// stopped at a gap of 2.8e-11; `matrix_frac`'s least-norm point).
    fn ds_offset(&self, out: &mut [f64], ds: &[f64], _work: &mut [f64]) {
        let mut d = mat(self.n, ds);
        let l = &self.lambda;
        for i in 0..self.n {
            d[(i, i)] -= l[i] * l[i];
        }
        let x = Mat::from_fn(self.n, self.n, |i, j| 2.0 * d[(i, j)] / (l[i] + l[j]));
        svec(congruence(self.r.as_ref(), x.as_ref()).as_ref(), out);
        out.iter_mut().zip(&self.s).for_each(|(o, s)| *o += s);
    }
    /// With `V = LLᵀ`, `V + α dV ⪰ 0` iff `I + α L⁻¹ dV L⁻ᵀ ⪰ 0`: the step is
    /// `−1/λ_min(L⁻¹ dV L⁻ᵀ)` when that eigenvalue is negative. A `V` that is
    /// not positive definite (on the boundary) cannot move.
    fn step_length(&self, v: &[f64], dv: &[f64], alpha_max: f64) -> f64 {
        let Some(l) = cholesky(&mat(self.n, v)) else { return 0.0 };
        let mut m = mat(self.n, dv);
        solve_lower_triangular_in_place(l.as_ref(), m.as_mut(), Par::Seq);
        let mut mt = m.transpose().to_owned();
        solve_lower_triangular_in_place(l.as_ref(), mt.as_mut(), Par::Seq);
        let Ok(e) = mt.self_adjoint_eigenvalues(Side::Lower) else { return 0.0 };
        let low = e.iter().copied().fold(f64::INFINITY, f64::min);
        if low < 0.0 {
            alpha_max.min(-1.0 / low).max(0.0)
        } else {
            alpha_max
        }
    }
    /// `−log det S − log det Z` (`−n log μ` on the central path).
    fn barrier(&self, s: &[f64], z: &[f64]) -> f64 {
        let logdet =
            |v: &[f64]| cholesky(&mat(self.n, v)).map(|l| 2.0 * (0..self.n).map(|i| l[(i, i)].ln()).sum::<f64>());
        match (logdet(s), logdet(z)) {
            (Some(a), Some(b)) => -a - b,
            _ => f64::INFINITY,
        }
    }
    fn hs_shape(&self) -> HsShape {
        HsShape::Dense
    }
    /// `(w ⊛ w)ₚₚ = fₚ²(w_ii w_jj + w_ij²)` (`w_ii²` on the diagonal), or the
    /// linearised `Σₐᵦ Gₐᵦ (QᵀBₚQ)²ₐᵦ` with `(QᵀBₚQ)ₐᵦ = (fₚ/√2)(Q_ia Q_jb + Q_ja Q_ib)`
    /// (`basis_scale`).
    fn hs_diag(&self, out: &mut [f64]) {
        let n = self.n;
        let mut p = 0;
        for j in 0..n {
            for i in j..n {
                out[p] = match &self.linearised {
                    None => basis_scale(i, j).powi(2) * (self.w[(i, i)] * self.w[(j, j)] + self.w[(i, j)].powi(2)),
                    Some(l) => {
                        let f = basis_scale(i, j) * std::f64::consts::FRAC_1_SQRT_2;
                        let mut sum = 0.0;
                        for b in 0..n {
                            for a in 0..n {
                                let u = f * (l.q[(i, a)] * l.q[(j, b)] + l.q[(j, a)] * l.q[(i, b)]);
                                sum += l.g[(a, b)] * u * u;
                            }
                        }
                        sum
                    }
                };
                p += 1;
            }
        }
    }
    /// `w ⊛ w` (`congruence_matrix`), or the linearised `H` column by
    /// column: `H(B_q) = Q(G ⊙ QᵀB_qQ)Qᵀ`, where `QᵀB_qQ = (f_q/√2)(r_k r_lᵀ + r_l r_kᵀ)`
    /// (`r_k` the k-th row of Q) costs `n²`, and the two products `2n³`.
    fn hs_dense(&self, out: &mut [f64]) {
        let (n, d) = (self.n, self.dim());
        let Some(l) = &self.linearised else {
            congruence_matrix(&self.w, out);
            return;
        };
        let (mut inner, mut t, mut y) = (Mat::<f64>::zeros(n, n), Mat::<f64>::zeros(n, n), Mat::<f64>::zeros(n, n));
        let mut q = 0;
        for lc in 0..n {
            for k in lc..n {
                let f = basis_scale(k, lc) * std::f64::consts::FRAC_1_SQRT_2;
                for b in 0..n {
                    for a in 0..n {
                        inner[(a, b)] = l.g[(a, b)] * f * (l.q[(k, a)] * l.q[(lc, b)] + l.q[(lc, a)] * l.q[(k, b)]);
                    }
                }
                matmul(t.as_mut(), Accum::Replace, l.q.as_ref(), inner.as_ref(), 1.0, Par::Seq);
                matmul(y.as_mut(), Accum::Replace, t.as_ref(), l.q.transpose(), 1.0, Par::Seq);
                svec(y.as_ref(), &mut out[q * d..(q + 1) * d]);
                q += 1;
            }
        }
        // Exactly symmetric: the mean of the two triangles.
        for j in 0..d {
            for i in j + 1..d {
                let v = 0.5 * (out[j * d + i] + out[i * d + j]);
                out[j * d + i] = v;
                out[i * d + j] = v;
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
    use faer::linalg::solvers::Solve;

    /// A seeded stream of numbers in [−1, 1) (a 64-bit LCG's high bits).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        }
        /// `svec(GGᵀ + shift I)` for a random `n × n` G.
        fn psd(&mut self, n: usize, shift: f64) -> Vec<f64> {
            let g = Mat::from_fn(n, n, |_, _| self.next());
            let x = &g * g.transpose() + Mat::<f64>::identity(n, n) * shift;
            let mut v = vec![0.0; n * (n + 1) / 2];
            svec(x.as_ref(), &mut v);
            v
        }
        fn vec(&mut self, d: usize) -> Vec<f64> {
            (0..d).map(|_| self.next()).collect()
        }
    }

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol * scale)
    }

    #[test]
    fn svec_is_an_isometry_with_the_lower_triangle_by_columns() {
        let n = 4;
        let mut rng = Lcg(1);
        let (a, b) = (rng.vec(10), rng.vec(10));
        let (am, bm) = (mat(n, &a), mat(n, &b));
        let trace: f64 = (0..n).map(|i| (&am * &bm)[(i, i)]).sum();
        assert!((trace - super::super::dot(&a, &b)).abs() < 1e-13);
        assert_eq!(index(n, 2, 1), 5);
        assert_eq!(index(n, 3, 3), 9);
        assert_eq!(am[(2, 1)] * SQRT2, a[5]);
    }

    #[test]
    fn nt_scaling_identities_on_random_blocks() {
        let mut rng = Lcg(7);
        for n in [1, 2, 3, 5, 8] {
            let d = n * (n + 1) / 2;
            let (s, z) = (rng.psd(n, 0.1), rng.psd(n, 0.05));
            let mut c = PsdCone::new(n);
            assert!(c.update_scaling(&s, &z));
            // W z = W⁻ᵀ s = λ (diagonal).
            let (mut wz, mut ws) = (vec![0.0; d], vec![0.0; d]);
            c.mul_w(&z, &mut wz);
            c.mul_winv_t(&s, &mut ws);
            let mut lam = vec![0.0; d];
            for j in 0..n {
                lam[index(n, j, j)] = c.lambda[j];
            }
            assert!(close(&wz, &lam, 1e-11), "n = {n}: Wz = λ");
            assert!(close(&ws, &lam, 1e-11), "n = {n}: W⁻ᵀs = λ");
            // WᵀW z = s, and H in full agrees with mul_hs.
            let mut hz = vec![0.0; d];
            c.mul_hs(&mut hz, &z);
            assert!(close(&hz, &s, 1e-11), "n = {n}: Hz = s");
            let mut h = vec![0.0; d * d];
            c.hs_dense(&mut h);
            let x = rng.vec(d);
            let mut hx = vec![0.0; d];
            c.mul_hs(&mut hx, &x);
            let dense: Vec<f64> = (0..d).map(|i| (0..d).map(|j| h[j * d + i] * x[j]).sum()).collect();
            assert!(close(&dense, &hx, 1e-12), "n = {n}: dense H");
            // Wᵀ(λ \ λ∘λ) = Wᵀλ = s.
            let (mut ll, mut out, mut work) = (vec![0.0; d], vec![0.0; d], vec![0.0; d]);
            c.affine_ds(&mut ll);
            c.ds_offset(&mut out, &ll, &mut work);
            assert!(close(&out, &s, 1e-11), "n = {n}: affine offset");
            // λ ∘ (λ \ D) = D: with X = R⁻¹ out R⁻ᵀ = λ \ D.
            let dd = rng.vec(d);
            c.ds_offset(&mut out, &dd, &mut work);
            let mut x = vec![0.0; d];
            c.mul_winv_t(&out, &mut x);
            let mut back = vec![0.0; d];
            jordan(mat(n, &lam).as_ref(), mat(n, &x).as_ref(), &mut back);
            assert!(close(&back, &dd, 1e-10), "n = {n}: λ ∘ (λ \\ D) = D");
        }
    }

    /// `A ⊛ A` (and any congruence's matrix) against the map applied to the
    /// svec basis; `H`'s dense block and its diagonal against `mul_hs`, for
    /// NT scaling and for the linearised complementarity.
    #[test]
    fn dense_h_and_its_diagonal_against_the_operator() {
        let mut rng = Lcg(5);
        for n in [1, 2, 3, 6] {
            let d = n * (n + 1) / 2;
            let a = Mat::from_fn(n, n, |_, _| rng.next());
            let mut m = vec![0.0; d * d];
            congruence_matrix(&a, &mut m);
            for q in 0..d {
                let mut e = vec![0.0; d];
                e[q] = 1.0;
                let mut col = vec![0.0; d];
                svec(congruence(a.as_ref(), mat(n, &e).as_ref()).as_ref(), &mut col);
                assert!(close(&m[q * d..(q + 1) * d], &col, 1e-14), "n = {n}: column {q} of A ⊛ A");
            }
            let (s, z) = (rng.psd(n, 0.1), rng.psd(n, 0.05));
            let mut c = PsdCone::new(n);
            for linearised in [false, true] {
                if linearised {
                    assert!(c.linearise_complementarity(&s, &z, 1e6));
                } else {
                    assert!(c.update_scaling(&s, &z));
                }
                let (mut h, mut diag) = (vec![0.0; d * d], vec![0.0; d]);
                c.hs_dense(&mut h);
                c.hs_diag(&mut diag);
                for q in 0..d {
                    let mut e = vec![0.0; d];
                    e[q] = 1.0;
                    let mut col = vec![0.0; d];
                    c.mul_hs(&mut col, &e);
                    assert!(close(&h[q * d..(q + 1) * d], &col, 1e-13), "n = {n}, {linearised}: column {q} of H");
                    assert!(
                        (diag[q] - col[q]).abs() <= 1e-13 * (1.0 + col[q].abs()),
                        "n = {n}, {linearised}: H_{q}{q}"
                    );
                }
            }
        }
    }

    #[test]
    fn identity_scaling_is_the_unit_point() {
        let n = 3;
        let mut c = PsdCone::new(n);
        let mut e = vec![0.0; 6];
        c.unit_point(&mut e, false);
        assert!(c.update_scaling(&e, &e));
        let x = [0.3, -0.2, 0.5, 0.1, 0.7, -0.4];
        let mut y = [0.0; 6];
        c.mul_hs(&mut y, &x);
        assert!(close(&y, &x, 1e-14));
        assert_eq!(c.degree(), 3);
        let (low, pos) = c.margins(&e);
        assert!((low - 1.0).abs() < 1e-15 && (pos - 3.0).abs() < 1e-14);
    }

    #[test]
    fn step_to_boundary_against_eigenvalues() {
        let mut rng = Lcg(11);
        for n in [1, 2, 4, 6] {
            let c = PsdCone::new(n);
            let d = n * (n + 1) / 2;
            for _ in 0..5 {
                let (v, dv) = (rng.psd(n, 0.2), rng.vec(d));
                let alpha = c.step_length(&v, &dv, 1e6);
                let low = |a: f64| {
                    let x: Vec<f64> = v.iter().zip(&dv).map(|(p, q)| p + a * q).collect();
                    c.margins(&x).0
                };
                if alpha < 1e6 {
                    // On the boundary: λ_min(V + α dV) = 0, relative to V's size.
                    let scale = c.margins(&v).1;
                    assert!(low(alpha).abs() < 1e-10 * scale, "n = {n}: λ_min at α = {}", low(alpha));
                    assert!(low(alpha * 1.001) < 0.0);
                } else {
                    assert!(low(1e6) >= 0.0);
                }
                // From the identity the step is −1/λ_min(dV).
                let mut e = vec![0.0; d];
                c.unit_point(&mut e, false);
                let m = c.margins(&dv).0;
                let expected = if m < 0.0 { (-1.0 / m).min(1e6) } else { 1e6 };
                assert!((c.step_length(&e, &dv, 1e6) - expected).abs() < 1e-12 * expected);
            }
        }
        // A point on the boundary cannot move.
        assert_eq!(c0_step(), 0.0);
    }

    fn c0_step() -> f64 {
        PsdCone::new(2).step_length(&[1.0, 0.0, 0.0], &[1.0, 0.0, 1.0], 1.0)
    }

    /// At a complementary pair `S = QΣQᵀ`, `Z = QΖQᵀ` (`σᵢζᵢ = 0`) the
    /// linearised `H` gives the projection's derivative: `ΔS = −HΔZ` and
    /// `ΔV = ΔS − ΔZ` make `ΔS = H(H + I)⁻¹ΔV = DΠ(ΔV)`, DΠ by central
    /// differences of the projection (eigenvalues clipped). With the cap
    /// κ = 10⁶ on `H`'s spread, `H(H + I)⁻¹` is 1 to within ~1/κ on S's block.
    #[test]
    fn linearisation_matches_the_projection_derivative() {
        let n = 4;
        let d = 10;
        let mut rng = Lcg(3);
        let g = Mat::from_fn(n, n, |_, _| rng.next());
        let q = g.qr().compute_Q();
        let diag = [2.0, 0.7, -0.5, -1.3];
        let part = |sign: f64| {
            let m = Mat::from_fn(n, n, |i, j| if i == j { (sign * diag[i]).max(0.0) } else { 0.0 });
            let mut v = vec![0.0; d];
            svec(congruence(q.as_ref(), m.as_ref()).as_ref(), &mut v);
            v
        };
        let (s, z) = (part(1.0), part(-1.0));
        let mut c = PsdCone::new(n);
        assert!(c.linearise_complementarity(&s, &z, 1e6));
        let project = |v: &[f64]| {
            let eig = mat(n, v).self_adjoint_eigen(Side::Lower).unwrap();
            let u = eig.U().to_owned();
            let clipped = Mat::from_fn(n, n, |i, j| if i == j { eig.S()[i].max(0.0) } else { 0.0 });
            let mut out = vec![0.0; d];
            svec(congruence(u.as_ref(), clipped.as_ref()).as_ref(), &mut out);
            out
        };
        let v: Vec<f64> = s.iter().zip(&z).map(|(a, b)| a - b).collect();
        let dv = rng.vec(d);
        let h = 1e-6;
        let at = |t: f64| project(&v.iter().zip(&dv).map(|(a, b)| a + t * b).collect::<Vec<_>>());
        let ds: Vec<f64> = at(h).iter().zip(&at(-h)).map(|(a, b)| (a - b) / (2.0 * h)).collect();
        let mut h = vec![0.0; d * d];
        c.hs_dense(&mut h);
        let shifted = Mat::from_fn(d, d, |i, j| h[j * d + i] + if i == j { 1.0 } else { 0.0 });
        let x = shifted.partial_piv_lu().solve(Mat::from_fn(d, 1, |i, _| dv[i]));
        let mut dpi = vec![0.0; d];
        c.mul_hs(&mut dpi, &(0..d).map(|i| x[(i, 0)]).collect::<Vec<_>>());
        assert!(close(&dpi, &ds, 1e-5), "{dpi:?} vs {ds:?}");
    }
}
