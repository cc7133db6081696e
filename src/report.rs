//! What `ddnc check` reports for a compiled file, as text or JSON, and (in
//! [`solution`]) what `ddnc solve` writes. Formatting only: the binary decides
//! where it goes.

pub mod solution;

use serde_json::{json, Value};

use crate::analysis::Analysed;
use crate::diag::Severity;
use crate::driver::Compiled;
use crate::ir::{Node, Output, SolveMethod, SolveSpec};

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
/// `{"method": NAME, "options": {"tol": …, "max_iter": …}}`, the options given.
fn solve_json(s: &SolveSpec) -> Value {
    let o = s.method.options();
    let mut options = serde_json::Map::new();
    if let Some(tol) = o.tol {
        options.insert("tol".into(), json!(tol));
    }
    if let Some(max_iter) = o.max_iter {
        options.insert("max_iter".into(), json!(max_iter));
    }
    json!({"method": s.method.name(), "options": options})
}

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
        // Convexity is known only from DCP (as written or after the rewrite
        // stage); a node the stage cannot rewrite may still be convex, so it
        // is never called "not convex".
        let convex = if class.convex { "convex" } else { "not DCP, convexity unknown: local solutions" };
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
            let o = s.method.options();
            let opts: Vec<String> = o
                .tol
                .map(|v| format!("tol = {}", number(v)))
                .into_iter()
                .chain(o.max_iter.map(|v| format!("max_iter = {v}")))
                .collect();
            let args = if opts.is_empty() { String::new() } else { format!("({})", opts.join(", ")) };
            out.push_str(&format!("  solve using {}{args}\n", s.method.name()));
        }
    }
    out
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
                "solve": node.solve.as_ref().map(solve_json),
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

