//! A file's problem solved, written back in the file's own terms, so that
//! anyone can recompute the residuals from the output without trusting the
//! solver (the high-accuracy criterion of qpbenchmark: absolute primal
//! residual, dual residual and duality gap, recomputed from the returned
//! primal and dual solution).
//!
//! **MPS / QPS.** The problem is `min c0 + cᵀx + ½xᵀQx` subject to
//! `lo_i ≤ a_i·x ≤ hi_i` and `l_j ≤ x_j ≤ u_j` ([`MpsModel`]). The output holds
//! `x` keyed by column name, `row_duals` `y` keyed by row name and
//! `bound_duals` `z` keyed by column name, with the convention
//!
//! ```text
//! Qx + c + Σ_i y_i a_i + z = 0,
//! y_i ≥ 0 where a_i·x = hi_i is active, y_i ≤ 0 where a_i·x = lo_i is, 0 where neither;
//! z_j likewise for the bounds,
//! ```
//!
//! so that the duality gap is `|xᵀQx + cᵀx + Σ_i (hi_i y_i⁺ + lo_i y_i⁻) +
//! Σ_j (u_j z_j⁺ + l_j z_j⁻)|` (`y⁺ = max(y, 0)`, `y⁻ = min(y, 0)`). From the
//! cone program of [`mps::convert`], whose KKT conditions
//! are `Px + q + Aᵀζ = 0` with a row `+a_i` for an upper side and `−a_i` for a
//! lower side: `y_i = ζ_upper − ζ_lower` (or `ζ` of an equality row), and
//! likewise `z_j`, except that a multiplier of an active zero bound is column
//! j's stationarity solved for it, in twice the precision (`bound_duals_from_stationarity`).
//!
//! **CBF.** The problem is `min cᵀx + c0` subject to `g = Ax + β ∈ K_con` and
//! `x ∈ K_var` ([`CbfModel`]). The output holds `x`, `con_duals` `y` (one per
//! constraint row) and `var_duals` `v` (one per variable), in the file's order,
//! with
//!
//! ```text
//! c = Aᵀy + v,   y ∈ K_con*,   v ∈ K_var*   (blockwise; 0 on free blocks),
//! ```
//!
//! so that the duality gap is `|cᵀx + βᵀy|`. From the cone program of
//! [`cbf::convert`], whose slack of a block is `s = T g`:
//! `y = Tᵀζ` (a cone's dual variable maps back by the transpose).
//!
//! In both formats `info` holds the solver's own view of the returned point,
//! as its stopping tests take it ([`crate::solve::ipm::Summary`]): the
//! iterations, `primal_residual` and `dual_residual` *relative* to the data
//! (`‖Ax + s − b‖∞ / max(1, ‖b‖∞ + ‖x‖∞ + ‖s‖∞)` and its dual twin) and the
//! `gap` `|pobj − dobj|` in the working precision, all in the cone program's
//! terms. The absolute measures in the file's terms are for the reader to
//! recompute from the solution: that is the point of writing it.
//!
//! In both formats a maximisation is written as the minimisation of `−f`:
//! `Q`, `c` (and `c0`) in the formulas above are then those of `−f`, while
//! `objective` is the file's own `f` at `x`. The primal and dual values are
//! present only for the statuses that return a solution (`optimal`,
//! `optimal_inaccurate`).

use serde_json::{json, Map, Value};

use crate::io::cbf::{self, CbfModel, ConeKind};
use crate::io::mps::{self, MpsModel, Side, Source};
use crate::io::Loaded;
use crate::linalg::Dot2;
use crate::solve::ipm::{Solution, Summary};

/// `ddnc solve`'s JSON for an MPS/QPS file (see the module docs).
pub fn mps_json(loaded: &Loaded<MpsModel, mps::RowOrigin>, sol: &Solution) -> Value {
    let model = &loaded.model;
    let mut out = header(&model.name, sol);
    if sol.status.is_solved() {
        let (mut y, mut z) = (vec![0.0; model.m()], vec![0.0; model.n()]);
        for (origin, &zeta) in loaded.origins.iter().zip(&sol.z) {
            let dual = match origin.source {
                Source::Row(i) => &mut y[i],
                Source::Column(j) => &mut z[j],
            };
            *dual += if origin.side == Side::Lower { -zeta } else { zeta };
        }
        bound_duals_from_stationarity(model, &sol.x, &y, &mut z);
        out.insert("objective".into(), json!(mps_objective(model, &sol.x)));
        out.insert("x".into(), named(&model.col_names, &sol.x));
        out.insert("row_duals".into(), named(&model.row_names, &y));
        out.insert("bound_duals".into(), named(&model.col_names, &z));
    }
    Value::Object(out)
}

