//! The conic standard form every convex node is reduced to, and that the
//! interior point method solves (the form of Clarabel and SCS):
//!
//! ```text
//! minimize    ½ xᵀ P x + qᵀ x + c0
//! subject to  A x + s = b,   s ∈ K = K₁ × … × K_p
//! ```
//!
//! with P symmetric positive semidefinite and each Kᵢ a zero cone {0}ᵈ
//! (equalities), a nonnegative orthant ℝᵈ₊ (inequalities), a second-order cone
//! {(t, u) ∈ ℝ × ℝᵈ⁻¹ : ‖u‖₂ ≤ t} (the first entry of the block is t), an
//! exponential cone or a positive semidefinite cone (on svec, see [`ConeBlock::Psd`]).
//! The dual is: maximize −½ xᵀPx − bᵀz + c0 subject to Px + q + Aᵀz = 0, z ∈ K*
//! (all three cones are self-dual).

use super::SolveError;
use crate::linalg::all_finite;

/// One block of the cone K, in the order its rows appear in A and b.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConeBlock {
    /// `s = 0`: equality rows.
    Zero(usize),
    /// `s >= 0`: inequality rows.
    Nonneg(usize),
    /// `s₀ >= ‖s₁..‖₂`, dimension ≥ 1.
    SecondOrder(usize),
    /// `(s₀, s₁, s₂)` with `s₁ e^{s₀/s₁} ≤ s₂`, `s₁ > 0` (and its closure):
    /// three rows.
    Exponential,
    /// `mat(s) ⪰ 0` for an `n × n` symmetric matrix stored as its svec, the
    /// lower triangle column by column with off-diagonal entries times √2
    /// (`svec(X)ᵀsvec(Y) = tr(XY)`): `n(n + 1)/2` rows.
    Psd(usize),
}

impl ConeBlock {
    /// The number of rows the block covers.
    pub fn dim(self) -> usize {
        match self {
            ConeBlock::Zero(d) | ConeBlock::Nonneg(d) | ConeBlock::SecondOrder(d) => d,
            ConeBlock::Exponential => 3,
            ConeBlock::Psd(n) => n * (n + 1) / 2,
        }
    }

    /// Whether the block is polyhedral (equality or inequality rows): a
    /// program of such blocks only is an LP or a QP, which the active-set
    /// methods (the dual active-set method, the interior point method's
    /// active-set polish and crossover) apply to.
    pub fn is_polyhedral(self) -> bool {
        matches!(self, ConeBlock::Zero(_) | ConeBlock::Nonneg(_))
    }
}

/// A sparse matrix as (row, column, value) triplets; duplicates are summed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Triplets {
    /// Rows.
    pub nrows: usize,
    /// Columns.
    pub ncols: usize,
    /// `(row, column, value)`, in any order.
    pub entries: Vec<(usize, usize, f64)>,
}

impl Triplets {
    /// An `nrows × ncols` matrix of no entries (zero).
    pub fn new(nrows: usize, ncols: usize) -> Self {
        Triplets { nrows, ncols, entries: Vec::new() }
    }

    /// Adds `value` at `(row, col)`.
    pub fn push(&mut self, row: usize, col: usize, value: f64) {
        self.entries.push((row, col, value));
    }
}

/// `min ½xᵀPx + qᵀx + c0  s.t.  Ax + s = b, s ∈ K`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConeProgram {
    /// n × n, the upper triangle (row ≤ column) of a symmetric PSD matrix.
    pub p: Triplets,
    /// The linear cost, n.
    pub q: Vec<f64>,
    /// m × n.
    pub a: Triplets,
    /// The right-hand side, m.
    pub b: Vec<f64>,
    /// Blocks whose dimensions sum to m.
    pub cones: Vec<ConeBlock>,
    /// Constant term of the objective.
    pub c0: f64,
}

/// A row of A by its entries' positions. A row with one entry,
/// `a_ij x_j + s_i = b_i`, bounds the variable `x_j` alone: where it is active,
/// `x_j = b_i / a_ij`, which [`snap_to_bounds`] makes exact.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum RowShape {
    /// No entry (`0 ≤ b_i` or `0 = b_i`: about no variable).
    #[default]
    Empty,
    /// The one entry.
    Single {
        /// Its column: the variable the row bounds.
        col: usize,
        /// Its index in A's triplets, so that a shape computed once for a
        /// structure reads each solve's value.
        entry: usize,
    },
    /// Two or more entries (a position listed twice is two): a general row.
    Many,
}

