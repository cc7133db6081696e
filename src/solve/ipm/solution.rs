//! What [`solve`](super::solve) returns: the point, the status, the measures,
//! and the KKT factorisation at the solution for the backward pass.

use super::data::ProblemData;
use super::info::Info;
use super::kkt::KktSystem;
use super::settings::Settings;
use super::status::Status;
use crate::solve::cones::Cones;

/// The result of a solve.
///
/// - `Optimal`, `AlmostOptimal`: `(x, s, z)` solve the problem, with
///   `Px + q + Aᵀz = 0`, `Ax + s = b`, `s ∈ K`, `z ∈ K*`, `sᵀz = 0` to the
///   tolerances (z is the multiplier of the Lagrangian `½xᵀPx + qᵀx +
///   zᵀ(Ax − b)`).
/// - `PrimalInfeasible`: `z` is a certificate normalised to `bᵀz = −1`
///   (`Aᵀz ≈ 0`, `z ∈ K*`); `x` and `s` are NaN.
/// - `DualInfeasible`: `x` is a certificate normalised to `qᵀx = −1`, with
///   `s = −Ax ∈ K` and `Px ≈ 0`; `z` is NaN.
/// - `MaxIterations`, `NumericalError`: the last iterate, divided by `τ`.
#[derive(Debug)]
pub struct Solution {
    pub status: Status,
    pub x: Vec<f64>,
    pub s: Vec<f64>,
    pub z: Vec<f64>,
    pub info: Info,
    /// For `Optimal` and `AlmostOptimal`: the KKT matrix at the returned point,
    /// factored (see [`KktFactor`]). `None` otherwise, or if that factorisation
    /// failed.
    pub kkt: Option<KktFactor>,
}

/// The KKT matrix at the solution, factored, for implicit differentiation:
///
/// ```text
/// K = [ P   Aᵀ ]
///     [ A   −H ]
/// ```
///
/// with `H = WᵀW` the Nesterov–Todd scaling of the returned `(s, z)` (per
/// block: `diag(s/z)` for the nonnegative orthant, `η²(2w̄w̄ᵀ − J)` for a
/// second-order cone, 0 for the zero cone). It is the linearisation of the
/// optimality conditions with complementarity `s ∘ z = 0` written as
/// `Δs = −H Δz`: differentiating `Px + q + Aᵀz = 0`, `Ax + s = b` gives
/// `K [dx; dz] = [−dP x − dq − dAᵀz; db − dA x]`.
///
/// The factorisation is of the equilibrated, regularised matrix; [`solve`]
/// undoes both (the regularisation by iterative refinement), so callers see
/// `K` in the original coordinates.
///
/// [`solve`]: KktFactor::solve
#[derive(Debug)]
pub struct KktFactor {
    kkt: KktSystem,
    data: ProblemData,
    cones: Cones,
    settings: Settings,
    /// `S = diag(√c D, E/√c)`: `K = S⁻¹ K̃ S⁻¹` for the equilibrated `K̃`.
    scale: Vec<f64>,
    /// The (equilibrated) `(s̃, z̃)` complementarity was linearised at.
    point: (Vec<f64>, Vec<f64>),
    work: Vec<f64>,
}

impl KktFactor {
    pub(crate) fn new(
        kkt: KktSystem,
        data: ProblemData,
        cones: Cones,
        settings: Settings,
        point: (Vec<f64>, Vec<f64>),
    ) -> Self {
        let eq = &data.equil;
        let rc = eq.c.sqrt();
        let scale = eq.d.iter().map(|d| rc * d).chain(eq.e.iter().map(|e| e / rc)).collect();
        let work = vec![0.0; data.m];
        KktFactor { kkt, data, cones, settings, scale, point, work }
    }

    /// Number of variables n.
    pub fn n(&self) -> usize {
        self.data.n
    }

    /// Number of constraint rows m.
    pub fn m(&self) -> usize {
        self.data.m
    }

