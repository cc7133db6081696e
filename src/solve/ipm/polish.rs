//! Polishing the interior point method's answer with Newton steps on the KKT
//! conditions themselves.
//!
//! An interior point method stops on its gap and residuals, and its point is
//! then only as accurate as its centring allows: for a second-order cone the
//! objective can be flat to second order along the cone's boundary, and a gap
//! of 1e-10 left x wrong by 2e-7 (`ls_norm_ball`, against its secular
//! equation). The conditions
//!
//! ```text
//! Px + q + Aᵀz = 0,   Ax + s = b,   s ∘ z = 0   (s ∈ K, z ∈ K*)
//! ```
//!
//! have a nonsingular Jacobian at a strictly complementary solution, so Newton's
//! method on them converges from the IPM's point. With complementarity
//! linearised as `L̂(z)Δs + L̂(s)Δz = −s ∘ z`, in the Jordan frame of s (see
//! [`crate::solve::cones::Cone::linearise_complementarity`]), the step is
//! `Δs = −HΔz − L̂(z)⁻¹(s ∘ z)` with `H = L̂(z)⁻¹L̂(s)` and `L̂(z)⁻¹(s ∘ z) = s + o`,
//! `o` the part of z off the frame (scaled by `s₀/z₀`; zero for the orthant), so
//!
//! ```text
//! [P  Aᵀ] [Δx]   [−(Px + q + Aᵀz)]
//! [A  −H] [Δz] = [−(Ax − b) + o  ],      s + Δs = −HΔz − o,
//! ```
//!
//! one solve with a factorisation of the final KKT matrix (a chord method: H
//! stays the IPM point's). The new s and z are projected onto their cones (a
//! violation larger than 1e-6 of their size refuses the step), the iteration
//! goes on while the KKT error at least halves — where it does not, on a
//! program with second-order cones, the step is retried with the matrix
//! relinearised at the current point, once per polish (the chord's fixed point is
//! complementary only in the first frame: see [`polish`]) — and a point is returned only
//! if the solver's own criteria ([`Summary::solved_status`], measured at it) rate
//! it no lower than the point it replaces: a polished point is `Optimal` only
//! where the interior point method's own tests hold, and `info` always
//! describes the point returned.
//!
//! Those steps keep `s ∘ z` small, not zero: on an LP or QP whose objective
//! is large, the residuals and the gap stay small only relative to the data
//! (a relative gap of 1e-10 at f = 1e7 is an absolute 1e-3). The active-set
//! polish ([`active_set`], as OSQP's polishing and the final steps of PIQP)
//! then guesses the active set 𝒜 from the point (the zero cone's rows, and the
//! orthant rows with `z̃ᵢ > s̃ᵢ` in the equilibrated units) and solves
//!
//! ```text
//! [P   A_𝒜ᵀ] [x  ]   [−q ]
//! [A_𝒜  0  ] [z_𝒜] = [b_𝒜],   z_ℐ = 0,   s_𝒜 = 0,   s_ℐ = b_ℐ − A_ℐx,
//! ```
//!
//! by Newton steps on these equations from the IPM's point (iterative
//! refinement of the whole nonlinear system, each step one solve with the
//! regularised, refined KKT factorisation of the matrix with `H_𝒜 = 0` and
//! `H_ℐ` of order 1e14, which decouples the inactive rows). Complementarity
//! then holds exactly and the residuals fall to rounding in absolute terms.
//! A row whose multiplier comes out negative leaves 𝒜, one whose slack comes
//! out negative joins it, and the system is solved again (at most
//! [`MAX_ACTIVE_SETS`] sets in a row, and while they improve on the best
//! point: [`MAX_STALE_SETS`]). Where no sign is wrong but the Newton steps
//! stall (the objective descends along the set's face), a primal step along
//! the face to the row that blocks the descent adds that row, or to the
//! descent's minimiser ([`step_along_face`]). The best of the sets' points is
//! kept under the same rule as the Newton steps' (the solver's criteria rate
//! it no lower), and only if its absolute error — the worst of the
//! residuals' and the gap's, the dual side's in the objective's unit ω,
//! measured as the judge of the test sets does, at the exact point
//! ([`absolute_error`]) — is lower. It runs also where the interior point's
//! absolute error is below `tol_gap_abs` already (only an error of 0 is left
//! as it is): there it usually takes one set and a factorisation, and it
//! returns what the dual active-set method returns for small QPs — exact
//! complementarity, every variable on an active bound exactly on it
//! ([`snap_to_bounds`]) — rather than an interior point 5e-15 off its bounds
//! (a box-constrained QP of 100 variables: +5% time, measured;
//! docs/benchmarks.md, session 18).
//!
//! The same solve serves the interior point method's crossover (`cross_over`),
//! from an iterate before convergence: its point is kept only if the solver's
//! criteria rate it `Optimal` and its absolute error (in the working
//! precision) is below `tol_gap_abs` (else the iterations go on, to a point
//! the polish then starts from), and
//! its Newton steps use the working precision's residuals first (the exact
//! ones only where the absolute error is still above `tol_gap_abs` after
//! them).

use super::status::Status;
use super::summary::{PointNorms, Summary};
use super::workspace::Workspace;
use super::{KAPPA_BACKWARD, KAPPA_POLISH};
use crate::linalg::{norm_inf, vectorised, Dot2};
use crate::solve::cones::dot;
use crate::solve::program::{snap_to_bounds, ConeProgram, RowShape};
use crate::solve::ConeBlock;

/// At most this many steps.
const MAX_STEPS: u32 = 4;

/// At most this many active sets are tried in a row (the first guess, or the
/// set after a step along a face, and its corrections): QGFRDXPN's seventh
/// has every sign right, each correction before it one row leaving a
/// degenerate vertex.
const MAX_ACTIVE_SETS: u32 = 8;