/// Puts each variable that an active one-entry row bounds exactly on its bound,
/// `x_j = b_i / a_ij` (rounded once; exact for a bound `±x_j ≤ b_i`), so that a
/// solution's active bounds hold as written — `x ≥ 0` returns 0, not −1e-25
/// (which a `log` or `sqrt` downstream turns into NaN) — where the KKT solve
/// that found `x` leaves rounding on them. `shapes` are [`ConeProgram::row_shapes`]
/// of `prob`'s structure; `active(i)` says whether row i is in the active set
/// (an equality row always is); the value is [`on_bound`]'s. An entry whose
/// value is 0 bounds nothing.
///
/// Where the active set is the solution's, the KKT solve put `x_j` within its
/// own accuracy of the bound, so the other rows' residuals move by as little,
/// `|a_kj Δx_j|`; the callers measure the point after the snap.
pub fn snap_to_bounds(prob: &ConeProgram, shapes: &[RowShape], active: impl Fn(usize) -> bool, x: &mut [f64]) {
    for (i, shape) in shapes.iter().enumerate() {
        if let RowShape::Single { col, entry } = *shape {
            let a = prob.a.entries[entry].2;
            if a != 0.0 && active(i) {
                x[col] = on_bound(prob.b[i], a);
            }
        }
    }
}

/// The variable a one-entry row `a x + s = b` bounds, on its bound: `b / a`,
/// rounded once, `+ 0.0` so that the bound 0 of `−x ≤ 0` is `0.0`, not `−0.0`.
pub fn on_bound(b: f64, a: f64) -> f64 {
    b / a + 0.0
}

impl ConeProgram {
    /// The objective's unit `ω = min(1, max(‖q‖∞, max|Pᵢⱼ|))`, 1 without an
    /// objective: the optimality tests take the absolute gap and the dual
    /// residual in it, so an objective scaled by a small parameter is not
    /// called optimal far from its optimum (see [`super::ipm::Summary`]). Every
    /// solver judging "optimal" uses this one definition.
    pub fn objective_scale(&self) -> f64 {
        let size =
            self.p.entries.iter().fold(self.q.iter().fold(0.0f64, |m, v| m.max(v.abs())), |m, e| m.max(e.2.abs()));
        if size > 0.0 {
            size.min(1.0)
        } else {
            1.0
        }
    }

    /// Number of variables.
    pub fn n(&self) -> usize {
        self.q.len()
    }

    /// Number of constraint rows.
    pub fn m(&self) -> usize {
        self.b.len()
    }

    /// The dual and primal residuals `(Px + q + Aᵀz, Ax + s − b)` at `(x, s, z)`.
    pub fn residuals(&self, x: &[f64], s: &[f64], z: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let mut rd = self.q.clone();
        for &(i, j, v) in &self.p.entries {
            rd[i] += v * x[j];
            if i != j {
                rd[j] += v * x[i];
            }
        }
        let mut rp: Vec<f64> = s.iter().zip(&self.b).map(|(s, b)| s - b).collect();
        for &(i, j, v) in &self.a.entries {
            rp[i] += v * x[j];
            rd[j] += v * z[i];
        }
        (rd, rp)
    }

    /// Each row's [`RowShape`] into `shapes` (length m), from the positions of
    /// A's triplets (a property of the structure, not of the values).
    pub fn row_shapes(&self, shapes: &mut [RowShape]) {
        shapes.fill(RowShape::Empty);
        for (entry, &(i, col, _)) in self.a.entries.iter().enumerate() {
            shapes[i] = match shapes[i] {
                RowShape::Empty => RowShape::Single { col, entry },
                _ => RowShape::Many,
            };
        }
    }

    /// The primal objective `½xᵀPx + qᵀx + c0` and the dual `−½xᵀPx − bᵀz + c0`.
    pub fn objectives(&self, x: &[f64], z: &[f64]) -> (f64, f64) {
        let mut xpx = 0.0;
        for &(i, j, v) in &self.p.entries {
            xpx += if i == j { v * x[i] * x[i] } else { 2.0 * v * x[i] * x[j] };
        }
        let qx: f64 = self.q.iter().zip(x).map(|(a, b)| a * b).sum();
        let bz: f64 = self.b.iter().zip(z).map(|(a, b)| a * b).sum();
        (0.5 * xpx + qx + self.c0, -0.5 * xpx - bz + self.c0)
    }

