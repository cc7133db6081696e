//! The backward pass of a smooth node by the implicit function theorem on its
//! KKT conditions (Gould et al., *Deep Declarative Networks*, Prop. 4.4 for
//! equality constraints, Prop. 4.5 for inequalities treated as equalities when
//! active), as one adjoint solve.
//!
//! With `L = f + νᵀh + λᵀg` and `A` the active inequalities, a solution
//! `z = (y, ν, λ_A)` satisfies `F(z, θ) = 0` for
//!
//! ```text
//! F(z, θ) = [∇_y L(y, ν, λ; θ);  h(y; θ);  g_A(y; θ)],
//! K = ∂F/∂z = [H    Jhᵀ  J_Aᵀ]
//!             [Jh   0    0   ]        H = ∇²_yy L,
//!             [J_A  0    −D_A]
//! ```
//!
//! symmetric. The implicit function theorem gives `dz/dθ = −K⁻¹ F_θ`, so for
//! a loss with cotangents `v = (v_y, v_ν, v_λA)` on the solution
//!
//! ```text
//! dLoss/dθ = vᵀ dz/dθ = −(K⁻¹v)ᵀ F_θ = −∂_θ[ wᵀ∇_y L + aᵀh + bᵀg ],   K [w; a; b_A] = v,
//! ```
//!
//! the derivative taken at fixed `(y, ν, λ, w, a, b)`. That is the contract of
//! [`adjoint`]: it returns `(w, a, b)` from **one** solve with `K`, whatever
//! the number of parameters (the seed's `(−vᵀH⁻¹)B` evaluation order), and the
//! caller differentiates the scalar `wᵀ∇_y L + aᵀh + bᵀg` in θ. `H` itself is
//! never inverted: on an equality-constrained node it is typically singular
//! along the constraints' normals (an eigenvector node, `H = 2(λ_max I − A)`),
//! while `K` is not.
//!
//! **Active set.** With `τ_λ = tol · max(1, ‖λ‖∞)` and `τ_g = tol`:
//! `λⱼ > τ_λ` is strongly active; `λⱼ ≤ τ_λ` and `−gⱼ ≤ τ_g` is *weakly
//! active* (reported); otherwise inactive, with `bⱼ = 0` and its cotangent
//! ignored (an inactive multiplier stays zero). Active rows carry
//! `D_j = −min(gⱼ, 0)/λⱼ` (0 when `λⱼ = 0`; at most `1e8·max(1, maxᵢ|Hᵢᵢ|)`): the linearisation of
//! `λⱼgⱼ = μ` divided by `λⱼ`. It is negligible for a strongly active
//! constraint, and for a weakly active one it is the interior point method's
//! smoothing (as in the conic backward): the solution map has a kink there, and
//! this returns the derivative of the smoothed map, which lies between the two
//! one-sided derivatives, instead of either one.
//!
//! **Singular K.** Redundant constraints (a duplicated equality, `UᵀU = I`
//! written entrywise, the OT marginals) make `K` singular: `a` is then not
//! unique, but `aᵀ∂_θh` is, when the redundancy holds for every θ. A pivoted
//! `LBLᵀ` with a zero-pivot and residual check detects this, and the answer
//! falls back to the minimum-norm solution `K⁺v` (eigendecomposition), with
//! `degenerate` the number of (near-)zero eigenvalues dropped; the runtime
//! reports it in `info.warnings`. The result is never NaN.

use std::cell::RefCell;

use crate::linalg::lblt::Factored;
use crate::linalg::{all_finite, with_kept};
use crate::runtime::RunError;
use crate::smooth::SmoothProblem;
pub use crate::smooth::{activity, ACTIVITY_TOL};

/// `D_j ≤ D_MAX · max(1, maxᵢ |Hᵢᵢ|)`.
const D_MAX: f64 = 1e8;

thread_local! {
    /// `K` and its factors, kept per thread across backward passes (a batch's
    /// backward runs on several threads): at a size already seen the adjoint
    /// solve allocates nothing to factor `K`.
    static KKT: RefCell<Factored> = RefCell::new(Factored::default());
}

/// Cotangents on the solution: `dLoss/dy`, and optionally on the multipliers.
#[derive(Clone, Copy, Debug)]
pub struct Cotangents<'a> {
    /// `dLoss/dy`, one per variable entry.
    pub y: &'a [f64],
    /// `dLoss/dν`, one per equality entry, when the equalities' multipliers are outputs.
    pub nu: Option<&'a [f64]>,
    /// `dLoss/dλ`, one per inequality entry, when their multipliers are outputs.
    pub lambda: Option<&'a [f64]>,
}