/// The corrections stop once this many sets in a row have not lowered the
/// best absolute error so far (their point projected onto the cones): where
/// the corrections diverge (QPILOTNO's third and fourth sets: absolute errors
/// 1e6 and 2e12), more of them only cost factorisations.
const MAX_STALE_SETS: u32 = 2;

/// At most this many steps along a face ([`step_along_face`]), each followed
/// by a set's solve (a refactorisation where a row joined; QETAMACR takes 9,
/// in the first polish).
const MAX_FACE_STEPS: u32 = 16;

/// At most this many Newton steps on one active set's equations.
const MAX_ACTIVE_STEPS: u32 = 4;

/// The vectors of the polishing steps, sized once.
#[derive(Debug, Default)]
pub(super) struct Work {
    /// The right-hand side and solution (n + m).
    rhs: Vec<f64>,
    /// The tangent offset (m).
    offset: Vec<f64>,
    /// The candidate point.
    x: Vec<f64>,
    s: Vec<f64>,
    z: Vec<f64>,
    /// The chord iteration's current point; in [`active_set`], an active
    /// set's point projected onto the cones.
    px: Vec<f64>,
    ps: Vec<f64>,
    pz: Vec<f64>,
    /// The active set (m; the zero cone's rows always in it) and the
    /// equilibrated point its KKT matrix is linearised at (or, on a program
    /// with second-order cones, the point the Newton steps relinearise at).
    active: Vec<bool>,
    /// Whether each row is an orthant's (else the zero cone's).
    orthant: Vec<bool>,
    lin_s: Vec<f64>,
    lin_z: Vec<f64>,
    /// The best point of the active sets tried, projected onto the cones.
    bx: Vec<f64>,
    bs: Vec<f64>,
    bz: Vec<f64>,
    /// `A d` for a direction `d` (m; [`step_along_face`]).
    ad: Vec<f64>,
    /// `‖aᵢ‖₁` of each row of A (m; [`active_set`]'s slack tolerance), and
    /// its shape (m, once for the structure; the one-entry rows are bounds,
    /// put exactly on the active ones: [`snap_to_bounds`]).
    row_norm: Vec<f64>,
    row_shape: Vec<RowShape>,
    res: Scratch,
    /// Whether the last [`polish`] kept the active-set polish's point.
    pub active_kept: bool,
}

/// The residuals and their scratch.
#[derive(Debug, Default)]
struct Scratch {
    /// The dual and primal residuals (n, m).
    rd: Vec<f64>,
    rp: Vec<f64>,
    /// A point in the equilibrated coordinates (n, m).
    xt: Vec<f64>,
    zt: Vec<f64>,
    /// The residuals' accumulators in twice the precision (n, m).
    acc_d: Vec<Dot2>,
    acc_p: Vec<Dot2>,
}

impl Work {
    /// Sized for `prob`'s structure, with its rows' shapes.
    pub fn new(prob: &ConeProgram) -> Self {
        let (n, m) = (prob.n(), prob.m());
        let mut row_shape = vec![RowShape::Empty; m];
        prob.row_shapes(&mut row_shape);
        Work {
            rhs: vec![0.0; n + m],
            offset: vec![0.0; m],
            x: vec![0.0; n],
            s: vec![0.0; m],
            z: vec![0.0; m],
            px: vec![0.0; n],
            ps: vec![0.0; m],
            pz: vec![0.0; m],
            active: vec![false; m],
            orthant: vec![false; m],
            lin_s: vec![0.0; m],
            lin_z: vec![0.0; m],
            bx: vec![0.0; n],
            bs: vec![0.0; m],
            bz: vec![0.0; m],
            ad: vec![0.0; m],
            row_norm: vec![0.0; m],
            row_shape,
            active_kept: false,
            res: Scratch {
                rd: vec![0.0; n],
                rp: vec![0.0; m],
                xt: vec![0.0; n],
                zt: vec![0.0; m],
                acc_d: vec![Dot2::default(); n],
                acc_p: vec![Dot2::default(); m],
            },
        }
    }
}

/// The residuals `r_d = Px + q + Aᵀz`, `r_p = Ax + s − b` in original units,
/// into `w.rd`, `w.rp`, from the workspace's equilibrated P̃, Ã: with
/// `x̃ = D⁻¹x`, `z̃ = c E⁻¹z`, `Px + Aᵀz = D⁻¹(P̃x̃ + Ãᵀz̃)/c` and `Ax = E⁻¹Ãx̃`.
fn residuals(prob: &ConeProgram, ws: &Workspace, w: &mut Scratch, x: &[f64], s: &[f64], z: &[f64]) {
    let data = &ws.solver.data;
    let eq = &data.equil;
    equilibrate_x(ws, w, x);
    for ((t, v), ei) in w.zt.iter_mut().zip(z).zip(&eq.einv) {
        *t = eq.c * v * ei;
    }
    w.rd.fill(0.0);
    data.p.sym_mul_add(&mut w.rd, &w.xt, 1.0);
    data.a.t_mul_add(&mut w.rd, &w.zt, 1.0);
    for ((r, di), q) in w.rd.iter_mut().zip(&eq.dinv).zip(&prob.q) {
        *r = *r * di / eq.c + q;
    }
    primal_residual(prob, ws, w, s);
}

/// `x̃ = D⁻¹x` into `w.xt`.
fn equilibrate_x(ws: &Workspace, w: &mut Scratch, x: &[f64]) {
    for ((t, v), di) in w.xt.iter_mut().zip(x).zip(&ws.solver.data.equil.dinv) {
        *t = v * di;
    }
}

/// `r_p = Ax + s − b` into `w.rp`, with `x` already equilibrated in `w.xt`.
fn primal_residual(prob: &ConeProgram, ws: &Workspace, w: &mut Scratch, s: &[f64]) {
    let data = &ws.solver.data;
    let eq = &data.equil;
    w.rp.fill(0.0);
    data.a.mul_add(&mut w.rp, &w.xt, 1.0);
    for (((r, ei), s), b) in w.rp.iter_mut().zip(&eq.einv).zip(s).zip(&prob.b) {
        *r = *r * ei + s - b;
    }
}

