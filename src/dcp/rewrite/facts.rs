//! The e-class analysis: what is true of every term in a class, whichever way it
//! is written — its shape, its value when it is a constant, an interval holding
//! every entry, strict positivity, and whether it depends on the variables.
//!
//! Intervals come from the declared types (`pos`: (0, ∞), `nonneg`: [0, ∞)),
//! literals and the atoms' ranges (`exp` > 0, `sqrt` ≥ 0, `sigmoid` ∈ (0, 1), …),
//! combined by interval arithmetic. Merging two classes intersects their facts:
//! equal terms have equal values, so what one spelling proves holds for both.
//! The rules' side conditions read these facts ([`super::rules`]).

use egg::{Analysis, DidMerge, EGraph, Id, Language};
use ordered_float::OrderedFloat;

use crate::atoms::Atom;
use crate::ir::{Expr, ExprKind, Shape};
use crate::symbolic::{fold, Math, Shapes};
use crate::syntax::ast::BaseType;

/// What is known of one e-class.
#[derive(Clone, Debug)]
pub struct Fact {
    /// The shape every term of the class has.
    pub shape: Shape,
    /// The value, for a scalar constant.
    pub value: Option<f64>,
    /// Every entry lies in `[lo, hi]` wherever the term is defined.
    pub lo: f64,
    /// The upper end of that interval (`lo` is the lower).
    pub hi: f64,
    /// Every entry is strictly positive (an open lower bound at 0 that `lo`
    /// cannot say).
    pub pos: bool,
    /// No variable occurs: the class is data.
    pub data: bool,
}

impl Fact {
    /// Every entry is ≥ 0.
    pub fn nonneg(&self) -> bool {
        self.lo >= 0.0
    }

    /// Every entry is > 0.
    pub fn positive(&self) -> bool {
        self.pos || self.lo > 0.0
    }

    /// Every entry is nonzero.
    pub fn nonzero(&self) -> bool {
        self.positive() || self.hi < 0.0
    }

    fn range(lo: f64, hi: f64) -> (f64, f64, bool) {
        (lo, hi, lo > 0.0)
    }
}

/// The analysis; holds the leaves of the conversion (`Shapes`) and the node's
/// declared types.
pub struct Facts {
    /// What the leaf symbols of the conversion stand for, and their shapes.
    pub shapes: Shapes,
    /// Each parameter's declared base type, by [`crate::ir::ParamId`].
    pub params: Vec<BaseType>,
    /// Each variable's declared base type, by [`crate::ir::VarId`].
    pub vars: Vec<BaseType>,
}

const ANY: (f64, f64, bool) = (f64::NEG_INFINITY, f64::INFINITY, false);
const NONNEG: (f64, f64, bool) = (0.0, f64::INFINITY, false);
const POSITIVE: (f64, f64, bool) = (0.0, f64::INFINITY, true);

/// `[a, b] · [c, d]`, with 0 · ∞ = 0 (a zero factor is exactly zero).
fn mul(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let m = |x: f64, y: f64| if x == 0.0 || y == 0.0 { 0.0 } else { x * y };
    let p = [m(a.0, b.0), m(a.0, b.1), m(a.1, b.0), m(a.1, b.1)];
    (p.iter().copied().fold(f64::INFINITY, f64::min), p.iter().copied().fold(f64::NEG_INFINITY, f64::max))
}

impl Facts {
    fn base(b: Option<&BaseType>) -> (f64, f64, bool) {
        match b {
            Some(BaseType::Pos) => POSITIVE,
            Some(BaseType::Nonneg) => NONNEG,
            _ => ANY,
        }
    }

    /// A leaf's range: its declared type, or what a constant matrix holds.
    fn leaf(&self, e: &Expr) -> (f64, f64, bool) {
        match &e.kind {
            ExprKind::Param(p) => Facts::base(self.params.get(p.0 as usize)),
            ExprKind::Var(v) => Facts::base(self.vars.get(v.0 as usize)),
            ExprKind::Dim(_) => NONNEG,
            ExprKind::Index { base, .. } | ExprKind::Transpose(base) => self.leaf(base),
            ExprKind::Atom { atom: Atom::Ones, .. } => (1.0, 1.0, true),
            ExprKind::Atom { atom: Atom::Zeros, .. } => (0.0, 0.0, false),
            ExprKind::Atom { atom: Atom::Eye, .. } => (0.0, 1.0, false),
            ExprKind::Const(c) => Fact::range(*c, *c),
            _ => ANY,
        }
    }
}

