//! A dual active-set method for small strictly convex QPs (Goldfarb & Idnani,
//! "A numerically stable dual method for solving strictly convex quadratic
//! programs", Math. Programming 27, 1983), the method of quadprog and of
//! eiquadprog, for the programs whose cones are zero and orthant blocks:
//!
//! ```text
//! min ½xᵀPx + qᵀx   s.t.   a_iᵀx = b_i (zero rows),   a_iᵀx ≤ b_i (orthant rows),   P ≻ 0.
//! ```
//!
//! In the method's terms each row is a constraint `n_iᵀx ≥ b0_i` (or `=`) with
//! `n_i = σ_i a_i`, `b0_i = σ_i b_i`, `σ_i = +1` on a zero row and `−1` on an
//! orthant row, and multipliers `u` with `Px + q − N u = 0`; the cone program's
//! `z_i = −σ_i u_i` (so `z ≥ 0` on the orthant, as the interior point method's).
//!
//! Starting from the unconstrained minimiser `x = −P⁻¹q` (dual feasible, no
//! constraint active), the equality rows are added, then the most violated
//! inequality (by distance `s_i/‖a_i‖`) each step: a step along the primal
//! direction `Δx = J₂J₂ᵀn_p` and the dual one `r = R⁻¹J₁ᵀn_p` keeps every active
//! constraint satisfied and every multiplier nonnegative, dropping a constraint
//! whose multiplier reaches zero first. The factors are `J = L⁻ᵀQ` and `R`, with
//! `P = LLᵀ` and `L⁻¹N_S = Q₁R` the active normals' QR: adding a constraint is
//! `n − |S|` Givens rotations of J's columns, dropping one restores R's
//! triangle with rotations of its rows. Each step costs O(n² + mn); a problem
//! with k active constraints ends after k additions plus the drops, ~k steps
//! in practice (the interior point method's 7–10 iterations each factor an
//! (n + m)-sized system, refined).
//!
//! The same factors solve the equality-constrained KKT system of the final
//! active set S (`P w − N_S y = f`, `N_Sᵀw = g`):
//!
//! ```text
//! d = Jᵀf,   t = R⁻ᵀg,   w = J₂d₂ + J₁t,   y = R⁻¹(t − d₁),
//! ```
//!
//! once more at the end (the point and multipliers recomputed from the active
//! set, free of the steps' accumulated rounding, then one step of iterative
//! refinement) and for the backward pass: the interior point method's
//! `K = [P Aᵀ; A −H]` with `H = 0` on the active rows and `H = ∞` on the others
//! (their `w_z = 0`), the limit its own `H = diag(s/z)` tends to at a strictly
//! complementary solution.
//!
//! The method refuses ([`Refusal`]) rather than guesses, and the caller then
//! solves by the interior point method, which classifies what this cannot: P
//! not numerically positive definite, linearly dependent active normals, a
//! violated constraint no step can satisfy (infeasible: the interior point
//! method returns the certificate), the iteration cap, a point short of the
//! interior point method's own optimality tolerances, and a solution that is
//! not strictly complementary (an active inequality with a multiplier, or an
//! inactive one with a slack, within `STRICT_MARGIN` of zero: the solution map
//! has a kink there, and the interior point method's backward returns its
//! smoothed derivative and names the row in `info.weakly_active`).
//!
//! Storage is dense and sized once per (n, m): P and J, R column-major, A by
//! rows. A solve allocates nothing.

use super::ipm::Settings;
use super::program::{on_bound, ConeBlock, ConeProgram};
use super::SolveError;
use crate::linalg::{axpy, norm_inf};

/// The largest number of variables the runtime solves by this method (the
/// interior point method beyond; measured in benches/qp_layer.rs).
pub const MAX_VARIABLES: usize = 64;

/// A pivot of P's Cholesky factor below this times P's largest diagonal entry
/// means P is not numerically positive definite (cond(P) ≳ 1e10).
const PD_TOL: f64 = 1e-10;

/// A new active normal whose component off the span of the others is below
/// this (relative) is dependent on them.
const DEPENDENT_TOL: f64 = 1e-10;

/// A row is violated when `s_i < −FEAS_TOL (1 + |b_i| + ‖a_i‖₁‖x‖∞)`: the
/// rounding of `b_i − a_iᵀx` with a margin.
const FEAS_TOL: f64 = 1e-11;