/// [`residuals`] from the program's own data (original units, no
/// equilibration to undo) and summed in twice the precision ([`Dot2`]), each
/// then rounded once: what the active-set polish's Newton steps are driven
/// by. Refinement converges to the point whose residual it can see; with the
/// working precision's residuals that point's true residuals stay at the
/// rounding of their terms (ε·|A||x|, ε·|P||x| + ε·|A||z|), which times the
/// multipliers is the duality gap left on problems with large entries
/// (Q25FV47, QSHIP04S: gaps of a few 1e-9 with residuals at 1e-12).
///
/// Run through [`vectorised`] so that `TwoProduct`'s FMA is the CPU's
/// instruction where it has one (a correctly rounded FMA either way, so the
/// same bits): the library's software FMA cost ≈ 22 more instructions a
/// product, 19M over the four residuals (216k products each) of an active-set
/// solve of the side-by-side QP at n = 200.
fn exact_residuals(prob: &ConeProgram, w: &mut Scratch, x: &[f64], s: &[f64], z: &[f64]) {
    vectorised(
        #[inline(always)]
        || {
            for (acc, &q) in w.acc_d.iter_mut().zip(&prob.q) {
                *acc = Dot2::new(q);
            }
            for ((acc, &s), &b) in w.acc_p.iter_mut().zip(s).zip(&prob.b) {
                *acc = Dot2::new(s);
                acc.add(-b);
            }
            for &(i, j, v) in &prob.p.entries {
                w.acc_d[i].add_product(v, x[j]);
                if i != j {
                    w.acc_d[j].add_product(v, x[i]);
                }
            }
            for &(i, j, v) in &prob.a.entries {
                w.acc_d[j].add_product(v, z[i]);
                w.acc_p[i].add_product(v, x[j]);
            }
            for (r, acc) in w.rd.iter_mut().zip(&w.acc_d) {
                *r = acc.value();
            }
            for (r, acc) in w.rp.iter_mut().zip(&w.acc_p) {
                *r = acc.value();
            }
        },
    )
}

/// The objectives less `c0`, the primal `½xᵀPx + qᵀx` and the dual
/// `−½xᵀPx − bᵀz`, at `(x, z)` (`xᵀPx = x̃ᵀP̃x̃/c`).
fn objectives(prob: &ConeProgram, ws: &Workspace, w: &mut Scratch, x: &[f64], z: &[f64]) -> (f64, f64) {
    let data = &ws.solver.data;
    let eq = &data.equil;
    for ((t, v), di) in w.xt.iter_mut().zip(x).zip(&eq.dinv) {
        *t = v * di;
    }
    w.rd.fill(0.0);
    data.p.sym_mul_add(&mut w.rd, &w.xt, 1.0);
    let xpx = dot(&w.xt, &w.rd) / eq.c;
    let (qx, bz) = (dot(&prob.q, x), dot(&prob.b, z));
    (0.5 * xpx + qx, -0.5 * xpx - bz)
}

/// The measures of [`Summary`] (objectives, residuals, gaps) at the point
/// `(x, s, z)` itself, in original units, into `info` (the rest of it, the
/// iterate's `κ/τ` among them, is left as it is): what the status of a
/// returned point is judged by.
fn measure(prob: &ConeProgram, ws: &Workspace, w: &mut Scratch, x: &[f64], s: &[f64], z: &[f64], info: &mut Summary) {
    let (primal, dual) = objectives(prob, ws, w, x, z);
    residuals(prob, ws, w, x, s, z);
    let norms = PointNorms {
        primal_residual: norm_inf(&w.rp),
        dual_residual: norm_inf(&w.rd),
        x: norm_inf(x),
        s: norm_inf(s),
        z: norm_inf(z),
        primal,
        dual,
    };
    info.set_measures(&ws.solver.data, &norms);
}

/// [`measure`] at the workspace's returned point, into its `info`.
pub(super) fn measure_returned(prob: &ConeProgram, ws: &mut Workspace) {
    let mut w = std::mem::take(&mut ws.polish);
    let mut info = ws.info.clone();
    measure(prob, ws, &mut w.res, &ws.x, &ws.s, &ws.z, &mut info);
    ws.info = info;
    ws.polish = w;
}

/// The KKT error of a point: the residuals relative to the data, and the
/// complementarity (every component of `s ∘ z`) relative to the point's size,
/// the dual side (`r_d`, `q`, `z`) in the objective's unit ω as the statuses
/// are ([`Summary`]): the error of the program with its objective divided by ω,
///
/// ```text
/// max(‖r_d‖∞ / (ω + ‖q‖∞), ‖r_p‖∞ / (1 + ‖b‖∞), ‖s ∘ z‖∞ / (ω (1 + max(‖x‖∞, ‖s‖∞, ‖z‖∞/ω))²)).
/// ```
///
/// In absolute terms an objective scaled by a small `c` made every dual term
/// of order `c`, so the error was the primal residual's alone and the steps
/// stopped (at 1e-15) or were kept by it without looking at `s ∘ z`.
fn kkt_error(prob: &ConeProgram, ws: &Workspace, w: &mut Scratch, x: &[f64], s: &[f64], z: &[f64]) -> f64 {
    residuals(prob, ws, w, x, s, z);
    let omega = ws.solver.data.objective_scale;
    let scale = 1.0 + norm_inf(x).max(norm_inf(z) / omega).max(norm_inf(s));
    let comp = jordan_product_norm(&prob.cones, s, z) / omega;
    (norm_inf(&w.rd) / (omega + norm_inf(&prob.q)))
        .max(norm_inf(&w.rp) / (1.0 + norm_inf(&prob.b)))
        .max(comp / (scale * scale))
}

