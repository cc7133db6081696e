//! The KKT system of one interior point iteration.
//!
//! Each step solves, for the scaled data and `H = WᵀW` (0 on zero-cone rows),
//!
//! ```text
//! [ P   Aᵀ ] [Δx]   [ −r_x'                ]
//! [ A   −H ] [Δz] = [ −r_z' + Wᵀ(λ \ d_s)  ]   +  Δτ [ −q ; b ],
//! ```
//!
//! then `Δs = −Wᵀ(λ \ d_s) − HΔz`, `Δκ = −(d_κ + κΔτ)/τ`, and `Δτ` from the
//! linearised `r_τ` row. With `K[x₂; z₂] = [−q; b]` solved once per
//! iteration and `K[x₁; z₁]` per right-hand side, `Δ(x, z) = (x₁, z₁) + Δτ(x₂, z₂)`
//! and, with `ξ = x/τ`,
//!
//! ```text
//! Δτ = ( r_τ' − d_κ/τ + qᵀx₁ + bᵀz₁ + 2ξᵀPx₁ )
//!    / ( κ/τ − qᵀx₂ − bᵀz₂ + (ξ − x₂)ᵀP(ξ − x₂) − x₂ᵀPx₂ ),
//! ```
//!
//! the denominator being `κ/τ + (ξ − x₂)ᵀP(ξ − x₂) + z₂ᵀHz₂ > 0`.
//!
//! With a nonsymmetric cone, near an optimum (`κ/τ ≤ √ε`; toward an
//! infeasibility certificate τ must move), the two forms of the denominator
//! are compared: there the exponential cone's `H` has eigenvalues from μ to
//! 1/μ, its entries carry rounding of ε/μ, and both forms, equal in exact
//! arithmetic, become noise (measured: the first −1.7e-8 where the second
//! is 1.2e-7, on a log-sum-exp re-solve at μ ≈ 2e-9). Where they differ by more
//! than [`TAU_DEN_AGREEMENT`] the `τ` row is not resolved and `Δτ = 0` is
//! taken: the Newton step of the KKT conditions at the current `τ`, which
//! still reduces the residuals and complementarity, instead of a `Δτ` of
//! 0.1–0.3 (against `τ ≈ 1`) that throws the iterate off the central path.
//!
//! The matrix `K` is quasi-definite. It is factored with a static
//! regularisation, `[P + δI, Aᵀ; A, −(H + δI)]` ([`dense`]: faer dense LDLᵀ;
//! [`condensed`]: the orthant rows eliminated, dense LDLᵀ of
//! `[P + δI + A_gᵀDA_g, A_kᵀ; A_k, −(H_k + δI)]`; [`sparse`]: faer sparse
//! LDLᵀ with AMD, symbolic once, numeric per iteration; all unpivoted, with
//! dynamic regularisation of wrong-signed pivots), and every solve is iteratively refined against the
//! unregularised `K`, applied as an operator (P, A, and the cones' `H`).

mod condensed;
mod dense;
mod sparse;

use super::data::ProblemData;
use super::settings::{KktMethod, Settings};
use super::variables::Variables;
use crate::linalg::norm_inf;
use crate::solve::cones::{dot, AnyCone, Cone, Cones};
use crate::solve::program::ConeBlock;
use condensed::CondensedLdl;
use dense::DenseLdl;
use sparse::SparseLdl;

/// Refactorisations with a larger `δ` after a failed factorisation or an
/// inaccurate solve, and the factor `δ` grows by each time.
const MAX_REG_RETRIES: usize = 2;
const REG_RETRY_FACTOR: f64 = 100.0;

/// The relative disagreement of the two forms of `Δτ`'s denominator (see the
/// module documentation) beyond which `Δτ = 0` is taken, with a nonsymmetric
/// cone. Measured on the 105 solves of `exp_cone.rs`'s log-sum-exp and
/// logistic re-solves at tolerance 1e-12: 0.5 leaves one stalled, 0.1 none
/// (0.01 two: the step then keeps `τ` where it should move).
const TAU_DEN_AGREEMENT: f64 = 0.1;

/// The `tol_feas` the refinement's tolerances (`refine_abstol`,
/// `refine_reltol`, Clarabel's defaults) are set for: on an LP or QP solved to
/// a tighter one they scale down with it ([`KktSystem::refine_target`]).
const REFINE_REFERENCE_TOL: f64 = 1e-8;

