//! The backward pass of entropic optimal transport (`stdlib/optimal_transport.ddn`)
//! in closed form: the seed's "Optimal Transport Gradient", an equality-constrained
//! declarative node whose Hessian is diagonal.
//!
//! With `p = vec(P)`, the objective `f = ⟨M, P⟩ + (1/γ) Σ P log P` has
//! `H = f_PP = diag(1/(γP))`, so `H⁻¹ = γ diag(P)`. The constraints `A p = b` are
//! the row sums 2..m and all n column sums (`b = (r₂..rₘ, c)`): the first row sum
//! is implied by the others since `1ᵀr = 1ᵀc`, and dropping it, as the seed does,
//! leaves A with full row rank m + n − 1. The seed's equality-constrained result
//!
//! ```text
//! dp/dθ = H⁻¹Aᵀ(AH⁻¹Aᵀ)⁻¹(AH⁻¹B − C) − H⁻¹B,   B = f_Pθ, C = ∂(Ap − b)/∂θ
//! ```
//!
//! contracted with `V = dL/dP` gives, with `W = P ∘ V`,
//!
//! ```text
//! μ      = (A D Aᵀ)⁻¹ A vec(W),           D = diag(P)   (γ cancels)
//! Q      = γ (P ∘ (μʳ 1ᵀ + 1 μᶜᵀ) − W),  μʳ₁ = 0        (Q = H⁻¹(Aᵀμ − v), A vec(Q) = 0)
//! dL/dM  = Q                                            (B = I, C = 0)
//! dL/dγ  = ⟨Q, M⟩ / γ
//! dL/dr  = μʳ,  dL/dc = μᶜ                              (B = 0, C = −∂b/∂θ)
//! ```
//!
//! `dL/dγ`: the solution depends on `(M, γ)` only through `γM` (γ times the
//! objective is `⟨γM, P⟩ + Σ P log P`), so `dL/dγ = ⟨dL/dM, M⟩/γ`. This also follows from
//! `B_γ = −(log P + 1)/γ²` and the zero row and column sums of Q, and unlike it
//! never forms `log P`, which is `−∞` where a large γ underflows P to 0.
//!
//! `dL/dr`, `dL/dc`: perturbations of the marginals must keep `1ᵀdr = 1ᵀdc`
//! (otherwise the problem is infeasible), so the gradient is defined up to adding
//! `(t1, −t1)`; dropping a different constraint changes the representative. The
//! one returned is its projection onto that tangent space (`Σ dL/dr = Σ dL/dc`),
//! which is the same whichever constraint is dropped and gives the same
//! directional derivatives as the seed's along every feasible direction.
//!
//! `A D Aᵀ = [diag(ρ₂..ρₘ)  P₂:ₘ; P₂:ₘᵀ  diag(κ)]` with ρ, κ the row and column sums
//! of P (the seed writes r and c, equal to within the forward's `tol`; the plan's
//! own sums keep `A vec(Q) = 0` exact). Nothing depends on which constraint is
//! dropped, nor on dropping one at all (Q is unchanged by adding `(t1, −t1)` to
//! μ, and the marginal gradient is projected), so the system solved is the
//! symmetric one with every row and column, `[diag(ρ) P; Pᵀ diag(κ)] μ = [W1;
//! Wᵀ1]`, singular along `(1, −1)` and consistent (both halves of the right side
//! sum to `Σ W`), for any solution (μʳ₁ = 0 is the seed's).
//!
//! **Solving it.** Eliminating the larger diagonal block leaves a Schur complement
//! S of size `k = min(m, n)`. A direct solve forms it (a matrix product, mnk
//! flops) and factors it (k³/3): O(n³), while the forward at γ = 10 costs a few
//! matrix–vector products. So S is solved matrix-free by conjugate gradients
//! preconditioned with its diagonal, two products with P per iteration: its
//! preconditioned spectrum is the one that sets Sinkhorn's own rate, so a forward
//! that converged in few iterations gives a system CG solves in fewer
//! ([`conjugate_gradient`]; 8 at 256×256, γ = 10). A solution is accepted when
//! the gradient's marginals vanish, `‖(dL/dM / γ) 1‖₁ ≤ 10⁻¹⁴ Σ|W|` checked on
//! the returned μ (the other marginal is exact by construction). Otherwise (a
//! slowly converging plan, after the iterations that cost as many flops as the
//! direct solve) S without one row and column is formed by faer's triangular
//! product (the lower half only) and factored by faer's Cholesky, positive
//! definite when P > 0 (which the forward guarantees unless entries underflow).
//! Memory: `W` (which becomes dL/dM) and vectors; the direct solve adds the
//! scaled block and S.
// The paper's symbols: M, P, V, W and Q are matrices.
#![allow(non_snake_case)]

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Col, ColMut, ColRef, Mat, MatRef, Par};