/// `‖s ∘ z‖∞` blockwise: every component of the Jordan product, not just the
/// gap `sᵀz` (a second-order cone's spatial part `s₀z̄ + z₀s̄` is what aligns z
/// against s; a step could shrink the gap while misaligning them).
fn jordan_product_norm(cones: &[ConeBlock], s: &[f64], z: &[f64]) -> f64 {
    let mut start = 0;
    let mut out = 0.0f64;
    for c in cones {
        match *c {
            ConeBlock::Zero(d) => start += d,
            ConeBlock::Nonneg(d) => {
                for i in start..start + d {
                    out = out.max((s[i] * z[i]).abs());
                }
                start += d;
            }
            ConeBlock::SecondOrder(d) => {
                let (sb, zb) = (&s[start..start + d], &z[start..start + d]);
                out = out.max(sb.iter().zip(zb).map(|(a, b)| a * b).sum::<f64>().abs());
                for i in 1..d {
                    out = out.max((sb[0] * zb[i] + zb[0] * sb[i]).abs());
                }
                start += d;
            }
            // Not polished (see `Workspace::solve`); the gap is its measure.
            ConeBlock::Exponential | ConeBlock::Psd(_) => {
                let d = c.dim();
                out = out.max(dot(&s[start..start + d], &z[start..start + d]).abs());
                start += d;
            }
        }
    }
    out
}

/// Projects cone violations of `v` up to `tol` away; false if one exceeds it.
fn into_cones(cones: &[ConeBlock], v: &mut [f64], dual: bool, tol: f64) -> bool {
    let mut start = 0;
    for c in cones {
        match *c {
            ConeBlock::Zero(d) => {
                if !dual {
                    v[start..start + d].fill(0.0);
                }
                start += d;
            }
            ConeBlock::Nonneg(d) => {
                for x in &mut v[start..start + d] {
                    if *x < -tol {
                        return false;
                    }
                    *x = x.max(0.0);
                }
                start += d;
            }
            ConeBlock::SecondOrder(d) => {
                let block = &mut v[start..start + d];
                let tail = block[1..].iter().map(|x| x * x).sum::<f64>().sqrt();
                if block[0] < tail - tol {
                    return false;
                }
                block[0] = block[0].max(tail);
                start += d;
            }
            // Not polished (see `Workspace::solve`).
            ConeBlock::Exponential | ConeBlock::Psd(_) => return false,
        }
    }
    true
}

/// Newton steps from the workspace's point, with the KKT matrix factored at
/// it, its status ([`Summary::solved_status`]) and `info` measured there. The
/// chord iteration goes on while the KKT error halves (on second-order cones,
/// once more after a relinearisation at the current point where it first does
/// not: the KKT matrix is then no longer the one at the workspace's point,
/// and `factored` is false); the point returned is
/// the last one the solver's criteria rate no lower than the returned point
/// before it (an early step can trade a little primal residual, from the
/// projection onto the cones, for much of the gap, and the next one win it
/// back). Returns the number of steps to the point returned, its status and
/// `info` then being the workspace's.
pub(super) fn polish(prob: &ConeProgram, ws: &mut Workspace) -> u32 {
    let mut w = std::mem::take(&mut ws.polish);
    let (mut x, mut s, mut z) = (std::mem::take(&mut w.px), std::mem::take(&mut w.ps), std::mem::take(&mut w.pz));
    x.copy_from_slice(&ws.x);
    s.copy_from_slice(&ws.s);
    z.copy_from_slice(&ws.z);
    let mut err = kkt_error(prob, ws, &mut w.res, &x, &s, &z);
    let (mut steps, mut kept) = (0, 0);
    let mut info = ws.info.clone();
    // Whether the matrix was relinearised, off the backward pass's point.
    let mut moved = false;
    while steps < MAX_STEPS && err > 1e-15 {
        let stepped = step(prob, ws, &mut w, &x, &s, &z);
        let e = if stepped { kkt_error(prob, ws, &mut w.res, &w.x, &w.s, &w.z) } else { f64::NAN };
        if e.is_nan() || e > 0.5 * err {
            // The chord iteration stalled. Its fixed point satisfies
            // complementarity only in the first frame: with the solution's
            // direction θ off ū, each second-order cone keeps a gap of order
            // s₀z₀θ² (chainsing-1000-3: ‖s ∘ z‖∞ stuck at 4.4e-11, an absolute
            // gap of 2.8e-8 over its cones). One Newton step, the matrix
            // linearised at the current point, then goes on from there. Once
            // per polish: a second relinearisation (its refactorisation 9% of
            // a 4 096-cone pooling solve) came at errors of 1e-14, the
            // rounding floor, and moved no row of the CBLIB judge's table.
            if moved || steps == 0 || is_lp_or_qp(&prob.cones) {
                break;
            }
            moved = true;
            if !relinearise_at(ws, &mut w, &s, &z) {
                break;
            }
            continue;
        }
        std::mem::swap(&mut x, &mut w.x);
        std::mem::swap(&mut s, &mut w.s);
        std::mem::swap(&mut z, &mut w.z);
        (err, steps) = (e, steps + 1);
        measure(prob, ws, &mut w.res, &x, &s, &z, &mut info);
        let status = info.solved_status(&ws.solver.settings);
        if rank(status) >= rank(ws.status) {
            ws.x.copy_from_slice(&x);
            ws.s.copy_from_slice(&s);
            ws.z.copy_from_slice(&z);
            (ws.status, ws.info, kept) = (status, info.clone(), steps);
        }
    }
    (w.px, w.ps, w.pz) = (x, s, z);
    // The factorisation is the last iterate's, no longer the returned point's
    // (or, relinearised, neither's).
    ws.factored &= kept == 0 && !moved;
    w.active_kept =
        ws.solver.settings.polish_active_set && is_lp_or_qp(&prob.cones) && active_set(prob, ws, &mut w, false);
    kept += u32::from(w.active_kept);
    ws.polish = w;
    kept
}

