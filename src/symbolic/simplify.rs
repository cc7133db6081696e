//! egg simplification of derived expressions.
//!
//! [`Math`] mirrors the IR's arithmetic (`+ - * / neg pow @ T`); atoms are
//! `Op(name, args)` (with `@axis` in the name when they reduce along one), and
//! leaves (parameters, variables, symbols, dimension sizes, `zeros(m, n)`,
//! indexing) are interned symbols `$k`. Atoms whose result shape is part of the
//! operation (`sum_to`, `spread`) take that shape as a last child, a shape leaf
//! `#k`.
//!
//! numpy broadcasting makes some identities shape-dependent (`x * 0 → 0` only
//! for a scalar `x`), so the e-class analysis ([`Shapes`]) carries every class's
//! shape, computed by the checker's rules, and the rules ([`super::rules`]) test
//! shapes in their conditions. It also folds scalar constants, and records
//! what each class divides by, so that a factor cancels only where that keeps
//! the domain.
//!
//! Runs are bounded by iteration and node limits and stop when the cheapest
//! extraction stalls ([`STALL_LIMIT`]), never by time, so results do
//! not depend on machine speed; with egg's `deterministic` feature they do not
//! depend on hashing either. Extraction minimises [`FewerProducts`].

use std::time::Duration;

use egg::{
    define_language, Analysis, CostFunction, DidMerge, EGraph, Id, Language, RecExpr, Runner, StopReason, Symbol,
};
use ordered_float::OrderedFloat;

use super::build::matmul_shape;
use crate::atoms::{Atom, ShapeArgs};
use crate::ir::{Arith, Expr, ExprKind, Shape};

define_language! {
    /// The IR's expressions as an egg language.
    pub enum Math {
        "+" = Add([Id; 2]),
        "-" = Sub([Id; 2]),
        "*" = Mul([Id; 2]),
        "/" = Div([Id; 2]),
        "neg" = Neg(Id),
        "pow" = Pow([Id; 2]),
        "@" = MatMul([Id; 2]),
        "T" = Transpose(Id),
        Num(OrderedFloat<f64>),
        Leaf(Symbol),
        Op(Symbol, Vec<Id>),
    }
}

/// Iteration bound of one run: the rules are directional and shrinking, so
/// saturation normally comes within a handful of iterations.
pub const ITER_LIMIT: usize = 30;
/// A run also stops once this many iterations in a row found no cheaper
/// extraction ([`FewerProducts`]) of the root. Where the rules do not
/// saturate, the e-graph keeps growing by equivalent forms of one cost (egg's
/// backoff keeps banning and readmitting `mul-quot`, whose matches multiply
/// the `/` forms of two classes: 469 084 of them in a 4 174-node graph of
/// pseudo-Huber's mixed partial), and each iteration costs more than the one
/// before. Measured over every derivation of the stdlib (2026-12-06), the
/// cheapest form is found by the eighth iteration and the longest run of
/// iterations without a cheaper one that was followed by a cheaper one is
/// three, and stopping after six leaves every derived expression of the
/// stdlib as it was while `ddnc explain stdlib/robust_pooling.ddn` (five
/// smooth nodes, each derivation at the iteration limit before) went from
/// 1.18 s to 0.13 s: the iterations after the cheapest form was found were
/// nearly all of the time.
pub const STALL_LIMIT: usize = 6;
/// E-node bound of one run.
pub const NODE_LIMIT: usize = 20_000;

/// A shape, for a scalar constant its value, and the classes at whose zeros
/// the term is undefined.
#[derive(Clone, Debug)]
pub struct ClassData {
    /// The shape every term of the class has.
    pub shape: Shape,
    /// The value, for a scalar constant.
    pub value: Option<f64>,
    /// `d` is here when the term divides by `d` (or raises it to a negative
    /// power): where `d = 0` the term is undefined, so a rewrite that removes
    /// another division by `d` keeps the domain. Ids as recorded: compare
    /// through `EGraph::find`.
    pub guards: Vec<Id>,
}

/// The e-class analysis: shapes by the checker's rules, and constant folding.
/// Holds what the symbols of one conversion stand for.
#[derive(Default)]
pub struct Shapes {
    /// `$k`: the leaf expression.
    leaves: Vec<Expr>,
    /// `#k`: a result shape carried by `sum_to`/`spread`.
    shapes: Vec<Shape>,
}

impl Shapes {
    fn leaf_shape(&self, s: Symbol) -> Shape {
        let name = s.as_str();
        let k = |p: &str| name.strip_prefix(p).and_then(|k| k.parse::<usize>().ok());
        if let Some(k) = k("#") {
            self.shapes[k].clone()
        } else {
            k("$").map(|k| self.leaves[k].shape.clone()).unwrap_or_default()
        }
    }

