//! `ddnc run --check-gradients`: a node's backward pass against central
//! differences of its forward pass, on the user's own instance.
//!
//! With `L(θ) = Σ_k ⟨w_k, y_k(θ)⟩` (the cotangents `w` against the outputs `y`),
//! each checked entry `θ_i` of a parameter gives
//! `(L(θ + h eᵢ) − L(θ − h eᵢ)) / 2h`, `h = 10⁻⁶ · max(1, |θᵢ|)`, beside the
//! backward pass's `∂L/∂θᵢ`. A symmetric (`sym`, `psd`) parameter is perturbed
//! symmetrically (`θᵢⱼ` and `θⱼᵢ` together), so its difference is compared with
//! `gᵢⱼ + gⱼᵢ`. Where a step would leave the parameter's domain (a `nonneg` or
//! `pos` entry near 0, a `psd` matrix near singular) or the solve there fails,
//! the one-sided difference on the side that solves is used; an entry with
//! neither is skipped (and not counted as checked).
//!
//! Conic nodes are re-solved at tolerance 1e-12 (a difference quotient of a
//! solve at 1e-8 carries an error of order 1e-8 / h = 1e-2); smooth nodes with
//! their own solver, which converges quadratically.

use std::collections::BTreeMap;

use super::inputs::bind;
use super::node::{forward, Options, Status};
use crate::analysis::Analysed;
use crate::eval::Tensor;
use crate::solve::ipm;
use crate::syntax::ast::BaseType;

/// At most this many entries of each parameter are checked (evenly spread over
/// its entries when it has more): two solves each.
pub const MAX_ENTRIES: usize = 64;

/// The verdict for one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct GradientCheck {
    /// The parameter's name.
    pub parameter: String,
    /// `‖g − d‖∞ / max(1, ‖g‖∞, ‖d‖∞)` over the checked entries (`g` the
    /// backward pass, `d` the differences): relative for large gradients,
    /// absolute below 1 (where the differences' own error, ~1e-10, is absolute).
    pub worst_relative_error: f64,
    /// Entries compared.
    pub checked: usize,
    /// The parameter's independent entries (a symmetric one's upper triangle).
    pub entries: usize,
}

/// Each parameter's backward-pass `gradients` checked against differences of
/// re-solves of `node` at `inputs` (see the module docs).
pub fn check_gradients(
    node: &Analysed<'_>,
    inputs: &BTreeMap<String, Tensor>,
    cotangents: &BTreeMap<String, Tensor>,
    gradients: &BTreeMap<String, Tensor>,
) -> Vec<GradientCheck> {
    let options = Options::default().with_settings(ipm::Settings {
        tol_gap_abs: 1e-12,
        tol_gap_rel: 1e-12,
        tol_feas: 1e-12,
        ..ipm::Settings::default()
    });
    let loss = |values: &BTreeMap<String, Tensor>| -> Option<f64> {
        let bound = bind(node.node, values).ok()?;
        let solved = forward(node, &bound, &options).ok()?;
        // At 1e-12 a second-order cone's polished gap may only reach the reduced
        // tolerances (`optimal_inaccurate`); such a point is still accurate to ~1e-10.
        matches!(solved.status, Status::Optimal | Status::OptimalInaccurate).then(|| {
            let dot = |(name, y): &(String, Tensor)| {
                cotangents.get(name).map_or(0.0, |w| w.data.iter().zip(&y.data).map(|(w, y)| w * y).sum::<f64>())
            };
            solved.outputs.iter().map(dot).sum()
        })
    };
    let mut report = Vec::new();
    for param in &node.node.params {
        let (Some(theta), Some(g)) = (inputs.get(&param.name), gradients.get(&param.name)) else { continue };
        let symmetric = matches!(param.base, BaseType::Sym | BaseType::Psd);
        let n = theta.shape.get(1).copied().unwrap_or(1);
        // Independent entries: the upper triangle of a symmetric matrix, else all.
        let independent: Vec<(usize, usize)> =
            (0..theta.data.len()).map(|k| (k / n, k % n)).filter(|&(i, j)| !symmetric || i <= j).collect();
        let stride = independent.len().div_ceil(MAX_ENTRIES).max(1);
        let (mut worst, mut scale, mut checked) = (0.0f64, 1.0f64, 0);
        for &(i, j) in independent.iter().step_by(stride) {
            let (ij, ji) = (i * n + j, j * n + i);
            let h = 1e-6 * theta.data[ij].abs().max(1.0);
            let shifted = |step: f64| {
                let mut values = inputs.clone();
                let t = values.get_mut(&param.name)?;
                t.data[ij] += step;
                if symmetric && ij != ji {
                    t.data[ji] += step;
                }
                loss(&values)
            };
            let difference = match (shifted(h), shifted(-h)) {
                (Some(up), Some(down)) => (up - down) / (2.0 * h),
                (Some(up), None) => (up - loss(inputs).unwrap_or(f64::NAN)) / h,
                (None, Some(down)) => (loss(inputs).unwrap_or(f64::NAN) - down) / h,
                (None, None) => continue,
            };
            if !difference.is_finite() {
                continue;
            }
            let backward = if symmetric && ij != ji { g.data[ij] + g.data[ji] } else { g.data[ij] };
            worst = worst.max((backward - difference).abs());
            scale = scale.max(backward.abs()).max(difference.abs());
            checked += 1;
        }
        let worst_relative_error = worst / scale;
        report.push(GradientCheck {
            parameter: param.name.clone(),
            worst_relative_error,
            checked,
            entries: independent.len(),
        });
    }
    report
}