use crate::linalg::{dot, vectorised};
use crate::runtime::{RunError, Status};
use crate::smooth::{round_trip, SinkhornSolution};

/// The accepted violation of the gradient's marginals, `‖(dL/dM / γ) 1‖₁ ≤
/// RESIDUAL_TOL · Σ|P ∘ V|` (the residual of the bordered system; see
/// [`solve_bordered_diagonal`]): about 45 roundings of the terms it sums. At
/// 256×256, γ = 10 the direct solve leaves 1.6·10⁻¹⁶ and conjugate gradients
/// 5·10⁻¹⁶ (relative); a tolerance at that floor would send systems CG has solved
/// to the direct solve for the rounding of the check itself.
const RESIDUAL_TOL: f64 = 1e-14;

/// dL/dθ for the inputs `(M, r, c, γ)` of `entropic_ot`.
#[derive(Clone, Debug)]
pub struct OtGradients {
    /// dL/dM, `n × m`.
    pub M: Mat<f64>,
    /// Projected so that `Σ r = Σ c` (see the module docs).
    pub r: Vec<f64>,
    /// dL/dc.
    pub c: Vec<f64>,
    /// dL/dγ.
    pub gamma: f64,
}

/// The VJP of the entropic OT node at a Sinkhorn solution `sol` of cost `M` and
/// weight `γ`, for the cotangent `dP = dL/dP` (m×n). The forward must have
/// converged (`Status::Optimal`): the formula assumes the marginal constraints
/// and the stationarity conditions hold.
pub fn entropic_ot_vjp(
    M: MatRef<'_, f64>,
    gamma: f64,
    sol: &SinkhornSolution,
    dP: MatRef<'_, f64>,
) -> Result<OtGradients, RunError> {
    let P = &sol.P;
    let (m, n) = P.shape();
    if sol.status != Status::Optimal {
        return Err(RunError::Derivative(format!(
            "entropic OT: no gradients, the forward status is {}",
            sol.status.name()
        )));
    }
    if M.shape() != (m, n) || dP.shape() != (m, n) {
        return Err(RunError::Derivative(format!(
            "entropic OT: the plan is {m}×{n}, but M is {}×{} and dL/dP is {}×{}",
            M.nrows(),
            M.ncols(),
            dP.nrows(),
            dP.ncols()
        )));
    }
    if !(gamma.is_finite() && gamma > 0.0) {
        return Err(RunError::Derivative(format!("entropic OT: gamma must be positive and finite, found {gamma}")));
    }

    // W = P ∘ V; its row and column sums are A vec(W); ρ, κ likewise for P.
    let mut W = Mat::<f64>::zeros(m, n);
    let (mut w_rows, mut rho) = (vec![0.0; m], vec![0.0; m]);
    let (mut w_cols, mut kappa) = (vec![0.0; n], vec![0.0; n]);
    // Σ|W| by rows (so the loop has no running sum), and a column of ones: the
    // column sums are dot products with it.
    let (mut w_abs, ones) = (vec![0.0; m], vec![1.0; m]);
    let mut v_scratch = vec![0.0; m];
    vectorised(
        #[inline(always)]
        || {
            for j in 0..n {
                let v = match dP.col(j).try_as_col_major() {
                    Some(v) => v.as_slice(),
                    None => {
                        v_scratch.iter_mut().zip(dP.col(j).iter()).for_each(|(s, &v)| *s = v);
                        &v_scratch
                    }
                };
                let (p, w) = (P.col_as_slice(j), W.col_as_slice_mut(j));
                let rows = w_rows.iter_mut().zip(&mut rho).zip(&mut w_abs);
                for ((w, (&p, &v)), ((w_row, rho_i), w_abs_i)) in w.iter_mut().zip(p.iter().zip(v)).zip(rows) {
                    *w = p * v;
                    *w_row += *w;
                    *rho_i += p;
                    *w_abs_i += w.abs();
                }
                (w_cols[j], kappa[j]) = (dot(w, &ones), dot(p, &ones));
            }
        },
    );
    let w_norm: f64 = w_abs.iter().sum();
    let tol = RESIDUAL_TOL * w_norm;
    let (mu_r, mu_c) = solve_bordered_diagonal(&rho, P, &kappa, &w_rows, &w_cols, tol)?;

    // dL/dM = γ (P ∘ (μʳ 1ᵀ + 1 μᶜᵀ) − W), written over W, and ⟨dL/dM, M⟩.
    let mut dM = W;
    let mut dM_dot_M = 0.0;
    vectorised(
        #[inline(always)]
        || {
            for (j, &mu_j) in mu_c.iter().enumerate() {
                let q = dM.col_as_slice_mut(j);
                for ((q, &p), &mu_i) in q.iter_mut().zip(P.col_as_slice(j)).zip(&mu_r) {
                    *q = gamma * (p * (mu_i + mu_j) - *q);
                }
                dM_dot_M += match M.col(j).try_as_col_major() {
                    Some(col) => dot(q, col.as_slice()),
                    None => q.iter().zip(M.col(j).iter()).map(|(q, m)| q * m).sum(),
                };
            }
        },
    );

    let (mut dr, mut dc) = (mu_r, mu_c);
    let t = (dr.iter().sum::<f64>() - dc.iter().sum::<f64>()) / (m + n) as f64;
    dr.iter_mut().for_each(|x| *x -= t);
    dc.iter_mut().for_each(|x| *x += t);
    Ok(OtGradients { M: dM, r: dr, c: dc, gamma: dM_dot_M / gamma })
}