/// The range of `atom` of arguments with ranges `a`.
fn atom_range(atom: Atom, a: &[&Fact]) -> (f64, f64, bool) {
    let x = |i: usize| a.get(i).map_or(ANY, |f| (f.lo, f.hi, f.positive()));
    let (lo, hi, pos) = x(0);
    let abs_hi = lo.abs().max(hi.abs());
    let abs_lo = if lo > 0.0 {
        lo
    } else if hi < 0.0 {
        -hi
    } else {
        0.0
    };
    let nonzero = pos || hi < 0.0;
    match atom {
        Atom::Exp => (lo.exp(), hi.exp(), true),
        Atom::Log if lo > 0.0 => (lo.ln(), hi.ln(), lo > 1.0),
        Atom::Sqrt => (lo.max(0.0).sqrt(), hi.max(0.0).sqrt(), pos),
        Atom::Abs | Atom::Norm | Atom::Norm1 | Atom::NormInf => (abs_lo, abs_hi, nonzero),
        Atom::Square => (abs_lo * abs_lo, abs_hi * abs_hi, nonzero),
        Atom::SumSquares | Atom::QuadForm | Atom::QuadOverLin | Atom::Huber | Atom::KlDiv => NONNEG,
        // √(a² + Σx²) ≥ |a|, and ≥ |xᵢ| for each entry it sums
        Atom::Hypot => (0.0, f64::INFINITY, a.iter().any(|f| f.nonzero())),
        Atom::InvPos => (if hi > 0.0 { 1.0 / hi } else { 0.0 }, f64::INFINITY, true),
        Atom::Pos => (lo.max(0.0), hi.max(0.0), pos),
        Atom::Logistic => (0.0, f64::INFINITY, true),
        Atom::Sigmoid => (0.0, 1.0, true),
        Atom::Tanh => (lo.tanh(), hi.tanh(), pos),
        Atom::Sin | Atom::Cos => (-1.0, 1.0, false),
        Atom::Xlogx => (-(-1f64).exp(), f64::INFINITY, false),
        // every entry is one of the arguments' entries
        Atom::Max | Atom::Min | Atom::Hstack | Atom::Vstack => {
            let lo = a.iter().map(|f| f.lo).fold(f64::INFINITY, f64::min);
            let hi = a.iter().map(|f| f.hi).fold(f64::NEG_INFINITY, f64::max);
            (lo, hi, a.iter().all(|f| f.positive()))
        }
        // an argument's entries and zeros
        Atom::Diag => (lo.min(0.0), hi.max(0.0), false),
        Atom::Maximum => {
            let lo = a.iter().map(|f| f.lo).fold(f64::NEG_INFINITY, f64::max);
            let hi = a.iter().map(|f| f.hi).fold(f64::NEG_INFINITY, f64::max);
            (lo, hi, a.iter().any(|f| f.positive()))
        }
        Atom::Minimum => {
            let lo = a.iter().map(|f| f.lo).fold(f64::INFINITY, f64::min);
            let hi = a.iter().map(|f| f.hi).fold(f64::INFINITY, f64::min);
            (lo, hi, a.iter().all(|f| f.positive()))
        }
        // a sum or mean of entries in [lo, hi]: its sign, and positive when they are
        Atom::Sum | Atom::Mean => {
            (if lo >= 0.0 { 0.0 } else { f64::NEG_INFINITY }, if hi <= 0.0 { 0.0 } else { f64::INFINITY }, pos)
        }
        _ => ANY,
    }
}

impl Analysis<Math> for Facts {
    type Data = Fact;

