//! The problem data as the iterations see it: P and A in CSC form, and Ruiz
//! equilibration.
//!
//! Equilibration (Ruiz 2001, as in OSQP and Clarabel) rescales the problem to
//!
//! ```text
//! P̃ = c D P D,   q̃ = c D q,   Ã = E A D,   b̃ = E b,
//! ```
//!
//! with `D`, `E` positive diagonal and `c > 0`, chosen so that the columns of
//! the KKT matrix `[P Aᵀ; A 0]` have unit ∞-norm. The solutions map back as
//! `x = D x̃`, `s = E⁻¹ s̃`, `z = E z̃ / c`. `E` is constant on each
//! second-order-cone block, so that `E s̃ ∈ K ⇔ s ∈ K`.

use super::csc::{is_leading, Csc};
use super::settings::Settings;
use crate::linalg::{norm_inf, vectorised};
use crate::solve::program::{ConeBlock, ConeProgram};

/// The scalings `D`, `E`, `c` and their inverses.
#[derive(Clone, Debug)]
pub(crate) struct Equilibration {
    pub d: Vec<f64>,
    pub dinv: Vec<f64>,
    pub e: Vec<f64>,
    pub einv: Vec<f64>,
    pub c: f64,
}

/// The scaled problem.
#[derive(Clone, Debug)]
pub(crate) struct ProblemData {
    pub n: usize,
    pub m: usize,
    /// P̃, upper triangle.
    pub p: Csc,
    pub a: Csc,
    pub q: Vec<f64>,
    pub b: Vec<f64>,
    /// True when P has no nonzero entry (an LP: changes the initial point).
    pub p_is_zero: bool,
    pub equil: Equilibration,
    /// ‖q‖∞ and ‖b‖∞ of the original data, for the relative residuals.
    pub norm_q: f64,
    pub norm_b: f64,
    /// `ω = min(1, max(‖q‖∞, max|Pᵢⱼ|))` (1 without an objective): the unit
    /// the objective-side measures are taken in (see [`super::Summary`]).
    pub objective_scale: f64,
    pub c0: f64,
    /// `max |P̃ⱼⱼ|`, for the static regularisation of every factorisation.
    pub max_p_diag: f64,
    /// The slot of each triplet of P and A in `p.val`, `a.val`.
    p_slot: Vec<usize>,
    a_slot: Vec<usize>,
    /// Scratch for the Ruiz passes (n, m, m), and the ∞-norms of P's
    /// columns, A's columns and A's rows (n, n, m).
    work_n: Vec<f64>,
    work_m: Vec<f64>,
    rectify: Vec<f64>,
    norm_p: Vec<f64>,
    norm_a_col: Vec<f64>,
    norm_a_row: Vec<f64>,
}

impl ProblemData {
    /// The pattern of `prob` (sorted once); the values are set by
    /// [`ProblemData::load`].
    pub fn new(prob: &ConeProgram) -> Self {
        let (n, m) = (prob.n(), prob.m());
        let (p, p_slot) = Csc::from_triplets(&prob.p);
        let (a, a_slot) = Csc::from_triplets(&prob.a);
        ProblemData {
            n,
            m,
            p,
            a,
            q: vec![0.0; n],
            b: vec![0.0; m],
            p_is_zero: true,
            equil: Equilibration { d: vec![1.0; n], dinv: vec![1.0; n], e: vec![1.0; m], einv: vec![1.0; m], c: 1.0 },
            norm_q: 0.0,
            norm_b: 0.0,
            objective_scale: 1.0,
            c0: 0.0,
            max_p_diag: 0.0,
            p_slot,
            a_slot,
            work_n: vec![0.0; n],
            work_m: vec![0.0; m],
            rectify: vec![0.0; m],
            norm_p: vec![0.0; n],
            norm_a_col: vec![0.0; n],
            norm_a_row: vec![0.0; m],
        }
    }