    /// Checks the sizes, the entries' positions and that every datum is finite.
    pub fn validate(&self) -> Result<(), SolveError> {
        let (n, m) = (self.n(), self.m());
        if self.p.nrows != n || self.p.ncols != n {
            return Err(SolveError::Program(format!("P is {}×{}, expected {n}×{n}", self.p.nrows, self.p.ncols)));
        }
        if self.a.nrows != m || self.a.ncols != n {
            return Err(SolveError::Program(format!("A is {}×{}, expected {m}×{n}", self.a.nrows, self.a.ncols)));
        }
        let k: usize = self.cones.iter().map(|c| c.dim()).sum();
        if k != m {
            return Err(SolveError::Program(format!("the cones have {k} rows, A has {m}")));
        }
        if self.cones.iter().any(|c| matches!(c, ConeBlock::SecondOrder(0))) {
            return Err(SolveError::Program("a second-order cone of dimension 0".into()));
        }
        // One branch-free pass over each matrix's entries for both checks (four
        // short-circuiting passes cost 2M instructions a call on the dense
        // 440 × 200 A of the n = 200 QP, session 13); the offending entry is
        // looked for only after a pass fails.
        let upper = |i: usize, j: usize| i <= j && j < n;
        let inside = |i: usize, j: usize| i < m && j < n;
        let (p_placed, p_finite) = scan(&self.p.entries, upper);
        if !p_placed {
            let &(i, j, _) = self.p.entries.iter().find(|&&(i, j, _)| !upper(i, j)).expect("scan saw one");
            return Err(SolveError::Program(format!(
                "P entry ({i}, {j}) is not in the upper triangle of a {n}×{n} matrix"
            )));
        }
        let (a_placed, a_finite) = scan(&self.a.entries, inside);
        if !a_placed {
            let &(i, j, _) = self.a.entries.iter().find(|&&(i, j, _)| !inside(i, j)).expect("scan saw one");
            return Err(SolveError::Program(format!("A entry ({i}, {j}) is outside {m}×{n}")));
        }
        if !(all_finite(&self.q) && all_finite(&self.b) && p_finite && a_finite && self.c0.is_finite()) {
            return Err(SolveError::Program("the problem data has a NaN or infinite entry".into()));
        }
        Ok(())
    }
}

/// Whether every entry `(i, j, v)` has `place(i, j)`, and whether every `v` is
/// finite, in one pass without branches (`0·v` is ±0 for a finite `v` and NaN
/// otherwise, as in [`all_finite`]).
fn scan(entries: &[(usize, usize, f64)], place: impl Fn(usize, usize) -> bool) -> (bool, bool) {
    let (mut placed, mut zero) = (true, 0.0);
    for &(i, j, v) in entries {
        placed &= place(i, j);
        zero += 0.0 * v;
    }
    (placed, zero == 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `min ½(2x₀² + 2x₀x₁ + x₁²) + x₀ − x₁ + 3 s.t. x₀ + 2x₁ + s = 1`, by hand:
    /// at x = (1, −1), z = 2, s = 0.5: Px = (1, 0), Px + q + Aᵀz = (4, 3),
    /// Ax + s − b = −1 + 0.5 − 1, xᵀPx = 1, so pobj = 0.5 + 2 + 3 and dobj = −0.5 − 2 + 3.
    #[test]
    fn residuals_and_objectives_by_hand() {
        let mut p = Triplets::new(2, 2);
        p.push(0, 0, 2.0);
        p.push(0, 1, 1.0);
        p.push(1, 1, 1.0);
        let mut a = Triplets::new(1, 2);
        a.push(0, 0, 1.0);
        a.push(0, 1, 2.0);
        let prog = ConeProgram { p, q: vec![1.0, -1.0], a, b: vec![1.0], cones: vec![ConeBlock::Nonneg(1)], c0: 3.0 };
        let (x, s, z) = ([1.0, -1.0], [0.5], [2.0]);
        let (rd, rp) = prog.residuals(&x, &s, &z);
        assert_eq!((rd, rp), (vec![4.0, 3.0], vec![-1.5]));
        assert_eq!(prog.objectives(&x, &z), (5.5, 0.5));
    }

    /// Each of `validate`'s entry checks, with the message naming the first
    /// offending entry (the one-pass scan, then the search for it).
    #[test]
    fn validate_names_the_bad_entry() {
        let program = |p: &[(usize, usize, f64)], a: &[(usize, usize, f64)], q0: f64| {
            let (mut pt, mut at) = (Triplets::new(2, 2), Triplets::new(1, 2));
            p.iter().for_each(|&(i, j, v)| pt.push(i, j, v));
            a.iter().for_each(|&(i, j, v)| at.push(i, j, v));
            ConeProgram { p: pt, q: vec![q0, 0.0], a: at, b: vec![1.0], cones: vec![ConeBlock::Nonneg(1)], c0: 0.0 }
        };
        let message = |prog: ConeProgram| prog.validate().unwrap_err().to_string();
        let good = [(0, 0, 1.0), (0, 1, 2.0), (1, 1, 3.0)];
        assert!(program(&good, &[(0, 0, 1.0), (0, 1, 1.0)], 0.0).validate().is_ok());
        let lower = message(program(&[(0, 0, 1.0), (1, 0, 2.0), (1, 1, 3.0)], &[(0, 0, 1.0)], 0.0));
        assert!(lower.contains("P entry (1, 0) is not in the upper triangle"), "{lower}");
        let outside = message(program(&good, &[(0, 0, 1.0), (1, 1, 1.0), (2, 0, 1.0)], 0.0));
        assert!(outside.contains("A entry (1, 1) is outside 1×2"), "{outside}");
        for (p, a, q0) in [
            (vec![(0, 0, f64::NAN)], vec![(0, 0, 1.0)], 0.0),
            (good.to_vec(), vec![(0, 1, f64::INFINITY)], 0.0),
            (good.to_vec(), vec![(0, 1, 1.0)], f64::NEG_INFINITY),
        ] {
            assert!(message(program(&p, &a, q0)).contains("NaN or infinite entry"));
        }
    }
}