/// Strict complementarity: an active inequality's multiplier above
/// `STRICT_MARGIN (ω + ‖z‖∞)` (multipliers scale with the objective: ω is
/// its unit, [`ConeProgram::objective_scale`]), an inactive one's slack above
/// `STRICT_MARGIN (1 + |b_i| + ‖a_i‖₁‖x‖∞)`.
const STRICT_MARGIN: f64 = 1e-7;

/// Why the method declined a program (the interior point method then solves it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A second-order cone, or no variables.
    Structure,
    /// P is not numerically positive definite.
    NotPositiveDefinite,
    /// The active constraints are linearly dependent.
    DependentConstraints,
    /// A violated constraint cannot be satisfied.
    Infeasible,
    /// The iteration limit was reached.
    IterationLimit,
    /// The point misses the interior point method's optimality tolerances.
    Inaccurate,
    /// Not strictly complementary (see the module doc).
    Degenerate,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Structure => "not a QP with zero and orthant rows only",
            Refusal::NotPositiveDefinite => "P is not numerically positive definite",
            Refusal::DependentConstraints => "the active constraints are linearly dependent",
            Refusal::Infeasible => "a violated constraint cannot be satisfied (infeasible)",
            Refusal::IterationLimit => "the iteration limit was reached",
            Refusal::Inaccurate => "the point misses the optimality tolerances",
            Refusal::Degenerate => "the solution is not strictly complementary",
        })
    }
}

/// What a solve reports, in the interior point method's measures
/// (`ipm::Summary`'s definitions, on the original data).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Report {
    /// Constraint additions and drops.
    pub iterations: u32,
    /// Active rows at the solution (equalities included).
    pub active: usize,
    /// `½xᵀPx + qᵀx + c0` at the solution.
    pub objective: f64,
    /// `‖Ax + s − b‖∞`, relative as `ipm::Summary`'s.
    pub primal_residual: f64,
    /// `‖Px + q + Aᵀz‖∞`, relative as `ipm::Summary`'s.
    pub dual_residual: f64,
    /// `|pobj − dobj|`.
    pub gap: f64,
}

/// The method's workspace: the program's data dense, the factors, the active
/// set and the solution (see the module doc).
#[derive(Debug, Default)]
pub struct ActiveSet {
    n: usize,
    m: usize,
    /// P (both triangles) and J, R column-major n × n; A by rows, m × n.
    p: Vec<f64>,
    a: Vec<f64>,
    q: Vec<f64>,
    b: Vec<f64>,
    c0: f64,
    /// [`ConeProgram::objective_scale`].
    omega: f64,
    j: Vec<f64>,
    r: Vec<f64>,
    /// Per row: an equality (σ = +1), `‖a_i‖₁` and `1/‖a_i‖₂`.
    equality: Vec<bool>,
    norm1: Vec<f64>,
    inv_norm2: Vec<f64>,
    /// The active rows in order (equalities first) and their multipliers `u`.
    active: Vec<usize>,
    u: Vec<f64>,
    is_active: Vec<bool>,
    /// The point: x, and the cone program's s and z (length m).
    x: Vec<f64>,
    s: Vec<f64>,
    z: Vec<f64>,
    /// Scratch: `d = Jᵀn`, the primal step, the dual step (n each), and
    /// right-hand sides and corrections of the reduced KKT solves.
    d: Vec<f64>,
    step: Vec<f64>,
    dual: Vec<f64>,
    f: Vec<f64>,
    g: Vec<f64>,
    w: Vec<f64>,
    y: Vec<f64>,
    dw: Vec<f64>,
    dy: Vec<f64>,
    report: Report,
    /// The factors describe the last solve's active set.
    solved: bool,
}

/// Whether the runtime tries the method on programs of the structure of
/// `prog`: zero and orthant cones only, 1 ≤ n ≤ [`MAX_VARIABLES`].
pub fn applies(prog: &ConeProgram) -> bool {
    prog.n() <= MAX_VARIABLES && is_orthant_qp(prog)
}