    /// The values of `prob` (the pattern [`ProblemData::new`] saw, the same
    /// cones), equilibrated; allocates nothing. `Err` if the pattern differs.
    pub fn load(&mut self, prob: &ConeProgram, settings: &Settings) -> Result<(), String> {
        if (prob.n(), prob.m()) != (self.n, self.m) {
            return Err(format!(
                "the program has {} variables and {} rows, the workspace was built for {} and {}",
                prob.n(),
                prob.m(),
                self.n,
                self.m
            ));
        }
        self.p.refill(&prob.p, &self.p_slot, "P")?;
        self.a.refill(&prob.a, &self.a_slot, "A")?;
        self.q.copy_from_slice(&prob.q);
        self.b.copy_from_slice(&prob.b);
        self.norm_q = norm_inf(&prob.q);
        self.norm_b = norm_inf(&prob.b);
        self.objective_scale = prob.objective_scale();
        self.c0 = prob.c0;
        self.p_is_zero = self.p.val.iter().all(|&v| v == 0.0);
        let eq = &mut self.equil;
        for v in [&mut eq.d, &mut eq.dinv, &mut eq.e, &mut eq.einv] {
            v.fill(1.0);
        }
        eq.c = 1.0;
        if settings.equilibrate_enable {
            self.equilibrate(&prob.cones, settings);
        }
        let p = &self.p;
        self.max_p_diag =
            (0..self.n).flat_map(|j| p.col(j).filter(move |&(i, _)| i == j)).fold(0.0, |a, (_, v)| a.max(v.abs()));
        Ok(())
    }

    /// Ruiz passes on `[P Aᵀ; A 0]` (the scheme of Clarabel): each pass divides
    /// every row and column by the square root of its ∞-norm, the accumulated
    /// scalings clamped to `[equilibrate_min_scaling, equilibrate_max_scaling]`,
    /// then scales the cost by `1/max(mean column ∞-norm of P̃, ‖q̃‖∞)` (when
    /// both are nonzero). Finally `E` is replaced on each second-order-cone
    /// block by its mean there, so that the block keeps its cone.
    fn equilibrate(&mut self, cones: &[ConeBlock], settings: &Settings) {
        let (n, m) = (self.n, self.m);
        let (lo, hi) = (settings.equilibrate_min_scaling, settings.equilibrate_max_scaling);
        let (dx, dz) = (&mut self.work_n, &mut self.work_m);
        // δ = 1/√norm (1 for an empty row or column), bounded so that the
        // accumulated scaling stays in [lo, hi].
        let step = |norm: f64, acc: f64| {
            let delta = if norm > 0.0 { 1.0 / norm.sqrt() } else { 1.0 };
            delta.clamp(lo / acc, hi / acc)
        };
        let eq = &mut self.equil;
        // The ∞-norms of the columns of P (symmetric) and of A's columns and
        // rows: taken once here, then by each pass's scaling sweep from the
        // values it writes, and multiplied by the cost scaling c (exact:
        // rounding is monotone, so `max |c v| = c max |v|` in floating point).
        let (norm_p, norm_a_col, norm_a_row) = (&mut self.norm_p, &mut self.norm_a_col, &mut self.norm_a_row);
        for v in [&mut *norm_p, &mut *norm_a_col] {
            v.fill(0.0);
        }
        norm_a_row.fill(0.0);
        col_norms_sym(&self.p, norm_p);
        scale_with_norms(&mut self.a, None, norm_a_col, norm_a_row);
        for _ in 0..settings.equilibrate_max_iter {
            for ((d, &np), &na) in dx.iter_mut().zip(norm_p.iter()).zip(norm_a_col.iter()) {
                *d = np.max(na);
            }
            dz.copy_from_slice(norm_a_row);
            for (dj, &acc) in dx.iter_mut().zip(&eq.d) {
                *dj = step(*dj, acc);
            }
            for (di, &acc) in dz.iter_mut().zip(&eq.e) {
                *di = step(*di, acc);
            }
            for v in [&mut *norm_p, &mut *norm_a_col] {
                v.fill(0.0);
            }
            norm_a_row.fill(0.0);
            self.p.scale(dx, dx);
            col_norms_sym(&self.p, norm_p);
            scale_with_norms(&mut self.a, Some((&dz[..], &dx[..])), norm_a_col, norm_a_row);
            for j in 0..n {
                self.q[j] *= dx[j];
                eq.d[j] *= dx[j];
            }
            for i in 0..m {
                self.b[i] *= dz[i];
                eq.e[i] *= dz[i];
            }
            // Cost scaling.
            let mean_p = if n > 0 { norm_p.iter().sum::<f64>() / n as f64 } else { 0.0 };
            let norm_q = norm_inf(&self.q);
            if mean_p > 0.0 && norm_q > 0.0 {
                let c = (1.0 / mean_p.max(norm_q)).clamp(lo / eq.c, hi / eq.c);
                self.p.val.iter_mut().for_each(|v| *v *= c);
                norm_p.iter_mut().for_each(|v| *v *= c);
                self.q.iter_mut().for_each(|v| *v *= c);
                eq.c *= c;
            }
        }
        // One scaling per second-order, exponential or PSD cone block (none is
        // invariant under scaling its rows apart): the mean of its rows'.
        let mut row = 0;
        let rectify = &mut self.rectify;
        rectify.fill(1.0);
        for c in cones {
            let d = c.dim();
            if matches!(c, ConeBlock::SecondOrder(_) | ConeBlock::Exponential | ConeBlock::Psd(_)) {
                let block = row..row + d;
                let mean = eq.e[block.clone()].iter().sum::<f64>() / d as f64;
                for i in block {
                    rectify[i] = mean / eq.e[i];
                    eq.e[i] = mean;
                    self.b[i] *= rectify[i];
                }
            }
            row += d;
        }
        self.work_n.fill(1.0);
        self.a.scale(rectify, &self.work_n);
        for (inv, d) in eq.dinv.iter_mut().zip(&eq.d) {
            *inv = 1.0 / d;
        }
        for (inv, e) in eq.einv.iter_mut().zip(&eq.e) {
            *inv = 1.0 / e;
        }
    }
}