/// Solves the bordered system `[diag(ρ) P; Pᵀ diag(κ)] [x₁; x₂] = [b₁; b₂]`
/// with `ρ = P1`, `κ = Pᵀ1` (so it is singular along `(1, −1)`) and a
/// consistent right-hand side (`1ᵀb₁ = 1ᵀb₂`), returning one solution.
/// Eliminating `x₂`:
///
/// ```text
/// S x₁ = t,   S = diag(ρ) − P diag(κ)⁻¹ Pᵀ,   t = b₁ − P diag(κ)⁻¹ b₂,
/// x₂ = diag(κ)⁻¹ (b₂ − Pᵀ x₁)
/// ```
///
/// by [`conjugate_gradient`]; the solution is accepted when the first block's
/// residual `b₁ − ρ∘x₁ − P x₂` (the second's is zero by construction) has ℓ₁
/// norm at most `tol`. Otherwise the larger diagonal block is eliminated and the
/// Schur complement formed and factored ([`schur_cholesky`]).
fn solve_bordered_diagonal(
    rho: &[f64],
    P: &Mat<f64>,
    kappa: &[f64],
    b1: &[f64],
    b2: &[f64],
    tol: f64,
) -> Result<(Vec<f64>, Vec<f64>), RunError> {
    if let Some(i) = rho.iter().chain(kappa).position(|&d| d.is_nan() || d <= 0.0) {
        return Err(RunError::Derivative(format!(
            "entropic OT: a row or column of the plan sums to {} (index {i}); the backward pass needs every marginal \
             of P positive",
            rho.iter().chain(kappa).nth(i).copied().unwrap_or(f64::NAN)
        )));
    }
    let (m, n) = P.shape();
    let t = reduced_rhs(P.as_ref(), kappa, b1, b2);
    if let Some(x1) = conjugate_gradient(rho, P, kappa, &t, tol, cg_iterations(m.min(n))) {
        let x2 = back_substitute(P.as_ref(), kappa, b2, &x1);
        let mut residual = Col::from_fn(m, |i| b1[i] - rho[i] * x1[i]);
        matmul(residual.as_mat_mut(), Accum::Add, P.as_ref(), ColRef::from_slice(&x2).as_mat(), -1.0, Par::Seq);
        if residual.iter().map(|x| x.abs()).sum::<f64>() <= tol {
            return Ok((x1, x2));
        }
    }
    if m <= n {
        let x1 = schur_cholesky(rho, P.as_ref(), kappa, &t)?;
        let x2 = back_substitute(P.as_ref(), kappa, b2, &x1);
        Ok((x1, x2))
    } else {
        let t = reduced_rhs(P.transpose(), rho, b2, b1);
        let x2 = schur_cholesky(kappa, P.transpose(), rho, &t)?;
        let x1 = back_substitute(P.transpose(), rho, b1, &x2);
        Ok((x1, x2))
    }
}

