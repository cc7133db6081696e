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
//! violation larger than 1e-6 of their size refuses the step), and a step is
//! kept only if the KKT error at least halves.

use super::solution::{KktFactor, Solution};
use crate::solve::program::ConeProgram;
use crate::solve::ConeBlock;

/// At most this many steps.
const MAX_STEPS: u32 = 4;

/// The KKT error of a point: the residuals relative to the data, and the
/// complementarity (every component of `s ∘ z`) relative to the point's size.
fn kkt_error(prob: &ConeProgram, x: &[f64], s: &[f64], z: &[f64]) -> f64 {
    let (rd, rp) = prob.residuals(x, s, z);
    let inf = |v: &[f64]| v.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    let scale = 1.0 + inf(x).max(inf(z)).max(inf(s));
    let comp = jordan_product_norm(&prob.cones, s, z);
    (inf(&rd) / (1.0 + inf(&prob.q))).max(inf(&rp) / (1.0 + inf(&prob.b))).max(comp / (scale * scale))
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
        }
    }
    true
}

/// Newton steps from `sol`, with `kkt` factored at its point; returns how many
/// were kept and the KKT error reached.
pub(super) fn polish(prob: &ConeProgram, sol: &mut Solution, kkt: &mut KktFactor) -> (u32, f64) {
    let mut err = kkt_error(prob, &sol.x, &sol.s, &sol.z);
    let mut kept = 0;
    for _ in 0..MAX_STEPS {
        if err <= 1e-15 {
            break;
        }
        let Some((x, s, z)) = step(prob, kkt, &sol.x, &sol.s, &sol.z) else { break };
        let e = kkt_error(prob, &x, &s, &z);
        if e.is_nan() || e > 0.5 * err {
            break;
        }
        (sol.x, sol.s, sol.z, err) = (x, s, z, e);
        kept += 1;
    }
    (kept, err)
}

/// One step; `None` if the solve fails or the new point leaves a cone.
#[allow(clippy::type_complexity)]
fn step(
    prob: &ConeProgram,
    kkt: &mut KktFactor,
    x: &[f64],
    s: &[f64],
    z: &[f64],
) -> Option<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let (n, m) = (prob.n(), prob.m());
    // [−(Px + q + Aᵀz); −(Ax − b)] = [−r_d; s − r_p].
    let (rd, rp) = prob.residuals(x, s, z);
    let mut rhs: Vec<f64> = rd.iter().map(|v| -v).chain(s.iter().zip(&rp).map(|(s, r)| s - r)).collect();
    // The frame's H misses z's tangent part: L̂(z)⁻¹(s ∘ z) = s + offset.
    let offset = kkt.tangent_offset(z);
    rhs[n..].iter_mut().zip(&offset).for_each(|(r, o)| *r += o);
    kkt.solve(&mut rhs).ok()?;
    let (dx, dz) = rhs.split_at(n);
    let mut s_new = vec![0.0; m];
    kkt.mul_h(&mut s_new, dz).ok()?;
    s_new.iter_mut().zip(&offset).for_each(|(v, o)| *v = -*v - o);
    let x_new: Vec<f64> = x.iter().zip(dx).map(|(a, b)| a + b).collect();
    let mut z_new: Vec<f64> = z.iter().zip(dz).map(|(a, b)| a + b).collect();
    // Violations up to 1e-6 of the point's size are projected away; the
    // projected point must then still halve the KKT error to be kept.
    let rounding = |v: &[f64]| 1e-6 * (1.0 + v.iter().fold(0.0f64, |a, x| a.max(x.abs())));
    let (ts, tz) = (rounding(&s_new), rounding(&z_new));
    let finite = x_new.iter().chain(&s_new).chain(&z_new).all(|v| v.is_finite());
    (finite && into_cones(&prob.cones, &mut s_new, false, ts) && into_cones(&prob.cones, &mut z_new, true, tz))
        .then_some((x_new, s_new, z_new))
}
