//! The numbers canonicalisation computes coefficients with.
//!
//! The reductions run twice per differentiated solve: once over `f64` to build the
//! standard form, and once over [`Tracked`] numbers in the backward pass, where
//! every parameter-derived datum is a leaf on a tape. The second run evaluates
//! `ψ(θ) = −w_xᵀ(P x + q + Aᵀz) − w_zᵀ(A x − b)` through exactly the same code that
//! built `(P, q, A, b)`, so reverse mode over the tape gives `∇_θ ψ` for any
//! reduction (epigraph variables, scalings by parameters, keyword parameters of
//! atoms) without a hand-written derivative per reduction.
//!
//! The tape is thread-local: the reductions combine coefficients with ordinary
//! operators, which have nowhere else to record to. [`TapeSession`] gives one
//! backward pass an empty tape and puts the previous one back when dropped, so
//! sessions nest: a rayon worker that steals another instance's backward while
//! it waits inside this one (a faer product forking into the same pool during a
//! batch, `runtime::batch`) runs it on a tape of its own.

use std::cell::RefCell;
use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Neg, Sub};

use super::root::{NotPsd, Sqrt};
use crate::eval::{broadcast_data, broadcast_shape, unbroadcast_data, Tensor};

/// What the reductions need of a number.
pub trait Scalar:
    Copy
    + Debug
    + PartialEq
    + From<f64>
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Mul<f64, Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// The value, for the decisions the reductions make from data (signs,
    /// positivity checks): those are locally constant in the parameters.
    fn value(self) -> f64;

    /// Zero whatever the parameters: a term with this coefficient can be dropped.
    /// A tracked zero that came from a parameter is *not* structural: its
    /// derivative need not vanish.
    fn is_structural_zero(self) -> bool;

    /// Whether the number depends on the parameters (is on a tape).
    fn is_tracked(self) -> bool;

    /// Whether every one of `xs` passes `test`: a decision from data, which a
    /// recording ([`super::record::Rec`]) keeps as a guard.
    fn all(xs: &[Self], test: Test) -> bool {
        xs.iter().all(|x| test.holds(x.value()))
    }

    /// Whether any of `xs` passes `test` (a guard, as [`Scalar::all`]).
    fn any(xs: &[Self], test: Test) -> bool {
        xs.iter().any(|x| test.holds(x.value()))
    }

    /// `S = Q^½` of the `n × n` matrix `q` (row-major), row-major
    /// ([`super::root::Sqrt`]); `Err` says why there is none (Q not PSD, or,
    /// for a recording, singular).
    fn psd_root(n: usize, q: &[Self]) -> Result<Vec<Self>, String>;
}

/// Why `quad_form`'s matrix has no square root the reductions can use.
pub(super) fn root_error(e: NotPsd) -> String {
    match e.smallest {
        Some(l) => format!("`quad_form` needs a positive semidefinite matrix; its smallest eigenvalue is {l:e}"),
        None => "`quad_form` needs a positive semidefinite matrix (finite, with a convergent eigensolver)".into(),
    }
}

/// The comparisons with zero the reductions decide by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Test {
    /// `x ≥ 0`.
    Ge0,
    /// `x ≤ 0`.
    Le0,
    /// `x = 0`.
    Eq0,
    /// `x < 0`.
    Lt0,
    /// `x > 0` (false for NaN).
    Gt0,
}

impl Test {
    /// Whether `x` passes.
    pub fn holds(self, x: f64) -> bool {
        match self {
            Test::Ge0 => x >= 0.0,
            Test::Le0 => x <= 0.0,
            Test::Eq0 => x == 0.0,
            Test::Lt0 => x < 0.0,
            Test::Gt0 => x > 0.0,
        }
    }
}

impl Scalar for f64 {
    fn value(self) -> f64 {
        self
    }

    fn is_structural_zero(self) -> bool {
        self == 0.0
    }

    fn is_tracked(self) -> bool {
        false
    }

    fn psd_root(n: usize, q: &[f64]) -> Result<Vec<f64>, String> {
        Ok(Sqrt::new(n, q).map_err(root_error)?.s)
    }
}

/// No tape entry: a constant.
const CONSTANT: u32 = u32::MAX;

/// A number with its place on the thread's tape (or a constant).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tracked {
    v: f64,
    id: u32,
}

/// One tape entry: up to two parents with the local partial derivatives.
#[derive(Clone, Copy)]
struct Entry {
    parents: [(u32, f64); 2],
}

/// The entries, in the order they were computed.
#[derive(Default)]
struct Tape {
    entries: Vec<Entry>,
}