    /// `name` or `name@axis` as an atom and its axis.
    pub(crate) fn op(s: Symbol) -> Option<(Atom, Option<u8>)> {
        let (name, axis) = match s.as_str().split_once('@') {
            Some((name, ax)) => (name, Some(ax.parse().ok()?)),
            None => (s.as_str(), None),
        };
        Some((crate::atoms::by_name(name)?, axis))
    }

    /// The expression a leaf symbol `$k` stands for (`None` for a shape leaf `#k`).
    pub(crate) fn leaf(&self, s: Symbol) -> Option<&Expr> {
        s.as_str().strip_prefix('$').and_then(|k| k.parse::<usize>().ok()).and_then(|k| self.leaves.get(k))
    }

    /// The shape of `node` given its children's shapes (the checker's rules).
    pub(crate) fn shape_of(&self, node: &Math, child: impl Fn(Id) -> Shape) -> Shape {
        let broadcast = |a: Id, b: Id| child(a).broadcast(&child(b)).unwrap_or_default();
        match node {
            Math::Num(_) => Shape::scalar(),
            Math::Leaf(s) => self.leaf_shape(*s),
            Math::Add([a, b]) | Math::Sub([a, b]) | Math::Mul([a, b]) | Math::Div([a, b]) => broadcast(*a, *b),
            Math::Neg(a) | Math::Pow([a, _]) => child(*a),
            Math::MatMul([a, b]) => matmul_shape(&child(*a), &child(*b)),
            Math::Transpose(a) => child(*a).transpose(),
            Math::Op(s, args) => match Shapes::op(*s) {
                Some((atom, _)) if atom.carries_shape() => args.last().map(|&a| child(a)).unwrap_or_default(),
                Some((atom, axis)) => {
                    let shapes: Vec<Shape> = args.iter().map(|&a| child(a)).collect();
                    let show = |s: &Shape| format!("{s:?}");
                    (atom.info().shape)(&ShapeArgs { shapes: &shapes, axis, sizes: &[], show: &show })
                        .unwrap_or_default()
                }
                None => Shape::scalar(),
            },
        }
    }
}

impl Analysis<Math> for Shapes {
    type Data = ClassData;

    fn make(egraph: &mut EGraph<Math, Self>, node: &Math, _id: Id) -> ClassData {
        let shape = egraph.analysis.shape_of(node, |c| egraph[c].data.shape.clone());
        let value = fold(node, |c| egraph[c].data.value).filter(|x| x.is_finite());
        let mut guards: Vec<Id> = node.children().iter().flat_map(|&c| egraph[c].data.guards.clone()).collect();
        match node {
            Math::Div([_, b]) => guards.push(*b),
            Math::Pow([a, p]) if egraph[*p].data.value.is_some_and(|p| p < 0.0) => guards.push(*a),
            _ => {}
        }
        guards.sort();
        guards.dedup();
        // A constant is defined everywhere, whatever term in its class spelled
        // it (`x / a * 0` and `0` share one class): claim no guards for it.
        if value.is_some() {
            guards.clear();
        }
        ClassData { shape, value, guards }
    }

    fn merge(&mut self, to: &mut ClassData, from: ClassData) -> DidMerge {
        let took = to.value.is_none() && from.value.is_some();
        if took {
            to.value = from.value;
        }
        let gave = to.value.is_some() && from.value.is_none();
        // equal terms have equal domains (the rules keep the domain, but for
        // `x * 0 → 0`, which drops x's), so what one of them proves holds for
        // the class
        // A class with a constant value keeps no guards (see `make`).
        let mut guards = Vec::new();
        if to.value.is_none() {
            guards.extend(&to.guards);
            guards.extend(&from.guards);
            guards.sort();
            guards.dedup();
        }
        let (to_changed, from_differs) = (guards != to.guards, guards != from.guards);
        to.guards = guards;
        DidMerge(took || to_changed, gave || from_differs)
    }

    fn modify(egraph: &mut EGraph<Math, Self>, id: Id) {
        if let Some(c) = egraph[id].data.value {
            let num = egraph.add(Math::Num(OrderedFloat(c)));
            egraph.union(id, num);
        }
    }
}

/// The value of `node` when its children are scalar constants.
pub(crate) fn fold(node: &Math, v: impl Fn(Id) -> Option<f64>) -> Option<f64> {
    Some(match node {
        Math::Num(c) => c.0,
        Math::Neg(a) => -v(*a)?,
        Math::Add([a, b]) => v(*a)? + v(*b)?,
        Math::Sub([a, b]) => v(*a)? - v(*b)?,
        Math::Mul([a, b]) => v(*a)? * v(*b)?,
        Math::Div([a, b]) => v(*a)? / v(*b)?,
        Math::Pow([a, p]) => v(*a)?.powf(v(*p)?),
        _ => return None,
    })
}