/// What `ddnc explain` says of one node: the checked problem (with `def`s
/// inlined and `let`s substituted), its family and, given a standard form at
/// some parameter values, that form's size and the reductions that built it.
pub fn explain_text(analysed: &Analysed<'_>, standard: Option<&crate::canon::Canonical>) -> String {
    use crate::ir::ConstraintOrigin;
    let node = analysed.node;
    let mut out = format!("node {}: {} ({})\n", node.name, node.class.family.name(), node.class.reason);
    let rules = node.class.notes.iter().find(|n| n.starts_with(crate::dcp::rewrite::RULES));
    // The stage's run, rewritten or not, with the limit it stopped at if any.
    let stage = node.class.notes.iter().find(|n| n.starts_with(crate::dcp::rewrite::NO_FORM));
    for n in rules.iter().chain(&stage) {
        out.push_str(&format!("  {n}\n"));
    }
    if rules.is_some() && !node.class.family.is_conic() {
        // Solved as written: the DCP form the stage found, which `solve using
        // ipm` would solve as a cone program.
        let dcp = crate::dcp::rewrite::rewrite_node(node);
        let mut sides = dcp.exprs.iter();
        if let Some(o) = sides.next() {
            out.push_str(&format!("  DCP form: {} {}\n", node.objective.sense.keyword(), node.expr_str(o)));
        }
        for (c, (l, r)) in node.constraints.iter().zip(std::iter::from_fn(|| sides.next().zip(sides.next()))) {
            if (l, r) != (&c.lhs, &c.rhs) {
                out.push_str(&format!("    subject to {} {} {}\n", node.expr_str(l), c.op.symbol(), node.expr_str(r)));
            }
        }
        out.push_str(&format!("  solved as written (below): {}\n", crate::dcp::rewrite::SMOOTH_FORWARD));
    }
    out.push_str(&format!("  {} {}\n", node.objective.sense.keyword(), node.expr_str(&node.objective.expr)));
    let user: Vec<_> = node.constraints.iter().filter(|c| c.origin == ConstraintOrigin::User).collect();
    if !user.is_empty() {
        out.push_str("  subject to\n");
        for c in user {
            let name = c.name.as_ref().map(|n| format!("{n}: ")).unwrap_or_default();
            out.push_str(&format!("    {name}{} {} {}\n", node.expr_str(&c.lhs), c.op.symbol(), node.expr_str(&c.rhs)));
        }
    }
    for c in node.constraints.iter().filter(|c| c.origin != ConstraintOrigin::User) {
        out.push_str(&format!(
            "  implied by a type: {} {} {}\n",
            node.expr_str(&c.lhs),
            c.op.symbol(),
            node.expr_str(&c.rhs)
        ));
    }
    match standard {
        Some(k) => {
            let p = &k.program;
            let user_cols: usize = k.layout.user_cols();
            out.push_str("  standard form  min ½xᵀPx + qᵀx + c0  s.t.  Ax + s = b, s ∈ K\n");
            out.push_str(&format!(
                "    x: {} entries ({} of the node's variables, {} auxiliary)\n",
                p.n(),
                user_cols,
                p.n() - user_cols
            ));
            out.push_str(&format!(
                "    P: {} nonzeros (upper triangle), A: {} rows, {} nonzeros\n",
                p.p.entries.len(),
                p.m(),
                p.a.entries.len()
            ));
            let mut cones: Vec<String> = Vec::new();
            let mut exp_run = 0;
            for (i, c) in p.cones.iter().enumerate() {
                match c {
                    crate::solve::ConeBlock::Zero(d) => cones.push(format!("zero({d})")),
                    crate::solve::ConeBlock::Nonneg(d) => cones.push(format!("nonneg({d})")),
                    crate::solve::ConeBlock::SecondOrder(d) => cones.push(format!("soc({d})")),
                    crate::solve::ConeBlock::Psd(n) => cones.push(format!("psd({n}×{n})")),
                    crate::solve::ConeBlock::Exponential => {
                        exp_run += 1;
                        // A run of exponential cones is one entry, `exp(3)^k`.
                        if p.cones.get(i + 1) != Some(c) {
                            cones.push(if exp_run == 1 { "exp(3)".into() } else { format!("exp(3)^{exp_run}") });
                            exp_run = 0;
                        }
                    }
                }
            }
            out.push_str(&format!("    K: {}\n", if cones.is_empty() { "(none)".into() } else { cones.join(" × ") }));
            out.push_str(&format!("  solved by  {}\n", solver_path(node, p)));
            if !k.log.is_empty() {
                out.push_str("  reductions\n");
                for l in &k.log {
                    out.push_str(&format!("    {l}\n"));
                }
            }
        }
        None if node.class.family.is_conic() => {
            out.push_str("  (give --inputs to see the standard form at those parameter values)\n");
        }
        None => {}
    }
    if node.class.family.is_conic() {
        out.push_str(
            "  backward: one solve with the forward's KKT factorisation (implicit differentiation of the \
             cone program's optimality conditions), then the parameters by reverse mode\n",
        );
        return out;
    }
    match node.solve.as_ref().map(|s| &s.method) {
        Some(SolveMethod::Sinkhorn(..)) => out.push_str(
            "  forward: Sinkhorn (kernel or log domain); backward: the seed's closed form (a Schur complement of size \
             min(m − 1, n)), then the parameters by reverse mode\n",
        ),
        Some(SolveMethod::Eigh(_)) => out.push_str(
            "  forward: symmetric eigendecomposition; backward: the seed's (λᵢ − λⱼ)⁻¹ formula, then the \
             parameters by reverse mode\n",
        ),
        _ => out.push_str(
            "  forward: Newton (no constraints) or the primal-dual interior point method, from `init`; \
             backward: one bordered KKT solve [H Aᵀ; A 0], then the mixed partials below\n",
        ),
    }
    match analysed.derived() {
        Ok(d) => {
            for line in crate::symbolic::listing(node, &d).lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
        Err(e) => out.push_str(&format!("  derivatives: {}\n", e.message)),
    }
    out
}

/// How the runtime solves a node's standard form `p` (`runtime::Prepared`'s
/// order): unconstrained least squares by a QR of its residual's matrix, an
/// equality QP by one KKT factorisation, a small strictly convex QP by the dual
/// active-set method (tried on `p`: it may decline at these values), anything
/// else by the interior point method on the KKT path its `Auto` choice takes for
/// this structure and size.
fn solver_path(node: &Node, p: &crate::solve::ConeProgram) -> String {
    use crate::atoms::Atom;
    use crate::ir::ExprKind;
    use crate::solve::{active_set, ipm, ConeBlock};
    let default = node.solve.is_none();
    if default && node.constraints.is_empty() {
        if let ExprKind::Atom { atom: Atom::SumSquares, .. } = &node.objective.expr.kind {
            return "a QR of the residual's matrix (least squares; the interior point method if it is rank deficient)"
                .into();
        }
    }
    if default && p.cones.iter().all(|c| matches!(c, ConeBlock::Zero(_))) {
        return "one LBLᵀ factorisation of the KKT matrix (equality QP; the interior point method if it is singular)"
            .into();
    }
    let settings = crate::runtime::settings(node).unwrap_or_default();
    let declined = if default && active_set::applies(p) {
        match active_set::ActiveSet::default().solve(p, &settings) {
            Ok(r) => {
                return format!(
                    "the dual active-set method (Goldfarb–Idnani; at these inputs {} of {} rows active after {} \
                     step(s); the interior point method where it declines)",
                    r.active,
                    p.m(),
                    r.iterations
                )
            }
            Err(why) => format!(" (the dual active-set method declined at these inputs: {why})"),
        }
    } else {
        String::new()
    };
    match ipm::Workspace::new(p, &settings) {
        Ok(ws) => format!("the interior point method, {} KKT factorisation{declined}", ws.kkt_method().name()),
        Err(e) => format!("the interior point method (its KKT system could not be set up: {e}){declined}"),
    }
}