    fn make(egraph: &mut EGraph<Math, Self>, node: &Math, _id: Id) -> Fact {
        let g = |c: Id| &egraph[c].data;
        let shape = egraph.analysis.shapes.shape_of(node, |c| g(c).shape.clone());
        let value = fold(node, |c| g(c).value).filter(|x| x.is_finite());
        let data = match node {
            Math::Leaf(s) => egraph.analysis.shapes.leaf(*s).is_none_or(Expr::is_data),
            _ => node.children().iter().all(|&c| g(c).data),
        };
        let r = |c: Id| (g(c).lo, g(c).hi);
        let (lo, hi, pos) = if let Some(v) = value {
            Fact::range(v, v)
        } else {
            match node {
                Math::Num(c) => Fact::range(c.0, c.0),
                Math::Leaf(s) => egraph.analysis.shapes.leaf(*s).map_or(ANY, |e| egraph.analysis.leaf(e)),
                Math::Add([a, b]) => {
                    let (x, y) = (g(*a), g(*b));
                    (x.lo + y.lo, x.hi + y.hi, (x.positive() && y.nonneg()) || (y.positive() && x.nonneg()))
                }
                Math::Sub([a, b]) => {
                    let (x, y) = (g(*a), g(*b));
                    (x.lo - y.hi, x.hi - y.lo, x.positive() && y.hi <= 0.0)
                }
                Math::Neg(a) => (-g(*a).hi, -g(*a).lo, false),
                Math::Mul([a, b]) => {
                    let (lo, hi) = mul(r(*a), r(*b));
                    (lo, hi, g(*a).positive() && g(*b).positive())
                }
                Math::Div([a, b]) if g(*b).positive() || g(*b).hi < 0.0 => {
                    // b keeps one strict sign, so 1/b lies between 1/hi and 1/lo
                    let (l, h) = r(*b);
                    let (p, q) = (1.0 / h, 1.0 / l);
                    let (lo, hi) = mul(r(*a), (p.min(q), p.max(q)));
                    (lo, hi, g(*a).positive() && g(*b).positive())
                }
                Math::Pow([a, p]) => match g(*p).value {
                    Some(p) => pow_range(g(*a), p),
                    None => ANY,
                },
                Math::Transpose(a) => (g(*a).lo, g(*a).hi, g(*a).positive()),
                Math::Op(s, args) => match Shapes::op(*s) {
                    Some((atom, _)) => {
                        let facts: Vec<&Fact> = args.iter().map(|&c| g(c)).collect();
                        atom_range(atom, &facts)
                    }
                    None => ANY,
                },
                _ => ANY,
            }
        };
        let lo = if lo.is_nan() { f64::NEG_INFINITY } else { lo };
        let hi = if hi.is_nan() { f64::INFINITY } else { hi };
        Fact { shape, value, lo, hi, pos, data }
    }

    fn merge(&mut self, to: &mut Fact, from: Fact) -> DidMerge {
        let before = (to.value, to.lo, to.hi, to.pos, to.data);
        let took_value = to.value.is_none() && from.value.is_some();
        to.value = to.value.or(from.value);
        to.lo = to.lo.max(from.lo);
        to.hi = to.hi.min(from.hi);
        to.pos |= from.pos;
        to.data |= from.data;
        let changed = before != (to.value, to.lo, to.hi, to.pos, to.data) || took_value;
        let from_differs =
            (to.value, to.lo, to.hi, to.pos, to.data) != (from.value, from.lo, from.hi, from.pos, from.data);
        DidMerge(changed, from_differs)
    }

    fn modify(egraph: &mut EGraph<Math, Self>, id: Id) {
        if let Some(c) = egraph[id].data.value {
            let num = egraph.add(Math::Num(OrderedFloat(c)));
            egraph.union(id, num);
        }
    }
}

/// The range of `x^p`.
fn pow_range(x: &Fact, p: f64) -> (f64, f64, bool) {
    let even = p.fract() == 0.0 && (p / 2.0).fract() == 0.0;
    let nz = x.nonzero();
    if p == 0.0 {
        return (1.0, 1.0, true);
    }
    if x.nonneg() {
        // monotone on [0, ∞): increasing for p > 0, decreasing for p < 0
        let (a, b) = (x.lo.powf(p), x.hi.powf(p));
        return (a.min(b), a.max(b), x.positive());
    }
    if even {
        let m = x.lo.abs().max(x.hi.abs());
        return if p > 0.0 { (0.0, m.powf(p), nz) } else { (0.0, f64::INFINITY, true) };
    }
    if p.fract() != 0.0 {
        // defined for x ≥ 0 only
        return NONNEG;
    }
    ANY
}