/// Zero and orthant cones only, at least one variable: what [`ActiveSet::solve`] accepts.
fn is_orthant_qp(prog: &ConeProgram) -> bool {
    prog.n() > 0 && prog.cones.iter().all(|c| c.is_polyhedral())
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// The Givens rotation `(c, s)` with `[c s; −s c][a; b] = [h; 0]`, and h.
fn givens(a: f64, b: f64) -> (f64, f64, f64) {
    let h = a.hypot(b);
    (a / h, b / h, h)
}

/// Columns `i`, `k` of the column-major `m` (order n) become
/// `c·col_i + s·col_k` and `−s·col_i + c·col_k`.
fn rotate_columns(m: &mut [f64], n: usize, i: usize, k: usize, c: f64, s: f64) {
    let (lo, hi) = m.split_at_mut(k * n);
    let (ci, ck) = (&mut lo[i * n..i * n + n], &mut hi[..n]);
    for (a, b) in ci.iter_mut().zip(ck.iter_mut()) {
        let (t1, t2) = (*a, *b);
        *a = c * t1 + s * t2;
        *b = -s * t1 + c * t2;
    }
}

impl ActiveSet {
    /// Solves `prog` (zero and orthant rows) to the optimality tolerances of
    /// `settings`, or says why not. The point is then [`ActiveSet::x`],
    /// [`ActiveSet::s`], [`ActiveSet::z`], and [`ActiveSet::kkt_solve`] solves
    /// with the KKT matrix at it.
    pub fn solve(&mut self, prog: &ConeProgram, settings: &Settings) -> Result<Report, Refusal> {
        self.solved = false;
        if !is_orthant_qp(prog) {
            return Err(Refusal::Structure);
        }
        self.load(prog);
        if !self.factor_p() {
            return Err(Refusal::NotPositiveDefinite);
        }
        let report = self.iterate()?;
        self.snap_to_bounds();
        self.accept(settings, report)
    }

    fn resize(&mut self, n: usize, m: usize) {
        if (self.n, self.m) == (n, m) && self.p.len() == n * n {
            return;
        }
        (self.n, self.m) = (n, m);
        for (v, len) in [
            (&mut self.p, n * n),
            (&mut self.j, n * n),
            (&mut self.r, n * n),
            (&mut self.a, m * n),
            (&mut self.q, n),
            (&mut self.b, m),
            (&mut self.norm1, m),
            (&mut self.inv_norm2, m),
            (&mut self.x, n),
            (&mut self.s, m),
            (&mut self.z, m),
            (&mut self.d, n),
            (&mut self.step, n),
            (&mut self.dual, n),
            (&mut self.f, n),
            (&mut self.g, n),
            (&mut self.w, n),
            (&mut self.y, n),
            (&mut self.dw, n),
            (&mut self.dy, n),
            (&mut self.u, n),
        ] {
            v.clear();
            v.resize(len, 0.0);
        }
        self.equality = vec![false; m];
        self.is_active = vec![false; m];
        self.active = Vec::with_capacity(n);
    }

    /// The program's values into the dense buffers.
    fn load(&mut self, prog: &ConeProgram) {
        let (n, m) = (prog.n(), prog.m());
        self.resize(n, m);
        self.p.fill(0.0);
        for &(i, j, v) in &prog.p.entries {
            self.p[i + j * n] += v;
            if i != j {
                self.p[j + i * n] += v;
            }
        }
        self.a.fill(0.0);
        for &(i, j, v) in &prog.a.entries {
            self.a[i * n + j] += v;
        }
        self.q.copy_from_slice(&prog.q);
        self.b.copy_from_slice(&prog.b);
        self.c0 = prog.c0;
        self.omega = prog.objective_scale();
        let mut row = 0;
        for c in &prog.cones {
            let eq = matches!(c, ConeBlock::Zero(_));
            self.equality[row..row + c.dim()].fill(eq);
            row += c.dim();
        }
        for i in 0..m {
            let a = &self.a[i * n..(i + 1) * n];
            self.norm1[i] = a.iter().map(|v| v.abs()).sum();
            let n2 = dot(a, a).sqrt();
            self.inv_norm2[i] = if n2 > 0.0 { 1.0 / n2 } else { 0.0 };
        }
    }

    /// `P = LLᵀ` (in R's buffer) and `J = L⁻ᵀ`; false if a pivot is below
    /// `PD_TOL` times P's largest diagonal entry.
    fn factor_p(&mut self) -> bool {
        let n = self.n;
        let l = &mut self.r;
        l.copy_from_slice(&self.p);
        let max_diag = (0..n).fold(0.0f64, |m, i| m.max(self.p[i + i * n]));
        if !(max_diag > 0.0 && max_diag.is_finite()) {
            return false;
        }
        for k in 0..n {
            let pivot = l[k + k * n];
            if pivot.is_nan() || pivot <= PD_TOL * max_diag {
                return false;
            }
            let lkk = pivot.sqrt();
            let (done, rest) = l.split_at_mut((k + 1) * n);
            let col_k = &mut done[k * n..];
            col_k[k] = lkk;
            col_k[k + 1..].iter_mut().for_each(|v| *v /= lkk);
            for jj in k + 1..n {
                let ljk = col_k[jj];
                let col_j = &mut rest[(jj - k - 1) * n..(jj - k) * n];
                for (t, &lik) in col_j[jj..].iter_mut().zip(&col_k[jj..]) {
                    *t -= lik * ljk;
                }
            }
        }
        // Lᵀ J = I, column by column (J is upper triangular).
        self.j.fill(0.0);
        for c in 0..n {
            let col = &mut self.j[c * n..(c + 1) * n];
            col[c] = 1.0 / l[c + c * n];
            for i in (0..c).rev() {
                let li = &l[i * n..(i + 1) * n];
                col[i] = -dot(&li[i + 1..=c], &col[i + 1..=c]) / li[i];
            }
        }
        true
    }

    /// `d = Jᵀ n_row` (`n_row = σ a_row`), the primal step `J₂d₂` into `step`
    /// and the dual step `R⁻¹d₁` into `dual`; returns `(‖d₂‖², ‖d‖²)`.
    fn directions(&mut self, row: usize) -> (f64, f64) {
        let (n, iq) = (self.n, self.active.len());
        let sigma = if self.equality[row] { 1.0 } else { -1.0 };
        let a = &self.a[row * n..(row + 1) * n];
        for k in 0..n {
            self.d[k] = sigma * dot(&self.j[k * n..(k + 1) * n], a);
        }
        self.step.fill(0.0);
        for k in iq..n {
            axpy(&mut self.step, self.d[k], &self.j[k * n..(k + 1) * n]);
        }
        let dual = &mut self.dual[..iq];
        dual.copy_from_slice(&self.d[..iq]);
        for k in (0..iq).rev() {
            let col = &self.r[k * n..k * n + k + 1];
            dual[k] /= col[k];
            let v = dual[k];
            axpy(&mut dual[..k], -v, &col[..k]);
        }
        let d2 = dot(&self.d[iq..], &self.d[iq..]);
        (d2, d2 + dot(&self.d[..iq], &self.d[..iq]))
    }

    /// Adds `row` to the active set with the `d` of [`Self::directions`]:
    /// rotations of J's columns `iq..n` bring `d` to `(d₁, h, 0, …)`, and R
    /// gains the column `(d₁, h)`.
    fn add(&mut self, row: usize, multiplier: f64) {
        let (n, iq) = (self.n, self.active.len());
        for k in (iq + 1..n).rev() {
            if self.d[k] == 0.0 {
                continue;
            }
            let (c, s, h) = givens(self.d[k - 1], self.d[k]);
            (self.d[k - 1], self.d[k]) = (h, 0.0);
            rotate_columns(&mut self.j, n, k - 1, k, c, s);
        }
        self.r[iq * n..(iq + 1) * n].fill(0.0);
        self.r[iq * n..iq * n + iq + 1].copy_from_slice(&self.d[..=iq]);
        self.active.push(row);
        self.u[iq] = multiplier;
        self.is_active[row] = true;
    }

    /// Drops the active constraint at position `l`: R loses its column and
    /// rotations of rows `k, k + 1` (and of J's columns) restore its triangle.
    fn drop_at(&mut self, l: usize) {
        let (n, iq) = (self.n, self.active.len());
        let row = self.active.remove(l);
        self.is_active[row] = false;
        self.u.copy_within(l + 1..iq, l);
        self.r.copy_within((l + 1) * n..iq * n, l * n);
        for k in l..iq - 1 {
            let (a, b) = (self.r[k + k * n], self.r[k + 1 + k * n]);
            if b == 0.0 {
                continue;
            }
            let (c, s, _) = givens(a, b);
            for col in k..iq - 1 {
                let (t1, t2) = (self.r[k + col * n], self.r[k + 1 + col * n]);
                self.r[k + col * n] = c * t1 + s * t2;
                self.r[k + 1 + col * n] = -s * t1 + c * t2;
            }
            self.r[k + 1 + k * n] = 0.0;
            rotate_columns(&mut self.j, n, k, k + 1, c, s);
        }
    }

    /// `σ(b_row − a_rowᵀx)`: the slack `n_rowᵀx − b0_row` in the method's terms.
    fn slack(&self, row: usize) -> f64 {
        let n = self.n;
        let sigma = if self.equality[row] { 1.0 } else { -1.0 };
        sigma * (dot(&self.a[row * n..(row + 1) * n], &self.x) - self.b[row])
    }

    /// Adds `row`, stepping the point and the multipliers (dropping
    /// constraints whose multipliers reach zero first when `row` is an
    /// inequality); `Err` if it cannot be added.
    fn enter(&mut self, row: usize, iterations: &mut u32, cap: u32) -> Result<(), Refusal> {
        let eq = self.equality[row];
        let mut multiplier = 0.0;
        loop {
            *iterations += 1;
            if *iterations > cap {
                return Err(Refusal::IterationLimit);
            }
            let iq = self.active.len();
            let (d2, dd) = self.directions(row);
            let dependent = d2 <= (DEPENDENT_TOL * DEPENDENT_TOL) * dd || d2 == 0.0;
            if dependent && eq {
                return Err(Refusal::DependentConstraints);
            }
            // The partial step: the first inequality multiplier to reach zero.
            let (mut t1, mut drop) = (f64::INFINITY, None);
            if !eq {
                for k in 0..iq {
                    let dk = self.dual[k];
                    if dk > 0.0 && !self.equality[self.active[k]] {
                        let t = self.u[k] / dk;
                        if t < t1 {
                            (t1, drop) = (t, Some(k));
                        }
                    }
                }
            }
            // The full step: the constraint satisfied.
            let t2 = if dependent { f64::INFINITY } else { -self.slack(row) / d2 };
            let t = t1.min(t2);
            if !t.is_finite() {
                return Err(if eq { Refusal::DependentConstraints } else { Refusal::Infeasible });
            }
            if !dependent {
                axpy(&mut self.x, t, &self.step);
            }
            for k in 0..iq {
                self.u[k] -= t * self.dual[k];
            }
            multiplier += t;
            if t2 <= t1 {
                self.add(row, multiplier);
                return Ok(());
            }
            match drop {
                Some(l) => self.drop_at(l),
                None => return Err(Refusal::Infeasible),
            }
        }
    }

    /// From `x = −P⁻¹q`: the equality rows, then the most violated inequality
    /// until none is; the point and multipliers are then recomputed from the
    /// active set and checked once more. Returns the steps taken.
    fn iterate(&mut self) -> Result<u32, Refusal> {
        let (n, m) = (self.n, self.m);
        self.active.clear();
        self.is_active.fill(false);
        for k in 0..n {
            self.d[k] = dot(&self.j[k * n..(k + 1) * n], &self.q);
        }
        self.x.fill(0.0);
        for k in 0..n {
            axpy(&mut self.x, -self.d[k], &self.j[k * n..(k + 1) * n]);
        }
        let cap = 3 * (n + m) as u32 + 10;
        let mut iterations = 0;
        for row in 0..m {
            if self.equality[row] {
                self.enter(row, &mut iterations, cap)?;
            }
        }
        let mut recomputed = false;
        loop {
            let xmax = norm_inf(&self.x);
            let (mut worst, mut entering) = (0.0, None);
            for i in 0..m {
                if self.equality[i] || self.is_active[i] {
                    continue;
                }
                let s = self.slack(i);
                if s < -FEAS_TOL * (1.0 + self.b[i].abs() + self.norm1[i] * xmax) {
                    if self.inv_norm2[i] == 0.0 {
                        // 0ᵀx ≤ b_i with b_i < 0.
                        return Err(Refusal::Infeasible);
                    }
                    let distance = s * self.inv_norm2[i];
                    if distance < worst {
                        (worst, entering) = (distance, Some(i));
                    }
                }
            }
            match entering {
                Some(row) => {
                    self.enter(row, &mut iterations, cap)?;
                    recomputed = false;
                }
                None if recomputed => return Ok(iterations),
                None => {
                    self.recompute_point();
                    recomputed = true;
                }
            }
        }
    }

    /// The variables that active one-entry rows bound put exactly on their
    /// bounds ([`crate::solve::program::snap_to_bounds`]'s rule), before the
    /// point's slacks and measures are taken. Read from the dense rows of the
    /// active set only, `O(|S| n)`: the interior point method's polish
    /// computes the rows' shapes once per structure, but this workspace
    /// reloads its program every solve, and a pass over A's triplets for the
    /// shapes cost 1.1% of the instructions of an OptNet layer at n = 50.
    fn snap_to_bounds(&mut self) {
        let n = self.n;
        for &row in &self.active {
            let mut entries = self.a[row * n..(row + 1) * n].iter().enumerate().filter(|(_, a)| **a != 0.0);
            if let (Some((j, &a)), None) = (entries.next(), entries.next()) {
                self.x[j] = on_bound(self.b[row], a);
            }
        }
    }

    /// `(x, u)` from the active set's KKT system `Px − N_S u = −q`,
    /// `N_Sᵀx = b0_S`.
    fn recompute_point(&mut self) {
        for (f, q) in self.f.iter_mut().zip(&self.q) {
            *f = -q;
        }
        for (k, &row) in self.active.iter().enumerate() {
            self.g[k] = if self.equality[row] { self.b[row] } else { -self.b[row] };
        }
        self.solve_reduced();
        let iq = self.active.len();
        self.x.copy_from_slice(&self.w);
        self.u[..iq].copy_from_slice(&self.y[..iq]);
    }

    /// `P w − N_S y = f`, `N_Sᵀw = g` (`f`, `g` in their buffers; `w`, `y`
    /// out) by the factors, plus one step of iterative refinement.
    fn solve_reduced(&mut self) {
        let (n, iq) = (self.n, self.active.len());
        let (j, r) = (&self.j, &self.r);
        solve_factored(n, iq, j, r, &self.f, &self.g[..iq], &mut self.w, &mut self.y[..iq], &mut self.d);
        // Residuals: f − P w + N_S y and g − N_Sᵀw.
        self.dw.copy_from_slice(&self.f);
        for c in 0..n {
            axpy(&mut self.dw, -self.w[c], &self.p[c * n..(c + 1) * n]);
        }
        for (k, &row) in self.active.iter().enumerate() {
            let sigma = if self.equality[row] { 1.0 } else { -1.0 };
            let a = &self.a[row * n..(row + 1) * n];
            axpy(&mut self.dw, sigma * self.y[k], a);
            self.dy[k] = self.g[k] - sigma * dot(a, &self.w);
        }
        solve_factored(n, iq, j, r, &self.dw, &self.dy[..iq], &mut self.step, &mut self.dual[..iq], &mut self.d);
        axpy(&mut self.w, 1.0, &self.step);
        axpy(&mut self.y[..iq], 1.0, &self.dual[..iq]);
    }

    /// The cone program's `(s, z)` at the final point, its measures, and the
    /// tests: strict complementarity, then the optimality tolerances.
    fn accept(&mut self, settings: &Settings, iterations: u32) -> Result<Report, Refusal> {
        let (n, m) = (self.n, self.m);
        self.z.fill(0.0);
        for (k, &row) in self.active.iter().enumerate() {
            self.z[row] = if self.equality[row] { -self.u[k] } else { self.u[k] };
        }
        let (xmax, zmax) = (norm_inf(&self.x), norm_inf(&self.z));
        for (k, &row) in self.active.iter().enumerate() {
            if !self.equality[row] && self.u[k] <= STRICT_MARGIN * (self.omega + zmax) {
                return Err(Refusal::Degenerate);
            }
        }
        // P x into f; then the dual residual P x + q + Aᵀz accumulates in w.
        self.f.fill(0.0);
        for c in 0..n {
            axpy(&mut self.f, self.x[c], &self.p[c * n..(c + 1) * n]);
        }
        let xpx = dot(&self.x, &self.f);
        self.w.copy_from_slice(&self.f);
        axpy(&mut self.w, 1.0, &self.q);
        let (mut rp, mut smax) = (0.0f64, 0.0f64);
        for i in 0..m {
            let a = &self.a[i * n..(i + 1) * n];
            let ax = dot(a, &self.x);
            let slack = self.b[i] - ax;
            let inactive = !self.equality[i] && !self.is_active[i];
            if inactive && slack <= STRICT_MARGIN * (1.0 + self.b[i].abs() + self.norm1[i] * xmax) {
                return Err(Refusal::Degenerate);
            }
            self.s[i] = if inactive { slack } else { 0.0 };
            rp = rp.max((ax + self.s[i] - self.b[i]).abs());
            smax = smax.max(self.s[i]);
            if self.z[i] != 0.0 {
                axpy(&mut self.w, self.z[i], a);
            }
        }
        let rd = norm_inf(&self.w);
        let primal_residual = rp / 1f64.max(norm_inf(&self.b) + xmax + smax);
        // The interior point method's tests at a returned point (its polish's
        // `measure`), in the objective's unit ω.
        let omega = self.omega;
        let dual_residual = rd / omega.max(norm_inf(&self.q) + omega * xmax + zmax);
        let (qx, bz) = (dot(&self.q, &self.x), dot(&self.b, &self.z));
        let (pobj, dobj) = (0.5 * xpx + qx, -0.5 * xpx - bz);
        let gap = (pobj - dobj).abs();
        let rel_gap = gap / omega.max(pobj.abs().min(dobj.abs()));
        let optimal = primal_residual < settings.tol_feas
            && dual_residual < settings.tol_feas
            && (gap < settings.tol_gap_abs * omega || rel_gap < settings.tol_gap_rel);
        if !optimal {
            return Err(Refusal::Inaccurate);
        }
        self.solved = true;
        self.report = Report {
            iterations,
            active: self.active.len(),
            objective: pobj + self.c0,
            primal_residual,
            dual_residual,
            gap,
        };
        Ok(self.report)
    }

    /// Solves `K [w_x; w_z] = rhs` in place for the KKT matrix at the last
    /// solution (see the module doc: the active rows' equality-constrained
    /// system, `w_z = 0` on the inactive rows). `Err` without a solution, for a
    /// wrong length or a non-finite entry.
    pub fn kkt_solve(&mut self, rhs: &mut [f64]) -> Result<(), SolveError> {
        let (n, m) = (self.n, self.m);
        if !self.solved {
            return Err(SolveError::NoFactorisation("no active-set solution to differentiate"));
        }
        if rhs.len() != n + m {
            return Err(SolveError::RhsLength { found: rhs.len(), expected: n + m });
        }
        if !rhs.iter().all(|v| v.is_finite()) {
            return Err(SolveError::NonFiniteRhs);
        }
        self.f.copy_from_slice(&rhs[..n]);
        for (k, &row) in self.active.iter().enumerate() {
            self.g[k] = if self.equality[row] { rhs[n + row] } else { -rhs[n + row] };
        }
        self.solve_reduced();
        rhs[..n].copy_from_slice(&self.w);
        rhs[n..].fill(0.0);
        for (k, &row) in self.active.iter().enumerate() {
            rhs[n + row] = if self.equality[row] { -self.y[k] } else { self.y[k] };
        }
        if rhs.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(SolveError::NonFiniteSolution)
        }
    }

    /// The last solution's x (n), and the cone program's s and z (m).
    pub fn x(&self) -> &[f64] {
        &self.x
    }

    /// The slacks (m): `b − Ax` on inactive rows, 0 on active ones.
    pub fn s(&self) -> &[f64] {
        &self.s
    }

    /// The multipliers `z` (m), zero on inactive rows.
    pub fn z(&self) -> &[f64] {
        &self.z
    }

    /// The last solve's report (meaningful after a successful solve).
    pub fn report(&self) -> Report {
        self.report
    }
}

