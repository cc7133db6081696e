//! The derived expressions of a node as text: what `ddnc explain` would show
//! for a smooth node's derivatives.

use super::derive::{derive, Derived, Normalised};
use super::simplify::{Simplified, ITER_LIMIT, NODE_LIMIT, STALL_LIMIT};
use super::DeriveError;
use crate::ir::Node;

/// `node`'s derivative expressions, derived and listed.
pub fn explain(node: &Node) -> Result<String, DeriveError> {
    Ok(listing(node, &derive(node)?))
}

/// A listing of `d`'s simplified expressions, each with its egg stop reason.
pub fn listing(node: &Node, d: &Derived) -> String {
    let mut out = format!("node {}: f = {}\n", node.name, node.expr_str(&d.f));
    let groups: Vec<String> =
        super::rules::groups().iter().map(|(name, rules)| format!("{name} ({})", rules.len())).collect();
    out.push_str(&format!("egg rules: {}; limits: {ITER_LIMIT} iterations, {NODE_LIMIT} nodes, {STALL_LIMIT} iterations without a cheaper form\n", groups.join(", ")));
    let line = |out: &mut String, lhs: String, s: &Simplified| {
        out.push_str(&format!("  {lhs} = {}\n      [{}]\n", node.expr_str(&s.expr), s.stop_str()));
    };
    if !d.syms.is_empty() {
        let list: Vec<String> = d.syms.iter().map(|s| format!("{}: {}", s.name, node.shape_str(&s.shape))).collect();
        out.push_str(&format!("symbols: {}\n", list.join(", ")));
    }
    out.push_str("gradient of f:\n");
    for (v, s) in node.vars.iter().zip(&d.grad_f) {
        line(&mut out, format!("f_{}", v.name), s);
    }
    out.push_str("gradient of L:\n");
    for (v, s) in node.vars.iter().zip(&d.grad_l) {
        line(&mut out, format!("L_{}", v.name), s);
    }
    out.push_str("Hessian of L times v:\n");
    for (v, s) in node.vars.iter().zip(&d.hvp_l) {
        line(&mut out, format!("L_{0}{0} v", v.name), s);
    }
    match &d.hess_l {
        Some(blocks) => {
            out.push_str("Hessian of L (one sweep):\n");
            let pairs = node.vars.iter().flat_map(|a| node.vars.iter().map(move |b| (a, b)));
            for ((a, b), s) in pairs.zip(blocks) {
                line(&mut out, format!("L_{}{}", a.name, b.name), s);
            }
        }
        None => out.push_str("Hessian of L: column by column from L_yy v\n"),
    }
    let constraints = |out: &mut String, title: &str, letter: &str, cons: &[Normalised], mult: &str| {
        if cons.is_empty() {
            return;
        }
        out.push_str(&format!("{title}:\n"));
        for c in cons {
            line(out, format!("{letter}_{}", c.label), &c.value);
            for (v, jt) in node.vars.iter().zip(&c.jt) {
                line(out, format!("{letter}_{}_{}ᵀ {mult}_{}", c.label, v.name, c.label), jt);
            }
        }
    };
    constraints(&mut out, "equalities h = 0", "h", &d.eqs, "nu");
    constraints(&mut out, "inequalities g <= 0", "g", &d.ineqs, "lam");
    out.push_str("mixed partials d/dθ [wᵀ L_y + aᵀ h + bᵀ g]:\n");
    for (p, s) in node.params.iter().zip(&d.mixed) {
        line(&mut out, format!("mixed_{}", p.name), s);
    }
    out
}