/// Linearises complementarity at the point `(s, z)` (original units; its
/// equilibrated coordinates into `w.lin_s`, `w.lin_z`) with the polish's cap
/// and refactors; false if that fails.
fn relinearise_at(ws: &mut Workspace, w: &mut Work, s: &[f64], z: &[f64]) -> bool {
    ws.equilibrate_point(s, z, &mut w.lin_s, &mut w.lin_z);
    ws.factor_at(&w.lin_s, &w.lin_z, KAPPA_POLISH)
}

/// Whether the program has zero and orthant cones only (an LP or a QP): the
/// programs the active-set polish and the crossover apply to.
pub(super) fn is_lp_or_qp(cones: &[ConeBlock]) -> bool {
    cones.iter().all(|c| c.is_polyhedral())
}

/// The crossover: the active-set polish from the workspace's point (an
/// iterate the interior point method stopped at before its own tests held,
/// mapped back and measured), kept only if the solver's criteria rate the
/// polished point `Optimal`. True if kept (see [`active_set`]).
pub(super) fn cross_over(prob: &ConeProgram, ws: &mut Workspace) -> bool {
    let mut w = std::mem::take(&mut ws.polish);
    let kept = active_set(prob, ws, &mut w, true);
    ws.polish = w;
    kept
}

/// The worst of `‖r_p‖∞` and, in the objective's unit ω (the dual side scales
/// with the objective: [`ConeProgram::objective_scale`]), `‖r_d‖∞` and the gap
/// `|pobj − dobj|` at a point, in original units otherwise: the measures of
/// the exact point (its residuals [`exact_residuals`], each rounded once), as
/// the test sets' judge recomputes them. The gap is
///
/// ```text
/// pobj − dobj = xᵀPx + qᵀx + bᵀz = xᵀr_d − zᵀr_p + sᵀz,
/// ```
///
/// summed in twice the precision from the residuals: the objectives' terms
/// are up to 1e12 on Maros–Mészáros problems whose gap is 1e-9, and their
/// difference in working precision was noise of 1e-3 (STADAT1), which chose
/// between the active sets' points at random.
///
/// Not `exact`: the working precision's residuals and the objectives'
/// difference, a tenth of the cost (0.7M instructions against 6.7M on the
/// side-by-side QP at n = 200, where measuring its crossovers exactly added
/// 2.8% to a `ddnc bench` run's instructions). Crossovers measure so: their
/// steps are in the working
/// precision too, and an error the noise hides from them leaves their point
/// to the iterations and the polish (STADAT1's noise kept its crossover's
/// point from passing for one below `tol_gap_abs`).
fn absolute_error(
    prob: &ConeProgram,
    ws: &Workspace,
    w: &mut Scratch,
    (x, s, z): (&[f64], &[f64], &[f64]),
    exact: bool,
) -> f64 {
    let gap = if exact {
        exact_residuals(prob, w, x, s, z);
        vectorised(
            #[inline(always)]
            || {
                let mut gap = Dot2::new(0.0);
                for (&x, &r) in x.iter().zip(&w.rd) {
                    gap.add_product(x, r);
                }
                for ((&z, &r), &s) in z.iter().zip(&w.rp).zip(s) {
                    gap.add_product(-z, r);
                    gap.add_product(s, z);
                }
                gap.value()
            },
        )
    } else {
        let (pobj, dobj) = objectives(prob, ws, w, x, z);
        residuals(prob, ws, w, x, s, z);
        pobj - dobj
    };
    let omega = ws.solver.data.objective_scale;
    norm_inf(&w.rp).max(norm_inf(&w.rd) / omega).max(gap.abs() / omega)
}

/// [`absolute_error`] at the workspace's returned point.
pub(super) fn returned_error(prob: &ConeProgram, ws: &mut Workspace) -> f64 {
    let mut w = std::mem::take(&mut ws.polish);
    let err = absolute_error(prob, ws, &mut w.res, (&ws.x, &ws.s, &ws.z), true);
    ws.polish = w;
    err
}