/// `K⁻¹v`, split as `(w, a, b)`; see the module documentation for how the
/// caller turns it into `dLoss/dθ`.
#[derive(Clone, Debug, PartialEq)]
pub struct Adjoint {
    /// Pairs with `∇_y L`, length `n`.
    pub w: Vec<f64>,
    /// Pairs with `h`, length `n_eq`.
    pub a: Vec<f64>,
    /// Pairs with `g`, length `n_ineq`, zero on inactive constraints.
    pub b: Vec<f64>,
    /// Indices of weakly active inequalities (`gⱼ ≈ 0`, `λⱼ ≈ 0`), where the
    /// solution map is not differentiable and `(w, a, b)` is a smoothed answer.
    pub weakly_active: Vec<usize>,
    /// The dimension of `K`'s numerical null space when it was singular and
    /// `(w, a, b)` is the minimum-norm solution; 0 otherwise.
    pub degenerate: usize,
}

/// The adjoint solve `K [w; a; b_A] = [v_y; v_ν; v_λA]` at the solution
/// `(y, ν, λ)`. `Err` for lengths that do not match the problem, a solution
/// outside the domain, or a non-finite `K` or cotangent.
pub fn adjoint(
    problem: &dyn SmoothProblem,
    y: &[f64],
    nu: &[f64],
    lambda: &[f64],
    v: &Cotangents,
    activity_tol: f64,
) -> Result<Adjoint, RunError> {
    let (n, me, mi) = (problem.dim(), problem.n_eq(), problem.n_ineq());
    let lengths = [
        ("y", y.len(), n),
        ("nu", nu.len(), me),
        ("lambda", lambda.len(), mi),
        ("the cotangent of y", v.y.len(), n),
        ("the cotangent of nu", v.nu.map_or(me, <[f64]>::len), me),
        ("the cotangent of lambda", v.lambda.map_or(mi, <[f64]>::len), mi),
    ];
    for (what, got, want) in lengths {
        if got != want {
            return Err(RunError::Invalid(format!("{what} has length {got}, expected {want}")));
        }
    }
    let domain =
        |e: crate::smooth::DomainError| RunError::Derivative(format!("the solution is outside the domain: {e}"));
    let g = problem.ineq(y).map_err(domain)?;
    let hess = problem.lagrangian_hessian(y, nu, lambda).map_err(domain)?;
    let jh = problem.eq_jacobian(y).map_err(domain)?;
    let jg = problem.ineq_jacobian(y).map_err(domain)?;

    let (active, weakly_active) = activity(&g, lambda, activity_tol);

    let ma = active.len();
    let dim = n + me + ma;
    let mut rhs = v.y.to_vec();
    rhs.extend(v.nu.map_or(vec![0.0; me], <[f64]>::to_vec));
    rhs.extend(active.iter().map(|&j| v.lambda.map_or(0.0, |l| l[j])));
    let (x, degenerate) = with_kept(&KKT, |kkt| {
        let k = kkt.k_zeroed(dim);
        for c in 0..n {
            for r in 0..n {
                k[(r, c)] = 0.5 * (hess[(r, c)] + hess[(c, r)]);
            }
            for r in 0..me {
                k[(n + r, c)] = jh[(r, c)];
                k[(c, n + r)] = jh[(r, c)];
            }
            for (r, &j) in active.iter().enumerate() {
                k[(n + me + r, c)] = jg[(j, c)];
                k[(c, n + me + r)] = jg[(j, c)];
            }
        }
        // −D_j, bounded so a vanishing λⱼ cannot swamp K's scale (and with it the
        // zero-pivot test): at the bound b_j is ~1e-8 of J w, i.e. inactive.
        let d_max = D_MAX * (0..n).fold(1.0f64, |m, i| m.max(k[(i, i)].abs()));
        for (r, &j) in active.iter().enumerate() {
            let d = if lambda[j] > 0.0 { g[j].min(0.0) / lambda[j] } else { 0.0 };
            k[(n + me + r, n + me + r)] = d.max(-d_max);
        }
        if !all_finite(&rhs) || !(0..dim).all(|c| all_finite(&k.col_as_slice(c)[..dim])) {
            return Err(RunError::Derivative("the KKT matrix or the cotangents are not finite".into()));
        }
        kkt.refactor();
        Ok(kkt.solve_or_min_norm(&rhs))
    })?;
    let mut b = vec![0.0; mi];
    for (r, &j) in active.iter().enumerate() {
        b[j] = x[n + me + r];
    }
    Ok(Adjoint { w: x[..n].to_vec(), a: x[n..n + me].to_vec(), b, weakly_active, degenerate })
}
