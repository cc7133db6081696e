//! The DCP-seeking rewrite stage: a convex problem written the way a person
//! writes it (`alpha^2 * sqrt(1 + sum(z^2) / alpha^2)`, `log(exp(a) + exp(b))`,
//! `x^2 / y` with `y > 0`) is not DCP as written; this stage looks for an equal
//! expression that is, by equality saturation (egg), as CvxLean's pre-DCP
//! procedure does (Fernández Mir, Jackson, Bhat, Goens, Grosser).
//!
//! - `facts`: the e-class analysis — shape, constant value, an interval for
//!   every entry (from `pos`/`nonneg` types, literals and atom ranges), strict
//!   positivity, and whether the class is data;
//! - [`rules`]: named directional rules grouped by theory, each with the side
//!   condition that makes it an identity on its left side's domain;
//! - `extract`: the cost that makes a DCP-compliant term cheapest (then the
//!   cheapest cone, then the smallest).
//!
//! ddn has no proof assistant: soundness rests on the side conditions and on
//! tests that evaluate both sides of every rule at random points of its domain.
//! Runs are bounded by iterations and e-nodes, never by time, so the result does
//! not depend on machine speed. The stage runs only on nodes that are not DCP as
//! written (`sema` calls it; a DCP node is never changed), and the rules used,
//! in order, come from egg's explanation of the equality between the written
//! and the extracted term.

mod extract;
mod facts;
pub mod rules;

use std::time::Duration;

use egg::{RecExpr, Runner, StopReason};

use crate::ir::{Expr, Node};
use crate::symbolic::{from_egg, to_egg, Math, Shapes};
use crate::syntax::ast::BaseType;

pub use extract::{Cost, DcpCost};
pub use facts::{Fact, Facts};

/// Iteration bound of one run.
pub const ITER_LIMIT: usize = 12;
/// E-node bound of one run.
pub const NODE_LIMIT: usize = 10_000;

/// The verdict on a node that is DCP after rewriting (`ddnc check`'s reason
/// begins with it).
pub const VERDICT: &str = "convex (DCP after rewriting)";
/// How the classification note naming the rules used begins (`ddnc explain`
/// prints it).
pub const RULES: &str = "rewritten into DCP form by ";
/// How the classification note of a node the stage found no DCP form for
/// begins, when its run stopped at a limit (`ddnc check` and `ddnc explain`
/// print it: more iterations or e-nodes might have found one).
pub const NO_FORM: &str = "the DCP rewrite stage found no DCP form ";

/// Why a node smooth as written and DCP after rewriting keeps the smooth
/// forward by default (`ddnc explain` prints it; docs/benchmarks.md, "egg DCP
/// rewriting", has the measurement).
pub const SMOOTH_FORWARD: &str = "the smooth forward on the text as written is the default for a node smooth \
     as written, measured faster: on the pseudo-Huber pooling node at n = 1024, d = 16 (release build, loaded \
     machine) Newton's forward takes 6.2 ms, the interior point method's on the SOCP form 444 ms (72x)";

/// The expressions of one node after rewriting.
#[derive(Clone, Debug)]
pub struct Rewritten {
    /// One per input expression, in order (equal to it where no rule helped).
    pub exprs: Vec<Expr>,
    /// The rules used, in the order the explanation applies them (each once).
    pub rules: Vec<String>,
    /// How the run ended: `saturated after 5 iterations`, `node limit after 9 iterations`.
    pub stop: String,
}

/// Rewrites `exprs` (a node's objective and constraint sides) towards DCP form,
/// given the declared base types of the node's parameters and variables.
pub fn rewrite(exprs: &[&Expr], params: &[BaseType], vars: &[BaseType]) -> Rewritten {
    let mut shapes = Shapes::default();
    let recs: Vec<RecExpr<Math>> = exprs
        .iter()
        .map(|e| {
            let mut rec = RecExpr::default();
            to_egg(e, &mut shapes, &mut rec);
            rec
        })
        .collect();
    let facts = Facts { shapes, params: params.to_vec(), vars: vars.to_vec() };
    let mut runner = Runner::<Math, Facts>::new(facts)
        .with_explanations_enabled()
        .with_iter_limit(ITER_LIMIT)
        .with_node_limit(NODE_LIMIT)
        .with_time_limit(Duration::MAX);
    for rec in &recs {
        runner = runner.with_expr(rec);
    }
    let mut runner = runner.run(&rules::all());
    let best: Vec<RecExpr<Math>> = {
        let ex = egg::Extractor::new(&runner.egraph, DcpCost(&runner.egraph));
        runner.roots.iter().map(|&r| ex.find_best(r).1).collect()
    };
    let names: Vec<String> = rules::groups().iter().flat_map(|(_, g)| g.iter().map(|t| t.0.to_string())).collect();
    let mut used: Vec<String> = Vec::new();
    for (rec, b) in recs.iter().zip(&best) {
        if rec.as_ref() != b.as_ref() {
            let mut ex = runner.explain_equivalence(rec, b);
            for term in ex.make_flat_explanation() {
                collect_rules(term, &names, &mut used);
            }
        }
    }
    let out = best.iter().zip(exprs).map(|(b, e)| from_egg(b, &runner.egraph.analysis.shapes, e)).collect();
    let why = match runner.stop_reason.clone().unwrap_or(StopReason::Saturated) {
        StopReason::Saturated => "saturated".to_string(),
        StopReason::IterationLimit(_) => "iteration limit".into(),
        StopReason::NodeLimit(_) => "node limit".into(),
        StopReason::TimeLimit(_) => "time limit".into(),
        StopReason::Other(s) => s,
    };
    Rewritten { exprs: out, rules: used, stop: format!("{why} after {} iterations", runner.iterations.len()) }
}

/// [`rewrite`] on a checked node's objective and constraint sides, with its
/// parameters' and variables' types: what `sema` runs on a node that is not DCP
/// as written. `ddnc explain` shows the DCP form of a node that keeps its text
/// (smooth as written) from it; the benchmark times it.
pub fn rewrite_node(node: &Node) -> Rewritten {
    let mut exprs = vec![&node.objective.expr];
    exprs.extend(node.constraints.iter().flat_map(|c| [&c.lhs, &c.rhs]));
    let params: Vec<BaseType> = node.params.iter().map(|p| p.base).collect();
    let vars: Vec<BaseType> = node.vars.iter().map(|v| v.base).collect();
    rewrite(&exprs, &params, &vars)
}

/// The rules named in one step of a flat explanation, outermost first.
fn collect_rules(t: &egg::FlatTerm<Math>, names: &[String], used: &mut Vec<String>) {
    for r in [t.forward_rule, t.backward_rule].into_iter().flatten() {
        let r = r.as_str().to_string();
        if names.contains(&r) && !used.contains(&r) {
            used.push(r);
        }
    }
    for c in &t.children {
        collect_rules(c, names, used);
    }
}