/// `P w − N y = f`, `Nᵀw = g` with `J = L⁻ᵀQ` (n × n) and `R` (its leading
/// `iq` columns) the factors of the module doc: `d = Jᵀf`, `t = R⁻ᵀg`,
/// `w = J₂d₂ + J₁t`, `y = R⁻¹(t − d₁)`; `d` is scratch.
#[allow(clippy::too_many_arguments)]
fn solve_factored(
    n: usize,
    iq: usize,
    j: &[f64],
    r: &[f64],
    f: &[f64],
    g: &[f64],
    w: &mut [f64],
    y: &mut [f64],
    d: &mut [f64],
) {
    for k in 0..n {
        d[k] = dot(&j[k * n..(k + 1) * n], f);
    }
    for k in 0..iq {
        let col = &r[k * n..k * n + k + 1];
        y[k] = (g[k] - dot(&col[..k], &y[..k])) / col[k];
    }
    w.fill(0.0);
    for k in 0..n {
        let c = if k < iq { y[k] } else { d[k] };
        axpy(w, c, &j[k * n..(k + 1) * n]);
    }
    for k in 0..iq {
        y[k] -= d[k];
    }
    for k in (0..iq).rev() {
        let col = &r[k * n..k * n + k + 1];
        y[k] /= col[k];
        let v = y[k];
        axpy(&mut y[..k], -v, &col[..k]);
    }
}