/// A factorisation of the regularised KKT matrix, possibly with extra rows
/// (the sparse path's low-rank second-order cones).
#[derive(Debug)]
enum Factor {
    Dense(Box<DenseLdl>),
    Condensed(Box<CondensedLdl>),
    Sparse(Box<SparseLdl>),
}

impl Factor {
    fn dim(&self) -> usize {
        match self {
            Factor::Dense(f) => f.dim(),
            Factor::Condensed(f) => f.dim(),
            Factor::Sparse(f) => f.dim(),
        }
    }

    fn load(&mut self, data: &ProblemData) {
        match self {
            Factor::Dense(f) => f.load(data),
            Factor::Condensed(f) => f.load(data),
            Factor::Sparse(f) => f.load(data),
        }
    }

    /// `e_x −= P v_x + Aᵀv_z`, `e_z −= A v_x`: with P and A as the data's
    /// CSC, or the condensed path's dense copies (a dense QP's products).
    fn sub_pa(&mut self, data: &ProblemData, vx: &[f64], vz: &[f64], ex: &mut [f64], ez: &mut [f64]) {
        if let Factor::Condensed(f) = self {
            return f.sub_pa(vx, vz, ex, ez);
        }
        data.p.sym_mul_add(ex, vx, -1.0);
        data.a.t_mul_add(ex, vz, -1.0);
        data.a.mul_add(ez, vx, -1.0);
    }

    fn refactor(&mut self, cones: &Cones, delta: f64, settings: &Settings) -> bool {
        match self {
            Factor::Dense(f) => f.refactor(cones, delta),
            Factor::Condensed(f) => f.refactor(cones, delta),
            Factor::Sparse(f) => f.refactor(cones, delta, settings),
        }
    }

    fn solve_in_place(&mut self, b: &mut [f64]) {
        match self {
            Factor::Dense(f) => f.solve_in_place(b),
            Factor::Condensed(f) => f.solve_in_place(b),
            Factor::Sparse(f) => f.solve_in_place(b),
        }
    }

    /// Whether the last factorisation left rows out of the condensed
    /// product (see the condensed module's reduced products).
    fn is_reduced(&self) -> bool {
        matches!(self, Factor::Condensed(f) if f.is_reduced())
    }

    /// Allows or forbids the condensed path's reduced products in later
    /// factorisations (the other paths factor `K̃` whole either way).
    fn set_reduce(&mut self, reduce: bool) {
        if let Factor::Condensed(f) = self {
            f.set_reduce(reduce);
        }
    }

    /// The largest |entry| of the matrix last factored.
    fn max_abs(&self) -> f64 {
        match self {
            Factor::Dense(f) => f.max_abs(),
            Factor::Condensed(f) => f.max_abs(),
            Factor::Sparse(f) => f.max_abs(),
        }
    }
}

/// The KKT solver with its workspaces, sized once.
#[derive(Debug)]
pub(crate) struct KktSystem {
    n: usize,
    m: usize,
    factor: Factor,
    /// The static regularisation of the current factorisation, and the one
    /// chosen before any retry.
    delta: f64,
    base_delta: f64,
    /// Right-hand side, solution, candidate and error, of the factor's length.
    rhs: Vec<f64>,
    sol: Vec<f64>,
    cand: Vec<f64>,
    err: Vec<f64>,
    /// `H z` scratch (m).
    hz: Vec<f64>,
    /// `K⁻¹[−q; b]`.
    x2: Vec<f64>,
    z2: Vec<f64>,
    /// `Δs` offset `Wᵀ(λ \ d_s)` and its scratch (m).
    offset: Vec<f64>,
    work_m: Vec<f64>,
    /// `P x₁` scratch (n) and `(ξ − x₂)` scratch.
    work_n: Vec<f64>,
    work_n2: Vec<f64>,
    /// Denominator of Δτ for the current factorisation and iterate, and
    /// whether it is resolved (see [`TAU_DEN_AGREEMENT`]).
    tau_den: f64,
    tau_resolved: bool,
    /// Backward error `‖rhs − K sol‖∞ / (‖rhs‖∞ + max|Kᵢⱼ| ‖sol‖∞)` of the
    /// last refined solve.
    backward_error: f64,
    /// The best solution over regularisation retries.
    best: Vec<f64>,
    /// A retry with larger `δ` did not help since the last factorisation.
    at_floor: bool,
    /// Zero and orthant cones only (an LP or QP): the refinement's target
    /// follows the tolerance ([`KktSystem::refine_target`]).
    lp_or_qp: bool,
}

