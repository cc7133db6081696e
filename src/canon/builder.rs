//! Collects the pieces of a cone program as canonicalisation finds them: new
//! variables, cone memberships `u ∈ K` of affine forms, and the objective's
//! quadratic, linear and constant parts; [`Builder::finish`] lays them out as
//! `Ax + s = b` with the zero block first, then the nonnegative rows, then each
//! second-order cone, then each exponential cone, then each PSD cone.

use super::affine::{Aff, Lin};
use super::scalar::{Data, Scalar};
use crate::eval::Tensor;
use crate::ir::Expr;
use crate::solve::{ConeBlock, ConeProgram, Triplets};

/// Where one membership landed among the final rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowRange {
    /// The first row.
    pub start: usize,
    /// How many rows.
    pub len: usize,
}

/// An opaque handle to a membership, resolved to rows by [`Builder::finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag(usize);

impl Tag {
    /// Its index into the ranges [`Builder::finish`] returns.
    pub fn index(self) -> usize {
        self.0
    }
}

/// The cone memberships `u ∈ K` found so far, in the order they were found, and
/// the variable count. [`Memberships::layout`] places them as rows: the zero
/// block first, then the nonnegative rows, then each second-order cone.
pub struct Memberships<S: Scalar> {
    pub nvars: usize,
    zero: Vec<Lin<S>>,
    nonneg: Vec<Lin<S>>,
    soc: Vec<Vec<Lin<S>>>,
    exp: Vec<[Lin<S>; 3]>,
    /// Each block the svec of an `n × n` matrix (`n(n + 1)/2` forms).
    psd: Vec<(usize, Vec<Lin<S>>)>,
    /// Per tag: which list, and the index range in it.
    tags: Vec<(Kind, usize, usize)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Zero,
    Nonneg,
    Soc,
    Exp,
    Psd,
}

/// Where the rows of each list start.
struct Layout {
    nz: usize,
    nn: usize,
    soc_start: Vec<usize>,
    /// The first exponential cone's row (each has three).
    exp_start: usize,
    psd_start: Vec<usize>,
    m: usize,
}

