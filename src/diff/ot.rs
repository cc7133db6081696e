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
//! own sums keep `A vec(Q) = 0` exact). Eliminating the larger diagonal block
//! leaves a Schur complement of size `k = min(m − 1, n)`, positive definite when
//! P > 0 (which the forward guarantees unless entries underflow). It is formed by
//! faer's triangular matrix product (the lower half only, mnk flops) and factored
//! by faer's Cholesky (k³/3); the rest is O(mn) (matrix–vector products and one
//! pass over the plan). Memory: `W` (which becomes dL/dM), the scaled block
//! `P̃ diag(κ)⁻¹` and the Schur complement.
// The paper's symbols: M, P, V, W and Q are matrices.
#![allow(non_snake_case)]

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Col, Mat, MatRef, Par};

use crate::runtime::{RunError, Status};
use crate::smooth::SinkhornSolution;

/// dL/dθ for the inputs `(M, r, c, γ)` of `entropic_ot`.
#[derive(Clone, Debug)]
pub struct OtGradients {
    pub M: Mat<f64>,
    /// Projected so that `Σ r = Σ c` (see the module docs).
    pub r: Vec<f64>,
    pub c: Vec<f64>,
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
        return Err(RunError(format!("entropic OT: no gradients, the forward status is {}", sol.status.name())));
    }
    if M.shape() != (m, n) || dP.shape() != (m, n) {
        return Err(RunError(format!(
            "entropic OT: the plan is {m}×{n}, but M is {}×{} and dL/dP is {}×{}",
            M.nrows(),
            M.ncols(),
            dP.nrows(),
            dP.ncols()
        )));
    }
    if !(gamma.is_finite() && gamma > 0.0) {
        return Err(RunError(format!("entropic OT: gamma must be positive and finite, found {gamma}")));
    }

    // W = P ∘ V; its row sums 2..m and column sums are A vec(W); ρ, κ likewise for P.
    let mut W = Mat::<f64>::zeros(m, n);
    let (mut w_rows, mut rho) = (vec![0.0; m], vec![0.0; m]);
    let (mut w_cols, mut kappa) = (vec![0.0; n], vec![0.0; n]);
    for j in 0..n {
        let (mut w_col, mut p_col) = (0.0, 0.0);
        let column = P.col_as_slice(j).iter().zip(dP.col(j).iter());
        for (((w, (&p, &v)), w_row), rho_i) in
            W.col_as_slice_mut(j).iter_mut().zip(column).zip(&mut w_rows).zip(&mut rho)
        {
            *w = p * v;
            *w_row += *w;
            *rho_i += p;
            w_col += *w;
            p_col += p;
        }
        (w_cols[j], kappa[j]) = (w_col, p_col);
    }
    let (mu_r, mu_c) = solve_bordered_diagonal(&rho[1..], P.as_ref().subrows(1, m - 1), &kappa, &w_rows[1..], &w_cols)?;

    // dL/dM = γ (P ∘ (μʳ 1ᵀ + 1 μᶜᵀ) − W), written over W, and ⟨dL/dM, M⟩.
    let mut dM = W;
    let mut dM_dot_M = 0.0;
    for j in 0..n {
        let column = P.col_as_slice(j).iter().zip(M.col(j).iter());
        for (i, (q, (&p, &mij))) in dM.col_as_slice_mut(j).iter_mut().zip(column).enumerate() {
            let mu_i = if i == 0 { 0.0 } else { mu_r[i - 1] };
            *q = gamma * (p * (mu_i + mu_c[j]) - *q);
            dM_dot_M += *q * mij;
        }
    }

    let mut dr: Vec<f64> = std::iter::once(0.0).chain(mu_r).collect();
    let mut dc = mu_c;
    let t = (dr.iter().sum::<f64>() - dc.iter().sum::<f64>()) / (m + n) as f64;
    dr.iter_mut().for_each(|x| *x -= t);
    dc.iter_mut().for_each(|x| *x += t);
    Ok(OtGradients { M: dM, r: dr, c: dc, gamma: dM_dot_M / gamma })
}

/// Solves `[diag(d₁) Q; Qᵀ diag(d₂)] [x₁; x₂] = [b₁; b₂]` by eliminating the
/// larger diagonal block: with `dim d₁ ≤ dim d₂`,
/// `S = diag(d₁) − Q diag(d₂)⁻¹ Qᵀ`, `x₁ = S⁻¹(b₁ − Q diag(d₂)⁻¹ b₂)`,
/// `x₂ = diag(d₂)⁻¹(b₂ − Qᵀx₁)`; otherwise the same with the blocks swapped.
fn solve_bordered_diagonal(
    d1: &[f64],
    Q: MatRef<'_, f64>,
    d2: &[f64],
    b1: &[f64],
    b2: &[f64],
) -> Result<(Vec<f64>, Vec<f64>), RunError> {
    if d1.len() > d2.len() {
        let (x2, x1) = solve_bordered_diagonal(d2, Q.transpose(), d1, b2, b1)?;
        return Ok((x1, x2));
    }
    if let Some(j) = d2.iter().position(|&d| d.is_nan() || d <= 0.0) {
        return Err(RunError(format!(
            "entropic OT: a row or column of the plan sums to {} (index {j}); the backward pass needs every marginal \
             of P positive",
            d2[j]
        )));
    }
    let (k, l) = Q.shape();
    let t = Col::from_fn(l, |j| b2[j] / d2[j]);
    let mut x1 = Col::from_fn(k, |i| b1[i]);
    matmul(x1.as_mat_mut(), Accum::Add, Q, t.as_mat(), -1.0, Par::Seq);
    if k > 0 {
        // B = Q diag(d₂)⁻¹, then the lower half of S = diag(d₁) − B Qᵀ, by faer
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
        llt::factor::cholesky_in_place(
            S.as_mut(),
            Default::default(),
            par,
            MemStack::new(&mut mem),
            Default::default(),
        )
        .map_err(|_| {
            RunError(
                "entropic OT: the Schur complement of A diag(P) Aᵀ is not positive definite (the plan's support is \
                 disconnected, typically entries of P underflowed at a large gamma)"
                    .into(),
            )
        })?;
        llt::solve::solve_in_place(S.as_ref(), x1.as_mat_mut(), Par::Seq, MemStack::new(&mut mem));
    }
    let mut x2 = Col::from_fn(l, |j| b2[j]);
    matmul(x2.as_mat_mut(), Accum::Add, Q.transpose(), x1.as_mat(), -1.0, Par::Seq);
    Ok((x1.iter().copied().collect(), x2.iter().zip(d2).map(|(x, d)| x / d).collect()))
}