/// Which path a problem takes: dense when small, or when the KKT matrix
/// `[P Aᵀ; A −H]` is dense anyway and not too large; and then condensed
/// instead when eliminating the orthant rows costs fewer flops per
/// factorisation, `m_g n² + (n + m_k)³/3` against `(n + m)³/3`.
pub(crate) fn choose_method(data: &ProblemData, cones: &[ConeBlock], settings: &Settings) -> KktMethod {
    let dim = data.n + data.m;
    // Entries of the full symmetric K: both triangles of P and A, plus diagonals.
    let nnz = 2 * data.p.nnz() + 2 * data.a.nnz() + dim;
    let fill = nnz as f64 / (dim.max(1) as f64).powi(2);
    let dense =
        dim <= settings.dense_max_dim || (dim <= settings.dense_fill_max_dim && fill >= settings.dense_min_fill);
    match settings.kkt_method {
        KktMethod::Auto if !dense => KktMethod::Sparse,
        KktMethod::Auto => {
            // The rows the condensed path eliminates: the orthant's, a
            // one-dimensional second-order cone among them (`Cones::new` makes
            // it an orthant).
            let mg: usize = cones
                .iter()
                .map(|c| match *c {
                    ConeBlock::Nonneg(d) | ConeBlock::SecondOrder(d @ 1) => d,
                    _ => 0,
                })
                .sum();
            let (n, mk) = (data.n as f64, (data.m - mg) as f64);
            let condensed = mg as f64 * n * n + (n + mk).powi(3) / 3.0;
            if mg > 0 && condensed < (dim as f64).powi(3) / 3.0 {
                KktMethod::Condensed
            } else {
                KktMethod::Dense
            }
        }
        k => k,
    }
}

impl KktSystem {
    /// Assembles the KKT pattern and, on the sparse path, the symbolic
    /// factorisation. `None` if faer cannot (out of memory, index overflow).
    pub fn new(data: &ProblemData, cones: &Cones, method: KktMethod, settings: &Settings) -> Option<Self> {
        let (n, m) = (data.n, data.m);
        let factor = match method {
            KktMethod::Dense => Factor::Dense(Box::new(DenseLdl::new(data, cones, settings))),
            KktMethod::Condensed => Factor::Condensed(Box::new(CondensedLdl::new(data, cones, settings))),
            _ => Factor::Sparse(Box::new(SparseLdl::new(data, cones)?)),
        };
        let dim = factor.dim();
        Some(KktSystem {
            n,
            m,
            factor,
            delta: 0.0,
            base_delta: 0.0,
            rhs: vec![0.0; dim],
            sol: vec![0.0; dim],
            cand: vec![0.0; dim],
            err: vec![0.0; dim],
            hz: vec![0.0; m],
            x2: vec![0.0; n],
            z2: vec![0.0; m],
            offset: vec![0.0; m],
            work_m: vec![0.0; m],
            work_n: vec![0.0; n],
            work_n2: vec![0.0; n],
            tau_den: 1.0,
            tau_resolved: true,
            backward_error: 0.0,
            best: vec![0.0; dim],
            at_floor: false,
            lp_or_qp: cones.iter().all(|(c, _)| matches!(c, AnyCone::Zero(_) | AnyCone::Nonneg(_))),
        })
    }

    /// Takes new values of P and A (in the pattern it was built for).
    pub fn load(&mut self, data: &ProblemData) {
        self.factor.load(data);
    }

    pub fn method(&self) -> KktMethod {
        match self.factor {
            Factor::Dense(_) => KktMethod::Dense,
            Factor::Condensed(_) => KktMethod::Condensed,
            Factor::Sparse(_) => KktMethod::Sparse,
        }
    }

