//! AST → source text. `parse(print(ast))` gives back `ast` (up to spans and
//! comments); [`Style::Explicit`] parenthesises every operation, which tests use to
//! compare trees without comparing spans.

use std::fmt::Write;

use super::ast::*;

/// How much to parenthesise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Only the parentheses precedence requires.
    Pretty,
    /// Every operation in parentheses: the tree's structure, spelled out.
    Explicit,
}

/// Prints a file in the canonical layout (4-space indents, one statement a line).
pub fn print_file(f: &File, style: Style) -> String {
    let mut out = String::new();
    for (i, item) in f.items.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match item {
            Item::Def(d) => {
                let params: Vec<&str> = d.params.iter().map(|p| p.name.as_str()).collect();
                let _ = writeln!(out, "def {}({}) = {}", d.name.name, params.join(", "), print_expr(&d.body, style));
            }
            Item::Node(n) => print_node(&mut out, n, style),
        }
    }
    out
}

fn print_type(t: &Type) -> String {
    if t.dims.is_empty() {
        return t.base.name().to_string();
    }
    let dims: Vec<String> = t
        .dims
        .iter()
        .map(|d| match d {
            DimExpr::Lit(v, _) => v.to_string(),
            DimExpr::Name(i) => i.name.clone(),
        })
        .collect();
    format!("{}[{}]", t.base.name(), dims.join(", "))
}

fn print_node(out: &mut String, n: &Node, style: Style) {
    let params: Vec<String> = n.params.iter().map(|p| format!("{}: {}", p.name.name, print_type(&p.ty))).collect();
    let outputs: Vec<String> = n
        .outputs
        .iter()
        .map(|o| match o {
            Output::Var { name, ty } => format!("{}: {}", name.name, print_type(ty)),
            Output::Dual { name, .. } => format!("dual {}", name.name),
        })
        .collect();
    let outputs = if n.tuple_outputs { format!("({})", outputs.join(", ")) } else { outputs.join(", ") };
    let _ = writeln!(out, "node {}({}) -> {} {{", n.name.name, params.join(", "), outputs);
    for s in &n.body {
        match s {
            Stmt::Var { name, ty, .. } => {
                let _ = writeln!(out, "    var {}: {}", name.name, print_type(ty));
            }
            Stmt::Let { name, value, .. } => {
                let _ = writeln!(out, "    let {} = {}", name.name, print_expr(value, style));
            }
            Stmt::Objective { sense, expr, .. } => {
                let _ = writeln!(out, "    {} {}", sense.keyword(), print_expr(expr, style));
            }
            Stmt::SubjectTo { constraints, .. } => {
                out.push_str("    subject to {\n");
                for c in constraints {
                    let name = c.name.as_ref().map(|n| format!("{}: ", n.name)).unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "        {name}{} {} {}",
                        print_expr(&c.lhs, style),
                        c.op.symbol(),
                        print_expr(&c.rhs, style)
                    );
                }
                out.push_str("    }\n");
            }
            Stmt::Solve { method, options, .. } => {
                if options.is_empty() {
                    let _ = writeln!(out, "    solve using {}", method.name);
                } else {
                    let _ = writeln!(out, "    solve using {}({})", method.name, print_kwargs(options, style));
                }
            }
            Stmt::Init { name, value, .. } => {
                let _ = writeln!(out, "    init {} = {}", name.name, print_expr(value, style));
            }
        }
    }
    out.push_str("}\n");
}

fn print_kwargs(kw: &[KwArg], style: Style) -> String {
    kw.iter().map(|k| format!("{} = {}", k.name.name, print_expr(&k.value, style))).collect::<Vec<_>>().join(", ")
}

/// Binding strength, loosest first; see the parser's precedence table.
fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => binop_prec(*op),
        ExprKind::Neg(_) => 4,
        ExprKind::Transpose(_) | ExprKind::Index { .. } => 6,
        ExprKind::Number { .. } | ExprKind::Name(_) | ExprKind::Call { .. } => 7,
    }
}

fn binop_prec(op: BinOp) -> u8 {
    match op {
        BinOp::Add | BinOp::Sub => 1,
        BinOp::MatMul => 2,
        BinOp::Mul | BinOp::Div => 3,
        BinOp::Pow => 5,
    }
}

/// Prints one expression.
pub fn print_expr(e: &Expr, style: Style) -> String {
    let mut s = String::new();
    write_expr(&mut s, e, style);
    s
}

fn write_child(out: &mut String, e: &Expr, parens: bool, style: Style) {
    if parens {
        out.push('(');
        write_expr(out, e, style);
        out.push(')');
    } else {
        write_expr(out, e, style);
    }
}

fn write_expr(out: &mut String, e: &Expr, style: Style) {
    let explicit = style == Style::Explicit;
    match &e.kind {
        ExprKind::Number { text, .. } => out.push_str(text),
        ExprKind::Name(n) => out.push_str(n),
        ExprKind::Neg(a) if explicit => {
            out.push_str("(-");
            write_expr(out, a, style);
            out.push(')');
        }
        ExprKind::Neg(a) => {
            out.push('-');
            let parens = prec(a) < 4 || matches!(a.kind, ExprKind::Neg(_));
            write_child(out, a, parens, style);
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let p = binop_prec(*op);
            let right_assoc = *op == BinOp::Pow;
            // In explicit style every operation wraps itself, so children need no more.
            let lp = !explicit && (prec(lhs) < p || (prec(lhs) == p && right_assoc));
            let rp = !explicit && (prec(rhs) < p || (prec(rhs) == p && !right_assoc));
            if explicit {
                out.push('(');
            }
            write_child(out, lhs, lp, style);
            if *op == BinOp::Pow {
                out.push('^');
            } else {
                let _ = write!(out, " {} ", op.symbol());
            }
            write_child(out, rhs, rp, style);
            if explicit {
                out.push(')');
            }
        }
        ExprKind::Transpose(a) => {
            write_child(out, a, !explicit && prec(a) < 6, style);
            out.push_str(".T");
        }
        ExprKind::Index { base, indices } => {
            write_child(out, base, !explicit && prec(base) < 6, style);
            out.push('[');
            for (i, ix) in indices.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match ix {
                    IndexArg::At(x) => write_expr(out, x, style),
                    IndexArg::Slice { start, end, .. } => {
                        if let Some(s) = start {
                            write_expr(out, s, style);
                        }
                        out.push(':');
                        if let Some(s) = end {
                            write_expr(out, s, style);
                        }
                    }
                }
            }
            out.push(']');
        }
        ExprKind::Call { func, args, kwargs } => {
            out.push_str(&func.name);
            out.push('(');
            let mut parts: Vec<String> = args.iter().map(|a| print_expr(a, style)).collect();
            if !kwargs.is_empty() {
                parts.push(print_kwargs(kwargs, style));
            }
            out.push_str(&parts.join(", "));
            out.push(')');
        }
    }
}
