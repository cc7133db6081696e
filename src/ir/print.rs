//! Checked expressions as text, with the node's names: `def`s appear inlined and
//! `let`s substituted, which is what `ddnc explain` shows.

use super::expr::{Arith, Expr, ExprKind, Sel};
use super::node::Node;

/// Binding strength, loosest first (the parser's table).
fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op: Arith::Add | Arith::Sub, .. } => 1,
        ExprKind::MatMul(..) => 2,
        ExprKind::Binary { .. } => 3,
        ExprKind::Neg(_) => 4,
        ExprKind::Pow { .. } => 5,
        ExprKind::Transpose(_) | ExprKind::Index { .. } => 6,
        _ => 7,
    }
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:?}")
    }
}

impl Node {
    /// `e` as source text.
    pub fn expr_str(&self, e: &Expr) -> String {
        let child = |c: &Expr, min: u8| {
            let s = self.expr_str(c);
            if prec(c) < min {
                format!("({s})")
            } else {
                s
            }
        };
        match &e.kind {
            ExprKind::Const(c) if *c < 0.0 => format!("({})", number(*c)),
            ExprKind::Const(c) => number(*c),
            ExprKind::Dim(d) => self.dims.get(d.0 as usize).map_or("?".into(), |i| i.name.clone()),
            ExprKind::Param(p) => self.param(*p).name.clone(),
            ExprKind::Var(v) => self.var(*v).name.clone(),
            ExprKind::Sym { name, .. } => name.clone(),
            ExprKind::Neg(a) => format!("-{}", child(a, 5)),
            ExprKind::Binary { op, lhs, rhs } => {
                let p = prec(e);
                format!("{} {} {}", child(lhs, p), op.symbol(), child(rhs, p + 1))
            }
            ExprKind::MatMul(l, r) => format!("{} @ {}", child(l, 2), child(r, 3)),
            ExprKind::Pow { base, p } => format!("{}^{}", child(base, 6), number(*p)),
            ExprKind::Transpose(a) => format!("{}.T", child(a, 6)),
            ExprKind::Index { base, sel } => {
                let parts: Vec<String> = sel
                    .iter()
                    .map(|s| match s {
                        Sel::At(i) => i.to_string(),
                        Sel::Range { start, end } => {
                            let a = if *start == 0 { String::new() } else { start.to_string() };
                            format!("{a}:{}", end.map_or(String::new(), |x| x.to_string()))
                        }
                    })
                    .collect();
                format!("{}[{}]", child(base, 6), parts.join(", "))
            }
            ExprKind::Atom { atom, args, axis } => {
                let mut parts: Vec<String> = args.iter().map(|a| self.expr_str(a)).collect();
                let dims: Vec<String> = e.shape.0.iter().map(|d| self.dim_name(*d)).collect();
                if parts.is_empty() {
                    parts = dims;
                } else if atom.carries_shape() {
                    // `sum_to(c, [n, d])`: the target shape is part of the operation.
                    parts.push(format!("[{}]", dims.join(", ")));
                }
                if let Some(ax) = axis {
                    parts.push(format!("axis = {ax}"));
                }
                format!("{}({})", atom.name(), parts.join(", "))
            }
        }
    }
}