/// The active-set polish of the module documentation, from the workspace's
/// returned point (an LP or QP: zero and orthant cones only). True if its
/// point was kept, which is then the workspace's, with its status and `info`:
/// as a polish, when the solver's criteria rate it no lower and its absolute
/// error is lower; as a crossover (`crossover`), when they rate it `Optimal`.
///
/// Afterwards the KKT factorisation is the last active set's, and `factored`
/// says whether it serves the backward pass: the point was kept, its active
/// set is the one factored (the last round changed nothing) and every
/// inactive slack is positive. That matrix, `H = 0` on 𝒜 and ≈ 5e13 on ℐ, is
/// then the linearisation at the returned point up to the size of `H_ℐ`
/// (infinite in the limit `H = s/z`, `z_ℐ → 0`; [`Workspace::kkt_solve`]'s
/// `Δz_ℐ` is of order `1/H_ℐ` either way), the matrix the dual active-set
/// method's backward pass uses too.
fn active_set(prob: &ConeProgram, ws: &mut Workspace, w: &mut Work, crossover: bool) -> bool {
    // (A crossover's starting point is not a solution: nothing to compare.
    // A returned point below `tol_gap_abs` is polished too: see the module
    // documentation.)
    let before =
        if crossover { f64::INFINITY } else { absolute_error(prob, ws, &mut w.res, (&ws.x, &ws.s, &ws.z), true) };
    if before.is_nan() || before == 0.0 {
        return false;
    }
    // The guess, in the equilibrated units (s̃ = E s, z̃ = c E⁻¹ z), where the
    // IPM's s̃ᵢz̃ᵢ = μ balanced the two.
    let eq = &ws.solver.data.equil;
    let mut start = 0;
    for c in &prob.cones {
        let (d, zero) = match *c {
            ConeBlock::Zero(d) => (d, true),
            // Orthant rows (`polish` calls this for zero and orthant cones only).
            ConeBlock::Nonneg(_) | ConeBlock::SecondOrder(_) | ConeBlock::Exponential | ConeBlock::Psd(_) => {
                (c.dim(), false)
            }
        };
        for i in start..start + d {
            w.orthant[i] = !zero;
            w.active[i] = zero || eq.c * ws.z[i] * eq.einv[i] > ws.s[i] / eq.einv[i];
        }
        start += d;
    }
    w.x.copy_from_slice(&ws.x);
    for i in 0..prob.m() {
        (w.s[i], w.z[i]) = if w.active[i] { (0.0, ws.z[i]) } else { (ws.s[i], 0.0) };
    }
    w.row_norm.fill(0.0);
    for &(i, _, v) in &prob.a.entries {
        w.row_norm[i] += v.abs();
    }
    // Active sets solved since the last step along a face, those steps, the
    // sets in a row that did not lower `best`, the absolute error of the best
    // point so far (in `w.bx`, `w.bs`, `w.bz`), and the steps since it last
    // fell; whether the set changed since it was factored. The loop's value:
    // whether the factorisation is at the best point (the last set solved,
    // and unchanged after it).
    let (mut sets, mut face_steps, mut stale, mut idle_steps) = (0, 0, 0, 0);
    let (mut best, mut refactor) = (f64::INFINITY, true);
    let best_factored = loop {
        sets += 1;
        if refactor {
            // `H̃ = s̃/z̃` at the linearisation point: 0 on 𝒜, ≈ 5e13 on ℐ (the
            // orthant floors z̃ at 1e-14 (1 + max z̃)).
            for i in 0..prob.m() {
                (w.lin_s[i], w.lin_z[i]) = if w.active[i] { (0.0, 1.0) } else { (1.0, 0.0) };
            }
        }
        let solved = if refactor && !ws.factor_at(&w.lin_s, &w.lin_z, KAPPA_BACKWARD) {
            None
        } else {
            active_set_solve(prob, ws, w, crossover)
        };
        let Some(solved) = solved else {
            ws.factored = false;
            return false;
        };
        // The set's point with what is left of a wrong guess projected away
        // (the measures judge it), kept if it is the best so far: corrections
        // can make the point worse (QSHARE1B's first polish: an absolute
        // error of 38 after the guess, 168 and 146 after two corrections), and
        // so can a step along a face on the way to the optimum's (QETAMACR's
        // fifth: 3.7e-7 to 4.7e-7, and 1.9e-11 after the ninth).
        // (Its error is the solve's where nothing is projected.)
        w.px.copy_from_slice(&w.x);
        let mut projected = false;
        for i in 0..prob.m() {
            (w.ps[i], w.pz[i]) = (w.s[i], w.z[i]);
            if w.orthant[i] && (w.s[i] < 0.0 || w.z[i] < 0.0) {
                (w.ps[i], w.pz[i], projected) = (w.s[i].max(0.0), w.z[i].max(0.0), true);
            }
        }
        let e =
            if projected { absolute_error(prob, ws, &mut w.res, (&w.px, &w.ps, &w.pz), !crossover) } else { solved };
        let improved = e < best;
        if improved {
            std::mem::swap(&mut w.px, &mut w.bx);
            std::mem::swap(&mut w.ps, &mut w.bs);
            std::mem::swap(&mut w.pz, &mut w.bz);
            (best, stale, idle_steps) = (e, 0, 0);
        } else {
            stale += 1;
        }
        // Wrong guesses: a negative multiplier leaves 𝒜, a negative slack
        // joins it — one below what x's rounding can do to it (`ε(|bᵢ| +
        // ‖aᵢ‖₁‖x‖∞)`), else rows at a degenerate vertex, whose slacks come
        // out at ±1e-21, joined and left in turn (QGFRDXPN: five a set, its
        // absolute error stuck at 6e-4; with the tolerance one row leaves a
        // set and the seventh has every sign right).
        let xn = norm_inf(&w.x);
        let mut changed = false;
        for i in (0..prob.m()).filter(|&i| w.orthant[i]) {
            if w.active[i] && w.z[i] < 0.0 {
                (w.active[i], w.z[i], changed) = (false, 0.0, true);
            } else if !w.active[i] && w.s[i] < -f64::EPSILON * (prob.b[i].abs() + w.row_norm[i] * xn) {
                (w.active[i], w.s[i], changed) = (true, 0.0, true);
            }
        }
        refactor = changed;
        // Steps along faces, while they lower the best point's error (at the
        // rounding floor they do not: Q25FV47's sixteen, at 2.6e-10, did not).
        if !changed && face_steps < MAX_FACE_STEPS && idle_steps < MAX_STALE_SETS {
            if let Some(joined) = step_along_face(prob, ws, w, solved) {
                (changed, refactor, sets, stale) = (true, joined, 0, 0);
                (face_steps, idle_steps) = (face_steps + 1, idle_steps + 1);
            }
        }
        if !changed || sets == MAX_ACTIVE_SETS || stale == MAX_STALE_SETS {
            break improved && !changed && (0..prob.m()).all(|i| w.active[i] || w.bs[i] > 0.0);
        }
    };
    ws.factored = false;
    if !best.is_finite() {
        return false;
    }
    let mut info = ws.info.clone();
    measure(prob, ws, &mut w.res, &w.bx, &w.bs, &w.bz, &mut info);
    let status = info.solved_status(&ws.solver.settings);
    let kept = if crossover {
        status == Status::Optimal && best <= ws.solver.settings.tol_gap_abs
    } else {
        rank(status) >= rank(ws.status) && best < before
    };
    if !kept {
        return false;
    }
    ws.factored = best_factored;
    ws.x.copy_from_slice(&w.bx);
    ws.s.copy_from_slice(&w.bs);
    ws.z.copy_from_slice(&w.bz);
    (ws.status, ws.info) = (status, info);
    true
}