/// Extraction cost: the number of IR nodes (a power with its constant
/// exponent is one), with a matrix product counting as
/// eight (a factored `A @ (b + c)` beats `A @ b + A @ c`). Every cost is
/// doubled so that a tie-break fits in between: a product with a constant on
/// the right costs one more, so `2 * x` is written rather than `x * 2`.
pub struct FewerProducts<'a>(pub &'a EGraph<Math, Shapes>);

impl CostFunction<Math> for FewerProducts<'_> {
    type Cost = usize;

    fn cost<C: FnMut(Id) -> usize>(&mut self, node: &Math, mut costs: C) -> usize {
        let own = match node {
            Math::MatMul(_) => 16,
            Math::Mul([_, b]) if self.0[*b].data.value.is_some() => 3,
            // and a negated leaf costs one more, so `-(X @ u)` beats `X @ -u`
            Math::Neg(a) if self.0[*a].nodes.iter().any(|n| matches!(n, Math::Leaf(_))) => 3,
            _ => 2,
        };
        match node {
            // one IR node: the exponent is part of it, as in `ExprKind::Pow`
            Math::Pow([a, _]) => own + costs(*a),
            _ => node.fold(own, |sum, id| sum + costs(id)),
        }
    }
}

/// A simplified expression and how the run ended.
#[derive(Clone, Debug)]
pub struct Simplified {
    /// The cheapest equivalent expression egg extracted.
    pub expr: Expr,
    /// Why the run stopped: saturated, or at the node or iteration limit.
    pub stop: StopReason,
    /// egg iterations run.
    pub iterations: usize,
}

impl Simplified {
    /// `saturated after 4 iterations`, `node limit after 12 iterations`.
    pub fn stop_str(&self) -> String {
        let why = match &self.stop {
            StopReason::Saturated => "saturated".to_string(),
            StopReason::IterationLimit(_) => "iteration limit".into(),
            StopReason::NodeLimit(_) => "node limit".into(),
            StopReason::TimeLimit(_) => "time limit".into(),
            StopReason::Other(s) => s.clone(),
        };
        format!("{why} after {} iterations", self.iterations)
    }
}

/// `e` simplified by the rules of `super::rules`, bounded by `ITER_LIMIT`,
/// `NODE_LIMIT` and `STALL_LIMIT`.
pub fn simplify(e: &Expr) -> Simplified {
    let mut shapes = Shapes::default();
    let mut rec = RecExpr::default();
    to_egg(e, &mut shapes, &mut rec);
    let runner = Runner::<Math, Shapes>::new(shapes)
        .with_iter_limit(ITER_LIMIT)
        .with_node_limit(NODE_LIMIT)
        .with_time_limit(Duration::MAX)
        .with_expr(&rec)
        .with_hook(stall_stop())
        .run(&super::rules::all());
    let root = runner.roots[0];
    let (_, best) = egg::Extractor::new(&runner.egraph, FewerProducts(&runner.egraph)).find_best(root);
    let expr = from_egg(&best, &runner.egraph.analysis, e);
    let stop = runner.stop_reason.clone().unwrap_or(StopReason::Saturated);
    Simplified { expr, stop, iterations: runner.iterations.len() }
}

/// The hook that stops a run after [`STALL_LIMIT`] iterations in a row
/// without a cheaper extraction of the root (egg calls hooks before each
/// iteration, so it sees the e-graph the previous one left).
fn stall_stop() -> impl FnMut(&mut Runner<Math, Shapes>) -> Result<(), String> {
    let (mut best, mut stalled) = (usize::MAX, 0);
    move |runner| {
        let Some(&root) = runner.roots.first() else { return Ok(()) };
        let (cost, _) = egg::Extractor::new(&runner.egraph, FewerProducts(&runner.egraph)).find_best(root);
        if cost < best {
            (best, stalled) = (cost, 0);
        } else {
            stalled += 1;
        }
        if stalled >= STALL_LIMIT {
            return Err(format!("no cheaper form in {STALL_LIMIT} iterations"));
        }
        Ok(())
    }
}

fn intern_leaf(e: &Expr, shapes: &mut Shapes) -> Symbol {
    // the same leaf written in two places is one e-class: spans do not count
    let k = shapes.leaves.iter().position(|l| l.kind == e.kind && l.shape == e.shape).unwrap_or_else(|| {
        shapes.leaves.push(e.clone());
        shapes.leaves.len() - 1
    });
    Symbol::from(format!("${k}"))
}

fn intern_shape(s: &Shape, shapes: &mut Shapes) -> Symbol {
    let k = shapes.shapes.iter().position(|t| t == s).unwrap_or_else(|| {
        shapes.shapes.push(s.clone());
        shapes.shapes.len() - 1
    });
    Symbol::from(format!("#{k}"))
}