thread_local! {
    static TAPE: RefCell<Tape> = RefCell::new(Tape::default());
}

fn push(parents: [(u32, f64); 2]) -> u32 {
    TAPE.with(|t| {
        let mut t = t.borrow_mut();
        t.entries.push(Entry { parents });
        (t.entries.len() - 1) as u32
    })
}

impl Tracked {
    /// A new independent variable with value `v`.
    pub fn leaf(v: f64) -> Tracked {
        Tracked { v, id: push([(CONSTANT, 0.0); 2]) }
    }

    /// `v` with `∂v/∂a = da`, `∂v/∂b = db`; constants stay off the tape.
    fn node(v: f64, a: Tracked, da: f64, b: Tracked, db: f64) -> Tracked {
        match (a.id, b.id) {
            (CONSTANT, CONSTANT) => Tracked { v, id: CONSTANT },
            (CONSTANT, _) => Tracked { v, id: push([(b.id, db), (CONSTANT, 0.0)]) },
            (_, CONSTANT) => Tracked { v, id: push([(a.id, da), (CONSTANT, 0.0)]) },
            _ => Tracked { v, id: push([(a.id, da), (b.id, db)]) },
        }
    }

    /// `∂out/∂leaf` for the leaves `ids` (reverse sweep over the tape).
    pub fn gradient(out: Tracked, leaves: &[Tracked]) -> Vec<f64> {
        if out.id == CONSTANT {
            return vec![0.0; leaves.len()];
        }
        let adjoint = TAPE.with(|t| {
            let t = t.borrow();
            let mut adj = vec![0.0; out.id as usize + 1];
            adj[out.id as usize] = 1.0;
            for k in (0..=out.id as usize).rev() {
                let a = adj[k];
                if a == 0.0 {
                    continue;
                }
                for (p, d) in t.entries[k].parents {
                    if p != CONSTANT {
                        adj[p as usize] += a * d;
                    }
                }
            }
            adj
        });
        leaves
            .iter()
            .map(|l| if l.id == CONSTANT { 0.0 } else { adjoint.get(l.id as usize).copied().unwrap_or(0.0) })
            .collect()
    }

    /// `Σ_leaf ∂out/∂leaf · ṫ_leaf` for each of `outs`, with `dots[k]` the tangent
    /// of `leaves[k]` (forward sweep over the tape: each entry after its parents).
    pub fn tangent(outs: &[Tracked], leaves: &[Tracked], dots: &[f64]) -> Vec<f64> {
        TAPE.with(|t| {
            let t = t.borrow();
            let mut tan = vec![0.0; t.entries.len()];
            for (l, &d) in leaves.iter().zip(dots) {
                if l.id != CONSTANT {
                    tan[l.id as usize] += d;
                }
            }
            for k in 0..t.entries.len() {
                for (p, d) in t.entries[k].parents {
                    if p != CONSTANT {
                        tan[k] += d * tan[p as usize];
                    }
                }
            }
            outs.iter().map(|o| if o.id == CONSTANT { 0.0 } else { tan[o.id as usize] }).collect()
        })
    }
}

/// An empty tape for one backward pass; the thread's previous tape (an outer
/// session's, or an empty one) is set aside and restored when dropped, so one
/// backward pass never sees another's entries, even nested on one thread.
pub struct TapeSession {
    outer: Tape,
}

impl TapeSession {
    pub fn start() -> TapeSession {
        TapeSession { outer: TAPE.with(|t| std::mem::take(&mut *t.borrow_mut())) }
    }
}

impl Drop for TapeSession {
    fn drop(&mut self) {
        let outer = std::mem::take(&mut self.outer);
        TAPE.with(|t| *t.borrow_mut() = outer);
    }
}

impl From<f64> for Tracked {
    fn from(v: f64) -> Tracked {
        Tracked { v, id: CONSTANT }
    }
}

impl Add for Tracked {
    type Output = Tracked;
    fn add(self, b: Tracked) -> Tracked {
        Tracked::node(self.v + b.v, self, 1.0, b, 1.0)
    }
}

impl Sub for Tracked {
    type Output = Tracked;
    fn sub(self, b: Tracked) -> Tracked {
        Tracked::node(self.v - b.v, self, 1.0, b, -1.0)
    }
}

impl Mul for Tracked {
    type Output = Tracked;
    fn mul(self, b: Tracked) -> Tracked {
        Tracked::node(self.v * b.v, self, b.v, b, self.v)
    }
}

impl Mul<f64> for Tracked {
    type Output = Tracked;
    fn mul(self, w: f64) -> Tracked {
        Tracked::node(self.v * w, self, w, Tracked::from(0.0), 0.0)
    }
}