    /// Factors `K` for the cones' current scaling with `δ = static_reg +
    /// static_reg_proportional · max |diag K|`.
    pub fn factor(&mut self, data: &ProblemData, cones: &Cones, settings: &Settings) -> bool {
        let mut max_diag = data.max_p_diag;
        for (c, r) in cones.iter() {
            let w = &mut self.work_m[r];
            c.hs_diag(w);
            max_diag = w.iter().fold(max_diag, |a, v| a.max(v.abs()));
        }
        self.delta = settings.static_reg + settings.static_reg_proportional * max_diag;
        self.base_delta = self.delta;
        self.at_floor = false;
        self.factor.set_reduce(true);
        if self.factor.refactor(cones, self.delta, settings) {
            return true;
        }
        (0..MAX_REG_RETRIES).any(|_| self.raise_reg(cones, settings))
    }

    /// Solves `K [x; z] = rhs[..n+m]` (extra rows 0) into `self.sol`, with
    /// iterative refinement against the unregularised `K`. False if no finite
    /// solution results.
    ///
    /// A residual `‖rhs − K sol‖∞` above `√ε (1 + ‖rhs‖∞)` means either a
    /// broken factorisation (growth, or a pivot of the wrong sign replaced by
    /// dynamic regularisation) or the rounding floor of `K sol` itself (near
    /// the optimum `H` has entries of 1e10 and more). `K` is then refactored
    /// with `δ` raised a hundredfold, up to twice per factorisation, keeping
    /// the best solution and the factorisation that gave it; a retry that gains
    /// nothing marks the floor, and no more are tried until the next
    /// factorisation.
    ///
    /// With a nonsymmetric cone the bar is at least the rounding floor of
    /// `K sol`, `ε max|Kᵢⱼ| ‖sol‖∞`: the exponential cone's `H` spans μ to 1/μ
    /// by construction, no factorisation can be refined past that floor, and
    /// every retry there (1 850 traced at n = 50 and 500, session 10) cost
    /// two factorisations for nothing (Clarabel never refactors on an
    /// inaccurate solve). Session 10 tried this and lost three PSD `log_det`
    /// tests (their reductions bring exponential cones); with the end game
    /// of [`TAU_DEN_AGREEMENT`] and the centrality switch they pass.
    /// Symmetric programs keep the old bar bit for bit (there the retries
    /// matter: QRECIPE and SHARE1B need them).
    fn solve_refined(&mut self, data: &ProblemData, cones: &Cones, settings: &Settings) -> bool {
        let nm = self.n + self.m;
        self.rhs[nm..].fill(0.0);
        let norm_b = norm_inf(&self.rhs[..nm]);
        let (mut best, mut best_delta) = (f64::INFINITY, self.delta);
        for retry in 0..=MAX_REG_RETRIES {
            let mut norm_e = self.refine(data, cones, settings, norm_b);
            let target = self.refine_target(settings, norm_b);
            if self.factor.is_reduced() && (norm_e.is_nan() || norm_e > target) {
                // The condensed product left rows out and the refinement
                // missed its tolerance: every row from here on, until the
                // next point's factorisation.
                self.factor.set_reduce(false);
                if !self.factor.refactor(cones, self.delta, settings) {
                    return false;
                }
                norm_e = self.refine(data, cones, settings, norm_b);
            }
            if retry > 0 && norm_e >= best {
                self.at_floor = true;
            }
            if norm_e < best {
                (best, best_delta) = (norm_e, self.delta);
                self.best.copy_from_slice(&self.sol);
            }
            // With a nonsymmetric cone, a residual at the rounding floor of the
            // product `K sol` itself is accepted (see above).
            let floor = if cones.is_symmetric() {
                0.0
            } else {
                f64::EPSILON * self.factor.max_abs() * norm_inf(&self.best[..nm])
            };
            let bar = floor.max(f64::EPSILON.sqrt() * (1.0 + norm_b));
            let done = best <= bar || self.at_floor || retry == MAX_REG_RETRIES;
            if done || !self.raise_reg(cones, settings) {
                break;
            }
        }
        if self.delta != best_delta {
            // Later solves use the factorisation that did best.
            self.delta = best_delta;
            if !self.factor.refactor(cones, self.delta, settings) {
                return false;
            }
        }
        std::mem::swap(&mut self.sol, &mut self.best);
        let scale = norm_b + self.factor.max_abs() * norm_inf(&self.sol[..nm]);
        self.backward_error = if scale > 0.0 { best / scale } else { best };
        best.is_finite()
    }

