//! What `ddnc check` reports for a compiled file, as text or JSON. Formatting
//! only: the binary decides where it goes.

use serde_json::{json, Value};

use crate::diag::{render_all, Color, Severity};
use crate::driver::Compiled;
use crate::ir::{Node, Output};

fn type_str(node: &Node, base: &str, shape: &crate::ir::Shape) -> String {
    let s = node.shape_str(shape);
    s.replacen("real", base, 1)
}

fn params(node: &Node) -> Vec<(String, String)> {
    node.params.iter().map(|p| (p.name.clone(), type_str(node, p.base.name(), &p.shape))).collect()
}

fn outputs(node: &Node) -> Vec<(String, String)> {
    node.outputs
        .iter()
        .map(|o| match o {
            Output::Var(v) => {
                let v = node.var(*v);
                (v.name.clone(), type_str(node, v.base.name(), &v.shape))
            }
            Output::Dual(c) => {
                let c = &node.constraints[*c];
                (format!("dual {}", c.name.clone().unwrap_or_default()), node.shape_str(&c.shape))
            }
        })
        .collect()
}

fn dims(node: &Node) -> Vec<String> {
    node.dims
        .iter()
        .map(|d| match d.bound_by {
            Some((p, axis)) => format!("{} = {}.shape[{axis}]", d.name, node.param(p).name),
            None => d.name.clone(),
        })
        .collect()
}

/// A number as a user would write it: `200`, `1e-9`, `0.5`.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:?}")
    }
}

fn join(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return "(none)".into();
    }
    pairs.iter().map(|(n, t)| format!("{n}: {t}")).collect::<Vec<_>>().join(", ")
}

/// The per-node summary `ddnc check` prints on stdout.
pub fn check_text(c: &Compiled) -> String {
    let mut out = String::new();
    for node in &c.program.nodes {
        let class = &node.class;
        out.push_str(&format!("node {}\n", node.name));
        out.push_str(&format!("  parameters  {}\n", join(&params(node))));
        out.push_str(&format!("  outputs     {}\n", join(&outputs(node))));
        if !node.dims.is_empty() {
            out.push_str(&format!("  dimensions  {}\n", dims(node).join(", ")));
        }
        let convex = if class.convex { "convex" } else { "not convex: local solutions" };
        out.push_str(&format!("  family      {} ({convex})\n", class.family.name()));
        out.push_str(&format!("  reason      {}\n", class.reason));
        if let Some(span) = class.culprit {
            let (line, col) = c.sources.line_col(span.file, span.start as usize);
            let file = c.sources.get(span.file).map_or("?", |f| f.name.as_str());
            let text: String = c.sources.slice(span).split_whitespace().collect::<Vec<_>>().join(" ");
            out.push_str(&format!("  not DCP at  `{text}` ({file}:{line}:{col})\n"));
        }
        for n in &class.notes {
            out.push_str(&format!("  note        {n}\n"));
        }
        if let Some(s) = &node.solve {
            let opts: Vec<String> = s.options.iter().map(|(k, v)| format!("{k} = {}", number(*v))).collect();
            let args = if opts.is_empty() { String::new() } else { format!("({})", opts.join(", ")) };
            out.push_str(&format!("  solve using {}{args}\n", s.method));
        }
    }
    out
}

/// The rendered diagnostics (stderr), with carets.
pub fn diagnostics_text(c: &Compiled, color: Color) -> String {
    render_all(&c.sources, &c.diagnostics, color)
}

/// Everything `check` knows, for tools.
pub fn check_json(c: &Compiled) -> Value {
    let name = c.sources.get(c.file).map(|f| f.name.clone()).unwrap_or_default();
    let nodes: Vec<Value> = c
        .program
        .nodes
        .iter()
        .map(|node| {
            let pairs = |v: Vec<(String, String)>| -> Vec<Value> {
                v.into_iter().map(|(n, t)| json!({"name": n, "type": t})).collect()
            };
            json!({
                "name": node.name,
                "parameters": pairs(params(node)),
                "outputs": pairs(outputs(node)),
                "dimensions": dims(node),
                "family": node.class.family,
                "convex": node.class.convex,
                "reason": node.class.reason,
                "notes": node.class.notes,
                "solve": node.solve.as_ref().map(|s| json!({"method": s.method, "options": s.options.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>()})),
            })
        })
        .collect();
    let diags: Vec<Value> = c
        .diagnostics
        .iter()
        .map(|d| {
            let (file, line, column) = match d.primary_span() {
                Some(s) => {
                    let (l, col) = c.sources.line_col(s.file, s.start as usize);
                    (c.sources.get(s.file).map(|f| f.name.clone()), Some(l), Some(col))
                }
                None => (None, None, None),
            };
            json!({
                "severity": d.severity,
                "message": d.message,
                "file": file,
                "line": line,
                "column": column,
                "notes": d.notes,
                "help": d.help,
            })
        })
        .collect();
    json!({
        "file": name,
        "ok": !c.diagnostics.iter().any(|d| d.severity == Severity::Error),
        "nodes": nodes,
        "diagnostics": diags,
    })
}
