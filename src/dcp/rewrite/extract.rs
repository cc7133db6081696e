//! Extraction: the cheapest DCP-compliant term of each e-class.
//!
//! A term's cost is `(bad, cone, size)`, compared in that order: `bad` counts
//! its subterms whose curvature DCP cannot determine (so any DCP-compliant
//! spelling beats every non-compliant one, as if those were infinitely
//! expensive), `cone` is the cheapest cone family it needs (affine < piecewise
//! linear < quadratic < second-order < other), and `size` its number of
//! operations. Curvature is not a property of an e-class (equal functions may
//! be DCP in one spelling and not in another), so it is computed per e-node,
//! bottom-up over the children's best terms, by the one composition rule of
//! [`crate::dcp::analyze`]; the sign and positivity it composes with are the
//! e-class facts, which hold for every spelling.

use std::cmp::Ordering;

use egg::{CostFunction, EGraph, Id, Language};

use super::facts::Facts;
use crate::dcp::{analyze, analyze_with, Analysis, ConeClass, Curvature, Sign};
use crate::diag::Span;
use crate::ir::{Expr, ExprKind, SymId};
use crate::symbolic::{node_kind, Math};

/// The cost of the best term of a class, with its analysis.
#[derive(Clone, Debug)]
pub struct Cost {
    /// Subterms whose curvature DCP cannot determine (compared first).
    pub bad: u32,
    /// The cone family the term needs (compared second).
    pub cone: ConeClass,
    /// Its number of operations (compared last).
    pub size: u32,
    /// The term's analysis, composed from its children's best terms.
    pub analysis: Analysis,
}

impl PartialEq for Cost {
    fn eq(&self, o: &Self) -> bool {
        self.partial_cmp(o) == Some(Ordering::Equal)
    }
}

impl PartialOrd for Cost {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some((self.bad, self.cone, self.size).cmp(&(o.bad, o.cone, o.size)))
    }
}

/// The cost function over the rewrite stage's e-graph.
pub struct DcpCost<'a>(pub &'a EGraph<Math, Facts>);

impl DcpCost<'_> {
    /// The best term's analysis of class `c`, its sign and positivity
    /// sharpened by the class's facts.
    fn child(&self, c: Id, cost: Cost) -> Analysis {
        let f = &self.0[c].data;
        let mut a = cost.analysis;
        if f.lo >= 0.0 && f.hi <= 0.0 {
            a.sign = Sign::Zero;
        } else if f.nonneg() {
            a.sign = Sign::Nonneg;
        } else if f.hi <= 0.0 {
            a.sign = Sign::Nonpos;
        }
        a.positive |= f.positive();
        a
    }
}

impl CostFunction<Math> for DcpCost<'_> {
    type Cost = Cost;

    fn cost<C: FnMut(Id) -> Cost>(&mut self, node: &Math, mut costs: C) -> Cost {
        let g = self.0;
        let facts = &g.analysis;
        let kids: Vec<Id> = node.children().to_vec();
        let kid_costs: Vec<Cost> = kids.iter().map(|&c| costs(c)).collect();
        let shape = facts.shapes.shape_of(node, |c| g[c].data.shape.clone());
        let e = match node {
            Math::Leaf(s) => facts.shapes.leaf(*s).cloned().unwrap_or(Expr {
                kind: ExprKind::Const(0.0),
                shape: shape.clone(),
                span: Span::default(),
            }),
            _ => {
                let sym = |c: Id| {
                    let k = kids.iter().position(|&x| x == c).unwrap_or(0);
                    Expr {
                        kind: ExprKind::Sym { id: SymId(k as u32), name: format!("#{k}") },
                        shape: g[c].data.shape.clone(),
                        span: Span::default(),
                    }
                };
                let exponent = |p: Id| g[p].data.value.unwrap_or(f64::NAN);
                Expr { kind: node_kind(node, &facts.shapes, sym, exponent), shape, span: Span::default() }
            }
        };
        let analysis = if kids.is_empty() {
            analyze(&e, &facts.params, &facts.vars)
        } else {
            let syms: Vec<Analysis> = kids.iter().zip(&kid_costs).map(|(&c, k)| self.child(c, k.clone())).collect();
            analyze_with(&e, &facts.params, &facts.vars, &syms)
        };
        // a power's exponent is part of the operation, as in `ExprKind::Pow`
        let counted: Vec<&Cost> = match node {
            Math::Pow(_) => kid_costs.iter().take(1).collect(),
            _ => kid_costs.iter().collect(),
        };
        let bad = counted.iter().map(|k| k.bad).sum::<u32>() + u32::from(analysis.curvature == Curvature::Unknown);
        let size = 1 + counted.iter().map(|k| k.size).sum::<u32>();
        Cost { bad, cone: analysis.cone, size, analysis }
    }
}