    /// The residual `‖rhs − K sol‖∞` at which the refinement stops:
    /// `refine_abstol + refine_reltol ‖b‖∞`, on an LP or QP times
    /// `min(1, tol_feas / 1e-8)`.
    ///
    /// The defaults suit the default tolerance 1e-8. Each step's error stays
    /// in the iterates' residuals, and it is small only relative to the whole
    /// right-hand side, whose norm is the complementarity block's; a solve
    /// asked for a tighter tolerance then stalls at that floor with steps of
    /// 0.99. Traced on Netlib's ETAMACRO at 1e-12: the relative dual residual
    /// stayed at 8e-12 (absolute 1.9e-8, on columns whose terms sum to 4,
    /// far above their rounding) for 70 iterations while μ wandered between
    /// 4e-14 and 1e-9, and the solve stopped `optimal_inaccurate`; with the
    /// target scaled it is `optimal` (judged dual residual 6.8e-10), and
    /// FFFFF800's dual residual fell from 1.5e-6 to 5.0e-12. Below the
    /// target the passes still stop where one fails to gain
    /// `refine_stop_ratio` (the rounding floor), so a tighter target costs at
    /// most a pass there. Second-order and other cones keep the defaults:
    /// on CBLIB's two stalled `sched_50_50` solves at 1e-9 the tighter target
    /// changed which regularisation retries ran, and they stopped on a short
    /// step earlier and further off (objective 1.3e-7 → 4.1e-5 relative),
    /// with no verdict moved elsewhere in that set.
    fn refine_target(&self, settings: &Settings, norm_b: f64) -> f64 {
        let target = settings.refine_abstol + settings.refine_reltol * norm_b;
        if self.lp_or_qp {
            target * (settings.tol_feas / REFINE_REFERENCE_TOL).min(1.0)
        } else {
            target
        }
    }

    /// One solve plus refinement passes; returns the final `‖rhs − K sol‖∞`
    /// (infinite if the solution is not finite).
    fn refine(&mut self, data: &ProblemData, cones: &Cones, settings: &Settings, norm_b: f64) -> f64 {
        self.sol.copy_from_slice(&self.rhs);
        self.factor.solve_in_place(&mut self.sol);
        let mut norm_e = self.residual_of(data, cones, false);
        let target = self.refine_target(settings, norm_b);
        for _ in 0..settings.refine_max_iter {
            if !norm_e.is_finite() || norm_e <= target {
                break;
            }
            // cand = sol + K̃⁻¹ e
            self.cand.copy_from_slice(&self.err);
            self.factor.solve_in_place(&mut self.cand);
            for (c, s) in self.cand.iter_mut().zip(&self.sol) {
                *c += s;
            }
            let new_e = self.residual_of(data, cones, true);
            let ratio = norm_e / new_e;
            if ratio > 1.0 {
                std::mem::swap(&mut self.sol, &mut self.cand);
                norm_e = new_e;
            }
            if ratio.is_nan() || ratio < settings.refine_stop_ratio {
                break;
            }
        }
        norm_e
    }

    /// Refactors with `δ` a hundred times larger (see [`Self::solve_refined`]),
    /// unless `δ` has reached its cap for this factorisation.
    fn raise_reg(&mut self, cones: &Cones, settings: &Settings) -> bool {
        let cap = self.base_delta * REG_RETRY_FACTOR.powi(MAX_REG_RETRIES as i32);
        if self.delta * REG_RETRY_FACTOR > cap * (1.0 + 1e-9) {
            return false;
        }
        self.delta *= REG_RETRY_FACTOR;
        self.factor.refactor(cones, self.delta, settings)
    }

    /// `err = rhs − K v` over the first n + m rows (extra rows 0), for `v` the
    /// solution (`cand = false`) or the candidate; returns `‖err‖∞`.
    fn residual_of(&mut self, data: &ProblemData, cones: &Cones, cand: bool) -> f64 {
        let (n, m) = (self.n, self.m);
        let v = if cand { &self.cand } else { &self.sol };
        let (vx, vz) = (&v[..n], &v[n..n + m]);
        let (ex, rest) = self.err.split_at_mut(n);
        let (ez, extra) = rest.split_at_mut(m);
        extra.fill(0.0);
        ex.copy_from_slice(&self.rhs[..n]);
        ez.copy_from_slice(&self.rhs[n..n + m]);
        self.factor.sub_pa(data, vx, vz, ex, ez);
        cones.mul_hs(&mut self.hz, vz);
        for (e, h) in ez.iter_mut().zip(&self.hz) {
            *e += h;
        }
        let mut norm: f64 = 0.0;
        for &e in ex.iter().chain(ez.iter()) {
            if !e.is_finite() {
                return f64::INFINITY;
            }
            norm = norm.max(e.abs());
        }
        norm
    }