/// `t = b₁ − Q diag(d₂)⁻¹ b₂`: the right side once `x₂` is eliminated.
fn reduced_rhs(Q: MatRef<'_, f64>, d2: &[f64], b1: &[f64], b2: &[f64]) -> Vec<f64> {
    let mut t = b1.to_vec();
    let y = Col::from_fn(Q.ncols(), |j| b2[j] / d2[j]);
    matmul(ColMut::from_slice_mut(&mut t).as_mat_mut(), Accum::Add, Q, y.as_mat(), -1.0, Par::Seq);
    t
}

/// `x₂ = diag(d₂)⁻¹ (b₂ − Qᵀ x₁)`.
fn back_substitute(Q: MatRef<'_, f64>, d2: &[f64], b2: &[f64], x1: &[f64]) -> Vec<f64> {
    let mut x2 = b2.to_vec();
    let x1 = ColRef::from_slice(x1);
    matmul(ColMut::from_slice_mut(&mut x2).as_mat_mut(), Accum::Add, Q.transpose(), x1.as_mat(), -1.0, Par::Seq);
    x2.iter_mut().zip(d2).for_each(|(x, d)| *x /= d);
    x2
}

/// The most iterations [`conjugate_gradient`] gets before the direct solve takes
/// over, for an m×n plan and `k = min(m, n)`: one costs 4mn flops (a product and
/// an add for each of the dot product and the update, per entry of P), the direct
/// solve at least k·mn (the lower half of its k×k Schur complement alone), so
/// k/4 iterations cost no more flops than it; at least 16, which a
/// well-conditioned system needs and which is cheap at any size where k/4 is
/// smaller.
fn cg_iterations(k: usize) -> usize {
    (k / 4).max(16)
}

/// `S x = t` for the singular `S = diag(d₁) − Q diag(d₂)⁻¹ Qᵀ` of
/// [`solve_bordered_diagonal`] (`S1 = 0`, `1ᵀt = 0`) by conjugate gradients
/// preconditioned with `diag(d₁)`, matrix-free: each iteration is one sweep
/// over Q ([`round_trip`]). `None` when the recurred residual's ℓ₁ norm is
/// not within `tol` after `max_iter` iterations (or the iteration broke down).
///
/// Why it converges fast where Sinkhorn did: preconditioned, S is `I − BBᵀ` with
/// `B = diag(d₁)^{−½} Q diag(d₂)^{−½}`, whose singular values are 1 (the null
/// direction) and σ₂ ≥ σ₃ ≥ …; σ₂² is the factor by which one Sinkhorn iteration
/// reduces the marginal error near the solution. So the eigenvalues CG sees lie
/// in `[1 − σ₂², 1]`, its condition number is `1/(1 − σ₂²)`, and it needs about
/// the square root of the iterations Sinkhorn needed. (At 256×256, γ = 10 in the
/// benchmark Sinkhorn takes 7 iterations to 10⁻⁹, so σ₂² ≈ 0.05 and CG's bound
/// `((√κ − 1)/(√κ + 1))ⁱ` gains 1.9 digits per iteration; it gains 1.8 and
/// stops after 8.)
///
/// The residual is kept orthogonal to the null vector 1 (it is in S's range in
/// exact arithmetic; rounding would otherwise leave a component CG cannot
/// remove), so the iterates stay a solution up to a multiple of 1, which the
/// caller's answer does not depend on.
fn conjugate_gradient(d1: &[f64], Q: &Mat<f64>, d2: &[f64], t: &[f64], tol: f64, max_iter: usize) -> Option<Vec<f64>> {
    let (k, l) = Q.shape();
    let center = |r: &mut [f64]| {
        let mean = r.iter().sum::<f64>() / k as f64;
        r.iter_mut().for_each(|x| *x -= mean);
    };
    let norm = |r: &[f64]| r.iter().map(|x| x.abs()).sum::<f64>();
    let mut x = vec![0.0; k];
    let mut r = t.to_vec();
    center(&mut r);
    if norm(&r) <= tol {
        return Some(x);
    }
    let mut z: Vec<f64> = r.iter().zip(d1).map(|(r, d)| r / d).collect();
    let mut p = z.clone();
    let mut rz: f64 = r.iter().zip(&z).map(|(a, b)| a * b).sum();
    // S p = d₁∘p − Q (diag(d₂)⁻¹ Qᵀ p), one sweep over Q.
    let (mut u, mut Sp) = (vec![0.0; l], vec![0.0; k]);
    for _ in 0..max_iter {
        round_trip(Q, &p, &mut u, &mut Sp, |j, d| d / d2[j]);
        Sp.iter_mut().zip(p.iter()).zip(d1).for_each(|((s, p), d)| *s = d * p - *s);
        let pSp: f64 = p.iter().zip(Sp.iter()).map(|(a, b)| a * b).sum();
        if !(pSp > 0.0 && pSp.is_finite()) {
            return None;
        }
        let alpha = rz / pSp;
        x.iter_mut().zip(p.iter()).for_each(|(x, p)| *x += alpha * p);
        r.iter_mut().zip(Sp.iter()).for_each(|(r, s)| *r -= alpha * s);
        center(&mut r);
        if norm(&r) <= tol {
            return Some(x);
        }
        z.iter_mut().zip(r.iter()).zip(d1).for_each(|((z, r), d)| *z = r / d);
        let rz_next: f64 = r.iter().zip(z.iter()).map(|(a, b)| a * b).sum();
        let beta = rz_next / rz;
        rz = rz_next;
        p.iter_mut().zip(z.iter()).for_each(|(p, z)| *p = z + beta * *p);
    }
    None
}