/// The active set's equations solved from `(w.x, w.s, w.z)` with the
/// factorisation in place: by Newton steps with [`exact_residuals`]; for a
/// crossover, whose starting point is an iterate still far from the set's
/// solution, first with the working precision's residuals ([`residuals`], a
/// fifth of the cost), and then with the exact ones only where the point's
/// absolute error is still above `tol_gap_abs` (where the polish would have
/// refined it). The point's absolute error ([`absolute_error`], exact but
/// for a crossover), or `None` if a solve fails.
fn active_set_solve(prob: &ConeProgram, ws: &mut Workspace, w: &mut Work, crossover: bool) -> Option<f64> {
    let tol = ws.solver.settings.tol_gap_abs;
    let mut exact = !crossover;
    loop {
        if !active_set_steps(prob, ws, w, exact) {
            return None;
        }
        let e = absolute_error(prob, ws, &mut w.res, (&w.x, &w.s, &w.z), !crossover);
        if exact || e <= tol {
            return Some(e);
        }
        exact = true;
    }
}

/// Newton steps on the active set's equations from `(w.x, w.s, w.z)` with the
/// factorisation in place, while `max(‖r_d‖∞, ‖r_p‖∞)` halves, the residuals
/// [`exact_residuals`] (`exact`) or [`residuals`]; each first puts the
/// variables on their active bounds exactly ([`snap_to_bounds`]: those rows'
/// equations, solved without the KKT solve's rounding) and moves the inactive
/// rows' residual into their slacks (`s_ℐ = b_ℐ − A_ℐx`). False if a solve
/// fails.
fn active_set_steps(prob: &ConeProgram, ws: &mut Workspace, w: &mut Work, exact: bool) -> bool {
    let n = prob.n();
    let mut err = f64::INFINITY;
    for step in 0..=MAX_ACTIVE_STEPS {
        snap_to_bounds(prob, &w.row_shape, |i| w.active[i], &mut w.x);
        if exact {
            exact_residuals(prob, &mut w.res, &w.x, &w.s, &w.z);
        } else {
            residuals(prob, ws, &mut w.res, &w.x, &w.s, &w.z);
        }
        for ((s, r), &a) in w.s.iter_mut().zip(w.res.rp.iter_mut()).zip(&w.active) {
            if !a {
                *s -= *r;
                *r = 0.0;
            }
        }
        let e = norm_inf(&w.res.rd).max(norm_inf(&w.res.rp));
        if e.is_nan() || e >= 0.5 * err || step == MAX_ACTIVE_STEPS {
            return e.is_finite();
        }
        err = e;
        newton_rhs(w, n);
        if ws.kkt_solve(&mut w.rhs).is_err() {
            return false;
        }
        let (dx, dz) = w.rhs.split_at(n);
        w.x.iter_mut().zip(dx).for_each(|(x, d)| *x += d);
        for ((z, d), &a) in w.z.iter_mut().zip(dz).zip(&w.active) {
            if a {
                *z += d;
            }
        }
    }
    true
}

/// A primal step along the active set's face (`Some` if x moved; `Some(true)`
/// if an inactive row blocked the step and joined 𝒜): the primal active-set
/// method's step, where guessing from the IPM's point has run out and the
/// Newton steps on the set's equations have stalled with no sign wrong.
///
/// The direction is one more Newton step `d` from the stalled point
/// (`A_𝒜d = 0` up to rounding, so the objective's slope along it,
/// `(Px + q)ᵀd`, is `r_dᵀd`), and x moves by the ratio test's `t` to the
/// first inactive row that blocks it, or to the objective's minimiser along
/// `d` (`t = −r_dᵀd / dᵀPd`) where that comes first. The two stalls:
///
/// - **A singular face** — `Pu = 0`, `A_𝒜u = 0` with `qᵀu ≠ 0`: `Px + q +
///   A_𝒜ᵀz_𝒜 = 0` has no solution on it, each Newton step moves x along `u`
///   only as far as the inactive rows' `1/H_ℐ` lets it, and the dual residual
///   left is the objective's slope along the face, so the row that bounds it
///   belongs in 𝒜. QETAMACR: the IPM's point sits in the middle of a face
///   along which the objective falls by 2.4e-8 a unit; the polish left a dual
///   residual of 1.4e-7 and a gap of 4.6e-6, and nine steps (rows joining at
///   t = 8 to 450) reach the optimum's face, residuals 7e-12.
/// - **Slow refinement** — the regularised factorisation's steps shrink by
///   less than half each (the set's equations ill-conditioned at ‖x‖∞ =
///   9e5): QSHARE1B's polish stopped with a gap of 9.5e-3, its signs right,
///   its next step `d` still 1e-8 of ‖x‖∞ and its minimiser at t = 1.5; from
///   there the set's Newton steps reach a gap of 1e-10.
///
/// No step where `d` is below `100 ε (1 + ‖x‖∞)` (rounding, not a face: on
/// QSCAGR25, 1.5e-12 at ‖x‖∞ = 2.3e4, which a ratio test took to t = 9e13),
/// where it rises, or where nothing bounds it. Tried only while the point's
/// absolute error `err` is above `tol_gap_abs`; a step that makes the point
/// worse is not kept ([`active_set`] keeps the best).
fn step_along_face(prob: &ConeProgram, ws: &mut Workspace, w: &mut Work, err: f64) -> Option<bool> {
    let n = prob.n();
    if err.is_nan() || err <= ws.solver.settings.tol_gap_abs {
        return None;
    }
    exact_residuals(prob, &mut w.res, &w.x, &w.s, &w.z);
    for (r, &a) in w.res.rp.iter_mut().zip(&w.active) {
        if !a {
            *r = 0.0;
        }
    }
    newton_rhs(w, n);
    ws.kkt_solve(&mut w.rhs).ok()?;
    let d = &w.rhs[..n];
    // (`kkt_solve` refuses a non-finite solution.)
    if norm_inf(d) <= 100.0 * f64::EPSILON * (1.0 + norm_inf(&w.x)) {
        return None;
    }
    w.ad.fill(0.0);
    for &(i, j, v) in &prob.a.entries {
        w.ad[i] += v * d[j];
    }
    // The objective's slope along d on the face (A_𝒜d = 0), (Px + q)ᵀd =
    // r_dᵀd − z_𝒜ᵀA_𝒜d = r_dᵀd, and its curvature dᵀPd (P's upper triangle).
    let slope = dot(&w.res.rd, d);
    if slope.is_nan() || slope >= 0.0 {
        return None;
    }
    let curvature: f64 =
        prob.p.entries.iter().map(|&(i, j, v)| if i == j { v * d[i] * d[i] } else { 2.0 * v * d[i] * d[j] }).sum();
    let mut t = if curvature > 0.0 { -slope / curvature } else { f64::INFINITY };
    let mut blocking = None;
    for i in (0..prob.m()).filter(|&i| w.orthant[i] && !w.active[i] && w.ad[i] > 0.0) {
        let ti = w.s[i].max(0.0) / w.ad[i];
        if ti < t {
            (t, blocking) = (ti, Some(i));
        }
    }
    if !t.is_finite() {
        return None;
    }
    w.x.iter_mut().zip(d).for_each(|(x, d)| *x += t * d);
    for k in (0..prob.m()).filter(|&k| !w.active[k]) {
        w.s[k] -= t * w.ad[k];
    }
    if let Some(i) = blocking {
        (w.active[i], w.s[i], w.z[i]) = (true, 0.0, 0.0);
    }
    Some(blocking.is_some())
}