impl<S: Scalar> Memberships<S> {
    pub fn new(nvars: usize) -> Self {
        Memberships {
            nvars,
            zero: Vec::new(),
            nonneg: Vec::new(),
            soc: Vec::new(),
            exp: Vec::new(),
            psd: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// `count` new variables; returns the first index.
    pub fn new_vars(&mut self, count: usize) -> usize {
        let first = self.nvars;
        self.nvars += count;
        first
    }

    /// Each `u = 0`.
    pub fn zero(&mut self, u: Vec<Lin<S>>) -> Tag {
        self.tag(Kind::Zero, u.len(), |b| b.zero.extend(u))
    }

    /// Each `u ≥ 0`.
    pub fn nonneg(&mut self, u: Vec<Lin<S>>) -> Tag {
        self.tag(Kind::Nonneg, u.len(), |b| b.nonneg.extend(u))
    }

    /// `u₀ ≥ ‖(u₁, …)‖₂`.
    pub fn soc(&mut self, u: Vec<Lin<S>>) -> Tag {
        self.tag(Kind::Soc, 1, |b| b.soc.push(u))
    }

    /// Each `(u₀, u₁, u₂) ∈ K_exp` (`u₁ e^{u₀/u₁} ≤ u₂`), one cone per triple.
    pub fn exp(&mut self, u: Vec<[Lin<S>; 3]>) -> Tag {
        self.tag(Kind::Exp, u.len(), |b| b.exp.extend(u))
    }

    /// `mat(u) ⪰ 0`, `u` the svec of an `n × n` matrix (the lower triangle by
    /// columns, off-diagonal entries times √2; see [`ConeBlock::Psd`]).
    pub fn psd(&mut self, n: usize, u: Vec<Lin<S>>) -> Tag {
        debug_assert_eq!(u.len(), n * (n + 1) / 2);
        self.tag(Kind::Psd, 1, |b| b.psd.push((n, u)))
    }

    fn tag(&mut self, kind: Kind, len: usize, push: impl FnOnce(&mut Self)) -> Tag {
        let start = match kind {
            Kind::Zero => self.zero.len(),
            Kind::Nonneg => self.nonneg.len(),
            Kind::Soc => self.soc.len(),
            Kind::Exp => self.exp.len(),
            Kind::Psd => self.psd.len(),
        };
        push(self);
        self.tags.push((kind, start, len));
        Tag(self.tags.len() - 1)
    }

    fn layout(&self) -> Layout {
        let (nz, nn) = (self.zero.len(), self.nonneg.len());
        let mut soc_start = Vec::with_capacity(self.soc.len());
        let mut m = nz + nn;
        for block in &self.soc {
            soc_start.push(m);
            m += block.len();
        }
        let exp_start = m;
        m += 3 * self.exp.len();
        let mut psd_start = Vec::with_capacity(self.psd.len());
        for (_, block) in &self.psd {
            psd_start.push(m);
            m += block.len();
        }
        Layout { nz, nn, soc_start, exp_start, psd_start, m }
    }

    /// Every membership row with its final row index.
    pub fn rows(&self) -> impl Iterator<Item = (usize, &Lin<S>)> {
        let l = self.layout();
        let (nz, exp_start) = (l.nz, l.exp_start);
        self.zero
            .iter()
            .enumerate()
            .chain(self.nonneg.iter().enumerate().map(move |(r, u)| (nz + r, u)))
            .chain(
                self.soc
                    .iter()
                    .zip(l.soc_start)
                    .flat_map(|(block, start)| block.iter().enumerate().map(move |(r, u)| (start + r, u))),
            )
            .chain(self.exp.iter().flatten().enumerate().map(move |(r, u)| (exp_start + r, u)))
            .chain(
                self.psd
                    .iter()
                    .zip(l.psd_start)
                    .flat_map(|((_, block), start)| block.iter().enumerate().map(move |(r, u)| (start + r, u))),
            )
    }

    /// The final rows of every tag.
    pub fn ranges(&self) -> Vec<RowRange> {
        let l = self.layout();
        self.tags
            .iter()
            .map(|&(kind, start, len)| match kind {
                Kind::Zero => RowRange { start, len },
                Kind::Nonneg => RowRange { start: l.nz + start, len },
                Kind::Soc => RowRange { start: l.soc_start[start], len: self.soc[start].len() },
                Kind::Exp => RowRange { start: l.exp_start + 3 * start, len: 3 * len },
                Kind::Psd => RowRange { start: l.psd_start[start], len: self.psd[start].1.len() },
            })
            .collect()
    }

    /// The cone of each block, in row order.
    fn cones(&self) -> Vec<ConeBlock> {
        let l = self.layout();
        let mut cones = Vec::new();
        if l.nz > 0 {
            cones.push(ConeBlock::Zero(l.nz));
        }
        if l.nn > 0 {
            cones.push(ConeBlock::Nonneg(l.nn));
        }
        cones.extend(self.soc.iter().map(|blk| ConeBlock::SecondOrder(blk.len())));
        cones.extend(self.exp.iter().map(|_| ConeBlock::Exponential));
        cones.extend(self.psd.iter().map(|&(n, _)| ConeBlock::Psd(n)));
        cones
    }
}

/// Where the reductions put what they find: the memberships, the objective's
/// terms, and the parameter data they read. [`Builder`] assembles the numeric
/// cone program; the backward pass's sink evaluates a scalar of the same terms
/// over tracked numbers (see [`super::scalar`]).
pub trait Sink {
    type S: Scalar;

    fn memberships(&mut self) -> &mut Memberships<Self::S>;

    /// Adds `w · l` to the objective.
    fn linear(&mut self, l: &Lin<Self::S>, w: Self::S);

    /// Adds `w · a · b` to the objective (with a = b, a square).
    fn product(&mut self, a: &Lin<Self::S>, b: &Lin<Self::S>, w: Self::S);

    /// The value of the data expression `e` (already evaluated to `t`; `index`
    /// its position among the `Data` kernel's outputs, when it is one) as the
    /// reductions' numbers.
    fn lift(&mut self, e: &Expr, t: Tensor, index: Option<usize>) -> Data<Self::S>;

    /// `t ≥ xᵀQx` has just been reduced to the rotated cone `cone`
    /// (`t·1 ≥ ‖S x‖²`, `S = Q^½`). Assembling the program needs nothing more; the
    /// backward pass's sink differentiates this constraint in Q itself
    /// ([`super::sensitivity`]), since S is not differentiable at a singular Q.
    fn quad_form(&mut self, _x: &Aff<Self::S>, _q: &Data<Self::S>, _cone: Tag) {}

    fn new_vars(&mut self, count: usize) -> usize {
        self.memberships().new_vars(count)
    }

    fn zero(&mut self, u: Vec<Lin<Self::S>>) -> Tag {
        self.memberships().zero(u)
    }

    fn nonneg(&mut self, u: Vec<Lin<Self::S>>) -> Tag {
        self.memberships().nonneg(u)
    }

    fn soc(&mut self, u: Vec<Lin<Self::S>>) -> Tag {
        self.memberships().soc(u)
    }

    fn exp(&mut self, u: Vec<[Lin<Self::S>; 3]>) -> Tag {
        self.memberships().exp(u)
    }

    fn psd(&mut self, n: usize, u: Vec<Lin<Self::S>>) -> Tag {
        self.memberships().psd(n, u)
    }
}

/// The numbers a cone program can be assembled from: `f64`, or a recording
/// ([`super::record::Rec`]) of how the numbers were computed.
pub trait Coefficient: Scalar {
    /// The upper triangle of `H = Mᵀ·W` (row by row: `H[a][a..k]` for each a),
    /// for `M`, `W` of `rows × k` given as entries added to zero matrices.
    fn gram(rows: usize, k: usize, m: &[(usize, usize, Self)], w: &[(usize, usize, Self)]) -> Vec<Self>;
}

impl Coefficient for f64 {
    fn gram(rows: usize, k: usize, m: &[(usize, usize, f64)], w: &[(usize, usize, f64)]) -> Vec<f64> {
        let mut mm = faer::Mat::<f64>::zeros(rows, k);
        let mut wm = faer::Mat::<f64>::zeros(rows, k);
        let mut h = faer::Mat::<f64>::zeros(k, k);
        gram_into(rows, k, m, w, &mut mm, &mut wm, &mut h);
        (0..k).flat_map(|a| (a..k).map(move |b| (a, b))).map(|(a, b)| h[(a, b)]).collect()
    }
}

/// `H = Mᵀ·W` into `h`, `M` and `W` built in `mm`, `wm` (each `rows × k`): the
/// one product [`Coefficient::gram`] and a refill's replay both call, so both
/// round alike.
pub fn gram_into(
    rows: usize,
    k: usize,
    m: &[(usize, usize, f64)],
    w: &[(usize, usize, f64)],
    mm: &mut faer::Mat<f64>,
    wm: &mut faer::Mat<f64>,
    h: &mut faer::Mat<f64>,
) {
    mm.resize_with(rows, k, |_, _| 0.0);
    wm.resize_with(rows, k, |_, _| 0.0);
    h.resize_with(k, k, |_, _| 0.0);
    mm.fill(0.0);
    wm.fill(0.0);
    for &(r, c, v) in m {
        mm[(r, c)] += v;
    }
    for &(r, c, v) in w {
        wm[(r, c)] += v;
    }
    faer::linalg::matmul::matmul(h.as_mut(), faer::Accum::Replace, mm.transpose(), wm.as_ref(), 1.0, faer::Par::Seq);
}

/// Assembles the cone program, over `f64` or a recording.
pub struct Builder<S: Scalar = f64> {
    rows: Memberships<S>,
    /// Upper-triangle entries of H in ½xᵀHx from cross terms.
    h: Vec<(usize, usize, S)>,
    /// Weighted squares `w·(aᵀx + c)²`, gathered so that their share of H,
    /// `2 Mᵀ diag(w) M`, is one product at the end rather than a triplet per pair.
    squares: Vec<(Lin<S>, S)>,
    q: Vec<(usize, S)>,
    c0: S,
    /// How `lift` reads data.
    lift: fn(&Expr, Tensor, Option<usize>) -> Data<S>,
}

/// A cone program over the builder's numbers: `P` (upper triangle) and `A` as
/// triplets, `q`, `b`, the cones and `c0`.
pub struct Form<S> {
    pub n: usize,
    pub p: Vec<(usize, usize, S)>,
    pub q: Vec<S>,
    pub a: Vec<(usize, usize, S)>,
    pub b: Vec<S>,
    pub cones: Vec<ConeBlock>,
    pub c0: S,
}

impl<S: Coefficient> Sink for Builder<S> {
    type S = S;

    fn memberships(&mut self) -> &mut Memberships<S> {
        &mut self.rows
    }

    fn linear(&mut self, l: &Lin<S>, w: S) {
        Builder::linear(self, l, w)
    }

    fn product(&mut self, a: &Lin<S>, b: &Lin<S>, w: S) {
        Builder::product(self, a, b, w)
    }

    fn lift(&mut self, e: &Expr, t: Tensor, index: Option<usize>) -> Data<S> {
        (self.lift)(e, t, index)
    }
}

impl Builder<f64> {
    pub fn new(nvars: usize) -> Self {
        Builder::with_lift(nvars, |_, t, _| t.into())
    }

    /// The cone program and the rows of every tag.
    pub fn finish(self) -> (ConeProgram, Vec<RowRange>) {
        let (f, ranges) = self.finish_form();
        let mut p = Triplets::new(f.n, f.n);
        p.entries = f.p;
        let mut a = Triplets::new(f.b.len(), f.n);
        a.entries = f.a;
        (ConeProgram { p, q: f.q, a, b: f.b, cones: f.cones, c0: f.c0 }, ranges)
    }
}

impl<S: Coefficient> Builder<S> {
    /// A builder whose sink reads data through `lift`.
    pub fn with_lift(nvars: usize, lift: fn(&Expr, Tensor, Option<usize>) -> Data<S>) -> Self {
        Builder {
            rows: Memberships::new(nvars),
            h: Vec::new(),
            squares: Vec::new(),
            q: Vec::new(),
            c0: S::from(0.0),
            lift,
        }
    }

    /// Adds `w · l` to the objective.
    pub fn linear(&mut self, l: &Lin<S>, w: S) {
        self.q.extend(l.terms.iter().map(|&(i, a)| (i, w * a)));
        if !l.c.is_structural_zero() {
            self.c0 = self.c0 + w * l.c;
        }
    }

    /// Adds `w · a · b` to the objective (a symmetric bilinear term; with a = b, a
    /// square). In ½xᵀHx form: H += w (α βᵀ + β αᵀ), q += w (cₐ β + c_b α).
    pub fn product(&mut self, a: &Lin<S>, b: &Lin<S>, w: S) {
        if w.is_structural_zero() {
            return;
        }
        if a == b {
            self.square(a, w);
            return;
        }
        for &(i, ai) in &a.terms {
            for &(j, bj) in &b.terms {
                let v = w * ai * bj;
                // H_ij and H_ji each get v; in the upper triangle a diagonal gets 2v.
                match i.cmp(&j) {
                    std::cmp::Ordering::Equal => self.h.push((i, i, S::from(2.0) * v)),
                    std::cmp::Ordering::Less => self.h.push((i, j, v)),
                    std::cmp::Ordering::Greater => self.h.push((j, i, v)),
                }
            }
        }
        // The constants' terms only when there are any: a variable's `c` is a
        // structural zero, and its terms would record `w · 0` for every pair.
        if !b.c.is_structural_zero() {
            self.q.extend(a.terms.iter().map(|&(i, ai)| (i, w * b.c * ai)));
        }
        if !a.c.is_structural_zero() {
            self.q.extend(b.terms.iter().map(|&(j, bj)| (j, w * a.c * bj)));
        }
        if !(a.c.is_structural_zero() || b.c.is_structural_zero()) {
            self.c0 = self.c0 + w * a.c * b.c;
        }
    }

    /// Adds `w · (aᵀx + c)²`: H += 2w aaᵀ, q += 2wc a, c0 += wc².
    fn square(&mut self, a: &Lin<S>, w: S) {
        let mut a = a.clone();
        a.compress();
        if !a.c.is_structural_zero() {
            self.q.extend(a.terms.iter().map(|&(i, ai)| (i, S::from(2.0) * w * a.c * ai)));
            self.c0 = self.c0 + w * a.c * a.c;
        }
        if !a.terms.is_empty() {
            self.squares.push((a, w));
        }
    }

    /// Upper-triangle triplets of `2 Mᵀ diag(w) M` for the gathered squares: a
    /// dense product through faer when M is dense enough, pairwise otherwise.
    fn squares_hessian(&self) -> Vec<(usize, usize, S)> {
        let rows = self.squares.len();
        let nnz: usize = self.squares.iter().map(|(l, _)| l.terms.len()).sum();
        if rows == 0 {
            return Vec::new();
        }
        // Columns that occur at all, so a dense product stays the size of the block.
        let mut cols: Vec<usize> = self.squares.iter().flat_map(|(l, _)| l.terms.iter().map(|t| t.0)).collect();
        cols.sort_unstable();
        cols.dedup();
        let k = cols.len();
        if nnz * 4 >= rows * k && k <= 4096 {
            let pos = |j: usize| cols.binary_search(&j).unwrap_or(0);
            let mut m = Vec::with_capacity(nnz);
            let mut wm = Vec::with_capacity(nnz);
            for (r, (l, w)) in self.squares.iter().enumerate() {
                for &(j, v) in &l.terms {
                    m.push((r, pos(j), v));
                    wm.push((r, pos(j), S::from(2.0) * *w * v));
                }
            }
            let h = S::gram(rows, k, &m, &wm);
            let mut out = Vec::with_capacity(k * (k + 1) / 2);
            let mut next = h.into_iter();
            for a in 0..k {
                for b in a..k {
                    // `gram` returns exactly k(k + 1)/2 entries, in this order.
                    let Some(v) = next.next() else { break };
                    if !v.is_structural_zero() {
                        out.push((cols[a], cols[b], v));
                    }
                }
            }
            return out;
        }
        let mut out = Vec::new();
        for (l, w) in &self.squares {
            for (x, &(i, ai)) in l.terms.iter().enumerate() {
                for &(j, aj) in &l.terms[x..] {
                    // Terms are sorted by column, so i ≤ j; the diagonal counts once.
                    out.push((i, j, S::from(2.0) * *w * ai * aj));
                }
            }
        }
        out
    }

    /// The program over the builder's numbers, and the rows of every tag.
    pub fn finish_form(self) -> (Form<S>, Vec<RowRange>) {
        let n = self.rows.nvars;
        let mut hessian = self.squares_hessian();
        hessian.extend_from_slice(&self.h);
        let m = self.rows.layout().m;
        // Membership u ∈ K with u = aᵀx + c is the row −aᵀx + s = c.
        let mut a = Vec::new();
        let mut b = vec![S::from(0.0); m];
        for (r, u) in self.rows.rows() {
            let mut u = u.clone();
            u.compress();
            for &(j, v) in &u.terms {
                a.push((r, j, -v));
            }
            b[r] = u.c;
        }
        let cones = self.rows.cones();
        let mut q = vec![S::from(0.0); n];
        for (i, v) in self.q {
            q[i] = q[i] + v;
        }
        let mut h = hessian;
        h.sort_unstable_by_key(|t| (t.0, t.1));
        let mut p: Vec<(usize, usize, S)> = Vec::with_capacity(h.len());
        for (i, j, v) in h {
            match p.last_mut() {
                Some(last) if last.0 == i && last.1 == j => last.2 = last.2 + v,
                _ => p.push((i, j, v)),
            }
        }
        p.retain(|e| !e.2.is_structural_zero());
        let ranges = self.rows.ranges();
        (Form { n, p, q, a, b, cones, c0: self.c0 }, ranges)
    }
}