impl Div for Tracked {
    type Output = Tracked;
    fn div(self, b: Tracked) -> Tracked {
        Tracked::node(self.v / b.v, self, 1.0 / b.v, b, -self.v / (b.v * b.v))
    }
}

impl Neg for Tracked {
    type Output = Tracked;
    fn neg(self) -> Tracked {
        self * -1.0
    }
}

impl Scalar for Tracked {
    fn value(self) -> f64 {
        self.v
    }

    fn is_structural_zero(self) -> bool {
        self.id == CONSTANT && self.v == 0.0
    }

    fn is_tracked(self) -> bool {
        self.id != CONSTANT
    }

    /// The root's entries as constants, at any PSD Q, singular or not. The one
    /// reduction that takes a root, `quad_form` in a constraint, reports the
    /// constraint `t ≥ xᵀQx` to its sink ([`super::builder::Sink::quad_form`]),
    /// and the backward pass's sink differentiates that in Q directly
    /// ([`super::sensitivity`]): S moves like √ε where Q is singular, the
    /// constraint linearly everywhere.
    fn psd_root(n: usize, q: &[Tracked]) -> Result<Vec<Tracked>, String> {
        let values: Vec<f64> = q.iter().map(|x| x.v).collect();
        let root = Sqrt::new(n, &values).map_err(root_error)?;
        Ok(root.s.iter().map(|&v| Tracked::from(v)).collect())
    }
}

/// A tensor of scalars: parameter data as the reductions see it (row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct Data<S> {
    pub shape: Vec<usize>,
    pub data: Vec<S>,
}

impl<S: Scalar> Data<S> {
    pub fn filled(shape: Vec<usize>, v: S) -> Self {
        let len = shape.iter().product();
        Data { shape, data: vec![v; len] }
    }

    pub fn as_scalar(&self) -> Option<S> {
        (self.data.len() == 1).then(|| self.data[0])
    }

    pub fn map(&self, f: impl Fn(S) -> S) -> Self {
        Data { shape: self.shape.clone(), data: self.data.iter().map(|&x| f(x)).collect() }
    }

    /// Elementwise `f` with numpy broadcasting.
    pub fn zip(&self, b: &Self, f: impl Fn(S, S) -> S) -> Option<Self> {
        let shape = broadcast_shape(&self.shape, &b.shape)?;
        let (x, y) = (broadcast_data(&self.data, &self.shape, &shape), broadcast_data(&b.data, &b.shape, &shape));
        Some(Data { shape, data: x.into_iter().zip(y).map(|(x, y)| f(x, y)).collect() })
    }

    pub fn broadcast_to(&self, to: &[usize]) -> Self {
        Data { shape: to.to_vec(), data: broadcast_data(&self.data, &self.shape, to) }
    }

    /// Sums a broadcast weight back to the shape `to`.
    pub fn unbroadcast(&self, to: &[usize]) -> Self {
        if self.shape == to {
            return self.clone();
        }
        Data { shape: to.to_vec(), data: unbroadcast_data(&self.data, &self.shape, to, S::from(0.0)) }
    }
}

impl From<Tensor> for Data<f64> {
    fn from(t: Tensor) -> Self {
        Data { shape: t.shape, data: t.data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_sweep_matches_hand_derivatives() {
        let _s = TapeSession::start();
        let (a, b) = (Tracked::leaf(3.0), Tracked::leaf(-2.0));
        // f = (a·b + a) / b − 2a  →  ∂f/∂a = (b + 1)/b − 2,  ∂f/∂b = −a/b².
        let f = (a * b + a) / b - a * 2.0;
        let g = Tracked::gradient(f, &[a, b]);
        assert!((g[0] - ((-2.0 + 1.0) / -2.0 - 2.0)).abs() < 1e-15);
        assert!((g[1] - (-3.0 / 4.0)).abs() < 1e-15);
        // Constants never reach the tape.
        let c = Tracked::from(2.0) * Tracked::from(4.0);
        assert!(!c.is_structural_zero() && Tracked::gradient(c, &[a]) == vec![0.0]);
    }

    #[test]
    fn nested_sessions_keep_the_outer_tape() {
        let _outer = TapeSession::start();
        let a = Tracked::leaf(3.0);
        let f = a * a;
        {
            let _inner = TapeSession::start();
            let b = Tracked::leaf(5.0);
            assert_eq!(Tracked::gradient(b * 2.0, &[b]), vec![2.0]);
        }
        assert_eq!(Tracked::gradient(f, &[a]), vec![6.0]);
    }
}