/// Column ∞-norms of a symmetric matrix stored as its upper triangle, maxed
/// into `out` (vectorised; a maximum is exact in any order).
fn col_norms_sym(p: &Csc, out: &mut [f64]) {
    vectorised(
        #[inline(always)]
        || {
            for j in 0..p.ncols {
                let (rows, vals) = p.col_slices(j);
                let top = norm_inf(vals);
                if is_leading(rows) {
                    for (o, v) in out[..vals.len()].iter_mut().zip(vals) {
                        *o = o.max(v.abs());
                    }
                } else {
                    for (&i, v) in rows.iter().zip(vals) {
                        out[i] = out[i].max(v.abs());
                    }
                }
                out[j] = out[j].max(top);
            }
        },
    );
}

/// `A ← diag(l) A diag(r)` when `scaling` is `Some((l, r))`, and the ∞-norms
/// of the (new) columns and rows maxed into `col` and `row`, in one sweep.
fn scale_with_norms(a: &mut Csc, scaling: Option<(&[f64], &[f64])>, col: &mut [f64], row: &mut [f64]) {
    let (col_ptr, row_idx, val) = (&a.col_ptr, &a.row_idx, &mut a.val);
    vectorised(
        #[inline(always)]
        || {
            for (j, cj) in col.iter_mut().enumerate() {
                let k = col_ptr[j]..col_ptr[j + 1];
                let (rows, vals) = (&row_idx[k.clone()], &mut val[k]);
                if is_leading(rows) {
                    if let Some((l, r)) = scaling {
                        let rj = r[j];
                        for (v, li) in vals.iter_mut().zip(&l[..rows.len()]) {
                            *v *= li * rj;
                        }
                    }
                    for (ri, v) in row[..vals.len()].iter_mut().zip(vals.iter()) {
                        *ri = ri.max(v.abs());
                    }
                } else {
                    if let Some((l, r)) = scaling {
                        let rj = r[j];
                        for (v, &i) in vals.iter_mut().zip(rows) {
                            *v *= l[i] * rj;
                        }
                    }
                    for (&i, v) in rows.iter().zip(vals.iter()) {
                        row[i] = row[i].max(v.abs());
                    }
                }
                *cj = cj.max(norm_inf(vals));
            }
        },
    );
}

/// `‖diag(d) x‖∞`.
pub(crate) fn norm_inf_scaled(x: &[f64], d: &[f64]) -> f64 {
    x.iter().zip(d).fold(0.0, |m, (v, s)| f64::max(m, (v * s).abs()))
}