    /// Solves `K [x; z] = [bx; bz]` (refined), writing `x` and `z`.
    #[allow(clippy::too_many_arguments)]
    pub fn solve(
        &mut self,
        data: &ProblemData,
        cones: &Cones,
        settings: &Settings,
        bx: &[f64],
        bz: &[f64],
        x: &mut [f64],
        z: &mut [f64],
    ) -> bool {
        let n = self.n;
        self.rhs[..n].copy_from_slice(bx);
        self.rhs[n..n + self.m].copy_from_slice(bz);
        if !self.solve_refined(data, cones, settings) {
            return false;
        }
        x.copy_from_slice(&self.sol[..n]);
        z.copy_from_slice(&self.sol[n..n + self.m]);
        true
    }

    /// Factors `K` at the current scaling, solves `K[x₂; z₂] = [−q; b]` and
    /// forms the denominator of `Δτ` (see the module doc).
    pub fn update(&mut self, data: &ProblemData, cones: &Cones, settings: &Settings, it: &Variables) -> bool {
        if !self.factor(data, cones, settings) {
            return false;
        }
        let n = self.n;
        for (r, q) in self.rhs[..n].iter_mut().zip(&data.q) {
            *r = -q;
        }
        self.rhs[n..n + self.m].copy_from_slice(&data.b);
        if !self.solve_refined(data, cones, settings) {
            return false;
        }
        self.x2.copy_from_slice(&self.sol[..n]);
        self.z2.copy_from_slice(&self.sol[n..n + self.m]);

        // (ξ − x₂)ᵀP(ξ − x₂) − x₂ᵀPx₂
        let xi_minus = &mut self.work_n2;
        for ((d, &x), &x2) in xi_minus.iter_mut().zip(&it.x).zip(&self.x2) {
            *d = x / it.tau - x2;
        }
        self.work_n.fill(0.0);
        data.p.sym_mul_add(&mut self.work_n, xi_minus, 1.0);
        let quad1 = dot(xi_minus, &self.work_n);
        self.work_n.fill(0.0);
        data.p.sym_mul_add(&mut self.work_n, &self.x2, 1.0);
        let quad2 = dot(&self.x2, &self.work_n);
        self.tau_den = it.kappa / it.tau - dot(&data.q, &self.x2) - dot(&data.b, &self.z2) + quad1 - quad2;
        // Only near an optimum (κ/τ → 0): toward a certificate τ → 0 must move.
        self.tau_resolved = cones.is_symmetric() || it.kappa / it.tau > f64::EPSILON.sqrt() || {
            cones.mul_hs(&mut self.hz, &self.z2);
            let positive = it.kappa / it.tau + quad1 + dot(&self.z2, &self.hz);
            self.tau_den > 0.0 && (self.tau_den - positive).abs() <= TAU_DEN_AGREEMENT * self.tau_den
        };
        self.tau_den.is_finite()
    }