/// The multiplier of each active bound, recomputed as what stationarity makes
/// it: `z_j = −(Qx + c + Aᵀy)_j`, summed in twice the precision
/// ([`Dot2`]) and rounded once.
///
/// The cone program's `ζ` of a bound row is one unknown of its KKT solve, and
/// carries that solve's rounding; given x and y, the bound multiplier is
/// determined by column j's stationarity alone. Recomputed, that column's dual
/// residual is the rounding of `z_j` itself, half an ulp, where the solver's
/// `ζ` left up to a few ulps of a multiplier that may be 1e7 or more
/// (Maros–Mészáros QBEACONF: 1.3e-9 at `z_j` ≈ −1.6e7, whose half ulp is
/// 9.3e-10). Only where the active bound is 0 and the recomputed value keeps
/// the side (its sign): there the gap's term `bound·z_j` is 0 whatever `z_j`
/// is, so the dual residual improves and nothing else moves. At a nonzero
/// bound, changing `z_j` moves the gap by `bound·Δz_j` (Netlib SHELL's gap went
/// from 2e-19 to 1.2e-8 that way): the solver's value, consistent with the rest
/// of its solve, stands.
fn bound_duals_from_stationarity(model: &MpsModel, x: &[f64], y: &[f64], z: &mut [f64]) {
    let sign = if model.sense == crate::io::Sense::Maximize { -1.0 } else { 1.0 };
    let mut sums: Vec<Dot2> = model.c.iter().map(|c| Dot2::new(sign * c)).collect();
    for &(i, j, a) in &model.entries {
        sums[j].add_product(a, y[i]);
    }
    for &(i, j, q) in &model.quad {
        sums[i].add_product(sign * q, x[j]);
        if i != j {
            sums[j].add_product(sign * q, x[i]);
        }
    }
    for (j, (z, sum)) in z.iter_mut().zip(sums).enumerate() {
        let recomputed = -sum.value();
        let bound = if *z > 0.0 { model.upper[j] } else { model.lower[j] };
        if *z != 0.0 && bound == 0.0 && recomputed.is_finite() && recomputed * *z > 0.0 {
            *z = recomputed;
        }
    }
}

/// `ddnc solve`'s JSON for a CBF file (see the module docs).
pub fn cbf_json(loaded: &Loaded<CbfModel, cbf::RowOrigin>, sol: &Solution) -> Value {
    let model = &loaded.model;
    let mut out = header("", sol);
    if sol.status.is_solved() {
        // Where each block of `CON` and `VAR` starts in the file's numbering.
        let starts = |blocks: &[(ConeKind, usize)]| {
            blocks.iter().scan(0, |at, &(_, dim)| Some(std::mem::replace(at, *at + dim))).collect::<Vec<_>>()
        };
        let (con_start, var_start) = (starts(&model.con_cones), starts(&model.var_cones));
        let (mut y, mut v) = (vec![0.0; model.m], vec![0.0; model.n]);
        for (origin, &zeta) in loaded.origins.iter().zip(&sol.z) {
            let (blocks, start, dual) = match origin.part {
                cbf::Part::Con => (&model.con_cones, con_start[origin.block], &mut y),
                cbf::Part::Var => (&model.var_cones, var_start[origin.block], &mut v),
            };
            // Tᵀζ: row `offset` of the block's map `T` (see `cbf::convert`).
            let k = origin.offset;
            match blocks[origin.block].0 {
                ConeKind::Nonpos => dual[start + k] -= zeta,
                ConeKind::RotatedQuad if k < 2 => {
                    dual[start] += zeta;
                    dual[start + 1] += if k == 0 { zeta } else { -zeta };
                }
                ConeKind::RotatedQuad => dual[start + k] += std::f64::consts::SQRT_2 * zeta,
                _ => dual[start + k] += zeta,
            }
        }
        let mut f = model.c0;
        for &(j, c) in &model.c {
            f += c * sol.x[j];
        }
        out.insert("objective".into(), json!(f));
        out.insert("x".into(), json!(sol.x));
        out.insert("con_duals".into(), json!(y));
        out.insert("var_duals".into(), json!(v));
    }
    Value::Object(out)
}

/// `c0 + cᵀx + ½xᵀQx` as the file writes it (each off-diagonal `QUADOBJ`
/// entry stands for both triangles).
fn mps_objective(model: &MpsModel, x: &[f64]) -> f64 {
    let mut f = model.c0 + model.c.iter().zip(x).map(|(c, x)| c * x).sum::<f64>();
    for &(i, j, q) in &model.quad {
        f += if i == j { 0.5 * q * x[i] * x[i] } else { q * x[i] * x[j] };
    }
    f
}

/// The fields every output has: the problem's name, the status, and what the
/// solver measured (on its own scaled data; the recomputed figures are the
/// reader's to make).
fn header(name: &str, sol: &Solution) -> Map<String, Value> {
    let status = crate::runtime::node::ipm_status(sol.status).name();
    let Summary { iterations, primal_residual, dual_residual, gap, .. } = sol.info;
    let mut out = Map::new();
    if !name.is_empty() {
        out.insert("problem".into(), json!(name));
    }
    out.insert("status".into(), json!(status));
    out.insert(
        "info".into(),
        json!({
            "solver": "ipm",
            "solver_status": format!("{:?}", sol.status),
            "iterations": iterations,
            "primal_residual": primal_residual,
            "dual_residual": dual_residual,
            "gap": gap,
        }),
    );
    out
}

fn named(names: &[String], values: &[f64]) -> Value {
    Value::Object(names.iter().zip(values).map(|(n, &v)| (n.clone(), json!(v))).collect())
}