/// `S x = t` for the S of [`conjugate_gradient`] directly: the solution with
/// `x₀ = 0`, from the nonsingular system without the first unknown and the first
/// equation (implied by the others, since `1ᵀt = 0`). Its Schur complement
/// `S' = diag(d₁') − Q' diag(d₂)⁻¹ Q'ᵀ` (Q' = Q without its first row) is formed
/// by faer's triangular product (the lower half only, (k−1)²l flops) and factored
/// by faer's Cholesky ((k−1)³/3); positive definite when the plan's support is
/// connected.
fn schur_cholesky(d1: &[f64], Q: MatRef<'_, f64>, d2: &[f64], t: &[f64]) -> Result<Vec<f64>, RunError> {
    let (k, l) = Q.shape();
    let mut x = vec![0.0; k];
    if k <= 1 {
        return Ok(x);
    }
    let (d1, Q, k) = (&d1[1..], Q.subrows(1, k - 1), k - 1);
    // B = Q' diag(d₂)⁻¹, then the lower half of S' = diag(d₁') − B Q'ᵀ, by faer
    // with its global parallelism (the O(k³) part; the rest is O(kl)).
    let par = faer::get_global_parallelism();
    let mut B = Mat::<f64>::zeros(k, l);
    for j in 0..l {
        B.col_mut(j).copy_from(Q.col(j));
        let scale = 1.0 / d2[j];
        B.col_as_slice_mut(j).iter_mut().for_each(|x| *x *= scale);
    }
    let mut S = Mat::<f64>::zeros(k, k);
    for i in 0..k {
        S[(i, i)] = d1[i];
    }
    triangular::matmul(
        S.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Add,
        B.as_ref(),
        BlockStructure::Rectangular,
        Q.transpose(),
        BlockStructure::Rectangular,
        -1.0,
        par,
    );
    let mut mem = MemBuffer::new(llt::factor::cholesky_in_place_scratch::<f64>(k, par, Default::default()));
    llt::factor::cholesky_in_place(S.as_mut(), Default::default(), par, MemStack::new(&mut mem), Default::default())
        .map_err(|_| {
            RunError::Derivative(
                "entropic OT: the Schur complement of A diag(P) Aᵀ is not positive definite (the plan's support is \
                 disconnected, typically entries of P underflowed at a large gamma)"
                    .into(),
            )
        })?;
    x[1..].copy_from_slice(&t[1..]);
    let rest = ColMut::from_slice_mut(&mut x[1..]);
    llt::solve::solve_in_place(S.as_ref(), rest.as_mat_mut(), Par::Seq, MemStack::new(&mut mem));
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smooth::{sinkhorn, SinkhornSettings};

    /// A plan, its marginals r and c, and the right-hand sides of its bordered system.
    type System = (Mat<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>);

    /// A converged plan for costs in [0, 1) (deterministic, irregular) at weight γ,
    /// and a cotangent-weighted copy's row and column sums: a consistent system.
    fn system(m: usize, n: usize, gamma: f64) -> System {
        let M = Mat::from_fn(m, n, |i, j| (((i * 31 + j * 17) % 101) as f64 / 101.0 + (i as f64).sin()).abs() % 1.0);
        let (r, c) = (vec![1.0 / m as f64; m], vec![1.0 / n as f64; n]);
        let settings = SinkhornSettings { tol: 1e-13, max_iter: 100_000, ..SinkhornSettings::default() };
        let P = sinkhorn(M.as_ref(), &r, &c, gamma, &settings).expect("input").P;
        let W = Mat::from_fn(m, n, |i, j| P[(i, j)] * ((3 * i + 5 * j) as f64).cos());
        let rows = |X: &Mat<f64>| (0..m).map(|i| (0..n).map(|j| X[(i, j)]).sum()).collect::<Vec<f64>>();
        let cols = |X: &Mat<f64>| (0..n).map(|j| (0..m).map(|i| X[(i, j)]).sum()).collect::<Vec<f64>>();
        let (rho, kappa, b1, b2) = (rows(&P), cols(&P), rows(&W), cols(&W));
        (P, rho, kappa, b1, b2)
    }

    /// `‖b₁ − d₁∘x₁ − Q x₂‖₁ + ‖b₂ − Qᵀx₁ − d₂∘x₂‖₁`, computed entry by entry.
    fn residual(Q: &Mat<f64>, d1: &[f64], d2: &[f64], b1: &[f64], b2: &[f64], x1: &[f64], x2: &[f64]) -> f64 {
        let (k, l) = Q.shape();
        let first: f64 =
            (0..k).map(|i| (b1[i] - d1[i] * x1[i] - (0..l).map(|j| Q[(i, j)] * x2[j]).sum::<f64>()).abs()).sum();
        let second: f64 =
            (0..l).map(|j| (b2[j] - d2[j] * x2[j] - (0..k).map(|i| Q[(i, j)] * x1[i]).sum::<f64>()).abs()).sum();
        first + second
    }

    #[test]
    fn conjugate_gradients_and_the_direct_solve_find_the_same_solution() {
        for (m, n, gamma) in [(9, 9, 10.0), (12, 5, 3.0), (4, 11, 30.0), (64, 48, 10.0)] {
            let (P, rho, kappa, b1, b2) = system(m, n, gamma);
            let scale: f64 = b1.iter().map(|x| x.abs()).sum::<f64>() + b2.iter().map(|x| x.abs()).sum::<f64>();
            let tol = RESIDUAL_TOL * scale;
            let (x1, x2) = solve_bordered_diagonal(&rho, &P, &kappa, &b1, &b2, tol).expect("solve");
            // tol = 0 cannot be met by the iteration: the direct solve answers.
            let (y1, y2) = solve_bordered_diagonal(&rho, &P, &kappa, &b1, &b2, 0.0).expect("solve");
            for (x1, x2) in [(&x1, &x2), (&y1, &y2)] {
                let res = residual(&P, &rho, &kappa, &b1, &b2, x1, x2);
                assert!(res <= 4.0 * tol, "{m}×{n}, γ = {gamma}: residual {res:e}");
            }
            // Solutions differ along (1, −1) only: x₁ᵢ + x₂ⱼ is the same.
            let size = x1.iter().chain(&x2).fold(0.0f64, |a, x| a.max(x.abs()));
            for i in 0..m {
                for j in 0..n {
                    let d = (x1[i] + x2[j]) - (y1[i] + y2[j]);
                    assert!(d.abs() <= 1e-12 * size, "{m}×{n}, γ = {gamma}: ({i}, {j}) differs by {d:e}");
                }
            }
        }
    }

    /// The iteration, not the fallback, solves the systems of converged plans
    /// (few iterations: see [`conjugate_gradient`]), and refuses when it cannot.
    #[test]
    fn conjugate_gradients_converge_in_few_iterations_on_a_converged_plan() {
        let (P, rho, kappa, b1, b2) = system(64, 64, 10.0);
        let tol = RESIDUAL_TOL * (b1.iter().chain(&b2).map(|x| x.abs()).sum::<f64>());
        let mut t = b1.clone();
        for i in 0..64 {
            t[i] -= (0..64).map(|j| P[(i, j)] * b2[j] / kappa[j]).sum::<f64>();
        }
        assert!(conjugate_gradient(&rho, &P, &kappa, &t, tol, cg_iterations(64)).is_some());
        assert!(conjugate_gradient(&rho, &P, &kappa, &t, tol, 2).is_none());
        assert!(conjugate_gradient(&rho, &P, &kappa, &t, 0.0, cg_iterations(64)).is_none());
    }
}