/// The active set's Newton right-hand side `−(r_d, r_p)` into `w.rhs`, from
/// the residuals in `w.res` (`n` unknowns).
fn newton_rhs(w: &mut Work, n: usize) {
    let (rx, rz) = w.rhs.split_at_mut(n);
    rx.iter_mut().zip(&w.res.rd).for_each(|(r, d)| *r = -d);
    rz.iter_mut().zip(&w.res.rp).for_each(|(r, p)| *r = -p);
}

/// How good a returned point is by [`Summary::solved_status`].
pub(super) fn rank(status: Status) -> u8 {
    match status {
        Status::Optimal => 2,
        Status::AlmostOptimal => 1,
        _ => 0,
    }
}

/// On the rows of second-order cones, the step's `s` becomes `b − A(x + Δx)`
/// (computed as `s − r_p` at `(x + Δx, s)`), the primal equation, instead of
/// `−HΔz − offset`. The two are equal in exact arithmetic (the z rows of the
/// system), but the linearised `H` has eigenvalues up to `KAPPA_POLISH`
/// times its tangent one, and its product's rounding, of order
/// `ε κ η² ‖Δz‖`, went into the primal residual: on CBLIB's
/// sched_50_50_orig (solver tolerance 1e-10) the first chord step raised the
/// KKT error from 8.0e-9 to 2.1e-5 and the polish stopped; with `s` from the
/// primal rows that step takes it to 1.8e-9 and the relinearised one after
/// it to 1.0e-9 (judged 3.6e-9 / 8.1e-10 / 5.6e-9). The same reason as the
/// interior point step's (`KktSystem::soc_ds_from_primal_rows`); orthant
/// rows keep `−HΔz − offset`, exact to each entry's rounding.
fn soc_slacks_from_primal_rows(prob: &ConeProgram, ws: &Workspace, w: &mut Work, s: &[f64]) {
    if !prob.cones.iter().any(|c| matches!(c, ConeBlock::SecondOrder(_))) {
        return;
    }
    // Only r_p: the dual residual at (x + Δx, z + Δz) is `kkt_error`'s next.
    equilibrate_x(ws, &mut w.res, &w.x);
    primal_residual(prob, ws, &mut w.res, s);
    let mut start = 0;
    for c in &prob.cones {
        let d = c.dim();
        if let ConeBlock::SecondOrder(_) = c {
            for i in start..start + d {
                w.s[i] = s[i] - w.res.rp[i];
            }
        }
        start += d;
    }
}

/// One step from `(x, s, z)` into `w.x`, `w.s`, `w.z`; false if the solve
/// fails or the new point leaves a cone.
fn step(prob: &ConeProgram, ws: &mut Workspace, w: &mut Work, x: &[f64], s: &[f64], z: &[f64]) -> bool {
    let n = prob.n();
    // [−(Px + q + Aᵀz); −(Ax − b)] = [−r_d; s − r_p].
    residuals(prob, ws, &mut w.res, x, s, z);
    let (rx, rz) = w.rhs.split_at_mut(n);
    for (r, d) in rx.iter_mut().zip(&w.res.rd) {
        *r = -d;
    }
    // The frame's H misses z's tangent part: L̂(z)⁻¹(s ∘ z) = s + offset.
    ws.tangent_offset(z, &mut w.offset);
    for (((r, &si), &p), &o) in rz.iter_mut().zip(s).zip(&w.res.rp).zip(&w.offset) {
        *r = si - p + o;
    }
    if ws.kkt_solve(&mut w.rhs).is_err() {
        return false;
    }
    let (dx, dz) = w.rhs.split_at(n);
    if ws.kkt_mul_h(&mut w.s, dz).is_err() {
        return false;
    }
    w.s.iter_mut().zip(&w.offset).for_each(|(v, o)| *v = -*v - o);
    for ((o, a), b) in w.x.iter_mut().zip(x).zip(dx) {
        *o = a + b;
    }
    for ((o, a), b) in w.z.iter_mut().zip(z).zip(dz) {
        *o = a + b;
    }
    soc_slacks_from_primal_rows(prob, ws, w, s);
    // Violations up to 1e-6 of the point's size are projected away; the
    // projected point must then still halve the KKT error to be kept.
    let rounding = |v: &[f64]| 1e-6 * (1.0 + norm_inf(v));
    let (ts, tz) = (rounding(&w.s), rounding(&w.z));
    let finite = w.x.iter().chain(&w.s).chain(&w.z).all(|v| v.is_finite());
    finite && into_cones(&prob.cones, &mut w.s, false, ts) && into_cones(&prob.cones, &mut w.z, true, tz)
}