    /// One Newton step of the HSDE for the right-hand side `rhs` (see
    /// [`Variables::set_affine_rhs`]); `px` is `P x` at the iterate. On the
    /// affine step the offset `Wᵀ(λ \ λ∘λ)` is `s` itself.
    #[allow(clippy::too_many_arguments)]
    pub fn solve_step(
        &mut self,
        data: &ProblemData,
        cones: &Cones,
        settings: &Settings,
        it: &Variables,
        px: &[f64],
        rhs: &Variables,
        step: &mut Variables,
        affine: bool,
    ) -> bool {
        let (n, m) = (self.n, self.m);
        if affine {
            self.offset.copy_from_slice(&it.s);
        } else {
            cones.ds_offset(&mut self.offset, &rhs.s, &mut self.work_m);
        }
        for (r, &v) in self.rhs[..n].iter_mut().zip(&rhs.x) {
            *r = -v;
        }
        for ((r, &v), &o) in self.rhs[n..n + m].iter_mut().zip(&rhs.z).zip(&self.offset) {
            *r = o - v;
        }
        if !self.solve_refined(data, cones, settings) {
            return false;
        }
        let (x1, z1) = (&self.sol[..n], &self.sol[n..n + m]);
        // Pξ = Px/τ, so 2ξᵀPx₁ = 2(Px)ᵀx₁/τ.
        let num = rhs.tau - rhs.kappa / it.tau + dot(&data.q, x1) + dot(&data.b, z1) + 2.0 * dot(px, x1) / it.tau;
        let dtau = if self.tau_resolved { num / self.tau_den } else { 0.0 };
        step.tau = dtau;
        for ((d, &a), &b) in step.x.iter_mut().zip(x1).zip(&self.x2) {
            *d = a + dtau * b;
        }
        for ((d, &a), &b) in step.z.iter_mut().zip(z1).zip(&self.z2) {
            *d = a + dtau * b;
        }
        cones.mul_hs(&mut step.s, &step.z);
        for (d, &o) in step.s.iter_mut().zip(&self.offset) {
            *d = -*d - o;
        }
        self.soc_ds_from_primal_rows(data, cones, rhs, step);
        step.kappa = -(rhs.kappa + it.kappa * dtau) / it.tau;
        dtau.is_finite()
    }

    /// On the rows of second-order cones, `Δs = Δτ b − r_z' − AΔx` (the
    /// linearised primal equation `AΔx + Δs − bΔτ = −r_z'`) instead of
    /// `−HΔz − Wᵀ(λ \ d_s)`. The two are equal in exact arithmetic (the z rows
    /// of the system), but near an optimum where a cone is active its `H` has
    /// eigenvalues `η²β²` and `η²β⁻²` with `β²` of order `1/μ` (`cones/soc.rs`),
    /// and `HΔz` formed in the standard basis carries a rounding of
    /// `ε η²β² ‖Δz‖`, the floor of the refined KKT residual too. Taken from
    /// `−HΔz`, that rounding went into the primal residual: on CBLIB's
    /// sched_50_50_orig, once a three-dimensional cone's `w̄₀` passed 1e6, the
    /// refined residual was 1e-5–1e-4 (of a right-hand side of 600) and the
    /// relative primal residual rose from 2e-10 to 1e-7 while the relative gap
    /// fell to 1e-13, so `tol_feas` was never met. From the primal equation the
    /// residual falls by the step exactly (`r_z ← r_z − α r_z'`, up to the
    /// rounding of `AΔx`), and the difference, the z rows' residual, is left
    /// to complementarity, which the next iterations' centring corrects. An
    /// orthant's `H` is diagonal, its product exact to each entry's rounding,
    /// so the other cones keep `−HΔz − Wᵀ(λ \ d_s)`.
    fn soc_ds_from_primal_rows(&mut self, data: &ProblemData, cones: &Cones, rhs: &Variables, step: &mut Variables) {
        let mut socs = cones.iter().filter(|(c, _)| matches!(c, AnyCone::SecondOrder(_))).peekable();
        if socs.peek().is_none() {
            return;
        }
        let ax = &mut self.work_m;
        ax.fill(0.0);
        data.a.mul_add(ax, &step.x, 1.0);
        for (_, r) in socs {
            for i in r {
                step.s[i] = step.tau * data.b[i] - rhs.z[i] - ax[i];
            }
        }
    }

    /// Solves the KKT system in another coordinate system `x = S x̃` (for
    /// [`KktFactor`](super::KktFactor)): `rhs` in, solution out, both of length
    /// n + m, scaled by `scale` on the way in and out. Returns the backward
    /// error reached (in the equilibrated coordinates), `None` if the solution
    /// is not finite.
    pub fn solve_scaled(
        &mut self,
        data: &ProblemData,
        cones: &Cones,
        settings: &Settings,
        rhs: &mut [f64],
        scale: &[f64],
    ) -> Option<f64> {
        let nm = self.n + self.m;
        for ((r, &b), &s) in self.rhs[..nm].iter_mut().zip(rhs.iter()).zip(scale) {
            *r = b * s;
        }
        if !self.solve_refined(data, cones, settings) {
            return None;
        }
        for ((r, &x), &s) in rhs.iter_mut().zip(&self.sol[..nm]).zip(scale) {
            *r = x * s;
        }
        Some(self.backward_error)
    }

    pub fn static_reg(&self) -> f64 {
        self.delta
    }
}