    /// Solves `K [dx; dz] = rhs` in place (`rhs` of length n + m), as
    /// `K⁻¹ = S K̃⁻¹ S`, refined against the unregularised `K̃`.
    ///
    /// Returns the backward error reached, `‖r̃ − K̃ṽ‖∞ / (‖r̃‖∞ + max|K̃ᵢⱼ| ‖ṽ‖∞)`
    /// in the equilibrated coordinates: near ε for a well-posed problem, but
    /// larger when the solution is degenerate (more active constraints than
    /// variables, a second-order cone at its apex), where `K` is nearly
    /// singular and the derivative may not exist. Callers decide what accuracy
    /// they need.
    pub fn solve(&mut self, rhs: &mut [f64]) -> Result<f64, String> {
        let nm = self.data.n + self.data.m;
        if rhs.len() != nm {
            return Err(format!("the right-hand side has length {}, expected n + m = {nm}", rhs.len()));
        }
        if !rhs.iter().all(|v| v.is_finite()) {
            return Err("the right-hand side has a NaN or infinite entry".into());
        }
        self.kkt
            .solve_scaled(&self.data, &self.cones, &self.settings, rhs, &self.scale)
            .ok_or_else(|| "the KKT solve produced a non-finite value".to_string())
    }

    /// Linearises complementarity at the original-coordinates point `(s, z)`
    /// (the equilibrated `s̃ = E s`, `z̃ = c E⁻¹ z`, as `Solver::finish` maps
    /// back with τ = 1) with the cones' cap `kappa`, and refactors; false if
    /// either fails, the factorisation then being unusable until a success.
    pub(crate) fn relinearise_at(&mut self, s: &[f64], z: &[f64], kappa: f64) -> bool {
        let eq = &self.data.equil;
        let st = s.iter().zip(&eq.einv).map(|(v, ei)| v / ei).collect();
        let zt = z.iter().zip(&eq.e).map(|(v, e)| v * eq.c / e).collect();
        self.point = (st, zt);
        self.relinearise(kappa)
    }

    /// Linearises complementarity again at the point the factorisation was made
    /// at, with the cones' cap `kappa`, and refactors; false if either fails.
    pub(crate) fn relinearise(&mut self, kappa: f64) -> bool {
        let (s, z) = &self.point;
        self.cones.linearise_complementarity(s, z, kappa) && self.kkt.factor(&self.data, &self.cones, &self.settings)
    }

    /// The cones' [`tangent_offset`](crate::solve::cones::Cone::tangent_offset)
    /// at `z`, in original coordinates (`z̃ = E z / c`; the offset scales like s).
    pub(crate) fn tangent_offset(&self, z: &[f64]) -> Vec<f64> {
        let eq = &self.data.equil;
        let zt: Vec<f64> = z.iter().zip(&eq.e).map(|(v, e)| v * eq.c / e).collect();
        let mut out = vec![0.0; z.len()];
        self.cones.tangent_offset(&zt, &mut out);
        out.iter_mut().zip(&eq.einv).for_each(|(v, ei)| *v *= ei);
        out
    }

    /// `y = H x` for the `H` of [`KktFactor`], in original coordinates
    /// (`H = c E⁻¹ H̃ E⁻¹`); `x`, `y` of length m.
    pub fn mul_h(&mut self, y: &mut [f64], x: &[f64]) -> Result<(), String> {
        let m = self.data.m;
        if x.len() != m || y.len() != m {
            return Err(format!("H is {m}×{m}, found vectors of length {} and {}", x.len(), y.len()));
        }
        let eq = &self.data.equil;
        for ((w, &v), &ei) in self.work.iter_mut().zip(x).zip(&eq.einv) {
            *w = v * ei;
        }
        self.cones.mul_hs(y, &self.work);
        for (v, &ei) in y.iter_mut().zip(&eq.einv) {
            *v *= eq.c * ei;
        }
        Ok(())
    }
}