fn op_symbol(atom: Atom, axis: Option<u8>) -> Symbol {
    match axis {
        Some(ax) => Symbol::from(format!("{}@{ax}", atom.name())),
        None => Symbol::from(atom.name()),
    }
}

pub(crate) fn to_egg(e: &Expr, shapes: &mut Shapes, rec: &mut RecExpr<Math>) -> Id {
    let mut kid = |c: &Expr, shapes: &mut Shapes| to_egg(c, shapes, rec);
    let node = match &e.kind {
        ExprKind::Const(c) => Math::Num(OrderedFloat(*c)),
        ExprKind::Neg(a) => Math::Neg(kid(a, shapes)),
        ExprKind::Binary { op, lhs, rhs } => {
            let pair = [kid(lhs, shapes), kid(rhs, shapes)];
            match op {
                Arith::Add => Math::Add(pair),
                Arith::Sub => Math::Sub(pair),
                Arith::Mul => Math::Mul(pair),
                Arith::Div => Math::Div(pair),
            }
        }
        ExprKind::Pow { base, p } => {
            let b = kid(base, shapes);
            Math::Pow([b, rec.add(Math::Num(OrderedFloat(*p)))])
        }
        ExprKind::MatMul(l, r) => Math::MatMul([kid(l, shapes), kid(r, shapes)]),
        ExprKind::Transpose(a) => Math::Transpose(kid(a, shapes)),
        ExprKind::Atom { atom, args, axis } if !args.is_empty() => {
            let mut ids: Vec<Id> = args.iter().map(|a| kid(a, shapes)).collect();
            if atom.carries_shape() {
                let s = intern_shape(&e.shape, shapes);
                ids.push(rec.add(Math::Leaf(s)));
            }
            Math::Op(op_symbol(*atom, *axis), ids)
        }
        // parameters, variables, symbols, sizes, constant matrices, indexing
        _ => Math::Leaf(intern_leaf(e, shapes)),
    };
    rec.add(node)
}

/// The IR of an extracted term; shapes are recomputed bottom-up by the same
/// rules as the analysis, spans are `like`'s.
pub(crate) fn from_egg(rec: &RecExpr<Math>, shapes: &Shapes, like: &Expr) -> Expr {
    let mut built: Vec<Expr> = Vec::with_capacity(rec.len());
    for node in rec.as_ref() {
        let shape = shapes.shape_of(node, |c| built[usize::from(c)].shape.clone());
        let exponent = |p: Id| match rec[p] {
            Math::Num(p) => p.0,
            _ => unreachable!("an exponent class always holds its constant (the analysis folds it)"),
        };
        let kind = node_kind(node, shapes, |c| built[usize::from(c)].clone(), exponent);
        let span = match node {
            Math::Leaf(s) => shapes.leaf(*s).map_or(like.span, |l| l.span),
            _ => like.span,
        };
        built.push(Expr { kind, shape, span });
    }
    built.pop().unwrap_or_else(|| like.clone())
}

/// The IR operation of one e-node, its children built by `kid` and a power's
/// exponent read by `exponent`.
pub(crate) fn node_kind(
    node: &Math,
    shapes: &Shapes,
    kid: impl Fn(Id) -> Expr,
    exponent: impl Fn(Id) -> f64,
) -> ExprKind {
    let k = |c: &Id| Box::new(kid(*c));
    match node {
        Math::Num(c) => ExprKind::Const(c.0),
        Math::Leaf(s) => match shapes.leaf(*s) {
            Some(l) => l.kind.clone(),
            // a shape leaf: only ever the last child of `sum_to`/`spread`, dropped there
            None => ExprKind::Const(0.0),
        },
        Math::Add([a, b]) => ExprKind::Binary { op: Arith::Add, lhs: k(a), rhs: k(b) },
        Math::Sub([a, b]) => ExprKind::Binary { op: Arith::Sub, lhs: k(a), rhs: k(b) },
        Math::Mul([a, b]) => ExprKind::Binary { op: Arith::Mul, lhs: k(a), rhs: k(b) },
        Math::Div([a, b]) => ExprKind::Binary { op: Arith::Div, lhs: k(a), rhs: k(b) },
        Math::Neg(a) => ExprKind::Neg(k(a)),
        Math::Pow([a, p]) => ExprKind::Pow { base: k(a), p: exponent(*p) },
        Math::MatMul([a, b]) => ExprKind::MatMul(k(a), k(b)),
        Math::Transpose(a) => ExprKind::Transpose(k(a)),
        Math::Op(s, ids) => {
            let (atom, axis) = Shapes::op(*s).expect("every op symbol names an atom (to_egg and the rules write them)");
            let n = if atom.carries_shape() { ids.len() - 1 } else { ids.len() };
            let args = ids[..n].iter().map(|c| kid(*c)).collect();
            ExprKind::Atom { atom, args, axis }
        }
    }
}
